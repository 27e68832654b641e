/* E2EE, typing and profiles across two real pinegate processes over loopback HTTPS
 * (localhost:PORT_A and localhost:PORT_B, --dev configs, self-signed certificates), set
 * up as in test_fed_rooms.c: alice on A creates a public room, bob on B joins it by
 * alias. Then what an encrypted conversation between them needs: alice's keys/query of
 * bob is answered by B (user/keys/query) with bob's signed device keys; her keys/claim
 * takes bob's one-time key on B, once; bob uploading new device keys on B reaches A as
 * an m.device_list_update and alice's /sync lists bob in device_lists.changed (and a
 * new query shows the new key); a to-device message from alice reaches bob's device
 * through B's /sync (m.direct_to_device); alice typing on A shows in bob's /sync on B
 * (m.typing); bob reads alice's profile on B (query/profile on A). And a server cannot
 * speak for another's users: an EDU naming a user of A, sent by a third key, is refused
 * before it is applied (covered in the unit tests, hs_fed_edu). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_e2ee.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_e2ee, 240);

static json_t *signed_otk(const pgt_mx_login *u, const hs_signing_key *k, const char *key)
{
    json_t *o = json_pack("{s:s}", "key", key);
    hs_err e;
    cr_assert_eq(hs_sign_json(o, u->user_id, k, &e), 0, "%s", e.msg);
    return o;
}

/* bob's device as alice on A sees it through keys/query (NULL when absent; borrowed
 * from *answer, which the caller decrefs). */
static json_t *query_device(const pgt_mx_login *alice, const pgt_mx_login *bob, json_t **answer)
{
    *answer = pgt_fed_req(&A, alice, "POST", json_pack("{s:{s:[]}}", "device_keys", bob->user_id), 200,
                          "/_matrix/client/v3/keys/query");
    return json_object_get(json_object_get(json_object_get(*answer, "device_keys"), bob->user_id), bob->device_id);
}

static bool has_to_device(json_t *r, const void *text)
{
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(json_object_get(r, "to_device"), "events"), i, ev) {
        const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (body && type && strcmp(body, text) == 0 && strcmp(type, "org.example.ping") == 0) return true;
    }
    return false;
}

typedef struct typing_want {
    const char *room, *user;
} typing_want;

static bool shows_typing(json_t *r, const void *arg)
{
    const typing_want *w = arg;
    json_t *room = json_object_get(json_object_get(json_object_get(r, "rooms"), "join"), w->room);
    size_t i, k;
    json_t *ev, *u;
    json_array_foreach(json_object_get(json_object_get(room, "ephemeral"), "events"), i, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "m.typing") != 0) continue;
        json_array_foreach(json_object_get(json_object_get(ev, "content"), "user_ids"), k, u) {
            if (strcmp(json_string_value(u), w->user) == 0) return true;
        }
    }
    return false;
}

