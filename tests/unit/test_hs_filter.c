/* hs_filter: validation errors name the field, wildcards match like the spec's
 * examples (and like a reference backtracking matcher on random globs), not_* wins over
 * the allow lists, limits clamp, wildcard lists are bounded and the costliest filter
 * still accepted matches 10,000 event types in a bounded time. And hs_typing (suite
 * hs_ephemeral): notices expire at their deadline, the serial moves exactly on changes,
 * a renewal is no change, a token from before a restart counts as "send all", and one
 * user types in at most HS_TYPING_MAX_PER_USER rooms at once. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_filter.h"
#include "server-core/hs_typing.h"

static int parse(const char *json, hs_filter *f, char *err, size_t len)
{
    return hs_filter_parse(json, strlen(json), f, err, len);
}

Test(hs_filter, rejects_bad_filters_with_the_field_named)
{
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"[]", "object"},
        {"{\"room\":[]}", "room"},
        {"{\"room\":{\"timeline\":{\"limit\":0}}}", "room.timeline.limit"},
        {"{\"room\":{\"timeline\":{\"limit\":\"5\"}}}", "room.timeline.limit"},
        {"{\"presence\":{\"types\":[1]}}", "presence.types[0]"},
        {"{\"room\":{\"state\":{\"lazy_load_members\":1}}}", "lazy_load_members"},
        {"{\"room\":{\"rooms\":\"!a:b\"}}", "room.rooms"},
        {"{\"event_format\":\"xml\"}", "event_format"},
        {"{\"room\":{\"ephemeral\":{\"contains_url\":\"yes\"}}}", "contains_url"},
        {"{\"a\":1,\"a\":2}", "JSON"},
        {"{", "JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hs_filter f;
        char err[256] = "";
        cr_assert_eq(parse(cases[i].json, &f, err, sizeof err), -1, "%s accepted", cases[i].json);
        cr_assert(strstr(err, cases[i].needle), "%s: '%s' lacks '%s'", cases[i].json, err, cases[i].needle);
        cr_assert_null(f.root);
    }
    char big[HS_FILTER_MAX_BYTES + 2];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = 0;
    hs_filter f;
    char err[256];
    cr_assert_eq(parse(big, &f, err, sizeof err), -1);
    cr_assert(strstr(err, "larger"));

    /* a list of HS_FILTER_MAX_LIST entries is taken, one more is refused by name */
    char list[HS_FILTER_MAX_LIST * 4 + 64];
    for (int n = HS_FILTER_MAX_LIST; n <= HS_FILTER_MAX_LIST + 1; n++) {
        size_t len = (size_t)snprintf(list, sizeof list, "{\"room\":{\"timeline\":{\"senders\":[");
        for (int i = 0; i < n; i++) len += (size_t)snprintf(list + len, sizeof list - len, "%s\"\"", i ? "," : "");
        snprintf(list + len, sizeof list - len, "]}}}");
        err[0] = 0;
        int rc = parse(list, &f, err, sizeof err);
        if (n == HS_FILTER_MAX_LIST) {
            cr_assert_eq(rc, 0, "%d senders refused: %s", n, err);
            cr_assert_eq(json_array_size(f.timeline.senders), (size_t)n);
            hs_filter_clear(&f);
        } else {
            cr_assert_eq(rc, -1, "%d senders accepted", n);
            cr_assert(strstr(err, "room.timeline.senders"), "'%s' does not name the list", err);
        }
    }
}

Test(hs_filter, wildcards)
{
    cr_assert(hs_filter_type_matches("m.*", "m.room.message"));
    cr_assert(hs_filter_type_matches("*", ""));
    cr_assert(hs_filter_type_matches("m.room.*e", "m.room.message"));
    cr_assert(hs_filter_type_matches("*.message", "m.room.message"));
    cr_assert(hs_filter_type_matches("m.room.message", "m.room.message"));
    cr_assert_not(hs_filter_type_matches("m.room.message", "m.room.messages"));
    cr_assert_not(hs_filter_type_matches("m.room", "m.room.message"));
    cr_assert_not(hs_filter_type_matches("*.member", "m.room.message"));
    cr_assert(hs_filter_type_matches("a*b*c", "aXXbYYbZc"));
}

