/* The per-transaction budget of whole device list fetches (HS_FED_RESYNCS_PER_TXN):
 * one transaction whose m.device_list_updates each show a gap in a remote user's chain
 * may make us ask GET user/devices (up to 10 s each, while the sender waits for the
 * transaction's answer) for at most that many users; the lists past it are forgotten
 * (queries for those users then go to their server) instead of fetched. Six users of
 * remote.test share a room with alice of example.test, each with a cached list at
 * stream 5; a scripted remote.test answers user/devices with a list of its own (or
 * fails every request, which spends the budget just the same). The EDUs are applied as
 * the transaction handler does, one budget for the six. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_store_fed_e2ee.h"
#include "support/pgt_hs.h"

#define ROOM "!budget:remote.test"
#define ALICE "@alice:example.test"
#define N_USERS 6
#define DEVICES_PREFIX "/_matrix/federation/v1/user/devices/"

static pgt_hs hs;
static bool remote_fails;
static int asked;                  /* user/devices requests seen */
static char asked_for[16][64];     /* the user IDs they named, percent-encoded */

static void user_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "@u%d:remote.test", i + 1);
}

static void reply_json(hs_fed_reply *reply, long status, json_t *body)
{
    reply->status = status;
    reply->body = json_dumps(body, JSON_COMPACT);
    reply->body_len = strlen(reply->body);
    snprintf(reply->content_type, sizeof reply->content_type, "application/json");
    json_decref(body);
}

/* remote.test: user/devices answers one device "FRESH" at stream 9 for the user the
 * path names (decoded by hand: the test's IDs only encode '@' and ':'), or fails. */
static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    memset(reply, 0, sizeof *reply);
    if (strcmp(req->destination, "remote.test") != 0) return hs_err_set(err, "no such server %s", req->destination);
    if (strcmp(req->method, "GET") != 0 || strncmp(req->target, DEVICES_PREFIX, strlen(DEVICES_PREFIX)) != 0) {
        reply_json(reply, 404, json_pack("{ss}", "errcode", "M_UNRECOGNIZED"));
        return 0;
    }
    const char *enc = req->target + strlen(DEVICES_PREFIX);
    if (asked < (int)(sizeof asked_for / sizeof asked_for[0]))
        snprintf(asked_for[asked], sizeof asked_for[asked], "%s", enc);
    asked++;
    if (remote_fails) return hs_err_set(err, "timed out");
    int n = 0;
    cr_assert_eq(sscanf(enc, "%%40u%d%%3Aremote.test", &n), 1, "unexpected user in %s", req->target);
    char who[64];
    user_id(n - 1, who, sizeof who);
    reply_json(reply, 200,
               json_pack("{ss sI s[{ss ss}]}", "user_id", who, "stream_id", (json_int_t)9, "devices", "device_id",
                         "FRESH", "device_display_name", "fetched whole"));
    return 0;
}

static hs_store_new_event member(const char *id, const char *user, const char *text, int depth)
{
    return (hs_store_new_event){.event_id = id, .room_id = ROOM, .type = "m.room.member", .state_key = user,
                                .sender = user, .depth = depth, .origin_server_ts = depth, .pdu_json = text,
                                .membership = "join"};
}

/* Alice joins u1's room on remote.test, where u1..u6 are joined, as a join over
 * federation stores it: the six are then users someone here shares a room with. */
static void share_room(void)
{
    static char texts[N_USERS + 2][320];
    static char ids[N_USERS][16];
    static char users[N_USERS][32];
    hs_store_new_event state[N_USERS + 1];
    for (int i = 0; i < N_USERS; i++) user_id(i, users[i], sizeof users[i]);
    snprintf(texts[0], sizeof texts[0], "{\"type\":\"m.room.create\",\"room_id\":\"%s\",\"sender\":\"%s\",\"depth\":1}",
             ROOM, users[0]);
    state[0] = (hs_store_new_event){.event_id = "$create", .room_id = ROOM, .type = "m.room.create", .state_key = "",
                                    .sender = users[0], .depth = 1, .origin_server_ts = 1, .pdu_json = texts[0]};
    for (int i = 0; i < N_USERS; i++) {
        snprintf(ids[i], sizeof ids[i], "$u%d", i + 1);
        snprintf(texts[i + 1], sizeof texts[i + 1],
                 "{\"type\":\"m.room.member\",\"room_id\":\"%s\",\"sender\":\"%s\",\"state_key\":\"%s\",\"depth\":%d,"
                 "\"content\":{\"membership\":\"join\"}}",
                 ROOM, users[i], users[i], i + 2);
        state[i + 1] = member(ids[i], users[i], texts[i + 1], i + 2);
    }
    snprintf(texts[N_USERS + 1], sizeof texts[N_USERS + 1],
             "{\"type\":\"m.room.member\",\"room_id\":\"%s\",\"sender\":\"%s\",\"state_key\":\"%s\",\"depth\":%d,"
             "\"content\":{\"membership\":\"join\"}}",
             ROOM, ALICE, ALICE, N_USERS + 2);
    hs_store_new_event join = member("$alice", ALICE, texts[N_USERS + 1], N_USERS + 2);
    pgt_store_remote_join(hs.srv.store, ROOM, "10", users[0], state, N_USERS + 1, &join);
}

