/* The client extras end to end over HTTP on a real server: room tags (and that /sync
 * delivers them as m.tag account data), the fixed answers clients ask for at startup
 * (turnServer unconfigured and with TURN REST credentials, thirdparty protocols,
 * 3PIDs), notifications from the push rules evaluated over the caller's rooms (highlight,
 * read, paging), OpenID tokens checked through the federation userinfo endpoint, event
 * reports and their admin list, timestamp_to_event in both directions (served by the
 * rooms module; checked here as clients meet it), knocking and the space hierarchy -
 * each with the spec's errors. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_hmac_sha1.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;
static pgt_mx_login alice, bob;

static void start(void)
{
    pgt_hs_start(&hs, "extras.test", NULL);
    cr_assert_eq(pgt_mx_register(hs.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(hs.base, "bob", "pw-bob-1", &bob), 0);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_extras, .init = start, .fini = stop, .timeout = 60);

static json_t *call(const char *method, const char *token, const char *path, const char *body, long want)
{
    return pgt_mx_expect(hs.base, method, path, token, body, want);
}

static void expect_error(const char *method, const char *token, const char *path, const char *body, long status,
                         const char *errcode)
{
    json_t *j = call(method, token, path, body, status);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), errcode, "%s %s", method, path);
    json_decref(j);
}

static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char bufs[4][1024];
    static int i;
    char *b = bufs[i++ % 4];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, 1024, f, ap);
    va_end(ap);
    return b;
}

static char *create_room(const pgt_mx_login *who, const char *body)
{
    return pgt_mx_create_room(hs.base, who, body);
}

static char *send_text(const pgt_mx_login *who, const char *room, const char *text)
{
    return pgt_mx_send_text(hs.base, who, room, text);
}

/* The m.tag content of the room in an initial /sync of `who`, NULL when absent. */
static json_t *synced_tags(const pgt_mx_login *who, const char *room)
{
    json_t *s = call("GET", who->token, "/_matrix/client/v3/sync", NULL, 200);
    json_t *events = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(s, "rooms"), "join"), room), "account_data"),
        "events");
    json_t *found = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "m.tag") == 0)
            found = json_deep_copy(json_object_get(json_object_get(ev, "content"), "tags"));
    }
    json_decref(s);
    return found;
}

Test(hs_extras, tags_put_get_delete_and_sync)
{
    char *room = create_room(&alice, "{}");
    char tags[512];
    snprintf(tags, sizeof tags, "/_matrix/client/v3/user/%s/rooms/%s/tags", alice.user_id, room);
    json_t *j = call("GET", alice.token, tags, NULL, 200);
    cr_assert_eq(json_object_size(json_object_get(j, "tags")), 0);
    json_decref(j);

    json_decref(call("PUT", alice.token, fmt("%s/m.favourite", tags), "{\"order\":0.25}", 200));
    json_decref(call("PUT", alice.token, fmt("%s/u.work", tags), "{}", 200));
    j = call("GET", alice.token, tags, NULL, 200);
    json_t *t = json_object_get(j, "tags");
    cr_assert_eq(json_object_size(t), 2);
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(t, "m.favourite"), "order")), 0.25, 1e-9);
    cr_assert_not_null(json_object_get(t, "u.work"));
    json_decref(j);

    json_t *synced = synced_tags(&alice, room);
    cr_assert_not_null(synced, "/sync does not deliver m.tag");
    cr_assert_not_null(json_object_get(synced, "m.favourite"));
    cr_assert_not_null(json_object_get(synced, "u.work"));
    json_decref(synced);

    json_decref(call("DELETE", alice.token, fmt("%s/u.work", tags), NULL, 200));
    json_decref(call("DELETE", alice.token, fmt("%s/never.set", tags), NULL, 200));
    synced = synced_tags(&alice, room);
    cr_assert_not_null(synced);
    cr_assert_null(json_object_get(synced, "u.work"));
    cr_assert_not_null(json_object_get(synced, "m.favourite"));
    json_decref(synced);

    /* another user's tags, bad order, unknown room, no token */
    expect_error("GET", bob.token, tags, NULL, 403, "M_FORBIDDEN");
    expect_error("PUT", bob.token, fmt("%s/x", tags), "{}", 403, "M_FORBIDDEN");
    expect_error("PUT", alice.token, fmt("%s/x", tags), "{\"order\":\"first\"}", 400, "M_INVALID_PARAM");
    expect_error("PUT", alice.token, fmt("%s/x", tags), "[1]", 400, "M_NOT_JSON");
    expect_error("GET", alice.token, fmt("/_matrix/client/v3/user/%s/rooms/!nope:extras.test/tags", alice.user_id),
                 NULL, 404, "M_NOT_FOUND");
    expect_error("GET", NULL, tags, NULL, 401, "M_MISSING_TOKEN");
    free(room);
}

