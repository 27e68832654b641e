/* pc_cmd_node: `pinegate pinecone`, a standalone Pinecone node like Go's cmd/pinecone:
 * TCP and WebSocket listeners, static peers (TCP or ws://), multicast discovery, manhole,
 * plus a pinegate-only ping, and HTTP over QUIC sessions (serve a directory, fetch a
 * path from a key: the body goes to stdout, progress lines to stderr). Parses options, builds
 * the seed (Go's -secretkey format: 32-byte ed25519 seed in hex; random if absent), blocks
 * SIGINT/SIGTERM and hands a signalfd to pc_node_run so a signal ends the loop cleanly. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "pinecone/pc_node.h"
#include "pinecone/pc_tcp.h"

int pc_cmd_node(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pinegate pinecone --listen HOST:PORT [--listen-ws HOST:PORT]\n"
            "                         [--connect HOST:PORT|ws://HOST:PORT/PATH|wss://HOST/PATH[,...]]\n"
            "                         [--ca-file PEM]\n"
            "                         [--multicast [--multicast-interface IF]]\n"
            "                         [--secret-key HEX] [--manhole HOST:PORT]\n"
            "                         [--ping KEY [--count N]]\n"
            "                         [--alpn NAME] [--http-serve DIR]\n"
            "                         [--http-get KEY PATH [--http-count N] [--http-concurrency N]\n"
            "                          [--http-interval MS] [--http-timeout MS]]\n"
            "  Runs a standalone Pinecone node (wire-compatible with matrix-org/pinecone).\n"
            "  --listen ADDR      accept TCP peerings on ADDR (port 0: any free port)\n"
            "  --listen-ws ADDR   accept WebSocket peerings on ADDR (GET / or GET /ws)\n"
            "  --connect LIST     static peers, TCP HOST:PORT, ws://HOST:PORT/PATH or\n"
            "                     wss://HOST[:PORT]/PATH (TLS, certificate checked for HOST),\n"
            "                     redialled with 2^n s backoff (max 1 h)\n"
            "  --ca-file PEM      trust these CA certificates for wss:// instead of the system's\n"
            "  --multicast        send LAN beacons (224.0.0.114 and ff02::114, port 60606)\n"
            "                     and peer over TCP with the nodes they reveal (listens\n"
            "                     on [::]:0, dual stack, when --listen is not given)\n"
            "  --multicast-interface IF  beacon only on interface IF\n"
            "  --secret-key HEX   32-byte ed25519 seed in hex, as Go's -secretkey\n"
            "                     (random when absent); the public key is printed\n"
            "  --manhole ADDR     serve GET /manhole (Go's status JSON) over HTTP on ADDR\n"
            "  --ping KEY         send a ping every second to the node with public key KEY,\n"
            "                     print each reply's round-trip time, then a summary and exit\n"
            "                     (0 if any reply came back). Pings are pinegate-specific test\n"
            "                     traffic: Go nodes route them but do not answer them.\n"
            "  --count N          number of pings (default 5)\n"
            "  --alpn NAME        ALPN of the QUIC sessions (default matrix, as Dendrite)\n"
            "  --http-serve DIR   serve DIR's files (GET/HEAD) as HTTP/1.1 over QUIC sessions\n"
            "  --http-get KEY PATH  fetch PATH from the node with public key KEY over QUIC\n"
            "                     sessions, print the body to stdout and exit: 0 when every\n"
            "                     answer was 2xx, 1 otherwise (progress goes to stderr)\n"
            "  --http-count N     make N requests (one line each, then a req/s summary)\n"
            "  --http-concurrency N  keep up to N requests in flight (default 1)\n"
            "  --http-interval MS wait MS between starting requests (default 0)\n"
            "  --http-timeout MS  give up on a request after MS (default 30000)\n"
            "  SIGINT/SIGTERM stop the node.\n");
}

static bool parse_hex32(const char *s, uint8_t out[32])
{
    size_t bin_len = 0;
    if (strlen(s) != 64)
        return false;
    return sodium_hex2bin(out, 32, s, 64, NULL, &bin_len, NULL) == 0 && bin_len == 32;
}

int pc_cmd_node(int argc, char **argv)
{
    pc_node_config cfg = {.ping_count = 5, .out = stdout};
    const char *connect_list = NULL, *secret = NULL, *ping = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--multicast") == 0) {
            cfg.multicast = true;
            continue;
        }
        if (strcmp(a, "--http-get") == 0) {
            if (i + 2 >= argc || !parse_hex32(argv[i + 1], cfg.http_get_key)) {
                fprintf(stderr, "pinecone: --http-get wants a 64-hex-digit public key and a /PATH\n");
                return 2;
            }
            cfg.http_get = true;
            cfg.http_get_path = argv[i + 2];
            i += 2;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "pinecone: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0) cfg.listen = v;
        else if (strcmp(a, "--listen-ws") == 0) cfg.listen_ws = v;
        else if (strcmp(a, "--multicast-interface") == 0) cfg.multicast_if = v;
        else if (strcmp(a, "--connect") == 0) connect_list = v;
        else if (strcmp(a, "--secret-key") == 0) secret = v;
        else if (strcmp(a, "--manhole") == 0) cfg.manhole = v;
        else if (strcmp(a, "--ping") == 0) ping = v;
        else if (strcmp(a, "--alpn") == 0) cfg.alpn = v;
        else if (strcmp(a, "--ca-file") == 0) cfg.ca_file = v;
        else if (strcmp(a, "--http-serve") == 0) cfg.http_serve = v;
        else if (strcmp(a, "--http-count") == 0 || strcmp(a, "--http-concurrency") == 0 ||
                 strcmp(a, "--http-interval") == 0 || strcmp(a, "--http-timeout") == 0) {
            char *end;
            unsigned long c = strtoul(v, &end, 10);
            if (*end || !*v || c > 1000000 || (c == 0 && strcmp(a, "--http-interval") != 0)) {
                fprintf(stderr, "pinecone: %s wants a number 1..1000000\n", a);
                return 2;
            }
            if (strcmp(a, "--http-count") == 0) cfg.http_count = (unsigned)c;
            else if (strcmp(a, "--http-concurrency") == 0) cfg.http_concurrency = (unsigned)c;
            else if (strcmp(a, "--http-interval") == 0) cfg.http_interval_ms = (unsigned)c;
            else cfg.http_timeout_ms = (unsigned)c;
        }
        else if (strcmp(a, "--count") == 0) {
            char *end;
            unsigned long c = strtoul(v, &end, 10);
            if (*end || c == 0 || c > PC_PING_MAX_COUNT) {
                fprintf(stderr, "pinecone: --count must be 1..%u\n", PC_PING_MAX_COUNT);
                return 2;
            }
            cfg.ping_count = (unsigned)c;
        } else {
            fprintf(stderr, "pinecone: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (cfg.http_get && ping) {
        fprintf(stderr, "pinecone: --http-get and --ping cannot be combined\n");
        return 2;
    }
    if (cfg.http_get)
        cfg.out = stderr; /* stdout carries the body */
    if (cfg.multicast_if && !cfg.multicast) {
        fprintf(stderr, "pinecone: --multicast-interface needs --multicast\n");
        return 2;
    }
    if (!cfg.listen && !cfg.listen_ws && !connect_list && !cfg.multicast) {
        fprintf(stderr, "pinecone: give --listen, --listen-ws, --connect and/or --multicast\n");
        usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "pinecone: libsodium failed to initialise\n");
        return 1;
    }
    if (secret) {
        if (!parse_hex32(secret, cfg.seed)) {
            fprintf(stderr, "pinecone: --secret-key must be 64 hex digits (a 32-byte seed)\n");
            return 2;
        }
    } else {
        randombytes_buf(cfg.seed, sizeof cfg.seed);
    }
    if (ping) {
        if (!parse_hex32(ping, cfg.ping_key)) {
            fprintf(stderr, "pinecone: --ping wants a 64-hex-digit public key\n");
            return 2;
        }
        cfg.ping = true;
    }

    char *list = connect_list ? strdup(connect_list) : NULL;
    const char *peers[PC_TCP_MAX_STATIC + 1];
    size_t np = 0;
    if (list) {
        char *save = NULL;
        for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (np == PC_TCP_MAX_STATIC + 1)
                break;
            peers[np++] = tok;
        }
        if (np > PC_TCP_MAX_STATIC) {
            fprintf(stderr, "pinecone: at most %d --connect peers\n", PC_TCP_MAX_STATIC);
            free(list);
            return 2;
        }
    }
    cfg.connect = peers;
    cfg.n_connect = np;

    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        perror("pinecone: signalfd");
        free(list);
        return 1;
    }

    pc_node *n = NULL;
    char err[256];
    int rc = pc_node_new(&n, &cfg, err, sizeof err);
    sodium_memzero(cfg.seed, sizeof cfg.seed);
    if (rc != 0) {
        fprintf(stderr, "pinecone: %s\n", err);
        close(sfd);
        free(list);
        return 1;
    }
    int status = pc_node_run(n, sfd);
    pc_node_free(n);
    close(sfd);
    free(list);
    return status;
}
