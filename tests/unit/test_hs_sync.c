/* /sync end to end on a real hs_server over loopback: what a client sees after an
 * initial sync and each incremental one — exactly the new events, in order; long-polls
 * that return as soon as another client sends and time out otherwise; the long-poll
 * budget; limited timelines whose prev_batch pages on through /messages; uploaded and
 * inline filters; typing, receipts (private ones only to their owner), read markers,
 * account data and presence in their sections; invites, joins and leaves; to-device
 * delivery in bounded batches with deletion once acknowledged, one-time key counts and
 * device list changes (the E2EE tables are filled directly, as their writer would). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_api_sync.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_sync.h"
#include "server-core/hs_sync_token.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;

/* Three workers and a long-poll budget of one: one worker always stays free. */
static void poll_budget(hs_config *c)
{
    c->threads = 3;
    c->max_long_polls = 1;
}

static void start(void)
{
    hs.listener_max_body = 1 << 20;
    pgt_hs_start(&hs, "example.test", poll_budget);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_sync, .init = start, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------ */

/* call(method, token, &status, body, path format, ...): one request to this suite's server. */
#define call(method, token, status, body, ...) pgt_mx_callf(hs.base, method, token, status, body, __VA_ARGS__)

/* expect_ok(j, &status): the status goes by pointer so it is read after the call that
 * makes `j` has run; decrefs `j`. */
#define expect_ok pgt_mx_check_ok

static pgt_mx_login reg(const char *user)
{
    return pgt_mx_must_register(hs.base, user, "correct horse battery");
}

static char *create_room(const pgt_mx_login *u, const char *body)
{
    return pgt_mx_create_room(hs.base, u, body);
}

static void join(const pgt_mx_login *u, const char *room)
{
    long st;
    char r[512];
    json_t *j = call("POST", u->token, &st, "{}", "/_matrix/client/v3/rooms/%s/join", pgt_mx_enc(room, r, sizeof r));
    expect_ok(j, &st);
}

static void leave(const pgt_mx_login *u, const char *room)
{
    long st;
    char r[512];
    json_t *j = call("POST", u->token, &st, "{}", "/_matrix/client/v3/rooms/%s/leave", pgt_mx_enc(room, r, sizeof r));
    expect_ok(j, &st);
}

static void invite(const pgt_mx_login *u, const char *room, const char *user_id)
{
    long st;
    char r[512], body[300];
    snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", user_id);
    json_t *j = call("POST", u->token, &st, body, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc(room, r, sizeof r));
    expect_ok(j, &st);
}

static char *send_text(const pgt_mx_login *u, const char *room, const char *text)
{
    return pgt_mx_send_text(hs.base, u, room, text);
}

/* GET /sync with an optional since token and extra query ("&timeout=..."). */
static json_t *do_sync(const pgt_mx_login *u, const char *since, const char *extra)
{
    long st;
    char s[512];
    json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v3/sync?%s%s%s", since ? "since=" : "",
                     since ? pgt_mx_enc(since, s, sizeof s) : "", extra ? extra : "");
    char *dump = json_dumps(j, 0);
    cr_assert_eq(st, 200, "sync: %ld %s", st, dump);
    free(dump);
    cr_assert(json_is_string(json_object_get(j, "next_batch")));
    return j;
}

static const char *next_batch(const json_t *j)
{
    return json_string_value(json_object_get(j, "next_batch"));
}

static json_t *joined(const json_t *j, const char *room)
{
    return json_object_get(json_object_get(json_object_get(j, "rooms"), "join"), room);
}

static json_t *timeline_events(const json_t *j, const char *room)
{
    return json_object_get(json_object_get(joined(j, room), "timeline"), "events");
}

/* The first event of `type` in a JSON array of events, or NULL. */
static json_t *find_type(const json_t *events, const char *type)
{
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) if (strcmp(json_string_value(json_object_get(e, "type")), type) == 0) return e;
    return NULL;
}

/* ---- room events ---------------------------------------------------------------------- */

Test(hs_sync, initial_then_incremental_sees_exactly_the_new_events)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\",\"name\":\"lobby\"}");
    join(&b, room);
    json_t *s0 = do_sync(&a, NULL, NULL);
    json_t *room0 = joined(s0, room);
    cr_assert_not_null(room0, "initial sync lacks the room");
    /* everything of a new room fits the default limit? create..join of bob = 8 events > 10? */
    json_t *state = json_object_get(json_object_get(room0, "state"), "events");
    json_t *tl = timeline_events(s0, room);
    cr_assert(json_array_size(tl) > 0);
    /* state + timeline together hold the room name, and no event is in both */
    cr_assert(find_type(state, "m.room.name") || find_type(tl, "m.room.name"));
    size_t i, k;
    json_t *e, *f;
    json_array_foreach(state, i, e) json_array_foreach(tl, k, f)
        cr_assert_str_neq(json_string_value(json_object_get(e, "event_id")),
                          json_string_value(json_object_get(f, "event_id")));
    json_t *summary = json_object_get(room0, "summary");
    cr_assert_eq(json_integer_value(json_object_get(summary, "m.joined_member_count")), 2);

    char *ids[3];
    ids[0] = send_text(&b, room, "one");
    ids[1] = send_text(&b, room, "two");
    ids[2] = send_text(&a, room, "three");
    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    tl = timeline_events(s1, room);
    cr_assert_eq(json_array_size(tl), 3, "incremental timeline has %zu events", json_array_size(tl));
    for (i = 0; i < 3; i++) {
        json_t *ev = json_array_get(tl, i);
        cr_assert_str_eq(json_string_value(json_object_get(ev, "event_id")), ids[i]);
        cr_assert_null(json_object_get(ev, "room_id"));
    }
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(tl, 0), "content"), "body")),
                     "one");
    /* the sending device sees its transaction ID */
    cr_assert(json_is_string(json_object_get(json_object_get(json_array_get(tl, 2), "unsigned"), "transaction_id")));
    cr_assert(json_is_false(json_object_get(json_object_get(joined(s1, room), "timeline"), "limited")));
    cr_assert_eq(json_array_size(json_object_get(json_object_get(joined(s1, room), "state"), "events")), 0);

    /* nothing new: the room is absent, and the same token again gives the same events */
    json_t *s2 = do_sync(&a, next_batch(s1), NULL);
    cr_assert_null(joined(s2, room));
    json_t *again = do_sync(&a, next_batch(s0), NULL);
    cr_assert_eq(json_array_size(timeline_events(again, room)), 3);
    /* a /messages token is a sync token too (events part) */
    cr_assert_str_eq(next_batch(s2), next_batch(s1));
    for (i = 0; i < 3; i++) free(ids[i]);
    json_decref(s0);
    json_decref(s1);
    json_decref(s2);
    json_decref(again);
    free(room);
}