Test(hs_extras, startup_answers)
{
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/voip/turnServer", NULL, 200);
    cr_assert_eq(json_object_size(j), 0);
    json_decref(j);
    j = call("GET", alice.token, "/_matrix/client/v3/thirdparty/protocols", NULL, 200);
    cr_assert(json_is_object(j) && json_object_size(j) == 0);
    json_decref(j);
    j = call("GET", alice.token, "/_matrix/client/v3/account/3pid", NULL, 200);
    cr_assert(json_is_array(json_object_get(j, "threepids")));
    cr_assert_eq(json_array_size(json_object_get(j, "threepids")), 0);
    json_decref(j);
    j = call("GET", alice.token, "/_matrix/client/v3/notifications?limit=5", NULL, 200);
    cr_assert(json_is_array(json_object_get(j, "notifications")));
    cr_assert_null(json_object_get(j, "next_token"));
    json_decref(j);
    expect_error("GET", NULL, "/_matrix/client/v3/voip/turnServer", NULL, 401, "M_MISSING_TOKEN");
    expect_error("GET", "wrong", "/_matrix/client/v3/notifications", NULL, 401, "M_UNKNOWN_TOKEN");
}

/* The federation router answers GET /_matrix/federation/v1/openid/userinfo (no HTTPS
 * listener in this test: the router is the same one the listener serves). */
static json_t *userinfo(const char *token, int *status)
{
    char target[512];
    snprintf(target, sizeof target, "/_matrix/federation/v1/openid/userinfo%s%s", token ? "?access_token=" : "",
             token ? token : "");
    hs_request req = {.method = "GET", .remote_addr = "127.0.0.1"};
    cr_assert_eq(hs_request_parse_target(&req, target), 0);
    hs_response resp = {0};
    hs_router_dispatch(hs.srv.federation_router, &req, &resp);
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    *status = resp.status;
    hs_response_clear(&resp);
    hs_request_clear(&req);
    cr_assert_not_null(j);
    return j;
}

Test(hs_extras, openid_token_names_its_user_to_federation)
{
    json_t *j = call("POST", bob.token, fmt("/_matrix/client/v3/user/%s/openid/request_token", bob.user_id), "{}",
                     200);
    const char *token = json_string_value(json_object_get(j, "access_token"));
    cr_assert(token && strlen(token) >= 32);
    cr_assert_str_eq(json_string_value(json_object_get(j, "token_type")), "Bearer");
    cr_assert_str_eq(json_string_value(json_object_get(j, "matrix_server_name")), "extras.test");
    cr_assert_eq(json_integer_value(json_object_get(j, "expires_in")), 3600);
    int st;
    json_t *info = userinfo(token, &st);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(json_string_value(json_object_get(info, "sub")), bob.user_id);
    json_decref(info);
    /* the token is not an access token for the client API */
    expect_error("GET", token, "/_matrix/client/v3/account/whoami", NULL, 401, "M_UNKNOWN_TOKEN");
    json_decref(j);

    info = userinfo("not-a-token", &st);
    cr_assert_eq(st, 401);
    cr_assert_str_eq(json_string_value(json_object_get(info, "errcode")), "M_UNKNOWN_TOKEN");
    json_decref(info);
    info = userinfo(NULL, &st);
    cr_assert_eq(st, 401);
    json_decref(info);
    /* an access token is not an OpenID token either */
    info = userinfo(bob.token, &st);
    cr_assert_eq(st, 401);
    json_decref(info);
    expect_error("POST", bob.token, fmt("/_matrix/client/v3/user/%s/openid/request_token", alice.user_id), "{}", 403,
                 "M_FORBIDDEN");
}

