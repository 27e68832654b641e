/* hs_fed_e2ee: E2EE, typing and profiles across servers (see hs_fed_e2ee.h). */
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
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "server-core/hs_store_fed_queue.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"

#define SCAN_BATCH 200
/* The sender "device" under which inbound to-device message IDs are remembered: never
 * a real device ID of the (remote) sender on this server. */
#define FED_TXN_DEVICE "#federation"

static bool is_local(const hs_server *srv, const char *user_id)
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
        if (is_local(srv, user_id) && hs_keys_query_local(srv, "", user_id, devs, out) != 0) failed = 1;
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

static int device_entry(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    json_t *k = json_loads(keys_json, 0, NULL);
    if (!k) return 0;
    json_t *d = json_pack("{s:s, s:o}", "device_id", device_id, "keys", k);
    if (display_name) json_object_set_new(d, "device_display_name", json_string(display_name));
    json_array_append_new(ctx, d);
    return 0;
}

static void user_devices(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    const char *user_id = hs_request_param(req, "userId");
    if (!user_id || !is_local(srv, user_id)) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "not a user of this server");
        return;
    }
    json_t *devices = json_array();
    int64_t stream = 0;
    if (hs_store_e2ee_device_keys_each(srv->store, user_id, NULL, device_entry, devices) < 0 ||
        hs_store_e2ee_device_lists_max(srv->store, &stream) != 0) {
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

static void device_list_edu(hs_server *srv, const char *origin, const json_t *content)
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
    char *keys = d.keys ? json_dumps(d.keys, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (hs_store_fed_device_update(srv->store, d.user_id, d.device_id, keys, d.display_name, d.deleted, d.stream_id,
                                   hs_fed_now_ms()) == 0)
        hs_notifier_wake(srv->notifier);
    free(keys);
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
        if (!msgs || !texts || !is_local(srv, user_id)) continue;
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
    hs_api_sync_typing_set(srv, t.room_id, t.user_id, t.typing, t.timeout_ms);
}

/* True when `user_id` (of another server) is joined to a room a local user is joined
 * to: only such users' presence and keys are kept, so a server cannot fill the tables
 * with users nobody here can see. */
static bool shares_with_local(hs_server *srv, const char *user_id)
{
    char **servers;
    size_t n;
    if (hs_store_fed_user_servers(srv->store, user_id, &servers, &n) != 0) return false;
    bool mine = false;
    for (size_t i = 0; i < n && !mine; i++) mine = strcmp(servers[i], srv->cfg.server_name) == 0;
    hs_store_free_strings(servers, n);
    return mine;
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

/* The canonical JSON of a checked key, or NULL. */
static char *key_text(const json_t *key)
{
    hs_err err;
    return key ? hs_cjson_encode(key, 0, NULL, &err) : NULL;
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

/* A cached remote cross-signing key, parsed, or NULL. */
static json_t *cached_cross_key(hs_server *srv, const char *user_id, const char *type)
{
    char *text = NULL;
    if (hs_store_e2ee_remote_xsign_get(srv->store, user_id, type, &text) != 0) return NULL;
    json_t *k = json_loads(text, 0, NULL);
    free(text);
    return k;
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
    json_t *master = k.master_key ? json_incref((json_t *)k.master_key) : cached_cross_key(srv, k.user_id, "master");
    json_t *ssk = k.self_signing_key ? json_incref((json_t *)k.self_signing_key)
                                     : cached_cross_key(srv, k.user_id, "self_signing");
    if (ssk && !signed_by_master(ssk, master, k.user_id)) {
        if (k.self_signing_key)
            hs_info("fed", "m.signing_key_update from %s: the self-signing key of %s is not signed by its master key",
                    origin, k.user_id);
        json_decref(ssk);
        ssk = NULL; /* unverifiable: clients will ask the user's server */
    }
    char *mt = key_text(master), *st = key_text(ssk);
    if (hs_store_e2ee_remote_xsign_put(srv->store, k.user_id, mt, st, true) > 0) hs_notifier_wake(srv->notifier);
    free(mt);
    free(st);
    json_decref(master);
    json_decref(ssk);
}

void hs_fed_edu_apply(hs_server *srv, const char *origin, const json_t *edu)
{
    const char *type = json_string_value(json_object_get(edu, "edu_type"));
    const json_t *content = json_object_get(edu, "content");
    if (!type) return;
    if (strcmp(type, "m.device_list_update") == 0) device_list_edu(srv, origin, content);
    else if (strcmp(type, "m.direct_to_device") == 0) to_device_edu(srv, origin, content);
    else if (strcmp(type, "m.typing") == 0) typing_edu(srv, origin, content);
    else if (strcmp(type, "m.signing_key_update") == 0) signing_key_edu(srv, origin, content);
    else if (strcmp(type, "m.presence") == 0) presence_edu(srv, origin, content);
}

/* ---- outbound EDUs ---------------------------------------------------------------------- */

/* Items to enqueue, owning their strings. */
typedef struct edu_batch {
    hs_store_fed_item *items;
    char **dests, **payloads;
    size_t n, cap;
    bool failed;
} edu_batch;

static void batch_add(edu_batch *b, const char *dest, const json_t *edu)
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

static void batch_free(edu_batch *b)
{
    hs_store_free_strings(b->dests, b->n);
    hs_store_free_strings(b->payloads, b->n);
    free(b->items);
}

/* Enqueues the batch (no cursor) and wakes the sender. Returns 0 or -1. */
static int batch_send(hs_server *srv, edu_batch *b)
{
    int rc = b->failed ? -1 : 0;
    if (rc == 0 && b->n) {
        rc = hs_store_fed_enqueue(srv->store, b->items, b->n, NULL, 0, hs_fed_now_ms());
        if (rc == 0) hs_notifier_wake(srv->notifier);
    }
    batch_free(b);
    return rc;
}

/* What one scan learnt about one local user from its device_list_changes rows. */
typedef struct user_change {
    char *user_id;
    int64_t stream;
    bool devices;   /* keys of some device changed: each device is sent */
    bool xsign;     /* the master or self-signing key changed */
    char **deleted; /* devices deleted (announced with deleted: true) */
    size_t n_deleted;
} user_change;

typedef struct change_ctx {
    user_change *v;
    size_t n, cap;
    int64_t last;
    hs_server *srv;
} change_ctx;

static void change_ctx_free(change_ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].user_id);
        hs_store_free_strings(c->v[i].deleted, c->v[i].n_deleted);
    }
    free(c->v);
}

