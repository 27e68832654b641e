/* hs_auth: the top of the authorization rules: the create event rules, the room-wide
 * rules (v12 room ID, m.federate, aliases, sender membership, required level, user-owned
 * state keys, v1-2 redactions) and the dispatch to the member and power levels rules in
 * hs_auth_member.c / hs_auth_power.c. Also the rule names and the per-version rule
 * numbering, so a denial names the spec rule a reader can look up.
 *
 * Invariant: every path returns either HS_AUTH_OK or a rule set through hs_auth__fail, so
 * the result message always matches the returned rule. */
#include "server-core/hs_auth_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rule_names[HS_AUTH_RULE_COUNT] = {
    [HS_AUTH_OK] = "allowed",
    [HS_AUTH_MALFORMED] = "event is malformed (type, sender, room_id or content missing)",
    [HS_AUTH_CREATE_PREV_EVENTS] = "m.room.create: has prev_events",
    [HS_AUTH_CREATE_ROOM_ID_DOMAIN] = "m.room.create: room_id domain does not match sender domain",
    [HS_AUTH_CREATE_HAS_ROOM_ID] = "m.room.create: event has a room_id",
    [HS_AUTH_CREATE_UNKNOWN_VERSION] = "m.room.create: content.room_version is not a recognised version",
    [HS_AUTH_CREATE_NO_CREATOR] = "m.room.create: content has no creator",
    [HS_AUTH_CREATE_BAD_ADDITIONAL_CREATORS] = "m.room.create: additional_creators is not an array of user IDs",
    [HS_AUTH_ROOM_ID_NOT_CREATE] = "room_id is not the event ID of an accepted m.room.create event",
    [HS_AUTH_AUTH_EVENTS_DUPLICATE] = "auth_events: duplicate entries for a type and state_key",
    [HS_AUTH_AUTH_EVENTS_UNEXPECTED] = "auth_events: entry not allowed by the auth events selection",
    [HS_AUTH_AUTH_EVENTS_NO_CREATE] = "auth_events: no m.room.create event",
    [HS_AUTH_AUTH_EVENTS_WRONG_ROOM] = "auth_events: entry from another room",
    [HS_AUTH_NO_CREATE] = "no m.room.create event in the room state",
    [HS_AUTH_NOT_FEDERATED] = "m.federate is false and sender is on another server than the creator",
    [HS_AUTH_ALIASES_NO_STATE_KEY] = "m.room.aliases: no state_key",
    [HS_AUTH_ALIASES_DOMAIN] = "m.room.aliases: sender domain does not match state_key",
    [HS_AUTH_MEMBER_MALFORMED] = "m.room.member: no state_key or no content.membership",
    [HS_AUTH_MEMBER_AUTHORISER_UNSIGNED] = "m.room.member: not signed by the server of join_authorised_via_users_server",
    [HS_AUTH_JOIN_SENDER_NOT_TARGET] = "m.room.member join: sender does not match state_key",
    [HS_AUTH_JOIN_BANNED] = "m.room.member join: sender is banned",
    [HS_AUTH_JOIN_NOT_INVITED] = "m.room.member join: join rule requires an invite",
    [HS_AUTH_JOIN_RESTRICTED_AUTHORISER] = "m.room.member join: restricted join without a joined authorising user able to invite",
    [HS_AUTH_JOIN_RULE] = "m.room.member join: join rule does not allow joining",
    [HS_AUTH_TPI_TARGET_BANNED] = "m.room.member invite (third party): target user is banned",
    [HS_AUTH_TPI_NO_SIGNED] = "m.room.member invite (third party): no signed object",
    [HS_AUTH_TPI_SIGNED_FIELDS] = "m.room.member invite (third party): signed lacks mxid or token",
    [HS_AUTH_TPI_MXID] = "m.room.member invite (third party): signed.mxid does not match state_key",
    [HS_AUTH_TPI_NO_EVENT] = "m.room.member invite (third party): no m.room.third_party_invite for the token",
    [HS_AUTH_TPI_SENDER] = "m.room.member invite (third party): sender is not the sender of the m.room.third_party_invite",
    [HS_AUTH_TPI_SIGNATURE] = "m.room.member invite (third party): no signature matches the invite's public keys",
    [HS_AUTH_INVITE_SENDER_NOT_JOINED] = "m.room.member invite: sender is not joined",
    [HS_AUTH_INVITE_TARGET_JOINED_OR_BANNED] = "m.room.member invite: target is joined or banned",
    [HS_AUTH_INVITE_LEVEL] = "m.room.member invite: sender's power level is below the invite level",
    [HS_AUTH_LEAVE_SELF_NOT_MEMBER] = "m.room.member leave: sender leaving is not invited, joined or knocking",
    [HS_AUTH_LEAVE_SENDER_NOT_JOINED] = "m.room.member leave: sender is not joined",
    [HS_AUTH_LEAVE_UNBAN_LEVEL] = "m.room.member leave: target is banned and sender's power level is below the ban level",
    [HS_AUTH_LEAVE_KICK_LEVEL] = "m.room.member leave: sender's power level is below the kick level or not above the target's",
    [HS_AUTH_BAN_SENDER_NOT_JOINED] = "m.room.member ban: sender is not joined",
    [HS_AUTH_BAN_LEVEL] = "m.room.member ban: sender's power level is below the ban level or not above the target's",
    [HS_AUTH_KNOCK_JOIN_RULE] = "m.room.member knock: join rule does not allow knocking",
    [HS_AUTH_KNOCK_SENDER_NOT_TARGET] = "m.room.member knock: sender does not match state_key",
    [HS_AUTH_KNOCK_MEMBERSHIP] = "m.room.member knock: sender is banned, invited or joined",
    [HS_AUTH_MEMBER_UNKNOWN] = "m.room.member: unknown membership",
    [HS_AUTH_SENDER_NOT_JOINED] = "sender is not joined to the room",
    [HS_AUTH_TPI_EVENT_LEVEL] = "m.room.third_party_invite: sender's power level is below the invite level",
    [HS_AUTH_EVENT_LEVEL] = "sender's power level is below the level required for the event type",
    [HS_AUTH_STATE_KEY_USER] = "state_key starts with @ and does not match sender",
    [HS_AUTH_PL_NOT_INTEGER] = "m.room.power_levels: a level is not an integer",
    [HS_AUTH_PL_MAP_NOT_INTEGER] = "m.room.power_levels: events or notifications is not an object of integers",
    [HS_AUTH_PL_USERS_INVALID] = "m.room.power_levels: users is not an object of user IDs to integers",
    [HS_AUTH_PL_USERS_HAS_CREATOR] = "m.room.power_levels: users contains a room creator",
    [HS_AUTH_PL_DEFAULTS_ABOVE_SENDER] = "m.room.power_levels: changed level above sender's power level",
    [HS_AUTH_PL_MAP_OLD_ABOVE_SENDER] = "m.room.power_levels: changed or removed events/notifications entry was above sender's power level",
    [HS_AUTH_PL_MAP_NEW_ABOVE_SENDER] = "m.room.power_levels: added or changed events/notifications entry is above sender's power level",
    [HS_AUTH_PL_USER_OLD_NOT_BELOW_SENDER] = "m.room.power_levels: changed or removed another user whose level is not below sender's",
    [HS_AUTH_PL_USER_NEW_ABOVE_SENDER] = "m.room.power_levels: user level set above sender's power level",
    [HS_AUTH_REDACT_LEVEL] = "m.room.redaction: sender's power level is below the redact level and the redacted event is from another server",
};

