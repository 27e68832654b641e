/* hs_fed_media: media over federation (spec v1.11 authenticated media), both ways.
 *
 * Inbound, on the federation router:
 *   GET /_matrix/federation/v1/media/download/{mediaId}    X-Matrix; multipart/mixed:
 *       a JSON part "{}" then the file with its Content-Type and Content-Disposition
 *   GET /_matrix/federation/v1/media/thumbnail/{mediaId}   the same with the original
 *       file (no scaling yet, as on the client side)
 *   GET /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}]  unauthenticated,
 *       for servers older than v1.11; only our own server name, answered like a client
 *       download (raw bytes).
 * Outbound, in steps (hs_fed_media_fetch_request / _answer), for client downloads of
 * mxc://OTHER/ID: ask OTHER's authenticated endpoint, fall back to the legacy one
 * (allow_remote=false) when that answers 404 or 400 M_UNRECOGNIZED, and cache the file
 * (hs_store_remote_media) so the next download is local. Files are bounded by
 * media.max_upload_bytes.
 *
 * Running the requests, sharing one fetch among simultaneous downloads and capping
 * fetches at once is the caller's (hs_media_fetches, for hs_api_media).
 *
 * Not done: a file part that redirects (Location) is refused, not followed; remote
 * thumbnails are the cached original. */
#ifndef HS_FED_MEDIA_H
#define HS_FED_MEDIA_H

#include <stddef.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_store_media.h"

struct hs_server;

/* Registers the inbound routes above on srv->federation_router (after hs_fed_register).
 * Returns 0 or -1. */
int hs_fed_media_register(struct hs_server *srv);

/* Writes the directory of cached remote files (<media.path>/remote) into out. */
void hs_fed_media_remote_dir(struct hs_server *srv, char *out, size_t cap);

/* The fetch of mxc://origin/media_id (see above) in steps, for a caller that runs the
 * requests itself (concurrently, hs_fed_batch): step 0 asks the authenticated endpoint,
 * step 1 the legacy one.
 * hs_fed_media_fetch_request fills *out (pointing into `target`, which needs 600 bytes)
 * with step's request; returns 0, or -1 with err for an invalid server name or ID. */
int hs_fed_media_fetch_request(const char *origin, const char *media_id, int step, char *target, size_t cap,
                               hs_fed_out *out, hs_err *err);

/* Handles step's answer r: returns 0 with the file stored and *out its row, 1 when the
 * origin has no such media (404 on both endpoints), 2 when step 1 must be asked next,
 * -1 with err otherwise (bad answer, too large, disk). */
int hs_fed_media_fetch_answer(struct hs_server *srv, const char *origin, const char *media_id, int step,
                              const hs_fed_reply *r, hs_store_remote_media *out, hs_err *err);

#endif
