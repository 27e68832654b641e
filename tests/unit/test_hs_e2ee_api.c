/* The E2EE key APIs end to end: a real hs_server on an ephemeral loopback port, users
 * registered over HTTP, keys made and signed with real ed25519 keys the way a client
 * does. Checks what a client relies on: uploaded device keys come back from
 * keys/query with their self-signature intact, a bad signature is refused, each
 * one-time key is handed out once and then the fallback key, to-device messages land
 * in the right device's inbox exactly once, keys/changes reports a re-upload to room
 * mates only, cross-signing keys follow the visibility rules, signatures are verified
 * (a forged one lands in failures), deleting a device removes its keys, and parallel
 * claims never hand out one key twice. The hs_e2ee suite checks the signing rule
 * against a signature Synapse made. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_e2ee.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;

static void start(void)
{
    hs.listener_max_body = 1 << 20;
    pgt_hs_start(&hs, "example.test", NULL);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_e2ee_api, .init = start, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------ */

#define PASSWORD "correct horse battery"

/* POSTs/PUTs `body` (stolen; NULL for none) to the path; returns the answer and status. */
static json_t *call(const char *method, const pgt_mx_login *u, json_t *body, long *status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static json_t *call(const char *method, const pgt_mx_login *u, json_t *body, long *status, const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    json_t *j = pgt_mx_call(hs.base, method, path, u ? u->token : NULL, text, status);
    free(text);
    cr_assert_not_null(j, "%s %s: status %ld, no JSON", method, path, *status);
    return j;
}

/* Like call, asserting the status; returns the answer. */
static json_t *ok(const char *method, const pgt_mx_login *u, json_t *body, long want, const char *path)
{
    long st;
    json_t *j = call(method, u, body, &st, "%s", path);
    char *dump = json_dumps(j, 0);
    cr_assert_eq(st, want, "%s %s: status %ld, want %ld: %s", method, path, st, want, dump);
    free(dump);
    return j;
}

static pgt_mx_login reg(const char *user)
{
    return pgt_mx_must_register(hs.base, user, PASSWORD);
}

/* A second device of an existing user, by password login with the given device ID. */
static pgt_mx_login login_device(const char *user, const char *device_id)
{
    json_t *j = ok("POST", NULL,
                   json_pack("{s:s, s:{s:s, s:s}, s:s, s:s}", "type", "m.login.password", "identifier", "type",
                             "m.id.user", "user", user, "password", PASSWORD, "device_id", device_id),
                   200, "/_matrix/client/v3/login");
    pgt_mx_login l;
    snprintf(l.user_id, sizeof l.user_id, "%s", json_string_value(json_object_get(j, "user_id")));
    snprintf(l.token, sizeof l.token, "%s", json_string_value(json_object_get(j, "access_token")));
    snprintf(l.device_id, sizeof l.device_id, "%s", json_string_value(json_object_get(j, "device_id")));
    json_decref(j);
    return l;
}

/* `u` joins (or leaves) the room. */
static void membership(const pgt_mx_login *u, const char *room, bool join)
{
    char path[512], e[256];
    if (join) snprintf(path, sizeof path, "/_matrix/client/v3/join/%s", pgt_mx_enc(room, e, sizeof e));
    else snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc(room, e, sizeof e));
    json_decref(ok("POST", u, json_object(), 200, path));
}

/* A public room created by a, joined by b; returns its ID (caller frees). */
static char *share_room(const pgt_mx_login *a, const pgt_mx_login *b)
{
    json_t *j = ok("POST", a, json_pack("{s:s}", "preset", "public_chat"), 200, "/_matrix/client/v3/createRoom");
    char *room = strdup(json_string_value(json_object_get(j, "room_id")));
    json_decref(j);
    membership(b, room, true);
    return room;
}

/* A fresh ed25519 key whose key ID is "ed25519:<id>" (id NULL: its own public key, as
 * cross-signing keys are named). */
static void new_key(hs_signing_key *k, const char *id, char pub[44])
{
    cr_assert_eq(hs_signing_key_generate(k), 0);
    hs_signing_key_public_b64(k, pub);
    snprintf(k->key_id, sizeof k->key_id, "ed25519:%s", id ? id : pub);
}

/* Device keys of u's device, self-signed with k (made by new_key(k, device_id)). */
static json_t *device_keys(const pgt_mx_login *u, const hs_signing_key *k, const char *curve)
{
    char pub[44], ed_id[160], cv_id[160];
    hs_signing_key_public_b64(k, pub);
    snprintf(ed_id, sizeof ed_id, "ed25519:%s", u->device_id);
    snprintf(cv_id, sizeof cv_id, "curve25519:%s", u->device_id);
    json_t *dk = json_pack("{s:s, s:s, s:[s, s], s:{s:s, s:s}}", "user_id", u->user_id, "device_id", u->device_id,
                           "algorithms", "m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2", "keys", ed_id, pub,
                           cv_id, curve);
    hs_err e;
    cr_assert_eq(hs_sign_json(dk, u->user_id, k, &e), 0, "%s", e.msg);
    return dk;
}

/* A cross-signing key of `usage` for user, signed by `by` (NULL: unsigned). */
static json_t *cross_key(const char *user, const char *usage, const hs_signing_key *k, const hs_signing_key *by)
{
    char pub[44];
    hs_signing_key_public_b64(k, pub);
    json_t *ck = json_pack("{s:s, s:[s], s:{s:s}}", "user_id", user, "usage", usage, "keys", k->key_id, pub);
    hs_err e;
    if (by) cr_assert_eq(hs_sign_json(ck, user, by, &e), 0, "%s", e.msg);
    return ck;
}

static json_t *upload(const pgt_mx_login *u, json_t *body, long want)
{
    return ok("POST", u, body, want, "/_matrix/client/v3/keys/upload");
}

