/* hs_api_keys: HTTP handlers for the device key endpoints - keys/upload, keys/query,
 * keys/claim, keys/changes - the route table of every E2EE endpoint, and the device
 * deletion hook. Cross-signing lives in hs_api_keys_xsign.c, to-device messaging in
 * hs_api_keys_todevice.c.
 *
 * keys/upload checks the whole body first (hs_e2ee), then stores it in one transaction:
 * a conflicting re-use of a one-time key ID refuses the whole request, as Synapse does;
 * device keys are written only when they changed, so a re-upload of the same keys does
 * not make every peer re-query. Keys/query shows a user_signing key only to its
 * owner and a signature made by someone else only to that signer (the spec's
 * visibility rules: who you verified is your business). Users of other servers are
 * queried and claimed on their servers (hs_fed_e2ee.h), and the caller's own
 * signatures on their master keys, kept here (hs_api_keys_xsign.c), are merged into
 * what comes back, cache or answer alike; the local halves are exported
 * (hs_api_keys.h) so the federation endpoints answer other servers with the same code. */
#include "server-core/hs_api_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_keys_internal.h"
#include "server-core/hs_e2ee.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_log.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_sync_token.h"
#include "server-core/hs_clock.h"

#define QUERY_USERS_MAX 1000
#define QUERY_DEVICES_MAX 1000 /* listed in all, so users x devices stays bounded */

/* ---- shared helpers ------------------------------------------------------------------ */