Test(hs_extras, reports_are_stored_for_admins)
{
    char *room = create_room(&alice, "{\"preset\":\"public_chat\"}");
    char *ev = send_text(&alice, room, "something to report");
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/report/%s", room, ev);
    /* not in the room: the event cannot be seen */
    expect_error("POST", bob.token, path, "{\"reason\":\"spam\"}", 404, "M_NOT_FOUND");
    json_decref(call("POST", bob.token, fmt("/_matrix/client/v3/join/%s", room), "{}", 200));
    expect_error("POST", bob.token, path, "{\"score\":5}", 400, "M_INVALID_PARAM");
    expect_error("POST", bob.token, fmt("/_matrix/client/v3/rooms/%s/report/$nope", room), "{}", 404, "M_NOT_FOUND");
    json_t *j = call("POST", bob.token, path, "{\"reason\":\"spam\",\"score\":-100}", 200);
    cr_assert_eq(json_object_size(j), 0);
    json_decref(j);

    /* the admin list: refused to users, served to an admin */
    expect_error("GET", bob.token, "/_synapse/admin/v1/event_reports", NULL, 403, "M_FORBIDDEN");
    cr_assert_eq(hs_accounts_register(hs.srv.store, "extras.test", "root", "pw-root-1", true, (int64_t)time(NULL) * 1000,
                                      NULL),
                 HS_ACCOUNTS_OK);
    j = call("POST", NULL, "/_matrix/client/v3/login",
             "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"root\"},"
             "\"password\":\"pw-root-1\"}",
             200);
    char admin_token[256];
    snprintf(admin_token, sizeof admin_token, "%s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    j = call("GET", admin_token, "/_synapse/admin/v1/event_reports", NULL, 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "total")), 1);
    json_t *r = json_array_get(json_object_get(j, "event_reports"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "event_id")), ev);
    cr_assert_str_eq(json_string_value(json_object_get(r, "room_id")), room);
    cr_assert_str_eq(json_string_value(json_object_get(r, "user_id")), bob.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(r, "reason")), "spam");
    cr_assert_eq(json_integer_value(json_object_get(r, "score")), -100);
    json_decref(j);
    free(ev);
    free(room);
}

static int64_t event_ts(const char *room, const char *event_id)
{
    json_t *j = call("GET", alice.token, fmt("/_matrix/client/v3/rooms/%s/event/%s", room, event_id), NULL, 200);
    int64_t ts = json_integer_value(json_object_get(j, "origin_server_ts"));
    json_decref(j);
    return ts;
}

