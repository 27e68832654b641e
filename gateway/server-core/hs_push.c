/* hs_push: see hs_push.h. Every read builds the whole ruleset (18 defaults and at
 * most HS_PUSH_MAX_USER_RULES user rules) from the defaults and the user's rows; that is
 * cheap (GET /pushrules/ with 20 user rules: 0.45 ms, make bench, bench_hs_media) and
 * keeps one code path for the API's single-rule answers and the m.push_rules account
 * data. */
#include "server-core/hs_push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_push.h"

/* A stored user rule in the served format; NULL if its stored JSON is unreadable. */
static json_t *user_rule(const hs_store_push_row *r)
{
    json_t *rule = json_loads(r->rule_json, 0, NULL);
    json_t *actions = r->actions ? json_loads(r->actions, 0, NULL) : json_array();
    if (!json_is_object(rule) || !actions) {
        json_decref(rule);
        json_decref(actions);
        return NULL;
    }
    json_object_set_new(rule, "rule_id", json_string(r->rule_id));
    json_object_set_new(rule, "default", json_false());
    json_object_set_new(rule, "enabled", json_boolean(r->enabled != 0));
    json_object_set_new(rule, "actions", actions);
    return rule;
}

/* Applies a stored change of a server-default rule to `rules` (a kind's list). */
static void apply_default_change(json_t *rules, const hs_store_push_row *r)
{
    size_t i;
    json_t *d;
    json_array_foreach(rules, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "rule_id")), r->rule_id) != 0) continue;
        if (r->enabled >= 0) json_object_set_new(d, "enabled", json_boolean(r->enabled));
        json_t *actions = r->actions ? json_loads(r->actions, 0, NULL) : NULL;
        if (json_is_array(actions)) json_object_set(d, "actions", actions);
        json_decref(actions);
        return;
    }
}

json_t *hs_push_rules_for_user(hs_store *st, const char *user_id)
{
    hs_store_push_row *rows;
    size_t n;
    if (hs_store_push_rows(st, user_id, &rows, &n) != 0) return NULL;
    json_t *defaults = hs_push_default_ruleset(user_id);
    json_t *set = json_object();
    for (int k = 0; defaults && k < HS_PUSH_KIND_COUNT; k++) {
        const char *kind = hs_push_kind_name((hs_push_kind)k);
        json_t *defs = json_object_get(defaults, kind);
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].kind, kind) != 0) continue;
            if (!rows[i].rule_json) apply_default_change(defs, &rows[i]);
        }
        /* .m.rule.master stays above every user rule. */
        size_t first = 0;
        if (json_array_size(defs) && strcmp(json_string_value(json_object_get(json_array_get(defs, 0), "rule_id")),
                                            ".m.rule.master") == 0) {
            json_array_append(list, json_array_get(defs, 0));
            first = 1;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(rows[i].kind, kind) != 0 || !rows[i].rule_json) continue;
            json_t *r = user_rule(&rows[i]);
            if (r) json_array_append_new(list, r);
        }
        for (size_t i = first; i < json_array_size(defs); i++) json_array_append(list, json_array_get(defs, i));
        json_object_set_new(set, kind, list);
    }
    hs_store_push_rows_free(rows, n);
    if (!defaults) {
        json_decref(set);
        return NULL;
    }
    json_decref(defaults);
    return json_pack("{so}", "global", set);
}

/* The rule as served, borrowed from `all`; NULL if absent. */
static json_t *find(json_t *all, hs_push_kind kind, const char *rule_id)
{
    json_t *list = json_object_get(json_object_get(all, "global"), hs_push_kind_name(kind));
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "rule_id"));
        if (id && strcmp(id, rule_id) == 0) return r;
    }
    return NULL;
}

/* Whether the rule exists for the user: 1 yes, 0 no, -1 database error. */
static int exists(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id)
{
    json_t *all = hs_push_rules_for_user(st, user_id);
    if (!all) return -1;
    int found = find(all, kind, rule_id) != NULL;
    json_decref(all);
    return found;
}

static hs_push_status store_status(int rc)
{
    return rc == 0 ? HS_PUSH_OK : rc == 1 ? HS_PUSH_NOT_FOUND : HS_PUSH_ERROR;
}

