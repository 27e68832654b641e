/* hs_api_media: HTTP handlers of the media repository. Uploads are written to disk by
 * hs_media (atomically) before their row is stored, so a row always has its file; a
 * crash between the two leaves at worst an unreferenced file, never a broken URI.
 *
 * Downloads are served with the headers that keep uploaded HTML or SVG from running on
 * the homeserver's origin: a restrictive Content-Security-Policy (as Synapse sends),
 * Content-Disposition "attachment" for anything that is not a known-safe type, and the
 * stored Content-Type. The file is not read into memory: the response carries its open
 * descriptor and the transport sends it as it goes (hs_response_file), so a download
 * costs a descriptor and a send buffer, not the file's size.
 *
 * Media of another server is served from its cached copy, fetched over federation on
 * the first download (hs_fed_media) by hs_media_fetches' thread, not on a worker: every
 * download of a file being fetched waits for that one fetch parked, and fetches beyond
 * media.max_concurrent_remote_fetches are refused with 429. */
#include "server-core/hs_api_media.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_fed_media.h"
#include "server-core/hs_log.h"
#include "server-core/hs_media.h"
#include "server-core/hs_media_fetches.h"
#include "server-core/hs_media_wait.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_media.h"
#include "server-core/hs_clock.h"

#define RESERVATION_MS (24 * 60 * 60 * 1000LL)
#define DEFAULT_WAIT_MS 20000        /* the spec's default timeout_ms */
#define MAX_WAIT_MS (5 * 60 * 1000)  /* longer waits are cut to this */
#define DEFAULT_TYPE "application/octet-stream"
#define CSP "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; " \
            "style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

static void answer_uri(hs_server *srv, hs_response *resp, const char *media_id)
{
    char uri[600];
    snprintf(uri, sizeof uri, "mxc://%s/%s", srv->cfg.server_name, media_id);
    hs_response_json(resp, 200, json_pack("{ss}", "content_uri", uri));
}

/* Checks size, type and file name of an upload and fills those fields of *m.
 * Returns 0, or -1 after answering. */
static int describe_upload(hs_server *srv, const hs_request *req, hs_response *resp, hs_store_media *m)
{
    if ((int64_t)req->body_len > srv->cfg.media_max_upload_bytes) {
        hs_response_error(resp, 413, "M_TOO_LARGE", "upload is %zu bytes; the limit is %lld bytes", req->body_len,
                          (long long)srv->cfg.media_max_upload_bytes);
        return -1;
    }
    const char *type = hs_request_header(req, "Content-Type");
    if (!type || !type[0]) type = DEFAULT_TYPE;
    if (!hs_media_type_valid(type)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "Content-Type is not a MIME type");
        return -1;
    }
    const char *name = hs_request_query(req, "filename");
    if (!name) name = "";
    if (strlen(name) >= sizeof m->upload_name) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "filename is longer than %zu bytes",
                          sizeof m->upload_name - 1);
        return -1;
    }
    snprintf(m->content_type, sizeof m->content_type, "%s", type);
    snprintf(m->upload_name, sizeof m->upload_name, "%s", name);
    m->size = (int64_t)req->body_len;
    return 0;
}

static int store_file(hs_server *srv, const hs_request *req, hs_response *resp, hs_store_media *m)
{
    char why[512];
    if (hs_media_write(srv->cfg.media_path, m->media_id, req->body, req->body_len, m->sha256, why, sizeof why) != 0) {
        hs_error("media", "upload by %s: %s", m->user_id, why);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the file");
        return -1;
    }
    return 0;
}

static void upload_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    hs_store_media m = {.created_ts = now};
    snprintf(m.user_id, sizeof m.user_id, "%s", who.user_id);
    if (describe_upload(srv, req, resp, &m) != 0) return;
    hs_media_new_id(m.media_id);
    if (store_file(srv, req, resp, &m) != 0) return;
    if (hs_store_media_insert(srv->store, &m) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot record the upload");
        return;
    }
    answer_uri(srv, resp, m.media_id);
}

