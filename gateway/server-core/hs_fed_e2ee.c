/* hs_fed_e2ee: E2EE, typing, presence and profiles across servers (see hs_fed_e2ee.h):
 * the inbound endpoints and EDUs, the EDUs queued at once (to-device, typing), remote
 * profiles, and the helpers hs_fed_e2ee_scan.c and hs_fed_e2ee_keys.c share. */
#include "server-core/hs_fed_e2ee.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_api_keys.h"
#include "server-core/hs_api_keys_internal.h"
#include "server-core/hs_api_sync.h"
#include "server-core/hs_e2ee.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_e2ee_internal.h"
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_server_acl.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "server-core/hs_store_fed_queue.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"

/* The sender "device" under which inbound to-device message IDs are remembered: never
 * a real device ID of the (remote) sender on this server. */
#define FED_TXN_DEVICE "#federation"

bool hs_fed_e2ee_is_local(const hs_server *srv, const char *user_id)
{
    const char *server = user_id ? hs_id_server_name(user_id) : NULL;
    return server && strcmp(server, srv->cfg.server_name) == 0;
}

static void db_error(hs_response *resp)
{
    hs_response_error(resp, 500, "M_UNKNOWN", "database error");
}

static json_t *body_object(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

/* ---- inbound endpoints ------------------------------------------------------------------ */

static void user_keys_query(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    json_t *body = body_object(req, resp);
    if (!body) return;
    json_t *want = json_object_get(body, "device_keys");
    /* the same bounds as a client's keys/query: users, and device IDs listed in all */
    if (hs_keys_query_check(want, resp) != 0) {
        json_decref(body);
        return;
    }
    const char *user_id;
    json_t *devs;
    json_t *out = json_pack("{s:{}, s:{}, s:{}}", "device_keys", "master_keys", "self_signing_keys");
    int failed = 0;
    json_object_foreach(want, user_id, devs) {
        if (hs_fed_e2ee_is_local(srv, user_id) && hs_keys_query_local(srv, "", user_id, devs, out) != 0) failed = 1;
    }
    json_decref(body);
    if (failed) {
        json_decref(out);
        db_error(resp);
        return;
    }
    hs_response_json(resp, 200, out);
}

static void user_keys_claim(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    json_t *body = body_object(req, resp);
    if (!body) return;
    json_t *want = json_object_get(body, "one_time_keys");
    size_t total;
    if (hs_keys_claim_check(want, resp, &total) != 0) {
        json_decref(body);
        return;
    }
    hs_store_claim *claims = calloc(total + 1, sizeof *claims);
    json_t *keys = json_object();
    int rc = claims ? hs_keys_claim_local(srv, want, claims, keys) : -1;
    free(claims);
    json_decref(body);
    if (rc != 0) {
        json_decref(keys);
        db_error(resp);
        return;
    }
    hs_response_json(resp, 200, json_pack("{s:o}", "one_time_keys", keys));
}

typedef struct devices_ctx {
    hs_server *srv;
    const char *user_id;
    json_t *devices;
} devices_ctx;

static int device_entry(void *vc, const char *device_id, const char *keys_json, const char *display_name)
{
    devices_ctx *c = vc;
    json_t *k = json_loads(keys_json, 0, NULL);
    if (!k) return 0;
    /* With the signatures the user made on the device since, as m.device_list_update
     * carries them: a peer resyncing from this answer must not lose them. */
    if (hs_keys_merge_signatures(c->srv, k, c->user_id, device_id, "") != 0) {
        json_decref(k);
        return -1;
    }
    json_t *d = json_pack("{s:s, s:o}", "device_id", device_id, "keys", k);
    if (display_name) json_object_set_new(d, "device_display_name", json_string(display_name));
    json_array_append_new(c->devices, d);
    return 0;
}

static void user_devices(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    const char *user_id = hs_request_param(req, "userId");
    if (!user_id || !hs_fed_e2ee_is_local(srv, user_id)) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "not a user of this server");
        return;
    }
    json_t *devices = json_array();
    /* The user's last m.device_list_update: the asker keeps it as where its copy
     * stands, and applies the next update (whose prev_id names it) as it comes. */
    int64_t stream = 0;
    devices_ctx dc = {srv, user_id, devices};
    if (hs_store_e2ee_device_keys_each(srv->store, user_id, NULL, device_entry, &dc) < 0 ||
        hs_store_fed_device_stream_last(srv->store, user_id, &stream) != 0) {
        json_decref(devices);
        db_error(resp);
        return;
    }
    json_t *out = json_pack("{s:s, s:I, s:o}", "user_id", user_id, "stream_id", (json_int_t)stream, "devices", devices);
    static const char *const types[][2] = {{"master", "master_key"}, {"self_signing", "self_signing_key"}};
    for (size_t i = 0; i < 2; i++) {
        char *text = NULL;
        if (hs_store_e2ee_xsign_get(srv->store, user_id, types[i][0], &text) == 0) {
            json_t *k = json_loads(text, 0, NULL);
            if (k) json_object_set_new(out, types[i][1], k);
        }
        free(text);
    }
    hs_response_json(resp, 200, out);
}

