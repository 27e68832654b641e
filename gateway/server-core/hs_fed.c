/* hs_fed: key lookup and inbound authentication. The lookup order is the one the spec
 * describes for servers: our own key without asking anyone, then the cache, then the
 * server's own key server, then each configured notary. A notary's answer is only
 * trusted when it carries both the server's self-signature and the notary's signature
 * by a key of the notary we fetched directly (never through another notary, so lookups
 * cannot recurse). Every validated response is cached before use, so a restart or the
 * next request needs no network. */
#include "server-core/hs_fed.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_fed_internal.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_federation.h"
#include "server-core/hs_xmatrix.h"

#define MAX_NOTARIES 8
/* A server whose keys could not be fetched is not asked again for this long: otherwise
 * every forged request naming it (or a random key ID of it) would make us fetch. */
#define FAILED_FETCH_BACKOFF_MS (30 * 1000)
#define MAX_FAILED 256
/* We ask a notary about one server; more responses than this in its answer are not
 * looked at (each costs signature checks). */
#define MAX_NOTARY_DOCS 8
/* Authorization headers looked at per inbound request: each names an origin whose keys
 * we may have to fetch, so one request must not make us fetch for a hundred origins. */
#define MAX_CREDENTIALS 4

typedef struct failed_fetch {
    char server[256];
    int64_t until_ms;
} failed_fetch;

typedef struct fed_route {
    hs_server *srv;
    hs_fed_handler fn;
} fed_route;

struct hs_fed {
    hs_fed_transport transport;
    fed_route routes[HS_FED_MAX_ROUTES]; /* the router's ctx pointers point in here */
    size_t n_routes;
    char notaries[MAX_NOTARIES][256];
    size_t n_notaries;
    pthread_mutex_t lock; /* guards failed[] */
    failed_fetch failed[MAX_FAILED];
};

static bool recently_failed(hs_fed *fed, const char *server, int64_t now_ms)
{
    bool hit = false;
    pthread_mutex_lock(&fed->lock);
    for (size_t i = 0; i < MAX_FAILED && !hit; i++)
        hit = fed->failed[i].until_ms > now_ms && strcmp(fed->failed[i].server, server) == 0;
    pthread_mutex_unlock(&fed->lock);
    return hit;
}

/* Remembers a failure in the slot of the same server, else the oldest slot. */
static void note_failure(hs_fed *fed, const char *server, int64_t now_ms)
{
    pthread_mutex_lock(&fed->lock);
    failed_fetch *slot = &fed->failed[0];
    for (size_t i = 0; i < MAX_FAILED; i++) {
        if (strcmp(fed->failed[i].server, server) == 0) {
            slot = &fed->failed[i];
            break;
        }
        if (fed->failed[i].until_ms < slot->until_ms) slot = &fed->failed[i];
    }
    snprintf(slot->server, sizeof slot->server, "%s", server);
    slot->until_ms = now_ms + FAILED_FETCH_BACKOFF_MS;
    pthread_mutex_unlock(&fed->lock);
}

int64_t hs_fed_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void parse_notaries(hs_fed *fed, const char *list)
{
    const char *p = list;
    while (*p && fed->n_notaries < MAX_NOTARIES) {
        while (*p == ' ' || *p == ',') p++;
        size_t n = strcspn(p, ", ");
        if (n > 0 && n < sizeof fed->notaries[0]) {
            char *dst = fed->notaries[fed->n_notaries];
            memcpy(dst, p, n);
            dst[n] = '\0';
            if (hs_is_valid_server_name(dst)) fed->n_notaries++;
            else hs_warn("fed", "federation.trusted_key_servers: '%s' is not a server name; ignored", dst);
        }
        p += n;
    }
}