static int collect_change(void *vc, const hs_store_fed_change *row)
{
    change_ctx *c = vc;
    c->last = row->stream_id;
    if (!row->user_id || !is_local(c->srv, row->user_id)) return 0;
    user_change *u = NULL;
    for (size_t i = 0; i < c->n && !u; i++)
        if (strcmp(c->v[i].user_id, row->user_id) == 0) u = &c->v[i];
    if (!u) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            user_change *g = realloc(c->v, cap * sizeof *g);
            if (!g) return -1;
            c->v = g;
            c->cap = cap;
        }
        u = &c->v[c->n];
        memset(u, 0, sizeof *u);
        if (!(u->user_id = strdup(row->user_id))) return -1;
        c->n++;
    }
    u->stream = row->stream_id;
    if (row->deleted_device) {
        char **g = realloc(u->deleted, (u->n_deleted + 1) * sizeof *g);
        if (!g) return -1;
        u->deleted = g;
        if (!(u->deleted[u->n_deleted] = strdup(row->deleted_device))) return -1;
        u->n_deleted++;
    } else if (row->cross_signing) {
        u->xsign = true;
    } else {
        u->devices = true;
    }
    return 0;
}

typedef struct dev_ctx {
    edu_batch *b;
    char **servers;
    size_t n_servers;
    const char *user_id, *self;
    int64_t stream;
} dev_ctx;

static void to_servers(dev_ctx *c, const json_t *edu)
{
    for (size_t i = 0; i < c->n_servers; i++)
        if (strcmp(c->servers[i], c->self) != 0) batch_add(c->b, c->servers[i], edu);
}

static int device_update_out(void *vc, const char *device_id, const char *keys_json, const char *display_name)
{
    dev_ctx *c = vc;
    json_t *keys = json_loads(keys_json, 0, NULL);
    if (!keys) return 0;
    json_t *content = json_pack("{s:s, s:s, s:I, s:[], s:o}", "user_id", c->user_id, "device_id", device_id,
                                "stream_id", (json_int_t)c->stream, "prev_id", "keys", keys);
    if (display_name) json_object_set_new(content, "device_display_name", json_string(display_name));
    json_t *edu = json_pack("{s:s, s:o}", "edu_type", "m.device_list_update", "content", content);
    to_servers(c, edu);
    json_decref(edu);
    return 0;
}

