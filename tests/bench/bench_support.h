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

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_fed_rooms.h"
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

/* Starts srv's client listener on an ephemeral loopback port with cfg's thread count and
 * writes "http://127.0.0.1:PORT" into base. Returns 0, or prints "listen: <reason>" and
 * returns -1. */
static inline int bs_listen(hs_server *srv, char *base, size_t cap)
{
    char err[1024] = "";
    hs_httpd_config hc = {.name = "client", .bind_address = "127.0.0.1", .port = 0, .threads = srv->cfg.threads,
                          .max_connections = 64, .max_body_bytes = 1 << 20, .router = srv->client_router,
                          .metrics = srv->metrics};
    srv->client = hs_httpd_start(&hc, err, sizeof err);
    if (!srv->client) {
        fprintf(stderr, "listen: %s\n", err);
        return -1;
    }
    snprintf(base, cap, "http://127.0.0.1:%d", hs_httpd_port(srv->client));
    return 0;
}

/* Registers `localpart` and logs it in; fills user_id and an access token (256 bytes).
 * Exits with status 1 on failure. */
static inline void bs_login(hs_server *srv, const char *localpart, char user_id[HS_STORE_ID_MAX], char token[256])
{
    hs_accounts_session s;
    if (hs_accounts_register(srv->store, srv->cfg.server_name, localpart, NULL, false, bs_wall_ms(), user_id) !=
            HS_ACCOUNTS_OK ||
        hs_accounts_login(srv->store, user_id, NULL, "bench", "127.0.0.1", bs_wall_ms(), &s) != HS_ACCOUNTS_OK) {
        fprintf(stderr, "setup: cannot register %s\n", localpart);
        exit(1);
    }
    snprintf(token, 256, "%s", s.access_token);
}

/* Percent-encodes a Matrix ID for a path segment with the server's hs_fed_pct_encode
 * into out (cap bytes); returns out, or exits with status 1 when it does not fit. */
static inline const char *bs_enc(const char *s, char *out, size_t cap)
{
    char *e = hs_fed_pct_encode(s);
    if (!e || strlen(e) >= cap) {
        fprintf(stderr, "bs_enc: %s does not fit in %zu bytes encoded\n", s, cap);
        exit(1);
    }
    memcpy(out, e, strlen(e) + 1);
    free(e);
    return out;
}

typedef struct bs_buf {
    char *p;
    size_t n;
} bs_buf;

static inline size_t bs_collect(char *p, size_t s, size_t n, void *u)
{
    bs_buf *b = u;
    char *q = realloc(b->p, b->n + s * n + 1);
    if (!q) return 0;
    memcpy(q + b->n, p, s * n);
    b->p = q;
    b->n += s * n;
    b->p[b->n] = 0;
    return s * n;
}

/* One HTTP request on a reusable libcurl handle to base+path with a Bearer token and an
 * optional JSON body. Returns the HTTP status (0 when the transfer failed) and, when
 * `answer` is not NULL, the parsed JSON answer in *answer (NULL if not JSON; caller
 * decrefs). */
static inline long bs_http(CURL *c, const char *base, const char *token, const char *method, const char *path,
                           const char *body, json_t **answer)
{
    char url[1024], auth[300];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    bs_buf b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (!body) curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bs_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    if (answer) *answer = b.p ? json_loads(b.p, 0, NULL) : NULL;
    free(b.p);
    return code;
}

/* bs_http that must answer 200 with JSON: returns the answer (caller decrefs), or prints
 * "<method> <path>: HTTP <status>" and exits with status 1. */
static inline json_t *bs_call(CURL *c, const char *base, const char *token, const char *method, const char *path,
                              const char *body)
{
    json_t *j = NULL;
    long code = bs_http(c, base, token, method, path, body, &j);
    if (code != 200 || !j) {
        fprintf(stderr, "%s %s: HTTP %ld\n", method, path, code);
        exit(1);
    }
    return j;
}

#endif
