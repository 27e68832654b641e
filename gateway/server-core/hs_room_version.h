/* hs_room_version: what differs between Matrix room versions 1-12, as data. Code that
 * behaves per version asks for a flag here instead of comparing version strings, so a
 * new version is one table row. Pure: no I/O. */
#ifndef HS_ROOM_VERSION_H
#define HS_ROOM_VERSION_H

#include <stdbool.h>

typedef enum {
    HS_EVENT_ID_V1,     /* v1, v2: "$localpart:server", chosen by the origin */
    HS_EVENT_ID_V3,     /* v3: "$" + standard unpadded base64 of the reference hash */
    HS_EVENT_ID_V4,     /* v4+: "$" + URL-safe unpadded base64 of the reference hash */
} hs_event_id_format;

typedef enum {
    HS_STATE_RES_V1,    /* v1 */
    HS_STATE_RES_V2,    /* v2-v11 */
    HS_STATE_RES_V2_1,  /* v12: conflicted state subgraph, iterative auth from empty state */
} hs_state_res_algo;

typedef struct hs_room_version {
    const char *id;                 /* "1" .. "12" */
    hs_event_id_format event_id_format;
    hs_state_res_algo state_res;
    bool enforce_key_validity;      /* v5+: signing key must be valid at origin_server_ts */
    bool special_case_aliases_auth; /* v1-5: m.room.aliases has its own auth rule */
    bool strict_canonical_json;     /* v6+: reject floats and out-of-range integers */
    bool limit_notifications_pl;    /* v6+: notifications.* in power levels checked */
    bool knock;                     /* v7+: knock membership and join rule */
    bool restricted_join;           /* v8+: join_rule "restricted" with allow list */
    bool redact_join_authorised;    /* v9+: redaction keeps join_authorised_via_users_server */
    bool knock_restricted;          /* v10+: join_rule "knock_restricted" */
    bool integer_power_levels;      /* v10+: power level values must be JSON integers */
    bool v11_redaction;             /* v11+: MSC2176 redaction rules, MSC3821 */
    bool redacts_in_content;        /* v11+: m.room.redaction carries content.redacts */
    bool creator_from_sender;       /* v11+: no content.creator; creator is the create sender */
    bool no_origin_field;           /* v11+: top-level origin no longer protected by redaction */
    bool room_id_from_create;       /* v12: room ID = "!" + urlsafe b64 of create's reference hash */
    bool creators_infinite_power;   /* v12: create sender + additional_creators outrank all */
} hs_room_version;

/* Returns the row for a version string, or NULL for an unknown or unsupported version.
 * The returned pointer is static; never free it. */
const hs_room_version *hs_room_version_get(const char *id);

/* The supported versions in ascending order, for capability advertising. Returns the
 * count and sets *out to a static array of pointers. */
int hs_room_version_all(const hs_room_version *const **out);

#endif