static json_int_t otk_count(json_t *answer)
{
    json_t *c = json_object_get(json_object_get(answer, "one_time_key_counts"), "signed_curve25519");
    cr_assert(json_is_integer(c));
    return json_integer_value(c);
}

/* keys/query for every device of `user`, as `as`. */
static json_t *query(const pgt_mx_login *as, const char *user)
{
    return ok("POST", as, json_pack("{s:{s:[]}}", "device_keys", user), 200, "/_matrix/client/v3/keys/query");
}

static void count_row(void *ctx, int64_t stream_id, const char *sender, const char *type, const char *content)
{
    (void)stream_id;
    (void)sender;
    (void)type;
    (void)content;
    (*(int *)ctx)++;
}

static int inbox_rows(const pgt_mx_login *u)
{
    int n = 0;
    cr_assert_geq(hs_store_e2ee_inbox_each(hs.srv.store, u->user_id, u->device_id, 0, 1000, count_row, &n), 0);
    return n;
}

/* ---- device keys ------------------------------------------------------------------------ */

Test(hs_e2ee_api, device_keys_round_trip_with_a_valid_signature)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    free(share_room(&a, &b));
    hs_signing_key k;
    char pub[44];
    new_key(&k, a.device_id, pub);
    json_t *r = upload(&a, json_pack("{s:o}", "device_keys", device_keys(&a, &k, "Y3VydmUga2V5IG9mIGFsaWNl")), 200);
    cr_assert_eq(otk_count(r), 0);
    json_decref(r);

    r = query(&b, a.user_id);
    json_t *dk = json_object_get(json_object_get(json_object_get(r, "device_keys"), a.user_id), a.device_id);
    cr_assert(json_is_object(dk), "alice's device is in bob's query");
    char ed_id[160];
    snprintf(ed_id, sizeof ed_id, "ed25519:%s", a.device_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(dk, "keys"), ed_id)), pub);
    /* Bob can verify the self-signature with the key it names, as his client will. */
    hs_err e;
    cr_assert_eq(hs_verify_json(dk, a.user_id, ed_id, k.public_key, &e), 0, "%s", e.msg);
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0);
    json_decref(r);

    /* The device's display name travels in unsigned, outside the signed part. */
    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/devices/%s", a.device_id);
    json_decref(ok("PUT", &a, json_pack("{s:s}", "display_name", "Alice's laptop"), 200, path));
    r = query(&b, a.user_id);
    dk = json_object_get(json_object_get(json_object_get(r, "device_keys"), a.user_id), a.device_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(dk, "unsigned"), "device_display_name")),
                     "Alice's laptop");
    cr_assert_eq(hs_verify_json(dk, a.user_id, ed_id, k.public_key, &e), 0, "%s", e.msg);
    json_decref(r);

    /* A user of another server: reported in failures, not silently empty. */
    r = query(&b, "@carol:elsewhere.test");
    cr_assert(json_is_object(json_object_get(json_object_get(r, "failures"), "elsewhere.test")));
    json_decref(r);
}

/* keys/query names at most 1000 device IDs in all, however they are spread over
 * users: 1000 users x 1000 devices would be a million lookups for one request. */
Test(hs_e2ee_api, keys_query_lists_at_most_1000_devices_in_all)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    hs_signing_key k;
    char pub[44];
    new_key(&k, a.device_id, pub);
    json_decref(upload(&a, json_pack("{s:o}", "device_keys", device_keys(&a, &k, "Y3VydmU")), 200));
    for (int per_user = 500; per_user <= 501; per_user++) {
        json_t *mine = json_array(), *theirs = json_array();
        json_array_append_new(mine, json_string(a.device_id));
        for (int i = 1; i < per_user; i++) json_array_append_new(mine, json_sprintf("D%d", i));
        for (int i = 0; i < per_user; i++) json_array_append_new(theirs, json_sprintf("D%d", i));
        json_t *body = json_pack("{s:{s:o, s:o}}", "device_keys", a.user_id, mine, b.user_id, theirs);
        json_t *r = ok("POST", &b, body, per_user == 500 ? 200 : 400, "/_matrix/client/v3/keys/query");
        if (per_user == 500)
            cr_assert(json_is_object(
                          json_object_get(json_object_get(json_object_get(r, "device_keys"), a.user_id), a.device_id)),
                      "1000 IDs in all are answered");
        else
            cr_assert_str_eq(json_string_value(json_object_get(r, "errcode")), "M_INVALID_PARAM");
        json_decref(r);
    }
}

Test(hs_e2ee_api, bad_signature_and_wrong_owner_are_refused)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    hs_signing_key k;
    char pub[44];
    new_key(&k, a.device_id, pub);

    json_t *dk = device_keys(&a, &k, "Y3VydmU");
    char cv_id[160];
    snprintf(cv_id, sizeof cv_id, "curve25519:%s", a.device_id);
    /* Swapping the curve key after signing is what an attacker in the middle would do. */
    json_object_set_new(json_object_get(dk, "keys"), cv_id, json_string("c3dhcHBlZA"));
    json_t *r = upload(&a, json_pack("{s:o}", "device_keys", dk), 400);
    cr_assert_str_eq(json_string_value(json_object_get(r, "errcode")), "M_INVALID_PARAM");
    json_decref(r);

    /* Signed by a key other than the one the object names. */
    hs_signing_key other;
    char opub[44];
    new_key(&other, a.device_id, opub);
    dk = device_keys(&a, &k, "Y3VydmU");
    json_object_del(dk, "signatures");
    hs_err e;
    cr_assert_eq(hs_sign_json(dk, a.user_id, &other, &e), 0, "%s", e.msg);
    json_decref(upload(&a, json_pack("{s:o}", "device_keys", dk), 400));

    /* Bob cannot upload keys claiming to be alice's device. */
    json_decref(upload(&b, json_pack("{s:o}", "device_keys", device_keys(&a, &k, "Y3VydmU")), 400));

    r = query(&b, a.user_id);
    cr_assert_eq(json_object_size(json_object_get(json_object_get(r, "device_keys"), a.user_id)), 0,
                 "nothing refused was stored");
    json_decref(r);
}