Test(hs_sync, bad_tokens_and_parameters_are_400)
{
    pgt_mx_login a = reg("alice");
    long st;
    static const char *const bad[] = {"since=x1", "since=s1_2", "since=s-1", "timeout=soon", "set_presence=busy",
                                      "filter=nonsense", "filter=%7B%22room%22%3A5%7D"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/sync?%s", bad[i]);
        cr_assert_eq(st, 400, "%s gave %ld", bad[i], st);
        cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_INVALID_PARAM");
        json_decref(j);
    }
    json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/sync");
    cr_assert_eq(st, 401);
    json_decref(j);
}

/* ---- long-polling --------------------------------------------------------------------- */

typedef struct poll_arg {
    const pgt_mx_login *u;
    const char *since;
    int timeout_ms;
    json_t *result;
    long returned_ms;
} poll_arg;

static void *poll_thread(void *arg)
{
    poll_arg *p = arg;
    char path[1024], s[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/sync?since=%s&timeout=%d", pgt_mx_enc(p->since, s, sizeof s),
             p->timeout_ms);
    long st;
    p->result = pgt_mx_call(hs.base, "GET", path, p->u->token, NULL, &st);
    p->returned_ms = pgt_now_ms();
    return NULL;
}

/* Waits until `n` /sync requests are inside their long-poll wait. */
static void wait_waiting(int n)
{
    for (int i = 0; i < 500 && hs_api_sync_waiting(hs.srv.sync) != n; i++) usleep(10000);
    cr_assert_eq(hs_api_sync_waiting(hs.srv.sync), n);
}

Test(hs_sync, long_poll_returns_on_a_send_and_times_out_otherwise)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    json_t *s0 = do_sync(&a, NULL, NULL);

    /* nothing happens: the poll waits its timeout and answers with nothing new */
    long t0 = pgt_now_ms();
    json_t *idle = do_sync(&a, next_batch(s0), "&timeout=400");
    long took = pgt_now_ms() - t0;
    cr_assert(took >= 390 && took < 3000, "idle poll took %ld ms", took);
    cr_assert_null(joined(idle, room));
    json_decref(idle);

    poll_arg p = {&a, next_batch(s0), 10000, NULL, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_waiting(1);
    usleep(100 * 1000);
    char *id = send_text(&b, room, "wake up");
    long sent = pgt_now_ms();
    pthread_join(th, NULL);
    cr_assert_not_null(p.result);
    long latency = p.returned_ms - sent;
    cr_assert(latency < 1000, "the long-poll returned %ld ms after the send", latency);
    json_t *tl = timeline_events(p.result, room);
    cr_assert_eq(json_array_size(tl), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "event_id")), id);
    cr_assert_eq(hs_api_sync_waiting(hs.srv.sync), 0);
    json_decref(p.result);
    json_decref(s0);
    free(id);
    free(room);
}

Test(hs_sync, parked_long_polls_hold_no_worker_thread)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    /* bob's first sync marks him online; alice's token must come after that news */
    json_t *sb = do_sync(&b, NULL, NULL), *sa = do_sync(&a, NULL, NULL);
    enum { POLLS = 8 }; /* far more than the listener's 3 worker threads */
    poll_arg p[POLLS];
    pthread_t th[POLLS];
    for (int i = 0; i < POLLS; i++) {
        p[i] = (poll_arg){&a, next_batch(sa), 10000, NULL, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, poll_thread, &p[i]), 0);
    }
    wait_waiting(POLLS);
    /* every worker is free: other requests are answered at once */
    long t0 = pgt_now_ms(), st;
    for (int i = 0; i < 5; i++) {
        json_t *j = call("GET", NULL, &st, NULL, "/_matrix/client/versions");
        cr_assert_eq(st, 200);
        json_decref(j);
    }
    cr_assert(pgt_now_ms() - t0 < 2000, "5 requests beside %d long-polls took %ld ms", POLLS, pgt_now_ms() - t0);
    /* a parked poll of bob's with nothing new still waits its timeout */
    json_t *fresh = do_sync(&b, next_batch(sb), NULL); /* past alice's presence change */
    t0 = pgt_now_ms();
    json_t *idle = do_sync(&b, next_batch(fresh), "&timeout=300");
    json_decref(fresh);
    cr_assert(pgt_now_ms() - t0 >= 290, "bob's idle poll returned after %ld ms", pgt_now_ms() - t0);
    json_decref(idle);
    /* one send wakes all of them */
    char *id = send_text(&b, room, "hello");
    long sent = pgt_now_ms();
    for (int i = 0; i < POLLS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_not_null(p[i].result);
        cr_assert(p[i].returned_ms - sent < 1000, "poll %d returned %ld ms after the send", i,
                  p[i].returned_ms - sent);
        json_t *tl = timeline_events(p[i].result, room);
        cr_assert_eq(json_array_size(tl), 1);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "event_id")), id);
        json_decref(p[i].result);
    }
    cr_assert_eq(hs_api_sync_waiting(hs.srv.sync), 0);
    json_decref(sa);
    json_decref(sb);
    free(id);
    free(room);
}

/* A transport without deferred answers (the router called directly, as the P2P side
 * does): waiting blocks the calling thread, within the budget. */
typedef struct direct_arg {
    char target[512];
    const char *token;
    int status;
    long took_ms;
} direct_arg;

static void *direct_sync(void *arg)
{
    direct_arg *d = arg;
    char auth[300];
    snprintf(auth, sizeof auth, "Bearer %s", d->token);
    hs_kv headers[1] = {{"Authorization", auth}};
    hs_request req = {.method = "GET", .headers = headers, .n_headers = 1, .body = (const uint8_t *)"",
                      .remote_addr = "127.0.0.1"};
    hs_response resp = {0};
    long t0 = pgt_now_ms();
    if (hs_request_parse_target(&req, d->target) == 0) hs_router_dispatch(hs.srv.client_router, &req, &resp);
    d->took_ms = pgt_now_ms() - t0;
    d->status = resp.status;
    hs_request_clear(&req);
    hs_response_clear(&resp);
    return NULL;
}