json_t *hs_keys_body(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

const char *hs_keys_server_of(const char *user_id)
{
    const char *colon = strchr(user_id, ':');
    return colon ? colon + 1 : "";
}

bool hs_keys_is_local(const hs_server *srv, const char *user_id)
{
    return user_id[0] == '@' && strcmp(hs_keys_server_of(user_id), srv->cfg.server_name) == 0;
}

static void merge_one(void *ctx, const char *signer_user, const char *signer_key_id, const char *signature)
{
    json_t *obj = ctx;
    json_t *sigs = json_object_get(obj, "signatures");
    if (!json_is_object(sigs)) {
        sigs = json_object();
        json_object_set_new(obj, "signatures", sigs);
    }
    json_t *mine = json_object_get(sigs, signer_user);
    if (!json_is_object(mine)) {
        mine = json_object();
        json_object_set_new(sigs, signer_user, mine);
    }
    json_object_set_new(mine, signer_key_id, json_string(signature));
}

int hs_keys_merge_signatures(hs_server *srv, json_t *obj, const char *target_user, const char *target_key_id,
                             const char *viewer)
{
    return hs_store_e2ee_signatures_each(srv->store, target_user, target_key_id, viewer, merge_one, obj);
}

static void db_error(hs_response *resp)
{
    hs_response_error(resp, 500, "M_UNKNOWN", "database error");
}

/* The spec's recommended wait for other servers' keys when the client names none. */
#define REMOTE_TIMEOUT_DEFAULT_MS 10000
#define REMOTE_TIMEOUT_MAX_MS 3600000

/* How long keys/query or keys/claim waits for other servers: the body's `timeout`
 * (milliseconds, as the spec puts it), else the query string's (where Synapse reads
 * it), else 10 s; 0 means "do not wait" (1 ms: only the caches answer). Past the
 * configured request timeout the transport's own bound applies. */
static int remote_timeout_ms(const hs_request *req, const json_t *body)
{
    const json_t *t = json_object_get(body, "timeout");
    long long v = REMOTE_TIMEOUT_DEFAULT_MS;
    const char *q = hs_request_query(req, "timeout");
    if (json_is_integer(t)) v = json_integer_value(t);
    else if (json_is_real(t)) v = (long long)json_real_value(t);
    else if (q && *q) v = strtoll(q, NULL, 10);
    if (v < 1) v = 1;
    if (v > REMOTE_TIMEOUT_MAX_MS) v = REMOTE_TIMEOUT_MAX_MS;
    return (int)v;
}

/* ---- keys/upload ----------------------------------------------------------------------- */

static void count_one(void *ctx, const char *algorithm, int64_t count)
{
    json_object_set_new(ctx, algorithm, json_integer(count));
}

/* The device's one_time_key_counts; signed_curve25519 is always present, since
 * clients decide from it whether to upload more. NULL on a database error. */
static json_t *otk_counts(hs_server *srv, const hs_access_identity *who)
{
    json_t *counts = json_pack("{s:i}", "signed_curve25519", 0);
    if (hs_store_e2ee_otk_counts(srv->store, who->user_id, who->device_id, count_one, counts) != 0) {
        json_decref(counts);
        return NULL;
    }
    return counts;
}

static void keys_upload(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = hs_keys_body(req, resp);
    if (!body) return;
    hs_e2ee_upload up;
    hs_err err;
    if (hs_e2ee_parse_upload(body, who.user_id, who.device_id, &up, &err) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "%s", err.msg);
        json_decref(body);
        return;
    }
    /* One array: the one-time keys, then the fallback keys. */
    hs_store_otk *keys = calloc(up.n_otks + up.n_fallbacks + 1, sizeof *keys);
    size_t conflict = 0;
    bool changed = false;
    int rc = -1;
    if (keys) {
        for (size_t i = 0; i < up.n_otks; i++)
            keys[i] = (hs_store_otk){up.otks[i].algorithm, up.otks[i].key_id, up.otks[i].json};
        for (size_t i = 0; i < up.n_fallbacks; i++)
            keys[up.n_otks + i] =
                (hs_store_otk){up.fallbacks[i].algorithm, up.fallbacks[i].key_id, up.fallbacks[i].json};
        rc = hs_store_e2ee_upload(srv->store, who.user_id, who.device_id, up.device_keys_json, keys, up.n_otks,
                                  keys + up.n_otks, up.n_fallbacks, &conflict, &changed);
        free(keys);
    }
    json_t *counts = rc == 0 ? otk_counts(srv, &who) : NULL;
    if (rc == 1) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "one-time key %s:%s already exists with different content",
                          up.otks[conflict].algorithm, up.otks[conflict].key_id);
    } else if (rc == 2) {
        /* Not M_LIMIT_EXCEEDED: that is a rate limit, which clients retry after a pause. */
        hs_response_error(resp, 400, "M_INVALID_PARAM", "a device holds at most %d one-time keys",
                          HS_STORE_E2EE_OTKS_PER_DEVICE);
    } else if (!counts) {
        db_error(resp);
    } else {
        if (changed) hs_info("keys", "device keys of %s %s changed", who.user_id, who.device_id);
        if (changed || up.n_otks || up.n_fallbacks) hs_notifier_wake(srv->notifier);
        hs_response_json(resp, 200, json_pack("{s:o}", "one_time_key_counts", counts));
    }
    hs_e2ee_upload_free(&up);
    json_decref(body);
}

/* ---- keys/query ------------------------------------------------------------------------- */

struct query_ctx {
    hs_server *srv;
    const char *viewer;
    const char *user_id;
    json_t *devices;  /* device ID -> keys */
    int failed;
};

static int add_device(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    struct query_ctx *q = ctx;
    json_t *k = json_loads(keys_json, 0, NULL);
    if (!k) return 0;  /* never written by us unparsed; skip rather than fail the query */
    json_t *uns = json_object();
    if (display_name) json_object_set_new(uns, "device_display_name", json_string(display_name));
    json_object_set_new(k, "unsigned", uns);
    if (hs_keys_merge_signatures(q->srv, k, q->user_id, device_id, q->viewer) != 0) q->failed = 1;
    json_object_set_new(q->devices, device_id, k);
    return 0;
}

/* The stored cross-signing key of `type` with its visible signatures, or NULL when
 * the user has none. Sets *failed on a database error. */
