/* hs_api_media: the media repository endpoints (spec v1.12 "Content repository").
 *
 *   POST /_matrix/media/v3/upload                       upload, answers the mxc:// URI
 *   POST /_matrix/media/v1/create                        reserve an mxc:// URI (24 h)
 *   PUT  /_matrix/media/v3/upload/{server}/{mediaId}     upload to a reserved URI
 *   GET  /_matrix/client/v1/media/download/{server}/{mediaId}[/{fileName}]  (token)
 *   GET  /_matrix/client/v1/media/thumbnail/{server}/{mediaId}              (token)
 *   GET  /_matrix/client/v1/media/config                                    (token)
 *   GET  /_matrix/media/v3/download|thumbnail|config    legacy, unauthenticated,
 *        served while media.unauthenticated_download is true (the default: clients
 *        such as matrix-js-sdk still build these URLs); otherwise 404 M_NOT_FOUND.
 * Every /_matrix/media/v3 path is also served under /_matrix/media/r0.
 *
 * A download of a reserved ID whose upload has not finished waits up to timeout_ms
 * (default 20 s, at most 5 min) without holding a worker (hs_media_wait), then answers
 * 504 M_NOT_YET_UPLOADED; on transports that cannot park a request it answers at once.
 *
 * mxc://OTHER/ID is fetched from OTHER over federation on the first download and then
 * served from the local cache (hs_fed_media.h); allow_remote=false gives 404 instead.
 *
 * Not done yet: thumbnails are the original file (no scaling). */
#ifndef HS_API_MEDIA_H
#define HS_API_MEDIA_H

#include <stddef.h>

/* Raw path prefix of every media upload: the listener lets these requests carry bodies
 * up to media.max_upload_bytes (hs_httpd_config.upload_prefix). */
#define HS_MEDIA_UPLOAD_PREFIX "/_matrix/media/"

/* Reservations (POST /create) a user may hold at once, like Synapse's default. */
#define HS_MEDIA_MAX_PENDING 5

struct hs_server;

/* Registers the endpoints above on the client router and starts srv->media_waits
 * (hs_server_close stops and frees it). Returns 0, or -1 on a routing error or when the
 * thread cannot start. Creates no directory: the media directory appears with the
 * first upload. */
int hs_api_media_register(struct hs_server *srv);

struct hs_response;
struct hs_store_media;

/* Reads local media `id` (uploaded, not merely reserved) for another module (the
 * federation media endpoints): its row into *m and its bytes into *data (malloc'd,
 * the caller frees) of *len bytes. Returns 0, 1 when there is no such uploaded media
 * (or the ID is invalid), -1 when the index or the file cannot be read (logged). */
int hs_api_media_read_local(struct hs_server *srv, const char *id, struct hs_store_media *m, char **data, size_t *len);

/* Answers resp with local media `id` as a client download would (file and safety
 * headers, under `name` or the uploaded name when NULL; 404, 504 or 500), never
 * waiting for a pending upload. */
void hs_api_media_serve_local(struct hs_server *srv, const char *id, const char *name, struct hs_response *resp);

#endif