int hs_fed_e2ee_register(hs_server *srv)
{
    if (hs_fed_route(srv, "POST", "/_matrix/federation/v1/user/keys/query", user_keys_query) != 0) return -1;
    if (hs_fed_route(srv, "POST", "/_matrix/federation/v1/user/keys/claim", user_keys_claim) != 0) return -1;
    return hs_fed_route(srv, "GET", "/_matrix/federation/v1/user/devices/{userId}", user_devices);
}

/* ---- inbound EDUs ----------------------------------------------------------------------- */

/* A remote user's device list is fetched whole because of a gap in its updates at most
 * this often (more often, the cache is forgotten instead: queries then go to its server),
 * and each fetch waits at most DEVICE_RESYNC_TIMEOUT_MS. A prev_id longer than
 * DEVICE_PREV_MAX is taken as a gap. */
#define DEVICE_RESYNC_MIN_MS (10 * 1000)
#define DEVICE_RESYNC_TIMEOUT_MS 10000
#define DEVICE_PREV_MAX 16

/* Replaces the cached device list of `user_id` with what GET user/devices of its
 * server answers (each device's keys checked; its stream_id becomes where the cache
 * stands, so the next update chains onto it). Returns 0, or -1 when the server did not
 * answer usably (the cache is left as it was). */
