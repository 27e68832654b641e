/* POST /search end to end on a real server: words found in message bodies, room names
 * and topics (keys), only in rooms the searcher is joined to, never redacted events;
 * rank and recent order; paging through next_batch without loss or repeats; room and
 * sender filters; event context with profiles; include_state; groupings by room; the
 * index catching up with events sent after a first search and surviving a restart;
 * the spec's errors for malformed bodies and tokens; the client's limits clamped to the
 * server's caps and an over-long term or filter list refused. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_search.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;
static pgt_mx_login alice, bob;

static void start(void)
{
    pgt_hs_start(&hs, "search.test", NULL);
    cr_assert_eq(pgt_mx_register(hs.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(hs.base, "bob", "pw-bob-1", &bob), 0);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_search, .init = start, .fini = stop, .timeout = 90);

static json_t *call(const char *method, const char *token, const char *path, const char *body, long want)
{
    return pgt_mx_expect(hs.base, method, path, token, body, want);
}

static char *create_room(const pgt_mx_login *who, const char *body)
{
    return pgt_mx_create_room(hs.base, who, body);
}

static char *send_text(const pgt_mx_login *who, const char *room, const char *text)
{
    return pgt_mx_send_text(hs.base, who, room, text);
}

static void join(const pgt_mx_login *who, const char *room)
{
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/join/%s", room);
    json_decref(call("POST", who->token, path, "{}", 200));
}

/* The room_events answer of a search with the given criteria JSON (an object's inside). */
static json_t *search(const pgt_mx_login *who, const char *criteria, const char *next_batch)
{
    char body[2048], path[256];
    snprintf(body, sizeof body, "{\"search_categories\":{\"room_events\":{%s}}}", criteria);
    snprintf(path, sizeof path, "/_matrix/client/v3/search%s%s", next_batch ? "?next_batch=" : "",
             next_batch ? next_batch : "");
    json_t *j = call("POST", who->token, path, body, 200);
    json_t *re = json_incref(json_object_get(json_object_get(j, "search_categories"), "room_events"));
    json_decref(j);
    cr_assert_not_null(re);
    return re;
}

static bool result_has(const json_t *re, const char *event_id)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(re, "results"), i, r) {
        if (strcmp(json_string_value(json_object_get(json_object_get(r, "result"), "event_id")), event_id) == 0)
            return true;
    }
    return false;
}

Test(hs_search, finds_bodies_names_and_topics_in_joined_rooms_only)
{
    char *room = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"Penguin club\","
                                     "\"topic\":\"all about penguins\"}");
    char *hidden = create_room(&bob, "{}");
    char *m1 = send_text(&alice, room, "Emperor penguins huddle in winter");
    char *m2 = send_text(&alice, room, "nothing to see here");
    char *secret = send_text(&bob, hidden, "penguin secrets");

    json_t *re = search(&alice, "\"search_term\":\"PENGUIN\"", NULL);
    /* prefix match: "penguin" finds "penguins" (body and topic) and "Penguin" (name) */
    cr_assert(result_has(re, m1));
    cr_assert(!result_has(re, m2));
    cr_assert(!result_has(re, secret), "found a message of a room alice is not in");
    cr_assert_eq(json_integer_value(json_object_get(re, "count")), 3);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(re, "highlights"), 0)), "penguin");
    json_t *first = json_array_get(json_object_get(re, "results"), 0);
    cr_assert(json_is_number(json_object_get(first, "rank")));
    json_decref(re);

    re = search(&alice, "\"search_term\":\"penguin\",\"keys\":[\"content.name\"]", NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 1);
    json_t *ev = json_object_get(json_array_get(json_object_get(re, "results"), 0), "result");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "m.room.name");
    json_decref(re);

    re = search(&alice, "\"search_term\":\"huddle winter\"", NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 1);
    cr_assert(result_has(re, m1));
    json_decref(re);

    /* bob joins the public room: its messages become searchable for him */
    join(&bob, room);
    re = search(&bob, "\"search_term\":\"emperor\"", NULL);
    cr_assert(result_has(re, m1));
    json_decref(re);

    /* a redacted event is never found */
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/redact/%s/r1", room, m1);
    json_decref(call("PUT", alice.token, path, "{}", 200));
    re = search(&alice, "\"search_term\":\"emperor\"", NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 0);
    json_decref(re);
    free(room);
    free(hidden);
    free(m1);
    free(m2);
    free(secret);
}