static int device_exists(void *vc, const char *device_id, const char *keys_json, const char *display_name)
{
    (void)device_id;
    (void)keys_json;
    (void)display_name;
    *(bool *)vc = true;
    return 1;
}

/* m.device_list_update with deleted: true for a device whose keys are gone (and did not
 * come back under the same ID since). Returns 0 or -1. */
static int device_deleted_out(hs_server *srv, dev_ctx *c, const char *device_id)
{
    bool exists = false;
    if (hs_store_e2ee_device_keys_each(srv->store, c->user_id, device_id, device_exists, &exists) < 0) return -1;
    if (exists) return 0;
    json_t *edu = json_pack("{s:s, s:{s:s, s:s, s:I, s:[], s:b}}", "edu_type", "m.device_list_update", "content",
                            "user_id", c->user_id, "device_id", device_id, "stream_id", (json_int_t)c->stream,
                            "prev_id", "deleted", 1);
    to_servers(c, edu);
    json_decref(edu);
    return 0;
}

/* The stored cross-signing key of a local user with its own signatures merged in (what
 * other servers may see), or NULL when none. */
static json_t *own_cross_key(hs_server *srv, const char *user_id, const char *type)
{
    char *text = NULL;
    if (hs_store_e2ee_xsign_get(srv->store, user_id, type, &text) != 0) return NULL;
    json_t *k = json_loads(text, 0, NULL);
    free(text);
    const char *id = json_object_iter_key(json_object_iter(json_object_get(k, "keys")));
    if (k && id && strncmp(id, "ed25519:", 8) == 0) hs_keys_merge_signatures(srv, k, user_id, id + 8, "");
    return k;
}

/* m.signing_key_update with the user's current master and self-signing keys. */
static void signing_key_out(hs_server *srv, dev_ctx *c)
{
    json_t *master = own_cross_key(srv, c->user_id, "master");
    json_t *ssk = own_cross_key(srv, c->user_id, "self_signing");
    if (master || ssk) {
        json_t *content = json_pack("{s:s}", "user_id", c->user_id);
        if (master) json_object_set(content, "master_key", master);
        if (ssk) json_object_set(content, "self_signing_key", ssk);
        json_t *edu = json_pack("{s:s, s:o}", "edu_type", "m.signing_key_update", "content", content);
        to_servers(c, edu);
        json_decref(edu);
    }
    json_decref(master);
    json_decref(ssk);
}

/* Queues the device list changes after the cursor: updates of every device with keys,
 * deletions, cross-signing key updates. Returns the rows looked at, or -1. */
static long scan_device_lists(hs_server *srv, int64_t now_ms, int64_t *cursor_out)
{
    int64_t cursor;
    if (hs_store_fed_cursor_get(srv->store, HS_STORE_FED_DEVICE_LISTS, &cursor) != 0) return -1;
    change_ctx c = {.last = cursor, .srv = srv};
    long n = hs_store_fed_device_changes_after(srv->store, cursor, SCAN_BATCH, collect_change, &c);
    edu_batch b = {0};
    for (size_t i = 0; n > 0 && i < c.n; i++) {
        user_change *u = &c.v[i];
        char **servers;
        size_t ns;
        if (hs_store_fed_user_servers(srv->store, u->user_id, &servers, &ns) != 0) {
            n = -1;
            break;
        }
        dev_ctx d = {&b, servers, ns, u->user_id, srv->cfg.server_name, u->stream};
        if (ns > 1 || (ns == 1 && strcmp(servers[0], srv->cfg.server_name) != 0)) {
            if (u->devices && hs_store_e2ee_device_keys_each(srv->store, u->user_id, NULL, device_update_out, &d) < 0)
                n = -1;
            for (size_t k = 0; n > 0 && k < u->n_deleted; k++)
                if (device_deleted_out(srv, &d, u->deleted[k]) != 0) n = -1;
            if (u->xsign) signing_key_out(srv, &d);
        }
        hs_store_free_strings(servers, ns);
    }
    if (n > 0 && (b.failed || hs_store_fed_enqueue(srv->store, b.items, b.n, HS_STORE_FED_DEVICE_LISTS, c.last,
                                                   now_ms) != 0))
        n = -1;
    *cursor_out = n >= 0 ? c.last : cursor;
    batch_free(&b);
    change_ctx_free(&c);
    return n;
}