/* ---- one-time keys ------------------------------------------------------------------------- */

static json_t *otk(const pgt_mx_login *u, const hs_signing_key *k, const char *key, bool fallback)
{
    json_t *o = json_pack("{s:s}", "key", key);
    if (fallback) json_object_set_new(o, "fallback", json_true());
    hs_err e;
    cr_assert_eq(hs_sign_json(o, u->user_id, k, &e), 0, "%s", e.msg);
    return o;
}

static json_t *claim(const pgt_mx_login *by, const pgt_mx_login *of)
{
    json_t *r = ok("POST", by, json_pack("{s:{s:{s:s}}}", "one_time_keys", of->user_id, of->device_id,
                                         "signed_curve25519"),
                   200, "/_matrix/client/v3/keys/claim");
    json_t *dev = json_object_get(json_object_get(json_object_get(r, "one_time_keys"), of->user_id), of->device_id);
    json_t *out = NULL;
    if (dev) {
        cr_assert_eq(json_object_size(dev), 1, "one key per device and algorithm");
        out = json_pack("{s:s, s:O}", "id", json_object_iter_key(json_object_iter(dev)), "key",
                        json_object_iter_value(json_object_iter(dev)));
    }
    json_decref(r);
    return out;
}

Test(hs_e2ee_api, otk_claim_takes_each_key_once_then_the_fallback)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    hs_signing_key k;
    char pub[44];
    new_key(&k, a.device_id, pub);
    json_t *body = json_pack("{s:o, s:{s:o, s:o}, s:{s:o}}", "device_keys", device_keys(&a, &k, "Y3VydmU"),
                             "one_time_keys", "signed_curve25519:AAAAAQ", otk(&a, &k, "b3RrMQ", false),
                             "signed_curve25519:AAAAAg", otk(&a, &k, "b3RrMg", false), "fallback_keys",
                             "signed_curve25519:AAAAAw", otk(&a, &k, "ZmFsbGJhY2s", true));
    json_t *r = upload(&a, json_deep_copy(body), 200);
    cr_assert_eq(otk_count(r), 2);
    json_decref(r);

    /* A retried upload of the same keys is harmless... */
    r = upload(&a, body, 200);
    cr_assert_eq(otk_count(r), 2);
    json_decref(r);
    /* ...but reusing a key ID for another key is refused and stores nothing. */
    r = upload(&a,
               json_pack("{s:{s:o, s:o}}", "one_time_keys", "signed_curve25519:AAAABA", otk(&a, &k, "bmV3", false),
                         "signed_curve25519:AAAAAQ", otk(&a, &k, "ZGlmZmVyZW50", false)),
               400);
    json_decref(r);
    r = upload(&a, json_object(), 200);
    cr_assert_eq(otk_count(r), 2, "the refused batch left no key behind");
    json_decref(r);

    json_t *c1 = claim(&b, &a), *c2 = claim(&b, &a);
    cr_assert(c1 && c2);
    cr_assert_str_neq(json_string_value(json_object_get(c1, "id")), json_string_value(json_object_get(c2, "id")),
                      "two claims never get the same key");
    cr_assert_null(json_object_get(json_object_get(c1, "key"), "fallback"));
    r = upload(&a, json_object(), 200);
    cr_assert_eq(otk_count(r), 0);
    json_decref(r);

    /* No one-time key left: the fallback key, as often as asked. */
    for (int i = 0; i < 2; i++) {
        json_t *f = claim(&b, &a);
        cr_assert_not_null(f);
        cr_assert_str_eq(json_string_value(json_object_get(f, "id")), "signed_curve25519:AAAAAw");
        cr_assert(json_is_true(json_object_get(json_object_get(f, "key"), "fallback")));
        json_decref(f);
    }
    json_decref(c1);
    json_decref(c2);

    /* A device without keys: nothing, and no error. */
    pgt_mx_login bare = reg("carol");
    cr_assert_null(claim(&b, &bare));
}

/* A device that never has its keys claimed cannot grow its one-time keys without
 * end: past HS_STORE_E2EE_OTKS_PER_DEVICE an upload of new keys is refused whole. */
Test(hs_e2ee_api, one_time_keys_per_device_are_bounded)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    const int per_upload = 1000;
    for (int u = 0; u < HS_STORE_E2EE_OTKS_PER_DEVICE / per_upload; u++) {
        json_t *otks = json_object();
        for (int i = 0; i < per_upload; i++) {
            char id[64];
            snprintf(id, sizeof id, "signed_curve25519:K%06d", u * per_upload + i);
            json_object_set_new(otks, id, json_string("a2V5"));
        }
        json_decref(upload(&a, json_pack("{s:o}", "one_time_keys", otks), 200));
    }
    json_t *r = upload(&a, json_object(), 200);
    cr_assert_eq(otk_count(r), HS_STORE_E2EE_OTKS_PER_DEVICE);
    json_decref(r);

    /* One more new key, alongside a retried one, is refused and stores neither... */
    r = upload(&a,
               json_pack("{s:{s:s, s:s}}", "one_time_keys", "signed_curve25519:K000000", "a2V5",
                         "signed_curve25519:NEW", "a2V5"),
               400);
    cr_assert_str_eq(json_string_value(json_object_get(r, "errcode")), "M_INVALID_PARAM");
    cr_assert_not_null(strstr(json_string_value(json_object_get(r, "error")), "at most 10000 one-time keys"));
    json_decref(r);
    /* ...while a pure retry of stored keys is still fine... */
    r = upload(&a, json_pack("{s:{s:s}}", "one_time_keys", "signed_curve25519:K000001", "a2V5"), 200);
    cr_assert_eq(otk_count(r), HS_STORE_E2EE_OTKS_PER_DEVICE);
    json_decref(r);
    /* ...and a claim makes room for exactly one. */
    json_decref(claim(&b, &a));
    json_decref(upload(&a, json_pack("{s:{s:s}}", "one_time_keys", "signed_curve25519:NEW", "a2V5"), 200));
    r = upload(&a, json_pack("{s:{s:s}}", "one_time_keys", "signed_curve25519:NEW2", "a2V5"), 400);
    json_decref(r);
    r = upload(&a, json_object(), 200);
    cr_assert_eq(otk_count(r), HS_STORE_E2EE_OTKS_PER_DEVICE);
    json_decref(r);
}