static void create_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    /* Lapsed reservations are dropped here, where new ones are made, so the table never
     * grows with IDs nobody can use any more. */
    hs_store_media_forget_expired(srv->store, now);
    int64_t pending = hs_store_media_pending_count(srv->store, who.user_id, now);
    if (pending < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read reservations");
        return;
    }
    if (pending >= HS_MEDIA_MAX_PENDING) {
        hs_response_error(resp, 429, "M_LIMIT_EXCEEDED", "%d reserved media IDs are still waiting for their upload",
                          HS_MEDIA_MAX_PENDING);
        return;
    }
    hs_store_media m = {.size = HS_STORE_MEDIA_RESERVED, .created_ts = now, .unused_expires_ts = now + RESERVATION_MS};
    snprintf(m.user_id, sizeof m.user_id, "%s", who.user_id);
    hs_media_new_id(m.media_id);
    if (hs_store_media_insert(srv->store, &m) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot reserve a media ID");
        return;
    }
    char uri[600];
    snprintf(uri, sizeof uri, "mxc://%s/%s", srv->cfg.server_name, m.media_id);
    hs_response_json(resp, 200, json_pack("{sssI}", "content_uri", uri, "unused_expires_at", (json_int_t)m.unused_expires_ts));
}

static void upload_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    int64_t now = hs_clock_wall_ms();
    if (hs_access_authenticate(srv->store, req, now, &who, resp) != 0) return;
    const char *server = hs_request_param(req, "serverName"), *id = hs_request_param(req, "mediaId");
    hs_store_media old;
    int rc = strcmp(server, srv->cfg.server_name) == 0 && hs_media_id_valid(id) ? hs_store_media_get(srv->store, id, &old)
                                                                                 : 1;
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the media index");
        return;
    }
    if (rc == 1 || (old.size < 0 && old.unused_expires_ts <= now)) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "no such reserved media ID");
        return;
    }
    if (strcmp(old.user_id, who.user_id) != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "this media ID was reserved by another user");
        return;
    }
    if (old.size >= 0) {
        hs_response_error(resp, 409, "M_CANNOT_OVERWRITE_MEDIA", "media already uploaded");
        return;
    }
    hs_store_media m = old;
    if (describe_upload(srv, req, resp, &m) != 0) return;
    /* Only the upload that wins the claim writes the file; a concurrent second PUT gets
     * 409 instead of replacing bytes the first one is about to record. */
    rc = hs_store_media_claim(srv->store, m.media_id, who.user_id);
    if (rc != 0) {
        if (rc == 1) hs_response_error(resp, 409, "M_CANNOT_OVERWRITE_MEDIA", "media already uploaded");
        else hs_response_error(resp, 500, "M_UNKNOWN", "cannot reserve the upload");
        return;
    }
    if (store_file(srv, req, resp, &m) != 0 || (rc = hs_store_media_complete(srv->store, &m)) != 0) {
        hs_store_media_unclaim(srv->store, m.media_id);
        if (resp->status == 0) hs_response_error(resp, 500, "M_UNKNOWN", "cannot record the upload");
        return;
    }
    hs_media_waits_kick(srv->media_waits); /* downloads waiting for it answer now */
    hs_response_json(resp, 200, json_object());
}

/* Answers 200 with the file `file_id` under `dir` (at most `size` bytes), its type and
 * the headers that keep it from running on our origin; 500 when it cannot be read. */
static void respond_file(const char *dir, const char *file_id, int64_t size, const char *type, const char *name,
                         hs_response *resp)
{
    int fd;
    uint64_t len = 0;
    int rc = hs_media_open(dir, file_id, size, &fd, &len);
    if (rc != 0) {
        hs_error("media", "file of %s is %s", file_id, rc == 1 ? "missing" : "unreadable");
        hs_response_error(resp, 500, "M_UNKNOWN", "the media file cannot be read");
        return;
    }
    char disp[4096];
    if (hs_media_disposition(type, name, disp, sizeof disp) != 0) hs_media_disposition(type, NULL, disp, sizeof disp);
    hs_response_file(resp, 200, fd, len);
    hs_response_header(resp, "Content-Type", type);
    hs_response_header(resp, "Content-Disposition", disp);
    hs_response_header(resp, "Content-Security-Policy", CSP);
    hs_response_header(resp, "X-Content-Security-Policy", "sandbox;");
    hs_response_header(resp, "Cross-Origin-Resource-Policy", "cross-origin");
    hs_response_header(resp, "X-Content-Type-Options", "nosniff");
}

