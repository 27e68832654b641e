/* Cross-signing across two real pinegate processes over loopback HTTPS (localhost:PORT_A
 * and localhost:PORT_B, --dev configs), set up as in test_fed_edus.c: alice on A creates
 * a public room, bob on B joins it by alias.
 *   - Verifying a user of another server: alice and bob upload cross-signing keys; bob
 *     signs alice's master key with his user-signing key on B (what Element does after
 *     a verification) -> 200, no failures. Bob's keys/query of alice shows his
 *     signature on her master key, from A's answer and, with A stopped, from B's cache;
 *     carol, another user of B, never sees it. A signature the user-signing key did not
 *     make is refused (failures, M_INVALID_SIGNATURE) and not shown. A user of A who
 *     shares no room with B (dave, whose keys B never cached) is fetched from A then.
 *   - Nothing of bob's signature goes over federation: alice's /sync on A does not
 *     list bob as changed after it (it did when the signature made a device list row
 *     for bob, which B announced as an update of his devices).
 *   - A device signed by its owner's self-signing key: A's m.device_list_update
 *     carries the new signature, so bob's query on B shows it with A stopped; and the
 *     master key signed by its owner's device: A's m.signing_key_update carries that. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_e2ee.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_xsign, 240);

/* u's three cross-signing keys, uploaded on n; *master (a copy of the uploaded master
 * key, caller decrefs) and the signing keys come back. */
typedef struct xkeys {
    hs_signing_key mk, ssk, usk;
    json_t *master;
} xkeys;

static void upload_cross_signing(const node *n, const pgt_mx_login *u, xkeys *x)
{
    json_t *master = pgt_e2ee_cross_key(u->user_id, "master", &x->mk);
    json_t *ssk = pgt_e2ee_cross_key(u->user_id, "self_signing", &x->ssk);
    json_t *usk = pgt_e2ee_cross_key(u->user_id, "user_signing", &x->usk);
    hs_err e;
    cr_assert_eq(hs_sign_json(ssk, u->user_id, &x->mk, &e), 0, "%s", e.msg);
    cr_assert_eq(hs_sign_json(usk, u->user_id, &x->mk, &e), 0, "%s", e.msg);
    x->master = json_deep_copy(master);
    json_decref(pgt_fed_req(
        n, u, "POST",
        json_pack("{s:o, s:o, s:o}", "master_key", master, "self_signing_key", ssk, "user_signing_key", usk), 200,
        "/_matrix/client/v3/keys/device_signing/upload"));
}

/* Polls u's /sync on n from `since` for up to ms until `user` is in device_lists.changed. */
static bool changed_within(const node *n, const pgt_mx_login *u, const char *since, const char *user, int ms)
{
    return pgt_fed_sync_until(n, u, since, NULL, pgt_fed_sync_lists_changed, user, ms);
}

/* u's keys/query of `of` on n. */
static json_t *query(const node *n, const pgt_mx_login *u, const char *of)
{
    return pgt_fed_req(n, u, "POST", json_pack("{s:{s:[]}}", "device_keys", of), 200, "/_matrix/client/v3/keys/query");
}

/* The signature by signer_key of `signer` on of's master key in a keys/query answer. */
static const char *master_signature(json_t *q, const char *of, const char *signer, const char *signer_key)
{
    json_t *m = json_object_get(json_object_get(q, "master_keys"), of);
    return json_string_value(json_object_get(json_object_get(json_object_get(m, "signatures"), signer), signer_key));
}

/* `master` (of target) signed by signer's user-signing key, as signatures/upload wants it. */
static json_t *signed_master_body(const char *target, const json_t *master, const char *signer, hs_signing_key *usk)
{
    json_t *copy = json_deep_copy(master);
    hs_err e;
    cr_assert_eq(hs_sign_json(copy, signer, usk, &e), 0, "%s", e.msg);
    const char *id = json_object_iter_key(json_object_iter(json_object_get(master, "keys")));
    return json_pack("{s:{s:o}}", target, id + 8, copy);
}

