/* The inbound checks on m.presence and m.signing_key_update (hs_fed_edu): shapes, sizes,
 * that a server only speaks for its own users, and that a self-signing key travelling
 * with a master key carries the master key's signature. And on a real in-process server
 * what the outbound scan reads: a device deletion (DELETE /devices, logout) leaves a
 * device_list_changes row naming the device, a master key upload a row marked
 * cross-signing; a user shares a room with a server's users only through a joined
 * member whose ID ends in ":<server>"; and pruning that table keeps answers right: a token from before the
 * pruned horizon lists every user sharing a room (keys/changes and /sync), a later one
 * only the real changes, and rows the federation scan has not passed stay. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_e2ee.h"
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "support/pgt_e2ee.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert(j, "test JSON: %s", e.text);
    return j;
}

Test(hs_fed_edus, presence_checks)
{
    hs_fed_edu_presence v[4];
    hs_err err;
    json_t *j = parse("{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\",\"last_active_ago\":5000,"
                      "\"currently_active\":true,\"status_msg\":\"hi\"},"
                      "{\"user_id\":\"@b:other.test\",\"presence\":\"offline\",\"last_active_ago\":0,"
                      "\"status_msg\":null}]}");
    cr_assert_eq(hs_fed_edu_presence_check(j, "other.test", v, 4, &err), 2, "%s", err.msg);
    cr_assert_str_eq(v[0].user_id, "@a:other.test");
    cr_assert_str_eq(v[0].presence, "online");
    cr_assert_str_eq(v[0].status_msg, "hi");
    cr_assert_eq(v[0].last_active_ago, 5000);
    cr_assert(v[0].currently_active);
    cr_assert_null(v[1].status_msg);
    cr_assert(!v[1].currently_active);
    /* Another server may not speak for other.test's users. */
    cr_assert_eq(hs_fed_edu_presence_check(j, "evil.test", v, 4, &err), -1);
    cr_assert(strstr(err.msg, "evil.test"), "%s", err.msg);
    json_decref(j);

    static const char *const bad[] = {
        "{\"push\":[]}",
        "{\"push\":{}}",
        "{}",
        "[]",
        "{\"push\":[1]}",
        "{\"push\":[{\"user_id\":\"a\",\"presence\":\"online\",\"last_active_ago\":1}]}",
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"away\",\"last_active_ago\":1}]}",
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\"}]}",
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\",\"last_active_ago\":-1}]}",
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\",\"last_active_ago\":1.5}]}",
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\",\"last_active_ago\":1,"
        "\"status_msg\":7}]}",
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\",\"last_active_ago\":1,"
        "\"currently_active\":\"yes\"}]}",
        /* one good entry does not carry a bad one */
        "{\"push\":[{\"user_id\":\"@a:other.test\",\"presence\":\"online\",\"last_active_ago\":1},"
        "{\"user_id\":\"@a:evil.test\",\"presence\":\"online\",\"last_active_ago\":1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = parse(bad[i]);
        cr_assert_eq(hs_fed_edu_presence_check(j, "other.test", v, 4, &err), -1, "accepted %s", bad[i]);
        cr_assert(err.msg[0]);
        json_decref(j);
    }
    /* A status message longer than a client may set. */
    char msg[HS_FED_EDU_STATUS_MSG_MAX + 2];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = 0;
    j = json_pack("{s:[{s:s, s:s, s:i, s:s}]}", "push", "user_id", "@a:other.test", "presence", "online",
                  "last_active_ago", 1, "status_msg", msg);
    cr_assert_eq(hs_fed_edu_presence_check(j, "other.test", v, 4, &err), -1, "an over-long status message");
    json_decref(j);
    /* More users than one EDU may carry. */
    json_t *push = json_array();
    for (int i = 0; i <= HS_FED_EDU_PRESENCE_MAX; i++)
        json_array_append_new(push, json_pack("{s:s, s:s, s:i}", "user_id", "@a:other.test", "presence", "online",
                                              "last_active_ago", 1));
    j = json_pack("{s:o}", "push", push);
    cr_assert_eq(hs_fed_edu_presence_check(j, "other.test", v, 4, &err), -1);
    cr_assert(strstr(err.msg, "push"), "%s", err.msg);
    json_decref(j);
}

