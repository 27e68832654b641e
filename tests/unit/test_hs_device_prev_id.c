/* The m.device_list_update EDUs a server queues for a local user's key changes form
 * one chain per user (Server-Server API, "Device management"): every update's prev_id
 * names the stream_id of the update sent before it for the same user, and the
 * stream_ids grow. A peer holding the previous update (Synapse's "extremity") then
 * applies the next one without asking for the whole list again. The chain survives
 * a restart, and user/devices answers the chain's last stream_id so a peer that
 * resynced can apply the next update. Alice (example.test) shares a room with
 * @bob:remote.test; the scan is run by hand and the queue rows for remote.test read. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "server-core/hs_store_internal.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define PASSWORD "correct horse battery"
#define ROOM "!chain:remote.test"
#define BOB "@bob:remote.test"

static pgt_hs hs;

static void start(void)
{
    pgt_hs_start(&hs, "example.test", NULL);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_device_prev_id, .init = start, .fini = stop, .timeout = 60);

static hs_store_new_event member(const char *id, const char *user, const char *text, int depth)
{
    return (hs_store_new_event){.event_id = id, .room_id = ROOM, .type = "m.room.member", .state_key = user,
                                .sender = user, .depth = depth, .origin_server_ts = depth, .pdu_json = text,
                                .membership = "join"};
}

/* Alice joins bob's room on remote.test, as a join over federation stores it. */
static void share_room_with_bob(const char *alice)
{
    static char texts[3][256];
    snprintf(texts[0], sizeof texts[0], "{\"type\":\"m.room.create\",\"room_id\":\"%s\",\"sender\":\"%s\",\"depth\":1}",
             ROOM, BOB);
    snprintf(texts[1], sizeof texts[1],
             "{\"type\":\"m.room.member\",\"room_id\":\"%s\",\"sender\":\"%s\",\"state_key\":\"%s\",\"depth\":2,"
             "\"content\":{\"membership\":\"join\"}}",
             ROOM, BOB, BOB);
    snprintf(texts[2], sizeof texts[2],
             "{\"type\":\"m.room.member\",\"room_id\":\"%s\",\"sender\":\"%s\",\"state_key\":\"%s\",\"depth\":3,"
             "\"content\":{\"membership\":\"join\"}}",
             ROOM, alice, alice);
    hs_store_new_event state[] = {
        {.event_id = "$create", .room_id = ROOM, .type = "m.room.create", .state_key = "", .sender = BOB, .depth = 1,
         .origin_server_ts = 1, .pdu_json = texts[0]},
        member("$bob", BOB, texts[1], 2),
    };
    hs_store_new_event join = member("$alice", alice, texts[2], 3);
    pgt_store_remote_join(hs.srv.store, ROOM, "10", BOB, state, 2, &join);
}

/* A new login of alice with device keys uploaded: one device list change. */
static void new_device_with_keys(void)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"alice\"},"
             "\"password\":\"%s\"}",
             PASSWORD);
    json_t *l = pgt_mx_expect(hs.base, "POST", "/_matrix/client/v3/login", NULL, body, 200);
    const char *user = json_string_value(json_object_get(l, "user_id"));
    const char *device = json_string_value(json_object_get(l, "device_id"));
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_generate(&k), 0);
    char pub[44], key_id[160];
    hs_signing_key_public_b64(&k, pub);
    snprintf(key_id, sizeof key_id, "ed25519:%s", device);
    snprintf(k.key_id, sizeof k.key_id, "%s", key_id);
    json_t *dk = json_pack("{s:s, s:s, s:[s], s:{s:s}}", "user_id", user, "device_id", device, "algorithms",
                           "m.olm.v1.curve25519-aes-sha2", "keys", key_id, pub);
    hs_err e;
    cr_assert_eq(hs_sign_json(dk, user, &k, &e), 0, "%s", e.msg);
    json_t *up = json_pack("{s:o}", "device_keys", dk);
    char *text = json_dumps(up, JSON_COMPACT);
    json_decref(up);
    json_decref(pgt_mx_expect(hs.base, "POST", "/_matrix/client/v3/keys/upload",
                              json_string_value(json_object_get(l, "access_token")), text, 200));
    free(text);
    json_decref(l);
}

/* Runs the scan and returns the m.device_list_update contents queued for remote.test
 * after queue row `*after` (in queue order; *after moves past them). */
static json_t *scan_updates(int64_t *after)
{
    cr_assert_geq(hs_fed_e2ee_scan(&hs.srv, 1000), 1, "the scan saw no change");
    sqlite3_stmt *s = hs_store_prep(hs_store_sqlite(hs.srv.store), "SELECT seq, payload FROM fed_out_queue"
                                                                   " WHERE destination = 'remote.test' AND seq > ?1"
                                                                   " ORDER BY seq");
    cr_assert_not_null(s);
    sqlite3_bind_int64(s, 1, *after);
    json_t *out = json_array();
    while (sqlite3_step(s) == SQLITE_ROW) {
        *after = sqlite3_column_int64(s, 0);
        json_t *edu = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
        cr_assert_not_null(edu);
        if (strcmp(json_string_value(json_object_get(edu, "edu_type")), "m.device_list_update") == 0)
            json_array_append(out, json_object_get(edu, "content"));
        json_decref(edu);
    }
    sqlite3_finalize(s);
    cr_assert_gt(json_array_size(out), 0, "no m.device_list_update queued for remote.test");
    return out;
}

/* Checks that `updates` continue the chain whose last stream_id is *last (0: none
 * yet, the first has an empty prev_id), and moves *last to their last stream_id. */
