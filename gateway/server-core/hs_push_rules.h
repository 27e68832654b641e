/* hs_push_rules: the push rule model of spec v1.12 without storage - the kinds, the
 * server-default ruleset of a user, and validation of the rule bodies and action lists
 * clients send (PUT /pushrules/global/{kind}/{ruleId}, .../actions).
 *
 * A ruleset is a JSON object {"override": [...], "content": [...], "room": [...],
 * "sender": [...], "underride": [...]} of rules in priority order; each rule has
 * rule_id, default, enabled, actions and, by kind, conditions (override/underride) or
 * pattern (content). Server-default rule IDs start with "."; clients cannot create,
 * replace or delete them, only enable/disable them and change their actions.
 *
 * Evaluating rules against events is hs_push_eval's. */
#ifndef HS_PUSH_RULES_H
#define HS_PUSH_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HS_PUSH_RULE_ID_MAX 255       /* bytes of a rule ID */
#define HS_PUSH_MAX_ACTIONS 32
#define HS_PUSH_MAX_CONDITIONS 32
#define HS_PUSH_STRING_MAX 1024       /* bytes of any string inside a rule */
#define HS_PUSH_MAX_FIELDS 16         /* members of one condition or set_tweak object */
/* Rules one user may create (all kinds together): every ruleset is read whole for each
 * event it is evaluated against and sent whole to /sync after each change. */
#define HS_PUSH_MAX_USER_RULES 100

typedef enum hs_push_kind {
    HS_PUSH_OVERRIDE,
    HS_PUSH_CONTENT,
    HS_PUSH_ROOM,
    HS_PUSH_SENDER,
    HS_PUSH_UNDERRIDE,
    HS_PUSH_KIND_COUNT
} hs_push_kind;

/* Parses a kind name ("override", ...). Returns 0 and *out, or -1 for anything else. */
int hs_push_kind_parse(const char *name, hs_push_kind *out);

/* The name of a kind (static string). */
const char *hs_push_kind_name(hs_push_kind kind);

/* The server-default ruleset for `user_id` (spec v1.12 "Predefined Rules", in the
 * spec's order; invite_for_me and is_user_mention name the user, contains_user_name
 * its localpart). Returns a new reference, NULL on allocation failure. */
json_t *hs_push_default_ruleset(const char *user_id);

/* True for server-default rule IDs (they start with "."). */
bool hs_push_is_default_id(const char *rule_id);

/* Checks a rule ID a client wants to create: 1..HS_PUSH_RULE_ID_MAX bytes of UTF-8, not
 * starting with "." and without "/" or "\". Returns 0, or -1 with a reason in err. */
int hs_push_rule_id_check(const char *rule_id, char *err, size_t errlen);

/* Validates an actions array and returns a cleaned copy (new reference): the historical
 * "dont_notify" and "coalesce" are dropped, as the spec requires servers to ignore
 * them. Accepted: "notify", and objects with a string "set_tweak" (other keys are kept
 * for the push gateway). Returns NULL with a reason in err on anything else or on
 * more than HS_PUSH_MAX_ACTIONS entries. */
json_t *hs_push_actions_parse(const json_t *actions, char *err, size_t errlen);

/* Validates the body of PUT /pushrules/global/{kind}/{ruleId} and returns the rule's
 * kind-specific part as a new object: {"conditions": [...]} for override/underride
 * (absent conditions mean [] - always matches), {"pattern": "..."} for content, {} for
 * room and sender; *actions gets the cleaned actions (new reference). Conditions of
 * known kinds must have their parameters; unknown condition kinds are kept (the spec
 * says they never match). Returns NULL with a reason in err (caller answers 400). */
json_t *hs_push_rule_parse(hs_push_kind kind, const json_t *body, json_t **actions, char *err, size_t errlen);

#endif