static void sign(json_t *obj, const char *user_id, const hs_signing_key *k)
{
    hs_err e;
    cr_assert_eq(hs_sign_json(obj, user_id, k, &e), 0, "%s", e.msg);
}

Test(hs_fed_edus, signing_key_update_checks)
{
    const char *me = "@a:other.test";
    hs_signing_key mk, sk, other;
    json_t *master = pgt_e2ee_cross_key(me, "master", &mk);
    json_t *ssk = pgt_e2ee_cross_key(me, "self_signing", &sk);
    sign(ssk, me, &mk);
    hs_fed_edu_signing_key k;
    hs_err err;
    json_t *j = json_pack("{s:s, s:O, s:O}", "user_id", me, "master_key", master, "self_signing_key", ssk);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), 0, "%s", err.msg);
    cr_assert_str_eq(k.user_id, me);
    cr_assert(k.master_key && k.self_signing_key);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "evil.test", &k, &err), -1, "another server's user");
    json_decref(j);

    /* Either key alone is acceptable here (a lone self-signing key is checked against
     * the cached master key by the caller). */
    j = json_pack("{s:s, s:O}", "user_id", me, "master_key", master);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), 0, "%s", err.msg);
    cr_assert_null(k.self_signing_key);
    json_decref(j);
    j = json_pack("{s:s, s:O}", "user_id", me, "self_signing_key", ssk);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), 0, "%s", err.msg);
    cr_assert_null(k.master_key);
    json_decref(j);

    /* Refused: neither key; keys of another user; a master key used as self-signing; a
     * self-signing key signed by some other key than the master key beside it. */
    j = json_pack("{s:s}", "user_id", me);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), -1, "no key at all");
    json_decref(j);
    json_t *theirs = pgt_e2ee_cross_key("@b:other.test", "master", &other);
    j = json_pack("{s:s, s:o}", "user_id", me, "master_key", theirs);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), -1, "another user's key");
    json_decref(j);
    j = json_pack("{s:s, s:O}", "user_id", me, "self_signing_key", master);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), -1, "a master key as self-signing key");
    json_decref(j);
    json_t *forged = pgt_e2ee_cross_key(me, "self_signing", &sk);
    sign(forged, me, &other);
    j = json_pack("{s:s, s:O, s:o}", "user_id", me, "master_key", master, "self_signing_key", forged);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), -1, "not signed by the master key");
    cr_assert(strstr(err.msg, "signed"), "%s", err.msg);
    json_decref(j);
    j = json_pack("{s:s, s:s}", "user_id", me, "master_key", "text");
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), -1, "a key that is not an object");
    json_decref(j);
    /* Longer than a key may be. */
    json_t *big = json_deep_copy(master);
    char *pad = malloc(HS_E2EE_KEY_JSON_MAX + 1);
    memset(pad, 'p', HS_E2EE_KEY_JSON_MAX);
    pad[HS_E2EE_KEY_JSON_MAX] = 0;
    json_object_set_new(big, "padding", json_string(pad));
    free(pad);
    j = json_pack("{s:s, s:o}", "user_id", me, "master_key", big);
    cr_assert_eq(hs_fed_edu_signing_key_check(j, "other.test", &k, &err), -1, "an over-long key");
    json_decref(j);
    json_decref(master);
    json_decref(ssk);
}

/* ---- what the outbound scan reads ---------------------------------------------------- */

typedef struct rows {
    char deleted[8][128];
    int n_deleted, n_xsign, n_plain;
} rows;

static int see_row(void *ctx, const hs_store_fed_change *c)
{
    rows *r = ctx;
    if (c->deleted_device && r->n_deleted < 8) snprintf(r->deleted[r->n_deleted++], 128, "%s", c->deleted_device);
    else if (c->cross_signing) r->n_xsign++;
    else r->n_plain++;
    return 0;
}

static void upload_keys(const char *base, const pgt_mx_login *u)
{
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_generate(&k), 0);
    snprintf(k.key_id, sizeof k.key_id, "ed25519:%s", u->device_id);
    char pub[44], ed_id[160];
    hs_signing_key_public_b64(&k, pub);
    snprintf(ed_id, sizeof ed_id, "ed25519:%s", u->device_id);
    json_t *dk = json_pack("{s:s, s:s, s:[s], s:{s:s}}", "user_id", u->user_id, "device_id", u->device_id, "algorithms",
                           "m.olm.v1.curve25519-aes-sha2", "keys", ed_id, pub);
    sign(dk, u->user_id, &k);
    json_t *body = json_pack("{s:o}", "device_keys", dk);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_decref(pgt_mx_expect(base, "POST", "/_matrix/client/v3/keys/upload", u->token, text, 200));
    free(text);
}