static void assert_chain(const json_t *updates, int64_t *last)
{
    size_t i;
    json_t *u;
    json_array_foreach(updates, i, u) {
        json_t *prev = json_object_get(u, "prev_id");
        json_t *stream = json_object_get(u, "stream_id");
        cr_assert(json_is_array(prev) && json_is_integer(stream));
        if (*last == 0) {
            cr_assert_eq(json_array_size(prev), 0, "the first update names a previous one");
        } else {
            cr_assert_eq(json_array_size(prev), 1, "update %zu: prev_id has %zu entries", i, json_array_size(prev));
            cr_assert_eq(json_integer_value(json_array_get(prev, 0)), *last, "update %zu: prev_id %lld, expected %lld",
                         i, (long long)json_integer_value(json_array_get(prev, 0)), (long long)*last);
        }
        cr_assert_gt(json_integer_value(stream), *last, "update %zu: stream_id does not grow", i);
        *last = json_integer_value(stream);
    }
}

Test(hs_device_prev_id, consecutive_updates_chain_across_a_restart)
{
    pgt_mx_login a = pgt_mx_must_register(hs.base, "alice", PASSWORD);
    share_room_with_bob(a.user_id);
    int64_t seq = 0, last = 0;

    new_device_with_keys();
    json_t *first = scan_updates(&seq);
    cr_assert_eq(json_array_size(first), 1);
    assert_chain(first, &last);
    json_decref(first);

    /* Two devices with keys now: both are sent, the second chained on the first. */
    new_device_with_keys();
    json_t *second = scan_updates(&seq);
    cr_assert_eq(json_array_size(second), 2);
    assert_chain(second, &last);
    json_decref(second);

    int64_t answered = -1;
    cr_assert_eq(hs_store_fed_device_stream_last(hs.srv.store, a.user_id, &answered), 0);
    cr_assert_eq(answered, last, "user/devices would answer stream_id %lld, the chain is at %lld", (long long)answered,
                 (long long)last);

    pgt_hs_restart(&hs);
    new_device_with_keys();
    json_t *third = scan_updates(&seq);
    cr_assert_eq(json_array_size(third), 3);
    assert_chain(third, &last);
    json_decref(third);
}

static void count_device(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    (void)device_id;
    (void)keys_json;
    (void)display_name;
    (*(int *)ctx)++;
}

/* The receiving side: an update is applied onto a cached list only when its prev_id
 * names where the cache stands; a gap (or an empty prev_id) writes nothing and asks
 * the caller to resync; an update applied already changes nothing. */
Test(hs_device_prev_id, received_updates_apply_only_onto_their_previous_one)
{
    char *dir;
    hs_store *st = pgt_store_open(&dir, "chain.db");
    const char *carol = "@carol:remote.test";
    hs_store_fed_device one = {"ONE", "{\"k\":1}", NULL};
    cr_assert_eq(hs_store_fed_devices_replace(st, carol, &one, 1, 5, 100), 0);
    int64_t at = -1, fetched = -1, prev = 5;
    int n = 0;

    cr_assert_eq(hs_store_fed_device_update_chained(st, carol, "TWO", "{\"k\":2}", NULL, false, 6, &prev, 1, 200,
                                                    &at, &fetched),
                 0);
    cr_assert_eq(hs_store_fed_devices_each(st, carol, count_device, &n), 0);
    cr_assert_eq(n, 2, "the update that follows the cache was not applied");

    prev = 7; /* 7 never arrived */
    cr_assert_eq(hs_store_fed_device_update_chained(st, carol, "THREE", "{\"k\":3}", NULL, false, 8, &prev, 1, 300,
                                                    &at, &fetched),
                 2, "an update after a gap was taken as it is");
    cr_assert_eq(at, 6);
    cr_assert_eq(fetched, 100);
    cr_assert_eq(hs_store_fed_device_update_chained(st, carol, "THREE", "{\"k\":3}", NULL, false, 9, NULL, 0, 300,
                                                    &at, &fetched),
                 2, "an update without prev_id was taken as it is");
    n = 0;
    cr_assert_eq(hs_store_fed_devices_each(st, carol, count_device, &n), 0);
    cr_assert_eq(n, 2, "a refused update wrote a device");

    prev = 5; /* the update of stream 6 again: a resent transaction */
    cr_assert_eq(hs_store_fed_device_update_chained(st, carol, "TWO", NULL, NULL, true, 6, &prev, 1, 400, &at,
                                                    &fetched),
                 0);
    n = 0;
    cr_assert_eq(hs_store_fed_devices_each(st, carol, count_device, &n), 0);
    cr_assert_eq(n, 2, "an update applied already was applied again");

    /* A resync answers stream 9: the next update chains onto it. */
    hs_store_fed_device three[] = {one, {"TWO", "{\"k\":2}", NULL}, {"THREE", "{\"k\":3}", NULL}};
    cr_assert_eq(hs_store_fed_devices_replace(st, carol, three, 3, 9, 500), 1);
    prev = 9;
    cr_assert_eq(hs_store_fed_device_update_chained(st, carol, "ONE", NULL, NULL, true, 10, &prev, 1, 600, &at,
                                                    &fetched),
                 0);
    n = 0;
    cr_assert_eq(hs_store_fed_devices_each(st, carol, count_device, &n), 0);
    cr_assert_eq(n, 2, "the deletion that follows the resync was not applied");

    cr_assert_eq(hs_store_fed_devices_forget(st, carol), 0);
    cr_assert_eq(hs_store_fed_devices_each(st, carol, count_device, &n), 1, "a forgotten list is still cached");
    pgt_store_close(st, dir);
}