/* Answers with local media `id` under the file name `name` (NULL: the uploaded name).
 * Returns false, writing nothing, when the media is reserved but not uploaded yet and
 * `may_wait`; otherwise answers (the file, 404, 504 M_NOT_YET_UPLOADED, 500) and
 * returns true. */
static bool try_serve(hs_server *srv, const char *id, const char *name, bool may_wait, hs_response *resp)
{
    hs_store_media m;
    int rc = hs_media_id_valid(id) ? hs_store_media_get(srv->store, id, &m) : 1;
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the media index");
        return true;
    }
    if (rc == 1 || (m.size < 0 && m.unused_expires_ts <= hs_clock_wall_ms())) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "unknown media");
        return true;
    }
    if (m.size < 0) {
        if (may_wait) return false;
        hs_response_error(resp, 504, "M_NOT_YET_UPLOADED", "the media has not been uploaded yet");
        return true;
    }
    respond_file(srv->cfg.media_path, id, m.size, m.content_type, name ? name : m.upload_name, resp);
    return true;
}

int hs_api_media_read_local(hs_server *srv, const char *id, hs_store_media *m, char **data, size_t *len)
{
    int rc = hs_media_id_valid(id) ? hs_store_media_get(srv->store, id, m) : 1;
    if (rc != 0) return rc;
    if (m->size < 0) return 1; /* reserved: nothing to give yet */
    rc = hs_media_read(srv->cfg.media_path, id, m->size, data, len);
    if (rc != 0) hs_error("media", "file of %s is %s", id, rc == 1 ? "missing" : "unreadable");
    return rc == 0 ? 0 : -1;
}

void hs_api_media_serve_local(hs_server *srv, const char *id, const char *name, hs_response *resp)
{
    try_serve(srv, id, name, false, resp);
}

/* Answers a download of mxc://origin/id whose fetch ended with rc (hs_media_fetches'
 * codes): from the cache, 404 or 502. */
static void answer_fetched(hs_server *srv, const char *origin, const char *id, const char *name, int rc,
                           hs_response *resp)
{
    hs_store_remote_media m;
    if (rc == 0 && hs_store_remote_media_get(srv->store, origin, id, &m) != 0) rc = -1;
    if (rc == 1) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "%s does not know this media", origin);
    } else if (rc != 0) {
        hs_response_error(resp, 502, "M_UNKNOWN", "cannot fetch the media from %s", origin);
    } else {
        char dir[HS_PATH_MAX + 16];
        hs_fed_media_remote_dir(srv, dir, sizeof dir);
        respond_file(dir, m.file_id, m.size, m.content_type, name ? name : m.upload_name, resp);
    }
}

/* A download waiting for the fetch of its file (hs_media_fetches' thread runs it),
 * parked like an upload wait (`w` first: one allocation). */
typedef struct fetch_wait {
    hs_media_waiter w;
    hs_server *srv;
    hs_media_fetch *f;
    char origin[256];
    char id[HS_MEDIA_ID_MAX + 1];
    char *name;                  /* NULL: the uploaded name */
} fetch_wait;

/* Answers if the fetch has finished, or the wait is over; false to keep waiting. */
static bool fetch_wait_try(fetch_wait *d, hs_response *resp)
{
    int rc;
    if (hs_media_fetch_done(d->srv->media_fetches, d->f, &rc)) {
        answer_fetched(d->srv, d->origin, d->id, d->name, rc, resp);
        return true;
    }
    if (hs_media_waits_now_ms() >= d->w.deadline_ms) {
        hs_response_error(resp, 504, "M_UNKNOWN", "the media is still being fetched from %s; try again", d->origin);
        return true;
    }
    return false;
}