int hs_fed_register(struct hs_server *srv)
{
    srv->fed = calloc(1, sizeof *srv->fed);
    if (!srv->fed) return -1;
    pthread_mutex_init(&srv->fed->lock, NULL);
    parse_notaries(srv->fed, srv->cfg.trusted_key_servers);
    char pub[44];
    hs_signing_key_public_b64(&srv->signing_key, pub);
    int rc = hs_store_fed_own_key_note(srv->store, srv->signing_key.key_id, pub, hs_fed_now_ms());
    if (rc == 1)
        hs_error("fed", "signing key ID %s was used before with a different key; peers cache keys by ID, so "
                 "give the new key a new version", srv->signing_key.key_id);
    if (rc != 0) return -1;
    if (hs_keys_server_register(srv) != 0 || hs_fed_query_register(srv) != 0) return -1;
    if (hs_fed_rooms_register(srv) != 0) return -1; /* rooms across servers: hs_fed_rooms.c */
    if (hs_fed_e2ee_register(srv) != 0) return -1;  /* keys, devices: hs_fed_e2ee.c */
    return 0;
}

void hs_fed_free(hs_fed *fed)
{
    if (!fed) return;
    pthread_mutex_destroy(&fed->lock);
    free(fed);
}

void hs_fed_set_transport(struct hs_server *srv, const hs_fed_transport *t)
{
    if (srv->fed) srv->fed->transport = *t;
}

int hs_fed_send(struct hs_server *srv, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    memset(reply, 0, sizeof *reply);
    if (!srv->fed || !srv->fed->transport.request)
        return hs_err_set(err, "no outbound federation transport in this process");
    return srv->fed->transport.request(srv->fed->transport.ctx, req, reply, err);
}

/* A finished request of a fallback batch, waiting to be handed out. */
typedef struct batch_result {
    uint64_t tag;
    hs_fed_reply reply;
    hs_err err;
} batch_result;

struct hs_fed_batch {
    hs_server *srv;
    hs_fed_transport t;  /* copied at open: the transport the batch runs on */
    void *tb;            /* the transport's batch; NULL: the sequential fallback */
    batch_result *done;  /* fallback: results not handed out yet, oldest first */
    size_t n_done, cap_done, head;
    size_t in_flight;
};

hs_fed_batch *hs_fed_batch_open(struct hs_server *srv)
{
    hs_fed_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->srv = srv;
    if (srv->fed) b->t = srv->fed->transport;
    if (b->t.batch_open && b->t.batch_start && b->t.batch_next && b->t.batch_wake && b->t.batch_close &&
        !(b->tb = b->t.batch_open(b->t.ctx))) {
        free(b);
        return NULL;
    }
    return b;
}

int hs_fed_batch_start(hs_fed_batch *b, const hs_fed_out *req, uint64_t tag, hs_err *err)
{
    if (b->tb) {
        if (b->t.batch_start(b->tb, req, tag, err) != 0) return -1;
        b->in_flight++;
        return 0;
    }
    if (b->n_done == b->cap_done) {
        size_t cap = b->cap_done ? b->cap_done * 2 : 8;
        batch_result *g = realloc(b->done, cap * sizeof *g);
        if (!g) return hs_err_set(err, "out of memory");
        b->done = g;
        b->cap_done = cap;
    }
    batch_result *r = &b->done[b->n_done];
    r->tag = tag;
    r->err.msg[0] = '\0';
    if (hs_fed_send(b->srv, req, &r->reply, &r->err) != 0) {
        hs_fed_reply_free(&r->reply);
        if (!b->srv->fed || !b->srv->fed->transport.request) {
            *err = r->err;
            return -1;
        }
    }
    b->n_done++;
    b->in_flight++;
    return 0;
}

int hs_fed_batch_next(hs_fed_batch *b, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err)
{
    if (b->in_flight == 0) return -1;
    if (b->tb) {
        int rc = b->t.batch_next(b->tb, timeout_ms, tag, reply, err);
        if (rc == 1) b->in_flight--;
        return rc;
    }
    batch_result *r = &b->done[b->head++];
    *tag = r->tag;
    *reply = r->reply;
    *err = r->err;
    b->in_flight--;
    if (b->head == b->n_done) b->head = b->n_done = 0;
    return 1;
}

void hs_fed_batch_wake(hs_fed_batch *b)
{
    if (b->tb) b->t.batch_wake(b->tb);
}

size_t hs_fed_batch_in_flight(const hs_fed_batch *b)
{
    return b->in_flight;
}

void hs_fed_batch_close(hs_fed_batch *b)
{
    if (!b) return;
    if (b->tb) b->t.batch_close(b->tb);
    for (size_t i = b->head; i < b->n_done; i++) hs_fed_reply_free(&b->done[i].reply);
    free(b->done);
    free(b);
}

