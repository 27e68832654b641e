/* hs_auth_internal: helpers shared by the hs_auth_*.c files (not a public API; the
 * public one is hs_auth.h). Everything here is pure and borrows its arguments. */
#ifndef HS_AUTH_INTERNAL_H
#define HS_AUTH_INTERNAL_H

#include "server-core/hs_auth.h"

/* Records `rule` in *res (if non-NULL) with the message "<rule> (rule N.N): <detail>"
 * and returns rule, so a check can `return hs_auth__fail(...)`. */
hs_auth_rule hs_auth__fail(const hs_room_version *rv, hs_auth_result *res, hs_auth_rule rule,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records HS_AUTH_OK ("allowed") in *res (if non-NULL) and returns HS_AUTH_OK. */
hs_auth_rule hs_auth__ok(hs_auth_result *res);

/* The string member `key` of obj, or NULL when absent or not a string. */
const char *hs_auth__str(const json_t *obj, const char *key);

/* The server part of a user/room/event ID (after the first ':'), or NULL without one. */
const char *hs_auth__domain(const char *id);

/* True when id looks like a user ID: "@" localpart ":" server, both parts non-empty. The
 * check is deliberately as loose as Synapse's, since historical user IDs exist. */
bool hs_auth__valid_user_id(const char *id);

/* Looks up a state entry; false when absent or the state has no such key. */
bool hs_auth__get(const hs_auth_state *state, const char *type, const char *state_key,
                  hs_auth_entry *out);

/* The content object of the state event at (type, state_key), or NULL. */
const json_t *hs_auth__content(const hs_auth_state *state, const char *type,
                               const char *state_key);

/* The user's membership in state ("join", "invite", ...), "leave" when there is none. */
const char *hs_auth__membership(const hs_auth_state *state, const char *user_id);

/* The current join rule; "invite" when the state has no m.room.join_rules (Synapse's
 * choice, and the safe one). */
const char *hs_auth__join_rule(const hs_auth_state *state);

/* The ID of a state entry: the given one, else the PDU's own "event_id" (v1-2), or NULL. */
const char *hs_auth__entry_id(const hs_auth_entry *e);

/* Whether user_id is a creator per the create event: v12 sender or additional_creators;
 * v11 sender; v1-10 content.creator. */
bool hs_auth__is_creator(const hs_room_version *rv, const json_t *create, const char *user_id);

/* A level field of a power levels content (NULL content = no power levels event) with its
 * default when absent or unparseable. */
long long hs_auth__pl_field(const hs_room_version *rv, const json_t *pl_content, const char *key,
                            long long dflt);

/* The level required to send an event of `type` (state event when is_state). */
long long hs_auth__required_level(const hs_room_version *rv, const hs_auth_state *state,
                                  const char *type, bool is_state);

/* The m.room.member rules (v1-5 rule 5, v6-11 rule 4, v12 rule 5). */
hs_auth_rule hs_auth__member(const hs_room_version *rv, const json_t *event,
                             const hs_auth_state *state, hs_auth_result *res);

/* The m.room.power_levels rules. */
hs_auth_rule hs_auth__power_levels(const hs_room_version *rv, const json_t *event,
                                   const hs_auth_state *state, hs_auth_result *res);

/* Whether any signature in a third-party invite's `signed` object verifies (ed25519 over
 * its canonical JSON without "signatures"/"unsigned") with any public key of the
 * m.room.third_party_invite content (public_key and public_keys[].public_key). */
bool hs_auth__tpi_signature_ok(const json_t *signed_obj, const json_t *tpi_content);

#endif