/* The definition of a '*'-glob, by plain recursion: the reference the fast matcher must
 * agree with. Only used on short strings. */
static bool reference_match(const char *p, const char *t)
{
    if (*p == 0) return *t == 0;
    if (*p == '*') return reference_match(p + 1, t) || (*t && reference_match(p, t + 1));
    return *p == *t && reference_match(p + 1, t + 1);
}

Test(hs_filter, wildcards_agree_with_the_reference_on_random_globs)
{
    srand(6);
    char p[12], t[14];
    for (int round = 0; round < 200000; round++) {
        int pl = rand() % 11, tl = rand() % 13;
        for (int i = 0; i < pl; i++) p[i] = "ab*"[rand() % 3];
        for (int i = 0; i < tl; i++) t[i] = "ab"[rand() % 2];
        p[pl] = 0;
        t[tl] = 0;
        cr_assert_eq(hs_filter_type_matches(p, t), reference_match(p, t), "'%s' vs '%s'", p, t);
    }
}

/* A filter whose room.timeline has `wild` wildcard types of `len` bytes each (and the
 * same in not_types), plus `exact` plain types; the caller frees it. */
static char *wide_filter(int wild, int len, int exact)
{
    size_t cap = (size_t)(2 * wild * (len + 3) + exact * 16 + 128), n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\"room\":{\"timeline\":{");
    for (int list = 0; list < 2; list++) {
        n += (size_t)snprintf(s + n, cap - n, "%s\"%s\":[", list ? "," : "", list ? "not_types" : "types");
        /* "*aaa...ab": against a run of 'a' a backtracking glob matcher tries the
         * literal at every position and fails only at its end - its worst case. */
        for (int i = 0; i < wild; i++) {
            n += (size_t)snprintf(s + n, cap - n, "%s\"*", i ? "," : "");
            for (int k = 0; k < len - 3; k++) s[n++] = 'a';
            n += (size_t)snprintf(s + n, cap - n, "%cb\"", 'a' + i % 26);
        }
        for (int i = 0; list == 0 && i < exact; i++) n += (size_t)snprintf(s + n, cap - n, ",\"t.%d\"", i);
        n += (size_t)snprintf(s + n, cap - n, "]");
    }
    snprintf(s + n, cap - n, "}}}");
    return s;
}