Test(hs_sync, without_deferral_long_polls_stay_within_the_budget)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    json_t *sb = do_sync(&b, NULL, NULL), *sa = do_sync(&a, NULL, NULL);
    char s1[256], s2[256];
    direct_arg first = {.token = a.token}, second = {.token = b.token};
    snprintf(first.target, sizeof first.target, "/_matrix/client/v3/sync?timeout=10000&since=%s",
             pgt_mx_enc(next_batch(sa), s1, sizeof s1));
    snprintf(second.target, sizeof second.target, "/_matrix/client/v3/sync?timeout=5000&since=%s",
             pgt_mx_enc(next_batch(sb), s2, sizeof s2));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, direct_sync, &first), 0);
    wait_waiting(1); /* hs.cfg.max_long_polls = 1 */
    direct_sync(&second);
    cr_assert_eq(second.status, 200);
    cr_assert(second.took_ms < 2000, "a poll beyond the budget waited %ld ms", second.took_ms);
    char *id = send_text(&b, room, "hello");
    pthread_join(th, NULL);
    cr_assert_eq(first.status, 200);
    cr_assert(first.took_ms < 9000);
    json_decref(sa);
    json_decref(sb);
    free(id);
    free(room);
}

Test(hs_sync, shutdown_ends_a_waiting_poll)
{
    pgt_mx_login a = reg("alice");
    json_t *s0 = do_sync(&a, NULL, NULL);
    poll_arg p = {&a, next_batch(s0), 60000, NULL, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_waiting(1);
    long t0 = pgt_now_ms();
    hs_api_sync_stop(hs.srv.sync);
    pthread_join(th, NULL);
    cr_assert(pgt_now_ms() - t0 < 2000);
    cr_assert_not_null(p.result);
    json_decref(p.result);
    json_decref(s0);
}

/* ---- limited timelines ----------------------------------------------------------------- */

Test(hs_sync, limited_timeline_prev_batch_pages_through_messages)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{\"preset\":\"private_chat\"}");
    json_t *s0 = do_sync(&a, NULL, NULL);
    char *ids[15];
    for (int i = 0; i < 15; i++) {
        char text[16];
        snprintf(text, sizeof text, "m%d", i);
        ids[i] = send_text(&a, room, text);
    }
    char q[256], f[128];
    snprintf(q, sizeof q, "&filter=%s", pgt_mx_enc("{\"room\":{\"timeline\":{\"limit\":5}}}", f, sizeof f));
    json_t *s1 = do_sync(&a, next_batch(s0), q);
    json_t *tl = json_object_get(joined(s1, room), "timeline");
    json_t *events = json_object_get(tl, "events");
    cr_assert_eq(json_array_size(events), 5);
    cr_assert(json_is_true(json_object_get(tl, "limited")));
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(events, (size_t)i), "event_id")),
                         ids[10 + i]);
    /* prev_batch continues backwards exactly before the timeline */
    long st;
    char r[512], pb[128];
    json_t *m = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=10&from=%s",
                     pgt_mx_enc(room, r, sizeof r),
                     pgt_mx_enc(json_string_value(json_object_get(tl, "prev_batch")), pb, sizeof pb));
    cr_assert_eq(st, 200);
    json_t *chunk = json_object_get(m, "chunk");
    cr_assert_eq(json_array_size(chunk), 10);
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(chunk, (size_t)i), "event_id")),
                         ids[9 - i]);
    /* a sync token is accepted by /messages as well */
    json_decref(m);
    char nb[256];
    m = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=1&from=%s",
             pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(next_batch(s1), nb, sizeof nb));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(m, "chunk"), 0), "event_id")),
                     ids[14]);
    json_decref(m);
    for (int i = 0; i < 15; i++) free(ids[i]);
    json_decref(s0);
    json_decref(s1);
    free(room);
}

/* A filter that matches nothing in a long room stops after HS_SYNC_TIMELINE_SCAN_MAX
 * events and says the timeline is limited, so one /sync's work per room is bounded. */
Test(hs_sync, a_filtered_timeline_scan_stops_at_its_cap, .timeout = 300)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{\"preset\":\"private_chat\"}");
    /* through the room engine, not HTTP, to spare the CPU (each event is still a commit: ~30 s) */
    hs_room_engine e = {hs.srv.store, hs.srv.cfg.server_name, &hs.srv.signing_key, hs.srv.cfg.default_room_version,
                        hs.srv.notifier};
    json_t *content = json_pack("{ssss}", "msgtype", "m.text", "body", "x");
    for (int i = 0; i < HS_SYNC_TIMELINE_SCAN_MAX; i++) {
        hs_room_result res;
        cr_assert_eq(hs_room_send(&e, room, a.user_id, "m.room.message", NULL, content, NULL, pgt_now_ms(), NULL, &res),
                     HS_ROOM_OK);
    }
    json_decref(content);
    char q[512], f[256];
    snprintf(q, sizeof q, "filter=%s", pgt_mx_enc("{\"room\":{\"timeline\":{\"types\":[\"org.none\"]}}}", f, sizeof f));
    json_t *s = do_sync(&a, NULL, q);
    json_t *tl = json_object_get(joined(s, room), "timeline");
    cr_assert_eq(json_array_size(json_object_get(tl, "events")), 0);
    cr_assert(json_is_true(json_object_get(tl, "limited")), "the scan went past its cap");
    json_decref(s);
    free(room);
}

/* ---- filters -------------------------------------------------------------------------- */

