/* hs_redact: the redaction algorithm of Matrix room versions 1-12 ("Room Versions"
 * appendix): which top-level keys and which content keys of an event survive. It is used
 * both to serve redacted events and, inside hs_event_id/hs_signing, to compute reference
 * hashes and signatures, so it must be byte-exact with other servers.
 *
 * Per-version differences, all read from hs_room_version flags:
 *   v1-5  m.room.aliases keeps content.aliases (special_case_aliases_auth)
 *   v8+   m.room.join_rules keeps content.allow (restricted_join)
 *   v9+   m.room.member keeps content.join_authorised_via_users_server (redact_join_authorised)
 *   v11+  top-level origin, membership and prev_state are dropped; create keeps all
 *         content; power_levels keeps invite; redaction keeps redacts; member keeps
 *         third_party_invite.signed (v11_redaction)
 * It does not decide whether a redaction is allowed (that is auth), and it drops
 * `unsigned` entirely (what a server re-adds there is its own business). */
#ifndef HS_REDACT_H
#define HS_REDACT_H

#include <jansson.h>

#include "server-core/hs_room_version.h"

/* Returns a new event object holding only what the redaction algorithm of `rv` keeps of
 * `pdu` (values are deep copies). The caller json_decref()s it. Returns NULL only if
 * `pdu` is not an object or memory runs out. */
json_t *hs_redact(const json_t *pdu, const hs_room_version *rv);

#endif
