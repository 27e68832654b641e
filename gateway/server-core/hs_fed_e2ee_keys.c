/* hs_fed_e2ee_keys: a local client's keys/query and keys/claim for users of other
 * servers (hs_fed_e2ee_keys_query / _claim in hs_fed_e2ee.h). The servers are asked at
 * once (hs_fed_send_many), except those the outbound queue has backed off. Answers are
 * checked before anything of them is shown or cached: each device's self-signature,
 * the master key's shape, the self-signing key's signature by that master key. A
 * server that does not answer is listed in `failures`, and its users' devices and
 * cross-signing keys come from the caches when held. */
#include "server-core/hs_fed_e2ee.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_e2ee.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_e2ee_internal.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"

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
 * once (hs_fed_send_many), each for at most timeout_ms, except those the outbound queue has backed off (a request
 * to them would most likely wait for a timeout). Returns a malloc'd array of
 * json_object_size(by) entries (answers or reasons), or NULL when out of memory. */
static server_ask *ask_servers(hs_server *srv, json_t *by, const char *path, const char *field, int timeout_ms)
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
            reqs[m] = (hs_fed_out){server, "POST", path, bodies[m], true, timeout_ms};
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
        /* A keys query says nothing of where the user's update chain stands (0): the
         * next update fetches the list with its position (hs_fed_e2ee.c). */
        int rc = hs_store_fed_devices_replace(srv->store, user_id, rows, n, 0, now);
        if (rc < 0) hs_warn("fed", "could not cache the devices of %s", user_id);
        else if (rc == 1) hs_notifier_wake(srv->notifier); /* local clients learn the list changed */
    }
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(rows);
    return devices;
}

/* The master and self-signing keys of `user_id` from its server's answer, checked (a
 * master key of that user; a self-signing key signed by it), into out and, when the
 * user shares a room with a local user, into the cache; a key that fails a check is
 * left out. */
static void take_cross(hs_server *srv, const json_t *answer, json_t *out, const char *user_id)
{
    const json_t *master = json_object_get(json_object_get(answer, "master_keys"), user_id);
    const json_t *ssk = json_object_get(json_object_get(answer, "self_signing_keys"), user_id);
    uint8_t pub[32];
    char b64[HS_E2EE_KEY_ID_MAX];
    hs_err err;
    char *mt = NULL, *st = NULL;
    if (master && (!json_is_object(master) || hs_e2ee_check_cross_key(master, user_id, "master", pub, b64, &err) != 0 ||
                   !(mt = hs_fed_e2ee_key_text(master)) || strlen(mt) > HS_E2EE_KEY_JSON_MAX)) {
        hs_info("fed", "the master key of %s from its server ignored", user_id);
        free(mt);
        mt = NULL;
    }
    uint8_t spub[32];
    char sb64[HS_E2EE_KEY_ID_MAX];
    if (mt && ssk &&
        (!json_is_object(ssk) || hs_e2ee_check_cross_key(ssk, user_id, "self_signing", spub, sb64, &err) != 0 ||
         hs_e2ee_verify(ssk, user_id, b64, pub, &err) != 0 || !(st = hs_fed_e2ee_key_text(ssk)) ||
         strlen(st) > HS_E2EE_KEY_JSON_MAX)) {
        hs_info("fed", "the self-signing key of %s from its server ignored", user_id);
        free(st);
        st = NULL;
    }
    if (mt) json_object_set(json_object_get(out, "master_keys"), user_id, (json_t *)master);
    if (st) json_object_set(json_object_get(out, "self_signing_keys"), user_id, (json_t *)ssk);
    /* Cached only for users sharing a room with a local user (as the EDUs are): a
     * client querying arbitrary users must not grow the table without bound. */
    int shares = hs_store_fed_shares_room_with(srv->store, user_id, srv->cfg.server_name);
    int rc = shares == 1 ? hs_store_e2ee_remote_xsign_put(srv->store, user_id, mt, st, false) : shares;
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
        json_t *k = hs_fed_e2ee_cached_cross_key(srv, user_id, kinds[i][0]);
        if (k) json_object_set_new(json_object_get(out, kinds[i][1]), user_id, k);
    }
}

void hs_fed_e2ee_keys_query(hs_server *srv, const json_t *remote, json_t *out, int timeout_ms)
{
    json_t *by = group_by_server(remote);
    json_t *failures = json_object_get(out, "failures");
    size_t n = json_object_size(by);
    server_ask *asks = ask_servers(srv, by, "/_matrix/federation/v1/user/keys/query", "device_keys", timeout_ms);
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

void hs_fed_e2ee_keys_claim(hs_server *srv, const json_t *remote, json_t *keys, json_t *failures, int timeout_ms)
{
    json_t *by = group_by_server(remote);
    size_t n = json_object_size(by);
    server_ask *asks = ask_servers(srv, by, "/_matrix/federation/v1/user/keys/claim", "one_time_keys", timeout_ms);
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

/* The key's public key ID without "ed25519:", or NULL. */
static const char *master_b64(const json_t *key)
{
    const char *id = json_object_iter_key(json_object_iter(json_object_get(key, "keys")));
    return id && strncmp(id, "ed25519:", 8) == 0 ? id + 8 : NULL;
}

json_t *hs_fed_e2ee_remote_master_key(hs_server *srv, const char *user_id, const char *key_b64, int timeout_ms,
                                      char *why, size_t why_len)
{
    json_t *k = hs_fed_e2ee_cached_cross_key(srv, user_id, "master");
    const char *b64 = master_b64(k);
    if (b64 && strcmp(b64, key_b64) == 0) return k;
    json_decref(k);
    if (timeout_ms <= 0) {
        snprintf(why, why_len, "%s's master key is not cached", user_id);
        return NULL;
    }
    /* Not cached (no shared room yet) or changed since: its server has the current one. */
    json_t *remote = json_pack("{s:[]}", user_id);
    json_t *out = json_pack("{s:{}, s:{}, s:{}, s:{}}", "device_keys", "master_keys", "self_signing_keys", "failures");
    k = NULL;
    if (remote && out) {
        hs_fed_e2ee_keys_query(srv, remote, out, timeout_ms);
        json_t *m = json_object_get(json_object_get(out, "master_keys"), user_id);
        b64 = master_b64(m);
        const char *server = hs_id_server_name(user_id);
        const char *failed = json_string_value(
            json_object_get(json_object_get(json_object_get(out, "failures"), server ? server : ""), "message"));
        if (b64 && strcmp(b64, key_b64) == 0) k = json_incref(m);
        else if (failed) snprintf(why, why_len, "%s's master key could not be fetched: %s", user_id, failed);
        else if (b64) snprintf(why, why_len, "not %s's current master key", user_id);
        else snprintf(why, why_len, "%s has no master key", user_id);
    } else {
        snprintf(why, why_len, "out of memory");
    }
    json_decref(remote);
    json_decref(out);
    return k;
}
