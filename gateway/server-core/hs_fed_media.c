/* hs_fed_media: see hs_fed_media.h. The multipart answer is built in memory (files are
 * bounded by media.max_upload_bytes) with a random boundary checked against the file's
 * bytes, so no file can end its own part early. Fetched files get a fresh local file ID
 * under <media.path>/remote and are written (hs_media: atomic) before their row, so a
 * cached row always has its file. */
#include "server-core/hs_fed_media.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server-core/hs_api_media.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_log.h"
#include "server-core/hs_media.h"
#include "server-core/hs_multipart.h"
#include "server-core/hs_server.h"
#include "server-core/hs_clock.h"

#define DEFAULT_TYPE "application/octet-stream"

/* The multipart/mixed answer of local media `id` (download and thumbnail alike). */
static void answer_multipart(hs_server *srv, const char *id, hs_response *resp)
{
    hs_store_media m;
    char *data = NULL;
    size_t len = 0;
    int rc = hs_api_media_read_local(srv, id, &m, &data, &len);
    if (rc != 0) {
        if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "unknown media");
        else hs_response_error(resp, 500, "M_UNKNOWN", "the media cannot be read");
        return;
    }
    char boundary[33];
    do {
        unsigned char raw[16];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(boundary, sizeof boundary, raw, sizeof raw);
    } while (memmem(data, len, boundary, 32));
    char disp[4096];
    if (hs_media_disposition(m.content_type, m.upload_name, disp, sizeof disp) != 0)
        hs_media_disposition(m.content_type, NULL, disp, sizeof disp);
    char head[8192];
    int hl = snprintf(head, sizeof head,
                      "--%s\r\nContent-Type: application/json\r\n\r\n{}\r\n"
                      "--%s\r\nContent-Type: %s\r\nContent-Disposition: %s\r\n\r\n",
                      boundary, boundary, m.content_type, disp);
    char tail[64];
    int tl = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    char *body = hl > 0 && (size_t)hl < sizeof head ? malloc((size_t)hl + len + (size_t)tl) : NULL;
    if (!body) {
        free(data);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot build the answer");
        return;
    }
    memcpy(body, head, (size_t)hl);
    memcpy(body + hl, data, len);
    memcpy(body + hl + len, tail, (size_t)tl);
    free(data);
    char ct[96];
    snprintf(ct, sizeof ct, "multipart/mixed; boundary=%s", boundary);
    resp->status = 200;
    resp->body = body;
    resp->body_len = (size_t)hl + len + (size_t)tl;
    hs_response_header(resp, "Content-Type", ct);
}

static void fed_download(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    (void)origin;
    answer_multipart(srv, hs_request_param(req, "mediaId"), resp);
}

/* Legacy unauthenticated download: only our own media. */
static void legacy_download(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    if (strcmp(hs_request_param(req, "serverName"), srv->cfg.server_name) != 0) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "only media of %s is served here", srv->cfg.server_name);
        return;
    }
    hs_api_media_serve_local(srv, hs_request_param(req, "mediaId"), hs_request_param(req, "fileName"), resp);
}

int hs_fed_media_register(hs_server *srv)
{
    if (sodium_init() < 0) return -1;
    if (hs_fed_route(srv, "GET", "/_matrix/federation/v1/media/download/{mediaId}", fed_download) != 0 ||
        hs_fed_route(srv, "GET", "/_matrix/federation/v1/media/thumbnail/{mediaId}", fed_download) != 0)
        return -1;
    static const char *const legacy[] = {"/_matrix/media/v3/download/{serverName}/{mediaId}",
                                         "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}",
                                         "/_matrix/media/r0/download/{serverName}/{mediaId}",
                                         "/_matrix/media/r0/download/{serverName}/{mediaId}/{fileName}"};
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++)
        if (hs_router_add(srv->federation_router, "GET", legacy[i], legacy_download, srv) != 0) return -1;
    return 0;
}

void hs_fed_media_remote_dir(hs_server *srv, char *out, size_t cap)
{
    snprintf(out, cap, "%s/remote", srv->cfg.media_path);
}

/* A server name as it may appear in a request path unescaped: host (DNS name, IPv4 or
 * [IPv6]) and optional port, at most 255 bytes. */
static bool server_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255) return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]", s[i])) return false;
    return true;
}

static bool unrecognized(const hs_fed_reply *r)
{
    if (r->status == 404) return true;
    if (r->status != 400) return false;
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *code = json_string_value(json_object_get(j, "errcode"));
    bool yes = code && strcmp(code, "M_UNRECOGNIZED") == 0;
    json_decref(j);
    return yes;
}

