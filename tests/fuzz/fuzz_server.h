/* fuzz_server: a real hs_server for endpoint fuzz targets - store and signing key in a
 * scratch directory, no listeners (requests go straight to the routers) - and the
 * request helpers they share: one client request carrying the fuzz user's token, one
 * whose answer must be JSON with a given status, registering the fuzz user, and
 * percent-encoding IDs for paths. Header-only, included by one fuzz target each; the
 * helpers are static inline so a target that does not use one does not warn. Every
 * failure aborts: in a fuzz target that is the finding. */
#ifndef FUZZ_SERVER_H
#define FUZZ_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_server.h"

static hs_server srv;
static char fz_dir[64];

/* libFuzzer exits through exit(), so atexit is where the scratch database goes. */
static void fz_cleanup(void)
{
    static const char *const files[] = {"hs.db", "hs.db-wal", "hs.db-shm", "signing.key"};
    char path[128];
    hs_server_close(&srv);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fz_dir, files[i]);
        unlink(path);
    }
    rmdir(fz_dir);
}

/* Opens `srv` with `cfg` (its defaults tuned by the caller) on a fresh scratch store;
 * aborts with a message if that is impossible. */
static void fz_server_open(const char *name, hs_config *cfg)
{
    char err[1024];
    snprintf(fz_dir, sizeof fz_dir, "/tmp/%s.XXXXXX", name);
    if (!mkdtemp(fz_dir)) abort();
    atexit(fz_cleanup);
    snprintf(cfg->database_path, sizeof cfg->database_path, "%s/hs.db", fz_dir);
    snprintf(cfg->signing_key_path, sizeof cfg->signing_key_path, "%s/signing.key", fz_dir);
    hs_signing_key key;
    if (hs_signing_key_generate(&key) != 0 || hs_signing_key_save(cfg->signing_key_path, &key, err, sizeof err) != 0 ||
        hs_server_open(&srv, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s setup: %s\n", name, err);
        abort();
    }
}

/* The configuration every endpoint target starts from: defaults, server name fuzz.test,
 * registration open, rate limits off. */
static inline void fz_config(hs_config *cfg)
{
    hs_config_defaults(cfg);
    snprintf(cfg->server_name, sizeof cfg->server_name, "fuzz.test");
    cfg->registration_enabled = true;
    cfg->rate_limits_enabled = false;
}

/* Opens a fuzz.test server without rate limits and creates a public room of
 * @fuzzer:fuzz.test in it (the room federation targets feed events into); its ID goes
 * to room_id. */
static inline void fz_fed_room_open(const char *name, char room_id[256])
{
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "fuzz.test");
    cfg.rate_limits_enabled = false;
    fz_server_open(name, &cfg);
    hs_room_engine e = hs_fed_rooms_engine(&srv);
    json_t *req = json_pack("{ss}", "preset", "public_chat");
    char *id = NULL;
    hs_room_result res;
    if (hs_room_create(&e, "@fuzzer:fuzz.test", req, 1700000000000LL, &id, &res) != HS_ROOM_OK) abort();
    snprintf(room_id, 256, "%s", id);
    free(id);
    json_decref(req);
}

/* "Bearer <token>" of the fuzz user; every request carries it (set by fz_register). */
static char fz_token_header[160];

/* The body that registers the user "fuzzer" (password "pw") through m.login.dummy. */
#define FZ_REGISTER_FUZZER "{\"username\":\"fuzzer\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}"

/* Sends one client request with the fuzz user's token and a JSON content type through
 * the client router; `resp` gets the answer (caller clears it). A target the request
 * parser refuses (only fuzzer-built ones can be) is answered 400 without dispatching. */
static inline void fz_dispatch(const char *method, const char *target, const uint8_t *body, size_t len,
                               hs_response *resp)
{
    hs_kv headers[2] = {{"Authorization", fz_token_header}, {"Content-Type", "application/json"}};
    hs_request req = {.method = method, .headers = headers, .n_headers = 2, .body = body, .body_len = len,
                      .remote_addr = "127.0.0.1"};
    if (hs_request_parse_target(&req, target) != 0) {
        resp->status = 400;
        return;
    }
    hs_router_dispatch(srv.client_router, &req, resp);
    hs_request_clear(&req);
}

/* Sends `body` (NULL for none) and returns the answer's JSON (caller decrefs); aborts
 * unless the status is `want` and the answer is JSON. */
static inline json_t *fz_request(const char *method, const char *target, const char *body, int want)
{
    hs_response resp = {0};
    fz_dispatch(method, target, (const uint8_t *)body, body ? strlen(body) : 0, &resp);
    json_t *j = resp.status == want ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    hs_response_clear(&resp);
    if (!j) abort();
    return j;
}

/* Sends one fuzzer-built request and aborts unless the answer has a status from 200 to
 * 599 and a body that is a JSON object (an empty body passes too when `empty_ok`). */
static inline void fz_send_checked(const char *method, const char *target, const uint8_t *body, size_t len,
                                   bool empty_ok)
{
    hs_response resp = {0};
    fz_dispatch(method, target, body, len, &resp);
    if (resp.status < 200 || resp.status > 599) abort();
    if (resp.body_len || !empty_ok) {
        json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
        if (!json_is_object(j)) abort();
        json_decref(j);
    }
    hs_response_clear(&resp);
}

/* Registers with `body` (e.g. FZ_REGISTER_FUZZER) and makes the new access token the
 * one every request carries; returns the registration answer (caller decrefs). Aborts
 * unless it is a 200 with an access token. */
static inline json_t *fz_register(const char *body)
{
    json_t *j = fz_request("POST", "/_matrix/client/v3/register", body, 200);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok) abort();
    snprintf(fz_token_header, sizeof fz_token_header, "Bearer %s", tok);
    return j;
}

/* Percent-encodes `id` (an ID the server made) for a path segment with the server's
 * hs_fed_pct_encode into `out`; aborts when it does not fit in `cap` bytes. */
static inline void fz_enc(const char *id, char *out, size_t cap)
{
    char *e = hs_fed_pct_encode(id);
    if (!e || strlen(e) >= cap) {
        fprintf(stderr, "fz_enc: %s does not fit in %zu bytes encoded\n", id, cap);
        abort();
    }
    memcpy(out, e, strlen(e) + 1);
    free(e);
}

#endif
