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
 * Not done yet: thumbnails are the original file (no scaling); media of other servers
 * is 404 M_NOT_FOUND until federation fetches it. */
#ifndef HS_API_MEDIA_H
#define HS_API_MEDIA_H

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

#endif
