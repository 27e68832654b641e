/* pg_serve: `pinegate serve`. Signals are blocked before any thread starts, so every
 * worker inherits the mask and only the main thread receives SIGINT/SIGTERM (through
 * sigwait); shutdown then runs on the main thread, never in a signal handler. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "federation-side/fed_client.h"
#include "federation-side/fed_sender.h"
#include "federation-side/fed_tls.h"
#include "pg_commands.h"
#include "pg_p2p.h"
#include "server-core/hs_log.h"
#include "server-core/hs_sd_notify.h"
#include "server-core/hs_server.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: pinegate serve --config FILE\n\n"
                 "Runs the homeserver described by FILE (see config.yaml.example) until SIGINT or\n"
                 "SIGTERM, then finishes in-flight requests and closes the database.\n");
}

/* "127.0.0.1" -> "127.0.0.1", "::" -> "[::]" for printing URLs. */
static void url_host(const char *addr, char *out, size_t len)
{
    if (strchr(addr, ':')) snprintf(out, len, "[%s]", addr);
    else snprintf(out, len, "%s", addr);
}

int pg_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *config_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') config_path = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!config_path || optind != argc) {
        usage(stderr);
        return 2;
    }

    hs_config cfg;
    char err[1024];
    if (hs_config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "pinegate: %s\n", err);
        return 1;
    }
    hs_log_setup(cfg.log_level, cfg.log_format);

    char *cert = NULL, *key = NULL;
    int tls = fed_tls_load(cfg.federation.tls_certificate, cfg.federation.tls_private_key, &cert, &key, err, sizeof err);
    if (tls < 0) {
        hs_error("serve", "%s", err);
        return 1;
    }
    if (tls == 1) hs_warn("serve", "%s", err);

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    hs_server srv;
    int rc = 1;
    fed_client *fed = NULL;
    if (hs_server_open(&srv, &cfg, err, sizeof err) != 0) {
        hs_error("serve", "%s", err);
        goto out;
    }
    hs_err ferr;
    if (!(fed = fed_client_from_config(&cfg, &srv.signing_key, &ferr))) {
        hs_error("serve", "federation client: %s", ferr.msg);
        hs_server_close(&srv);
        goto out;
    }
    fed_client_install(fed, &srv);
    if (hs_server_listen(&srv, cert, key, err, sizeof err) != 0) {
        hs_error("serve", "%s", err);
        hs_server_close(&srv);
        goto out;
    }
    pg_p2p *p2p = NULL;
    if (cfg.p2p_enabled && !(p2p = pg_p2p_start(&cfg, srv.client, err, sizeof err))) {
        hs_error("serve", "%s", err);
        hs_server_close(&srv);
        goto out;
    }
    /* Outbound federation (the room event queue) starts once we can answer peers. */
    fed_sender *sender = fed_sender_start(&srv);
    if (!sender) hs_warn("serve", "the outbound federation thread did not start; nothing will be sent to peers");
    char ch[300], fh[300];
    url_host(cfg.client.bind_address, ch, sizeof ch);
    url_host(cfg.federation.bind_address, fh, sizeof fh);
    printf("pinegate %s serving %s (signing key %s)\n"
           "  client API:     http://%s:%d/\n"
           "  federation API: https://%s:%d/\n",
           PG_VERSION, cfg.server_name, srv.signing_key.key_id, ch, hs_httpd_port(srv.client), fh,
           hs_httpd_port(srv.federation));
    if (p2p)
        printf("  P2P identity:   %s (Pinecone node%s)\n", pg_p2p_server_name(p2p),
               cfg.p2p_websocket_path_enabled ? ", WebSocket peers on GET /ws" : "");
    fflush(stdout);
    hs_info("serve", "listening: client http://%s:%d federation https://%s:%d", ch, hs_httpd_port(srv.client), fh,
            hs_httpd_port(srv.federation));
    hs_sd_notify("READY=1");

    int sig = 0;
    sigwait(&sigs, &sig);
    hs_info("serve", "received %s; finishing in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
    hs_sd_notify("STOPPING=1");
    fed_sender_stop(sender);
    pg_p2p_stop(p2p); /* before the client listener: WebSocket peers' sockets go back to it */
    hs_server_close(&srv);
    hs_info("serve", "stopped cleanly");
    rc = 0;
out:
    fed_client_free(fed);
    free(cert);
    free(key);
    return rc;
}