/* Local users' presence changes after the cursor, as one m.presence EDU per server
 * sharing a room with any of them (each user at its latest state: the presence table
 * keeps one row per user). */
typedef struct presence_ctx {
    hs_server *srv;
    json_t *by_server; /* server -> push array */
    int64_t last, now;
    bool failed;
} presence_ctx;

static int collect_presence(void *vc, int64_t stream_id, const char *user_id, const hs_store_presence *p)
{
    presence_ctx *c = vc;
    c->last = stream_id;
    if (!user_id || !is_local(c->srv, user_id)) return 0;
    char **servers;
    size_t ns;
    if (hs_store_fed_user_servers(c->srv->store, user_id, &servers, &ns) != 0) return -1;
    int64_t ago = c->now - p->last_active_ts;
    json_t *entry = json_pack("{s:s, s:s, s:I, s:b}", "user_id", user_id, "presence", p->state, "last_active_ago",
                              (json_int_t)(ago < 0 ? 0 : ago), "currently_active", strcmp(p->state, "online") == 0);
    if (entry && p->has_status_msg) json_object_set_new(entry, "status_msg", json_string(p->status_msg));
    for (size_t i = 0; entry && i < ns; i++) {
        if (strcmp(servers[i], c->srv->cfg.server_name) == 0) continue;
        json_t *push = json_object_get(c->by_server, servers[i]);
        if (!push) json_object_set_new(c->by_server, servers[i], push = json_array());
        json_array_append(push, entry);
    }
    if (!entry) c->failed = true;
    json_decref(entry);
    hs_store_free_strings(servers, ns);
    return c->failed ? -1 : 0;
}

static long scan_presence(hs_server *srv, int64_t now_ms)
{
    int64_t cursor;
    if (hs_store_fed_cursor_get(srv->store, HS_STORE_FED_PRESENCE, &cursor) != 0) return -1;
    presence_ctx c = {srv, json_object(), cursor, now_ms, false};
    long n = hs_store_presence_after(srv->store, cursor, SCAN_BATCH, collect_presence, &c);
    edu_batch b = {0};
    const char *server;
    json_t *push;
    json_object_foreach(c.by_server, server, push) {
        json_t *edu = json_pack("{s:s, s:{s:O}}", "edu_type", "m.presence", "content", "push", push);
        batch_add(&b, server, edu);
        json_decref(edu);
    }
    if (n > 0 && (b.failed || hs_store_fed_enqueue(srv->store, b.items, b.n, HS_STORE_FED_PRESENCE, c.last, now_ms) != 0))
        n = -1;
    batch_free(&b);
    json_decref(c.by_server);
    return n;
}

long hs_fed_e2ee_scan(hs_server *srv, int64_t now_ms)
{
    int64_t cursor = 0;
    long devices = scan_device_lists(srv, now_ms, &cursor);
    if (devices < 0) return -1;
    long presence = scan_presence(srv, now_ms);
    if (presence < 0) return -1;
    /* Rows the scan has announced can go once enough newer ones exist; tokens older
     * than what is left get "every user changed" (hs_store_e2ee_changes). */
    if (hs_store_e2ee_changes_prune(srv->store, cursor, HS_STORE_E2EE_CHANGES_KEEP) < 0)
        hs_warn("fed", "could not prune old device list changes");
    return devices + presence;
}

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
    edu_batch b = {0};
    const char *server;
    json_t *messages;
    json_object_foreach(by_server, server, messages) {
        unsigned char raw[16];
        char id[33];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        json_t *edu = json_pack("{s:s, s:{s:s, s:s, s:s, s:O}}", "edu_type", "m.direct_to_device", "content", "sender",
                                sender, "type", type, "message_id", id, "messages", messages);
        batch_add(&b, server, edu);
        json_decref(edu);
    }
    json_decref(by_server);
    return batch_send(srv, &b) == 0 ? count : -1;
}

