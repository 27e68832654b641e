/* pgt_fed: the federation test node of pgt_fed.h. The server is ready once it logs its
 * federation listener ("federation API:"), the last listener it starts. */
#include "support/pgt_fed.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

void pgt_fed_serve(pgt_fed_node *n)
{
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", n->cfg, NULL};
    cr_assert_eq(pgt_spawn(&n->proc, argv), 0);
    cr_assert(pgt_wait_line(&n->proc, "federation API:", 30000, NULL, 0), "server did not start:\n%s", n->proc.buf);
}

void pgt_fed_make(pgt_fed_node *n)
{
    n->dir = pgt_tmpdir();
    n->cport = pgt_free_port();
    n->fport = pgt_free_port();
    snprintf(n->name, sizeof n->name, "localhost:%d", n->fport);
    snprintf(n->cfg, sizeof n->cfg, "%s/config.yaml", n->dir);
    snprintf(n->base, sizeof n->base, "http://127.0.0.1:%d", n->cport);
    char cp[16], fp[16];
    snprintf(cp, sizeof cp, "%d", n->cport);
    snprintf(fp, sizeof fp, "%d", n->fport);
    char *gen[] = {(char *)pgt_pinegate(), "generate-config", "--dev", "--data-dir", n->dir, "--server-name", n->name,
                   "--client-port", cp, "--federation-port", fp, NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(gen, &out), 0, "generate-config: %s", out);
    free(out);
    pgt_fed_serve(n);
}

void pgt_fed_destroy(pgt_fed_node *n)
{
    if (n->proc.pid > 0) pgt_stop(&n->proc, SIGTERM, 20000);
    pgt_rmtree(n->dir);
    free(n->dir);
}