Test(hs_extras, timestamp_to_event_both_directions)
{
    char *room = create_room(&alice, "{}");
    char *first = send_text(&alice, room, "one");
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    char *second = send_text(&alice, room, "two");
    int64_t t1 = event_ts(room, first), t2 = event_ts(room, second);
    cr_assert_lt(t1, t2);
    char base[512];
    snprintf(base, sizeof base, "/_matrix/client/v1/rooms/%s/timestamp_to_event", room);

    json_t *j = call("GET", alice.token, fmt("%s?ts=%lld&dir=f", base, (long long)t2), NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), second);
    cr_assert_eq(json_integer_value(json_object_get(j, "origin_server_ts")), t2);
    json_decref(j);
    j = call("GET", alice.token, fmt("%s?ts=%lld&dir=b", base, (long long)(t2 - 1)), NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), first);
    json_decref(j);
    j = call("GET", alice.token, fmt("%s?ts=%lld&dir=f", base, (long long)(t1 + 1)), NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "event_id")), second);
    json_decref(j);
    /* the first event of all is the room's create event */
    j = call("GET", alice.token, fmt("%s?ts=0&dir=f", base), NULL, 200);
    json_t *ev = call("GET", alice.token,
                      fmt("/_matrix/client/v3/rooms/%s/event/%s", room,
                          json_string_value(json_object_get(j, "event_id"))),
                      NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "m.room.create");
    json_decref(ev);
    json_decref(j);

    expect_error("GET", alice.token, fmt("%s?ts=%lld&dir=f", base, (long long)(t2 + 3600000)), NULL, 404,
                 "M_NOT_FOUND");
    expect_error("GET", alice.token, fmt("%s?ts=0&dir=x", base), NULL, 400, "M_INVALID_PARAM");
    expect_error("GET", alice.token, fmt("%s?dir=f", base), NULL, 400, "M_INVALID_PARAM");
    expect_error("GET", bob.token, fmt("%s?ts=0&dir=f", base), NULL, 403, "M_FORBIDDEN");
    free(first);
    free(second);
    free(room);
}

static const char *membership_of(const char *room, const char *user)
{
    static char m[32];
    json_t *j = call("GET", alice.token, fmt("/_matrix/client/v3/rooms/%s/state/m.room.member/%s", room, user), NULL,
                     200);
    snprintf(m, sizeof m, "%s", json_string_value(json_object_get(j, "membership")));
    json_decref(j);
    return m;
}

Test(hs_extras, knock_on_knock_rooms_only)
{
    char *knock_room = create_room(&alice, "{\"room_version\":\"10\",\"room_alias_name\":\"knockers\","
                                           "\"initial_state\":[{\"type\":\"m.room.join_rules\",\"state_key\":\"\","
                                           "\"content\":{\"join_rule\":\"knock\"}}]}");
    char *closed = create_room(&alice, "{\"room_version\":\"10\"}");
    json_t *j = call("POST", bob.token, "/_matrix/client/v3/knock/%23knockers:extras.test", "{\"reason\":\"hi\"}",
                     200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "room_id")), knock_room);
    json_decref(j);
    cr_assert_str_eq(membership_of(knock_room, bob.user_id), "knock");
    /* the owner lets them in with an invite; the knocker joins */
    json_decref(call("POST", alice.token, fmt("/_matrix/client/v3/rooms/%s/invite", knock_room),
                     fmt("{\"user_id\":\"%s\"}", bob.user_id), 200));
    json_decref(call("POST", bob.token, fmt("/_matrix/client/v3/join/%s", knock_room), "{}", 200));
    cr_assert_str_eq(membership_of(knock_room, bob.user_id), "join");

    expect_error("POST", bob.token, fmt("/_matrix/client/v3/knock/%s", closed), "{}", 403, "M_FORBIDDEN");
    expect_error("POST", bob.token, "/_matrix/client/v3/knock/!unknown:extras.test", "{}", 404, "M_NOT_FOUND");
    expect_error("POST", bob.token, "/_matrix/client/v3/knock/%23nobody:extras.test", "{}", 404, "M_NOT_FOUND");
    expect_error("POST", bob.token, fmt("/_matrix/client/v3/knock/%s", closed), "{\"reason\":7}", 400, "M_BAD_JSON");
    free(knock_room);
    free(closed);
}

static const char *notif_event_id(const json_t *list, size_t i)
{
    return json_string_value(json_object_get(json_object_get(json_array_get(list, i), "event"), "event_id"));
}

