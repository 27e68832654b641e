/* test_pc_proc: start, stop and inspect `pinegate pinecone` processes for the Pinecone
 * integration tests (see test_pc_proc.h). Only the helpers; no tests here. */
#include "test_pc_proc.h"

#include <signal.h>
#include <stdio.h>

void pct_seed_hex(int seed, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", seed & 0xff);
}

bool pct_node_start(pct_node *n, int seed, char *const extra[])
{
    char sk[65], mh[32];
    pct_seed_hex(seed, sk);
    if (!n->mport)
        n->mport = pgt_free_port();
    snprintf(mh, sizeof mh, "127.0.0.1:%d", n->mport);
    char *argv[24] = {(char *)pgt_pinegate(), "pinecone", "--secret-key", sk, "--manhole", mh};
    int argc = 6;
    for (size_t i = 0; extra && extra[i] && argc < 23; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    if (pgt_spawn(&n->p, argv) != 0)
        return false;
    n->running = true;
    return pgt_wait_line(&n->p, "manhole on", 15000, NULL, 0);
}

void pct_node_kill(pct_node *n)
{
    if (n->running)
        pgt_stop(&n->p, SIGKILL, 5000);
    n->running = false;
}

json_t *pct_manhole(const pct_node *n)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/manhole", n->mport);
    pgt_http r = pgt_http_do(url, &(pgt_req){.timeout_ms = 3000});
    json_t *j = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    pgt_http_free(&r);
    return j;
}