const char *hs_auth_rule_str(hs_auth_rule rule)
{
    if ((int)rule < 0 || rule >= HS_AUTH_RULE_COUNT || !rule_names[rule]) return "unknown rule";
    return rule_names[rule];
}

/* Section numbers move between versions: aliases (rule 4) existed until v5, v12 inserted
 * its room ID rule as rule 2, v8 inserted the authoriser signature rule as member rule 2
 * and v10 inserted two integer rules at the top of the power levels rules. */
const char *hs_auth_rule_ref(const hs_room_version *rv, hs_auth_rule rule, char *buf, size_t len)
{
    const bool v12 = rv->creators_infinite_power;
    const int auth = v12 ? 3 : 2, fed = auth + 1;
    const int member = rv->special_case_aliases_auth ? 5 : (v12 ? 5 : 4);
    const int off = rv->restricted_join ? 1 : 0;
    const int join = 2 + off, invite = 3 + off, leave = 4 + off, ban = 5 + off, knock = 6 + off;
    const int pla = rv->integer_power_levels ? 2 : 0, plc = v12 ? 1 : 0, pl = member + 5;
    int a = 0, b = 0, c = 0;

    switch (rule) {
    case HS_AUTH_CREATE_PREV_EVENTS: a = 1, b = 1; break;
    case HS_AUTH_CREATE_ROOM_ID_DOMAIN: case HS_AUTH_CREATE_HAS_ROOM_ID: a = 1, b = 2; break;
    case HS_AUTH_CREATE_UNKNOWN_VERSION: a = 1, b = 3; break;
    case HS_AUTH_CREATE_NO_CREATOR: case HS_AUTH_CREATE_BAD_ADDITIONAL_CREATORS: a = 1, b = 4; break;
    case HS_AUTH_ROOM_ID_NOT_CREATE: a = 2; break;
    case HS_AUTH_AUTH_EVENTS_DUPLICATE: a = auth, b = 1; break;
    case HS_AUTH_AUTH_EVENTS_UNEXPECTED: a = auth, b = 2; break;
    case HS_AUTH_AUTH_EVENTS_NO_CREATE: a = auth, b = 4; break;
    case HS_AUTH_AUTH_EVENTS_WRONG_ROOM: a = auth, b = 5; break;
    case HS_AUTH_NO_CREATE: a = v12 ? 2 : auth, b = v12 ? 0 : 4; break;
    case HS_AUTH_NOT_FEDERATED: a = fed; break;
    case HS_AUTH_ALIASES_NO_STATE_KEY: a = 4, b = 1; break;
    case HS_AUTH_ALIASES_DOMAIN: a = 4, b = 2; break;
    case HS_AUTH_MEMBER_MALFORMED: a = member, b = 1; break;
    case HS_AUTH_MEMBER_AUTHORISER_UNSIGNED: a = member, b = 2, c = 1; break;
    case HS_AUTH_JOIN_SENDER_NOT_TARGET: a = member, b = join, c = 2; break;
    case HS_AUTH_JOIN_BANNED: a = member, b = join, c = 3; break;
    case HS_AUTH_JOIN_NOT_INVITED: a = member, b = join, c = 4; break;
    case HS_AUTH_JOIN_RESTRICTED_AUTHORISER: a = member, b = join, c = 5; break;
    case HS_AUTH_JOIN_RULE: a = member, b = join, c = 6 + off; break;
    case HS_AUTH_TPI_TARGET_BANNED: case HS_AUTH_TPI_NO_SIGNED: case HS_AUTH_TPI_SIGNED_FIELDS:
    case HS_AUTH_TPI_MXID: case HS_AUTH_TPI_NO_EVENT: case HS_AUTH_TPI_SENDER:
    case HS_AUTH_TPI_SIGNATURE: a = member, b = invite, c = 1; break;
    case HS_AUTH_INVITE_SENDER_NOT_JOINED: a = member, b = invite, c = 2; break;
    case HS_AUTH_INVITE_TARGET_JOINED_OR_BANNED: a = member, b = invite, c = 3; break;
    case HS_AUTH_INVITE_LEVEL: a = member, b = invite, c = 5; break;
    case HS_AUTH_LEAVE_SELF_NOT_MEMBER: a = member, b = leave, c = 1; break;
    case HS_AUTH_LEAVE_SENDER_NOT_JOINED: a = member, b = leave, c = 2; break;
    case HS_AUTH_LEAVE_UNBAN_LEVEL: a = member, b = leave, c = 3; break;
    case HS_AUTH_LEAVE_KICK_LEVEL: a = member, b = leave, c = 5; break;
    case HS_AUTH_BAN_SENDER_NOT_JOINED: a = member, b = ban, c = 1; break;
    case HS_AUTH_BAN_LEVEL: a = member, b = ban, c = 3; break;
    case HS_AUTH_KNOCK_JOIN_RULE: a = member, b = knock, c = 1; break;
    case HS_AUTH_KNOCK_SENDER_NOT_TARGET: a = member, b = knock, c = 2; break;
    case HS_AUTH_KNOCK_MEMBERSHIP: a = member, b = knock, c = 4; break;
    case HS_AUTH_MEMBER_UNKNOWN: a = member, b = rv->knock ? knock + 1 : knock; break;
    case HS_AUTH_SENDER_NOT_JOINED: a = member + 1; break;
    case HS_AUTH_TPI_EVENT_LEVEL: a = member + 2, b = 1; break;
    case HS_AUTH_EVENT_LEVEL: a = member + 3; break;
    case HS_AUTH_STATE_KEY_USER: a = member + 4; break;
    case HS_AUTH_PL_NOT_INTEGER: if (pla) a = pl, b = 1; break;
    case HS_AUTH_PL_MAP_NOT_INTEGER: if (pla) a = pl, b = 2; break;
    case HS_AUTH_PL_USERS_INVALID: a = pl, b = 1 + pla; break;
    case HS_AUTH_PL_USERS_HAS_CREATOR: a = pl, b = 4; break;
    case HS_AUTH_PL_DEFAULTS_ABOVE_SENDER: a = pl, b = 3 + pla + plc; break;
    case HS_AUTH_PL_MAP_OLD_ABOVE_SENDER: a = pl, b = 4 + pla + plc; break;
    case HS_AUTH_PL_MAP_NEW_ABOVE_SENDER: a = pl, b = 5 + pla + plc; break;
    case HS_AUTH_PL_USER_OLD_NOT_BELOW_SENDER: a = pl, b = 6 + pla + plc; break;
    case HS_AUTH_PL_USER_NEW_ABOVE_SENDER: a = pl, b = 7 + pla + plc; break;
    case HS_AUTH_REDACT_LEVEL: a = 11, b = 3; break;
    default: break;
    }
    if (!a) snprintf(buf, len, "%s", "");
    else if (!b) snprintf(buf, len, "%d", a);
    else if (!c) snprintf(buf, len, "%d.%d", a, b);
    else snprintf(buf, len, "%d.%d.%d", a, b, c);
    return buf;
}

