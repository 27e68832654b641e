/* hs_push_eval: see hs_push_eval.h. Globs run as a small NFA over code points (one
 * bool per pattern position), never by backtracking, so a hostile pattern such as
 * "*a*a*a*a*b" costs O(text x pattern) and not exponential time. The content.body
 * rule ("starts and ends at a word boundary") is the same NFA with a new start allowed
 * after every non-word character and acceptance only before one, which is what
 * Synapse's (^|\W)pattern(\W|$) regex means. */
#include "server-core/hs_push_eval.h"

#include "server-core/hs_push_rules.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_NOTIFICATION_LEVEL 50  /* the spec's default for notifications.room */

/* ---- glob ---------------------------------------------------------------------------- */

/* Short strings (almost all patterns and bodies) are decoded and matched in stack
 * buffers; evaluation runs once per event per rule, so malloc would dominate. */
#define STACK_CPS 256

/* Decodes UTF-8 into code points; an invalid byte stands for itself so every input
 * decodes. Uses `stack` (STACK_CPS entries) when the text fits, else a malloc'd array
 * the caller frees when it differs from `stack`. Returns NULL on allocation failure. */
static uint32_t *decode(const char *s, size_t *n, uint32_t *stack)
{
    size_t len = strlen(s), k = 0;
    uint32_t *out = len < STACK_CPS ? stack : malloc((len + 1) * sizeof *out);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        size_t extra = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
        if (c >= 0xf8 || i + extra >= len) extra = 0;
        uint32_t cp = extra ? c & (0x3f >> extra) : c;
        size_t j = 1;
        for (; j <= extra && (p[i + j] & 0xc0) == 0x80; j++) cp = (cp << 6) | (p[i + j] & 0x3f);
        if (j <= extra) { /* truncated sequence: take the lead byte alone */
            cp = c;
            j = 1;
        }
        out[k++] = cp;
        i += j;
    }
    *n = k;
    return out;
}

