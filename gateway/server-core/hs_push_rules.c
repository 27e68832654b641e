/* hs_push_rules: see hs_push_rules.h. The default rules are built in code, one small
 * function per rule kind list, in the order the spec lists them; that order is their
 * priority. Validation keeps every accepted rule small (bounded counts and string
 * lengths) because rulesets are sent to clients in full on every change. */
#include "server-core/hs_push_rules.h"

#include <stdio.h>
#include <string.h>

static const char *const kind_names[HS_PUSH_KIND_COUNT] = {"override", "content", "room", "sender", "underride"};

int hs_push_kind_parse(const char *name, hs_push_kind *out)
{
    for (int k = 0; k < HS_PUSH_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (hs_push_kind)k;
            return 0;
        }
    return -1;
}

const char *hs_push_kind_name(hs_push_kind kind)
{
    return kind >= 0 && kind < HS_PUSH_KIND_COUNT ? kind_names[kind] : "";
}

bool hs_push_is_default_id(const char *rule_id)
{
    return rule_id[0] == '.';
}

/* ---- the predefined rules ------------------------------------------------------------ */

static json_t *match(const char *key, const char *pattern)
{
    return json_pack("{ss ss ss}", "kind", "event_match", "key", key, "pattern", pattern);
}

static json_t *sound(const char *value)
{
    return json_pack("{ss ss}", "set_tweak", "sound", "value", value);
}

static json_t *highlight(void)
{
    return json_pack("{ss}", "set_tweak", "highlight");
}

/* A default rule; steals `conditions` (NULL: a content rule with `pattern`) and
 * `actions`. */
static json_t *rule(const char *id, bool enabled, json_t *conditions, const char *pattern, json_t *actions)
{
    json_t *r = json_pack("{ss sb sb}", "rule_id", id, "default", 1, "enabled", enabled);
    if (!r) {
        json_decref(conditions);
        json_decref(actions);
        return NULL;
    }
    if (conditions) json_object_set_new(r, "conditions", conditions);
    if (pattern) json_object_set_new(r, "pattern", json_string(pattern));
    json_object_set_new(r, "actions", actions);
    return r;
}

static json_t *override_defaults(const char *user_id)
{
    json_t *a = json_array();
    json_array_append_new(a, rule(".m.rule.master", false, json_array(), NULL, json_array()));
    json_array_append_new(a, rule(".m.rule.suppress_notices", true, json_pack("[o]", match("content.msgtype", "m.notice")),
                                  NULL, json_array()));
    json_array_append_new(a, rule(".m.rule.invite_for_me", true,
                                  json_pack("[ooo]", match("type", "m.room.member"),
                                            match("content.membership", "invite"), match("state_key", user_id)),
                                  NULL, json_pack("[so]", "notify", sound("default"))));
    json_array_append_new(a, rule(".m.rule.member_event", true, json_pack("[o]", match("type", "m.room.member")), NULL,
                                  json_array()));
    json_array_append_new(a, rule(".m.rule.is_user_mention", true,
                                  json_pack("[{ss ss ss}]", "kind", "event_property_contains", "key",
                                            "content.m\\.mentions.user_ids", "value", user_id),
                                  NULL, json_pack("[soo]", "notify", sound("default"), highlight())));
    json_array_append_new(a, rule(".m.rule.contains_display_name", true, json_pack("[{ss}]", "kind", "contains_display_name"),
                                  NULL, json_pack("[soo]", "notify", sound("default"), highlight())));
    json_array_append_new(a, rule(".m.rule.is_room_mention", true,
                                  json_pack("[{ss ss sb} {ss ss}]", "kind", "event_property_is", "key",
                                            "content.m\\.mentions.room", "value", 1, "kind",
                                            "sender_notification_permission", "key", "room"),
                                  NULL, json_pack("[so]", "notify", highlight())));
    json_array_append_new(a, rule(".m.rule.roomnotif", true,
                                  json_pack("[o {ss ss}]", match("content.body", "@room"), "kind",
                                            "sender_notification_permission", "key", "room"),
                                  NULL, json_pack("[so]", "notify", highlight())));
    json_array_append_new(a, rule(".m.rule.tombstone", true,
                                  json_pack("[oo]", match("type", "m.room.tombstone"), match("state_key", "")), NULL,
                                  json_pack("[so]", "notify", highlight())));
    json_array_append_new(a, rule(".m.rule.reaction", true, json_pack("[o]", match("type", "m.reaction")), NULL,
                                  json_array()));
    json_array_append_new(a, rule(".m.rule.room.server_acl", true,
                                  json_pack("[oo]", match("type", "m.room.server_acl"), match("state_key", "")), NULL,
                                  json_array()));
    json_array_append_new(a, rule(".m.rule.suppress_edits", true,
                                  json_pack("[{ss ss ss}]", "kind", "event_property_is", "key",
                                            "content.m\\.relates_to.rel_type", "value", "m.replace"),
                                  NULL, json_array()));
    return a;
}

