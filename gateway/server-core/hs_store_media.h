/* hs_store_media: the index of the media repository - one row per media ID saying who
 * uploaded it, its content type, file name, size and SHA-256. The bytes themselves are
 * files written by hs_media; a row exists only once its file is complete, except rows
 * reserved by POST /_matrix/media/v1/create, which carry size HS_STORE_MEDIA_RESERVED
 * until one upload claims them (HS_STORE_MEDIA_UPLOADING) and then completes them.
 * Other servers' media fetched over federation has rows of its own (remote_media,
 * keyed by origin and media ID; hs_fed_media.h).
 *
 * Also holds the pushers table's storage (hs_store_push.h) because migration
 * hs_schema_media belongs to the media+push area. Functions return 0 on success, 1 for
 * "no such row" where stated, -1 on a database error. */
#ifndef HS_STORE_MEDIA_H
#define HS_STORE_MEDIA_H

#include <stdint.h>

#include "server-core/hs_store.h"

#define HS_STORE_MEDIA_ID_MAX 256
#define HS_STORE_MEDIA_TYPE_MAX 256
#define HS_STORE_MEDIA_NAME_MAX 1024
#define HS_STORE_MEDIA_RESERVED (-1)   /* size of a reserved ID nobody uploaded to yet */
#define HS_STORE_MEDIA_UPLOADING (-2)  /* size while one upload to a reserved ID runs */

typedef struct hs_store_media {
    char media_id[HS_STORE_MEDIA_ID_MAX];
    char user_id[256];
    char content_type[HS_STORE_MEDIA_TYPE_MAX];
    char upload_name[HS_STORE_MEDIA_NAME_MAX]; /* "" when the uploader gave none */
    int64_t size;                 /* bytes; or HS_STORE_MEDIA_RESERVED / _UPLOADING (< 0) */
    char sha256[65];              /* lowercase hex; "" while reserved */
    int64_t created_ts;           /* ms since the epoch */
    int64_t unused_expires_ts;    /* reserved rows: when the reservation lapses; else 0 */
} hs_store_media;

/* Inserts the row of a completed upload (m->size >= 0) or a reservation
 * (HS_STORE_MEDIA_RESERVED).
 * Returns 0, 1 when the media ID exists already, -1 on error. */
int hs_store_media_insert(hs_store *st, const hs_store_media *m);

/* Claims the reservation `media_id` of `user_id` for one upload, so two concurrent
 * uploads cannot both write the file: RESERVED -> UPLOADING. Returns 0 when claimed,
 * 1 when it is not a reservation of that user waiting for its upload, -1 on error. */
int hs_store_media_claim(hs_store *st, const char *media_id, const char *user_id);

/* Gives a claimed reservation back after a failed upload (UPLOADING -> RESERVED). */
int hs_store_media_unclaim(hs_store *st, const char *media_id);

/* Completes a claimed reservation: sets type, name, size and hash (m->size >= 0).
 * Returns 0, 1 when m->media_id is not claimed, -1 on error. */
int hs_store_media_complete(hs_store *st, const hs_store_media *m);

/* Reads the row of `media_id` into *out. Returns 0, 1 if absent, -1 on error. */
int hs_store_media_get(hs_store *st, const char *media_id, hs_store_media *out);

/* Deletes reservations whose time ran out before now_ms without an upload completing
 * (also ones an interrupted upload left claimed). Returns the number deleted, or -1. */
int64_t hs_store_media_forget_expired(hs_store *st, int64_t now_ms);

/* Reservations by `user_id` that are still pending at now_ms (for the per-user cap). */
int64_t hs_store_media_pending_count(hs_store *st, const char *user_id, int64_t now_ms);

/* A cached copy of another server's media, keyed by (origin, media_id). Its bytes are
 * a file of hs_media named file_id (a fresh local ID: remote IDs of two servers may
 * be equal) under <media.path>/remote; the row is written only after the file. */
typedef struct hs_store_remote_media {
    char origin[256];
    char media_id[HS_STORE_MEDIA_ID_MAX];
    char file_id[HS_STORE_MEDIA_ID_MAX];
    char content_type[HS_STORE_MEDIA_TYPE_MAX];
    char upload_name[HS_STORE_MEDIA_NAME_MAX]; /* "" when the origin gave none */
    int64_t size;
    char sha256[65];
    int64_t created_ts;           /* when it was fetched, ms since the epoch */
} hs_store_remote_media;

/* Records a fetched remote file. Returns 0, 1 when (origin, media_id) is cached already
 * (a concurrent fetch won; its file serves), -1 on error. */
int hs_store_remote_media_insert(hs_store *st, const hs_store_remote_media *m);

/* Reads the cached row of (origin, media_id) into *out. Returns 0, 1 if absent, -1 on
 * error. */
int hs_store_remote_media_get(hs_store *st, const char *origin, const char *media_id, hs_store_remote_media *out);

/* Keeps the remote media cache within max_bytes: removes the rows of the oldest fetched
 * files, never (keep_origin, keep_media_id), until the rest fits. The removed rows' file
 * IDs go to *file_ids (malloc'd array of malloc'd strings, *n of them; free with
 * hs_store_media_free_ids) so the caller can delete the files. Returns 0 or -1. */
int hs_store_remote_media_evict(hs_store *st, int64_t max_bytes, const char *keep_origin, const char *keep_media_id,
                                char ***file_ids, size_t *n);

/* Frees what hs_store_remote_media_evict returned. */
void hs_store_media_free_ids(char **ids, size_t n);

#endif