hs_auth_rule hs_auth__fail(const hs_room_version *rv, hs_auth_result *res, hs_auth_rule rule,
                           const char *fmt, ...)
{
    if (!res) return rule;
    res->rule = rule;
    char ref[16], detail[200] = "";
    hs_auth_rule_ref(rv, rule, ref, sizeof ref);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    snprintf(res->msg, sizeof res->msg, "%s%s%s%s%s%s", hs_auth_rule_str(rule), ref[0] ? " (rule " : "",
             ref, ref[0] ? ")" : "", detail[0] ? ": " : "", detail);
    return rule;
}

hs_auth_rule hs_auth__ok(hs_auth_result *res)
{
    if (res) {
        res->rule = HS_AUTH_OK;
        snprintf(res->msg, sizeof res->msg, "allowed");
    }
    return HS_AUTH_OK;
}

/* ---- small helpers shared with the other hs_auth files ------------------------------- */

const char *hs_auth__str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

const char *hs_auth__domain(const char *id)
{
    const char *colon = id ? strchr(id, ':') : NULL;
    return colon ? colon + 1 : NULL;
}

bool hs_auth__valid_user_id(const char *id)
{
    if (!id || id[0] != '@') return false;
    const char *colon = strchr(id, ':');
    return colon && colon > id + 1 && colon[1] != '\0';
}