/* Pages through all results of `criteria`, checking no event repeats; returns the count. */
static size_t page_all(const char *criteria, json_t *seen)
{
    char *token = NULL;
    size_t pages = 0;
    do {
        json_t *re = search(&alice, criteria, token);
        free(token);
        token = NULL;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(re, "results"), i, r) {
            const char *id = json_string_value(json_object_get(json_object_get(r, "result"), "event_id"));
            cr_assert_null(json_object_get(seen, id), "%s came twice", id);
            json_object_set_new(seen, id, json_integer((json_int_t)json_object_size(seen)));
        }
        const char *next = json_string_value(json_object_get(re, "next_batch"));
        if (next) token = strdup(next);
        json_decref(re);
        cr_assert_lt(++pages, 20);
    } while (token);
    return json_object_size(seen);
}

Test(hs_search, paging_in_both_orders)
{
    char *room = create_room(&alice, "{}");
    char *ids[23];
    for (int i = 0; i < 23; i++) {
        char text[64];
        snprintf(text, sizeof text, "walrus number %d", i);
        ids[i] = send_text(&alice, room, text);
    }
    json_t *seen = json_object();
    cr_assert_eq(page_all("\"search_term\":\"walrus\",\"order_by\":\"recent\",\"filter\":{\"limit\":5}", seen), 23);
    /* recent order: newest first across pages */
    for (int i = 0; i < 23; i++)
        cr_assert_eq(json_integer_value(json_object_get(seen, ids[i])), 22 - i, "event %d out of order", i);
    json_decref(seen);
    seen = json_object();
    cr_assert_eq(page_all("\"search_term\":\"walrus\",\"order_by\":\"rank\",\"filter\":{\"limit\":7}", seen), 23);
    json_decref(seen);

    /* the index follows events sent after the first search */
    char *late = send_text(&alice, room, "a late walrus");
    json_t *re = search(&alice, "\"search_term\":\"late\"", NULL);
    cr_assert(result_has(re, late));
    json_decref(re);
    /* and is still there after a restart */
    pgt_hs_restart(&hs);
    re = search(&alice, "\"search_term\":\"walrus\",\"filter\":{\"limit\":50}", NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 24);
    cr_assert_null(json_object_get(re, "next_batch"));
    json_decref(re);
    for (int i = 0; i < 23; i++) free(ids[i]);
    free(late);
    free(room);
}

Test(hs_search, filters_context_state_and_groups)
{
    char *r1 = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"one\"}");
    char *r2 = create_room(&alice, "{\"preset\":\"public_chat\",\"name\":\"two\"}");
    join(&bob, r1);
    char *before = send_text(&alice, r1, "before it");
    char *hit = send_text(&bob, r1, "the otter swims");
    char *after = send_text(&alice, r1, "after it");
    char *other = send_text(&alice, r2, "another otter");

    char criteria[1024];
    snprintf(criteria, sizeof criteria, "\"search_term\":\"otter\",\"filter\":{\"rooms\":[\"%s\"]}", r2);
    json_t *re = search(&alice, criteria, NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 1);
    cr_assert(result_has(re, other));
    json_decref(re);

    snprintf(criteria, sizeof criteria, "\"search_term\":\"otter\",\"filter\":{\"senders\":[\"%s\"]}", bob.user_id);
    re = search(&alice, criteria, NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 1);
    cr_assert(result_has(re, hit));
    json_decref(re);

    snprintf(criteria, sizeof criteria,
             "\"search_term\":\"swims\",\"event_context\":{\"before_limit\":1,\"after_limit\":1,"
             "\"include_profile\":true},\"include_state\":true,\"groupings\":{\"group_by\":[{\"key\":\"room_id\"}]}");
    re = search(&alice, criteria, NULL);
    json_t *one = json_array_get(json_object_get(re, "results"), 0);
    json_t *ctx = json_object_get(one, "context");
    cr_assert_not_null(ctx);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(ctx, "events_before"), 0),
                                                       "event_id")),
                     before);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(ctx, "events_after"), 0), "event_id")), after);
    cr_assert(json_is_string(json_object_get(ctx, "start")) && json_is_string(json_object_get(ctx, "end")));
    json_t *prof = json_object_get(json_object_get(ctx, "profile_info"), bob.user_id);
    cr_assert_str_eq(json_string_value(json_object_get(prof, "displayname")), "bob");
    json_t *state = json_object_get(json_object_get(re, "state"), r1);
    cr_assert_gt(json_array_size(state), 4);
    json_t *group = json_object_get(json_object_get(json_object_get(re, "groups"), "room_id"), r1);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(group, "results"), 0)), hit);
    json_decref(re);
    free(r1);
    free(r2);
    free(before);
    free(hit);
    free(after);
    free(other);
}

static void expect_400(const char *body, const char *query, const char *errcode)
{
    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/search%s", query ? query : "");
    json_t *j = call("POST", alice.token, path, body, 400);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), errcode, "%s", body);
    json_decref(j);
}