/* ---- to-device ------------------------------------------------------------------------------ */

Test(hs_e2ee_api, to_device_reaches_the_named_device_once)
{
    pgt_mx_login a1 = reg("alice"), b = reg("bob");
    pgt_mx_login a2 = login_device("alice", "SECONDDEV");
    json_t *body = json_pack("{s:{s:{s:{s:s}}}}", "messages", a1.user_id, a1.device_id, "ping", "one");
    json_decref(ok("PUT", &b, json_deep_copy(body), 200, "/_matrix/client/v3/sendToDevice/m.test/txn1"));
    cr_assert_eq(inbox_rows(&a1), 1);
    cr_assert_eq(inbox_rows(&a2), 0, "only the named device");

    /* The client retries the same transaction: no second copy. */
    json_decref(ok("PUT", &b, body, 200, "/_matrix/client/v3/sendToDevice/m.test/txn1"));
    cr_assert_eq(inbox_rows(&a1), 1);

    /* "*": every device of alice; the remote user is accepted and dropped. */
    body = json_pack("{s:{s:{s:{s:s}}, s:{s:{}}}}", "messages", a1.user_id, "*", "ping", "all", "@zed:far.test", "Z");
    json_decref(ok("PUT", &b, body, 200, "/_matrix/client/v3/sendToDevice/m.test/txn2"));
    cr_assert_eq(inbox_rows(&a1), 2);
    cr_assert_eq(inbox_rows(&a2), 1);

    int64_t max;
    cr_assert_eq(hs_store_e2ee_to_device_max(hs.srv.store, &max), 0);
    cr_assert_eq(max, 3);
    json_decref(ok("PUT", &b, json_pack("{s:s}", "messages", "x"), 400, "/_matrix/client/v3/sendToDevice/m.test/t3"));
}

/* A device that never syncs cannot have its inbox grown without end: past
 * HS_STORE_E2EE_INBOX_PER_DEVICE its messages are dropped, other devices still get theirs,
 * and once the device syncs past them (its rows are deleted) it receives again. */
Test(hs_e2ee_api, to_device_inbox_per_device_is_bounded)
{
    pgt_mx_login a1 = reg("alice"), b = reg("bob");
    pgt_mx_login a2 = login_device("alice", "SECONDDEV");
    enum { N = HS_STORE_E2EE_INBOX_PER_DEVICE };
    hs_store_to_device *msgs = calloc(N, sizeof *msgs);
    cr_assert_not_null(msgs);
    for (int i = 0; i < N; i++) msgs[i] = (hs_store_to_device){a1.user_id, a1.device_id, "{}"};
    size_t queued;
    cr_assert_eq(hs_store_e2ee_to_device_send(hs.srv.store, b.user_id, b.device_id, "fill", "m.test", msgs, N,
                                              &queued),
                 0);
    free(msgs);
    cr_assert_eq(queued, N);

    json_t *body = json_pack("{s:{s:{s:{}}}}", "messages", a1.user_id, "*");
    json_decref(ok("PUT", &b, json_deep_copy(body), 200, "/_matrix/client/v3/sendToDevice/m.test/over"));
    long n = hs_store_e2ee_inbox_each(hs.srv.store, a1.user_id, a1.device_id, 0, 2 * N, count_row, &(int){0});
    cr_assert_eq(n, N, "the full inbox took nothing more");
    cr_assert_eq(inbox_rows(&a2), 1, "the other device still gets its copy");

    int64_t max;
    cr_assert_eq(hs_store_e2ee_to_device_max(hs.srv.store, &max), 0);
    cr_assert_eq(hs_store_sync_to_device_ack(hs.srv.store, a1.user_id, a1.device_id, max), 0);
    json_decref(ok("PUT", &b, body, 200, "/_matrix/client/v3/sendToDevice/m.test/after"));
    cr_assert_eq(inbox_rows(&a1), 1, "room again once the device synced");
}

/* A to-device message waits in the inbox (once per device of a "*"): its content is at
 * most 65536 bytes of compact JSON; a bigger one refuses the request and queues nothing. */
Test(hs_e2ee_api, to_device_content_is_at_most_64_kib)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *pad = malloc(65536);
    cr_assert_not_null(pad);
    memset(pad, 'x', 65535);
    pad[65535] = 0;
    /* {"p":"<65535 bytes>"} is 65543 bytes. */
    json_decref(ok("PUT", &b, json_pack("{s:{s:{s:{s:s}}}}", "messages", a.user_id, a.device_id, "p", pad), 400,
                   "/_matrix/client/v3/sendToDevice/m.test/big"));
    cr_assert_eq(inbox_rows(&a), 0);
    pad[65536 - 8] = 0; /* {"p":"..."} of exactly 65536 bytes */
    json_decref(ok("PUT", &b, json_pack("{s:{s:{s:{s:s}}}}", "messages", a.user_id, a.device_id, "p", pad), 200,
                   "/_matrix/client/v3/sendToDevice/m.test/fits"));
    free(pad);
    cr_assert_eq(inbox_rows(&a), 1);
}