Test(hs_extras, notifications_from_push_rules)
{
    pgt_mx_login carol;
    cr_assert_eq(pgt_mx_register(hs.base, "carol", "pw-carol-1", &carol), 0);
    char *room = create_room(&bob, "{\"preset\":\"public_chat\"}");
    char *before_join = send_text(&bob, room, "said before alice came");
    json_decref(call("POST", alice.token, fmt("/_matrix/client/v3/join/%s", room), "{}", 200));
    json_decref(call("POST", carol.token, fmt("/_matrix/client/v3/join/%s", room), "{}", 200));
    char *plain = send_text(&bob, room, "good morning everyone");
    char *own = send_text(&alice, room, "my own words");
    char *named = send_text(&carol, room, "is alice around?");

    json_t *j = call("GET", alice.token, "/_matrix/client/v3/notifications", NULL, 200);
    json_t *list = json_object_get(j, "notifications");
    /* newest first; not alice's own message, not what was said before she joined */
    cr_assert_eq(json_array_size(list), 2, "%s", json_dumps(j, 0));
    cr_assert_str_eq(notif_event_id(list, 0), named);
    cr_assert_str_eq(notif_event_id(list, 1), plain);
    json_t *first = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "room_id")), room);
    cr_assert(json_is_integer(json_object_get(first, "ts")));
    cr_assert(json_is_false(json_object_get(first, "read")));
    /* the display name rule highlights */
    bool highlight = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(first, "actions"), i, a) {
        if (json_is_object(a) && strcmp(json_string_value(json_object_get(a, "set_tweak")), "highlight") == 0)
            highlight = !json_is_false(json_object_get(a, "value"));
    }
    cr_assert(highlight);
    cr_assert_null(json_object_get(j, "next_token"));
    json_decref(j);

    j = call("GET", alice.token, "/_matrix/client/v3/notifications?only=highlight", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "notifications")), 1);
    cr_assert_str_eq(notif_event_id(json_object_get(j, "notifications"), 0), named);
    json_decref(j);

    /* a read receipt on the plain message marks it read; paging one at a time */
    json_decref(call("POST", alice.token, fmt("/_matrix/client/v3/rooms/%s/receipt/m.read/%s", room, plain), "{}",
                     200));
    j = call("GET", alice.token, "/_matrix/client/v3/notifications?limit=1", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "notifications")), 1);
    cr_assert_str_eq(notif_event_id(json_object_get(j, "notifications"), 0), named);
    const char *next = json_string_value(json_object_get(j, "next_token"));
    cr_assert_not_null(next);
    json_t *j2 = call("GET", alice.token, fmt("/_matrix/client/v3/notifications?limit=1&from=%s", next), NULL, 200);
    json_t *l2 = json_object_get(j2, "notifications");
    cr_assert_eq(json_array_size(l2), 1);
    cr_assert_str_eq(notif_event_id(l2, 0), plain);
    cr_assert(json_is_true(json_object_get(json_array_get(l2, 0), "read")));
    json_decref(j2);
    json_decref(j);

    /* a user who disabled the catch-all rules gets only what still notifies */
    json_decref(call("PUT", alice.token, "/_matrix/client/v3/pushrules/global/underride/.m.rule.message/enabled",
                     "{\"enabled\":false}", 200));
    j = call("GET", alice.token, "/_matrix/client/v3/notifications", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "notifications")), 1);
    cr_assert_str_eq(notif_event_id(json_object_get(j, "notifications"), 0), named);
    json_decref(j);
    expect_error("GET", alice.token, "/_matrix/client/v3/notifications?from=abc", NULL, 400, "M_INVALID_PARAM");
    free(room);
    free(before_join);
    free(plain);
    free(own);
    free(named);
}

/* ---- a server with a TURN server configured ---- */

Test(hs_extras, notifications_limit_is_capped_at_100)
{
    /* a one-to-one room: every message of bob's notifies alice */
    char *room = create_room(&bob, "{\"preset\":\"public_chat\"}");
    json_decref(call("POST", alice.token, fmt("/_matrix/client/v3/join/%s", room), "{}", 200));
    for (int i = 0; i < 101; i++) free(send_text(&bob, room, fmt("message %d", i)));
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/notifications?limit=100000", NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "notifications")), 100);
    const char *next = json_string_value(json_object_get(j, "next_token"));
    cr_assert_not_null(next, "the 101st is on the next page");
    json_t *j2 = call("GET", alice.token, fmt("/_matrix/client/v3/notifications?limit=100000&from=%s", next), NULL,
                      200);
    cr_assert_eq(json_array_size(json_object_get(j2, "notifications")), 1);
    json_decref(j2);
    json_decref(j);
    free(room);
}