static json_t *cross_key(hs_server *srv, const char *user_id, const char *type, const char *viewer, int *failed)
{
    char *text;
    int rc = hs_store_e2ee_xsign_get(srv->store, user_id, type, &text);
    if (rc != 0) {
        if (rc < 0) *failed = 1;
        return NULL;
    }
    json_t *k = json_loads(text, 0, NULL);
    free(text);
    if (!k) return NULL;
    const char *id = json_object_iter_key(json_object_iter(json_object_get(k, "keys")));
    if (id && strncmp(id, "ed25519:", 8) == 0 && hs_keys_merge_signatures(srv, k, user_id, id + 8, viewer) != 0)
        *failed = 1;
    return k;
}

int hs_keys_query_local(hs_server *srv, const char *viewer, const char *user_id, const json_t *devs, json_t *out)
{
    struct query_ctx q = {srv, viewer, user_id, json_object(), 0};
    int failed = 0;
    if (json_array_size(devs) == 0) {
        if (hs_store_e2ee_device_keys_each(srv->store, user_id, NULL, add_device, &q) < 0) q.failed = 1;
    } else {
        size_t i;
        json_t *d;
        json_array_foreach(devs, i, d) {
            if (json_is_string(d) &&
                hs_store_e2ee_device_keys_each(srv->store, user_id, json_string_value(d), add_device, &q) < 0)
                q.failed = 1;
        }
    }
    json_object_set_new(json_object_get(out, "device_keys"), user_id, q.devices);
    failed |= q.failed;
    static const struct {
        const char *type, *field;
        bool owner_only;
    } kinds[] = {{"master", "master_keys", false},
                 {"self_signing", "self_signing_keys", false},
                 {"user_signing", "user_signing_keys", true}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (kinds[k].owner_only && strcmp(user_id, viewer) != 0) continue;
        json_t *key = cross_key(srv, user_id, kinds[k].type, viewer, &failed);
        json_t *field = json_object_get(out, kinds[k].field);
        if (key && field) json_object_set_new(field, user_id, key);
        else json_decref(key);
    }
    return failed ? -1 : 0;
}

int hs_keys_query_check(const json_t *want, hs_response *resp)
{
    if (!json_is_object(want) || json_object_size(want) > QUERY_USERS_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'device_keys' must be an object of at most %d users",
                          QUERY_USERS_MAX);
        return -1;
    }
    const char *user_id;
    json_t *devs;
    size_t listed = 0;
    json_object_foreach((json_t *)want, user_id, devs) {
        size_t i;
        json_t *d;
        bool ok = json_is_array(devs);
        json_array_foreach(devs, i, d) ok = ok && json_is_string(d);
        listed += json_array_size(devs);
        if (!ok || listed > QUERY_DEVICES_MAX) {
            hs_response_error(resp, 400, "M_INVALID_PARAM",
                              "device_keys['%.100s'] must be a list of device IDs, at most %d in all", user_id,
                              QUERY_DEVICES_MAX);
            return -1;
        }
    }
    return 0;
}

/* The viewer's own signatures (made here with its user-signing key) on the master keys
 * of other servers' users in out, which come from those servers or the cache and so
 * cannot carry them. Returns 0 or -1. */
static int merge_own_signatures_on_remote(hs_server *srv, const char *viewer, const json_t *remote, json_t *out)
{
    const char *user_id;
    json_t *v;
    json_object_foreach((json_t *)remote, user_id, v) {
        json_t *key = json_object_get(json_object_get(out, "master_keys"), user_id);
        const char *id = json_object_iter_key(json_object_iter(json_object_get(key, "keys")));
        if (!id || strncmp(id, "ed25519:", 8) != 0) continue;
        /* Only what the viewer signed: no other local user's signature, and none stored
         * as the target's own (the target's server is the authority for those). */
        json_t *mine = json_object();
        if (hs_keys_merge_signatures(srv, mine, user_id, id + 8, viewer) != 0) {
            json_decref(mine);
            return -1;
        }
        json_t *by_viewer = json_object_get(json_object_get(mine, "signatures"), viewer);
        if (by_viewer) {
            json_t *sigs = json_object_get(key, "signatures");
            if (!json_is_object(sigs)) json_object_set_new(key, "signatures", sigs = json_object());
            json_t *had = json_object_get(sigs, viewer);
            if (json_is_object(had)) json_object_update(had, by_viewer);
            else json_object_set(sigs, viewer, by_viewer);
        }
        json_decref(mine);
    }
    return 0;
}

