/* hs_multipart: the parser of the multipart/mixed answers of the authenticated
 * federation media download (spec v1.11, GET /_matrix/federation/v1/media/download):
 * exactly two parts, first a JSON object (metadata, "{}" today), then the file with
 * its own Content-Type and Content-Disposition headers (a part that carries a
 * Location header instead of bytes is reported as such; following it is the
 * caller's business).
 *
 * Pure and bounded: it reads a buffer it does not own, never allocates, and returns a
 * clear reason instead of guessing on malformed input. Parts point into that buffer. */
#ifndef HS_MULTIPART_H
#define HS_MULTIPART_H

#include <stddef.h>

#define HS_MULTIPART_HEADER_MAX 1024   /* longest header value kept (Content-Type, -Disposition, Location) */
#define HS_MULTIPART_BOUNDARY_MAX 70   /* RFC 2046 */

/* The parsed answer. Pointers point into the body given to hs_multipart_parse. */
typedef struct hs_multipart_media {
    const char *json;          /* first part's body (not NUL-terminated) */
    size_t json_len;
    const char *data;          /* second part's body: the file's bytes */
    size_t data_len;
    char content_type[HS_MULTIPART_HEADER_MAX];  /* second part's Content-Type, "" if absent */
    char disposition[HS_MULTIPART_HEADER_MAX];   /* second part's Content-Disposition, "" if absent */
    char location[HS_MULTIPART_HEADER_MAX];      /* second part's Location (a redirect), "" if absent */
} hs_multipart_media;

/* Parses `body` (len bytes) answered with the Content-Type `content_type`, which must be
 * multipart/mixed with a boundary parameter. The file part may be at most max_data
 * bytes. Returns 0 with *out filled; or -1 with a reason in err (errlen bytes): not
 * multipart, no/invalid boundary, truncated, more or fewer than two parts, a header
 * too long, the file larger than max_data. */
int hs_multipart_parse(const char *content_type, const char *body, size_t len, size_t max_data,
                       hs_multipart_media *out, char *err, size_t errlen);

/* Extracts the file name of a Content-Disposition value into out (cap bytes):
 * filename*=utf-8''<percent-encoded> wins over filename="..." or filename=token.
 * Returns 0, or -1 when there is none or it does not fit / does not decode. */
int hs_multipart_disposition_name(const char *disposition, char *out, size_t cap);

#endif