static void turn_config(hs_config *cfg)
{
    snprintf(cfg->turn_uris, sizeof cfg->turn_uris, "turn:turn.extras.test:3478?transport=udp, turns:turn.extras.test:5349");
    snprintf(cfg->turn_shared_secret, sizeof cfg->turn_shared_secret, "coturn-static-secret");
    cfg->turn_user_lifetime_seconds = 600;
}

static void start_turn(void)
{
    pgt_hs_start(&hs, "extras.test", turn_config);
    cr_assert_eq(pgt_mx_register(hs.base, "alice", "pw-alice-1", &alice), 0);
}

TestSuite(hs_extras_turn, .init = start_turn, .fini = stop, .timeout = 60);

Test(hs_extras_turn, credentials_follow_the_turn_rest_api)
{
    time_t now = time(NULL);
    json_t *j = call("GET", alice.token, "/_matrix/client/v3/voip/turnServer", NULL, 200);
    const char *user = json_string_value(json_object_get(j, "username"));
    const char *pass = json_string_value(json_object_get(j, "password"));
    cr_assert(user && pass);
    char *colon = strchr(user, ':');
    cr_assert_not_null(colon);
    cr_assert_str_eq(colon + 1, alice.user_id);
    long long expiry = strtoll(user, NULL, 10);
    cr_assert(expiry >= now + 600 - 5 && expiry <= now + 600 + 5, "expiry %lld", expiry);
    uint8_t mac[HS_SHA1_BYTES];
    const char *secret = "coturn-static-secret";
    cr_assert_eq(hs_hmac_sha1((const uint8_t *)secret, strlen(secret), (const uint8_t *)user, strlen(user), mac), 0);
    char want[64];
    sodium_bin2base64(want, sizeof want, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    cr_assert_str_eq(pass, want);
    cr_assert_eq(strlen(pass), 28, "padded standard base64 of 20 bytes");
    json_t *uris = json_object_get(j, "uris");
    cr_assert_eq(json_array_size(uris), 2);
    cr_assert_str_eq(json_string_value(json_array_get(uris, 0)), "turn:turn.extras.test:3478?transport=udp");
    cr_assert_str_eq(json_string_value(json_array_get(uris, 1)), "turns:turn.extras.test:5349");
    cr_assert_eq(json_integer_value(json_object_get(j, "ttl")), 600);
    json_decref(j);
}

Test(hs_extras_turn, uris_without_secret_are_refused)
{
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.turn_uris, sizeof cfg.turn_uris, "turn:x:3478");
    char err[256];
    cr_assert_neq(hs_config_validate(&cfg, err, sizeof err), 0);
    cr_assert(strstr(err, "turn_shared_secret"));
}

/* ---- space hierarchy ---- */

static void add_child(const char *space, const char *child, const char *extra)
{
    char path[512], body[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/state/m.space.child/%s", space, child);
    snprintf(body, sizeof body, "{\"via\":[\"extras.test\"]%s}", extra);
    json_decref(call("PUT", alice.token, path, body, 200));
}

static const char *room_at(const json_t *h, size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(h, "rooms"), i), "room_id"));
}

Test(hs_extras, space_hierarchy_limit_is_capped_at_100)
{
    char *space =
        create_room(&alice, "{\"preset\":\"public_chat\",\"creation_content\":{\"type\":\"m.space\"}}");
    for (int i = 0; i < 101; i++) {
        char *child = create_room(&alice, "{\"preset\":\"public_chat\"}");
        add_child(space, child, "");
        free(child);
    }
    /* the space and 101 children: 100 on the first page, 2 on the next */
    json_t *h = call("GET", alice.token, fmt("/_matrix/client/v1/rooms/%s/hierarchy?limit=100000", space), NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 100);
    const char *next = json_string_value(json_object_get(h, "next_batch"));
    cr_assert_not_null(next);
    json_t *h2 = call("GET", alice.token,
                      fmt("/_matrix/client/v1/rooms/%s/hierarchy?limit=100000&from=%s", space, next), NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h2, "rooms")), 2);
    cr_assert_null(json_object_get(h2, "next_batch"));
    json_decref(h2);
    json_decref(h);
    free(space);
}