bool hs_auth__get(const hs_auth_state *state, const char *type, const char *state_key,
                  hs_auth_entry *out)
{
    hs_auth_entry e = {0};
    if (!state || !state->get || !type || !state_key || !state->get(state->ctx, type, state_key, &e) ||
        !json_is_object(e.pdu)) {
        *out = (hs_auth_entry){0};
        return false;
    }
    *out = e;
    return true;
}

const json_t *hs_auth__content(const hs_auth_state *state, const char *type, const char *state_key)
{
    hs_auth_entry e;
    if (!hs_auth__get(state, type, state_key, &e)) return NULL;
    const json_t *c = json_object_get(e.pdu, "content");
    return json_is_object(c) ? c : NULL;
}

const char *hs_auth__membership(const hs_auth_state *state, const char *user_id)
{
    const char *m = hs_auth__str(hs_auth__content(state, "m.room.member", user_id), "membership");
    return m ? m : "leave";
}

const char *hs_auth__join_rule(const hs_auth_state *state)
{
    const char *r = hs_auth__str(hs_auth__content(state, "m.room.join_rules", ""), "join_rule");
    return r ? r : "invite";
}

const char *hs_auth__entry_id(const hs_auth_entry *e)
{
    if (e->event_id) return e->event_id;
    return hs_auth__str(e->pdu, "event_id");
}

bool hs_auth__is_creator(const hs_room_version *rv, const json_t *create, const char *user_id)
{
    if (!create || !user_id) return false;
    if (!rv->creator_from_sender) {
        const char *c = hs_auth__str(json_object_get(create, "content"), "creator");
        return c && strcmp(c, user_id) == 0;
    }
    const char *sender = hs_auth__str(create, "sender");
    if (sender && strcmp(sender, user_id) == 0) return true;
    if (!rv->creators_infinite_power) return false;
    const json_t *extra = json_object_get(json_object_get(create, "content"), "additional_creators");
    size_t i;
    const json_t *v;
    json_array_foreach(extra, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), user_id) == 0) return true;
    }
    return false;
}

