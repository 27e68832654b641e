/* hs_redact: keep-lists per room version, applied to a deep copy. The lists are data so
 * the per-version rules read like the spec's bullet lists. */
#include "server-core/hs_redact.h"

#include <stdbool.h>
#include <string.h>

static const char *const top_keys_v1[] = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
    "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts",
    "membership", NULL,
};

static const char *const top_keys_v11[] = {
    "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
    "depth", "prev_events", "auth_events", "origin_server_ts", NULL,
};

static bool in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0) return true;
    return false;
}

/* Copies content[key] into out if present. */
static void keep(json_t *out, const json_t *content, const char *key)
{
    json_t *v = json_object_get(content, key);
    if (v) json_object_set_new(out, key, json_deep_copy(v));
}

static json_t *redact_content(const char *type, const json_t *content, const hs_room_version *rv)
{
    json_t *out = json_object();
    if (!out || !type || !json_is_object(content)) return out;
    bool v11 = rv->v11_redaction;

    if (strcmp(type, "m.room.member") == 0) {
        keep(out, content, "membership");
        if (rv->redact_join_authorised) keep(out, content, "join_authorised_via_users_server");
        if (v11) {
            json_t *tpi = json_object_get(content, "third_party_invite");
            json_t *signed_ = json_object_get(tpi, "signed");
            if (json_is_object(tpi) && signed_) {
                json_t *t = json_object();
                json_object_set_new(t, "signed", json_deep_copy(signed_));
                json_object_set_new(out, "third_party_invite", t);
            }
        }
    } else if (strcmp(type, "m.room.create") == 0) {
        if (v11) {
            json_decref(out);
            return json_deep_copy(content);
        }
        keep(out, content, "creator");
    } else if (strcmp(type, "m.room.join_rules") == 0) {
        keep(out, content, "join_rule");
        if (rv->restricted_join) keep(out, content, "allow");
    } else if (strcmp(type, "m.room.power_levels") == 0) {
        static const char *const pl[] = {"ban", "events", "events_default", "kick", "redact",
                                         "state_default", "users", "users_default", NULL};
        for (const char *const *k = pl; *k; k++) keep(out, content, *k);
        if (v11) keep(out, content, "invite");
    } else if (strcmp(type, "m.room.aliases") == 0) {
        if (rv->special_case_aliases_auth) keep(out, content, "aliases");
    } else if (strcmp(type, "m.room.history_visibility") == 0) {
        keep(out, content, "history_visibility");
    } else if (strcmp(type, "m.room.redaction") == 0) {
        if (v11) keep(out, content, "redacts");
    }
    return out;
}

json_t *hs_redact(const json_t *pdu, const hs_room_version *rv)
{
    if (!json_is_object(pdu) || !rv) return NULL;
    const char *const *top = rv->v11_redaction ? top_keys_v11 : top_keys_v1;
    json_t *out = json_object();
    if (!out) return NULL;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)pdu, key, val) {
        if (!in_list(top, key) || strcmp(key, "content") == 0) continue;
        if (json_object_set_new(out, key, json_deep_copy(val)) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    json_t *type = json_object_get(pdu, "type");
    json_t *content = redact_content(json_string_value(type), json_object_get(pdu, "content"), rv);
    if (!content || json_object_set_new(out, "content", content) < 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
