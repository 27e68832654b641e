/* hs_fed_public_rooms: checking another server's /publicRooms answer (what is kept,
 * what is dropped, what is refused), the shared /publicRooms request parsers, and the
 * client's /publicRooms?server=OTHER through server-core's transport seam against a
 * scripted remote: what is asked (GET or POST, limit/since/filter passed on, signed),
 * the GET fallback for a server without the POST form, the errors a client gets and the
 * cache. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_directory.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_public_rooms.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

TestSuite(hs_fed_public_rooms_parse);

static json_t *parse(const char *text, size_t *dropped, hs_err *err)
{
    return hs_fed_public_rooms_parse(text, strlen(text), dropped, err);
}

#define ROOM(id, extra) "{\"room_id\":\"" id "\",\"num_joined_members\":3,\"world_readable\":false,\"guest_can_join\":true" extra "}"

Test(hs_fed_public_rooms_parse, keeps_valid_entries_and_drops_malformed_ones)
{
    const char *text = "{\"chunk\":["
        ROOM("!good:a.test", ",\"name\":\"General\",\"topic\":\"t\",\"canonical_alias\":\"#g:a.test\","
                             "\"avatar_url\":\"mxc://a.test/x\",\"join_rule\":\"public\",\"room_type\":\"m.space\","
                             "\"aliases\":[\"#old:a.test\"],\"name_extra\":1")
        "," ROOM("!nulls:a.test", ",\"topic\":null")
        ",{\"num_joined_members\":1,\"world_readable\":false,\"guest_can_join\":false}"
        "," ROOM("not-a-room", "")
        ",{\"room_id\":\"!neg:a.test\",\"num_joined_members\":-1,\"world_readable\":false,\"guest_can_join\":false}"
        ",{\"room_id\":\"!str:a.test\",\"num_joined_members\":1,\"world_readable\":\"no\",\"guest_can_join\":false}"
        "," ROOM("!badname:a.test", ",\"name\":7")
        ",\"just a string\""
        "],\"next_batch\":\"n1\",\"prev_batch\":5,\"total_room_count_estimate\":9,\"extra\":true}";
    size_t dropped = 99;
    hs_err err;
    json_t *out = parse(text, &dropped, &err);
    cr_assert_not_null(out, "%s", err.msg);
    cr_assert_eq(dropped, 6);
    json_t *chunk = json_object_get(out, "chunk");
    cr_assert_eq(json_array_size(chunk), 2);
    json_t *good = json_array_get(chunk, 0);
    cr_assert_str_eq(json_string_value(json_object_get(good, "room_id")), "!good:a.test");
    cr_assert_str_eq(json_string_value(json_object_get(good, "name")), "General");
    cr_assert_str_eq(json_string_value(json_object_get(good, "room_type")), "m.space");
    cr_assert_eq(json_integer_value(json_object_get(good, "num_joined_members")), 3);
    cr_assert(json_is_true(json_object_get(good, "guest_can_join")));
    cr_assert_null(json_object_get(good, "aliases"), "only the spec's fields are passed on");
    cr_assert_null(json_object_get(good, "name_extra"));
    cr_assert_eq(json_object_size(good), 10);
    json_t *nulls = json_array_get(chunk, 1);
    cr_assert_null(json_object_get(nulls, "topic"), "a null optional field is left out, the entry kept");
    cr_assert_str_eq(json_string_value(json_object_get(out, "next_batch")), "n1");
    cr_assert_null(json_object_get(out, "prev_batch"), "a non-string token is left out");
    cr_assert_eq(json_integer_value(json_object_get(out, "total_room_count_estimate")), 9);
    cr_assert_null(json_object_get(out, "extra"));
    json_decref(out);
}

Test(hs_fed_public_rooms_parse, refuses_what_is_not_a_room_list)
{
    static const char *const bad[] = {"", "not json", "[]", "{}", "{\"chunk\":{}}", "{\"chunk\":null}",
                                      "{\"chunk\":[],\"chunk\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_err err = {{0}};
        cr_assert_null(parse(bad[i], NULL, &err), "accepted %s", bad[i]);
        cr_assert(err.msg[0], "no reason for %s", bad[i]);
    }
    size_t n = HS_FED_PUBLIC_ROOMS_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    memcpy(big, "{\"chunk\":[]}", 12);
    hs_err err;
    cr_assert_null(hs_fed_public_rooms_parse(big, n, NULL, &err));
    cr_assert(strstr(err.msg, "larger"), "%s", err.msg);
    json_t *ok = hs_fed_public_rooms_parse(big, n - 1, NULL, &err);
    cr_assert_not_null(ok, "one byte less is fine: %s", err.msg);
    json_decref(ok);
    free(big);
}

Test(hs_fed_public_rooms_parse, bounds_entries_strings_and_tokens)
{
    json_t *in = json_pack("{s[], ss, sI}", "chunk", "next_batch", "", "total_room_count_estimate", (json_int_t)-3);
    json_t *chunk = json_object_get(in, "chunk");
    for (int i = 0; i < HS_FED_PUBLIC_ROOMS_MAX_CHUNK + 20; i++) {
        char id[64];
        snprintf(id, sizeof id, "!r%d:a.test", i);
        json_array_append_new(chunk, json_pack("{ss, si, sb, sb}", "room_id", id, "num_joined_members", i,
                                               "world_readable", 0, "guest_can_join", 0));
    }
    char *long_topic = malloc(HS_FED_PUBLIC_ROOMS_FIELD_MAX + 2);
    memset(long_topic, 't', HS_FED_PUBLIC_ROOMS_FIELD_MAX + 1);
    long_topic[HS_FED_PUBLIC_ROOMS_FIELD_MAX + 1] = '\0';
    json_object_set_new(json_array_get(chunk, 0), "topic", json_string(long_topic));
    long_topic[HS_FED_PUBLIC_ROOMS_FIELD_MAX] = '\0';
    json_object_set_new(json_array_get(chunk, 1), "topic", json_string(long_topic));
    free(long_topic);
    char *text = json_dumps(in, JSON_COMPACT);
    json_decref(in);
    size_t dropped;
    hs_err err;
    json_t *out = parse(text, &dropped, &err);
    free(text);
    cr_assert_not_null(out, "%s", err.msg);
    cr_assert_eq(json_array_size(json_object_get(out, "chunk")), HS_FED_PUBLIC_ROOMS_MAX_CHUNK);
    cr_assert_eq(dropped, 1, "the entry with a too long topic");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(out, "chunk"), 0), "room_id")),
                     "!r1:a.test");
    cr_assert_null(json_object_get(out, "next_batch"), "an empty token is no token");
    cr_assert_null(json_object_get(out, "total_room_count_estimate"));
    json_decref(out);
}

/* ---- a real Synapse's exchanges (tests/fixtures/synapse-live/public_rooms.json) ----- */