Test(hs_sync, uploaded_and_inline_filters_select_events)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\",\"name\":\"one\"}");
    char *other = create_room(&a, "{\"preset\":\"public_chat\",\"name\":\"two\"}");
    join(&b, room);
    long st;
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/user/%s/filter", a.user_id);
    json_t *j = call("POST", a.token, &st, "{\"room\":{\"timeline\":{\"types\":[\"m.room.mess*\"],"
                                           "\"not_senders\":[\"@bob:example.test\"]},\"state\":{\"types\":[]}}}",
                     "%s", path);
    cr_assert_eq(st, 200);
    char fid[32];
    snprintf(fid, sizeof fid, "%s", json_string_value(json_object_get(j, "filter_id")));
    json_decref(j);
    j = call("GET", a.token, &st, NULL, "%s/%s", path, fid);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(json_object_get(j, "room"), "timeline"), "types"), 0)),
                     "m.room.mess*");
    json_decref(j);
    /* another user cannot read it; unknown IDs are 404 */
    j = call("GET", b.token, &st, NULL, "%s/%s", path, fid);
    cr_assert_eq(st, 403);
    json_decref(j);
    j = call("GET", a.token, &st, NULL, "%s/999", path);
    cr_assert_eq(st, 404);
    json_decref(j);
    j = call("POST", a.token, &st, "{\"room\":{\"timeline\":{\"limit\":0}}}", "%s", path);
    cr_assert_eq(st, 400);
    json_decref(j);
    /* uploading the same filter again (as clients do at every start) gives its ID back
     * instead of another row; a different one gets a new ID */
    j = call("POST", a.token, &st, "{\"room\":{\"timeline\":{\"types\":[\"m.room.mess*\"],"
                                   "\"not_senders\":[\"@bob:example.test\"]},\"state\":{\"types\":[]}}}",
             "%s", path);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "filter_id")), fid, "a second row for the same filter");
    json_decref(j);
    j = call("POST", a.token, &st, "{\"room\":{\"timeline\":{\"limit\":3}}}", "%s", path);
    cr_assert_eq(st, 200);
    cr_assert_str_neq(json_string_value(json_object_get(j, "filter_id")), fid);
    json_decref(j);

    char *mine = send_text(&a, room, "from alice");
    char *his = send_text(&b, room, "from bob");
    char q[128];
    snprintf(q, sizeof q, "filter=%s", fid);
    json_t *s = do_sync(&a, NULL, q);
    json_t *tl = timeline_events(s, room);
    cr_assert_eq(json_array_size(tl), 1, "filtered timeline has %zu events", json_array_size(tl));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "event_id")), mine);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(joined(s, room), "state"), "events")), 0);
    json_decref(s);

    /* inline: only the second room, only bob's */
    char f[512], fq[700];
    snprintf(f, sizeof f, "{\"room\":{\"rooms\":[\"%s\"],\"timeline\":{\"senders\":[\"%s\"]}}}", room, b.user_id);
    snprintf(fq, sizeof fq, "filter=%s", pgt_mx_enc(f, path, sizeof path));
    s = do_sync(&a, NULL, fq);
    cr_assert_null(joined(s, other));
    tl = timeline_events(s, room);
    cr_assert(json_array_size(tl) >= 1);
    size_t i;
    json_t *e;
    json_array_foreach(tl, i, e) cr_assert_str_eq(json_string_value(json_object_get(e, "sender")), b.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, json_array_size(tl) - 1), "event_id")), his);
    json_decref(s);

    /* lazy loading: only members who sent timeline events (and ourselves) */
    snprintf(f, sizeof f, "{\"room\":{\"timeline\":{\"limit\":1},\"state\":{\"lazy_load_members\":true}}}");
    snprintf(fq, sizeof fq, "filter=%s", pgt_mx_enc(f, path, sizeof path));
    s = do_sync(&b, NULL, fq);
    json_t *state = json_object_get(json_object_get(joined(s, room), "state"), "events");
    json_array_foreach(state, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "type")), "m.room.member") == 0)
            cr_assert_str_eq(json_string_value(json_object_get(e, "state_key")), b.user_id,
                             "lazy loading sent another member");
    }
    cr_assert_not_null(find_type(state, "m.room.create"));
    json_decref(s);
    free(mine);
    free(his);
    free(room);
    free(other);
}

/* ---- ephemeral and per-user data -------------------------------------------------------- */

static json_t *ephemeral(const json_t *s, const char *room, const char *type)
{
    return find_type(json_object_get(json_object_get(joined(s, room), "ephemeral"), "events"), type);
}

Test(hs_sync, typing_receipts_markers_and_account_data)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    char *ev = send_text(&a, room, "read me");
    json_t *s0 = do_sync(&a, NULL, NULL);
    long st;
    char r[512], u[256], e[512];
    pgt_mx_enc(room, r, sizeof r);
    pgt_mx_enc(b.user_id, u, sizeof u);
    pgt_mx_enc(ev, e, sizeof e);

    expect_ok(call("PUT", b.token, &st, "{\"typing\":true,\"timeout\":30000}",
                   "/_matrix/client/v3/rooms/%s/typing/%s", r, u), &st);
    json_t *j = call("PUT", a.token, &st, "{\"typing\":true}", "/_matrix/client/v3/rooms/%s/typing/%s", r, u);
    cr_assert_eq(st, 403, "typing for someone else");
    json_decref(j);
    expect_ok(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.read/%s", r, e), &st);
    expect_ok(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.read.private/%s", r, e), &st);
    j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.read/%s", r, "%24nope");
    cr_assert_eq(st, 404);
    json_decref(j);
    j = call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.liked/%s", r, e);
    cr_assert_eq(st, 400);
    json_decref(j);

    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    json_t *typing = ephemeral(s1, room, "m.typing");
    cr_assert_not_null(typing);
    json_t *ids = json_object_get(json_object_get(typing, "content"), "user_ids");
    cr_assert_eq(json_array_size(ids), 1);
    cr_assert_str_eq(json_string_value(json_array_get(ids, 0)), b.user_id);
    json_t *receipt = ephemeral(s1, room, "m.receipt");
    cr_assert_not_null(receipt);
    json_t *by_ev = json_object_get(json_object_get(receipt, "content"), ev);
    cr_assert(json_is_integer(json_object_get(json_object_get(json_object_get(by_ev, "m.read"), b.user_id), "ts")));
    cr_assert_null(json_object_get(by_ev, "m.read.private"), "alice saw bob's private receipt");
    /* bob sees his own private receipt */
    json_t *sb = do_sync(&b, NULL, NULL);
    by_ev = json_object_get(json_object_get(ephemeral(sb, room, "m.receipt"), "content"), ev);
    cr_assert_not_null(json_object_get(json_object_get(by_ev, "m.read.private"), b.user_id));
    json_decref(sb);

    /* stop typing: the next sync says nobody types */
    expect_ok(call("PUT", b.token, &st, "{\"typing\":false}", "/_matrix/client/v3/rooms/%s/typing/%s", r, u), &st);
    json_t *s2 = do_sync(&a, next_batch(s1), NULL);
    typing = ephemeral(s2, room, "m.typing");
    cr_assert_not_null(typing);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(typing, "content"), "user_ids")), 0);
    cr_assert_null(ephemeral(s2, room, "m.receipt"), "old receipts sent again");

    /* account data, global and per room; read markers */
    char au[256];
    pgt_mx_enc(a.user_id, au, sizeof au);
    expect_ok(call("PUT", a.token, &st, "{\"theme\":\"dark\"}", "/_matrix/client/v3/user/%s/account_data/org.x.s", au),
              &st);
    expect_ok(call("PUT", a.token, &st, "{\"tags\":{\"u.work\":{}}}",
                   "/_matrix/client/v3/user/%s/rooms/%s/account_data/m.tag", au, r), &st);
    j = call("PUT", a.token, &st, "{}", "/_matrix/client/v3/user/%s/rooms/%s/account_data/m.fully_read", au, r);
    cr_assert_eq(st, 405);
    json_decref(j);
    j = call("PUT", b.token, &st, "{}", "/_matrix/client/v3/user/%s/account_data/org.x.s", au);
    cr_assert_eq(st, 403);
    json_decref(j);
    char body[600];
    snprintf(body, sizeof body, "{\"m.fully_read\":\"%s\",\"m.read\":\"%s\"}", ev, ev);
    expect_ok(call("POST", a.token, &st, body, "/_matrix/client/v3/rooms/%s/read_markers", r), &st);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/user/%s/account_data/org.x.s", au);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "theme")), "dark");
    json_decref(j);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/user/%s/account_data/org.x.none", au);
    cr_assert_eq(st, 404);
    json_decref(j);

    json_t *s3 = do_sync(&a, next_batch(s2), NULL);
    json_t *global = find_type(json_object_get(json_object_get(s3, "account_data"), "events"), "org.x.s");
    cr_assert_not_null(global);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(global, "content"), "theme")), "dark");
    json_t *room_ad = json_object_get(json_object_get(joined(s3, room), "account_data"), "events");
    cr_assert_not_null(find_type(room_ad, "m.tag"));
    json_t *fr = find_type(room_ad, "m.fully_read");
    cr_assert_not_null(fr);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(fr, "content"), "event_id")), ev);
    cr_assert_not_null(ephemeral(s3, room, "m.receipt"), "alice's own m.read is missing");
    /* the account data filter drops types */
    char f[128], q[256];
    snprintf(q, sizeof q, "filter=%s", pgt_mx_enc("{\"account_data\":{\"not_types\":[\"org.x.*\"]}}", f, sizeof f));
    json_t *s4 = do_sync(&a, NULL, q);
    cr_assert_null(find_type(json_object_get(json_object_get(s4, "account_data"), "events"), "org.x.s"));
    json_decref(s4);

    json_decref(s0);
    json_decref(s1);
    json_decref(s2);
    json_decref(s3);
    free(ev);
    free(room);
}