Test(hs_filter, wildcard_lists_are_bounded_and_match_in_bounded_time)
{
    hs_filter f;
    char err[256];
    /* One wildcard more than the cap, or one byte more, is refused by name. */
    char *over = wide_filter(HS_FILTER_MAX_WILDCARDS + 1, 8, 0);
    cr_assert_eq(parse(over, &f, err, sizeof err), -1, "%d wildcards accepted", HS_FILTER_MAX_WILDCARDS + 1);
    cr_assert(strstr(err, "room.timeline.types") && strstr(err, "'*'"), "%s", err);
    free(over);
    over = wide_filter(1, HS_FILTER_MAX_PATTERN_BYTES + 1, 0);
    cr_assert_eq(parse(over, &f, err, sizeof err), -1, "a %d-byte type accepted", HS_FILTER_MAX_PATTERN_BYTES + 1);
    cr_assert(strstr(err, "room.timeline.types[0]") && strstr(err, "longer"), "%s", err);
    free(over);

    /* The costliest filter still accepted: wildcards up to the cap, plus plain types up
     * to the list limit. The wildcards are half the longest type: against 255-byte types
     * a backtracking matcher then tries the 127-byte literal at 128 start positions, its
     * worst case within the limits; a linear matcher's cost hardly depends on it. */
    char *worst = wide_filter(HS_FILTER_MAX_WILDCARDS, HS_FILTER_MAX_PATTERN_BYTES / 2 + 1,
                              HS_FILTER_MAX_LIST - HS_FILTER_MAX_WILDCARDS);
    cr_assert_eq(parse(worst, &f, err, sizeof err), 0, "%s", err);
    free(worst);
    /* 10,000 different event types of the longest kind, runs of 'a' with one other
     * letter (not 'b') moving along, that no wildcard matches: each type is compared
     * with all 2 x 32 wildcards. */
    char type[HS_FILTER_MAX_PATTERN_BYTES + 1];
    memset(type, 'a', sizeof type - 1);
    type[sizeof type - 1] = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int allowed = 0;
    for (int i = 0; i < 10000; i++) {
        char *moving = &type[i % (sizeof type - 1)];
        *moving = (char)('c' + i / (sizeof type - 1) % 24);
        allowed += hs_filter_event_allowed(&f.timeline, type, "@a:s", "!r:s", NULL);
        *moving = 'a';
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_eq(allowed, 0, "no type of the run matches a types entry (each ends in 'b')");
    cr_log_info("10,000 types against the worst accepted filter: %.3f s", s);
    /* A backtracking matcher needs about 2 x 32 x 128 x 127 steps per type here, 10
     * billion in all; a linear one at most 2 x 32 x 383 per type, 250 million byte
     * steps. 2 s is generous for the latter even under ASan on a loaded machine, and far
     * too short for the former. */
    cr_assert(s < 2.0, "10,000 types took %.2f s", s);
    cr_assert(hs_filter_event_allowed(&f.timeline, "t.5", "@a:s", "!r:s", NULL), "plain types still match");
    hs_filter_clear(&f);
}

Test(hs_filter, event_and_room_matching)
{
    hs_filter f;
    char err[256];
    cr_assert_eq(parse("{\"room\":{\"not_rooms\":[\"!x:s\"],\"timeline\":{\"types\":[\"m.room.*\"],"
                       "\"not_types\":[\"m.room.member\"],\"senders\":[\"@a:s\",\"@b:s\"],\"not_senders\":[\"@b:s\"],"
                       "\"limit\":5000,\"contains_url\":true},\"state\":{\"types\":[]}},"
                       "\"presence\":{\"not_senders\":[\"@a:s\"]}}",
                       &f, err, sizeof err),
                 0, "%s", err);
    json_t *url = json_pack("{ss}", "url", "mxc://s/x"), *plain = json_pack("{ss}", "body", "hi");
    const hs_event_filter *tl = &f.timeline;
    cr_assert(hs_filter_event_allowed(tl, "m.room.message", "@a:s", "!r:s", url));
    cr_assert_not(hs_filter_event_allowed(tl, "m.room.message", "@a:s", "!r:s", plain), "contains_url");
    cr_assert_not(hs_filter_event_allowed(tl, "m.room.member", "@a:s", "!r:s", url), "not_types wins");
    cr_assert_not(hs_filter_event_allowed(tl, "m.room.message", "@b:s", "!r:s", url), "not_senders wins");
    cr_assert_not(hs_filter_event_allowed(tl, "m.room.message", "@c:s", "!r:s", url), "not in senders");
    cr_assert_not(hs_filter_event_allowed(tl, "org.custom", "@a:s", "!r:s", url));
    cr_assert_not(hs_filter_event_allowed(&f.state, "m.room.name", "@a:s", "!r:s", NULL), "empty types = nothing");
    cr_assert(hs_filter_event_allowed(&f.ephemeral, "m.typing", NULL, "!r:s", NULL), "absent = everything");
    cr_assert_not(hs_filter_event_allowed(&f.presence, "m.presence", "@a:s", NULL, NULL));
    cr_assert(hs_filter_event_allowed(&f.presence, "m.presence", "@b:s", NULL, NULL));
    cr_assert_not(hs_filter_room_allowed(&f, "!x:s"));
    cr_assert(hs_filter_room_allowed(&f, "!r:s"));
    cr_assert_eq(hs_filter_limit(tl, 10, 1000), 1000);
    cr_assert_eq(hs_filter_limit(&f.state, 10, 1000), 10);
    json_decref(url);
    json_decref(plain);
    hs_filter_clear(&f);
    hs_filter_init(&f);
    cr_assert(hs_filter_event_allowed(&f.timeline, "anything", "@z:s", "!q:s", NULL));
    cr_assert(hs_filter_room_allowed(&f, "!q:s"));
}

Test(hs_ephemeral, typing_expires_and_moves_the_serial_on_changes_only)
{
    hs_typing *t = hs_typing_new();
    cr_assert_eq(hs_typing_serial(t, 0), 0);
    cr_assert_eq(hs_typing_set(t, "!r", "@a", true, 1000, 0), 1);
    cr_assert_eq(hs_typing_set(t, "!r", "@a", true, 5000, 100), 0, "a renewal is no change");
    cr_assert_eq(hs_typing_set(t, "!r", "@b", true, 500, 100), 1);
    int64_t s = hs_typing_serial(t, 200);
    cr_assert_eq(s, 2);
    cr_assert_eq(hs_typing_next_expiry(t), 600);
    json_t *ids = hs_typing_room(t, "!r", 0);
    cr_assert_eq(json_array_size(ids), 2);
    json_decref(ids);
    cr_assert_null(hs_typing_room(t, "!r", s), "unchanged since the token");
    cr_assert_null(hs_typing_room(t, "!other", 0));
    /* @b's notice expires at 600 */
    cr_assert_eq(hs_typing_serial(t, 600), 3);
    ids = hs_typing_room(t, "!r", s);
    cr_assert_eq(json_array_size(ids), 1);
    cr_assert_str_eq(json_string_value(json_array_get(ids, 0)), "@a");
    json_decref(ids);
    cr_assert_eq(hs_typing_set(t, "!r", "@a", false, 0, 700), 1);
    cr_assert_eq(hs_typing_set(t, "!r", "@a", false, 0, 700), 0, "stopping twice is no change");
    cr_assert_eq(hs_typing_next_expiry(t), INT64_MAX);
    /* a token from a previous process (serial above ours) gets the room again */
    ids = hs_typing_room(t, "!r", 1000);
    cr_assert_not_null(ids);
    cr_assert_eq(json_array_size(ids), 0);
    json_decref(ids);
    /* timeouts are clamped */
    cr_assert_eq(hs_typing_set(t, "!r", "@c", true, INT64_C(1) << 40, 0), 1);
    cr_assert_eq(hs_typing_next_expiry(t), HS_TYPING_MAX_TIMEOUT_MS);
    hs_typing_free(t);
}

Test(hs_ephemeral, one_user_types_in_a_bounded_number_of_rooms)
{
    hs_typing *t = hs_typing_new();
    char room[32];
    for (int i = 0; i < HS_TYPING_MAX_PER_USER; i++) {
        snprintf(room, sizeof room, "!r%d", i);
        cr_assert_eq(hs_typing_set(t, room, "@a", true, 30000, 0), 1, "room %d refused", i);
    }
    cr_assert_eq(hs_typing_set(t, "!one-more", "@a", true, 30000, 0), -1, "the per-user cap was not applied");
    cr_assert_eq(hs_typing_set(t, "!r0", "@a", true, 30000, 10), 0, "a renewal within the cap still works");
    cr_assert_eq(hs_typing_set(t, "!one-more", "@b", true, 30000, 0), 1, "another user is not held by @a's cap");
    cr_assert_eq(hs_typing_set(t, "!r0", "@a", false, 0, 20), 1);
    cr_assert_eq(hs_typing_set(t, "!one-more", "@a", true, 30000, 20), 1, "a stop frees a place");
    json_t *ids = hs_typing_room(t, "!one-more", 0);
    cr_assert_eq(json_array_size(ids), 2);
    json_decref(ids);
    /* still full; once the notices set at 0 expire (30000), their places are free */
    cr_assert_eq(hs_typing_set(t, "!fresh", "@a", true, 30000, 25000), -1);
    cr_assert_eq(hs_typing_set(t, "!fresh", "@a", true, 30000, 30000), 1, "expired notices still count");
    hs_typing_free(t);
}