int hs_fed_send_many(struct hs_server *srv, const hs_fed_out *reqs, size_t n, hs_fed_reply *replies, hs_err *errs)
{
    size_t wave = srv->cfg.federation_max_concurrent_requests > 0 ? (size_t)srv->cfg.federation_max_concurrent_requests
                                                                  : 16;
    for (size_t i = 0; i < n; i++) {
        memset(&replies[i], 0, sizeof replies[i]);
        errs[i].msg[0] = '\0';
    }
    int answered = 0;
    for (size_t at = 0; at < n; at += wave) {
        size_t k = n - at < wave ? n - at : wave;
        hs_fed_batch *b = hs_fed_batch_open(srv);
        for (size_t i = at; i < at + k; i++)
            if (!b) hs_err_set(&errs[i], "out of memory");
            else hs_fed_batch_start(b, &reqs[i], i, &errs[i]);
        uint64_t i;
        hs_fed_reply r;
        hs_err e;
        int got;
        while (b && (got = hs_fed_batch_next(b, 1000, &i, &r, &e)) >= 0) {
            if (got == 0) continue;
            replies[i] = r;
            errs[i] = e;
            answered += r.status != 0;
        }
        hs_fed_batch_close(b);
    }
    return answered;
}

void hs_fed_reply_free(hs_fed_reply *reply)
{
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}

/* Caches a validated document: every key, and the raw response for the notary. */
static int cache_doc(hs_server *srv, const json_t *doc, const hs_keys_doc *kd, int64_t now_ms, hs_err *err)
{
    const char *ids[HS_KEYS_MAX_KEYS];
    hs_store_fed_key rows[HS_KEYS_MAX_KEYS];
    for (size_t i = 0; i < kd->n_keys; i++) {
        ids[i] = kd->keys[i].key_id;
        memset(&rows[i], 0, sizeof rows[i]);
        snprintf(rows[i].key_b64, sizeof rows[i].key_b64, "%s", kd->keys[i].key_b64);
        rows[i].valid_until_ts = kd->valid_until_ts;
        rows[i].expired_ts = kd->keys[i].expired_ts;
    }
    char *json = hs_cjson_encode(doc, 0, NULL, err);
    if (!json) return -1;
    int rc = hs_store_fed_keys_put(srv->store, kd->server_name, json, kd->valid_until_ts, ids, rows, kd->n_keys, now_ms);
    free(json);
    if (rc != 0) return hs_err_set(err, "cannot store the keys of %.100s", kd->server_name);
    return 0;
}