int hs_fed_typing_out(hs_server *srv, const char *room_id, const char *user_id, bool typing, int64_t timeout_ms)
{
    char **servers;
    size_t n;
    if (hs_store_fed_joined_servers(srv->store, room_id, &servers, &n) != 0) return -1;
    edu_batch b = {0};
    json_t *edu = json_pack("{s:s, s:{s:s, s:s, s:b, s:I}}", "edu_type", "m.typing", "content", "room_id", room_id,
                            "user_id", user_id, "typing", typing, "timeout", (json_int_t)timeout_ms);
    for (size_t i = 0; i < n; i++)
        if (strcmp(servers[i], srv->cfg.server_name) != 0) batch_add(&b, servers[i], edu);
    json_decref(edu);
    hs_store_free_strings(servers, n);
    return batch_send(srv, &b);
}

/* ---- outbound queries --------------------------------------------------------------------- */

/* {server: {user: value}} of the users in `remote`. New reference. */
static json_t *group_by_server(const json_t *remote)
{
    json_t *by = json_object();
    const char *user_id;
    json_t *v;
    json_object_foreach((json_t *)remote, user_id, v) {
        const char *server = hs_id_server_name(user_id);
        if (!server) continue;
        json_t *mine = json_object_get(by, server);
        if (!mine) json_object_set_new(by, server, mine = json_object());
        json_object_set(mine, user_id, v);
    }
    return by;
}

/* One server's part of a keys/query or keys/claim: its users, then its parsed 200
 * answer, or NULL with why. */
typedef struct server_ask {
    const char *server;
    json_t *users;  /* borrowed from the grouping */
    json_t *answer; /* owned */
    char why[300];
} server_ask;

/* POSTs {field: users} to `path` on every server of `by` ({server: {user: value}}) at
 * once (hs_fed_send_many), except those the outbound queue has backed off (a request
 * to them would most likely wait for a timeout). Returns a malloc'd array of
 * json_object_size(by) entries (answers or reasons), or NULL when out of memory. */
static server_ask *ask_servers(hs_server *srv, json_t *by, const char *path, const char *field)
{
    size_t n = json_object_size(by);
    server_ask *asks = calloc(n + 1, sizeof *asks);
    hs_fed_out *reqs = calloc(n + 1, sizeof *reqs);
    json_t **bodies = calloc(n + 1, sizeof *bodies);
    size_t *which = calloc(n + 1, sizeof *which);
    hs_fed_reply *replies = calloc(n + 1, sizeof *replies);
    hs_err *errs = calloc(n + 1, sizeof *errs);
    if (!asks || !reqs || !bodies || !which || !replies || !errs) {
        free(asks);
        asks = NULL;
        goto out;
    }
    size_t i = 0, m = 0;
    const char *server;
    json_t *users;
    int64_t now = hs_fed_now_ms();
    json_object_foreach(by, server, users) {
        asks[i] = (server_ask){.server = server, .users = users};
        if (hs_store_fed_dest_down(srv->store, server, now) == 1) {
            snprintf(asks[i].why, sizeof asks[i].why, "%s is not answering (backed off)", server);
        } else {
            bodies[m] = json_pack("{s:O}", field, users);
            reqs[m] = (hs_fed_out){server, "POST", path, bodies[m], true};
            which[m++] = i;
        }
        i++;
    }
    if (m) hs_fed_send_many(srv, reqs, m, replies, errs);
    for (size_t k = 0; k < m; k++) {
        server_ask *a = &asks[which[k]];
        hs_fed_reply *r = &replies[k];
        if (r->status == 0) {
            snprintf(a->why, sizeof a->why, "%s", errs[k].msg[0] ? errs[k].msg : "no answer");
        } else if (r->status != 200) {
            snprintf(a->why, sizeof a->why, "%s answered HTTP %ld", a->server, r->status);
        } else if (!(a->answer = json_loadb(r->body, r->body_len, 0, NULL)) || !json_is_object(a->answer)) {
            snprintf(a->why, sizeof a->why, "%s answered with something other than a JSON object", a->server);
            json_decref(a->answer);
            a->answer = NULL;
        }
        hs_fed_reply_free(r);
        json_decref(bodies[k]);
    }
out:
    free(reqs);
    free(bodies);
    free(which);
    free(replies);
    free(errs);
    return asks;
}