static json_t *content_defaults(const char *user_id)
{
    /* The localpart: between the sigil and the first ':'. */
    char local[256];
    const char *start = user_id[0] == '@' ? user_id + 1 : user_id;
    size_t n = strcspn(start, ":");
    snprintf(local, sizeof local, "%.*s", (int)(n < sizeof local ? n : sizeof local - 1), start);
    return json_pack("[o]", rule(".m.rule.contains_user_name", true, NULL, local,
                                 json_pack("[soo]", "notify", sound("default"), highlight())));
}

static json_t *member_count_and_type(const char *type)
{
    return json_pack("[{ss ss} o]", "kind", "room_member_count", "is", "2", match("type", type));
}

static json_t *underride_defaults(void)
{
    json_t *a = json_array();
    json_array_append_new(a, rule(".m.rule.call", true, json_pack("[o]", match("type", "m.call.invite")), NULL,
                                  json_pack("[so]", "notify", sound("ring"))));
    json_array_append_new(a, rule(".m.rule.encrypted_room_one_to_one", true, member_count_and_type("m.room.encrypted"),
                                  NULL, json_pack("[so]", "notify", sound("default"))));
    json_array_append_new(a, rule(".m.rule.room_one_to_one", true, member_count_and_type("m.room.message"), NULL,
                                  json_pack("[so]", "notify", sound("default"))));
    json_array_append_new(a, rule(".m.rule.message", true, json_pack("[o]", match("type", "m.room.message")), NULL,
                                  json_pack("[s]", "notify")));
    json_array_append_new(a, rule(".m.rule.encrypted", true, json_pack("[o]", match("type", "m.room.encrypted")), NULL,
                                  json_pack("[s]", "notify")));
    return a;
}

json_t *hs_push_default_ruleset(const char *user_id)
{
    return json_pack("{so so s[] s[] so}", "override", override_defaults(user_id), "content", content_defaults(user_id),
                     "room", "sender", "underride", underride_defaults());
}

/* ---- validation -------------------------------------------------------------------- */

static int failf(char *err, size_t errlen, const char *msg, const char *detail)
{
    snprintf(err, errlen, "%s%s", msg, detail ? detail : "");
    return -1;
}

int hs_push_rule_id_check(const char *rule_id, char *err, size_t errlen)
{
    size_t n = strlen(rule_id);
    if (n == 0 || n > HS_PUSH_RULE_ID_MAX) return failf(err, errlen, "rule_id must be 1 to 255 bytes", NULL);
    if (rule_id[0] == '.') return failf(err, errlen, "rule_ids starting with '.' are reserved for server-default rules", NULL);
    if (strpbrk(rule_id, "/\\")) return failf(err, errlen, "rule_id must not contain '/' or '\\'", NULL);
    /* Rule IDs are JSON strings in every answer; jansson refuses invalid UTF-8. */
    json_t *as_json = json_string(rule_id);
    if (!as_json) return failf(err, errlen, "rule_id must be UTF-8", NULL);
    json_decref(as_json);
    return 0;
}

static bool short_string(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) <= HS_PUSH_STRING_MAX;
}

/* A value event_property_is/contains can compare: string, integer, boolean or null. */
static bool scalar(const json_t *v)
{
    return short_string(v) || json_is_integer(v) || json_is_boolean(v) || json_is_null(v);
}

/* Checks that a condition or tweak object holds at most HS_PUSH_MAX_FIELDS short
 * strings and scalars: no nesting or member list that could make a stored rule
 * arbitrarily deep or large. */