/* Transaction IDs are remembered per sender device, the newest
 * HS_STORE_E2EE_TXNS_PER_DEVICE of them: a retry of a recent one queues nothing, an
 * older one is forgotten, so the table does not grow with every message sent. */
Test(hs_e2ee_api, to_device_remembers_the_newest_transaction_ids)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    hs_store_to_device msg = {a.user_id, a.device_id, "{}"};
    char txn[32];
    for (int i = 0; i <= HS_STORE_E2EE_TXNS_PER_DEVICE; i++) {
        snprintf(txn, sizeof txn, "t%d", i);
        cr_assert_eq(hs_store_e2ee_to_device_send(hs.srv.store, b.user_id, b.device_id, txn, "m.test", &msg, 1, NULL),
                     0);
    }
    snprintf(txn, sizeof txn, "t%d", HS_STORE_E2EE_TXNS_PER_DEVICE);
    cr_assert_eq(hs_store_e2ee_to_device_send(hs.srv.store, b.user_id, b.device_id, txn, "m.test", &msg, 1, NULL), 1,
                 "the newest is still known");
    cr_assert_eq(hs_store_e2ee_to_device_send(hs.srv.store, b.user_id, b.device_id, "t1", "m.test", &msg, 1, NULL), 1,
                 "the oldest kept one is still known");
    cr_assert_eq(hs_store_e2ee_to_device_send(hs.srv.store, b.user_id, b.device_id, "t0", "m.test", &msg, 1, NULL), 0,
                 "one past the limit is forgotten");
    /* Another sender device's IDs are its own. */
    cr_assert_eq(hs_store_e2ee_to_device_send(hs.srv.store, a.user_id, a.device_id, "t1", "m.test", &msg, 1, NULL), 0);
}

/* ---- keys/changes ------------------------------------------------------------------------------ */

/* keys/changes between two sync tokens with the given events and device_lists parts. */
static json_t *changes_ev(const pgt_mx_login *u, int64_t ev_from, int64_t ev_to, int64_t from, int64_t to)
{
    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/keys/changes?from=s%lld_0_0_0_%lld_0_0&to=s%lld_0_0_0_%lld_0_0",
             (long long)ev_from, (long long)from, (long long)ev_to, (long long)to);
    return ok("GET", u, NULL, 200, path);
}

static json_t *changes(const pgt_mx_login *u, int64_t from, int64_t to)
{
    return changes_ev(u, 0, 0, from, to);
}

static bool contains(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

Test(hs_e2ee_api, keys_changes_after_a_reupload_for_room_mates_only)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    free(share_room(&a, &b));
    hs_signing_key k;
    char pub[44];
    new_key(&k, a.device_id, pub);
    json_decref(upload(&a, json_pack("{s:o}", "device_keys", device_keys(&a, &k, "Y3VydmUx")), 200));
    int64_t t0, t1, t2;
    cr_assert_eq(hs_store_e2ee_device_lists_max(hs.srv.store, &t0), 0);
    /* The same keys again are no change... */
    json_decref(upload(&a, json_pack("{s:o}", "device_keys", device_keys(&a, &k, "Y3VydmUx")), 200));
    cr_assert_eq(hs_store_e2ee_device_lists_max(hs.srv.store, &t1), 0);
    cr_assert_eq(t1, t0);
    /* ...a new curve key is. */
    json_decref(upload(&a, json_pack("{s:o}", "device_keys", device_keys(&a, &k, "Y3VydmUy")), 200));
    cr_assert_eq(hs_store_e2ee_device_lists_max(hs.srv.store, &t2), 0);
    cr_assert_gt(t2, t1);

    json_t *r = changes(&b, t1, t2);
    cr_assert(contains(json_object_get(r, "changed"), a.user_id), "bob shares a room with alice");
    cr_assert(json_is_array(json_object_get(r, "left")));
    json_decref(r);
    r = changes(&c, t1, t2);
    cr_assert_not(contains(json_object_get(r, "changed"), a.user_id), "carol shares no room with alice");
    json_decref(r);
    r = changes(&b, t2, t2);
    cr_assert_eq(json_array_size(json_object_get(r, "changed")), 0);
    json_decref(r);
    json_decref(ok("GET", &b, NULL, 400, "/_matrix/client/v3/keys/changes?from=nonsense&to=s1"));
}

static int64_t room_pos(const char *room)
{
    int64_t pos;
    cr_assert_eq(hs_store_room_max_stream(hs.srv.store, room, &pos), 0);
    return pos;
}

Test(hs_e2ee_api, keys_changes_follows_who_shares_a_room)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    char *room = share_room(&a, &b);
    int64_t e0 = room_pos(room);
    membership(&c, room, true);
    int64_t e1 = room_pos(room);
    /* Carol joined: alice's and bob's devices are new to her. */
    json_t *r = changes_ev(&c, e0, e1, 0, 0);
    cr_assert(contains(json_object_get(r, "changed"), a.user_id));
    cr_assert(contains(json_object_get(r, "changed"), b.user_id));
    cr_assert_not(contains(json_object_get(r, "changed"), c.user_id));
    cr_assert_eq(json_array_size(json_object_get(r, "left")), 0);
    json_decref(r);
    /* Bob leaves: carol no longer shares a room with him, still with alice. */
    membership(&b, room, false);
    int64_t e2 = room_pos(room);
    r = changes_ev(&c, e1, e2, 0, 0);
    cr_assert(contains(json_object_get(r, "left"), b.user_id));
    cr_assert_not(contains(json_object_get(r, "left"), a.user_id));
    cr_assert_not(contains(json_object_get(r, "changed"), b.user_id));
    json_decref(r);
    /* Nothing moved after e2. */
    r = changes_ev(&c, e2, e2, 0, 0);
    cr_assert_eq(json_array_size(json_object_get(r, "changed")) + json_array_size(json_object_get(r, "left")), 0);
    json_decref(r);
    free(room);
}

