/* hs_fed_edu and the EDU half of hs_fed_e2ee: the checks on m.device_list_update,
 * m.direct_to_device and m.typing from another server (shapes, sizes, and above all that
 * a server only speaks for its own users), and what applying them does on a real
 * in-process server: a to-device message reaches the local device once however often
 * the origin repeats it, one whose sender is not of the origin never arrives, and a
 * device list update about a user nobody here shares a room with changes nothing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_store_e2ee.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert(j, "test JSON: %s", e.text);
    return j;
}

#define DEVICE_LIST_OK                                                                                        \
    "{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\",\"stream_id\":7,\"prev_id\":[6],"                   \
    "\"device_display_name\":\"phone\",\"keys\":{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\"}}"

Test(hs_fed_edu, device_list_update_checks)
{
    hs_fed_edu_device_list d;
    hs_err err;
    json_t *j = parse(DEVICE_LIST_OK);
    cr_assert_eq(hs_fed_edu_device_list_check(j, "other.test", &d, &err), 0, "%s", err.msg);
    cr_assert_str_eq(d.user_id, "@a:other.test");
    cr_assert_str_eq(d.device_id, "DEV");
    cr_assert_str_eq(d.display_name, "phone");
    cr_assert_eq(d.stream_id, 7);
    cr_assert(d.keys && !d.deleted);
    /* Another server may not announce devices of other.test's users. */
    cr_assert_eq(hs_fed_edu_device_list_check(j, "evil.test", &d, &err), -1);
    cr_assert(strstr(err.msg, "evil.test"), "%s", err.msg);
    json_decref(j);

    static const char *const bad[] = {
        "{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\"}",                       /* no stream_id */
        "{\"user_id\":\"@a:other.test\",\"device_id\":\"\",\"stream_id\":1}",          /* empty device */
        "{\"user_id\":\"a\",\"device_id\":\"DEV\",\"stream_id\":1}",                   /* not a user ID */
        "{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\",\"stream_id\":1,\"prev_id\":[\"x\"]}",
        "{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\",\"stream_id\":1,\"deleted\":1}",
        "{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\",\"stream_id\":1,"
        "\"keys\":{\"user_id\":\"@a:other.test\",\"device_id\":\"OTHER\"}}",           /* keys of another device */
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = parse(bad[i]);
        cr_assert_eq(hs_fed_edu_device_list_check(j, "other.test", &d, &err), -1, "accepted %s", bad[i]);
        cr_assert(err.msg[0]);
        json_decref(j);
    }
    char long_id[300];
    memset(long_id, 'D', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    j = json_pack("{s:s, s:s, s:i}", "user_id", "@a:other.test", "device_id", long_id, "stream_id", 1);
    cr_assert_eq(hs_fed_edu_device_list_check(j, "other.test", &d, &err), -1, "an over-long device ID");
    json_decref(j);
    /* A deletion carries no keys, whatever else the EDU holds. */
    j = parse("{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\",\"stream_id\":2,\"deleted\":true,"
              "\"keys\":{\"user_id\":\"@a:other.test\",\"device_id\":\"DEV\"}}");
    cr_assert_eq(hs_fed_edu_device_list_check(j, "other.test", &d, &err), 0, "%s", err.msg);
    cr_assert(d.deleted && !d.keys);
    json_decref(j);
}

Test(hs_fed_edu, direct_to_device_checks)
{
    hs_fed_edu_to_device t;
    hs_err err;
    json_t *j = parse("{\"sender\":\"@a:other.test\",\"type\":\"m.room_key\",\"message_id\":\"m1\","
                      "\"messages\":{\"@b:here.test\":{\"DEV\":{\"x\":1},\"*\":{\"y\":2}}}}");
    cr_assert_eq(hs_fed_edu_to_device_check(j, "other.test", &t, &err), 0, "%s", err.msg);
    cr_assert_str_eq(t.sender, "@a:other.test");
    cr_assert_str_eq(t.type, "m.room_key");
    cr_assert_str_eq(t.message_id, "m1");
    cr_assert_eq(t.n_messages, 2);
    cr_assert_eq(hs_fed_edu_to_device_check(j, "evil.test", &t, &err), -1, "a sender of another server");
    json_decref(j);
    static const char *const bad[] = {
        "{\"sender\":\"@a:other.test\",\"type\":\"t\",\"messages\":{}}",                        /* no message_id */
        "{\"sender\":\"@a:other.test\",\"type\":\"\",\"message_id\":\"m\",\"messages\":{}}",  /* empty type */
        "{\"sender\":\"@a:other.test\",\"type\":\"t\",\"message_id\":\"m\",\"messages\":[]}",
        "{\"sender\":\"@a:other.test\",\"type\":\"t\",\"message_id\":\"m\",\"messages\":{\"b\":{}}}",
        "{\"sender\":\"@a:other.test\",\"type\":\"t\",\"message_id\":\"m\","
        "\"messages\":{\"@b:here.test\":{\"DEV\":\"not an object\"}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = parse(bad[i]);
        cr_assert_eq(hs_fed_edu_to_device_check(j, "other.test", &t, &err), -1, "accepted %s", bad[i]);
        json_decref(j);
    }
    /* More messages than one EDU may carry. */
    json_t *devs = json_object();
    for (int i = 0; i <= HS_FED_EDU_TO_DEVICE_MAX; i++) {
        char id[32];
        snprintf(id, sizeof id, "D%d", i);
        json_object_set_new(devs, id, json_object());
    }
    j = json_pack("{s:s, s:s, s:s, s:{s:o}}", "sender", "@a:other.test", "type", "t", "message_id", "m", "messages",
                  "@b:here.test", devs);
    cr_assert_eq(hs_fed_edu_to_device_check(j, "other.test", &t, &err), -1);
    cr_assert(strstr(err.msg, "more than"), "%s", err.msg);
    json_decref(j);
}

