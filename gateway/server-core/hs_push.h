/* hs_push: a user's push rules as clients see them - the server-default ruleset
 * (hs_push_rules) merged with the user's own rules and changes (hs_store_push) - and
 * the operations of the push rules API on it. The sync engineer serves
 * hs_push_rules_for_user as the m.push_rules account data.
 *
 * Merge order within each kind, following the spec's priorities: .m.rule.master first,
 * then the user's rules (most important first), then the other server-default rules. */
#ifndef HS_PUSH_H
#define HS_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_push_rules.h"
#include "server-core/hs_store.h"

/* The content of the user's m.push_rules: {"global": {override, content, room, sender,
 * underride}}, each a list of complete rules. Returns a new reference the caller
 * decrefs, or NULL on a database or allocation error. */
json_t *hs_push_rules_for_user(hs_store *st, const char *user_id);

typedef enum hs_push_status {
    HS_PUSH_OK,
    HS_PUSH_NOT_FOUND,    /* 404 M_NOT_FOUND: no such rule */
    HS_PUSH_BAD_REQUEST,  /* 400 M_INVALID_PARAM: message in err */
    HS_PUSH_BAD_ANCHOR,   /* 400 M_UNKNOWN: before/after names no user rule (as the spec shows) */
    HS_PUSH_ERROR,        /* 500 M_UNKNOWN */
} hs_push_status;

/* The rule (kind, rule_id) of the user as served (new reference in *rule). */
hs_push_status hs_push_get_rule(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                json_t **rule);

/* PUT /pushrules/global/{kind}/{ruleId}: validates `body` and creates or replaces the
 * user rule, placed by `before`/`after` (may be NULL; both given: before wins).
 * Server-default rule IDs and anchors are refused (400). */
hs_push_status hs_push_put_rule(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                const json_t *body, const char *before, const char *after, char *err, size_t errlen);

/* DELETE: removes a user rule; server-default rules cannot be deleted (400). */
hs_push_status hs_push_delete_rule(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                   char *err, size_t errlen);

/* PUT .../enabled and .../actions on user or server-default rules. `actions` is
 * validated (400 with err). */
hs_push_status hs_push_set_enabled(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                   bool enabled);
hs_push_status hs_push_set_actions(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                   const json_t *actions, char *err, size_t errlen);

#endif