Test(hs_extras, space_hierarchy)
{
    char *space = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"The space\","
                                      "\"creation_content\":{\"type\":\"m.space\"}}");
    char *a = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"A\",\"topic\":\"room a\"}");
    char *b = create_room(&alice, "{\"preset\":\"private_chat\",\"name\":\"B\"}");
    char *c = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"C\"}");
    char *d = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"D\"}");
    add_child(space, a, ",\"order\":\"b\"");
    add_child(space, b, "");
    add_child(space, c, ",\"order\":\"a\",\"suggested\":true");
    add_child(a, d, "");
    add_child(d, space, "");  /* a cycle back to the top is walked once */

    char base[512];
    snprintf(base, sizeof base, "/_matrix/client/v1/rooms/%s/hierarchy", space);
    /* bob is in none of them: the private room B is not shown to him */
    json_t *h = call("GET", bob.token, base, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 4, "%s", json_dumps(h, 0));
    cr_assert_str_eq(room_at(h, 0), space);
    cr_assert_str_eq(room_at(h, 1), c);
    cr_assert_str_eq(room_at(h, 2), a);
    cr_assert_str_eq(room_at(h, 3), d);
    json_t *top = json_array_get(json_object_get(h, "rooms"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(top, "room_type")), "m.space");
    cr_assert_str_eq(json_string_value(json_object_get(top, "name")), "The space");
    cr_assert_eq(json_integer_value(json_object_get(top, "num_joined_members")), 1);
    cr_assert_eq(json_array_size(json_object_get(top, "children_state")), 3);
    json_t *ra = json_array_get(json_object_get(h, "rooms"), 2);
    cr_assert_str_eq(json_string_value(json_object_get(ra, "topic")), "room a");
    cr_assert_str_eq(json_string_value(json_object_get(ra, "join_rule")), "public");
    cr_assert_null(json_object_get(h, "next_batch"));
    json_decref(h);
    /* alice, a member of B, sees it */
    h = call("GET", alice.token, base, NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 5);
    json_decref(h);

    h = call("GET", bob.token, fmt("%s?max_depth=1", base), NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 3);
    json_decref(h);
    h = call("GET", bob.token, fmt("%s?suggested_only=true", base), NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 2);
    cr_assert_str_eq(room_at(h, 1), c);
    json_decref(h);

    /* paging: two and two, the token tied to its parameters */
    h = call("GET", bob.token, fmt("%s?limit=2", base), NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 2);
    char next[64];
    snprintf(next, sizeof next, "%s", json_string_value(json_object_get(h, "next_batch")));
    json_decref(h);
    h = call("GET", bob.token, fmt("%s?limit=2&from=%s", base, next), NULL, 200);
    cr_assert_eq(json_array_size(json_object_get(h, "rooms")), 2);
    cr_assert_str_eq(room_at(h, 0), a);
    cr_assert_str_eq(room_at(h, 1), d);
    cr_assert_null(json_object_get(h, "next_batch"));
    json_decref(h);
    expect_error("GET", bob.token, fmt("%s?limit=2&max_depth=1&from=%s", base, next), NULL, 400, "M_INVALID_PARAM");
    expect_error("GET", bob.token, fmt("/_matrix/client/v1/rooms/%s/hierarchy", b), NULL, 403, "M_FORBIDDEN");
    expect_error("GET", bob.token, "/_matrix/client/v1/rooms/!none:extras.test/hierarchy", NULL, 404, "M_NOT_FOUND");
    free(space);
    free(a);
    free(b);
    free(c);
    free(d);
}