static void start(void)
{
    pgt_hs_start(&hs, "example.test", NULL);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&hs.srv, &t);
    remote_fails = false;
    asked = 0;
    share_room();
    /* Each user's list is cached at stream 5, fetched long ago: a gap may be resynced
     * at once as far as the per-user 10 s limit goes. */
    for (int i = 0; i < N_USERS; i++) {
        char who[64];
        user_id(i, who, sizeof who);
        hs_store_fed_device old = {"OLD", NULL, "cached"};
        cr_assert_eq(hs_store_fed_devices_replace(hs.srv.store, who, &old, 1, 5, 1), 0);
    }
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_fed_resync_budget, .init = start, .fini = stop, .timeout = 60);

/* One transaction: for each user an update of stream 8 whose prev_id (7) is not where
 * the cache stands (5). Returns what is left of the transaction's budget. */
static int apply_gapped_transaction(void)
{
    int budget = HS_FED_RESYNCS_PER_TXN;
    for (int i = 0; i < N_USERS; i++) {
        char who[64];
        user_id(i, who, sizeof who);
        json_t *edu = json_pack("{ss s{ss ss sI s[I]}}", "edu_type", "m.device_list_update", "content", "user_id", who,
                                "device_id", "NEWDEV", "stream_id", (json_int_t)8, "prev_id", (json_int_t)7);
        hs_fed_edu_apply(&hs.srv, "remote.test", edu, &budget);
        json_decref(edu);
    }
    return budget;
}

typedef struct listed {
    int n;
    char first[32];
} listed;

static void collect(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    (void)keys_json;
    (void)display_name;
    listed *l = ctx;
    if (l->n++ == 0) snprintf(l->first, sizeof l->first, "%s", device_id);
}

/* hs_store_fed_devices_each's answer for user i (1: not cached), its devices in *l. */
static int cached(int i, listed *l)
{
    char who[64];
    user_id(i, who, sizeof who);
    memset(l, 0, sizeof *l);
    return hs_store_fed_devices_each(hs.srv.store, who, collect, l);
}

Test(hs_fed_resync_budget, a_transaction_fetches_at_most_its_budget_and_forgets_the_rest)
{
    int left = apply_gapped_transaction();
    cr_expect_eq(asked, HS_FED_RESYNCS_PER_TXN, "%d user/devices requests for one transaction, at most %d expected",
                 asked, HS_FED_RESYNCS_PER_TXN);
    cr_expect_eq(left, 0, "%d of the budget left", left);
    for (int i = 0; i < HS_FED_RESYNCS_PER_TXN; i++) {
        char want[32];
        snprintf(want, sizeof want, "%%40u%d%%3Aremote.test", i + 1);
        cr_expect_str_eq(asked_for[i], want, "request %d", i + 1);
        listed l;
        cr_assert_eq(cached(i, &l), 0, "u%d's list is not cached after its resync", i + 1);
        cr_expect_eq(l.n, 1, "u%d: %d devices cached", i + 1, l.n);
        cr_expect_str_eq(l.first, "FRESH", "u%d's list is not the one user/devices answered", i + 1);
    }
    for (int i = HS_FED_RESYNCS_PER_TXN; i < N_USERS; i++) {
        listed l;
        cr_expect_eq(cached(i, &l), 1, "u%d's gapped list is still cached (%d devices, first %s) past the budget",
                     i + 1, l.n, l.first);
    }
}

/* A remote that does not answer costs the budget just the same: the transaction waits
 * for at most HS_FED_RESYNCS_PER_TXN failed fetches, and every gapped list is forgotten. */
Test(hs_fed_resync_budget, failed_fetches_spend_the_budget_too)
{
    remote_fails = true;
    int left = apply_gapped_transaction();
    cr_expect_eq(asked, HS_FED_RESYNCS_PER_TXN, "%d user/devices requests for one transaction, at most %d expected",
                 asked, HS_FED_RESYNCS_PER_TXN);
    cr_expect_eq(left, 0, "%d of the budget left", left);
    for (int i = 0; i < N_USERS; i++) {
        listed l;
        cr_expect_eq(cached(i, &l), 1, "u%d's gapped list is still cached after no fetch replaced it", i + 1);
    }
}
