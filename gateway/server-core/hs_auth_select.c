/* hs_auth_select: the auth events selection algorithm (Server-Server API, "Auth events
 * selection") and the rules on an event's own auth_events (v1-11 rule 2, v12 rule 3).
 *
 * The selection lists what an event MAY cite; citing less is allowed (every entry but
 * the v1-11 create event is "if any"), citing more, twice, or from another room is not.
 * Rejected auth events are not visible here: the caller, who stores rejections, checks
 * that before calling. */
#include "server-core/hs_auth_internal.h"

#include <string.h>

int hs_auth_types_for_event(const hs_room_version *rv, const json_t *event,
                            hs_auth_key out[HS_AUTH_MAX_KEYS])
{
    const char *type = hs_auth__str(event, "type"), *sender = hs_auth__str(event, "sender");
    if (!type || !sender) return -1;
    if (strcmp(type, "m.room.create") == 0) return 0;

    int n = 0;
    if (!rv->room_id_from_create) out[n++] = (hs_auth_key){"m.room.create", "", true};
    out[n++] = (hs_auth_key){"m.room.power_levels", "", false};
    out[n++] = (hs_auth_key){"m.room.member", sender, false};
    if (strcmp(type, "m.room.member") != 0) return n;

    const char *target = hs_auth__str(event, "state_key");
    const json_t *content = json_object_get(event, "content");
    const char *membership = hs_auth__str(content, "membership");
    if (target && strcmp(target, sender) != 0) out[n++] = (hs_auth_key){"m.room.member", target, false};
    if (!membership) return n;

    bool join = strcmp(membership, "join") == 0, invite = strcmp(membership, "invite") == 0;
    if (join || invite || (rv->knock && strcmp(membership, "knock") == 0))
        out[n++] = (hs_auth_key){"m.room.join_rules", "", false};
    if (invite) {
        const char *token = hs_auth__str(
            json_object_get(json_object_get(content, "third_party_invite"), "signed"), "token");
        if (token) out[n++] = (hs_auth_key){"m.room.third_party_invite", token, false};
    }
    if (join && rv->restricted_join) {
        const char *via = hs_auth__str(content, "join_authorised_via_users_server");
        if (via && strcmp(via, sender) != 0 && (!target || strcmp(via, target) != 0))
            out[n++] = (hs_auth_key){"m.room.member", via, false};
    }
    return n;
}

hs_auth_rule hs_auth_check_auth_events(const hs_room_version *rv, const json_t *event,
                                       const hs_auth_entry *auth, size_t n_auth,
                                       hs_auth_result *res)
{
    hs_auth_key keys[HS_AUTH_MAX_KEYS];
    int nk = hs_auth_types_for_event(rv, event, keys);
    if (nk < 0) return hs_auth__fail(rv, res, HS_AUTH_MALFORMED, NULL);
    const char *room_id = hs_auth__str(event, "room_id");
    bool have_create = false;

    for (size_t i = 0; i < n_auth; i++) {
        const char *t = hs_auth__str(auth[i].pdu, "type"), *sk = hs_auth__str(auth[i].pdu, "state_key");
        const char *id = hs_auth__entry_id(&auth[i]);
        if (!t || !sk)
            return hs_auth__fail(rv, res, HS_AUTH_AUTH_EVENTS_UNEXPECTED, "%s is not a state event",
                                 id ? id : "(no id)");
        for (size_t j = 0; j < i; j++) {
            const char *t2 = hs_auth__str(auth[j].pdu, "type"), *sk2 = hs_auth__str(auth[j].pdu, "state_key");
            if (strcmp(t, t2) == 0 && strcmp(sk, sk2) == 0) {
                const char *id2 = hs_auth__entry_id(&auth[j]);
                return hs_auth__fail(rv, res, HS_AUTH_AUTH_EVENTS_DUPLICATE, "(%s, %s): %s and %s", t, sk,
                                     id2 ? id2 : "?", id ? id : "?");
            }
        }
        bool expected = false;
        for (int k = 0; k < nk && !expected; k++)
            expected = strcmp(keys[k].type, t) == 0 && strcmp(keys[k].state_key, sk) == 0;
        if (!expected)
            return hs_auth__fail(rv, res, HS_AUTH_AUTH_EVENTS_UNEXPECTED, "(%s, %s): %s", t, sk,
                                 id ? id : "?");
        if (strcmp(t, "m.room.create") == 0 && sk[0] == '\0') have_create = true;
    }
    if (!rv->room_id_from_create && !have_create && nk > 0)
        return hs_auth__fail(rv, res, HS_AUTH_AUTH_EVENTS_NO_CREATE, NULL);
    /* Checked after the selection, so a v12 create in auth_events reports "unexpected"
     * before this; the room check then covers every remaining entry. */
    for (size_t i = 0; i < n_auth; i++) {
        const char *r = hs_auth__str(auth[i].pdu, "room_id");
        if (!room_id || !r || strcmp(room_id, r) != 0) {
            const char *id = hs_auth__entry_id(&auth[i]);
            return hs_auth__fail(rv, res, HS_AUTH_AUTH_EVENTS_WRONG_ROOM, "%s in %s", id ? id : "?",
                                 r ? r : "(no room_id)");
        }
    }
    return hs_auth__ok(res);
}