/* ---- cross-signing --------------------------------------------------------------------------------- */

typedef struct xs {
    hs_signing_key master, ssk, usk;
    char mpub[44], spub[44], upub[44];
} xs;

static void upload_cross(const pgt_mx_login *u, xs *x)
{
    new_key(&x->master, NULL, x->mpub);
    new_key(&x->ssk, NULL, x->spub);
    new_key(&x->usk, NULL, x->upub);
    /* The first upload needs no password (the spec's bootstrap exception). */
    json_decref(ok("POST", u,
                   json_pack("{s:o, s:o, s:o}", "master_key", cross_key(u->user_id, "master", &x->master, NULL),
                             "self_signing_key", cross_key(u->user_id, "self_signing", &x->ssk, &x->master),
                             "user_signing_key", cross_key(u->user_id, "user_signing", &x->usk, &x->master)),
                   200, "/_matrix/client/v3/keys/device_signing/upload"));
}

static json_t *sig_upload(const pgt_mx_login *u, const char *user, const char *key_id, json_t *obj)
{
    return ok("POST", u, json_pack("{s:{s:o}}", user, key_id, obj), 200, "/_matrix/client/v3/keys/signatures/upload");
}

Test(hs_e2ee_api, cross_signing_visibility_and_verified_signatures)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    free(share_room(&a, &b));
    hs_signing_key dkey;
    char dpub[44];
    new_key(&dkey, a.device_id, dpub);
    json_t *dk = device_keys(&a, &dkey, "Y3VydmU");
    json_decref(upload(&a, json_pack("{s:O}", "device_keys", dk), 200));
    xs ax, bx;
    upload_cross(&a, &ax);
    upload_cross(&b, &bx);

    /* A self-signing key not signed by the master key is refused. */
    hs_signing_key rogue;
    char rpub[44];
    new_key(&rogue, NULL, rpub);
    json_decref(ok("POST", &a,
                   json_pack("{s:o}", "self_signing_key", cross_key(a.user_id, "self_signing", &rogue, &rogue)), 400,
                   "/_matrix/client/v3/keys/device_signing/upload"));

    json_t *r = query(&b, a.user_id);
    cr_assert(json_is_object(json_object_get(json_object_get(r, "master_keys"), a.user_id)));
    cr_assert(json_is_object(json_object_get(json_object_get(r, "self_signing_keys"), a.user_id)));
    cr_assert_null(json_object_get(json_object_get(r, "user_signing_keys"), a.user_id),
                   "a user-signing key is shown to its owner only");
    json_decref(r);
    r = query(&a, a.user_id);
    cr_assert(json_is_object(json_object_get(json_object_get(r, "user_signing_keys"), a.user_id)));
    json_decref(r);

    /* Alice's self-signing key signs her device: stored and served. */
    json_t *signed_dk = json_deep_copy(dk);
    hs_err e;
    cr_assert_eq(hs_sign_json(signed_dk, a.user_id, &ax.ssk, &e), 0, "%s", e.msg);
    r = sig_upload(&a, a.user_id, a.device_id, signed_dk);
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0, "a valid signature is accepted");
    json_decref(r);
    r = query(&b, a.user_id);
    json_t *served = json_object_get(json_object_get(json_object_get(r, "device_keys"), a.user_id), a.device_id);
    cr_assert_eq(hs_verify_json(served, a.user_id, ax.ssk.key_id, ax.ssk.public_key, &e), 0, "%s", e.msg);
    json_decref(r);

    /* A forged one: made by some key but labelled as alice's self-signing key. */
    json_t *forged = json_deep_copy(dk);
    hs_signing_key fake = rogue;
    snprintf(fake.key_id, sizeof fake.key_id, "%s", ax.ssk.key_id);
    cr_assert_eq(hs_sign_json(forged, a.user_id, &fake, &e), 0);
    r = sig_upload(&a, a.user_id, a.device_id, forged);
    json_t *f = json_object_get(json_object_get(json_object_get(r, "failures"), a.user_id), a.device_id);
    cr_assert_str_eq(json_string_value(json_object_get(f, "errcode")), "M_INVALID_SIGNATURE");
    json_decref(r);

    /* Alice's device signs her master key (what a verified device does). */
    json_t *own_master = cross_key(a.user_id, "master", &ax.master, NULL);
    cr_assert_eq(hs_sign_json(own_master, a.user_id, &dkey, &e), 0);
    r = sig_upload(&a, a.user_id, ax.mpub, own_master);
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0);
    json_decref(r);
    r = query(&b, a.user_id);
    json_t *am = json_object_get(json_object_get(r, "master_keys"), a.user_id);
    cr_assert_eq(hs_verify_json(am, a.user_id, dkey.key_id, dkey.public_key, &e), 0, "%s", e.msg);
    json_decref(r);

    /* Bob's user-signing key signs alice's master key: bob sees it, alice does not. */
    json_t *amaster = cross_key(a.user_id, "master", &ax.master, NULL);
    cr_assert_eq(hs_sign_json(amaster, b.user_id, &bx.usk, &e), 0);
    r = sig_upload(&b, a.user_id, ax.mpub, amaster);
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0);
    json_decref(r);
    r = query(&b, a.user_id);
    json_t *m = json_object_get(json_object_get(r, "master_keys"), a.user_id);
    cr_assert_eq(hs_verify_json(m, b.user_id, bx.usk.key_id, bx.usk.public_key, &e), 0, "%s", e.msg);
    json_decref(r);
    r = query(&a, a.user_id);
    m = json_object_get(json_object_get(r, "master_keys"), a.user_id);
    cr_assert_null(json_object_get(json_object_get(m, "signatures"), b.user_id));
    json_decref(r);

    /* Bob's self-signing key may not sign alice's master key. */
    amaster = cross_key(a.user_id, "master", &ax.master, NULL);
    cr_assert_eq(hs_sign_json(amaster, b.user_id, &bx.ssk, &e), 0);
    r = sig_upload(&b, a.user_id, ax.mpub, amaster);
    cr_assert_not_null(json_object_get(json_object_get(json_object_get(r, "failures"), a.user_id), ax.mpub));
    json_decref(r);
    json_decref(dk);
}

