/* hs_store_backup: server-side key backup (spec "Server-side key backups"). Each user has
 * numbered backup versions (1, 2, ...; the highest one not deleted is current), each
 * holding opaque encrypted session keys per (room, session). The server never sees a
 * key: it only keeps the better of two copies of a session — verified over unverified,
 * then the lower first_message_index, then the lower forwarded_count — and an etag that
 * changes whenever a version's keys change. */
#ifndef HS_STORE_BACKUP_H
#define HS_STORE_BACKUP_H

#include <jansson.h>
#include <stdint.h>

#include "server-core/hs_store.h"

typedef struct hs_backup_version {
    int64_t version;
    char *algorithm;  /* malloc'd */
    char *auth_data;  /* malloc'd JSON object text */
    int64_t etag;
    int64_t count;    /* sessions stored in this version */
} hs_backup_version;

/* Frees the strings inside *v. */
void hs_backup_version_clear(hs_backup_version *v);

/* Creates the user's next version. Returns 0 with *version, or -1. */
int hs_store_backup_create(hs_store *st, const char *user_id, const char *algorithm, const char *auth_data,
                           int64_t *version);

/* Reads `version` (0: the current one). Returns 0 and fills *out (clear it), 1 when there
 * is no such (live) version, -1 on a database error. */
int hs_store_backup_get(hs_store *st, const char *user_id, int64_t version, hs_backup_version *out);

/* Replaces the auth_data of a live version. Returns 0, 1 when no such version, or -1. */
int hs_store_backup_update(hs_store *st, const char *user_id, int64_t version, const char *auth_data);

/* Deletes a version and its keys. Returns 0, 1 when no such version, or -1. */
int hs_store_backup_delete(hs_store *st, const char *user_id, int64_t version);

/* Sessions one user's backup versions may hold in all (old versions stay readable, so
 * a per-version limit alone would let new versions pile up): every key a user ever
 * received, so generous, but one user must not fill the disk through it. */
#define HS_STORE_BACKUP_SESSIONS_PER_USER 1000000

/* Stores sessions into `version`, which must be the current version: `rooms` is
 * {room_id: {"sessions": {session_id: KeyBackupData}}} (already validated by the caller).
 * Returns 0 with the version's new *count and *etag, 1 when `version` is not the current
 * version, 2 (nothing stored) when the user's versions would hold more than
 * max_sessions sessions in all, -1 on error. */
int hs_store_backup_put(hs_store *st, const char *user_id, int64_t version, const json_t *rooms, int64_t max_sessions,
                        int64_t *count,
                        int64_t *etag);

/* The stored sessions of `version` as {room_id: {"sessions": {session_id: data}}},
 * restricted to one room and/or one session when given. Returns a new reference, or NULL
 * on a database error. */
json_t *hs_store_backup_keys(hs_store *st, const char *user_id, int64_t version, const char *room_id,
                             const char *session_id);

/* Deletes the sessions of `version` (all, one room's, or one session). Returns 0 with the
 * new *count and *etag, 1 when no such version, or -1. */
int hs_store_backup_delete_keys(hs_store *st, const char *user_id, int64_t version, const char *room_id,
                                const char *session_id, int64_t *count, int64_t *etag);

#endif