static void asks_free(server_ask *asks, size_t n)
{
    for (size_t i = 0; asks && i < n; i++) json_decref(asks[i].answer);
    free(asks);
}

static void failure(json_t *failures, const char *server, const char *why)
{
    json_object_set_new(failures, server, json_pack("{s:i, s:s}", "status", 503, "message", why));
}

typedef struct cache_ctx {
    json_t *devices;
    const char *user_id;
} cache_ctx;

static void cached_device(void *vc, const char *device_id, const char *keys_json, const char *display_name)
{
    cache_ctx *c = vc;
    json_t *k = keys_json ? json_loads(keys_json, 0, NULL) : NULL;
    if (!k) return;
    if (display_name) json_object_set_new(k, "unsigned", json_pack("{s:s}", "device_display_name", display_name));
    json_object_set_new(c->devices, device_id, k);
}

/* The checked devices of `user_id` (of `server`) from an answer, cached when the whole
 * list was asked for. New reference. */
static json_t *take_devices(hs_server *srv, const char *user_id, const json_t *theirs, bool whole_list)
{
    json_t *devices = json_object();
    hs_store_fed_device *rows = calloc(json_object_size(theirs) + 1, sizeof *rows);
    char **texts = calloc(json_object_size(theirs) + 1, sizeof *texts);
    size_t n = 0;
    const char *device_id;
    json_t *k;
    json_object_foreach((json_t *)theirs, device_id, k) {
        hs_err err;
        if (hs_e2ee_check_device_keys(k, user_id, device_id, &err) != 0) {
            hs_info("fed", "keys of %s %s from its server ignored: %s", user_id, device_id, err.msg);
            continue;
        }
        json_object_set(devices, device_id, k);
        if (!rows || !texts) continue;
        json_t *signed_part = json_deep_copy(k);
        const char *name = json_string_value(json_object_get(json_object_get(k, "unsigned"), "device_display_name"));
        json_object_del(signed_part, "unsigned");
        texts[n] = json_dumps(signed_part, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(signed_part);
        if (texts[n]) {
            rows[n] = (hs_store_fed_device){device_id, texts[n], name};
            n++;
        }
    }
    if (whole_list && rows && texts) {
        int64_t now = hs_fed_now_ms();
        int rc = hs_store_fed_devices_replace(srv->store, user_id, rows, n, now, now);
        if (rc < 0) hs_warn("fed", "could not cache the devices of %s", user_id);
        else if (rc == 1) hs_notifier_wake(srv->notifier); /* local clients learn the list changed */
    }
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(rows);
    return devices;
}

/* The master and self-signing keys of `user_id` from its server's answer, checked (a
 * master key of that user; a self-signing key signed by it), into out and into the
 * cache; a key that fails a check is left out. */
static void take_cross(hs_server *srv, const json_t *answer, json_t *out, const char *user_id)
{
    const json_t *master = json_object_get(json_object_get(answer, "master_keys"), user_id);
    const json_t *ssk = json_object_get(json_object_get(answer, "self_signing_keys"), user_id);
    uint8_t pub[32];
    char b64[HS_E2EE_KEY_ID_MAX];
    hs_err err;
    char *mt = NULL, *st = NULL;
    if (master && (!json_is_object(master) || hs_e2ee_check_cross_key(master, user_id, "master", pub, b64, &err) != 0 ||
                   !(mt = key_text(master)) || strlen(mt) > HS_E2EE_KEY_JSON_MAX)) {
        hs_info("fed", "the master key of %s from its server ignored", user_id);
        free(mt);
        mt = NULL;
    }
    uint8_t spub[32];
    char sb64[HS_E2EE_KEY_ID_MAX];
    if (mt && ssk &&
        (!json_is_object(ssk) || hs_e2ee_check_cross_key(ssk, user_id, "self_signing", spub, sb64, &err) != 0 ||
         hs_e2ee_verify(ssk, user_id, b64, pub, &err) != 0 || !(st = key_text(ssk)) ||
         strlen(st) > HS_E2EE_KEY_JSON_MAX)) {
        hs_info("fed", "the self-signing key of %s from its server ignored", user_id);
        free(st);
        st = NULL;
    }
    if (mt) json_object_set(json_object_get(out, "master_keys"), user_id, (json_t *)master);
    if (st) json_object_set(json_object_get(out, "self_signing_keys"), user_id, (json_t *)ssk);
    int rc = hs_store_e2ee_remote_xsign_put(srv->store, user_id, mt, st, false);
    if (rc < 0) hs_warn("fed", "could not cache the cross-signing keys of %s", user_id);
    else if (rc > 0) hs_notifier_wake(srv->notifier);
    free(mt);
    free(st);
}

/* The cached master and self-signing keys of `user_id` into out. */
static void cached_cross(hs_server *srv, json_t *out, const char *user_id)
{
    static const char *const kinds[][2] = {{"master", "master_keys"}, {"self_signing", "self_signing_keys"}};
    for (size_t i = 0; i < 2; i++) {
        json_t *k = cached_cross_key(srv, user_id, kinds[i][0]);
        if (k) json_object_set_new(json_object_get(out, kinds[i][1]), user_id, k);
    }
}

void hs_fed_e2ee_keys_query(hs_server *srv, const json_t *remote, json_t *out)
{
    json_t *by = group_by_server(remote);
    json_t *failures = json_object_get(out, "failures");
    size_t n = json_object_size(by);
    server_ask *asks = ask_servers(srv, by, "/_matrix/federation/v1/user/keys/query", "device_keys");
    for (size_t a = 0; asks && a < n; a++) {
        json_t *answer = asks[a].answer;
        const char *user_id;
        json_t *devs;
        json_object_foreach(asks[a].users, user_id, devs) {
            json_t *devices = NULL;
            if (answer) {
                json_t *theirs = json_object_get(json_object_get(answer, "device_keys"), user_id);
                devices = take_devices(srv, user_id, json_is_object(theirs) ? theirs : NULL,
                                       json_array_size(devs) == 0 && json_is_object(theirs));
                take_cross(srv, answer, out, user_id);
            } else {
                cached_cross(srv, out, user_id);
                cache_ctx c = {json_object(), user_id};
                if (hs_store_fed_devices_each(srv->store, user_id, cached_device, &c) == 0) {
                    devices = c.devices;
                } else {
                    json_decref(c.devices);
                    continue;
                }
                /* Only the devices asked for, as a server would answer. */
                if (json_array_size(devs)) {
                    json_t *only = json_object();
                    size_t i;
                    json_t *d;
                    json_array_foreach(devs, i, d) {
                        json_t *k = json_is_string(d) ? json_object_get(devices, json_string_value(d)) : NULL;
                        if (k) json_object_set(only, json_string_value(d), k);
                    }
                    json_decref(devices);
                    devices = only;
                }
            }
            json_object_set_new(json_object_get(out, "device_keys"), user_id, devices);
        }
        if (!answer) {
            hs_info("fed", "keys/query on %s: %s", asks[a].server, asks[a].why);
            failure(failures, asks[a].server, asks[a].why);
        }
    }
    asks_free(asks, n);
    json_decref(by);
}

void hs_fed_e2ee_keys_claim(hs_server *srv, const json_t *remote, json_t *keys, json_t *failures)
{
    json_t *by = group_by_server(remote);
    size_t n = json_object_size(by);
    server_ask *asks = ask_servers(srv, by, "/_matrix/federation/v1/user/keys/claim", "one_time_keys");
    for (size_t a = 0; asks && a < n; a++) {
        json_t *answer = asks[a].answer;
        if (!answer) {
            hs_info("fed", "keys/claim on %s: %s", asks[a].server, asks[a].why);
            failure(failures, asks[a].server, asks[a].why);
            continue;
        }
        const char *user_id;
        json_t *devs;
        json_object_foreach(json_object_get(answer, "one_time_keys"), user_id, devs) {
            json_t *asked = json_object_get(asks[a].users, user_id);
            if (!asked || !json_is_object(devs)) continue;
            json_t *mine = json_object();
            const char *device_id;
            json_t *k;
            json_object_foreach(devs, device_id, k) {
                if (json_object_get(asked, device_id) && json_is_object(k)) json_object_set(mine, device_id, k);
            }
            if (json_object_size(mine)) json_object_set_new(keys, user_id, mine);
            else json_decref(mine);
        }
    }
    asks_free(asks, n);
    json_decref(by);
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
    hs_fed_out out = {server, "GET", target, NULL, true};
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
