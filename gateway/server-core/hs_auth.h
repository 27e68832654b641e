/* hs_auth: the Matrix authorization rules for room versions 1-12 ("Room Versions" spec,
 * section "Authorization rules"), the auth events selection algorithm (Server-Server API)
 * and the checks on an event's own auth_events.
 *
 * Sans-I/O and pure: an event (a jansson PDU object) and a state are in, a verdict naming
 * the failed rule is out. The state is abstract (hs_auth_state: a lookup callback), so the
 * same check serves "against its auth_events", "against the state before it", "against the
 * current state" (soft failure) and state resolution's iterative auth checks; hs_auth_map is
 * a ready-made in-memory state map for those.
 *
 * Not done here, by design: signature and hash checks (hs_signing/hs_pdu; this includes the
 * v1-v2 "signed by the event ID's domain" rule and the cryptographic part of the v8+
 * join_authorised_via_users_server rule, of which we only check that the authorising
 * server did sign), PDU format validation, rejected-auth-event propagation (the caller knows
 * which events it rejected), and the v3+ redaction rule (the server decides whether to apply
 * a redaction once it holds the redacted event). */
#ifndef HS_AUTH_H
#define HS_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_room_version.h"

/* Every way an event can fail authorization; HS_AUTH_OK is 0. hs_auth_rule_str() gives
 * the human string. The order follows the spec's rule order. */
typedef enum {
    HS_AUTH_OK = 0,
    HS_AUTH_MALFORMED,                 /* no string type/sender/room_id, no content object */
    /* m.room.create */
    HS_AUTH_CREATE_PREV_EVENTS,
    HS_AUTH_CREATE_ROOM_ID_DOMAIN,     /* v1-11 */
    HS_AUTH_CREATE_HAS_ROOM_ID,        /* v12 */
    HS_AUTH_CREATE_UNKNOWN_VERSION,
    HS_AUTH_CREATE_NO_CREATOR,         /* v1-10 */
    HS_AUTH_CREATE_BAD_ADDITIONAL_CREATORS, /* v12 */
    HS_AUTH_ROOM_ID_NOT_CREATE,        /* v12: room_id is not the create event's ID */
    /* auth_events */
    HS_AUTH_AUTH_EVENTS_DUPLICATE,
    HS_AUTH_AUTH_EVENTS_UNEXPECTED,
    HS_AUTH_AUTH_EVENTS_NO_CREATE,
    HS_AUTH_AUTH_EVENTS_WRONG_ROOM,
    HS_AUTH_NO_CREATE,                 /* the state has no m.room.create event */
    HS_AUTH_NOT_FEDERATED,
    /* m.room.aliases, v1-5 */
    HS_AUTH_ALIASES_NO_STATE_KEY,
    HS_AUTH_ALIASES_DOMAIN,
    /* m.room.member */
    HS_AUTH_MEMBER_MALFORMED,
    HS_AUTH_MEMBER_AUTHORISER_UNSIGNED,
    HS_AUTH_JOIN_SENDER_NOT_TARGET,
    HS_AUTH_JOIN_BANNED,
    HS_AUTH_JOIN_NOT_INVITED,
    HS_AUTH_JOIN_RESTRICTED_AUTHORISER,
    HS_AUTH_JOIN_RULE,
    HS_AUTH_TPI_TARGET_BANNED,
    HS_AUTH_TPI_NO_SIGNED,
    HS_AUTH_TPI_SIGNED_FIELDS,
    HS_AUTH_TPI_MXID,
    HS_AUTH_TPI_NO_EVENT,
    HS_AUTH_TPI_SENDER,
    HS_AUTH_TPI_SIGNATURE,
    HS_AUTH_INVITE_SENDER_NOT_JOINED,
    HS_AUTH_INVITE_TARGET_JOINED_OR_BANNED,
    HS_AUTH_INVITE_LEVEL,
    HS_AUTH_LEAVE_SELF_NOT_MEMBER,
    HS_AUTH_LEAVE_SENDER_NOT_JOINED,
    HS_AUTH_LEAVE_UNBAN_LEVEL,
    HS_AUTH_LEAVE_KICK_LEVEL,
    HS_AUTH_BAN_SENDER_NOT_JOINED,
    HS_AUTH_BAN_LEVEL,
    HS_AUTH_KNOCK_JOIN_RULE,
    HS_AUTH_KNOCK_SENDER_NOT_TARGET,
    HS_AUTH_KNOCK_MEMBERSHIP,
    HS_AUTH_MEMBER_UNKNOWN,
    /* any other event */
    HS_AUTH_SENDER_NOT_JOINED,
    HS_AUTH_TPI_EVENT_LEVEL,           /* m.room.third_party_invite needs the invite level */
    HS_AUTH_EVENT_LEVEL,
    HS_AUTH_STATE_KEY_USER,
    /* m.room.power_levels */
    HS_AUTH_PL_NOT_INTEGER,
    HS_AUTH_PL_MAP_NOT_INTEGER,
    HS_AUTH_PL_USERS_INVALID,
    HS_AUTH_PL_USERS_HAS_CREATOR,      /* v12 */
    HS_AUTH_PL_DEFAULTS_ABOVE_SENDER,
    HS_AUTH_PL_MAP_OLD_ABOVE_SENDER,
    HS_AUTH_PL_MAP_NEW_ABOVE_SENDER,
    HS_AUTH_PL_USER_OLD_NOT_BELOW_SENDER,
    HS_AUTH_PL_USER_NEW_ABOVE_SENDER,
    /* m.room.redaction, v1-2 */
    HS_AUTH_REDACT_LEVEL,
    HS_AUTH_RULE_COUNT
} hs_auth_rule;