Test(fed_xsign, a_signature_of_a_remote_master_key_is_kept_for_its_signer)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    pgt_mx_login carol = pgt_mx_must_register(B.base, "carol", "pw-carol-1");
    free(pgt_fed_join_by_alias(&A, &alice, "xsign", &B, &bob));
    char since[256];
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    xkeys ax, bx;
    upload_cross_signing(&A, &alice, &ax);
    upload_cross_signing(&B, &bob, &bx);
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "alice's cross-signing keys reached B");

    /* A forged signature (not bob's user-signing key): refused, nothing stored. */
    hs_signing_key forger;
    json_decref(pgt_e2ee_cross_key(bob.user_id, "user_signing", &forger));
    snprintf(forger.key_id, sizeof forger.key_id, "%s", bx.usk.key_id);
    json_t *r = pgt_fed_req(&B, &bob, "POST", signed_master_body(alice.user_id, ax.master, bob.user_id, &forger), 200,
                            "/_matrix/client/v3/keys/signatures/upload");
    const char *master_b64 = json_object_iter_key(json_object_iter(json_object_get(ax.master, "keys"))) + 8;
    json_t *f = json_object_get(json_object_get(json_object_get(r, "failures"), alice.user_id), master_b64);
    cr_assert_str_eq(json_string_value(json_object_get(f, "errcode")), "M_INVALID_SIGNATURE", "%s", json_dumps(r, 0));
    json_decref(r);
    json_t *q = query(&B, &bob, alice.user_id);
    cr_assert_null(master_signature(q, alice.user_id, bob.user_id, bx.usk.key_id), "forged signature shown: %s",
                   json_dumps(q, 0));
    json_decref(q);

    /* bob verifies alice: his user-signing key signs her master key. */
    r = pgt_fed_req(&B, &bob, "POST", signed_master_body(alice.user_id, ax.master, bob.user_id, &bx.usk), 200,
                    "/_matrix/client/v3/keys/signatures/upload");
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0, "no failures: %s", json_dumps(r, 0));
    json_decref(r);

    q = query(&B, &bob, alice.user_id);
    cr_assert_eq(json_object_size(json_object_get(q, "failures")), 0, "A answered: %s", json_dumps(q, 0));
    cr_assert(master_signature(q, alice.user_id, bob.user_id, bx.usk.key_id), "bob's signature on alice's master: %s",
              json_dumps(q, 0));
    json_decref(q);
    q = query(&B, &carol, alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "master_keys"), alice.user_id), "carol sees alice's master key: %s",
              json_dumps(q, 0));
    cr_assert_null(master_signature(q, alice.user_id, bob.user_id, bx.usk.key_id), "carol sees bob's signature: %s",
                   json_dumps(q, 0));
    json_decref(q);

    /* A stopped: B's cache answers, bob's signature still merged in for bob only. */
    pgt_stop(&A.proc, SIGTERM, 20000);
    q = query(&B, &bob, alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "failures"), A.name), "A is down: %s", json_dumps(q, 0));
    cr_assert(master_signature(q, alice.user_id, bob.user_id, bx.usk.key_id),
              "bob's signature with A stopped: %s", json_dumps(q, 0));
    json_decref(q);
    q = query(&B, &carol, alice.user_id);
    cr_assert_null(master_signature(q, alice.user_id, bob.user_id, bx.usk.key_id), "carol sees bob's signature: %s",
                   json_dumps(q, 0));
    json_decref(q);
    json_decref(ax.master);
    json_decref(bx.master);
}

