/* Server-side search over history fetched from another server, with two real pinegate
 * processes (--dev configs): alice on A makes a public room #lib:A with a topic and
 * sends 80 messages, the first with a word of its own; bob on B joins by alias (the
 * room's state comes as outliers, the latest messages as history below the join). B's
 * /search then finds a word of the history the join brought but neither the first
 * message (not fetched yet) nor the topic (an outlier: state, not timeline). Once bob
 * has paged /messages back to the room's beginning (B backfills the rest from A), the
 * first message is found too, newest-first paging with next_batch walks every message
 * exactly once across the negative positions of backfilled history, and none of it
 * is news: bob has no notifications and no unread count, also after a read receipt on
 * an old message. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

#define MESSAGES 80

PGT_FED_SUITE_AB(fed_backfill_search, 300);

/* POST /search on B as u for `term` in recent order, from next_batch `from` (NULL for
 * the first page), at most `limit` results. Returns room_events (new reference). */
static json_t *search(const pgt_mx_login *u, const char *term, const char *from, int limit)
{
    char body[512], path[512];
    snprintf(body, sizeof body,
             "{\"search_categories\":{\"room_events\":{\"search_term\":\"%s\",\"order_by\":\"recent\","
             "\"filter\":{\"limit\":%d}}}}",
             term, limit);
    char enc[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/search%s%s", from ? "?next_batch=" : "",
             from ? pgt_mx_enc(from, enc, sizeof enc) : "");
    long st;
    json_t *r = pgt_mx_call(B.base, "POST", path, u->token, body, &st);
    cr_assert_eq(st, 200, "search '%s': %ld", term, st);
    json_t *re = json_incref(json_object_get(json_object_get(r, "search_categories"), "room_events"));
    json_decref(r);
    cr_assert_not_null(re);
    return re;
}

/* The bodies (or topics) of a search answer's results, space-separated. */
static void result_texts(const json_t *re, char *out, size_t cap)
{
    out[0] = '\0';
    size_t i;
    json_t *one;
    json_array_foreach(json_object_get(re, "results"), i, one) {
        const json_t *content = json_object_get(json_object_get(one, "result"), "content");
        const char *t = json_string_value(json_object_get(content, "body"));
        if (!t) t = json_string_value(json_object_get(content, "topic"));
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", len ? " " : "", t ? t : "?");
    }
}

static void expect_found(const pgt_mx_login *u, const char *term, const char *expected)
{
    json_t *re = search(u, term, NULL, 50);
    char got[4096];
    result_texts(re, got, sizeof got);
    cr_assert_str_eq(got, expected, "search '%s'", term);
    json_decref(re);
}

/* Pages /messages backwards on B until the room's beginning. */
static void page_to_the_beginning(const pgt_mx_login *u, const char *room)
{
    char er[256], from[256] = "";
    pgt_mx_enc(room, er, sizeof er);
    for (int page = 0; page < 100; page++) {
        long st;
        json_t *r = pgt_mx_callf(B.base, "GET", u->token, &st, NULL,
                                 "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=30%s%s", er,
                                 from[0] ? "&from=" : "", from);
        cr_assert_eq(st, 200, "messages page %d: %ld", page, st);
        const char *end = json_string_value(json_object_get(r, "end"));
        bool more = end && json_array_size(json_object_get(r, "chunk")) > 0;
        if (end) snprintf(from, sizeof from, "%s", end);
        json_decref(r);
        if (!more) return;
    }
    cr_assert_fail("no beginning after 100 pages");
}

static void expect_no_news(const pgt_mx_login *u, const char *room)
{
    long st;
    json_t *n = pgt_mx_callf(B.base, "GET", u->token, &st, NULL, "/_matrix/client/v3/notifications");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(n, "notifications")), 0, "notifications: %s",
                 json_dumps(json_object_get(n, "notifications"), 0));
    json_decref(n);
    json_t *sync = pgt_mx_callf(B.base, "GET", u->token, &st, NULL, "/_matrix/client/v3/sync?timeout=0");
    cr_assert_eq(st, 200);
    json_t *unread = json_object_get(
        json_object_get(json_object_get(json_object_get(sync, "rooms"), "join"), room), "unread_notifications");
    cr_assert_not_null(unread);
    cr_assert_eq(json_integer_value(json_object_get(unread, "notification_count")), 0, "unread: %s",
                 json_dumps(unread, 0));
    json_decref(sync);
}

Test(fed_backfill_search, backfilled_history_is_searched_outliers_are_not)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *room = pgt_mx_create_room(A.base, &alice,
                                    "{\"preset\":\"public_chat\",\"room_alias_name\":\"lib\","
                                    "\"topic\":\"aardvark gazette\"}");
    char *first_id = pgt_mx_send_text(A.base, &alice, room, "quokka sighting");
    for (int i = 2; i < MESSAGES; i++) {
        char text[32];
        snprintf(text, sizeof text, "filler %d", i);
        free(pgt_mx_send_text(A.base, &alice, room, text));
    }
    free(pgt_mx_send_text(A.base, &alice, room, "numbat parade"));
    char alias[128], ea[256];
    snprintf(alias, sizeof alias, "#lib:%s", A.name);
    long st;
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s",
                                 pgt_mx_enc(alias, ea, sizeof ea)),
                    &st);

    /* The join brought the newest messages as history: searchable. The first message is
     * not on B yet; the topic is state held as an outlier. */
    expect_found(&bob, "numbat", "numbat parade");
    expect_found(&bob, "quokka", "");
    expect_found(&bob, "aardvark", "");

    page_to_the_beginning(&bob, room);
    expect_found(&bob, "quokka", "quokka sighting");

    /* newest first, 7 a page, across the history's negative positions: each once */
    json_t *seen = json_object();
    char next[128] = "";
    int pages = 0;
    for (; pages < 40; pages++) {
        json_t *re = search(&bob, "filler", next[0] ? next : NULL, 7);
        size_t i;
        json_t *one;
        json_array_foreach(json_object_get(re, "results"), i, one) {
            const char *body = json_string_value(
                json_object_get(json_object_get(json_object_get(one, "result"), "content"), "body"));
            cr_assert_not_null(body);
            cr_assert_null(json_object_get(seen, body), "'%s' came twice", body);
            json_object_set_new(seen, body, json_true());
        }
        const char *nb = json_string_value(json_object_get(re, "next_batch"));
        snprintf(next, sizeof next, "%s", nb ? nb : "");
        json_decref(re);
        if (!nb) break;
    }
    cr_assert_eq(json_object_size(seen), MESSAGES - 2, "%zu fillers found in %d pages", json_object_size(seen),
                 pages + 1);
    json_decref(seen);

    /* history is not news, not even after a read receipt on the first message */
    expect_no_news(&bob, room);
    char er[256], ee[256];
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.read/%s",
                                 pgt_mx_enc(room, er, sizeof er), pgt_mx_enc(first_id, ee, sizeof ee)),
                    &st);
    expect_no_news(&bob, room);
    free(first_id);
    free(room);
}