Test(hs_sync, presence_is_stored_and_streamed_to_room_members)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    json_t *s0 = do_sync(&a, NULL, "set_presence=offline");
    long st;
    char u[256];
    pgt_mx_enc(b.user_id, u, sizeof u);
    expect_ok(call("PUT", b.token, &st, "{\"presence\":\"unavailable\",\"status_msg\":\"lunch\"}",
                   "/_matrix/client/v3/presence/%s/status", u), &st);
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/presence/%s/status", u);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "presence")), "unavailable");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status_msg")), "lunch");
    json_decref(j);
    j = call("GET", c.token, &st, NULL, "/_matrix/client/v3/presence/%s/status", u);
    cr_assert_eq(st, 403, "a stranger read presence");
    json_decref(j);
    j = call("PUT", b.token, &st, "{\"presence\":\"asleep\"}", "/_matrix/client/v3/presence/%s/status", u);
    cr_assert_eq(st, 400);
    json_decref(j);
    json_t *s1 = do_sync(&a, next_batch(s0), "&set_presence=offline");
    json_t *p = find_type(json_object_get(json_object_get(s1, "presence"), "events"), "m.presence");
    cr_assert_not_null(p);
    cr_assert_str_eq(json_string_value(json_object_get(p, "sender")), b.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "content"), "status_msg")), "lunch");
    /* carol shares no room with bob: she never sees him */
    json_t *sc = do_sync(&c, NULL, NULL);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(json_object_get(sc, "presence"), "events"), i, e)
        cr_assert_str_neq(json_string_value(json_object_get(e, "sender")), b.user_id);
    json_decref(sc);
    json_decref(s0);
    json_decref(s1);
    free(room);
}

/* ---- invites and leaves ---------------------------------------------------------------- */

Test(hs_sync, invite_join_and_leave_move_the_room_between_sections)
{
    pgt_mx_login a = reg("alice"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"private_chat\",\"name\":\"secret\"}");
    json_t *s0 = do_sync(&c, NULL, NULL);
    invite(&a, room, c.user_id);

    json_t *s1 = do_sync(&c, next_batch(s0), NULL);
    json_t *inv = json_object_get(json_object_get(json_object_get(s1, "rooms"), "invite"), room);
    cr_assert_not_null(inv, "the invite is missing");
    json_t *istate = json_object_get(json_object_get(inv, "invite_state"), "events");
    json_t *name = find_type(istate, "m.room.name");
    cr_assert_not_null(name);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(name, "content"), "name")), "secret");
    size_t i;
    json_t *e;
    bool me_invited = false;
    json_array_foreach(istate, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "type")), "m.room.member") == 0 &&
            strcmp(json_string_value(json_object_get(e, "state_key")), c.user_id) == 0)
            me_invited = strcmp(json_string_value(json_object_get(json_object_get(e, "content"), "membership")),
                                "invite") == 0;
    }
    cr_assert(me_invited);
    cr_assert_null(joined(s1, room));

    join(&c, room);
    json_t *s2 = do_sync(&c, next_batch(s1), NULL);
    json_t *jr = joined(s2, room);
    cr_assert_not_null(jr, "the joined room is missing");
    cr_assert_null(json_object_get(json_object_get(json_object_get(s2, "rooms"), "invite"), room));
    /* newly joined: the whole state is there */
    json_t *all = json_object_get(json_object_get(jr, "state"), "events");
    cr_assert(find_type(all, "m.room.create") || find_type(timeline_events(s2, room), "m.room.create"));

    char *msg = send_text(&a, room, "bye?");
    leave(&c, room);
    char *after = send_text(&a, room, "after carol left");
    json_t *s3 = do_sync(&c, next_batch(s2), NULL);
    json_t *left = json_object_get(json_object_get(json_object_get(s3, "rooms"), "leave"), room);
    cr_assert_not_null(left, "the left room is missing");
    json_t *tl = json_object_get(json_object_get(left, "timeline"), "events");
    cr_assert_eq(json_array_size(tl), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "event_id")), msg);
    json_t *last = json_array_get(tl, 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(last, "content"), "membership")), "leave");
    cr_assert_null(joined(s3, room));
    /* later: nothing more about the room, and not the message sent after leaving */
    json_t *s4 = do_sync(&c, next_batch(s3), NULL);
    cr_assert_null(json_object_get(json_object_get(json_object_get(s4, "rooms"), "leave"), room));
    /* an initial sync shows left rooms only with include_leave */
    json_t *s5 = do_sync(&c, NULL, NULL);
    cr_assert_null(json_object_get(json_object_get(json_object_get(s5, "rooms"), "leave"), room));
    char f[128], q[256];
    snprintf(q, sizeof q, "filter=%s", pgt_mx_enc("{\"room\":{\"include_leave\":true}}", f, sizeof f));
    json_t *s6 = do_sync(&c, NULL, q);
    cr_assert_not_null(json_object_get(json_object_get(json_object_get(s6, "rooms"), "leave"), room));
    json_t *s7 = do_sync(&a, NULL, NULL);
    cr_assert(json_object_get(json_object_get(joined(s7, room), "summary"), "m.joined_member_count"));
    json_decref(s0);
    json_decref(s1);
    json_decref(s2);
    json_decref(s3);
    json_decref(s4);
    json_decref(s5);
    json_decref(s6);
    json_decref(s7);
    free(msg);
    free(after);
    free(room);
}