static json_t *synapse_exchanges(void)
{
    json_error_t je;
    json_t *all = json_load_file(PG_SOURCE_DIR "/tests/fixtures/synapse-live/public_rooms.json", 0, &je);
    cr_assert_not_null(all, "%s", je.text);
    return all;
}

Test(hs_fed_public_rooms_parse, synapse_answers_pass_whole)
{
    json_t *all = synapse_exchanges();
    size_t i, seen = 0;
    json_t *x;
    json_array_foreach(all, i, x) {
        if (strcmp(json_string_value(json_object_get(x, "direction")), "pinegate asked Synapse") != 0) continue;
        char *text = json_dumps(json_object_get(x, "response"), JSON_COMPACT);
        size_t dropped;
        hs_err err;
        json_t *out = parse(text, &dropped, &err);
        free(text);
        cr_assert_not_null(out, "%s", err.msg);
        cr_assert_eq(dropped, 0);
        cr_assert(json_equal(out, json_object_get(x, "response")), "Synapse's answer holds only spec fields: kept as is");
        json_decref(out);
        seen++;
    }
    cr_assert_eq(seen, 4);
    json_decref(all);
}

/* The query value `name` of a recorded URI (percent-decoding is not needed for these). */
static const char *uri_param(const char *uri, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = strchr(uri, '?'); p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=') {
            snprintf(buf, cap, "%.*s", (int)strcspn(p + 2 + n, "&"), p + 2 + n);
            return buf;
        }
    }
    return NULL;
}

Test(hs_fed_public_rooms_parse, synapse_requests_parse)
{
    json_t *all = synapse_exchanges();
    size_t i, gets = 0, posts = 0;
    json_t *x;
    json_array_foreach(all, i, x) {
        if (strcmp(json_string_value(json_object_get(x, "direction")), "Synapse asked pinegate") != 0) continue;
        const char *uri = json_string_value(json_object_get(x, "uri"));
        hs_directory_query q;
        hs_directory_error e = {0};
        if (strcmp(json_string_value(json_object_get(x, "method")), "GET") == 0) {
            char l[32], s[1100], a[16];
            cr_assert_eq(hs_directory_query_from_params(uri_param(uri, "limit", l, sizeof l),
                                                        uri_param(uri, "since", s, sizeof s),
                                                        uri_param(uri, "include_all_networks", a, sizeof a), NULL,
                                                        &q, &e),
                         0, "%s: %s", uri, e.msg);
            cr_assert_gt(q.limit, 0);
            gets++;
        } else {
            cr_assert_eq(hs_directory_query_from_body(json_object_get(x, "request"), &q, &e), 0, "%s", e.msg);
            cr_assert_not_null(q.term);
            cr_assert_not(q.include_all_networks);
            posts++;
        }
    }
    cr_assert(gets > 0 && posts > 0);
    json_decref(all);
}