static bool flat_object(const json_t *o)
{
    if (json_object_size(o) > HS_PUSH_MAX_FIELDS) return false;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (strlen(k) > HS_PUSH_STRING_MAX || !(scalar(v) || json_is_real(v))) return false;
    }
    return true;
}

json_t *hs_push_actions_parse(const json_t *actions, char *err, size_t errlen)
{
    if (!json_is_array(actions)) {
        failf(err, errlen, "actions must be an array", NULL);
        return NULL;
    }
    if (json_array_size(actions) > HS_PUSH_MAX_ACTIONS) {
        failf(err, errlen, "too many actions", NULL);
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    const json_t *a;
    json_array_foreach(actions, i, a)
    {
        const char *s = json_string_value(a);
        if (s && (strcmp(s, "dont_notify") == 0 || strcmp(s, "coalesce") == 0)) continue;
        if (s && strcmp(s, "notify") == 0) {
            json_array_append(out, (json_t *)a);
            continue;
        }
        if (json_is_object(a) && short_string(json_object_get(a, "set_tweak")) && flat_object(a)) {
            json_array_append(out, (json_t *)a);
            continue;
        }
        json_decref(out);
        failf(err, errlen, "unrecognised action: ", s ? s : "(not a string or a set_tweak object)");
        return NULL;
    }
    return out;
}

static int condition_check(const json_t *c, char *err, size_t errlen)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    if (!json_is_object(c) || !kind || !short_string(json_object_get(c, "kind")) || !flat_object(c))
        return failf(err, errlen, "each condition must be a flat object with a string kind", NULL);
    const json_t *key = json_object_get(c, "key");
    if (strcmp(kind, "event_match") == 0) {
        if (!short_string(key) || !short_string(json_object_get(c, "pattern")))
            return failf(err, errlen, "event_match needs string key and pattern", NULL);
    } else if (strcmp(kind, "event_property_is") == 0 || strcmp(kind, "event_property_contains") == 0) {
        if (!short_string(key) || !json_object_get(c, "value") || !scalar(json_object_get(c, "value")))
            return failf(err, errlen, kind, " needs a string key and a string, integer, boolean or null value");
    } else if (strcmp(kind, "room_member_count") == 0) {
        if (!short_string(json_object_get(c, "is")))
            return failf(err, errlen, "room_member_count needs a string is", NULL);
    } else if (strcmp(kind, "sender_notification_permission") == 0) {
        if (!short_string(key)) return failf(err, errlen, "sender_notification_permission needs a string key", NULL);
    }
    return 0;
}

json_t *hs_push_rule_parse(hs_push_kind kind, const json_t *body, json_t **actions, char *err, size_t errlen)
{
    if (!json_is_object(body)) {
        failf(err, errlen, "the rule must be a JSON object", NULL);
        return NULL;
    }
    json_t *acts = hs_push_actions_parse(json_object_get(body, "actions"), err, errlen);
    if (!acts) return NULL;
    json_t *out = json_object();
    if (kind == HS_PUSH_OVERRIDE || kind == HS_PUSH_UNDERRIDE) {
        const json_t *conds = json_object_get(body, "conditions");
        if (conds && !json_is_array(conds)) {
            failf(err, errlen, "conditions must be an array", NULL);
            goto fail;
        }
        if (json_array_size(conds) > HS_PUSH_MAX_CONDITIONS) {
            failf(err, errlen, "too many conditions", NULL);
            goto fail;
        }
        size_t i;
        const json_t *c;
        json_array_foreach(conds, i, c)
        {
            if (condition_check(c, err, errlen) != 0) goto fail;
        }
        json_object_set_new(out, "conditions", conds ? json_deep_copy(conds) : json_array());
    } else if (kind == HS_PUSH_CONTENT) {
        const json_t *pattern = json_object_get(body, "pattern");
        if (!short_string(pattern)) {
            failf(err, errlen, "content rules need a string pattern", NULL);
            goto fail;
        }
        json_object_set(out, "pattern", (json_t *)pattern);
    }
    *actions = acts;
    return out;
fail:
    json_decref(acts);
    json_decref(out);
    return NULL;
}
