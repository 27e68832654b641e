/* hs_search: checks a /search body and builds the FTS5 expression (see hs_search.h).
 * The user's term never reaches FTS5's query syntax: it is cut into words at every ASCII
 * byte that is not a letter or digit, so quotes, operators and parentheses can only
 * separate words, and each word is quoted. */
#include "server-core/hs_search.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_strbuf.h"

static int fail(const char **errcode, const char *code, char *err, size_t errlen, const char *msg)
{
    *errcode = code;
    snprintf(err, errlen, "%s", msg);
    return -1;
}

/* A list of at most HS_SEARCH_LIST_MAX strings, or absent/null. */
static int string_list(const json_t *filter, const char *key, const json_t **out, const char **errcode, char *err,
                       size_t errlen)
{
    const json_t *v = json_object_get(filter, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    char msg[128];
    snprintf(msg, sizeof msg, "filter.%s must be a list of at most %d strings", key, HS_SEARCH_LIST_MAX);
    if (!json_is_array(v) || json_array_size(v) > HS_SEARCH_LIST_MAX)
        return fail(errcode, "M_BAD_JSON", err, errlen, msg);
    size_t i;
    const json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) return fail(errcode, "M_BAD_JSON", err, errlen, msg);
    }
    *out = v;
    return 0;
}

/* An optional integer in [lo, hi] (default when absent). */
static int bounded_int(const json_t *obj, const char *key, long lo, long hi, long dflt, long *out,
                       const char **errcode, char *err, size_t errlen)
{
    const json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo) {
        char msg[96];
        snprintf(msg, sizeof msg, "'%s' must be an integer of at least %ld", key, lo);
        return fail(errcode, "M_INVALID_PARAM", err, errlen, msg);
    }
    *out = json_integer_value(v) > hi ? hi : (long)json_integer_value(v);
    return 0;
}

static int parse_keys(const json_t *keys, unsigned *out, const char **errcode, char *err, size_t errlen)
{
    *out = HS_SEARCH_KEY_BODY | HS_SEARCH_KEY_NAME | HS_SEARCH_KEY_TOPIC;
    if (!keys || json_is_null(keys)) return 0;
    if (!json_is_array(keys) || json_array_size(keys) > 3)
        return fail(errcode, "M_BAD_JSON", err, errlen, "'keys' must be a list of up to three keys");
    if (json_array_size(keys) == 0) return 0;
    *out = 0;
    size_t i;
    const json_t *k;
    json_array_foreach(keys, i, k) {
        const char *s = json_string_value(k);
        if (s && strcmp(s, "content.body") == 0) *out |= HS_SEARCH_KEY_BODY;
        else if (s && strcmp(s, "content.name") == 0) *out |= HS_SEARCH_KEY_NAME;
        else if (s && strcmp(s, "content.topic") == 0) *out |= HS_SEARCH_KEY_TOPIC;
        else return fail(errcode, "M_INVALID_PARAM", err, errlen,
                         "'keys' may hold only content.body, content.name and content.topic");
    }
    return 0;
}

static int parse_groupings(const json_t *g, hs_search_request *out, const char **errcode, char *err, size_t errlen)
{
    if (!g || json_is_null(g)) return 0;
    const json_t *by = json_object_get(g, "group_by");
    if (!json_is_object(g) || (by && !json_is_array(by)) || json_array_size(by) > 2)
        return fail(errcode, "M_BAD_JSON", err, errlen, "'groupings.group_by' must be a list of up to two groups");
    size_t i;
    const json_t *one;
    json_array_foreach(by, i, one) {
        const char *key = json_string_value(json_object_get(one, "key"));
        if (key && strcmp(key, "room_id") == 0) out->group_by_room = true;
        else if (key && strcmp(key, "sender") == 0) out->group_by_sender = true;
        else return fail(errcode, "M_INVALID_PARAM", err, errlen, "a group's key must be room_id or sender");
    }
    return 0;
}