/* Stores fetched bytes and their row; a concurrent fetch that recorded first wins. */
static int store_fetched(hs_server *srv, hs_store_remote_media *m, const char *data, size_t len, hs_err *err)
{
    char dir[HS_PATH_MAX + 16], why[512];
    hs_fed_media_remote_dir(srv, dir, sizeof dir);
    char file_id[HS_MEDIA_ID_LEN + 1];
    hs_media_new_id(file_id);
    snprintf(m->file_id, sizeof m->file_id, "%s", file_id);
    m->size = (int64_t)len;
    m->created_ts = hs_clock_wall_ms();
    /* hs_media creates <dir> and below; media.path itself appears with the first
     * upload, which this server may not have had yet. */
    if (mkdir(srv->cfg.media_path, 0750) != 0 && errno != EEXIST)
        return hs_err_set(err, "cannot create %s: %s", srv->cfg.media_path, strerror(errno));
    if (hs_media_write(dir, m->file_id, data, len, m->sha256, why, sizeof why) != 0)
        return hs_err_set(err, "cannot store the file: %s", why);
    int rc = hs_store_remote_media_insert(srv->store, m);
    if (rc == 1) rc = hs_store_remote_media_get(srv->store, m->origin, m->media_id, m);
    if (rc != 0) return hs_err_set(err, "cannot record the file");
    /* Local users choose what gets fetched, so the cache is bounded: the oldest files go
     * (a later download fetches them again), never the one just asked for. Rows go
     * first, then files, so no row ever names a missing file. */
    char **gone = NULL;
    size_t n_gone = 0;
    if (hs_store_remote_media_evict(srv->store, srv->cfg.media_max_remote_cache_bytes, m->origin, m->media_id, &gone,
                                    &n_gone) != 0)
        hs_warn("media", "cannot trim the remote media cache");
    for (size_t i = 0; i < n_gone; i++)
        if (hs_media_remove(dir, gone[i]) != 0) hs_warn("media", "cannot remove cached file %s", gone[i]);
    hs_store_media_free_ids(gone, n_gone);
    return 0;
}

static void set_type(hs_store_remote_media *m, const char *type)
{
    snprintf(m->content_type, sizeof m->content_type, "%s", type && hs_media_type_valid(type) ? type : DEFAULT_TYPE);
}

int hs_fed_media_fetch_request(const char *origin, const char *media_id, int step, char *target, size_t cap,
                               hs_fed_out *out, hs_err *err)
{
    if (!server_name_ok(origin) || !hs_media_id_valid(media_id)) return hs_err_set(err, "invalid mxc:// URI");
    if (strlen(media_id) >= sizeof ((hs_store_remote_media *)0)->media_id) return hs_err_set(err, "media ID too long");
    if (step == 0) {
        snprintf(target, cap, "/_matrix/federation/v1/media/download/%s", media_id);
        *out = (hs_fed_out){.destination = origin, .method = "GET", .target = target, .sign = true};
    } else {
        /* Servers before v1.11 only have the unauthenticated client path. */
        snprintf(target, cap, "/_matrix/media/v3/download/%s/%s?allow_remote=false", origin, media_id);
        *out = (hs_fed_out){.destination = origin, .method = "GET", .target = target, .sign = false};
    }
    return 0;
}

int hs_fed_media_fetch_answer(hs_server *srv, const char *origin, const char *media_id, int step,
                              const hs_fed_reply *r, hs_store_remote_media *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->origin, sizeof out->origin, "%s", origin);
    snprintf(out->media_id, sizeof out->media_id, "%s", media_id);
    size_t max = (size_t)srv->cfg.media_max_upload_bytes;
    const char *what = step == 0 ? "/_matrix/federation/v1/media/download" : "/_matrix/media/v3/download";
    if (step == 0) {
        if (r->status == 200) {
            hs_multipart_media mp;
            char why[256];
            int rc = hs_multipart_parse(r->content_type, r->body, r->body_len, max, &mp, why, sizeof why);
            if (rc == 0 && mp.location[0]) rc = -1, snprintf(why, sizeof why, "the file is a redirect (not followed)");
            if (rc != 0) return hs_err_set(err, "%s from %s: %s", what, origin, why);
            set_type(out, mp.content_type[0] ? mp.content_type : NULL);
            if (hs_multipart_disposition_name(mp.disposition, out->upload_name, sizeof out->upload_name) != 0)
                out->upload_name[0] = '\0';
            return store_fetched(srv, out, mp.data, mp.data_len, err);
        }
        if (unrecognized(r)) return 2;
        return hs_err_set(err, "%s from %s: HTTP %ld", what, origin, r->status);
    }
    if (r->status == 200 && r->body_len <= max) {
        set_type(out, r->content_type[0] ? r->content_type : NULL);
        return store_fetched(srv, out, r->body, r->body_len, err);
    }
    if (r->status == 404) return 1;
    if (r->status == 200) return hs_err_set(err, "%s from %s: %zu bytes; the limit is %zu", what, origin, r->body_len, max);
    return hs_err_set(err, "%s from %s: HTTP %ld", what, origin, r->status);
}