Test(hs_fed_edu, typing_checks)
{
    hs_fed_edu_typing t;
    hs_err err;
    json_t *j = parse("{\"room_id\":\"!r:here.test\",\"user_id\":\"@a:other.test\",\"typing\":true}");
    cr_assert_eq(hs_fed_edu_typing_check(j, "other.test", &t, &err), 0, "%s", err.msg);
    cr_assert(t.typing);
    cr_assert_eq(t.timeout_ms, 30000, "the default timeout");
    cr_assert_eq(hs_fed_edu_typing_check(j, "evil.test", &t, &err), -1, "typing of another server's user");
    json_decref(j);
    static const char *const bad[] = {
        "{\"room_id\":\"r\",\"user_id\":\"@a:other.test\",\"typing\":true}",
        "{\"room_id\":\"!r:here.test\",\"user_id\":\"@a:other.test\",\"typing\":\"yes\"}",
        "{\"room_id\":\"!r:here.test\",\"user_id\":\"@a:other.test\",\"typing\":true,\"timeout\":-1}",
        "{\"room_id\":\"!r:here.test\",\"user_id\":\"@a:other.test\",\"typing\":true,\"timeout\":1.5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = parse(bad[i]);
        cr_assert_eq(hs_fed_edu_typing_check(j, "other.test", &t, &err), -1, "accepted %s", bad[i]);
        json_decref(j);
    }
}

static void count_inbox(void *ctx, int64_t stream_id, const char *sender, const char *type, const char *content)
{
    (void)stream_id;
    (void)content;
    cr_assert_str_eq(sender, "@a:other.test");
    cr_assert_str_eq(type, "m.room_key");
    (*(int *)ctx)++;
}

static int inbox_count(pgt_hs *h, const pgt_mx_login *u)
{
    int n = 0;
    cr_assert_geq(hs_store_e2ee_inbox_each(h->srv.store, u->user_id, u->device_id, 0, 100, count_inbox, &n), 0);
    return n;
}

Test(hs_fed_edu, applied_edus_reach_local_devices_once_and_only_from_their_origin)
{
    pgt_hs h = {0};
    pgt_hs_start(&h, "here.test", NULL);
    pgt_mx_login bob = pgt_mx_must_register(h.base, "bob", "pw-bob-1");
    char text[1024];
    snprintf(text, sizeof text,
             "{\"edu_type\":\"m.direct_to_device\",\"content\":{\"sender\":\"@a:other.test\",\"type\":\"m.room_key\","
             "\"message_id\":\"m1\",\"messages\":{\"%s\":{\"%s\":{\"k\":1}}}}}",
             bob.user_id, bob.device_id);
    json_t *edu = parse(text);
    int resyncs = HS_FED_RESYNCS_PER_TXN;
    hs_fed_edu_apply(&h.srv, "other.test", edu, &resyncs);
    cr_assert_eq(inbox_count(&h, &bob), 1, "the message reached bob's device");
    hs_fed_edu_apply(&h.srv, "other.test", edu, &resyncs);
    cr_assert_eq(inbox_count(&h, &bob), 1, "the same message_id again is not delivered twice");
    /* The same message told by a server that is not the sender's: dropped. */
    json_object_set_new(json_object_get(edu, "content"), "message_id", json_string("m2"));
    hs_fed_edu_apply(&h.srv, "evil.test", edu, &resyncs);
    cr_assert_eq(inbox_count(&h, &bob), 1, "a server cannot send in another's users' name");
    json_decref(edu);

    /* A device list update about a user no one here shares a room with: no change row. */
    int64_t before, after;
    cr_assert_eq(hs_store_e2ee_device_lists_max(h.srv.store, &before), 0);
    edu = json_pack("{s:s, s:{s:s, s:s, s:i}}", "edu_type", "m.device_list_update", "content", "user_id",
                    "@a:other.test", "device_id", "DEV", "stream_id", 1);
    hs_fed_edu_apply(&h.srv, "other.test", edu, &resyncs);
    json_decref(edu);
    cr_assert_eq(hs_store_e2ee_device_lists_max(h.srv.store, &after), 0);
    cr_assert_eq(after, before);
    pgt_hs_stop(&h);
}