static uint32_t fold(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool is_word(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Adds state i and, through '*', the states it reaches without input. */
static void activate(bool *act, const uint32_t *p, size_t m, size_t i, bool literal)
{
    while (i <= m && !act[i]) {
        act[i] = true;
        if (i == m || literal || p[i] != '*') return;
        i++;
    }
}

static bool run(const uint32_t *p, size_t m, const uint32_t *t, size_t n, bool word_boundary, bool literal)
{
    bool stack_a[STACK_CPS + 1], stack_b[STACK_CPS + 1];
    bool on_stack = m < STACK_CPS;
    bool *cur = on_stack ? stack_a : malloc(m + 1), *next = on_stack ? stack_b : malloc(m + 1);
    if (cur) memset(cur, 0, m + 1);
    bool matched = false;
    for (size_t j = 0; cur && next && j <= n && !matched; j++) {
        if (j == 0 || (word_boundary && !is_word(t[j - 1]))) activate(cur, p, m, 0, literal);
        if (cur[m] && (j == n || (word_boundary && !is_word(t[j])))) matched = true;
        if (j == n) break;
        memset(next, 0, m + 1);
        uint32_t c = fold(t[j]);
        for (size_t i = 0; i < m; i++) {
            if (!cur[i]) continue;
            if (!literal && p[i] == '*') activate(next, p, m, i, literal);
            else if ((!literal && p[i] == '?') || fold(p[i]) == c) activate(next, p, m, i + 1, literal);
        }
        bool *tmp = cur;
        cur = next;
        next = tmp;
    }
    if (!on_stack) {
        free(cur);
        free(next);
    }
    return matched;
}

/* `budget` (NULL: unlimited) is what is left of the event's HS_PUSH_EVAL_BUDGET; a
 * match that would cost more than that is neither decoded nor run and does not match.
 * The cost is counted in bytes, an upper bound of the code points run() steps over. */
static bool match_text(const char *pattern, const char *value, bool word_boundary, bool literal, int64_t *budget)
{
    if (budget) {
        int64_t cost = (int64_t)(strlen(pattern) + 1) * (int64_t)(strlen(value) + 1);
        if (cost > *budget) return false;
        *budget -= cost;
    }
    size_t m, n;
    uint32_t pstack[STACK_CPS], tstack[STACK_CPS];
    uint32_t *p = decode(pattern, &m, pstack), *t = decode(value, &n, tstack);
    bool ok = p && t && run(p, m, t, n, word_boundary, literal);
    if (p != pstack) free(p);
    if (t != tstack) free(t);
    return ok;
}

bool hs_push_glob(const char *pattern, const char *value, bool word_boundary)
{
    return match_text(pattern, value, word_boundary, false, NULL);
}

/* ---- properties ---------------------------------------------------------------------- */

const json_t *hs_push_property(const json_t *event, const char *path)
{
    size_t len = strlen(path);
    char stack[STACK_CPS];
    char *key = len < sizeof stack ? stack : malloc(len + 1);
    if (!key) return NULL;
    const json_t *v = event;
    const char *p = path;
    while (v) {
        size_t k = 0;
        while (*p && *p != '.') {
            if (*p == '\\' && (p[1] == '.' || p[1] == '\\')) p++;
            key[k++] = *p++;
        }
        key[k] = '\0';
        v = json_is_object(v) ? json_object_get(v, key) : NULL;
        if (!*p) break;
        p++;
    }
    if (key != stack) free(key);
    return v;
}

/* ---- conditions ---------------------------------------------------------------------- */

/* A value event_property_is/contains compares: string, integer, boolean or null. */
static bool comparable(const json_t *v)
{
    return json_is_string(v) || json_is_integer(v) || json_is_boolean(v) || json_is_null(v);
}

static bool member_count_is(const char *is, int64_t count)
{
    int op = 0; /* 0 ==, 1 <, 2 >, 3 <=, 4 >= */
    if (strncmp(is, "==", 2) == 0) is += 2;
    else if (strncmp(is, "<=", 2) == 0) op = 3, is += 2;
    else if (strncmp(is, ">=", 2) == 0) op = 4, is += 2;
    else if (*is == '<') op = 1, is++;
    else if (*is == '>') op = 2, is++;
    if (!*is || strlen(is) > 18 || strspn(is, "0123456789") != strlen(is)) return false;
    int64_t want = strtoll(is, NULL, 10);
    switch (op) {
    case 1: return count < want;
    case 2: return count > want;
    case 3: return count <= want;
    case 4: return count >= want;
    default: return count == want;
    }
}

static bool condition_holds(const json_t *c, const json_t *event, const hs_push_ctx *ctx, int64_t *budget)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const char *key = json_string_value(json_object_get(c, "key"));
    if (!kind) return false;
    if (strcmp(kind, "event_match") == 0) {
        const char *pattern = json_string_value(json_object_get(c, "pattern"));
        const char *value = key ? json_string_value(hs_push_property(event, key)) : NULL;
        return pattern && value && match_text(pattern, value, strcmp(key, "content.body") == 0, false, budget);
    }
    if (strcmp(kind, "event_property_is") == 0) {
        const json_t *want = json_object_get(c, "value"), *v = key ? hs_push_property(event, key) : NULL;
        return want && v && comparable(want) && comparable(v) && json_equal(want, v);
    }
    if (strcmp(kind, "event_property_contains") == 0) {
        const json_t *want = json_object_get(c, "value"), *arr = key ? hs_push_property(event, key) : NULL;
        size_t i;
        const json_t *v;
        if (!want || !comparable(want) || !json_is_array(arr)) return false;
        json_array_foreach(arr, i, v)
        {
            if (comparable(v) && json_equal(want, v)) return true;
        }
        return false;
    }
    if (strcmp(kind, "contains_display_name") == 0) {
        const char *body = json_string_value(hs_push_property(event, "content.body"));
        return body && ctx->display_name && ctx->display_name[0] &&
               match_text(ctx->display_name, body, true, true, budget);
    }
    if (strcmp(kind, "room_member_count") == 0) {
        const char *is = json_string_value(json_object_get(c, "is"));
        return is && member_count_is(is, ctx->member_count);
    }
    if (strcmp(kind, "sender_notification_permission") == 0) {
        if (!key) return false;
        const json_t *lvl = json_object_get(ctx->notifications, key);
        int64_t need = json_is_integer(lvl) ? json_integer_value(lvl) : DEFAULT_NOTIFICATION_LEVEL;
        return ctx->sender_power >= need;
    }
    return false; /* unknown kinds never match */
}

/* ---- rules --------------------------------------------------------------------------- */

static bool rule_matches(const char *kind, const json_t *rule, const json_t *event, const hs_push_ctx *ctx,
                         int64_t *budget)
{
    const char *id = json_string_value(json_object_get(rule, "rule_id"));
    if (!id || !json_is_true(json_object_get(rule, "enabled"))) return false;
    if (strcmp(kind, "room") == 0) {
        const char *room = json_string_value(json_object_get(event, "room_id"));
        return room && strcmp(room, id) == 0;
    }
    if (strcmp(kind, "sender") == 0) {
        const char *sender = json_string_value(json_object_get(event, "sender"));
        return sender && strcmp(sender, id) == 0;
    }
    if (strcmp(kind, "content") == 0) {
        const char *pattern = json_string_value(json_object_get(rule, "pattern"));
        const char *body = json_string_value(hs_push_property(event, "content.body"));
        return pattern && body && match_text(pattern, body, true, false, budget);
    }
    const json_t *conds = json_object_get(rule, "conditions");
    if (conds && !json_is_array(conds)) return false;
    size_t i;
    const json_t *c;
    json_array_foreach(conds, i, c)
    {
        if (!condition_holds(c, event, ctx, budget)) return false;
    }
    return true;
}

static void read_actions(const json_t *rule, hs_push_result *out)
{
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(rule, "actions"), i, a)
    {
        const char *s = json_string_value(a);
        if (s && strcmp(s, "notify") == 0) out->notify = true;
        const char *tweak = json_string_value(json_object_get(a, "set_tweak"));
        if (!tweak) continue;
        const json_t *value = json_object_get(a, "value");
        if (strcmp(tweak, "highlight") == 0) out->highlight = !value || json_is_true(value);
        else if (strcmp(tweak, "sound") == 0 && json_is_string(value)) out->sound = json_string_value(value);
    }
}

bool hs_push_evaluate(const json_t *ruleset, const json_t *event, const hs_push_ctx *ctx, hs_push_result *out)
{
    memset(out, 0, sizeof *out);
    int64_t budget = HS_PUSH_EVAL_BUDGET;
    const char *sender = json_string_value(json_object_get(event, "sender"));
    if (sender && ctx->user_id && strcmp(sender, ctx->user_id) == 0) return false;
    /* hs_push_kind lists the kinds in the spec's priority order. */
    for (int k = 0; k < HS_PUSH_KIND_COUNT; k++) {
        const char *kind = hs_push_kind_name((hs_push_kind)k);
        size_t i;
        const json_t *rule;
        json_array_foreach(json_object_get(ruleset, kind), i, rule)
        {
            if (!rule_matches(kind, rule, event, ctx, &budget)) continue;
            out->rule_id = json_string_value(json_object_get(rule, "rule_id"));
            read_actions(rule, out);
            return true;
        }
    }
    return false;
}