Test(hs_e2ee_api, replacing_the_master_key_needs_the_password)
{
    pgt_mx_login a = reg("alice");
    xs x;
    upload_cross(&a, &x);
    json_t *same = json_pack("{s:o}", "master_key", cross_key(a.user_id, "master", &x.master, NULL));
    json_decref(ok("POST", &a, same, 200, "/_matrix/client/v3/keys/device_signing/upload"));

    hs_signing_key m2;
    char pub[44];
    new_key(&m2, NULL, pub);
    json_t *body = json_pack("{s:o}", "master_key", cross_key(a.user_id, "master", &m2, NULL));
    json_t *r = ok("POST", &a, json_deep_copy(body), 401, "/_matrix/client/v3/keys/device_signing/upload");
    const char *session = json_string_value(json_object_get(r, "session"));
    cr_assert_not_null(session);
    json_object_set_new(body, "auth",
                        json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "type", "m.login.password", "session", session,
                                  "identifier", "type", "m.id.user", "user", "alice", "password", "wrong"));
    json_decref(ok("POST", &a, json_deep_copy(body), 401, "/_matrix/client/v3/keys/device_signing/upload"));
    json_object_set_new(json_object_get(body, "auth"), "password", json_string(PASSWORD));
    json_decref(r);
    json_decref(ok("POST", &a, body, 200, "/_matrix/client/v3/keys/device_signing/upload"));
    r = query(&a, a.user_id);
    char id[64];
    snprintf(id, sizeof id, "ed25519:%s", pub);
    cr_assert_not_null(json_object_get(json_object_get(json_object_get(json_object_get(r, "master_keys"), a.user_id),
                                                       "keys"),
                                       id));
    json_decref(r);
}

/* Keys are stored as given and sent in every keys/query: a cross-signing key of more
 * than HS_E2EE_KEY_JSON_MAX canonical bytes is refused and leaves nothing behind. */
Test(hs_e2ee_api, an_oversized_cross_signing_key_is_refused)
{
    pgt_mx_login a = reg("alice");
    hs_signing_key m;
    char pub[44];
    new_key(&m, NULL, pub);
    json_t *big = cross_key(a.user_id, "master", &m, NULL);
    char *pad = malloc(HS_E2EE_KEY_JSON_MAX + 1);
    cr_assert_not_null(pad);
    memset(pad, 'x', HS_E2EE_KEY_JSON_MAX);
    pad[HS_E2EE_KEY_JSON_MAX] = 0;
    json_object_set_new(big, "padding", json_string(pad));
    free(pad);
    json_decref(ok("POST", &a, json_pack("{s:o}", "master_key", big), 400,
                   "/_matrix/client/v3/keys/device_signing/upload"));
    json_t *r = query(&a, a.user_id);
    cr_assert_null(json_object_get(json_object_get(r, "master_keys"), a.user_id), "nothing stored");
    json_decref(r);
    json_decref(ok("POST", &a, json_pack("{s:o}", "master_key", cross_key(a.user_id, "master", &m, NULL)), 200,
                   "/_matrix/client/v3/keys/device_signing/upload"));
}

/* ---- device deletion -------------------------------------------------------------------------------- */

Test(hs_e2ee_api, deleting_a_device_drops_its_keys)
{
    pgt_mx_login a1 = reg("alice"), b = reg("bob");
    free(share_room(&a1, &b));
    pgt_mx_login a2 = login_device("alice", "OTHERDEV");
    hs_signing_key k;
    char pub[44];
    new_key(&k, a2.device_id, pub);
    json_decref(upload(&a2,
                       json_pack("{s:o, s:{s:o}}", "device_keys", device_keys(&a2, &k, "Y3VydmU"), "one_time_keys",
                                 "signed_curve25519:AAAAAQ", otk(&a2, &k, "b3Rr", false)),
                       200));
    json_decref(ok("PUT", &b, json_pack("{s:{s:{s:{}}}}", "messages", a2.user_id, a2.device_id),
                   200, "/_matrix/client/v3/sendToDevice/m.test/t1"));
    cr_assert_eq(inbox_rows(&a2), 1);
    /* The device vouched for alice's master key; that signature must go with it. */
    xs x;
    upload_cross(&a1, &x);
    json_t *m = cross_key(a1.user_id, "master", &x.master, NULL);
    hs_err e;
    cr_assert_eq(hs_sign_json(m, a1.user_id, &k, &e), 0);
    json_t *r = sig_upload(&a2, a1.user_id, x.mpub, m);
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0);
    json_decref(r);
    int64_t before, after;
    cr_assert_eq(hs_store_e2ee_device_lists_max(hs.srv.store, &before), 0);

    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/devices/%s", a2.device_id);
    r = ok("DELETE", &a1, json_object(), 401, path);
    json_t *body = json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:s}}", "auth", "type", "m.login.password", "session",
                             json_string_value(json_object_get(r, "session")), "identifier", "type", "m.id.user",
                             "user", "alice", "password", PASSWORD);
    json_decref(r);
    json_decref(ok("DELETE", &a1, body, 200, path));

    r = query(&b, a1.user_id);
    cr_assert_null(json_object_get(json_object_get(json_object_get(r, "device_keys"), a1.user_id), a2.device_id));
    json_decref(r);
    cr_assert_eq(inbox_rows(&a2), 0, "the deleted device's inbox is gone");
    cr_assert_null(claim(&b, &a2), "its one-time keys are gone");
    cr_assert_eq(hs_store_e2ee_device_lists_max(hs.srv.store, &after), 0);
    cr_assert_gt(after, before);
    r = changes(&b, before, after);
    cr_assert(contains(json_object_get(r, "changed"), a1.user_id));
    json_decref(r);
    r = query(&b, a1.user_id);
    m = json_object_get(json_object_get(r, "master_keys"), a1.user_id);
    cr_assert_null(json_object_get(json_object_get(json_object_get(m, "signatures"), a1.user_id), k.key_id),
                   "the deleted device's signature on the master key is gone");
    json_decref(r);
}