Test(fed_xsign, the_master_key_of_a_user_sharing_no_room_is_fetched)
{
    pgt_mx_login dave = pgt_mx_must_register(A.base, "dave", "pw-dave-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    xkeys dx, bx;
    upload_cross_signing(&A, &dave, &dx);
    upload_cross_signing(&B, &bob, &bx);
    json_t *r = pgt_fed_req(&B, &bob, "POST", signed_master_body(dave.user_id, dx.master, bob.user_id, &bx.usk), 200,
                            "/_matrix/client/v3/keys/signatures/upload");
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0, "no failures: %s", json_dumps(r, 0));
    json_decref(r);
    json_t *q = query(&B, &bob, dave.user_id);
    cr_assert(master_signature(q, dave.user_id, bob.user_id, bx.usk.key_id), "bob's signature on dave's master: %s",
              json_dumps(q, 0));
    json_decref(q);

    /* A stopped: a master key B never saw cannot be checked, and the failure says why. */
    pgt_stop(&A.proc, SIGTERM, 20000);
    char eve[128];
    snprintf(eve, sizeof eve, "@eve:%s", A.name);
    hs_signing_key ek;
    json_t *eve_master = pgt_e2ee_cross_key(eve, "master", &ek);
    r = pgt_fed_req(&B, &bob, "POST", signed_master_body(eve, eve_master, bob.user_id, &bx.usk), 200,
                    "/_matrix/client/v3/keys/signatures/upload");
    json_t *f = json_object_get(json_object_get(json_object_get(r, "failures"), eve), ek.key_id + 8);
    cr_assert_str_eq(json_string_value(json_object_get(f, "errcode")), "M_NOT_FOUND", "%s", json_dumps(r, 0));
    const char *why = json_string_value(json_object_get(f, "error"));
    cr_assert(why && strstr(why, "could not be fetched"), "%s", json_dumps(r, 0));
    json_decref(r);
    json_decref(eve_master);
    json_decref(dx.master);
    json_decref(bx.master);
}

Test(fed_xsign, a_self_signed_device_reaches_the_other_server_signed)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "xsign", &B, &bob));
    /* One change at a time, each seen on B before the next: A sends them in order, so
     * the change seen last is the one made last. */
    char since[256];
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    xkeys ax;
    upload_cross_signing(&A, &alice, &ax);
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "alice's cross-signing keys reached B");
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    hs_signing_key dk;
    json_t *keys = pgt_e2ee_new_device_keys(&alice, &dk);
    json_decref(pgt_fed_req(&A, &alice, "POST", json_pack("{s:O}", "device_keys", keys), 200,
                            "/_matrix/client/v3/keys/upload"));
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "alice's device keys reached B");
    /* bob's query while A is up: B caches alice's whole device list, which A's device
     * list updates keep current from then on. */
    json_decref(query(&B, &bob, alice.user_id));

    /* alice's self-signing key signs her device (cross-signing her own device). */
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    hs_err e;
    cr_assert_eq(hs_sign_json(keys, alice.user_id, &ax.ssk, &e), 0, "%s", e.msg);
    json_t *r = pgt_fed_req(&A, &alice, "POST", json_pack("{s:{s:O}}", alice.user_id, alice.device_id, keys), 200,
                            "/_matrix/client/v3/keys/signatures/upload");
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0, "no failures: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "the signed device reached B");

    pgt_stop(&A.proc, SIGTERM, 20000);
    json_t *q = query(&B, &bob, alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "failures"), A.name), "A is down: %s", json_dumps(q, 0));
    json_t *dev = json_object_get(json_object_get(json_object_get(q, "device_keys"), alice.user_id), alice.device_id);
    cr_assert(json_object_get(json_object_get(json_object_get(dev, "signatures"), alice.user_id), ax.ssk.key_id),
              "the self-signing signature on alice's device in B's cache: %s", json_dumps(q, 0));
    json_decref(q);
    json_decref(keys);
    json_decref(ax.master);
}

/* changed_within, for `ms` of /sync answers where `user` must not show up. */
static bool unchanged_for(const node *n, const pgt_mx_login *u, const char *since, const char *user, int ms)
{
    return !changed_within(n, u, since, user, ms);
}

