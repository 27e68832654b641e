/* hs_store_federation: persistence for the federation area. Remote servers' verify keys
 * (one row per server and key ID, with the validity the key server gave it) and, per
 * server, the last validated key response as received, so the notary can serve it again
 * with its own signature added; this server's own keys over time (key rotation); and
 * the read-only profile lookup the federation profile query needs (profiles is the
 * directory area's table; this is a plain read).
 *
 * Only SQL lives here: what counts as valid is decided by hs_keys/hs_fed. All functions
 * are thread-safe (the store's connection is serialized) and return -1 on a database
 * error. */
#ifndef HS_STORE_FEDERATION_H
#define HS_STORE_FEDERATION_H

#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

/* One cached verify key. expired_ts is -1 for a current key. */
typedef struct hs_store_fed_key {
    char key_b64[64];
    int64_t valid_until_ts;
    int64_t expired_ts;
    int64_t fetched_ts;
} hs_store_fed_key;

/* The cached key (server_name, key_id). Returns 0 and fills *out, 1 when unknown, -1. */
int hs_store_fed_key_get(hs_store *st, const char *server_name, const char *key_id, hs_store_fed_key *out);

/* Records a validated key response of `server_name`: the raw response (`response_json`,
 * canonical JSON) with its valid_until_ts, and each of its keys. Keys already cached are
 * updated (a later response may extend valid_until_ts or mark a key expired); keys no
 * longer listed stay, since events signed with them must remain checkable. Runs as one
 * statement per row; a crash in between leaves a consistent but older cache. Returns 0 or -1. */
int hs_store_fed_keys_put(hs_store *st, const char *server_name, const char *response_json, int64_t valid_until_ts,
                          const char *const *key_ids, const hs_store_fed_key *keys, size_t n, int64_t fetched_ts);

/* The last stored response of `server_name` (malloc'd, caller frees) and its
 * valid_until_ts. Returns 0, 1 when none is cached, -1. */
int hs_store_fed_response_get(hs_store *st, const char *server_name, char **response_json, int64_t *valid_until_ts);

/* A local user's profile from the profiles table: *displayname / *avatar_url are malloc'd
 * or NULL when unset (caller frees). Returns 0 when the user has a profile row, 1 when it
 * has none (both outputs NULL), -1. */
int hs_store_fed_profile_get(hs_store *st, const char *user_id, char **displayname, char **avatar_url);

/* One of our own signing keys that was rotated out. */
typedef struct hs_store_fed_old_key {
    char key_id[128];
    char key_b64[64];
    int64_t expired_ts;
} hs_store_fed_old_key;

/* Records that this server now signs with (key_id, key_b64): any other current key is
 * marked expired at now_ms (it moves to old_verify_keys). Returns 0; 1 when key_id was
 * used before with a different key (peers cache keys by ID, so reusing an ID would make
 * them check our signatures against the wrong key); -1 on error. */
int hs_store_fed_own_key_note(hs_store *st, const char *key_id, const char *key_b64, int64_t now_ms);

/* Our rotated-out keys, ordered by key ID, as a malloc'd array (*out, caller frees) of
 * *n entries. Returns 0 or -1. */
int hs_store_fed_own_old_keys(hs_store *st, hs_store_fed_old_key **out, size_t *n);

#endif