hs_push_status hs_push_get_rule(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                json_t **rule)
{
    json_t *all = hs_push_rules_for_user(st, user_id);
    if (!all) return HS_PUSH_ERROR;
    json_t *r = find(all, kind, rule_id);
    if (r) *rule = json_incref(r);
    json_decref(all);
    return r ? HS_PUSH_OK : HS_PUSH_NOT_FOUND;
}

hs_push_status hs_push_put_rule(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                const json_t *body, const char *before, const char *after, char *err, size_t errlen)
{
    if (hs_push_rule_id_check(rule_id, err, errlen) != 0) return HS_PUSH_BAD_REQUEST;
    const char *anchor = before ? before : after;
    if (anchor && hs_push_is_default_id(anchor)) {
        snprintf(err, errlen, "rules cannot be placed relative to the server-default rule %s", anchor);
        return HS_PUSH_BAD_REQUEST;
    }
    json_t *actions = NULL;
    json_t *rule = hs_push_rule_parse(kind, body, &actions, err, errlen);
    if (!rule) return HS_PUSH_BAD_REQUEST;
    char *rule_text = json_dumps(rule, JSON_COMPACT);
    char *actions_text = json_dumps(actions, JSON_COMPACT);
    json_decref(rule);
    json_decref(actions);
    int rc = rule_text && actions_text
                 ? hs_store_push_put_rule(st, user_id, hs_push_kind_name(kind), rule_id, rule_text, actions_text,
                                          before, after, HS_PUSH_MAX_USER_RULES)
                 : -1;
    free(rule_text);
    free(actions_text);
    if (rc == 2) {
        snprintf(err, errlen, "a user may have at most %d push rules; delete one first", HS_PUSH_MAX_USER_RULES);
        return HS_PUSH_BAD_REQUEST;
    }
    if (rc == 1) {
        snprintf(err, errlen, "before/after rule not found: %s", anchor);
        return HS_PUSH_BAD_ANCHOR;
    }
    return rc == 0 ? HS_PUSH_OK : HS_PUSH_ERROR;
}

hs_push_status hs_push_delete_rule(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                   char *err, size_t errlen)
{
    if (hs_push_is_default_id(rule_id)) {
        int found = exists(st, user_id, kind, rule_id);
        if (found < 0) return HS_PUSH_ERROR;
        if (!found) return HS_PUSH_NOT_FOUND;
        snprintf(err, errlen, "server-default rules cannot be deleted; disable %s instead", rule_id);
        return HS_PUSH_BAD_REQUEST;
    }
    return store_status(hs_store_push_delete_rule(st, user_id, hs_push_kind_name(kind), rule_id));
}

hs_push_status hs_push_set_enabled(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                   bool enabled)
{
    bool is_default = hs_push_is_default_id(rule_id);
    if (is_default) {
        int found = exists(st, user_id, kind, rule_id);
        if (found <= 0) return found < 0 ? HS_PUSH_ERROR : HS_PUSH_NOT_FOUND;
    }
    return store_status(hs_store_push_set_enabled(st, user_id, hs_push_kind_name(kind), rule_id, is_default, enabled));
}

hs_push_status hs_push_set_actions(hs_store *st, const char *user_id, hs_push_kind kind, const char *rule_id,
                                   const json_t *actions, char *err, size_t errlen)
{
    json_t *clean = hs_push_actions_parse(actions, err, errlen);
    if (!clean) return HS_PUSH_BAD_REQUEST;
    char *text = json_dumps(clean, JSON_COMPACT);
    json_decref(clean);
    if (!text) return HS_PUSH_ERROR;
    bool is_default = hs_push_is_default_id(rule_id);
    hs_push_status ret = HS_PUSH_OK;
    if (is_default) {
        int found = exists(st, user_id, kind, rule_id);
        if (found <= 0) ret = found < 0 ? HS_PUSH_ERROR : HS_PUSH_NOT_FOUND;
    }
    if (ret == HS_PUSH_OK)
        ret = store_status(hs_store_push_set_actions(st, user_id, hs_push_kind_name(kind), rule_id, is_default, text));
    free(text);
    return ret;
}