Test(fed_xsign, a_user_signing_signature_stays_on_its_server)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "xsign", &B, &bob));
    char since_a[256], since_b[256];
    pgt_fed_sync_token(&A, &alice, since_a, sizeof since_a);
    pgt_fed_sync_token(&B, &bob, since_b, sizeof since_b);
    /* bob's two key changes one after the other, each seen on A before the next, so
     * none is still on its way when the signature is made. */
    hs_signing_key dk;
    json_decref(pgt_fed_req(&B, &bob, "POST", json_pack("{s:o}", "device_keys", pgt_e2ee_new_device_keys(&bob, &dk)),
                            200, "/_matrix/client/v3/keys/upload"));
    cr_assert(changed_within(&A, &alice, since_a, bob.user_id, 20000), "bob's device keys reached A");
    pgt_fed_sync_token(&A, &alice, since_a, sizeof since_a);
    xkeys ax, bx;
    upload_cross_signing(&B, &bob, &bx);
    cr_assert(changed_within(&A, &alice, since_a, bob.user_id, 20000), "bob's cross-signing keys reached A");
    upload_cross_signing(&A, &alice, &ax);
    cr_assert(changed_within(&B, &bob, since_b, alice.user_id, 20000), "alice's keys reached B");

    pgt_fed_sync_token(&A, &alice, since_a, sizeof since_a);
    json_t *r = pgt_fed_req(&B, &bob, "POST", signed_master_body(alice.user_id, ax.master, bob.user_id, &bx.usk), 200,
                            "/_matrix/client/v3/keys/signatures/upload");
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0, "no failures: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert(unchanged_for(&A, &alice, since_a, bob.user_id, 3000), "bob's signature made A hear of bob");
    /* The path itself works: bob's next real key change does reach A. */
    json_decref(pgt_fed_req(&B, &bob, "POST", json_pack("{s:o}", "device_keys", pgt_e2ee_new_device_keys(&bob, &dk)),
                            200, "/_matrix/client/v3/keys/upload"));
    cr_assert(changed_within(&A, &alice, since_a, bob.user_id, 20000), "bob's new device keys reached A");
    json_decref(ax.master);
    json_decref(bx.master);
}

Test(fed_xsign, a_master_key_signed_by_its_device_reaches_the_other_server_signed)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "xsign", &B, &bob));
    char since[256];
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    hs_signing_key dk;
    json_decref(pgt_fed_req(&A, &alice, "POST",
                            json_pack("{s:o}", "device_keys", pgt_e2ee_new_device_keys(&alice, &dk)), 200,
                            "/_matrix/client/v3/keys/upload"));
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "alice's device keys reached B");
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    xkeys ax;
    upload_cross_signing(&A, &alice, &ax);
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "alice's cross-signing keys reached B");

    /* alice's device signs her master key (what a client does once it trusts it). */
    pgt_fed_sync_token(&B, &bob, since, sizeof since);
    json_t *signed_master = json_deep_copy(ax.master);
    hs_err e;
    cr_assert_eq(hs_sign_json(signed_master, alice.user_id, &dk, &e), 0, "%s", e.msg);
    const char *master_b64 = json_object_iter_key(json_object_iter(json_object_get(ax.master, "keys"))) + 8;
    json_t *r = pgt_fed_req(&A, &alice, "POST", json_pack("{s:{s:o}}", alice.user_id, master_b64, signed_master), 200,
                            "/_matrix/client/v3/keys/signatures/upload");
    cr_assert_eq(json_object_size(json_object_get(r, "failures")), 0, "no failures: %s", json_dumps(r, 0));
    json_decref(r);
    cr_assert(changed_within(&B, &bob, since, alice.user_id, 20000), "the signed master key reached B");

    pgt_stop(&A.proc, SIGTERM, 20000);
    json_t *q = query(&B, &bob, alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "failures"), A.name), "A is down: %s", json_dumps(q, 0));
    cr_assert(master_signature(q, alice.user_id, alice.user_id, dk.key_id),
              "alice's device signature on her master key in B's cache: %s", json_dumps(q, 0));
    json_decref(q);
    json_decref(ax.master);
}