/* ---- the shared request parsers ------------------------------------------------------ */

Test(hs_fed_public_rooms_parse, request_parsers_agree_on_limits_and_networks)
{
    hs_directory_query q;
    hs_directory_error e;
    cr_assert_eq(hs_directory_query_from_params("0", "p2", "false", NULL, &q, &e), 0);
    cr_assert_eq(q.limit, -1, "limit 0 means no limit");
    cr_assert_str_eq(q.since, "p2");
    cr_assert_eq(hs_directory_query_from_params("5000", NULL, NULL, NULL, &q, &e), 0);
    cr_assert_eq(q.limit, HS_DIRECTORY_PAGE_MAX);
    cr_assert_eq(hs_directory_query_from_params("x", NULL, NULL, NULL, &q, &e), -1);
    cr_assert_str_eq(e.errcode, "M_INVALID_PARAM");
    cr_assert_eq(hs_directory_query_from_params(NULL, NULL, "yes", NULL, &q, &e), -1);
    cr_assert_eq(hs_directory_query_from_params(NULL, NULL, "true", "as|net", &q, &e), -1);
    json_t *body = json_pack("{sb, ss}", "include_all_networks", 1, "third_party_instance_id", "as|net");
    cr_assert_eq(hs_directory_query_from_body(body, &q, &e), -1);
    json_decref(body);
    body = json_pack("{si, ss, s{ss, s[n]}}", "limit", 7, "since", "opaque", "filter", "generic_search_term", "gen",
                     "room_types");
    cr_assert_eq(hs_directory_query_from_body(body, &q, &e), 0);
    cr_assert_eq(q.limit, 7);
    cr_assert_str_eq(q.term, "gen");
    cr_assert_eq(json_array_size(q.room_types), 1);
    json_decref(body);
    char *huge = malloc(HS_DIRECTORY_SINCE_MAX + 2);
    memset(huge, 'a', HS_DIRECTORY_SINCE_MAX + 1);
    huge[HS_DIRECTORY_SINCE_MAX + 1] = '\0';
    cr_assert_eq(hs_directory_query_from_params(NULL, huge, NULL, NULL, &q, &e), -1, "since is bounded");
    free(huge);
}

/* ---- asking another server through the transport seam ------------------------------ */

enum mode { ANSWER, NO_POST, FORBIDDEN, DOWN, BROKEN, GARBAGE };

static enum mode mode;
static atomic_int calls;
static char last_method[8], last_target[1024], last_body[1024];
static bool last_signed;

static const char list_answer[] = "{\"chunk\":["
    ROOM("!gen:remote.test", ",\"name\":\"General chat\"") "," ROOM("!dev:remote.test", ",\"name\":\"Dev\"")
    ",{\"room_id\":42}],\"next_batch\":\"remote-token\",\"total_room_count_estimate\":2}";

static void reply_with(hs_fed_reply *reply, long status, const char *body)
{
    reply->status = status;
    reply->body = strdup(body);
    reply->body_len = strlen(body);
}

static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    atomic_fetch_add(&calls, 1);
    cr_assert_str_eq(req->destination, "remote.test");
    snprintf(last_method, sizeof last_method, "%s", req->method);
    snprintf(last_target, sizeof last_target, "%s", req->target);
    char *b = req->content ? json_dumps(req->content, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(last_body, sizeof last_body, "%s", b ? b : "");
    free(b);
    last_signed = req->sign;
    switch (mode) {
    case DOWN: return hs_err_set(err, "connection refused");
    case FORBIDDEN: reply_with(reply, 403, "{\"errcode\":\"M_FORBIDDEN\"}"); return 0;
    case BROKEN: reply_with(reply, 500, "{}"); return 0;
    case GARBAGE: reply_with(reply, 200, "{\"rooms\":[]}"); return 0;
    case NO_POST:
        if (strcmp(req->method, "POST") == 0) {
            reply_with(reply, 404, "{\"errcode\":\"M_UNRECOGNIZED\"}");
            return 0;
        }
        reply_with(reply, 200, list_answer);
        return 0;
    default: reply_with(reply, 200, list_answer); return 0;
    }
}

static pgt_hs h;

static void start(void)
{
    pgt_hs_start(&h, "self.test", NULL);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&h.srv, &t);
    atomic_store(&calls, 0);
    mode = ANSWER;
}