static int device_list_resync(hs_server *srv, const char *server, const char *user_id)
{
    char *enc = hs_fed_pct_encode(user_id);
    if (!enc) return -1;
    char target[1024];
    snprintf(target, sizeof target, "/_matrix/federation/v1/user/devices/%s", enc);
    free(enc);
    hs_fed_out out = {server, "GET", target, NULL, true, DEVICE_RESYNC_TIMEOUT_MS};
    hs_fed_reply reply;
    hs_err err = {{0}};
    if (hs_fed_send(srv, &out, &reply, &err) != 0) {
        hs_info("fed", "user/devices of %s: %s", user_id, err.msg);
        return -1;
    }
    long status = reply.status;
    json_t *answer = status == 200 ? json_loadb(reply.body, reply.body_len, 0, NULL) : NULL;
    hs_fed_reply_free(&reply);
    const json_t *devices = json_object_get(answer, "devices");
    const json_t *stream = json_object_get(answer, "stream_id");
    const char *who = json_string_value(json_object_get(answer, "user_id"));
    if (!json_is_array(devices) || !json_is_integer(stream) || !who || strcmp(who, user_id) != 0) {
        hs_info("fed", "user/devices of %s: HTTP %ld, or not a device list of that user", user_id, status);
        json_decref(answer);
        return -1;
    }
    size_t total = json_array_size(devices);
    hs_store_fed_device *rows = calloc(total + 1, sizeof *rows);
    char **texts = calloc(total + 1, sizeof *texts);
    size_t n = 0, i;
    json_t *d;
    json_array_foreach(devices, i, d) {
        if (!rows || !texts) break;
        const char *device_id = json_string_value(json_object_get(d, "device_id"));
        const json_t *keys = json_object_get(d, "keys");
        hs_err kerr;
        if (!device_id || (keys && hs_e2ee_check_device_keys(keys, user_id, device_id, &kerr) != 0)) continue;
        texts[n] = keys ? json_dumps(keys, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (keys && !texts[n]) continue;
        rows[n] = (hs_store_fed_device){device_id, texts[n],
                                        json_string_value(json_object_get(d, "device_display_name"))};
        n++;
    }
    int rc = -1;
    if (rows && texts) {
        int64_t now = hs_fed_now_ms();
        rc = hs_store_fed_devices_replace(srv->store, user_id, rows, n, json_integer_value(stream), now);
        if (rc == 1) hs_notifier_wake(srv->notifier);
    }
    for (size_t k = 0; texts && k < n; k++) free(texts[k]);
    free(texts);
    free(rows);
    json_decref(answer);
    return rc < 0 ? -1 : 0;
}

static void device_list_edu(hs_server *srv, const char *origin, const json_t *content, int *resyncs_left)
{
    hs_fed_edu_device_list d;
    hs_err err;
    if (hs_fed_edu_device_list_check(content, origin, &d, &err) != 0) {
        hs_info("fed", "EDU from %s dropped: %s", origin, err.msg);
        return;
    }
    if (d.keys && hs_e2ee_check_device_keys(d.keys, d.user_id, d.device_id, &err) != 0) {
        hs_info("fed", "m.device_list_update from %s for %s dropped: %s", origin, d.user_id, err.msg);
        return;
    }
    /* Only users someone here shares a room with matter; the rest would only grow the
     * change stream with rows no local client can see. */
    char **servers;
    size_t n;
    if (hs_store_fed_user_servers(srv->store, d.user_id, &servers, &n) != 0) return;
    hs_store_free_strings(servers, n);
    if (n == 0) return;
    /* prev_id was checked to be a list of integers. */
    const json_t *prev_list = json_object_get(content, "prev_id");
    int64_t prev[DEVICE_PREV_MAX];
    size_t n_prev = json_array_size(prev_list);
    if (n_prev > DEVICE_PREV_MAX) n_prev = 0;
    for (size_t i = 0; i < n_prev; i++) prev[i] = json_integer_value(json_array_get(prev_list, i));
    char *keys = d.keys ? json_dumps(d.keys, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int64_t now = hs_fed_now_ms(), at = 0, fetched = 0;
    int rc = hs_store_fed_device_update_chained(srv->store, d.user_id, d.device_id, keys, d.display_name, d.deleted,
                                                d.stream_id, prev, n_prev, now, &at, &fetched);
    free(keys);
    if (rc == 0) hs_notifier_wake(srv->notifier);
    if (rc != 2) return;
    /* Our copy misses an update (or the sender keeps no chain): the whole list is
     * fetched again, which includes this update. A list from a keys query (position
     * unknown) is fetched at once; after that, not too often for one user; and never
     * from a server the queue has backed off; and only while the transaction's budget
     * lasts. Else the copy is forgotten, and queries for the user go to its server. */
    bool fetch = *resyncs_left > 0 && (at == 0 || now - fetched >= DEVICE_RESYNC_MIN_MS) &&
                 hs_store_fed_dest_down(srv->store, origin, now) != 1;
    if (fetch) --*resyncs_left;
    if (fetch && device_list_resync(srv, origin, d.user_id) == 0) return;
    if (hs_store_fed_devices_forget(srv->store, d.user_id) == 0) hs_notifier_wake(srv->notifier);
}

static void to_device_edu(hs_server *srv, const char *origin, const json_t *content)
{
    hs_fed_edu_to_device t;
    hs_err err;
    if (hs_fed_edu_to_device_check(content, origin, &t, &err) != 0) {
        hs_info("fed", "EDU from %s dropped: %s", origin, err.msg);
        return;
    }
    hs_store_to_device *msgs = calloc(t.n_messages + 1, sizeof *msgs);
    char **texts = calloc(t.n_messages + 1, sizeof *texts);
    size_t m = 0;
    const char *user_id, *device_id;
    json_t *devs, *msg;
    json_object_foreach((json_t *)t.messages, user_id, devs) {
        if (!msgs || !texts || !hs_fed_e2ee_is_local(srv, user_id)) continue;
        json_object_foreach(devs, device_id, msg) {
            if (!(texts[m] = json_dumps(msg, JSON_COMPACT))) continue;
            msgs[m] = (hs_store_to_device){user_id, device_id, texts[m]};
            m++;
        }
    }
    size_t queued = 0;
    /* The (sender, message_id) pair is remembered like a local sender's transaction
     * ID: a message the origin sends again (a retried transaction under a new ID)
     * is queued once. */
    int rc = msgs && texts ? hs_store_e2ee_to_device_send(srv->store, t.sender, FED_TXN_DEVICE, t.message_id, t.type,
                                                          msgs, m, &queued)
                           : -1;
    if (rc < 0) hs_warn("fed", "m.direct_to_device from %s: could not queue the messages", origin);
    if (queued) hs_notifier_wake(srv->notifier);
    for (size_t i = 0; texts && i < m; i++) free(texts[i]);
    free(texts);
    free(msgs);
}

static void typing_edu(hs_server *srv, const char *origin, const json_t *content)
{
    hs_fed_edu_typing t;
    hs_err err;
    if (hs_fed_edu_typing_check(content, origin, &t, &err) != 0) {
        hs_info("fed", "EDU from %s dropped: %s", origin, err.msg);
        return;
    }
    char membership[32];
    if (hs_store_membership(srv->store, t.room_id, t.user_id, membership) != 0 || strcmp(membership, "join") != 0)
        return;
    if (hs_server_acl_room_allows(srv->store, t.room_id, origin) != 1) return; /* MSC4163: ACLs cover typing */
    hs_api_sync_typing_set(srv, t.room_id, t.user_id, t.typing, t.timeout_ms);
}

/* True when `user_id` (of another server) is joined to a room a local user is joined
 * to: only such users' presence and keys are kept, so a server cannot fill the tables
 * with users nobody here can see. */
static bool shares_with_local(hs_server *srv, const char *user_id)
{
    return hs_store_fed_shares_room_with(srv->store, user_id, srv->cfg.server_name) == 1;
}

static void presence_edu(hs_server *srv, const char *origin, const json_t *content)
{
    hs_fed_edu_presence *v = calloc(HS_FED_EDU_PRESENCE_MAX, sizeof *v);
    hs_err err;
    long n = v ? hs_fed_edu_presence_check(content, origin, v, HS_FED_EDU_PRESENCE_MAX, &err) : -1;
    if (n < 0) {
        if (v) hs_info("fed", "EDU from %s dropped: %s", origin, err.msg);
        free(v);
        return;
    }
    int64_t now = hs_fed_now_ms();
    bool wake = false;
    for (long i = 0; i < n; i++) {
        if (!shares_with_local(srv, v[i].user_id)) continue;
        int64_t ago = v[i].last_active_ago > now ? now : v[i].last_active_ago;
        bool changed = false;
        if (hs_store_presence_put(srv->store, v[i].user_id, v[i].presence, v[i].status_msg, now - ago, &changed) != 0)
            hs_warn("fed", "m.presence from %s: could not store the presence of %s", origin, v[i].user_id);
        wake |= changed;
    }
    if (wake) hs_notifier_wake(srv->notifier);
    free(v);
}

/* Whether `ssk` carries a valid signature of `master` (both of user_id). */
static bool signed_by_master(const json_t *ssk, const json_t *master, const char *user_id)
{
    uint8_t pub[32];
    char b64[HS_E2EE_KEY_ID_MAX];
    hs_err err;
    return master && ssk && hs_e2ee_check_cross_key(master, user_id, "master", pub, b64, &err) == 0 &&
           hs_e2ee_verify(ssk, user_id, b64, pub, &err) == 0;
}

/* m.signing_key_update: a user's master and/or self-signing key changed. Checked keys
 * are cached (a self-signing key must carry the signature of the master key: the new
 * one, else the cached one) and local clients hear the user's keys changed. */
static void signing_key_edu(hs_server *srv, const char *origin, const json_t *content)
{
    hs_fed_edu_signing_key k;
    hs_err err;
    if (hs_fed_edu_signing_key_check(content, origin, &k, &err) != 0) {
        hs_info("fed", "EDU from %s dropped: %s", origin, err.msg);
        return;
    }
    if (!shares_with_local(srv, k.user_id)) return;
    json_t *master = k.master_key ? json_incref((json_t *)k.master_key) : hs_fed_e2ee_cached_cross_key(srv, k.user_id, "master");
    json_t *ssk = k.self_signing_key ? json_incref((json_t *)k.self_signing_key)
                                     : hs_fed_e2ee_cached_cross_key(srv, k.user_id, "self_signing");
    if (ssk && !signed_by_master(ssk, master, k.user_id)) {
        if (k.self_signing_key)
            hs_info("fed", "m.signing_key_update from %s: the self-signing key of %s is not signed by its master key",
                    origin, k.user_id);
        json_decref(ssk);
        ssk = NULL; /* unverifiable: clients will ask the user's server */
    }
    char *mt = hs_fed_e2ee_key_text(master), *st = hs_fed_e2ee_key_text(ssk);
    if (hs_store_e2ee_remote_xsign_put(srv->store, k.user_id, mt, st, true) > 0) hs_notifier_wake(srv->notifier);
    free(mt);
    free(st);
    json_decref(master);
    json_decref(ssk);
}

void hs_fed_edu_apply(hs_server *srv, const char *origin, const json_t *edu, int *resyncs_left)
{
    const char *type = json_string_value(json_object_get(edu, "edu_type"));
    const json_t *content = json_object_get(edu, "content");
    if (!type) return;
    if (strcmp(type, "m.device_list_update") == 0) device_list_edu(srv, origin, content, resyncs_left);
    else if (strcmp(type, "m.direct_to_device") == 0) to_device_edu(srv, origin, content);
    else if (strcmp(type, "m.typing") == 0) typing_edu(srv, origin, content);
    else if (strcmp(type, "m.signing_key_update") == 0) signing_key_edu(srv, origin, content);
    else if (strcmp(type, "m.presence") == 0) presence_edu(srv, origin, content);
}

/* ---- shared with hs_fed_e2ee_scan.c and hs_fed_e2ee_keys.c ----------------------------- */

/* The canonical JSON of a checked key, or NULL. */
char *hs_fed_e2ee_key_text(const json_t *key)
{
    hs_err err;
    return key ? hs_cjson_encode(key, 0, NULL, &err) : NULL;
}


/* A cached remote cross-signing key, parsed, or NULL. */
json_t *hs_fed_e2ee_cached_cross_key(hs_server *srv, const char *user_id, const char *type)
{
    char *text = NULL;
    if (hs_store_e2ee_remote_xsign_get(srv->store, user_id, type, &text) != 0) return NULL;
    json_t *k = json_loads(text, 0, NULL);
    free(text);
    return k;
}


void hs_fed_edu_batch_add(hs_fed_edu_batch *b, const char *dest, const json_t *edu)
{
    if (b->failed) return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        hs_store_fed_item *gi = realloc(b->items, cap * sizeof *gi);
        if (gi) b->items = gi;
        char **gd = realloc(b->dests, cap * sizeof *gd);
        if (gd) b->dests = gd;
        char **gp = realloc(b->payloads, cap * sizeof *gp);
        if (gp) b->payloads = gp;
        if (!gi || !gd || !gp) {
            b->failed = true;
            return;
        }
        b->cap = cap;
    }
    char *d = strdup(dest), *p = json_dumps(edu, JSON_COMPACT);
    if (!d || !p) {
        free(d);
        free(p);
        b->failed = true;
        return;
    }
    b->dests[b->n] = d;
    b->payloads[b->n] = p;
    b->items[b->n] = (hs_store_fed_item){d, "edu", p};
    b->n++;
}

void hs_fed_edu_batch_free(hs_fed_edu_batch *b)
{
    hs_store_free_strings(b->dests, b->n);
    hs_store_free_strings(b->payloads, b->n);
    free(b->items);
}

/* Enqueues the batch (no cursor) and wakes the sender. Returns 0 or -1. */
int hs_fed_edu_batch_send(hs_server *srv, hs_fed_edu_batch *b)
{
    int rc = b->failed ? -1 : 0;
    if (rc == 0 && b->n) {
        rc = hs_store_fed_enqueue(srv->store, b->items, b->n, NULL, 0, hs_fed_now_ms());
        if (rc == 0) hs_notifier_wake(srv->notifier);
    }
    hs_fed_edu_batch_free(b);
    return rc;
}

/* ---- outbound EDUs ---------------------------------------------------------------------- */

long hs_fed_e2ee_to_device_out(hs_server *srv, const char *sender, const char *type, const json_t *remote)
{
    json_t *by_server = json_object();
    const char *user_id;
    json_t *devs;
    long count = 0;
    json_object_foreach((json_t *)remote, user_id, devs) {
        const char *server = hs_id_server_name(user_id);
        if (!server || !json_is_object(devs)) continue;
        json_t *mine = json_object_get(by_server, server);
        if (!mine) json_object_set_new(by_server, server, mine = json_object());
        json_object_set(mine, user_id, devs);
        count += (long)json_object_size(devs);
    }
    hs_fed_edu_batch b = {0};
    const char *server;
    json_t *messages;
    json_object_foreach(by_server, server, messages) {
        unsigned char raw[16];
        char id[33];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        json_t *edu = json_pack("{s:s, s:{s:s, s:s, s:s, s:O}}", "edu_type", "m.direct_to_device", "content", "sender",
                                sender, "type", type, "message_id", id, "messages", messages);
        hs_fed_edu_batch_add(&b, server, edu);
        json_decref(edu);
    }
    json_decref(by_server);
    return hs_fed_edu_batch_send(srv, &b) == 0 ? count : -1;
}

int hs_fed_typing_out(hs_server *srv, const char *room_id, const char *user_id, bool typing, int64_t timeout_ms)
{
    char **servers;
    size_t n;
    if (hs_store_fed_joined_servers(srv->store, room_id, &servers, &n) != 0) return -1;
    hs_fed_edu_batch b = {0};
    json_t *edu = json_pack("{s:s, s:{s:s, s:s, s:b, s:I}}", "edu_type", "m.typing", "content", "room_id", room_id,
                            "user_id", user_id, "typing", typing, "timeout", (json_int_t)timeout_ms);
    for (size_t i = 0; i < n; i++)
        if (strcmp(servers[i], srv->cfg.server_name) != 0) hs_fed_edu_batch_add(&b, servers[i], edu);
    json_decref(edu);
    hs_store_free_strings(servers, n);
    return hs_fed_edu_batch_send(srv, &b);
}

int hs_fed_profile_remote(hs_server *srv, const char *user_id, char **displayname, char **avatar_url)
{
    *displayname = *avatar_url = NULL;
    int64_t now = hs_fed_now_ms();
    if (hs_store_fed_profile_cache_get(srv->store, user_id, now - HS_FED_PROFILE_CACHE_MS, displayname, avatar_url) ==
        0)
        return 0;
    const char *server = hs_id_server_name(user_id);
    char *enc = hs_fed_pct_encode(user_id);
    if (!server || !enc) {
        free(enc);
        return -1;
    }
    char target[1024];
    snprintf(target, sizeof target, "/_matrix/federation/v1/query/profile?user_id=%s", enc);
    free(enc);
    hs_fed_out out = {server, "GET", target, NULL, true, 0};
    hs_fed_reply reply;
    hs_err err = {{0}};
    if (hs_fed_send(srv, &out, &reply, &err) != 0) {
        hs_info("fed", "query/profile of %s: %s", user_id, err.msg);
        return -1;
    }
    int rc = -1;
    json_t *answer = reply.status == 200 ? json_loadb(reply.body, reply.body_len, 0, NULL) : NULL;
    if (reply.status == 404) {
        rc = 1;
    } else if (json_is_object(answer)) {
        const char *dn = json_string_value(json_object_get(answer, "displayname"));
        const char *av = json_string_value(json_object_get(answer, "avatar_url"));
        *displayname = dn ? strdup(dn) : NULL;
        *avatar_url = av ? strdup(av) : NULL;
        hs_store_fed_profile_cache_put(srv->store, user_id, dn, av, now);
        rc = 0;
    } else {
        hs_info("fed", "query/profile of %s: HTTP %ld", user_id, reply.status);
    }
    json_decref(answer);
    hs_fed_reply_free(&reply);
    return rc;
}