static pgt_mx_login login_again(const char *base, const pgt_mx_login *u, const char *localpart, const char *password)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"%s\"},"
             "\"password\":\"%s\"}",
             localpart, password);
    json_t *l = pgt_mx_expect(base, "POST", "/_matrix/client/v3/login", NULL, body, 200);
    pgt_mx_login out = *u;
    snprintf(out.token, sizeof out.token, "%s", json_string_value(json_object_get(l, "access_token")));
    snprintf(out.device_id, sizeof out.device_id, "%s", json_string_value(json_object_get(l, "device_id")));
    json_decref(l);
    return out;
}

Test(hs_fed_edus, deletions_and_cross_signing_are_marked_for_the_scan)
{
    pgt_hs h = {0};
    pgt_hs_start(&h, "here.test", NULL);
    pgt_mx_login alice = pgt_mx_must_register(h.base, "alice", "pw-alice-1");
    pgt_mx_login phone = login_again(h.base, &alice, "alice", "pw-alice-1");
    pgt_mx_login tablet = login_again(h.base, &alice, "alice", "pw-alice-1");
    upload_keys(h.base, &alice);
    upload_keys(h.base, &phone);
    upload_keys(h.base, &tablet);
    int64_t mark;
    cr_assert_eq(hs_store_e2ee_device_lists_max(h.srv.store, &mark), 0);

    /* A logout deletes the device; so does DELETE /devices (with the password). */
    json_decref(pgt_mx_expect(h.base, "POST", "/_matrix/client/v3/logout", phone.token, "{}", 200));
    char path[256], body[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/devices/%s", tablet.device_id);
    snprintf(body, sizeof body,
             "{\"auth\":{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"alice\"},"
             "\"password\":\"pw-alice-1\"}}");
    json_decref(pgt_mx_expect(h.base, "DELETE", path, alice.token, body, 200));
    rows r = {0};
    cr_assert_geq(hs_store_fed_device_changes_after(h.srv.store, mark, 100, see_row, &r), 0);
    cr_assert_eq(r.n_deleted, 2, "one row per deleted device");
    cr_assert_str_eq(r.deleted[0], phone.device_id);
    cr_assert_str_eq(r.deleted[1], tablet.device_id);

    /* A master key upload: a row marked cross-signing. */
    cr_assert_eq(hs_store_e2ee_device_lists_max(h.srv.store, &mark), 0);
    hs_signing_key mk;
    json_t *b = json_pack("{s:o}", "master_key", pgt_e2ee_cross_key(alice.user_id, "master", &mk));
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_decref(pgt_mx_expect(h.base, "POST", "/_matrix/client/v3/keys/device_signing/upload", alice.token, text, 200));
    free(text);
    memset(&r, 0, sizeof r);
    cr_assert_geq(hs_store_fed_device_changes_after(h.srv.store, mark, 100, see_row, &r), 0);
    cr_assert_eq(r.n_xsign, 1, "the cross-signing change is marked as such");
    cr_assert_eq(r.n_deleted + r.n_plain, 0);
    pgt_hs_stop(&h);
}

static bool lists(const json_t *arr, const char *user)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(v), user) == 0) return true;
    }
    return false;
}