static void keys_query(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = hs_keys_body(req, resp);
    if (!body) return;
    json_t *want = json_object_get(body, "device_keys");
    if (hs_keys_query_check(want, resp) != 0) {
        json_decref(body);
        return;
    }
    const char *user_id;
    json_t *devs;
    json_t *out = json_pack("{s:{}, s:{}, s:{}, s:{}, s:{}}", "device_keys", "master_keys", "self_signing_keys",
                            "user_signing_keys", "failures");
    int failed = 0;
    /* Users of other servers are asked on their servers, one request per server. */
    json_t *remote = json_object();
    json_object_foreach(want, user_id, devs) {
        if (!hs_keys_is_local(srv, user_id)) {
            json_object_set(remote, user_id, devs);
            continue;
        }
        if (hs_keys_query_local(srv, who.user_id, user_id, devs, out) != 0) failed = 1;
    }
    if (json_object_size(remote)) {
        hs_fed_e2ee_keys_query(srv, remote, out, remote_timeout_ms(req, body));
        if (merge_own_signatures_on_remote(srv, who.user_id, remote, out) != 0) failed = 1;
    }
    json_decref(remote);
    if (failed) {
        json_decref(out);
        db_error(resp);
    } else {
        hs_response_json(resp, 200, out);
    }
    json_decref(body);
}

/* ---- keys/claim ------------------------------------------------------------------------- */

int hs_keys_claim_local(hs_server *srv, const json_t *want, hs_store_claim *claims, json_t *keys)
{
    const char *user_id, *device_id;
    json_t *devs, *alg;
    size_t n = 0;
    json_object_foreach((json_t *)want, user_id, devs) {
        if (!hs_keys_is_local(srv, user_id)) continue;
        json_object_foreach(devs, device_id, alg) {
            claims[n++] = (hs_store_claim){.user_id = user_id, .device_id = device_id,
                                           .algorithm = json_string_value(alg)};
        }
    }
    bool failed = hs_store_e2ee_otk_claim(srv->store, claims, n) != 0, claimed = false;
    for (size_t i = 0; i < n; i++) {
        hs_store_claim *c = &claims[i];
        if (!c->key_id) continue;
        json_t *k = json_loads(c->key_json, JSON_DECODE_ANY, NULL);
        char full[HS_E2EE_ALGORITHM_MAX + HS_E2EE_KEY_ID_MAX + 2];
        snprintf(full, sizeof full, "%s:%s", c->algorithm, c->key_id);
        json_t *mine = json_object_get(keys, c->user_id);
        if (!mine) {
            mine = json_object();
            json_object_set_new(keys, c->user_id, mine);
        }
        if (k) json_object_set_new(mine, c->device_id, json_pack("{s:o}", full, k));
        free(c->key_id);
        free(c->key_json);
        claimed = true;
    }
    /* The claimed devices' /sync shows the lower count; let them top up. */
    if (claimed) hs_notifier_wake(srv->notifier);
    return failed ? -1 : 0;
}

int hs_keys_claim_check(const json_t *want, hs_response *resp, size_t *total)
{
    enum { CLAIM_DEVICES_MAX = 1000 };
    const char *user_id, *device_id;
    json_t *devs, *alg;
    *total = 0;
    bool ok = json_is_object(want);
    if (ok) {
        json_object_foreach((json_t *)want, user_id, devs) {
            ok = ok && json_is_object(devs);
            json_object_foreach(devs, device_id, alg) ok = ok && json_is_string(alg);
            *total += json_object_size(devs);
        }
    }
    if (ok && *total <= CLAIM_DEVICES_MAX) return 0;
    hs_response_error(resp, 400, "M_INVALID_PARAM",
                      "'one_time_keys' must map users to {device ID: algorithm}, at most %d devices",
                      CLAIM_DEVICES_MAX);
    return -1;
}

