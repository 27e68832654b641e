/* hs_state_map: a room state as state resolution sees it, (type, state_key) -> event ID.
 * It holds IDs only (no PDUs); the events themselves come from an hs_event_lookup
 * (hs_auth_chain.h). Copies are cheap and independent: a set on one never shows in the
 * other. The JSON form used by the CLI, the fixtures and the tests is
 * {"<type>|<state_key>": "<event_id>"}. Pure: no I/O. */
#ifndef HS_STATE_MAP_H
#define HS_STATE_MAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct hs_state_map hs_state_map;

/* One entry; all strings are borrowed from the map and valid until it changes. */
typedef struct hs_state_entry {
    const char *type;
    const char *state_key;
    const char *event_id;
} hs_state_entry;

/* New empty map, or NULL on allocation failure. Free with hs_state_map_free (NULL is ok). */
/* The hash key both state maps (this one and hs_auth_map) use for (type, state_key):
 * "<len(type)>:<type><state_key>", unambiguous for any strings. Writes into buf when it
 * fits, else returns a malloc'd string; release with hs_state_key_free(key, buf).
 * NULL on allocation failure. */
char *hs_state_key(const char *type, const char *state_key, char *buf, size_t cap);
void hs_state_key_free(char *key, char *buf);

hs_state_map *hs_state_map_new(void);
void hs_state_map_free(hs_state_map *map);

/* An independent copy (entries are shared internally and never mutated), or NULL. */
hs_state_map *hs_state_map_copy(const hs_state_map *map);

/* Sets (type, state_key) to event_id (all copied). Returns 0, or -1 on allocation failure
 * or a NULL argument. */
int hs_state_map_set(hs_state_map *map, const char *type, const char *state_key, const char *event_id);

/* The event ID at (type, state_key), borrowed, or NULL when absent. */
const char *hs_state_map_get(const hs_state_map *map, const char *type, const char *state_key);

size_t hs_state_map_size(const hs_state_map *map);

/* All entries sorted by (type, state_key) bytewise, in a malloc'd array the caller free()s
 * (the strings stay borrowed). Returns the count, and *out NULL for an empty map; -1 on
 * allocation failure. */
long hs_state_map_entries(const hs_state_map *map, hs_state_entry **out);

/* Same keys and IDs. */
bool hs_state_map_equal(const hs_state_map *a, const hs_state_map *b);

/* The map as a new JSON object {"type|state_key": event_id}; NULL on allocation failure. */
json_t *hs_state_map_to_json(const hs_state_map *map);

#endif