/* Parks d; if the fetch finished meanwhile (its kick may have come before the park),
 * answers at once. Returns true when answered. */
static bool fetch_wait_park(fetch_wait *d, hs_response *resp)
{
    if (!hs_media_waits_park(d->srv->media_waits, &d->w)) {
        hs_response_error(resp, 503, "M_UNKNOWN", "the server is shutting down");
        return true;
    }
    int rc;
    if (!hs_media_fetch_done(d->srv->media_fetches, d->f, &rc)) return false;
    hs_media_waits_unpark(d->srv->media_waits, &d->w);
    return fetch_wait_try(d, resp);
}

/* deferral.answer: something finished or the deadline passed. */
static void fetch_wait_answer(void *state, hs_response *resp)
{
    fetch_wait *d = state;
    if (!fetch_wait_try(d, resp)) fetch_wait_park(d, resp);
}

/* deferral.release: the request ended. */
static void fetch_wait_release(void *state)
{
    fetch_wait *d = state;
    hs_media_waits_unpark(d->srv->media_waits, &d->w);
    hs_media_fetches_release(d->srv->media_fetches, d->f);
    free(d->name);
    free(d);
}

/* How long a download waits for another's fetch of the same file: that fetch asks at
 * most two endpoints, each bounded by federation.request_timeout_seconds. */
static int64_t fetch_wait_ms(const hs_server *srv)
{
    return 2 * (int64_t)srv->cfg.request_timeout_seconds * 1000 + 5000;
}

/* Waits for the fetch f (parked when the transport can, else on this worker) and
 * answers. Takes over the reference f. */
static void follow_fetch(hs_server *srv, const hs_request *req, hs_media_fetch *f, const char *origin,
                         const char *id, const char *name, hs_response *resp)
{
    int64_t deadline = hs_media_waits_now_ms() + fetch_wait_ms(srv);
    fetch_wait *d = req->wake ? calloc(1, sizeof *d) : NULL;
    if (!d || (name && !(d->name = strdup(name)))) {
        int rc;
        if (hs_media_fetch_wait(srv->media_fetches, f, deadline, &rc)) answer_fetched(srv, origin, id, name, rc, resp);
        else hs_response_error(resp, 504, "M_UNKNOWN", "the media is still being fetched from %s; try again", origin);
        hs_media_fetches_release(srv->media_fetches, f);
        free(d);
        return;
    }
    d->srv = srv;
    d->f = f;
    snprintf(d->origin, sizeof d->origin, "%s", origin);
    snprintf(d->id, sizeof d->id, "%s", id); /* valid, so at most HS_MEDIA_ID_MAX bytes */
    d->w.wake = req->wake;
    d->w.deadline_ms = deadline;
    if (fetch_wait_park(d, resp)) {
        fetch_wait_release(d);
        return;
    }
    resp->deferral = (hs_deferral){fetch_wait_answer, fetch_wait_release, d};
}

/* Serves media of another server from the cache, fetching it first on a miss.
 * allow_remote=false forbids the fetch, as the spec says. One fetch per file at a time,
 * run by hs_media_fetches' thread; every download of the file waits for it without
 * holding a worker (follow_fetch); a new fetch beyond media.max_concurrent_remote_fetches
 * answers 429 M_LIMIT_EXCEEDED at once. */