/* ---- E2EE streams ----------------------------------------------------------------------- */

static void sql(const char *stmt)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(hs.cfg.database_path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *e = NULL;
    cr_assert_eq(sqlite3_exec(db, stmt, NULL, NULL, &e), SQLITE_OK, "%s: %s", stmt, e ? e : "");
    sqlite3_close(db);
}

static long count_rows(const char *query)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(hs.cfg.database_path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

Test(hs_sync, to_device_batches_are_deleted_once_acknowledged)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char stmt[1024];
    for (int i = 0; i < 150; i++) {
        snprintf(stmt, sizeof stmt,
                 "INSERT INTO to_device_inbox (user_id, device_id, sender, type, content) VALUES"
                 " ('%s', '%s', '%s', 'm.test', '{\"n\":%d}')",
                 a.user_id, a.device_id, b.user_id, i);
        sql(stmt);
    }
    snprintf(stmt, sizeof stmt,
             "INSERT INTO to_device_inbox (user_id, device_id, sender, type, content) VALUES"
             " ('%s', 'OTHERDEVICE', '%s', 'm.test', '{}')",
             a.user_id, b.user_id);
    sql(stmt);
    json_t *s0 = do_sync(&a, NULL, NULL);
    json_t *td = json_object_get(json_object_get(s0, "to_device"), "events");
    cr_assert_eq(json_array_size(td), 100);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_array_get(td, 0), "content"), "n")), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(td, 0), "sender")), b.user_id);
    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    td = json_object_get(json_object_get(s1, "to_device"), "events");
    cr_assert_eq(json_array_size(td), 50);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_array_get(td, 0), "content"), "n")), 100);
    snprintf(stmt, sizeof stmt, "SELECT COUNT(*) FROM to_device_inbox WHERE device_id = '%s'", a.device_id);
    cr_assert_eq(count_rows(stmt), 50, "the acknowledged first batch was not deleted");
    /* retrying the same token gives the same batch again (not yet acknowledged) */
    json_t *again = do_sync(&a, next_batch(s0), NULL);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(again, "to_device"), "events")), 50);
    json_t *s2 = do_sync(&a, next_batch(s1), NULL);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(s2, "to_device"), "events")), 0);
    cr_assert_eq(count_rows(stmt), 0);
    cr_assert_eq(count_rows("SELECT COUNT(*) FROM to_device_inbox WHERE device_id = 'OTHERDEVICE'"), 1);
    /* once every row is acknowledged and gone, the to-device position must not go back */
    sql("DELETE FROM to_device_inbox");
    json_t *s3 = do_sync(&a, next_batch(s2), NULL);
    hs_sync_pos p2, p3;
    cr_assert_eq(hs_sync_token_parse(next_batch(s2), &p2), 0);
    cr_assert_eq(hs_sync_token_parse(next_batch(s3), &p3), 0);
    cr_assert_geq(p3.to_device, p2.to_device, "the token went backwards: %s -> %s", next_batch(s2), next_batch(s3));
    json_decref(s3);
    json_decref(s0);
    json_decref(s1);
    json_decref(again);
    json_decref(s2);
}

Test(hs_sync, one_user_keeps_a_bounded_number_of_threaded_receipts)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    char *ev = send_text(&a, room, "threads");
    long st;
    char r[512], e[512], body[64];
    pgt_mx_enc(room, r, sizeof r);
    pgt_mx_enc(ev, e, sizeof e);
    expect_ok(call("POST", b.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.read/%s", r, e), &st);
    for (int i = 0; i < HS_STORE_RECEIPT_THREADS_MAX + 3; i++) {
        snprintf(body, sizeof body, "{\"thread_id\":\"t%d\"}", i);
        expect_ok(call("POST", b.token, &st, body, "/_matrix/client/v3/rooms/%s/receipt/m.read/%s", r, e), &st);
    }
    char q[512];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM receipts WHERE user_id = '%s' AND thread_id != ''", b.user_id);
    cr_assert_eq(count_rows(q), HS_STORE_RECEIPT_THREADS_MAX, "threaded receipts were not capped");
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM receipts WHERE user_id = '%s' AND thread_id IN ('t0', 't1', 't2')",
             b.user_id);
    cr_assert_eq(count_rows(q), 0, "the oldest threads were kept");
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM receipts WHERE user_id = '%s' AND thread_id IN ('', 't%d')", b.user_id,
             HS_STORE_RECEIPT_THREADS_MAX + 2);
    cr_assert_eq(count_rows(q), 2, "the unthreaded or the newest receipt was dropped");
    /* what alice's sync shows of bob on that event is his newest receipt */
    json_t *s0 = do_sync(&a, NULL, NULL);
    json_t *mine = json_object_get(
        json_object_get(json_object_get(json_object_get(ephemeral(s0, room, "m.receipt"), "content"), ev), "m.read"),
        b.user_id);
    char want[16];
    snprintf(want, sizeof want, "t%d", HS_STORE_RECEIPT_THREADS_MAX + 2);
    cr_assert_str_eq(json_string_value(json_object_get(mine, "thread_id")), want);
    json_decref(s0);
    free(ev);
    free(room);
}