/* A verdict: the rule and a message naming it with the spec rule number for the room
 * version and the detail, e.g. "m.room.member join: sender is banned (rule 4.3.3):
 * @dave:b.org". */
typedef struct hs_auth_result {
    hs_auth_rule rule;
    char msg[320];
} hs_auth_result;

/* Static human string for a rule, without version-specific numbering. Never NULL. */
const char *hs_auth_rule_str(hs_auth_rule rule);

/* The spec's rule number for `rule` in room version `rv` ("4.3.3"), written into buf.
 * Returns buf; empty string for rules the spec does not number (HS_AUTH_MALFORMED). */
const char *hs_auth_rule_ref(const hs_room_version *rv, hs_auth_rule rule, char *buf, size_t len);

/* ---- state ---------------------------------------------------------------------------- */

/* One state event with its event ID. The ID is needed by a few rules (the creator's
 * first join compares prev_events with the create event's ID; v12 derives the room ID
 * from it; v1-2 redactions compare ID domains). NULL when unknown; the v1-2 PDU's own
 * "event_id" is then used if present. Both pointers are borrowed. */
typedef struct hs_auth_entry {
    const json_t *pdu;
    const char *event_id;
} hs_auth_entry;

/* The abstract state an event is checked against: `get` fills *out with the event at
 * (type, state_key) and returns true, or returns false when the state has none. */
typedef struct hs_auth_state {
    bool (*get)(void *ctx, const char *type, const char *state_key, hs_auth_entry *out);
    void *ctx;
} hs_auth_state;

/* An in-memory state map keyed by (type, state_key). It keeps its own references to the
 * PDUs and copies of the event IDs. */
typedef struct hs_auth_map hs_auth_map;

/* New empty map; NULL on allocation failure. Free with hs_auth_map_free (NULL is fine). */
hs_auth_map *hs_auth_map_new(void);
void hs_auth_map_free(hs_auth_map *map);

/* A new map holding the same entries (cheap: PDUs are shared by reference); NULL on
 * allocation failure. */
hs_auth_map *hs_auth_map_copy(const hs_auth_map *map);

/* Puts a state event (it must have string "type" and "state_key") at its key, replacing
 * what was there. event_id may be NULL. Returns 0, or -1 if pdu is not a state event or
 * on allocation failure. */
int hs_auth_map_put(hs_auth_map *map, json_t *pdu, const char *event_id);