static void serve_remote(hs_server *srv, const hs_request *req, const char *origin, const char *id, const char *name,
                         hs_response *resp)
{
    hs_store_remote_media m;
    int rc = hs_media_id_valid(id) ? hs_store_remote_media_get(srv->store, origin, id, &m) : 1;
    if (rc < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the media index");
        return;
    }
    if (rc == 1) {
        const char *allow = hs_request_query(req, "allow_remote");
        if (!hs_media_id_valid(id) || (allow && strcmp(allow, "false") == 0)) {
            hs_response_error(resp, 404, "M_NOT_FOUND", "unknown media");
            return;
        }
        bool leader;
        hs_media_fetch *f = hs_media_fetches_join(srv->media_fetches, origin, id, &leader);
        if (!f) {
            hs_response_json(resp, 429, json_pack("{s:s, s:s, s:I}", "errcode", "M_LIMIT_EXCEEDED", "error",
                                                  "too many remote media fetches at once; retry later",
                                                  "retry_after_ms", (json_int_t)1000));
            hs_response_header(resp, "Retry-After", "1");
            return;
        }
        if (leader) hs_media_fetches_run(srv->media_fetches, f);
        follow_fetch(srv, req, f, origin, id, name, resp);
        return;
    }
    char dir[HS_PATH_MAX + 16];
    hs_fed_media_remote_dir(srv, dir, sizeof dir);
    respond_file(dir, m.file_id, m.size, m.content_type, name ? name : m.upload_name, resp);
}

/* A download parked until its media is uploaded (hs_media_wait). `w` comes first so the
 * waiter and the deferral state are one allocation. */
typedef struct download_wait {
    hs_media_waiter w;
    hs_server *srv;
    char id[HS_MEDIA_ID_MAX + 1];
    char *name;                  /* NULL: the uploaded name */
} download_wait;

/* deferral.answer: an upload completed or the deadline passed; serve, or park again. */
static void wait_answer(void *state, hs_response *resp)
{
    download_wait *d = state;
    bool may_wait = hs_media_waits_now_ms() < d->w.deadline_ms;
    if (try_serve(d->srv, d->id, d->name, may_wait, resp)) return;
    if (!hs_media_waits_park(d->srv->media_waits, &d->w)) try_serve(d->srv, d->id, d->name, false, resp);
}

/* deferral.release: the request ended. */
static void wait_release(void *state)
{
    download_wait *d = state;
    hs_media_waits_unpark(d->srv->media_waits, &d->w);
    free(d->name);
    free(d);
}

/* Serves local media with the file name `name` (NULL: the uploaded name). Media that is
 * reserved but not uploaded yet is waited for up to timeout_ms (default 20 s) where the
 * transport can park the request; elsewhere the answer is 504 at once. */
static void serve(hs_server *srv, const hs_request *req, hs_response *resp, const char *name)
{
    const char *server = hs_request_param(req, "serverName"), *id = hs_request_param(req, "mediaId");
    if (strcmp(server, srv->cfg.server_name) != 0) {
        serve_remote(srv, req, server, id, name, resp);
        return;
    }
    int64_t timeout = DEFAULT_WAIT_MS;
    const char *t = hs_request_query(req, "timeout_ms");
    if (t) {
        char *end;
        long long v = strtoll(t, &end, 10);
        if (end == t || *end || v < 0) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "timeout_ms must be a number of milliseconds");
            return;
        }
        timeout = v > MAX_WAIT_MS ? MAX_WAIT_MS : v;
    }
    bool may_wait = req->wake && timeout > 0;
    if (try_serve(srv, id, name, may_wait, resp)) return;
    download_wait *d = calloc(1, sizeof *d);
    if (!d || (name && !(d->name = strdup(name)))) {
        free(d);
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return;
    }
    d->srv = srv;
    snprintf(d->id, sizeof d->id, "%s", id); /* valid, so at most HS_MEDIA_ID_MAX bytes */
    d->w.wake = req->wake;
    d->w.deadline_ms = hs_media_waits_now_ms() + timeout;
    if (!hs_media_waits_park(srv->media_waits, &d->w)) {
        try_serve(srv, id, name, false, resp);
        wait_release(d);
        return;
    }
    resp->deferral = (hs_deferral){wait_answer, wait_release, d};
}

/* Thumbnails need width and height (positive integers) even though the original is
 * returned for now, so clients that send nonsense learn it today. */
static int thumbnail_params(const hs_request *req, hs_response *resp)
{
    static const char *const names[] = {"width", "height"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = hs_request_query(req, names[i]);
        if (!v) {
            hs_response_error(resp, 400, "M_MISSING_PARAM", "%s is required", names[i]);
            return -1;
        }
        char *end;
        long n = strtol(v, &end, 10);
        if (end == v || *end || n <= 0 || n > 100000) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "%s must be a positive integer", names[i]);
            return -1;
        }
    }
    return 0;
}