Test(hs_fed_edus, pruned_changes_answer_old_tokens_with_everyone)
{
    pgt_hs h = {0};
    pgt_hs_start(&h, "here.test", NULL);
    pgt_mx_login alice = pgt_mx_must_register(h.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(h.base, "bob", "pw-bob-1");
    pgt_mx_login carol = pgt_mx_must_register(h.base, "carol", "pw-carol-1");
    char *room = pgt_mx_create_room(h.base, &alice, "{\"preset\":\"public_chat\"}");
    char path[512], enc[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/join", pgt_mx_enc(room, enc, sizeof enc));
    json_decref(pgt_mx_expect(h.base, "POST", path, bob.token, "{}", 200));
    json_decref(pgt_mx_expect(h.base, "POST", path, carol.token, "{}", 200));
    free(room);
    /* Who shares a room with users of a server (what inbound presence is checked by). */
    cr_assert_eq(hs_store_fed_shares_room_with(h.srv.store, bob.user_id, "here.test"), 1);
    cr_assert_eq(hs_store_fed_shares_room_with(h.srv.store, "@zed:here.test", "here.test"), 0, "not in a room");
    cr_assert_eq(hs_store_fed_shares_room_with(h.srv.store, bob.user_id, "ere.test"), 0, "a name's suffix is not it");
    json_t *s = pgt_mx_expect(h.base, "GET", "/_matrix/client/v3/sync?timeout=0", bob.token, NULL, 200);
    char old[256];
    snprintf(old, sizeof old, "%s", json_string_value(json_object_get(s, "next_batch")));
    json_decref(s);

    /* alice's keys change (rows that will be pruned), then carol's twice (kept). */
    int64_t before;
    cr_assert_eq(hs_store_e2ee_device_lists_max(h.srv.store, &before), 0);
    upload_keys(h.base, &alice);
    cr_assert_eq(hs_store_fed_user_keys_changed(h.srv.store, carol.user_id), 0);
    cr_assert_eq(hs_store_fed_user_keys_changed(h.srv.store, carol.user_id), 0);
    int64_t max;
    cr_assert_eq(hs_store_e2ee_device_lists_max(h.srv.store, &max), 0);

    /* Rows after `upto` (not yet announced) stay whatever `keep` says. */
    cr_assert_eq(hs_store_e2ee_changes_prune(h.srv.store, before, 0), before > 0 ? before : 0);
    int64_t horizon;
    cr_assert_eq(hs_store_e2ee_changes_horizon(h.srv.store, &horizon), 0);
    cr_assert_leq(horizon, before);
    /* Keep the newest 2: alice's row goes. */
    cr_assert_eq(hs_store_e2ee_changes_prune(h.srv.store, max, 2), max - 2 - horizon);
    cr_assert_eq(hs_store_e2ee_changes_horizon(h.srv.store, &horizon), 0);
    cr_assert_eq(horizon, max - 2);
    cr_assert_eq(hs_store_e2ee_changes_prune(h.srv.store, max, 2), 0, "nothing more to prune");

    /* From before the horizon: everyone bob shares a room with, alice included. */
    char **users;
    size_t n;
    cr_assert_eq(hs_store_e2ee_changes(h.srv.store, bob.user_id, 0, max, &users, &n), 0);
    cr_assert_eq(n, 3, "alice, bob and carol");
    hs_store_e2ee_free_strings(users, n);
    /* From the horizon on: only what changed after it. */
    cr_assert_eq(hs_store_e2ee_changes(h.srv.store, bob.user_id, horizon, max, &users, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(users[0], carol.user_id);
    hs_store_e2ee_free_strings(users, n);

    /* The same through the client API with bob's old token. */
    char q[768], e1[512];
    snprintf(q, sizeof q, "/_matrix/client/v3/sync?timeout=0&since=%s", pgt_mx_enc(old, e1, sizeof e1));
    s = pgt_mx_expect(h.base, "GET", q, bob.token, NULL, 200);
    json_t *changed = json_object_get(json_object_get(s, "device_lists"), "changed");
    cr_assert(lists(changed, alice.user_id), "alice in device_lists.changed: %s", json_dumps(s, 0));
    cr_assert(lists(changed, carol.user_id));
    char now_token[256];
    snprintf(now_token, sizeof now_token, "%s", json_string_value(json_object_get(s, "next_batch")));
    json_decref(s);
    char e2[512];
    snprintf(q, sizeof q, "/_matrix/client/v3/keys/changes?from=%s&to=%s", pgt_mx_enc(old, e1, sizeof e1),
             pgt_mx_enc(now_token, e2, sizeof e2));
    s = pgt_mx_expect(h.base, "GET", q, bob.token, NULL, 200);
    cr_assert(lists(json_object_get(s, "changed"), alice.user_id), "alice in keys/changes: %s", json_dumps(s, 0));
    json_decref(s);
    pgt_hs_stop(&h);
}