Test(fed_e2ee, keys_devices_to_device_typing_and_profiles_across_servers)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_fed_join_by_alias(&A, &alice, "e2ee", &B, &bob);

    /* bob's device keys and one one-time key, on B. */
    hs_signing_key bk;
    pgt_e2ee_device_key(&bob, &bk);
    json_t *otks = json_object();
    json_object_set_new(otks, "signed_curve25519:AAAAAQ", signed_otk(&bob, &bk, "otk-one-of-bob"));
    json_decref(pgt_fed_req(
        &B, &bob, "POST",
        json_pack("{s:o, s:o}", "device_keys", pgt_e2ee_device_keys(&bob, &bk, "curve-first"), "one_time_keys", otks),
        200, "/_matrix/client/v3/keys/upload"));

    /* alice on A sees bob's device keys, as B signed them (its self-signature intact). */
    json_t *answer;
    json_t *dev = query_device(&alice, &bob, &answer);
    cr_assert(dev, "bob's device in alice's query: %s", json_dumps(answer, 0));
    char cv_id[160];
    snprintf(cv_id, sizeof cv_id, "curve25519:%s", bob.device_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(dev, "keys"), cv_id)), "curve-first");
    cr_assert_eq(json_object_size(json_object_get(answer, "failures")), 0, "no failures: %s", json_dumps(answer, 0));
    json_decref(answer);

    /* alice claims bob's one-time key through B; a second claim finds none left. */
    json_t *c =
        pgt_fed_req(&A, &alice, "POST",
                    json_pack("{s:{s:{s:s}}}", "one_time_keys", bob.user_id, bob.device_id, "signed_curve25519"), 200,
                    "/_matrix/client/v3/keys/claim");
    json_t *k = json_object_get(json_object_get(json_object_get(json_object_get(c, "one_time_keys"), bob.user_id),
                                                bob.device_id),
                                "signed_curve25519:AAAAAQ");
    cr_assert_str_eq(json_string_value(json_object_get(k, "key")), "otk-one-of-bob", "claimed: %s", json_dumps(c, 0));
    json_decref(c);
    c = pgt_fed_req(&A, &alice, "POST",
                    json_pack("{s:{s:{s:s}}}", "one_time_keys", bob.user_id, bob.device_id, "signed_curve25519"), 200,
                    "/_matrix/client/v3/keys/claim");
    cr_assert_null(json_object_get(json_object_get(c, "one_time_keys"), bob.user_id), "a one-time key is given once");
    json_decref(c);

    /* bob re-uploads new device keys on B: A hears it and alice's /sync says so. */
    char since[256];
    pgt_fed_sync_token(&A, &alice, since, sizeof since);
    json_decref(pgt_fed_req(&B, &bob, "POST",
                            json_pack("{s:o}", "device_keys", pgt_e2ee_device_keys(&bob, &bk, "curve-second")), 200,
                            "/_matrix/client/v3/keys/upload"));
    cr_assert(pgt_fed_sync_until(&A, &alice, since, NULL, pgt_fed_sync_lists_changed, bob.user_id, 20000),
              "bob in alice's device_lists.changed on A");
    dev = query_device(&alice, &bob, &answer);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(dev, "keys"), cv_id)), "curve-second");
    json_decref(answer);

    /* A to-device message from alice reaches bob's device on B. */
    json_t *msgs = json_pack("{s:{s:{s:s}}}", bob.user_id, bob.device_id, "body", "ping-across");
    json_decref(pgt_fed_req(&A, &alice, "PUT", json_pack("{s:o}", "messages", msgs), 200,
                            "/_matrix/client/v3/sendToDevice/org.example.ping/txn-1"));
    cr_assert(pgt_fed_sync_until(&B, &bob, NULL, NULL, has_to_device, "ping-across", 20000),
              "bob's device got alice's message");

    /* alice types on A; bob's /sync on B shows it. */
    json_decref(pgt_fed_req(&A, &alice, "PUT", json_pack("{s:b, s:i}", "typing", 1, "timeout", 30000), 200,
                            "/_matrix/client/v3/rooms/%s/typing/%s", pgt_mx_enc_tmp(room),
                            pgt_mx_enc_tmp(alice.user_id)));
    typing_want w = {room, alice.user_id};
    cr_assert(pgt_fed_sync_until(&B, &bob, NULL, NULL, shows_typing, &w, 20000), "alice typing in bob's sync");

    /* bob reads alice's profile on B: B asks A. */
    json_decref(pgt_fed_req(&A, &alice, "PUT", json_pack("{s:s}", "displayname", "Alice of A"), 200,
                            "/_matrix/client/v3/profile/%s/displayname", pgt_mx_enc_tmp(alice.user_id)));
    json_t *p = pgt_fed_req(&B, &bob, "GET", NULL, 200, "/_matrix/client/v3/profile/%s", pgt_mx_enc_tmp(alice.user_id));
    cr_assert_str_eq(json_string_value(json_object_get(p, "displayname")), "Alice of A");
    json_decref(p);
    char nobody[128];
    snprintf(nobody, sizeof nobody, "@nobody:%s", A.name);
    json_decref(pgt_fed_req(&B, &bob, "GET", NULL, 404, "/_matrix/client/v3/profile/%s", pgt_mx_enc_tmp(nobody)));
    free(room);
}

/* The bodies of the m.text events in bob's /messages on B, oldest first, as one string. */
static void history_on_b(const pgt_mx_login *bob, const char *room, char *out, size_t len)
{
    json_t *r = pgt_fed_req(&B, bob, "GET", NULL, 200, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=100",
                            pgt_mx_enc_tmp(room));
    out[0] = 0;
    json_t *chunk = json_object_get(r, "chunk");
    for (size_t i = json_array_size(chunk); i-- > 0;) {
        const char *body = json_string_value(json_object_get(json_object_get(json_array_get(chunk, i), "content"),
                                                             "body"));
        if (body) snprintf(out + strlen(out), len - strlen(out), "%s;", body);
    }
    json_decref(r);
}

Test(fed_e2ee, the_latest_history_before_a_join_comes_with_it)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    json_t *r =
        pgt_fed_req(&A, &alice, "POST", json_pack("{s:s, s:s}", "preset", "public_chat", "room_alias_name", "old"), 200,
                    "/_matrix/client/v3/createRoom");
    char *room = strdup(json_string_value(json_object_get(r, "room_id")));
    json_decref(r);
    for (int i = 1; i <= 3; i++) {
        char text[32];
        snprintf(text, sizeof text, "before-%d", i);
        free(pgt_mx_send_text(A.base, &alice, room, text));
    }
    char alias[128];
    snprintf(alias, sizeof alias, "#old:%s", A.name);
    json_decref(pgt_fed_req(&B, &bob, "POST", json_object(), 200, "/_matrix/client/v3/join/%s", pgt_mx_enc_tmp(alias)));
    char seen[1024];
    history_on_b(&bob, room, seen, sizeof seen);
    cr_assert_str_eq(seen, "before-1;before-2;before-3;", "B's history before its join: %s", seen);
    /* And the room goes on: a message after the join follows them. */
    free(pgt_mx_send_text(A.base, &alice, room, "after"));
    for (int waited = 0; waited < 20000; waited += 250) {
        history_on_b(&bob, room, seen, sizeof seen);
        if (strstr(seen, "after")) break;
        usleep(250 * 1000);
    }
    cr_assert_str_eq(seen, "before-1;before-2;before-3;after;");
    free(room);
}