/* Looks up (type, state_key); same contract as hs_auth_state.get. Borrowed pointers stay
 * valid until the entry is replaced or the map freed. */
bool hs_auth_map_get(const hs_auth_map *map, const char *type, const char *state_key,
                     hs_auth_entry *out);

/* Number of entries. */
size_t hs_auth_map_size(const hs_auth_map *map);

/* The map as an hs_auth_state (valid while the map lives). */
hs_auth_state hs_auth_map_state(hs_auth_map *map);

/* ---- auth events selection ------------------------------------------------------------ */

#define HS_AUTH_MAX_KEYS 7

/* A (type, state_key) pair an event's auth_events may reference. Strings are borrowed
 * from the event or static. `required`: the create event in v1-11; all others are
 * "if any". */
typedef struct hs_auth_key {
    const char *type;
    const char *state_key;
    bool required;
} hs_auth_key;

/* The auth events selection algorithm: the keys `event` should cite in auth_events for
 * room version rv (create (v1-11), power levels, sender's member and, for membership
 * events, target's member, join rules, the third-party invite by token and the member
 * event of join_authorised_via_users_server (v8+)). Fills out[] and returns the count
 * (0 for a create event), or -1 if the event lacks string type/sender. */
int hs_auth_types_for_event(const hs_room_version *rv, const json_t *event,
                            hs_auth_key out[HS_AUTH_MAX_KEYS]);

/* The checks on the auth events themselves (v1-11 rule 2, v12 rule 3): no two with the
 * same (type, state_key), none outside hs_auth_types_for_event, the create event present
 * (v1-11) or absent (v12), all in the event's room. `auth` are the events the event's
 * auth_events IDs resolve to. Whether any of them was itself rejected is for the caller.
 * Returns HS_AUTH_OK or the failed rule, with details in *res (may be NULL). */
hs_auth_rule hs_auth_check_auth_events(const hs_room_version *rv, const json_t *event,
                                       const hs_auth_entry *auth, size_t n_auth,
                                       hs_auth_result *res);

/* ---- the rules ------------------------------------------------------------------------ */

/* Whether `event` is allowed by the authorization rules of rv against `state` (for
 * m.room.create the state is not consulted). Returns HS_AUTH_OK or the first rule that
 * failed, with the message in *res (may be NULL). Never allocates on the caller's behalf;
 * never modifies the event. */
hs_auth_rule hs_auth_allowed(const hs_room_version *rv, const json_t *event,
                             const hs_auth_state *state, hs_auth_result *res);

/* The full check of an event against its own auth events: hs_auth_check_auth_events, then
 * hs_auth_allowed with the auth events as the state. For v12, where the create event is not
 * among the auth events, pass it as `create` (found by the room ID); otherwise `create` may
 * be NULL. Returns as hs_auth_allowed; HS_AUTH_MALFORMED also on allocation failure. */
hs_auth_rule hs_auth_check_with_auth_events(const hs_room_version *rv, const json_t *event,
                                            const hs_auth_entry *auth, size_t n_auth,
                                            const hs_auth_entry *create, hs_auth_result *res);

/* ---- power levels (also used by state resolution to order events) ----------------------- */

/* Creators in v12 outrank every number. */
#define HS_AUTH_PL_INFINITE ((long long)9223372036854775807LL)

/* The power level of `user_id` in `state` for rv: v12 creators HS_AUTH_PL_INFINITE; else
 * the users entry or users_default of the current m.room.power_levels; with no such event,
 * 100 for the v1-11 creator and 0 for everyone else. */
long long hs_auth_user_level(const hs_room_version *rv, const hs_auth_state *state,
                             const char *user_id);

/* Parses one power level value as rv allows it: JSON integers always; in v1-9 also
 * integer strings (optional whitespace, sign, leading zeros); in v1-5 also floats,
 * truncated. Returns true and sets *out, or false if the value is not acceptable. */
bool hs_auth_parse_level(const hs_room_version *rv, const json_t *v, long long *out);

#endif