Test(hs_search, spec_errors)
{
    expect_400("{}", NULL, "M_BAD_JSON");
    expect_400("{\"search_categories\":{\"room_events\":{}}}", NULL, "M_BAD_JSON");
    expect_400("{\"search_categories\":{\"room_events\":{\"search_term\":\"x\",\"order_by\":\"best\"}}}", NULL,
               "M_INVALID_PARAM");
    expect_400("{\"search_categories\":{\"room_events\":{\"search_term\":\"x\",\"keys\":[\"content.x\"]}}}", NULL,
               "M_INVALID_PARAM");
    expect_400("{\"search_categories\":{\"room_events\":{\"search_term\":\"x\",\"filter\":{\"rooms\":[1]}}}}", NULL,
               "M_BAD_JSON");
    expect_400("{\"search_categories\":{\"room_events\":{\"search_term\":\"x\"}}}", "?next_batch=zzz",
               "M_INVALID_PARAM");
    expect_400("not json", NULL, "M_NOT_JSON");
    /* a parse error quoting bytes that are not UTF-8 is still a JSON 400 (found by fuzz_hs_search) */
    expect_400("{\"x\":\"\\\xde\xd2\"}", NULL, "M_NOT_JSON");
    long st;
    json_t *j = pgt_mx_call(hs.base, "POST", "/_matrix/client/v3/search", NULL,
                            "{\"search_categories\":{\"room_events\":{\"search_term\":\"x\"}}}", &st);
    cr_assert_eq(st, 401);
    json_decref(j);
    /* FTS syntax in the term is only ever a separator */
    json_t *re = search(&alice, "\"search_term\":\"\\\"(AND* OR NEAR\\\"\"", NULL);
    cr_assert_eq(json_integer_value(json_object_get(re, "count")), 0);
    json_decref(re);
    re = search(&alice, "\"search_term\":\"  \"", NULL);
    cr_assert_eq(json_array_size(json_object_get(re, "results")), 0);
    json_decref(re);
}

Test(hs_search, match_expression_is_quoted_words)
{
    json_t *hl = json_array();
    char *m = hs_search_match("Hello, \"wörld\" OR x*(y)", hl);
    cr_assert_str_eq(m, "\"hello\"* \"wörld\"* \"or\"* \"x\"* \"y\"*");
    cr_assert_eq(json_array_size(hl), 5);
    free(m);
    m = hs_search_match("--- ***", NULL);
    cr_assert_str_eq(m, "");
    free(m);
    json_decref(hl);
    int64_t v;
    char tok[32];
    hs_search_token_format(true, 40, tok, sizeof tok);
    cr_assert_eq(hs_search_token_parse(tok, true, &v), 0);
    cr_assert_eq(v, 40);
    cr_assert_neq(hs_search_token_parse(tok, false, &v), 0);
    cr_assert_neq(hs_search_token_parse("r12x", true, &v), 0);
}

Test(hs_search, client_limits_are_clamped_and_capped)
{
    const char *errcode;
    char err[256];
    hs_search_request r;
    json_t *body = json_loads("{\"search_categories\":{\"room_events\":{\"search_term\":\"x\","
                              "\"filter\":{\"limit\":9000000000},"
                              "\"event_context\":{\"before_limit\":9000000000,\"after_limit\":21}}}}",
                              0, NULL);
    cr_assert_eq(hs_search_parse(body, &r, &errcode, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.limit, HS_SEARCH_LIMIT_MAX);
    cr_assert_eq(r.before_limit, HS_SEARCH_CONTEXT_MAX);
    cr_assert_eq(r.after_limit, HS_SEARCH_CONTEXT_MAX);
    json_decref(body);

    /* a term or a filter list over its cap is a 400, not a bigger query */
    char *term = calloc(HS_SEARCH_TERM_MAX + 2, 1);
    memset(term, 'a', HS_SEARCH_TERM_MAX + 1);
    body = json_pack("{s{s{ss}}}", "search_categories", "room_events", "search_term", term);
    cr_assert_eq(hs_search_parse(body, &r, &errcode, err, sizeof err), -1);
    cr_assert_str_eq(errcode, "M_INVALID_PARAM");
    json_decref(body);
    free(term);
    json_t *senders = json_array();
    for (int i = 0; i <= HS_SEARCH_LIST_MAX; i++) json_array_append_new(senders, json_sprintf("@u%d:x", i));
    body = json_pack("{s{s{ss s{so}}}}", "search_categories", "room_events", "search_term", "x", "filter", "senders",
                     senders);
    cr_assert_eq(hs_search_parse(body, &r, &errcode, err, sizeof err), -1);
    json_decref(body);
}
