/* hs_store_accounts: persistence of users, devices and access tokens. Only SQL lives
 * here; the rules (who may log in, how tokens are made) are in hs_accounts.
 *
 * Invariants: an access token belongs to exactly one device and disappears with it
 * (the schema cascades); tokens are only ever stored as their SHA-256 hash; a
 * deactivated user keeps its row (so the ID is never reused) but has no devices and
 * no password hash. All functions are thread-safe (the store's connection is
 * serialized) and return -1 on a database error. */
#ifndef HS_STORE_ACCOUNTS_H
#define HS_STORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"

#define HS_STORE_ID_MAX 256        /* user IDs are at most 255 bytes */
#define HS_STORE_HASH_MAX 160      /* password hash strings (argon2id encoded) */
#define HS_STORE_DEVICE_NAME_MAX 512
#define HS_STORE_TOKEN_HASH_BYTES 32

typedef struct hs_store_user {
    char user_id[HS_STORE_ID_MAX];
    char password_hash[HS_STORE_HASH_MAX]; /* "" when the user has no password */
    bool admin;
    bool deactivated;
    int64_t created_ts;
} hs_store_user;

typedef struct hs_store_device {
    char device_id[HS_STORE_ID_MAX];
    char display_name[HS_STORE_DEVICE_NAME_MAX]; /* "" when unset */
    bool has_display_name;
    char last_seen_ip[64];       /* "" when never seen */
    int64_t last_seen_ts;        /* 0 when never seen */
} hs_store_device;

/* Inserts a user. Returns 0, 1 when the user ID already exists (active or
 * deactivated), -1 on error. `password_hash` may be NULL (no password login). */
int hs_store_user_insert(hs_store *st, const char *user_id, const char *password_hash, bool admin, int64_t now_ms);

/* Loads a user into *out. Returns 0, 1 when absent, -1 on error. */
int hs_store_user_get(hs_store *st, const char *user_id, hs_store_user *out);

/* Replaces the password hash. Returns 0, 1 when the user is absent, -1 on error. */
int hs_store_user_set_password(hs_store *st, const char *user_id, const char *password_hash);

/* Marks the user deactivated, clears its password and deletes all its devices (and
 * so its tokens). Returns 0, 1 when absent, -1 on error. */
int hs_store_user_deactivate(hs_store *st, const char *user_id);

/* Creates the device if it does not exist (with `display_name`, may be NULL) and
 * records it as seen. Returns 0 (created), 1 (existed; its tokens are deleted, since a
 * login that reuses a device ID replaces the device's session), -1 on error. */
int hs_store_device_claim(hs_store *st, const char *user_id, const char *device_id, const char *display_name,
                          const char *ip, int64_t now_ms);

/* hs_store_device_claim, except that a new device is only created while the user has
 * fewer than max_devices (<= 0: no limit); the count and the insert are one statement,
 * so concurrent logins cannot pass the limit together. An existing device is always
 * taken over. Returns 0 (created), 1 (existed), 2 (refused: the user already has
 * max_devices devices; nothing written), -1 on error. */
int hs_store_device_claim_capped(hs_store *st, const char *user_id, const char *device_id, const char *display_name,
                                 const char *ip, int64_t now_ms, int max_devices);

/* Loads one device. Returns 0, 1 when absent, -1 on error. */
int hs_store_device_get(hs_store *st, const char *user_id, const char *device_id, hs_store_device *out);

/* Lists the user's devices ordered by device ID into a malloc'd array (*out, free
 * with free(); NULL when empty) of *n entries. Returns 0 or -1. */
int hs_store_device_list(hs_store *st, const char *user_id, hs_store_device **out, size_t *n);

/* Sets (or with NULL clears) a device's display name. Returns 0, 1 when absent, -1. */
int hs_store_device_set_name(hs_store *st, const char *user_id, const char *device_id, const char *display_name);

/* Deletes one device and its tokens. Returns 0, 1 when absent, -1 on error. */
int hs_store_device_delete(hs_store *st, const char *user_id, const char *device_id);

/* Deletes every device of the user except `keep` (NULL: all). Returns the number
 * deleted, or -1 on error. */
int hs_store_devices_delete_others(hs_store *st, const char *user_id, const char *keep);

/* Records a token hash for an existing device. Returns 0 or -1. */
int hs_store_token_insert(hs_store *st, const uint8_t hash[HS_STORE_TOKEN_HASH_BYTES], const char *user_id,
                          const char *device_id, int64_t now_ms);

/* Resolves a token hash to its user and device (user_id and device_id buffers of
 * HS_STORE_ID_MAX). Tokens of deactivated users do not resolve. Returns 0, 1 when
 * unknown, -1 on error. */
int hs_store_token_lookup(hs_store *st, const uint8_t hash[HS_STORE_TOKEN_HASH_BYTES], char *user_id,
                          char *device_id);

/* Updates a device's last-seen address and time. Returns 0 or -1. */
int hs_store_device_touch(hs_store *st, const char *user_id, const char *device_id, const char *ip, int64_t now_ms);

#endif
