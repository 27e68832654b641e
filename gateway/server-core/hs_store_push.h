/* hs_store_push: storage of each user's push rule changes and pushers.
 *
 * push_rules (migration hs_schema_directory) holds one row per rule a user created and
 * per server-default rule a user changed. Rows of user rules carry the kind-specific
 * JSON (rule_json), enabled, actions and a priority (higher = more important, within
 * one kind). Rows of default rules (rule_id starting ".") have rule_json NULL and only
 * the overridden fields set (enabled or actions; NULL = the default's own value).
 *
 * pushers (migration hs_schema_media) holds each pusher's JSON as a client gave it.
 *
 * Functions return 0 on success, 1 for "no such row" where stated, -1 on a database
 * error. Strings returned in rows are malloc'd and freed by hs_store_push_rows_free. */
#ifndef HS_STORE_PUSH_H
#define HS_STORE_PUSH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

typedef struct hs_store_push_row {
    char *kind;
    char *rule_id;
    char *rule_json;   /* NULL for a changed server-default rule */
    int enabled;       /* 1, 0, or -1 when not set (default rule keeps its own) */
    char *actions;     /* JSON array text, NULL when not set */
    int64_t priority;
} hs_store_push_row;

/* Every row of `user_id`, ordered by kind, then priority (most important first).
 * Returns 0 with *rows (free with hs_store_push_rows_free) and *n, or -1. */
int hs_store_push_rows(hs_store *st, const char *user_id, hs_store_push_row **rows, size_t *n);

void hs_store_push_rows_free(hs_store_push_row *rows, size_t n);

/* Creates or replaces the user rule (kind, rule_id) with `rule_json` and `actions`
 * (JSON texts). A new rule is enabled; a replaced one keeps its enabled flag. Placement
 * within the kind: just more important than `before` if given, else just less
 * important than `after` if given, else a new rule becomes the most important and a
 * replaced one keeps its place. One transaction. Returns 0, 1 when `before`/`after`
 * names no user rule of that kind, 2 when the rule is new and the user already has
 * `max_rules` rules, -1 on error. */
int hs_store_push_put_rule(hs_store *st, const char *user_id, const char *kind, const char *rule_id,
                           const char *rule_json, const char *actions, const char *before, const char *after,
                           size_t max_rules);

/* Deletes a user rule. Returns 0, 1 if there was none, -1 on error. */
int hs_store_push_delete_rule(hs_store *st, const char *user_id, const char *kind, const char *rule_id);

/* Sets enabled of a rule. For a user rule (is_default false) the row must exist
 * (else 1); for a server-default rule a row is created if needed. Returns 0, 1, -1. */
int hs_store_push_set_enabled(hs_store *st, const char *user_id, const char *kind, const char *rule_id,
                              bool is_default, bool enabled);

/* Sets the actions (JSON array text) of a rule; same rules as hs_store_push_set_enabled. */
int hs_store_push_set_actions(hs_store *st, const char *user_id, const char *kind, const char *rule_id,
                              bool is_default, const char *actions);

/* Adds or replaces the pusher (app_id, pushkey) of `user_id` with `pusher_json`. Unless
 * `append`, pushers with the same app_id and pushkey of other users are removed (the
 * spec's default). One transaction. Returns 0, 2 when the pusher is new and the user
 * already has `max_pushers` (nothing is changed), or -1. */
int hs_store_pusher_set(hs_store *st, const char *user_id, const char *app_id, const char *pushkey,
                        const char *pusher_json, bool append, int64_t now_ms, size_t max_pushers);

/* Removes the pusher (app_id, pushkey) of `user_id`. Returns 0, 1 if none, -1. */
int hs_store_pusher_delete(hs_store *st, const char *user_id, const char *app_id, const char *pushkey);

/* The pushers of `user_id` in creation order, as a new JSON array of the stored
 * objects; NULL on error. */
json_t *hs_store_pushers(hs_store *st, const char *user_id);

#endif