static void stop(void)
{
    pgt_hs_stop(&h);
}

TestSuite(hs_fed_public_rooms, .init = start, .fini = stop, .timeout = 60);

#define call(method, token, status, body, ...) pgt_mx_callf(h.base, method, token, status, body, __VA_ARGS__)

Test(hs_fed_public_rooms, get_asks_the_other_server_and_passes_its_answer_on_validated)
{
    pgt_mx_login u = pgt_mx_must_register(h.base, "alice", "correct horse battery");
    long st;
    json_t *j = call("GET", u.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=remote.test&limit=2&since=tok%%2F1");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(last_method, "GET");
    cr_assert(last_signed, "federation requests are signed");
    cr_assert_str_eq(last_target,
                     "/_matrix/federation/v1/publicRooms?include_all_networks=false&limit=2&since=tok%2F1");
    json_t *chunk = json_object_get(j, "chunk");
    cr_assert_eq(json_array_size(chunk), 2, "the malformed third entry is dropped");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(chunk, 0), "room_id")), "!gen:remote.test");
    cr_assert_str_eq(json_string_value(json_object_get(j, "next_batch")), "remote-token");
    json_decref(j);
    /* The same request again within a minute is answered from the cache. */
    j = call("GET", u.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=remote.test&limit=2&since=tok%%2F1");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 2);
    cr_assert_eq(atomic_load(&calls), 1);
    json_decref(j);
    /* Without a token another server's list is not fetched; our own name is the local list. */
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?server=remote.test");
    cr_assert_eq(st, 401);
    json_decref(j);
    j = call("GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms?server=self.test");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 0);
    cr_assert_eq(atomic_load(&calls), 1);
    json_decref(j);
    j = call("GET", u.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=not%%20a%%20server");
    cr_assert_eq(st, 400);
    json_decref(j);
}

Test(hs_fed_public_rooms, post_passes_the_filter_and_falls_back_to_get)
{
    pgt_mx_login u = pgt_mx_must_register(h.base, "alice", "correct horse battery");
    long st;
    json_t *j = call("POST", u.token, &st, "{\"limit\":5,\"since\":\"s\",\"filter\":{\"generic_search_term\":\"gen\"}}",
                     "/_matrix/client/v3/publicRooms?server=remote.test");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(last_method, "POST");
    cr_assert_str_eq(last_target, "/_matrix/federation/v1/publicRooms");
    cr_assert_str_eq(last_body,
                     "{\"filter\":{\"generic_search_term\":\"gen\"},\"include_all_networks\":false,\"limit\":5,"
                     "\"since\":\"s\"}");
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 2, "the remote's answer, as it filtered it");
    json_decref(j);
    /* A server that only knows GET: everything is fetched and filtered here, unpaged. */
    mode = NO_POST;
    atomic_store(&calls, 0);
    j = call("POST", u.token, &st, "{\"limit\":5,\"filter\":{\"generic_search_term\":\"GEN\"}}",
             "/_matrix/client/v3/publicRooms?server=remote.test");
    cr_assert_eq(st, 200);
    cr_assert_eq(atomic_load(&calls), 2);
    cr_assert_str_eq(last_method, "GET");
    cr_assert_str_eq(last_target, "/_matrix/federation/v1/publicRooms?include_all_networks=false");
    json_t *chunk = json_object_get(j, "chunk");
    cr_assert_eq(json_array_size(chunk), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(chunk, 0), "room_id")), "!gen:remote.test");
    cr_assert_null(json_object_get(j, "next_batch"), "the remote's paging does not apply to a list filtered here");
    json_decref(j);
}

Test(hs_fed_public_rooms, failures_become_the_errors_synapse_gives)
{
    pgt_mx_login u = pgt_mx_must_register(h.base, "alice", "correct horse battery");
    static const struct {
        enum mode mode;
        long status;
        const char *errcode;
    } cases[] = {{FORBIDDEN, 403, "M_FORBIDDEN"}, {DOWN, 502, "M_UNKNOWN"}, {BROKEN, 502, "M_UNKNOWN"},
                 {GARBAGE, 502, "M_UNKNOWN"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mode = cases[i].mode;
        long st;
        /* A different limit each time: failures are not cached, but keep the requests apart anyway. */
        json_t *j = call("GET", u.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=remote.test&limit=%zu", i + 1);
        cr_assert_eq(st, cases[i].status, "mode %d", (int)cases[i].mode);
        cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), cases[i].errcode);
        json_decref(j);
    }
    /* A failure is not cached: once the server answers, the same request succeeds. */
    mode = ANSWER;
    long st;
    json_t *j = call("GET", u.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=remote.test&limit=2");
    cr_assert_eq(st, 200);
    json_decref(j);
}
