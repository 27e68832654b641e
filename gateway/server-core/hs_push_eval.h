/* hs_push_eval: decides what a user's push rules say about one event (spec v1.12 "Push
 * Rules": conditions, glob matching, kinds in priority order). Sans-I/O: the ruleset,
 * the event and the facts about the room come in as arguments; nothing is read.
 *
 * It is the piece /sync needs for unread notification and highlight counts, and push
 * gateways will need later. It does not decrypt: encrypted events only match rules on
 * their outer fields, as the spec intends (.m.rule.encrypted*). */
#ifndef HS_PUSH_EVAL_H
#define HS_PUSH_EVAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What the caller knows about the room and the user at the event. */
typedef struct hs_push_ctx {
    const char *user_id;          /* whose rules these are */
    const char *display_name;     /* the user's display name in the room; NULL or "": none */
    int64_t member_count;         /* joined members of the room */
    int64_t sender_power;         /* the sender's power level in the room */
    const json_t *notifications;  /* m.room.power_levels content "notifications"; NULL: defaults */
} hs_push_ctx;

typedef struct hs_push_result {
    const char *rule_id;          /* the rule that matched (points into the ruleset); NULL: none */
    bool notify;                  /* its actions include "notify" */
    bool highlight;               /* set_tweak highlight (no value, or true) */
    const char *sound;            /* set_tweak sound value (points into the ruleset); NULL: none */
} hs_push_result;

/* Glob work one evaluation may do, in pattern x text positions (each glob costs
 * (pattern + 1) x (text + 1) bytes). A rule's patterns are at most HS_PUSH_STRING_MAX
 * bytes, but a user may have HS_PUSH_MAX_USER_RULES rules of HS_PUSH_MAX_CONDITIONS
 * conditions: without a budget one event could cost minutes (one 1,024-byte pattern over
 * a 64 KiB body alone: 96-127 ms); with it the worst measured is 72 ms (make bench,
 * bench_hs_media: "3201 conditions over a 64 KiB body"). */
#define HS_PUSH_EVAL_BUDGET ((int64_t)1 << 24)

/* Evaluates `ruleset` (the "global" object: override, content, room, sender, underride)
 * for `event` (client or federation format) and fills *out with the first enabled rule
 * that matches. Events the user sent themselves never match. Unknown condition kinds
 * and malformed rules never match. A glob that would take the evaluation past
 * HS_PUSH_EVAL_BUDGET does not run and does not match, so a user's own costly rules
 * can only starve their later rules. Returns true when a rule matched. */
bool hs_push_evaluate(const json_t *ruleset, const json_t *event, const hs_push_ctx *ctx, hs_push_result *out);

/* The spec's glob match of `pattern` (`*` any run, `?` one character) against `value`,
 * case-insensitive for ASCII. word_boundary false: the whole value must match;
 * true: any substring that starts and ends at a word boundary (the content.body rule).
 * Runs in O(len(value) x len(pattern)). */
bool hs_push_glob(const char *pattern, const char *value, bool word_boundary);

/* The value at a dot-separated property path of `event` ("content.m\\.relates_to.rel_type":
 * "\." is a literal dot, "\\" a backslash). Borrowed; NULL if absent. */
const json_t *hs_push_property(const json_t *event, const char *path);

#endif