/* ---- the create event (rule 1) -------------------------------------------------------- */

static hs_auth_rule check_create(const hs_room_version *rv, const json_t *event, hs_auth_result *res)
{
    const json_t *prev = json_object_get(event, "prev_events");
    if (json_array_size(prev) > 0) return hs_auth__fail(rv, res, HS_AUTH_CREATE_PREV_EVENTS, NULL);

    const char *sender = hs_auth__str(event, "sender");
    if (rv->room_id_from_create) {
        if (json_object_get(event, "room_id"))
            return hs_auth__fail(rv, res, HS_AUTH_CREATE_HAS_ROOM_ID, NULL);
    } else {
        const char *rd = hs_auth__domain(hs_auth__str(event, "room_id"));
        const char *sd = hs_auth__domain(sender);
        if (!rd || !sd || strcmp(rd, sd) != 0)
            return hs_auth__fail(rv, res, HS_AUTH_CREATE_ROOM_ID_DOMAIN, "%s vs %s", rd ? rd : "(none)",
                                 sd ? sd : "(none)");
    }

    const json_t *content = json_object_get(event, "content");
    const json_t *ver = json_object_get(content, "room_version");
    if (ver && !hs_room_version_get(json_string_value(ver)))
        return hs_auth__fail(rv, res, HS_AUTH_CREATE_UNKNOWN_VERSION, "%s",
                             json_is_string(ver) ? json_string_value(ver) : "(not a string)");

    if (!rv->creator_from_sender && !json_object_get(content, "creator"))
        return hs_auth__fail(rv, res, HS_AUTH_CREATE_NO_CREATOR, NULL);

    if (rv->creators_infinite_power) {
        const json_t *extra = json_object_get(content, "additional_creators");
        if (extra) {
            if (!json_is_array(extra)) return hs_auth__fail(rv, res, HS_AUTH_CREATE_BAD_ADDITIONAL_CREATORS, NULL);
            size_t i;
            const json_t *v;
            json_array_foreach(extra, i, v) {
                if (!hs_auth__valid_user_id(json_string_value(v)))
                    return hs_auth__fail(rv, res, HS_AUTH_CREATE_BAD_ADDITIONAL_CREATORS, "entry %zu", i);
            }
        }
    }
    return hs_auth__ok(res);
}

/* v12 rule 2: the room ID is the create event's ID with '!' for '$'. */
static bool room_id_matches_create(const char *room_id, const hs_auth_entry *create)
{
    const char *cid = hs_auth__entry_id(create);
    return room_id && cid && room_id[0] == '!' && cid[0] == '$' && strcmp(room_id + 1, cid + 1) == 0;
}

/* v1-2 rule 11: the redact level, or a redaction of an event from the same server. */
static hs_auth_rule check_v1_redaction(const hs_room_version *rv, const json_t *event,
                                       const hs_auth_state *state, long long sender_level,
                                       hs_auth_result *res)
{
    const json_t *pl = hs_auth__content(state, "m.room.power_levels", "");
    long long redact = hs_auth__pl_field(rv, pl, "redact", 50);
    if (sender_level >= redact) return hs_auth__ok(res);
    const char *own = hs_auth__domain(hs_auth__str(event, "event_id"));
    const char *target = hs_auth__domain(hs_auth__str(event, "redacts"));
    if (own && target && strcmp(own, target) == 0) return hs_auth__ok(res);
    return hs_auth__fail(rv, res, HS_AUTH_REDACT_LEVEL, "level %lld < %lld", sender_level, redact);
}

