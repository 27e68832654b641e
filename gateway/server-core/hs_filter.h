/* hs_filter: Matrix event filters (Client-Server API "Filtering"): what a client wants
 * /sync to send. A filter is validated once when parsed (uploaded with POST
 * /user/{userId}/filter or passed inline to /sync) and then only read.
 *
 * Supported: the top-level presence and account_data event filters; room.rooms /
 * room.not_rooms / room.include_leave; room.timeline, room.state, room.ephemeral and
 * room.account_data with limit, types / not_types (with '*' wildcards), senders /
 * not_senders, rooms / not_rooms, contains_url, lazy_load_members and
 * include_redundant_members. event_fields and event_format are validated but not
 * applied (events always go out in the client format, whole). A missing filter or
 * field means "everything".
 *
 * The parser is pure: no I/O, and input is bounded (HS_FILTER_MAX_BYTES, list lengths),
 * so arbitrary client bytes get a clear error, never a crash.
 *
 * Matching cost is bounded too, because /sync checks every event of every room: each
 * list is compiled once at parse time into a hash set of its plain entries plus, for
 * types / not_types, at most HS_FILTER_MAX_WILDCARDS entries with '*' of at most
 * HS_FILTER_MAX_PATTERN_BYTES each, matched without backtracking. One event then costs
 * a hash lookup per list plus at most 2 x HS_FILTER_MAX_WILDCARDS linear glob matches,
 * whatever the filter. */
#ifndef HS_FILTER_H
#define HS_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HS_FILTER_MAX_BYTES 65536
#define HS_FILTER_MAX_LIST 1024   /* entries in one types / senders / rooms list */
#define HS_FILTER_MAX_WILDCARDS 32      /* entries with '*' in one types / not_types list */
#define HS_FILTER_MAX_PATTERN_BYTES 255 /* one types / not_types entry (an event type's own limit) */

/* A list compiled for matching (hs_filter.c); owned by the hs_filter it belongs to. */
typedef struct hs_filter_set hs_filter_set;

/* One event filter. The lists are borrowed from the owning hs_filter's root and are
 * NULL when absent (absent = no restriction; an empty `types` list matches nothing). */
typedef struct hs_event_filter {
    long limit;                  /* 0 when not given */
    const json_t *types, *not_types, *senders, *not_senders, *rooms, *not_rooms;
    int contains_url;            /* -1 not given, 0 only without url, 1 only with url */
    bool lazy_load_members;
    bool include_redundant_members;
    /* The same lists compiled (NULL when the list is absent). */
    hs_filter_set *types_set, *not_types_set, *senders_set, *not_senders_set, *rooms_set, *not_rooms_set;
} hs_event_filter;

typedef struct hs_filter {
    json_t *root;                /* the validated filter object (owned); NULL for the empty filter */
    hs_event_filter presence, account_data;
    const json_t *rooms, *not_rooms;   /* room.rooms / room.not_rooms */
    hs_filter_set *rooms_set, *not_rooms_set;
    bool include_leave;
    hs_event_filter timeline, state, ephemeral, room_account_data;
} hs_filter;

/* A filter that lets everything through. Never fails; hs_filter_clear is a no-op on it. */
void hs_filter_init(hs_filter *f);

/* Parses and validates `len` bytes of filter JSON into *f. Returns 0, or -1 with a
 * message naming the offending field in err (then *f is the empty filter). Free with
 * hs_filter_clear. */
int hs_filter_parse(const char *json, size_t len, hs_filter *f, char *err, size_t errlen);

/* Validates a filter already parsed as JSON (takes a new reference on success). */
int hs_filter_from_json(json_t *obj, hs_filter *f, char *err, size_t errlen);

/* Frees what the filter owns and makes it the empty filter again. */
void hs_filter_clear(hs_filter *f);

/* Whether an event passes `ef`: its type against types/not_types, sender against
 * senders/not_senders, room_id (may be NULL: not checked) against rooms/not_rooms and,
 * when contains_url is set, content.url (content may be NULL). not_* wins. */
bool hs_filter_event_allowed(const hs_event_filter *ef, const char *type, const char *sender, const char *room_id,
                             const json_t *content);

/* Whether the room passes the top-level room.rooms / room.not_rooms. */
bool hs_filter_room_allowed(const hs_filter *f, const char *room_id);

/* The filter's limit clamped to [1, max], or `dflt` when it has none. */
long hs_filter_limit(const hs_event_filter *ef, long dflt, long max);

/* Whether `pattern` (with '*' matching any run of characters) matches `type`, in time
 * linear in their lengths (leftmost match of each part between stars). */
bool hs_filter_type_matches(const char *pattern, const char *type);

#endif