/* ---- concurrency ------------------------------------------------------------------------------------- */

#define CLAIMERS 4
#define CLAIMS_EACH 8
#define OTKS 20

typedef struct claimer {
    const pgt_mx_login *by, *of;
    char ids[CLAIMS_EACH][64];
} claimer;

static void *claim_loop(void *arg)
{
    claimer *c = arg;
    for (int i = 0; i < CLAIMS_EACH; i++) {
        char body[512];
        long st;
        snprintf(body, sizeof body, "{\"one_time_keys\":{\"%s\":{\"%s\":\"signed_curve25519\"}}}", c->of->user_id,
                 c->of->device_id);
        json_t *r = pgt_mx_call(hs.base, "POST", "/_matrix/client/v3/keys/claim", c->by->token, body, &st);
        json_t *dev = json_object_get(json_object_get(json_object_get(r, "one_time_keys"), c->of->user_id),
                                      c->of->device_id);
        const char *id = dev ? json_object_iter_key(json_object_iter(dev)) : NULL;
        snprintf(c->ids[i], sizeof c->ids[i], "%s", st == 200 && id ? id : "");
        json_decref(r);
    }
    return NULL;
}

Test(hs_e2ee_api, concurrent_claims_never_share_a_one_time_key)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    hs_signing_key k;
    char pub[44];
    new_key(&k, a.device_id, pub);
    json_t *otks = json_object(), *fb = json_object();
    for (int i = 0; i < OTKS; i++) {
        char id[64], key[32];
        snprintf(id, sizeof id, "signed_curve25519:K%02d", i);
        snprintf(key, sizeof key, "a2V5%02d", i);
        json_object_set_new(otks, id, otk(&a, &k, key, false));
    }
    json_object_set_new(fb, "signed_curve25519:FB", otk(&a, &k, "ZmI", true));
    json_t *r = upload(&a, json_pack("{s:o, s:o}", "one_time_keys", otks, "fallback_keys", fb), 200);
    cr_assert_eq(otk_count(r), OTKS);
    json_decref(r);

    claimer c[CLAIMERS];
    pthread_t t[CLAIMERS];
    for (int i = 0; i < CLAIMERS; i++) {
        c[i].by = &b;
        c[i].of = &a;
        cr_assert_eq(pthread_create(&t[i], NULL, claim_loop, &c[i]), 0);
    }
    for (int i = 0; i < CLAIMERS; i++) pthread_join(t[i], NULL);
    /* 32 claims for 20 keys: each one-time key exactly once, the rest get the fallback. */
    int fallback = 0, seen[OTKS] = {0};
    for (int i = 0; i < CLAIMERS; i++) {
        for (int j = 0; j < CLAIMS_EACH; j++) {
            const char *id = c[i].ids[j];
            int n;
            if (strcmp(id, "signed_curve25519:FB") == 0) fallback++;
            else if (sscanf(id, "signed_curve25519:K%d", &n) == 1 && n >= 0 && n < OTKS) seen[n]++;
            else cr_assert_fail("claim %d/%d got '%s'", i, j, id);
        }
    }
    for (int i = 0; i < OTKS; i++) cr_assert_eq(seen[i], 1, "key %d handed out %d times", i, seen[i]);
    cr_assert_eq(fallback, CLAIMERS * CLAIMS_EACH - OTKS);
}

/* ---- signing rule over real data ------------------------------------------------------------ */

/* No recorded E2EE upload is among the fixtures, but Synapse signed its server key
 * document with the same "Signing JSON" rule hs_e2ee_verify applies to device and
 * cross-signing keys: a signature made by Synapse must verify, and must stop verifying
 * once a signed field changes, while `unsigned` stays outside the signed part. */
Test(hs_e2ee, verify_accepts_a_synapse_signature_and_nothing_else)
{
    json_error_t je;
    json_t *doc = json_load_file(PG_SOURCE_DIR "/tests/fixtures/synapse/keys-localhost_8448.json", 0, &je);
    cr_assert_not_null(doc, "%s", je.text);
    uint8_t pub[32];
    const char *b64 = json_string_value(json_object_get(json_object_get(json_object_get(doc, "verify_keys"),
                                                                        "ed25519:a_uRaI"),
                                                        "key"));
    cr_assert_not_null(b64);
    cr_assert_eq(hs_b64_decode(b64, pub, sizeof pub), 32);
    hs_err e;
    cr_assert_eq(hs_e2ee_verify(doc, "localhost:8448", "a_uRaI", pub, &e), 0, "%s", e.msg);
    json_object_set_new(doc, "unsigned", json_pack("{s:s}", "note", "not signed"));
    cr_assert_eq(hs_e2ee_verify(doc, "localhost:8448", "a_uRaI", pub, &e), 0, "%s", e.msg);
    cr_assert_neq(hs_e2ee_verify(doc, "localhost:8449", "a_uRaI", pub, &e), 0, "another signer's name");
    json_object_set_new(doc, "valid_until_ts", json_integer(1));
    cr_assert_neq(hs_e2ee_verify(doc, "localhost:8448", "a_uRaI", pub, &e), 0, "a changed signed field");
    json_decref(doc);
}
