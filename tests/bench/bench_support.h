/* bench_support: what the server benchmarks share - the monotonic clock they time with,
 * the wall clock for event timestamps, a real hs_server on a scratch store (listeners
 * are the bench's own business), removing that store afterwards, and one client
 * request through the router that must be answered 200 with JSON. Header-only, with
 * static inline functions: a bench binary is built from its one .c file and the
 * release library (see the Makefile's bench rule), so there is nothing else to link
 * a shared helper from, and a bench that does not use a helper does not warn.
 * Failures print what went wrong and exit(1): a benchmark has no error path to
 * return through. */
#ifndef BENCH_SUPPORT_H
#define BENCH_SUPPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_server.h"

/* Seconds on the monotonic clock, for measuring intervals. */
static inline double bs_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds since the epoch, for timestamps the server stores. */
static inline int64_t bs_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The configuration a bench starts from: defaults, server name bench.test, rate limits
 * off (a benchmark sends far more than a client may). */
static inline void bs_config(hs_config *cfg)
{
    hs_config_defaults(cfg);
    snprintf(cfg->server_name, sizeof cfg->server_name, "bench.test");
    cfg->rate_limits_enabled = false;
}

/* Opens `srv` with `cfg` on a database and a freshly generated signing key in the
 * existing directory `dir`. Returns 0, or prints "setup: <reason>" and returns -1. */
static inline int bs_server_open(hs_server *srv, hs_config *cfg, const char *dir)
{
    char err[1024] = "";
    snprintf(cfg->database_path, sizeof cfg->database_path, "%s/hs.db", dir);
    snprintf(cfg->signing_key_path, sizeof cfg->signing_key_path, "%s/signing.key", dir);
    hs_signing_key key;
    if (hs_signing_key_generate(&key) != 0 || hs_signing_key_save(cfg->signing_key_path, &key, err, sizeof err) != 0 ||
        hs_server_open(srv, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    return 0;
}

/* Closes `srv` and removes `dir`; returns the bench's exit status (0, or 1 when the
 * directory could not be removed). */
static inline int bs_server_close(hs_server *srv, const char *dir)
{
    hs_server_close(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}

/* Sends one client request with `auth_header` ("Bearer <token>") and a JSON body of
 * `len` bytes (`body` may be NULL) through srv's client router. Returns the answer's
 * JSON (caller decrefs); any status but 200, or an answer that is not JSON, prints
 * "<method> <target>: <status> <body>" and exits with status 1. */
static inline json_t *bs_request(hs_server *srv, char *auth_header, const char *method, const char *target,
                                 const char *body, size_t len)
{
    hs_kv headers[2] = {{"Authorization", auth_header}, {"Content-Type", "application/json"}};
    hs_request req = {.method = method, .headers = headers, .n_headers = 2, .body = (const uint8_t *)body,
                      .body_len = len, .remote_addr = "127.0.0.1"};
    hs_response resp = {0};
    if (hs_request_parse_target(&req, target) != 0) abort();
    hs_router_dispatch(srv->client_router, &req, &resp);
    hs_request_clear(&req);
    json_t *j = resp.status == 200 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    if (!j) {
        fprintf(stderr, "%s %s: %d %.*s\n", method, target, resp.status, (int)resp.body_len, resp.body);
        exit(1);
    }
    hs_response_clear(&resp);
    return j;
}

#endif