hs_auth_rule hs_auth_allowed(const hs_room_version *rv, const json_t *event,
                             const hs_auth_state *state, hs_auth_result *res)
{
    const char *type = hs_auth__str(event, "type");
    const char *sender = hs_auth__str(event, "sender");
    if (!rv || !type || !sender || !json_is_object(json_object_get(event, "content")))
        return hs_auth__fail(rv ? rv : hs_room_version_get("1"), res, HS_AUTH_MALFORMED, NULL);
    if (strcmp(type, "m.room.create") == 0) return check_create(rv, event, res);

    const char *room_id = hs_auth__str(event, "room_id");
    if (!room_id) return hs_auth__fail(rv, res, HS_AUTH_MALFORMED, "no room_id");

    hs_auth_entry create;
    if (!hs_auth__get(state, "m.room.create", "", &create))
        return hs_auth__fail(rv, res, HS_AUTH_NO_CREATE, NULL);
    if (rv->room_id_from_create && !room_id_matches_create(room_id, &create))
        return hs_auth__fail(rv, res, HS_AUTH_ROOM_ID_NOT_CREATE, "%s", room_id);

    const json_t *federate = json_object_get(json_object_get(create.pdu, "content"), "m.federate");
    if (json_is_false(federate)) {
        const char *a = hs_auth__domain(sender), *b = hs_auth__domain(hs_auth__str(create.pdu, "sender"));
        if (!a || !b || strcmp(a, b) != 0) return hs_auth__fail(rv, res, HS_AUTH_NOT_FEDERATED, "%s", sender);
    }

    const json_t *state_key_v = json_object_get(event, "state_key");
    const char *state_key = json_string_value(state_key_v);

    if (rv->special_case_aliases_auth && strcmp(type, "m.room.aliases") == 0) {
        if (!state_key) return hs_auth__fail(rv, res, HS_AUTH_ALIASES_NO_STATE_KEY, NULL);
        const char *sd = hs_auth__domain(sender);
        if (!sd || strcmp(sd, state_key) != 0)
            return hs_auth__fail(rv, res, HS_AUTH_ALIASES_DOMAIN, "%s vs %s", sd ? sd : "(none)", state_key);
        return hs_auth__ok(res);
    }

    if (strcmp(type, "m.room.member") == 0) {
        hs_auth_rule r = hs_auth__member(rv, event, state, res);
        return r == HS_AUTH_OK ? hs_auth__ok(res) : r;
    }

    const char *membership = hs_auth__membership(state, sender);
    if (strcmp(membership, "join") != 0)
        return hs_auth__fail(rv, res, HS_AUTH_SENDER_NOT_JOINED, "%s is %s", sender, membership);

    long long level = hs_auth_user_level(rv, state, sender);
    if (strcmp(type, "m.room.third_party_invite") == 0) {
        long long invite = hs_auth__pl_field(rv, hs_auth__content(state, "m.room.power_levels", ""), "invite", 0);
        if (level >= invite) return hs_auth__ok(res);
        return hs_auth__fail(rv, res, HS_AUTH_TPI_EVENT_LEVEL, "level %lld < %lld", level, invite);
    }

    long long required = hs_auth__required_level(rv, state, type, state_key_v != NULL);
    if (required > level)
        return hs_auth__fail(rv, res, HS_AUTH_EVENT_LEVEL, "%s: level %lld < %lld", type, level, required);

    if (state_key && state_key[0] == '@' && strcmp(state_key, sender) != 0)
        return hs_auth__fail(rv, res, HS_AUTH_STATE_KEY_USER, "%s", state_key);

    if (strcmp(type, "m.room.power_levels") == 0) {
        hs_auth_rule r = hs_auth__power_levels(rv, event, state, res);
        return r == HS_AUTH_OK ? hs_auth__ok(res) : r;
    }
    if (rv->event_id_format == HS_EVENT_ID_V1 && strcmp(type, "m.room.redaction") == 0)
        return check_v1_redaction(rv, event, state, level, res);
    return hs_auth__ok(res);
}

hs_auth_rule hs_auth_check_with_auth_events(const hs_room_version *rv, const json_t *event,
                                            const hs_auth_entry *auth, size_t n_auth,
                                            const hs_auth_entry *create, hs_auth_result *res)
{
    hs_auth_rule r = hs_auth_check_auth_events(rv, event, auth, n_auth, res);
    if (r != HS_AUTH_OK) return r;
    hs_auth_map *map = hs_auth_map_new();
    if (!map) return hs_auth__fail(rv, res, HS_AUTH_MALFORMED, "out of memory");
    bool failed = false;
    for (size_t i = 0; i < n_auth && !failed; i++)
        failed = hs_auth_map_put(map, (json_t *)auth[i].pdu, auth[i].event_id) != 0;
    if (!failed && rv->room_id_from_create && create && create->pdu)
        failed = hs_auth_map_put(map, (json_t *)create->pdu, create->event_id) != 0;
    if (failed) {
        hs_auth_map_free(map);
        return hs_auth__fail(rv, res, HS_AUTH_MALFORMED, "auth event is not a state event");
    }
    hs_auth_state st = hs_auth_map_state(map);
    r = hs_auth_allowed(rv, event, &st, res);
    hs_auth_map_free(map);
    return r;
}