Test(hs_sync, key_counts_and_device_list_changes)
{
    pgt_mx_login a = reg("alice"), b = reg("bob"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    json_t *s0 = do_sync(&a, NULL, NULL);
    char stmt[1024];
    for (int i = 0; i < 3; i++) {
        snprintf(stmt, sizeof stmt,
                 "INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, key_json) VALUES"
                 " ('%s', '%s', 'signed_curve25519', 'k%d', '{}')",
                 a.user_id, a.device_id, i);
        sql(stmt);
    }
    snprintf(stmt, sizeof stmt,
             "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES"
             " ('%s', '%s', 'signed_curve25519', 'f1', '{}', 0);"
             "INSERT INTO device_list_changes (user_id) VALUES ('%s');"
             "INSERT INTO device_list_changes (user_id) VALUES ('%s');",
             a.user_id, a.device_id, b.user_id, c.user_id);
    sql(stmt);
    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(s1, "device_one_time_keys_count"),
                                                    "signed_curve25519")),
                 3);
    json_t *fb = json_object_get(s1, "device_unused_fallback_key_types");
    cr_assert_eq(json_array_size(fb), 1);
    cr_assert_str_eq(json_string_value(json_array_get(fb, 0)), "signed_curve25519");
    json_t *changed = json_object_get(json_object_get(s1, "device_lists"), "changed");
    cr_assert_eq(json_array_size(changed), 1, "carol shares no room with alice");
    cr_assert_str_eq(json_string_value(json_array_get(changed, 0)), b.user_id);

    /* carol joins: alice must fetch her devices; bob leaves: alice may forget his */
    join(&c, room);
    leave(&b, room);
    json_t *s2 = do_sync(&a, next_batch(s1), NULL);
    json_t *dl = json_object_get(s2, "device_lists");
    changed = json_object_get(dl, "changed");
    json_t *left = json_object_get(dl, "left");
    cr_assert_eq(json_array_size(changed), 1);
    cr_assert_str_eq(json_string_value(json_array_get(changed, 0)), c.user_id);
    cr_assert_eq(json_array_size(left), 1);
    cr_assert_str_eq(json_string_value(json_array_get(left, 0)), b.user_id);
    json_decref(s0);
    json_decref(s1);
    json_decref(s2);
    free(room);
}

/* ---- state at the start of the timeline -------------------------------------------------- */

static void set_name(const pgt_mx_login *u, const char *room, const char *name)
{
    long st;
    char r[512], body[128];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    json_t *j = call("PUT", u->token, &st, body, "/_matrix/client/v3/rooms/%s/state/m.room.name",
                     pgt_mx_enc(room, r, sizeof r));
    expect_ok(j, &st);
}

/* The room name the state section of a joined room says. */
static const char *state_name(const json_t *s, const char *room)
{
    json_t *ev = find_type(json_object_get(json_object_get(joined(s, room), "state"), "events"), "m.room.name");
    return ev ? json_string_value(json_object_get(json_object_get(ev, "content"), "name")) : NULL;
}

Test(hs_sync, state_is_the_state_at_the_start_of_the_timeline)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{\"preset\":\"private_chat\",\"name\":\"A\"}");
    set_name(&a, room, "B");
    for (int i = 0; i < 3; i++) free(send_text(&a, room, "x"));
    set_name(&a, room, "C"); /* inside the timeline below */
    free(send_text(&a, room, "y"));
    char f[128], q[256];
    snprintf(q, sizeof q, "filter=%s", pgt_mx_enc("{\"room\":{\"timeline\":{\"limit\":3}}}", f, sizeof f));
    json_t *s0 = do_sync(&a, NULL, q);
    json_t *tl = timeline_events(s0, room);
    cr_assert_eq(json_array_size(tl), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 1), "type")), "m.room.name");
    /* the client replays the timeline on top of the state: state must say B, not C */
    cr_assert_str_eq(state_name(s0, room), "B");

    /* a gap with a name change: it arrives in the state section */
    set_name(&a, room, "D");
    for (int i = 0; i < 3; i++) free(send_text(&a, room, "z"));
    snprintf(q, sizeof q, "&filter=%s", pgt_mx_enc("{\"room\":{\"timeline\":{\"limit\":2}}}", f, sizeof f));
    json_t *s1 = do_sync(&a, next_batch(s0), q);
    cr_assert(json_is_true(json_object_get(json_object_get(joined(s1, room), "timeline"), "limited")));
    cr_assert_str_eq(state_name(s1, room), "D");
    json_t *state = json_object_get(json_object_get(joined(s1, room), "state"), "events");
    cr_assert_eq(json_array_size(state), 1, "only the changed entry: %zu", json_array_size(state));
    json_decref(s0);
    json_decref(s1);
    free(room);
}

Test(hs_sync, a_rejected_invite_shows_only_the_leave)
{
    pgt_mx_login a = reg("alice"), c = reg("carol");
    char *room = create_room(&a, "{\"preset\":\"private_chat\",\"name\":\"secret\"}");
    json_t *s0 = do_sync(&c, NULL, NULL);
    invite(&a, room, c.user_id);
    free(send_text(&a, room, "private talk"));
    leave(&c, room);
    json_t *s1 = do_sync(&c, next_batch(s0), NULL);
    json_t *left = json_object_get(json_object_get(json_object_get(s1, "rooms"), "leave"), room);
    cr_assert_not_null(left);
    json_t *tl = json_object_get(json_object_get(left, "timeline"), "events");
    cr_assert_eq(json_array_size(tl), 1, "carol saw %zu events of a room she never joined", json_array_size(tl));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(tl, 0), "content"), "membership")),
                     "leave");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(left, "state"), "events")), 0);
    json_decref(s0);
    json_decref(s1);
    free(room);
}

Test(hs_sync, a_display_name_change_does_not_resend_the_state)
{
    pgt_mx_login a = reg("alice");
    char *room = create_room(&a, "{\"preset\":\"private_chat\",\"name\":\"A\"}");
    json_t *s0 = do_sync(&a, NULL, NULL);
    long st;
    char u[256];
    expect_ok(call("PUT", a.token, &st, "{\"displayname\":\"Alice\"}", "/_matrix/client/v3/profile/%s/displayname",
                   pgt_mx_enc(a.user_id, u, sizeof u)),
              &st);
    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    cr_assert_not_null(joined(s1, room));
    cr_assert_eq(json_array_size(json_object_get(json_object_get(joined(s1, room), "state"), "events")), 0);
    cr_assert_eq(json_array_size(timeline_events(s1, room)), 1);
    json_decref(s0);
    json_decref(s1);
    free(room);
}

Test(hs_sync, a_typing_notice_expiring_wakes_a_parked_poll)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    json_t *sb = do_sync(&b, NULL, NULL);
    long st;
    char r[512], u[256];
    expect_ok(call("PUT", b.token, &st, "{\"typing\":true,\"timeout\":400}", "/_matrix/client/v3/rooms/%s/typing/%s",
                   pgt_mx_enc(room, r, sizeof r), pgt_mx_enc(b.user_id, u, sizeof u)),
              &st);
    json_t *s0 = do_sync(&a, NULL, NULL);
    json_t *ids = json_object_get(json_object_get(ephemeral(s0, room, "m.typing"), "content"), "user_ids");
    cr_assert_eq(json_array_size(ids), 1);
    /* nothing is written when the notice times out: only the deadline can wake the poll */
    long t0 = pgt_now_ms();
    json_t *s1 = do_sync(&a, next_batch(s0), "&timeout=5000");
    long took = pgt_now_ms() - t0;
    cr_assert(took < 2500, "the expiry was noticed after %ld ms", took);
    json_t *typing = ephemeral(s1, room, "m.typing");
    cr_assert_not_null(typing, "no m.typing after the expiry");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(typing, "content"), "user_ids")), 0);
    json_decref(sb);
    json_decref(s0);
    json_decref(s1);
    free(room);
}

