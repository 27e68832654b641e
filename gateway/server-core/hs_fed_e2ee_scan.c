/* hs_fed_e2ee_scan: the outbound half of device lists and presence (hs_fed_e2ee_scan in
 * hs_fed_e2ee.h), run by the federation sender thread. Two scans, each over its own
 * persisted cursor and moved in the same transaction as the queue rows it produced
 * (so a crash neither loses nor repeats a change): device_list_changes rows of local
 * users (device updates, deletions, cross-signing changes) and presence rows of local
 * users. Each batch is coalesced per user: a user whose devices changed three times is
 * announced once, with its current devices. Device list updates carry the user's own
 * stream_ids, chained by prev_id (device_updates_send). Then the announced change rows
 * are pruned. */
#include "server-core/hs_fed_e2ee.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_api_keys_internal.h"
#include "server-core/hs_fed_e2ee_internal.h"
#include "server-core/hs_log.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "server-core/hs_store_fed_queue.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"

/* Change rows (or presence rows) read per scan. */
#define SCAN_BATCH 200

/* What one scan learnt about one local user from its device_list_changes rows. */
typedef struct user_change {
    char *user_id;
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
    /* A signature by someone else on the user's key is the signer's business only
     * (spec, "Cross-signing"); Synapse does not send it either. */
    if (!row->user_id || row->local_only || !hs_fed_e2ee_is_local(c->srv, row->user_id)) return 0;
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
    hs_server *srv;
    hs_fed_edu_batch *b;
    char **servers;
    size_t n_servers;
    const char *user_id, *self;
    json_t *updates; /* m.device_list_update contents still without stream_id and prev_id */
} dev_ctx;

static void to_servers(dev_ctx *c, const json_t *edu)
{
    for (size_t i = 0; i < c->n_servers; i++)
        if (strcmp(c->servers[i], c->self) != 0) hs_fed_edu_batch_add(c->b, c->servers[i], edu);
}

static int device_update_out(void *vc, const char *device_id, const char *keys_json, const char *display_name)
{
    dev_ctx *c = vc;
    json_t *keys = json_loads(keys_json, 0, NULL);
    if (!keys) return 0;
    /* The signatures the user made on the device since (its self-signing key's, which
     * make the device trusted by whoever trusts the user) go with it. */
    if (hs_keys_merge_signatures(c->srv, keys, c->user_id, device_id, "") != 0) {
        json_decref(keys);
        return -1;
    }
    json_t *content = json_pack("{s:s, s:s, s:o}", "user_id", c->user_id, "device_id", device_id, "keys", keys);
    if (content && display_name) json_object_set_new(content, "device_display_name", json_string(display_name));
    return json_array_append_new(c->updates, content);
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
    return json_array_append_new(c->updates,
                                 json_pack("{s:s, s:s, s:b}", "user_id", c->user_id, "device_id", device_id, "deleted", 1));
}

/* Numbers the user's updates and queues them. Each gets the next of the user's own
 * stream_ids and, as prev_id, the one before it (the previous update, possibly of an
 * earlier scan; none for the user's very first): a peer that holds that one applies
 * the update as it is, one that does not (it missed an update, or never had the
 * list) asks for the whole list. So a batch of several devices is a chain, which a
 * peer can apply in order. Returns 0 or -1. */
static int device_updates_send(hs_server *srv, dev_ctx *c)
{
    size_t n = json_array_size(c->updates);
    int64_t prev;
    if (n == 0) return 0;
    if (hs_store_fed_device_stream_reserve(srv->store, c->user_id, (int64_t)n, &prev) != 0) return -1;
    for (size_t i = 0; i < n; i++, prev++) {
        json_t *content = json_array_get(c->updates, i);
        json_object_set_new(content, "stream_id", json_integer(prev + 1));
        json_object_set_new(content, "prev_id", prev > 0 ? json_pack("[I]", (json_int_t)prev) : json_array());
        json_t *edu = json_pack("{s:s, s:O}", "edu_type", "m.device_list_update", "content", content);
        if (!edu) return -1;
        to_servers(c, edu);
        json_decref(edu);
    }
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
    hs_fed_edu_batch b = {0};
    for (size_t i = 0; n > 0 && i < c.n; i++) {
        user_change *u = &c.v[i];
        char **servers;
        size_t ns;
        if (hs_store_fed_user_servers(srv->store, u->user_id, &servers, &ns) != 0) {
            n = -1;
            break;
        }
        dev_ctx d = {srv, &b, servers, ns, u->user_id, srv->cfg.server_name, json_array()};
        if (!d.updates) n = -1;
        if (n > 0 && (ns > 1 || (ns == 1 && strcmp(servers[0], srv->cfg.server_name) != 0))) {
            if (u->devices && hs_store_e2ee_device_keys_each(srv->store, u->user_id, NULL, device_update_out, &d) < 0)
                n = -1;
            for (size_t k = 0; n > 0 && k < u->n_deleted; k++)
                if (device_deleted_out(srv, &d, u->deleted[k]) != 0) n = -1;
            if (n > 0 && device_updates_send(srv, &d) != 0) n = -1;
            if (u->xsign) signing_key_out(srv, &d);
        }
        json_decref(d.updates);
        hs_store_free_strings(servers, ns);
    }
    if (n > 0 && (b.failed || hs_store_fed_enqueue(srv->store, b.items, b.n, HS_STORE_FED_DEVICE_LISTS, c.last,
                                                   now_ms) != 0))
        n = -1;
    *cursor_out = n >= 0 ? c.last : cursor;
    hs_fed_edu_batch_free(&b);
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
    if (!user_id || !hs_fed_e2ee_is_local(c->srv, user_id)) return 0;
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
    hs_fed_edu_batch b = {0};
    const char *server;
    json_t *push;
    json_object_foreach(c.by_server, server, push) {
        json_t *edu = json_pack("{s:s, s:{s:O}}", "edu_type", "m.presence", "content", "push", push);
        hs_fed_edu_batch_add(&b, server, edu);
        json_decref(edu);
    }
    if (n > 0 && (b.failed || hs_store_fed_enqueue(srv->store, b.items, b.n, HS_STORE_FED_PRESENCE, c.last, now_ms) != 0))
        n = -1;
    hs_fed_edu_batch_free(&b);
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
     * than what is left get "every user changed" (hs_store_e2ee_changes). Only after
     * new rows were scanned: otherwise the table has not grown since the last prune. */
    if (devices > 0 && hs_store_e2ee_changes_prune(srv->store, cursor, HS_STORE_E2EE_CHANGES_KEEP) < 0)
        hs_warn("fed", "could not prune old device list changes");
    return devices + presence;
}