json_t *hs_fed_fetch_keys_direct(hs_server *srv, const char *server_name, int64_t now_ms, hs_err *err)
{
    if (srv->fed && recently_failed(srv->fed, server_name, now_ms)) {
        hs_err_set(err, "fetching the keys of %.100s failed less than %d s ago", server_name,
                   FAILED_FETCH_BACKOFF_MS / 1000);
        return NULL;
    }
    hs_fed_out out = {.destination = server_name, .method = "GET", .target = "/_matrix/key/v2/server"};
    hs_fed_reply reply;
    if (hs_fed_send(srv, &out, &reply, err) != 0) {
        if (srv->fed) note_failure(srv->fed, server_name, now_ms);
        return NULL;
    }
    json_t *doc = NULL;
    if (reply.status != 200) {
        hs_err_set(err, "GET /_matrix/key/v2/server on %.100s answered %ld", server_name, reply.status);
    } else {
        hs_keys_doc kd;
        doc = hs_keys_parse(reply.body, reply.body_len, server_name, now_ms, &kd, err);
        if (doc && cache_doc(srv, doc, &kd, now_ms, err) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    }
    hs_fed_reply_free(&reply);
    if (!doc && srv->fed) note_failure(srv->fed, server_name, now_ms);
    return doc;
}

static int lookup_cached(hs_server *srv, const char *server_name, const char *key_id, int64_t min_valid_ts,
                         uint8_t out[32])
{
    hs_store_fed_key k;
    if (hs_store_fed_key_get(srv->store, server_name, key_id, &k) != 0) return -1;
    if (k.expired_ts >= 0 || k.valid_until_ts < min_valid_ts) return -1;
    return hs_b64_decode(k.key_b64, out, 32) == 32 ? 0 : -1;
}

/* Checks that a notary's answer is co-signed by the notary with a key we got from the
 * notary itself. The notary's own keys are fetched at most once per answer (*fetched),
 * so an answer full of unknown key IDs cannot make us ask it again and again. */
static int notary_signed(hs_server *srv, const char *notary, const json_t *doc, int64_t now_ms, bool *fetched,
                         hs_err *err)
{
    json_t *sigs = json_object_get(json_object_get(doc, "signatures"), notary);
    const char *key_id;
    json_t *v;
    json_object_foreach(sigs, key_id, v) {
        uint8_t pk[32];
        if (lookup_cached(srv, notary, key_id, now_ms, pk) != 0) {
            if (*fetched) continue;
            *fetched = true;
            json_t *d = hs_fed_fetch_keys_direct(srv, notary, now_ms, err);
            json_decref(d);
            if (!d || lookup_cached(srv, notary, key_id, now_ms, pk) != 0) continue;
        }
        if (hs_verify_json(doc, notary, key_id, pk, err) == 0) return 0;
    }
    return hs_err_set(err, "notary %.100s did not sign its answer with a key of its own", notary);
}

static int fetch_via_notary(hs_server *srv, const char *notary, const char *server_name, const char *key_id,
                            int64_t now_ms, int64_t min_valid_ts, hs_err *err)
{
    json_t *body = json_pack("{s:{s:{s:{s:I}}}}", "server_keys", server_name, key_id, "minimum_valid_until_ts",
                             (json_int_t)min_valid_ts);
    hs_fed_out out = {.destination = notary, .method = "POST", .target = "/_matrix/key/v2/query", .content = body};
    hs_fed_reply reply;
    int rc = hs_fed_send(srv, &out, &reply, err);
    json_decref(body);
    if (rc != 0) return -1;
    rc = -1;
    json_t *resp = NULL;
    if (reply.status != 200) {
        hs_err_set(err, "notary %.100s answered %ld", notary, reply.status);
    } else if ((resp = hs_cjson_parse(reply.body, reply.body_len, HS_KEYS_MAX_ANSWER_BYTES, 0, err))) {
        json_t *list = json_object_get(resp, "server_keys");
        size_t i;
        json_t *doc;
        bool fetched = false;
        if (!json_is_array(list)) hs_err_set(err, "notary %.100s: server_keys is not a list", notary);
        json_array_foreach(list, i, doc) {
            if (i == MAX_NOTARY_DOCS) break;
            hs_keys_doc kd;
            if (hs_keys_validate(doc, server_name, 0, &kd, err) != 0) continue;
            if (kd.valid_until_ts < min_valid_ts) {
                hs_err_set(err, "notary %.100s only has keys of %.100s valid until %lld", notary, server_name,
                           (long long)kd.valid_until_ts);
                continue;
            }
            if (notary_signed(srv, notary, doc, now_ms, &fetched, err) != 0) continue;
            if (cache_doc(srv, doc, &kd, now_ms, err) == 0) rc = 0;
        }
    }
    json_decref(resp);
    hs_fed_reply_free(&reply);
    return rc;
}

int hs_fed_get_verify_key(hs_server *srv, const char *server_name, const char *key_id, int64_t now_ms,
                          int64_t min_valid_ts, uint8_t out[32], hs_err *err)
{
    if (strcmp(server_name, srv->cfg.server_name) == 0) {
        if (strcmp(key_id, srv->signing_key.key_id) != 0)
            return hs_err_set(err, "%.100s is not one of our keys", key_id);
        memcpy(out, srv->signing_key.public_key, 32);
        return 0;
    }
    if (lookup_cached(srv, server_name, key_id, min_valid_ts, out) == 0) return 0;
    if (srv->fed && recently_failed(srv->fed, server_name, now_ms))
        return hs_err_set(err, "no usable key %.100s of %.100s (a fetch failed less than %d s ago)", key_id,
                          server_name, FAILED_FETCH_BACKOFF_MS / 1000);

    hs_err direct_err = {{0}};
    json_t *doc = hs_fed_fetch_keys_direct(srv, server_name, now_ms, &direct_err);
    json_decref(doc);
    if (doc && lookup_cached(srv, server_name, key_id, min_valid_ts, out) == 0) return 0;
    if (doc) hs_err_set(&direct_err, "%.100s does not publish a key %.100s valid until %lld", server_name, key_id,
                        (long long)min_valid_ts);
    for (size_t i = 0; srv->fed && i < srv->fed->n_notaries; i++) {
        const char *notary = srv->fed->notaries[i];
        if (strcmp(notary, server_name) == 0 || strcmp(notary, srv->cfg.server_name) == 0) continue;
        hs_err e;
        if (fetch_via_notary(srv, notary, server_name, key_id, now_ms, min_valid_ts, &e) == 0 &&
            lookup_cached(srv, server_name, key_id, min_valid_ts, out) == 0)
            return 0;
        hs_debug("fed", "notary %s for %s: %s", notary, server_name, e.msg);
    }
    if (srv->fed) note_failure(srv->fed, server_name, now_ms);
    return hs_err_set(err, "no usable key %.100s of %.100s: %s", key_id, server_name, direct_err.msg);
}

/* ---- inbound authentication ----------------------------------------------------- */

static int unauthorized(hs_response *resp, const char *why)
{
    hs_response_error(resp, 401, "M_UNAUTHORIZED", "%s", why);
    return -1;
}

int hs_fed_authenticate(hs_server *srv, const hs_request *req, char *origin_out, size_t origin_len,
                        hs_response *resp)
{
    json_t *content = NULL;
    if (req->body_len > 0) {
        hs_err perr;
        content = hs_cjson_parse((const char *)req->body, req->body_len, (size_t)srv->cfg.max_request_body_bytes,
                                 HS_CJSON_LAX_INTS | HS_CJSON_ANY, &perr);
        if (!content) {
            hs_response_error(resp, 400, "M_NOT_JSON", "request body: %s", perr.msg);
            return -1;
        }
    }
    hs_err err = {{0}};
    snprintf(err.msg, sizeof err.msg, "missing X-Matrix Authorization header");
    int64_t now = hs_fed_now_ms();
    int rc = -1;
    size_t tried = 0;
    for (size_t i = 0; i < req->n_headers && rc != 0 && tried < MAX_CREDENTIALS; i++) {
        if (strcasecmp(req->headers[i].name, "Authorization") != 0) continue;
        tried++;
        hs_xmatrix_auth a;
        const char *v = req->headers[i].value;
        if (hs_xmatrix_parse(v, strlen(v), &a, &err) != 0) continue;
        if (a.destination[0] && strcmp(a.destination, srv->cfg.server_name) != 0) {
            hs_err_set(&err, "X-Matrix destination '%.100s' is not this server", a.destination);
            continue;
        }
        uint8_t pk[32];
        if (hs_fed_get_verify_key(srv, a.origin, a.key_id, now, now, pk, &err) != 0) continue;
        if (hs_xmatrix_verify(&a, req->method, req->target, srv->cfg.server_name, content, pk, &err) != 0) continue;
        snprintf(origin_out, origin_len, "%s", a.origin);
        rc = 0;
    }
    json_decref(content);
    if (rc != 0) {
        hs_info("fed", "rejected %s %s from %s: %s", req->method, req->route ? req->route : "?",
                req->remote_addr ? req->remote_addr : "?", err.msg);
        return unauthorized(resp, err.msg);
    }
    return 0;
}

static void authenticated_route(const hs_request *req, hs_response *resp, void *ctx)
{
    fed_route *r = ctx;
    char origin[256];
    if (hs_fed_authenticate(r->srv, req, origin, sizeof origin, resp) != 0) return;
    r->fn(req, resp, r->srv, origin);
}

int hs_fed_route(hs_server *srv, const char *method, const char *pattern, hs_fed_handler fn)
{
    hs_fed *fed = srv->fed;
    if (!fed || fed->n_routes == HS_FED_MAX_ROUTES) return -1;
    fed_route *r = &fed->routes[fed->n_routes];
    r->srv = srv;
    r->fn = fn;
    if (hs_router_add(srv->federation_router, method, pattern, authenticated_route, r) != 0) return -1;
    fed->n_routes++;
    return 0;
}