/* ---- shutdown and restart ------------------------------------------------------------------ */

Test(hs_sync, closing_the_server_answers_parked_polls_and_a_token_survives_a_restart)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    char *room = create_room(&a, "{\"preset\":\"public_chat\"}");
    join(&b, room);
    char *before = send_text(&b, room, "before");
    json_t *s0 = do_sync(&a, NULL, NULL);
    poll_arg p = {&a, next_batch(s0), 60000, NULL, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poll_thread, &p), 0);
    wait_waiting(1);
    long t0 = pgt_now_ms();
    hs_server_close(&hs.srv); /* libmicrohttpd must not stop with the poll still parked */
    cr_assert(pgt_now_ms() - t0 < 3000, "closing took %ld ms", pgt_now_ms() - t0);
    pthread_join(th, NULL);
    cr_assert_not_null(p.result, "the parked poll got no answer");
    char token[HS_SYNC_TOKEN_MAX];
    snprintf(token, sizeof token, "%s", next_batch(p.result));
    json_decref(p.result);

    pgt_hs_reopen(&hs);
    char *after = send_text(&b, room, "after the restart");
    json_t *s1 = do_sync(&a, token, NULL);
    json_t *tl = timeline_events(s1, room);
    cr_assert_eq(json_array_size(tl), 1, "resuming gave %zu events", json_array_size(tl));
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tl, 0), "event_id")), after);
    json_t *s2 = do_sync(&a, next_batch(s1), NULL);
    cr_assert_null(joined(s2, room), "events came twice");
    json_decref(s0);
    json_decref(s1);
    json_decref(s2);
    free(before);
    free(after);
    free(room);
}

Test(hs_sync, the_first_sync_carries_the_default_push_rules)
{
    pgt_mx_login a = reg("alice");
    json_t *s0 = do_sync(&a, NULL, NULL);
    json_t *events = json_object_get(json_object_get(s0, "account_data"), "events");
    json_t *rules = NULL;
    for (size_t i = 0; i < json_array_size(events); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(events, i), "type")), "m.push_rules") == 0)
            rules = json_object_get(json_array_get(events, i), "content");
    cr_assert_not_null(rules, "no m.push_rules in the initial sync");
    json_t *override = json_object_get(json_object_get(rules, "global"), "override");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(override, 0), "rule_id")), ".m.rule.master");
    json_t *s1 = do_sync(&a, next_batch(s0), NULL);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(s1, "account_data"), "events")), 0,
                 "an incremental sync does not repeat unchanged rules");
    json_decref(s0);
    json_decref(s1);
}

/* ---- response size caps ----------------------------------------------------------- */

#define CAP_ROOM_EVENTS 5
#define CAP_EVENTS 100
#define CAP_ROOMS 12

static void small_caps(hs_config *c)
{
    c->sync_max_timeline_events = CAP_ROOM_EVENTS;
    c->sync_max_events = CAP_EVENTS;
}

static void caps_start(void)
{
    pgt_hs_start(&hs, "example.test", small_caps);
}

TestSuite(hs_sync_caps, .init = caps_start, .fini = stop, .timeout = 120);

/* limits.sync_max_timeline_events cuts every room's timeline whatever the filter asks,
 * and limits.sync_max_events bounds the events of one response: once the rooms built
 * first have used it up, the other rooms still appear (with their state) but with an
 * empty, limited timeline whose prev_batch pages back to their newest message. The next
 * incremental sync is within the budget and carries exactly the new messages. */
Test(hs_sync_caps, timelines_and_responses_are_bounded)
{
    pgt_mx_login a = reg("alice");
    char *rooms[CAP_ROOMS], *last[CAP_ROOMS];
    for (int r = 0; r < CAP_ROOMS; r++) {
        rooms[r] = create_room(&a, "{\"preset\":\"private_chat\"}");
        last[r] = NULL;
        for (int i = 0; i < 10; i++) {
            free(last[r]);
            last[r] = send_text(&a, rooms[r], "hello");
        }
    }
    char q[256], f[128];
    snprintf(q, sizeof q, "&filter=%s", pgt_mx_enc("{\"room\":{\"timeline\":{\"limit\":50}}}", f, sizeof f));
    json_t *s0 = do_sync(&a, NULL, q);
    size_t timeline_total = 0, starved = 0;
    for (int r = 0; r < CAP_ROOMS; r++) {
        json_t *room = joined(s0, rooms[r]);
        cr_assert_not_null(room, "room %d is missing from the initial sync", r);
        json_t *tl = json_object_get(room, "timeline");
        size_t n = json_array_size(json_object_get(tl, "events"));
        cr_assert_leq(n, CAP_ROOM_EVENTS, "room %d has %zu timeline events", r, n);
        cr_assert(json_is_true(json_object_get(tl, "limited")), "room %d: its older events were cut", r);
        cr_assert(find_type(json_object_get(json_object_get(room, "state"), "events"), "m.room.create") ||
                      find_type(json_object_get(tl, "events"), "m.room.create"),
                  "room %d lacks its state", r);
        timeline_total += n;
        if (n > 0) continue;
        starved++;
        /* The empty timeline pages back to the room's newest message. */
        long st;
        char e[512], pb[128];
        json_t *m = call("GET", a.token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=1&from=%s",
                         pgt_mx_enc(rooms[r], e, sizeof e),
                         pgt_mx_enc(json_string_value(json_object_get(tl, "prev_batch")), pb, sizeof pb));
        cr_assert_eq(st, 200);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(m, "chunk"), 0), "event_id")),
                         last[r]);
        json_decref(m);
    }
    cr_assert_leq(timeline_total, CAP_EVENTS);
    cr_assert_gt(starved, 0, "the budget of %d events should run out before %d rooms", CAP_EVENTS, CAP_ROOMS);

    for (int r = 0; r < CAP_ROOMS; r++) {
        free(last[r]);
        last[r] = send_text(&a, rooms[r], "again");
    }
    json_t *s1 = do_sync(&a, next_batch(s0), q);
    for (int r = 0; r < CAP_ROOMS; r++) {
        json_t *events = timeline_events(s1, rooms[r]);
        cr_assert_eq(json_array_size(events), 1, "room %d: %zu new events", r, json_array_size(events));
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(events, 0), "event_id")), last[r]);
        free(last[r]);
        free(rooms[r]);
    }
    json_decref(s0);
    json_decref(s1);
}
