/* hs_fed_knock's outbound knock through server-core's transport seam against scripted
 * residents (remote.test, and other.test named by ?via=): bob of self.test knocks on
 * !porch:remote.test. A good template is signed and sent back with send_knock, and the
 * answer's knock_room_state shows in bob's /sync under rooms.knock, malformed entries
 * left out and at most 50 kept. A template for someone else or in a version without
 * knocking, a 403 (which ends the attempt: the next candidate is not asked) and no
 * answer at all are errors that store nothing; an unreachable first candidate is skipped
 * for the next. The two-process version is tests/integration/test_fed_knock_out.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define ROOM "!porch:remote.test"

enum mode { OTHER_USER, OLD_VERSION, REFUSED, DOWN, FIRST_DOWN };

static pgt_hs h;
static enum mode mode;
static int make_calls, send_calls, other_calls; /* make_knock on remote.test / other.test */
static char bob_id[128];

static void reply_json(hs_fed_reply *reply, long status, json_t *body)
{
    reply->status = status;
    reply->body = json_dumps(body, JSON_COMPACT);
    reply->body_len = strlen(reply->body);
    json_decref(body);
}

static json_t *knock_state(void)
{
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{ss ss ss s{ss}}", "type", "m.room.join_rules", "state_key", "", "sender",
                                       "@alice:remote.test", "content", "join_rule", "knock"));
    json_array_append_new(a, json_pack("{ss ss ss s{ss}}", "type", "m.room.name", "state_key", "", "sender",
                                       "@alice:remote.test", "content", "name", "Porch"));
    json_array_append_new(a, json_string("not an event"));
    json_array_append_new(a, json_pack("{ss ss ss}", "type", "m.room.topic", "state_key", "", "sender",
                                       "@alice:remote.test"));
    for (int i = 0; i < 60; i++)
        json_array_append_new(a, json_pack("{ss ss ss s{}}", "type", "org.example.filler", "state_key", "", "sender",
                                           "@alice:remote.test", "content"));
    return a;
}

/* other.test (the ?via= candidate, asked first) answers only as a refusing resident in
 * REFUSED mode and is unreachable otherwise; remote.test (the room ID's server) is
 * unreachable in DOWN mode and otherwise the resident of `mode`. */
static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    memset(reply, 0, sizeof *reply);
    bool remote = strcmp(req->destination, "remote.test") == 0;
    if (!remote && mode != REFUSED) return hs_err_set(err, "connection refused");
    if (remote && mode == DOWN) return hs_err_set(err, "connection refused");
    if (strncmp(req->target, "/_matrix/federation/v1/make_knock/", 34) == 0) {
        if (remote) make_calls++;
        else other_calls++;
        cr_assert(strstr(req->target, "ver=7") && strstr(req->target, "ver=12") && !strstr(req->target, "ver=6"),
                  "%s", req->target);
        if (mode == REFUSED) {
            reply_json(reply, 403, json_pack("{ss ss}", "errcode", "M_FORBIDDEN", "error", "no knocking"));
            return 0;
        }
        const char *who = mode == OTHER_USER ? "@mallory:self.test" : bob_id;
        json_t *ev = json_pack("{ss ss ss ss s{ss} sI sI s[s] s[s]}", "type", "m.room.member", "room_id", ROOM,
                               "sender", who, "state_key", who, "content", "membership", "knock", "origin_server_ts",
                               (json_int_t)1, "depth", (json_int_t)5, "prev_events", "$prev", "auth_events",
                               "$create");
        reply_json(reply, 200, json_pack("{ss so}", "room_version", mode == OLD_VERSION ? "6" : "10", "event", ev));
        return 0;
    }
    if (strncmp(req->target, "/_matrix/federation/v1/send_knock/", 34) == 0) {
        send_calls++;
        const json_t *ev = req->content;
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "content"), "reason")), "please");
        cr_assert_not_null(json_object_get(json_object_get(ev, "signatures"), "self.test"));
        reply_json(reply, 200, json_pack("{so}", "knock_room_state", knock_state()));
        return 0;
    }
    reply_json(reply, 404, json_pack("{ss}", "errcode", "M_UNRECOGNIZED"));
    return 0;
}