static void config_answer(hs_server *srv, hs_response *resp)
{
    hs_response_json(resp, 200, json_pack("{sI}", "m.upload.size", (json_int_t)srv->cfg.media_max_upload_bytes));
}

/* Legacy paths: served only while media.unauthenticated_download is on. */
static int legacy_open(hs_server *srv, hs_response *resp)
{
    if (srv->cfg.media_unauthenticated_download) return 0;
    hs_response_error(resp, 404, "M_NOT_FOUND", "use the authenticated /_matrix/client/v1/media endpoints");
    return -1;
}

static int authenticated(hs_server *srv, const hs_request *req, hs_response *resp)
{
    hs_access_identity who;
    return hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp);
}

static void download_legacy(const hs_request *req, hs_response *resp, void *ctx)
{
    if (legacy_open(ctx, resp) == 0) serve(ctx, req, resp, hs_request_param(req, "fileName"));
}

static void download_auth(const hs_request *req, hs_response *resp, void *ctx)
{
    if (authenticated(ctx, req, resp) == 0) serve(ctx, req, resp, hs_request_param(req, "fileName"));
}

static void thumbnail_legacy(const hs_request *req, hs_response *resp, void *ctx)
{
    if (legacy_open(ctx, resp) == 0 && thumbnail_params(req, resp) == 0) serve(ctx, req, resp, NULL);
}

static void thumbnail_auth(const hs_request *req, hs_response *resp, void *ctx)
{
    if (authenticated(ctx, req, resp) == 0 && thumbnail_params(req, resp) == 0) serve(ctx, req, resp, NULL);
}

static void config_legacy(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    config_answer(ctx, resp);
}

static void config_auth(const hs_request *req, hs_response *resp, void *ctx)
{
    if (authenticated(ctx, req, resp) == 0) config_answer(ctx, resp);
}

int hs_api_media_register(hs_server *srv)
{
    if (sodium_init() < 0) return -1; /* media IDs come from libsodium's generator */
    srv->media_waits = hs_media_waits_new();
    if (!srv->media_waits) return -1;
    srv->media_fetches = hs_media_fetches_new(srv->cfg.media_max_concurrent_remote_fetches);
    if (!srv->media_fetches || hs_media_fetches_start(srv->media_fetches, srv) != 0) return -1;
    static const hs_client_route legacy[] = {
        {"POST", "/upload", upload_post},
        {"PUT", "/upload/{serverName}/{mediaId}", upload_put},
        {"GET", "/download/{serverName}/{mediaId}", download_legacy},
        {"GET", "/download/{serverName}/{mediaId}/{fileName}", download_legacy},
        {"GET", "/thumbnail/{serverName}/{mediaId}", thumbnail_legacy},
        {"GET", "/config", config_legacy},
    };
    static const hs_client_route v1[] = {
        {"GET", "/download/{serverName}/{mediaId}", download_auth},
        {"GET", "/download/{serverName}/{mediaId}/{fileName}", download_auth},
        {"GET", "/thumbnail/{serverName}/{mediaId}", thumbnail_auth},
        {"GET", "/config", config_auth},
    };
    char pattern[256];
    static const char *const prefixes[] = {"/_matrix/media/v3", "/_matrix/media/r0"};
    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
            snprintf(pattern, sizeof pattern, "%s%s", prefixes[p], legacy[i].path);
            if (hs_router_add(srv->client_router, legacy[i].method, pattern, legacy[i].fn, srv) != 0) return -1;
        }
    for (size_t i = 0; i < sizeof v1 / sizeof v1[0]; i++) {
        snprintf(pattern, sizeof pattern, "/_matrix/client/v1/media%s", v1[i].path);
        if (hs_router_add(srv->client_router, v1[i].method, pattern, v1[i].fn, srv) != 0) return -1;
    }
    return hs_router_add(srv->client_router, "POST", "/_matrix/media/v1/create", create_post, srv);
}