static void keys_claim(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = hs_keys_body(req, resp);
    if (!body) return;
    json_t *want = json_object_get(body, "one_time_keys");
    const char *user_id;
    json_t *devs;
    size_t total;
    if (hs_keys_claim_check(want, resp, &total) != 0) {
        json_decref(body);
        return;
    }
    hs_store_claim *claims = calloc(total + 1, sizeof *claims);
    if (!claims) {
        db_error(resp);
        json_decref(body);
        return;
    }
    json_t *keys = json_object(), *failures = json_object(), *remote = json_object();
    json_object_foreach(want, user_id, devs) {
        if (!hs_keys_is_local(srv, user_id)) json_object_set(remote, user_id, devs);
    }
    bool failed = hs_keys_claim_local(srv, want, claims, keys) != 0;
    if (json_object_size(remote)) hs_fed_e2ee_keys_claim(srv, remote, keys, failures, remote_timeout_ms(req, body));
    json_decref(remote);
    free(claims);
    if (failed) {
        json_decref(keys);
        json_decref(failures);
        db_error(resp);
    } else {
        hs_response_json(resp, 200, json_pack("{s:o, s:o}", "one_time_keys", keys, "failures", failures));
    }
    json_decref(body);
}

/* ---- keys/changes ------------------------------------------------------------------------ */

/* Users who started or stopped sharing a room with the caller: their devices are new
 * to it (changed) or no longer its concern (left). */
struct moves {
    json_t *changed, *left;
    char **key_changes;  /* sorted; already in `changed` */
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, *(char *const *)b);
}

static void add_move(void *ctx, const char *user_id, bool shares)
{
    struct moves *m = ctx;
    if (!shares) json_array_append_new(m->left, json_string(user_id));
    else if (!m->n || !bsearch(user_id, m->key_changes, m->n, sizeof *m->key_changes, cmp_str))
        json_array_append_new(m->changed, json_string(user_id));
}

static void keys_changes(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    const char *from = hs_request_query(req, "from"), *to = hs_request_query(req, "to");
    if (!from || !to) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "'from' and 'to' are required");
        return;
    }
    hs_sync_pos pf, pt;
    if (hs_sync_token_parse(from, &pf) != 0 || hs_sync_token_parse(to, &pt) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'from' and 'to' must be sync tokens");
        return;
    }
    char **users;
    size_t n;
    if (hs_store_e2ee_changes(srv->store, who.user_id, pf.device_lists, pt.device_lists, &users, &n) != 0) {
        db_error(resp);
        return;
    }
    json_t *changed = json_array(), *left = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(changed, json_string(users[i]));
    struct moves m = {changed, left, users, n};
    int rc = hs_store_e2ee_membership_changes(srv->store, who.user_id, pf.events, pt.events, add_move, &m);
    hs_store_e2ee_free_strings(users, n);
    if (rc != 0) {
        json_decref(changed);
        json_decref(left);
        db_error(resp);
        return;
    }
    hs_response_json(resp, 200, json_pack("{s:o, s:o}", "changed", changed, "left", left));
}

/* ---- hook and registration ------------------------------------------------------------------ */

void hs_api_keys_devices_deleted(hs_server *srv, const char *user_id)
{
    int rc = hs_store_e2ee_prune_devices(srv->store, user_id);
    if (rc < 0) hs_warn("keys", "could not drop the keys of deleted devices of %s", user_id);
    else if (rc == 0) hs_notifier_wake(srv->notifier);
}

int hs_api_keys_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"POST", "/keys/upload", keys_upload},
        {"POST", "/keys/query", keys_query},
        {"POST", "/keys/claim", keys_claim},
        {"GET", "/keys/changes", keys_changes},
        {"POST", "/keys/device_signing/upload", hs_keys_device_signing_upload},
        {"POST", "/keys/signatures/upload", hs_keys_signatures_upload},
        {"PUT", "/sendToDevice/{eventType}/{txnId}", hs_keys_send_to_device},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
