/* hs_media: the media repository's files and the rules about serving them, without
 * HTTP or SQL. A file is named by its media ID under <dir>/local/<2 chars>/<rest>, is
 * written once (temp file, fsync, rename, fsync of the directory) and never changed, so
 * a reader sees either no file or the whole file, also after a crash.
 *
 * Media IDs are 24 random letters (libsodium); IDs from requests are checked with
 * hs_media_id_valid before they name any path, which rules out traversal ("..", "/").
 * It does not know about users, remote servers or thumbnails. */
#ifndef HS_MEDIA_H
#define HS_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_MEDIA_ID_LEN 24
#define HS_MEDIA_ID_MAX 255   /* longest ID accepted from a request */

/* Fills out with a fresh random media ID (HS_MEDIA_ID_LEN letters + NUL). */
void hs_media_new_id(char out[HS_MEDIA_ID_LEN + 1]);

/* True if `id` may name a file: 1..HS_MEDIA_ID_MAX characters of [A-Za-z0-9_-]. */
bool hs_media_id_valid(const char *id);

/* Writes `data` as the file of `media_id` under `dir`, atomically (see above), creating
 * directories as needed, and puts the lowercase hex SHA-256 of the data into sha256_hex.
 * Returns 0, or -1 with a reason in err (cannot create, disk full, ...). */
int hs_media_write(const char *dir, const char *media_id, const void *data, size_t len, char sha256_hex[65],
                   char *err, size_t errlen);

/* Opens the file of `media_id` under `dir` for reading, for serving it without holding
 * it in memory: *fd (the caller closes it) and its size in *len. Files larger than
 * max_len are refused. Returns 0, 1 when the file does not exist, -1 on other errors. */
int hs_media_open(const char *dir, const char *media_id, int64_t max_len, int *fd, uint64_t *len);

/* Reads the file of `media_id` under `dir` into a malloc'd buffer (*data, caller frees;
 * never NULL on success, even for an empty file) of *len bytes. Files larger than
 * max_len are refused. Returns 0, 1 when the file does not exist, -1 on other errors. */
int hs_media_read(const char *dir, const char *media_id, int64_t max_len, char **data, size_t *len);

/* Removes the file of `media_id` under `dir`. Returns 0 (also when it was already gone)
 * or -1. */
int hs_media_remove(const char *dir, const char *media_id);

/* True when a browser may show this content type inline; everything else is served as
 * an attachment (scripts in HTML or SVG must never run on the homeserver's origin).
 * Parameters after ';' are ignored; comparison is case-insensitive. */
bool hs_media_inline_type(const char *content_type);

/* Writes the Content-Disposition value for serving `content_type` under `file_name`
 * (NULL or "" for none) into out: "inline" or "attachment", plus
 * `; filename*=utf-8''<percent-encoded name>` (RFC 6266 / RFC 8187). Returns 0, or -1
 * when it does not fit in cap. */
int hs_media_disposition(const char *content_type, const char *file_name, char *out, size_t cap);

/* True if `type` looks like a MIME type "type/subtype[; params]" of printable ASCII
 * without control characters, at most 255 bytes (what we store and echo in a header). */
bool hs_media_type_valid(const char *type);

#endif