static pgt_mx_login bob;

static void start(void)
{
    pgt_hs_start(&h, "self.test", NULL);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&h.srv, &t);
    bob = pgt_mx_must_register(h.base, "bob", "pw-bob-1");
    snprintf(bob_id, sizeof bob_id, "%s", bob.user_id);
    make_calls = send_calls = other_calls = 0;
}

static void stop(void)
{
    pgt_hs_stop(&h);
}

TestSuite(hs_fed_knock_out, .init = start, .fini = stop, .timeout = 60);

static long knock(void)
{
    char path[300];
    snprintf(path, sizeof path, "/_matrix/client/v3/knock/%s?via=other.test", pgt_mx_enc(ROOM, (char[100]){0}, 100));
    long st;
    json_decref(pgt_mx_call(h.base, "POST", path, bob.token, "{\"reason\":\"please\"}", &st));
    return st;
}

static json_t *knocked_section(void)
{
    json_t *s = pgt_mx_expect(h.base, "GET", "/_matrix/client/v3/sync?timeout=0", bob.token, NULL, 200);
    json_t *k = json_incref(json_object_get(json_object_get(json_object_get(s, "rooms"), "knock"), ROOM));
    json_decref(s);
    return k;
}

Test(hs_fed_knock_out, refusals_and_bad_templates_store_nothing)
{
    static const struct {
        enum mode m;
        long status;
        int make, other;
    } cases[] = {
        {OTHER_USER, 502, 1, 0},
        {OLD_VERSION, 502, 1, 0},
        {REFUSED, 403, 0, 1}, /* other.test's refusal ends it: remote.test is not asked */
        {DOWN, 502, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mode = cases[i].m;
        make_calls = other_calls = send_calls = 0;
        cr_expect_eq(knock(), cases[i].status, "case %zu", i);
        cr_expect_eq(make_calls, cases[i].make, "case %zu: make_knock on remote.test", i);
        cr_expect_eq(other_calls, cases[i].other, "case %zu: make_knock on other.test", i);
        cr_expect_eq(send_calls, 0, "case %zu", i);
        json_t *k = knocked_section();
        cr_expect_null(k, "case %zu: a knock was stored", i);
        json_decref(k);
    }
}

Test(hs_fed_knock_out, an_accepted_knock_keeps_the_stripped_state)
{
    mode = FIRST_DOWN;
    cr_assert_eq(knock(), 200);
    cr_assert_eq(send_calls, 1);
    json_t *k = knocked_section();
    cr_assert_not_null(k, "rooms.knock lacks the room");
    json_t *events = json_object_get(json_object_get(k, "knock_state"), "events");
    bool rule = false, name = false, mine = false;
    size_t i, fillers = 0;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        cr_assert(json_is_object(ev) && json_is_object(json_object_get(ev, "content")), "malformed entry kept");
        const char *type = json_string_value(json_object_get(ev, "type"));
        rule |= strcmp(type, "m.room.join_rules") == 0;
        name |= strcmp(type, "m.room.name") == 0;
        fillers += strcmp(type, "org.example.filler") == 0;
        mine |= strcmp(type, "m.room.member") == 0 &&
                strcmp(json_string_value(json_object_get(json_object_get(ev, "content"), "membership")), "knock") == 0;
        cr_assert(strcmp(type, "m.room.topic") != 0, "the entry without content was kept");
    }
    cr_assert(rule && name && mine);
    cr_assert_eq(fillers, 48, "at most 50 entries are kept (2 real + 48 fillers), got %zu fillers", fillers);
    json_decref(k);
}