int hs_search_parse(const json_t *body, hs_search_request *out, const char **errcode, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *cats = json_object_get(body, "search_categories");
    if (!json_is_object(cats))
        return fail(errcode, "M_BAD_JSON", err, errlen, "'search_categories' must be an object");
    const json_t *re = json_object_get(cats, "room_events");
    if (!re || json_is_null(re)) {
        if (json_object_size(cats) > 0)
            return fail(errcode, "M_INVALID_PARAM", err, errlen, "only the room_events category is supported");
        return fail(errcode, "M_BAD_JSON", err, errlen, "'search_categories.room_events' is missing");
    }
    if (!json_is_object(re)) return fail(errcode, "M_BAD_JSON", err, errlen, "'room_events' must be an object");
    out->search_term = json_string_value(json_object_get(re, "search_term"));
    if (!out->search_term) return fail(errcode, "M_BAD_JSON", err, errlen, "'search_term' must be a string");
    if (strlen(out->search_term) > HS_SEARCH_TERM_MAX)
        return fail(errcode, "M_INVALID_PARAM", err, errlen, "'search_term' is too long");
    if (parse_keys(json_object_get(re, "keys"), &out->keys, errcode, err, errlen) != 0) return -1;

    const json_t *order = json_object_get(re, "order_by");
    const char *o = json_string_value(order);
    if (order && !json_is_null(order) && (!o || (strcmp(o, "rank") != 0 && strcmp(o, "recent") != 0)))
        return fail(errcode, "M_INVALID_PARAM", err, errlen, "'order_by' must be rank or recent");
    out->by_rank = !o || strcmp(o, "rank") == 0;

    const json_t *filter = json_object_get(re, "filter");
    if (filter && !json_is_null(filter) && !json_is_object(filter))
        return fail(errcode, "M_BAD_JSON", err, errlen, "'filter' must be an object");
    if (string_list(filter, "rooms", &out->rooms, errcode, err, errlen) ||
        string_list(filter, "not_rooms", &out->not_rooms, errcode, err, errlen) ||
        string_list(filter, "senders", &out->senders, errcode, err, errlen) ||
        string_list(filter, "not_senders", &out->not_senders, errcode, err, errlen) ||
        bounded_int(filter, "limit", 1, HS_SEARCH_LIMIT_MAX, HS_SEARCH_LIMIT_DEFAULT, &out->limit, errcode, err,
                    errlen))
        return -1;

    const json_t *ctx = json_object_get(re, "event_context");
    if (ctx && !json_is_null(ctx)) {
        if (!json_is_object(ctx)) return fail(errcode, "M_BAD_JSON", err, errlen, "'event_context' must be an object");
        out->context = true;
        if (bounded_int(ctx, "before_limit", 0, HS_SEARCH_CONTEXT_MAX, 5, &out->before_limit, errcode, err, errlen) ||
            bounded_int(ctx, "after_limit", 0, HS_SEARCH_CONTEXT_MAX, 5, &out->after_limit, errcode, err, errlen))
            return -1;
        const json_t *p = json_object_get(ctx, "include_profile");
        if (p && !json_is_boolean(p))
            return fail(errcode, "M_BAD_JSON", err, errlen, "'include_profile' must be a boolean");
        out->include_profile = json_is_true(p);
    }
    const json_t *st = json_object_get(re, "include_state");
    if (st && !json_is_boolean(st)) return fail(errcode, "M_BAD_JSON", err, errlen, "'include_state' must be a boolean");
    out->include_state = json_is_true(st);
    return parse_groupings(json_object_get(re, "groupings"), out, errcode, err, errlen);
}

static bool word_byte(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char *hs_search_match(const char *term, json_t *highlights)
{
    hs_strbuf b = HS_STRBUF_INIT;
    int words = 0;
    for (const char *p = term; *p && words < HS_SEARCH_WORDS_MAX;) {
        if (!word_byte((unsigned char)*p)) {
            p++;
            continue;
        }
        const char *start = p;
        while (*p && word_byte((unsigned char)*p)) p++;
        size_t len = (size_t)(p - start);
        char word[HS_SEARCH_TERM_MAX + 1];
        for (size_t i = 0; i < len; i++)
            word[i] = start[i] >= 'A' && start[i] <= 'Z' ? (char)(start[i] - 'A' + 'a') : start[i];
        word[len] = 0;
        hs_strbuf_printf(&b, "%s\"%s\"*", words++ ? " " : "", word);
        if (highlights) json_array_append_new(highlights, json_string(word));
    }
    return hs_strbuf_take(&b);
}

void hs_search_token_format(bool by_rank, int64_t value, char *out, size_t cap)
{
    snprintf(out, cap, "%c%" PRId64, by_rank ? 'r' : 't', value);
}

int hs_search_token_parse(const char *token, bool by_rank, int64_t *value)
{
    if (!token || token[0] != (by_rank ? 'r' : 't')) return -1;
    /* Backfilled history sits below zero: a recent-order position may be negative. */
    bool negative = !by_rank && token[1] == '-';
    const char *digits = token + 1 + negative;
    if (!*digits || strlen(digits) > 18 || (negative && digits[0] == '0')) return -1;
    int64_t v = 0;
    for (const char *p = digits; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *value = negative ? -v : v;
    return 0;
}
