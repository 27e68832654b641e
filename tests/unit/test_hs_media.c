/* The media repository end to end: a real hs_server on an ephemeral loopback port and
 * libcurl requests, checking what a client sees - uploaded bytes come back identical
 * with their type, a safe Content-Disposition and the sandboxing CSP; the size limit is
 * 413 even where it is above the listener's JSON body limit; unknown, remote and
 * malformed IDs are 404; the authenticated paths need a token; reserved IDs (create +
 * PUT) follow the spec's owner/overwrite rules; files survive a restart. Also the pure
 * helpers of hs_media (IDs, disposition encoding). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_api_media.h"
#include "server-core/hs_media.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_media.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define JSON_BODY_LIMIT 2048
#define UPLOAD_LIMIT 8192

static pgt_hs hs;

static void upload_limit(hs_config *c)
{
    c->media_max_upload_bytes = UPLOAD_LIMIT;
}

static void start(void)
{
    hs.listener_max_body = JSON_BODY_LIMIT;
    pgt_hs_start(&hs, "example.test", upload_limit);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_media_api, .init = start, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------ */

static pgt_mx_login reg(const char *user)
{
    return pgt_mx_must_register(hs.base, user, "correct horse battery");
}

/* Where curl appends one stream (body or headers) of a pgt_http. */
typedef struct sink {
    char **data;
    size_t len, cap;
} sink;

/* Grows by doubling: ASan's realloc always copies, so growing by each chunk would make
 * a large download quadratic in the test. */
static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    sink *k = ud;
    size_t add = size * n;
    if (k->len + add + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->len + add + 1) cap *= 2;
        char *grown = realloc(*k->data, cap);
        cr_assert_not_null(grown);
        *k->data = grown;
        k->cap = cap;
    }
    memcpy(*k->data + k->len, p, add);
    k->len += add;
    (*k->data)[k->len] = '\0';
    return add;
}

/* One request with exactly the given Content-Type (`type` NULL: none at all), which
 * pgt_http_do cannot do (it labels every body as JSON). */
static pgt_http raw(const char *method, const char *token, const char *type, const void *body, size_t len,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static pgt_http raw(const char *method, const char *token, const char *type, const void *body, size_t len,
                    const char *fmt, ...)
{
    char url[2048], auth[512], ct[300];
    int o = snprintf(url, sizeof url, "%s", hs.base);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(url + o, sizeof url - (size_t)o, fmt, ap);
    va_end(ap);
    pgt_http r = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    snprintf(ct, sizeof ct, "Content-Type:%s%s", type ? " " : "", type ? type : ""); /* "Content-Type:" removes it */
    hl = curl_slist_append(hl, ct);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body || strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    sink body_sink = {&r.body, 0, 0}, header_sink = {&r.headers, 0, 0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body_sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &header_sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r.body_len = body_sink.len;
    if (!r.body) r.body = strdup("");
    if (!r.headers) r.headers = strdup("");
    return r;
}

static void expect_errcode(pgt_http *r, long status, const char *errcode)
{
    cr_assert_eq(r->status, status, "status %ld, want %ld: %s", r->status, status, r->body);
    json_t *j = json_loads(r->body, 0, NULL);
    cr_assert_not_null(j, "not JSON: %s", r->body);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), errcode, "%s", r->body);
    json_decref(j);
    pgt_http_free(r);
}

/* Uploads and returns the media ID (malloc'd) of the mxc:// URI answered. */
static char *upload(const pgt_mx_login *u, const char *type, const void *data, size_t len, const char *query)
{
    pgt_http r = raw("POST", u->token, type, data, len, "/_matrix/media/v3/upload%s", query ? query : "");
    cr_assert_eq(r.status, 200, "upload: %ld %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *uri = json_string_value(json_object_get(j, "content_uri"));
    cr_assert_not_null(uri, "%s", r.body);
    const char *prefix = "mxc://example.test/";
    cr_assert_eq(strncmp(uri, prefix, strlen(prefix)), 0, "%s", uri);
    char *id = strdup(uri + strlen(prefix));
    cr_assert(hs_media_id_valid(id), "%s", id);
    json_decref(j);
    pgt_http_free(&r);
    return id;
}

static void expect_header(const pgt_http *r, const char *name, const char *want)
{
    char *v = pgt_header(r, name);
    cr_assert_not_null(v, "no %s header in %s", name, r->headers);
    cr_assert_str_eq(v, want, "%s: [%s] in %s", name, v, r->headers);
    free(v);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)((i * 131u + seed) ^ (i >> 7)); /* includes NUL bytes */
}

/* Wall-clock ms one day and a minute from now: past every reservation made so far. */
static int64_t wall_ms_plus_day(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (24 * 60 + 1) * 60 * 1000LL;
}

/* ---- tests -------------------------------------------------------------------------- */

Test(hs_media_api, upload_then_download_is_byte_identical_with_type_and_disposition)
{
    pgt_mx_login a = reg("alice");
    uint8_t data[5000];
    fill(data, sizeof data, 7);
    char *id = upload(&a, "image/png", data, sizeof data, "?filename=cat%20pic.png");

    const char *paths[] = {"/_matrix/media/v3/download/example.test/%s", "/_matrix/client/v1/media/download/example.test/%s",
                           "/_matrix/media/r0/download/example.test/%s"};
    for (size_t i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, paths[i], id);
        pgt_http r = raw("GET", a.token, NULL, NULL, 0, "%s", path);
        cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.body);
        cr_assert_eq(r.body_len, sizeof data, "%s", path);
        cr_assert_eq(memcmp(r.body, data, sizeof data), 0, "%s: bytes differ", path);
        expect_header(&r, "Content-Type", "image/png");
        expect_header(&r, "Content-Disposition", "inline; filename*=utf-8''cat%20pic.png");
        char *csp = pgt_header(&r, "Content-Security-Policy");
        cr_assert(csp && strncmp(csp, "sandbox; default-src 'none'", 27) == 0, "CSP %s", csp ? csp : "(none)");
        free(csp);
        pgt_http_free(&r);
    }
    /* A file name in the path overrides the uploaded one. */
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s/other%%22name.png", id);
    cr_assert_eq(r.status, 200);
    expect_header(&r, "Content-Disposition", "inline; filename*=utf-8''other%22name.png");
    pgt_http_free(&r);
    free(id);
}

Test(hs_media_api, scriptable_types_are_attachments_and_missing_type_is_octet_stream)
{
    pgt_mx_login a = reg("alice");
    const char *html = "<script>alert(1)</script>";
    char *id = upload(&a, "text/html", html, strlen(html), NULL);
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s", id);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, html);
    expect_header(&r, "Content-Type", "text/html");
    expect_header(&r, "Content-Disposition", "attachment");
    pgt_http_free(&r);
    free(id);

    id = upload(&a, NULL, "abc", 3, NULL);
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s", id);
    cr_assert_eq(r.status, 200);
    expect_header(&r, "Content-Type", "application/octet-stream");
    expect_header(&r, "Content-Disposition", "attachment");
    pgt_http_free(&r);
    free(id);

    r = raw("POST", a.token, "no-slash", "abc", 3, "/_matrix/media/v3/upload");
    expect_errcode(&r, 400, "M_INVALID_PARAM");
}

Test(hs_media_api, upload_limit_is_413_and_may_exceed_the_json_body_limit)
{
    pgt_mx_login a = reg("alice");
    static uint8_t big[UPLOAD_LIMIT + 1];
    fill(big, sizeof big, 3);
    /* Exactly the limit is fine, although it is four times the JSON body limit. */
    char *id = upload(&a, "application/pdf", big, UPLOAD_LIMIT, NULL);
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s", id);
    cr_assert_eq(r.body_len, UPLOAD_LIMIT);
    cr_assert_eq(memcmp(r.body, big, UPLOAD_LIMIT), 0);
    pgt_http_free(&r);
    free(id);
    r = raw("POST", a.token, "application/pdf", big, sizeof big, "/_matrix/media/v3/upload");
    expect_errcode(&r, 413, "M_TOO_LARGE");
    /* JSON endpoints keep their own, smaller limit. */
    char json[JSON_BODY_LIMIT + 200];
    memset(json, ' ', sizeof json);
    json[0] = '{';
    json[sizeof json - 1] = '}';
    r = raw("POST", a.token, "application/json", json, sizeof json, "/_matrix/client/v3/createRoom");
    expect_errcode(&r, 413, "M_TOO_LARGE");

    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/config");
    cr_assert_eq(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(j, "m.upload.size")), UPLOAD_LIMIT, "%s", r.body);
    json_decref(j);
    pgt_http_free(&r);
}

Test(hs_media_api, unknown_remote_and_malformed_media_are_404)
{
    pgt_mx_login a = reg("alice");
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/NoSuchMediaIdAtAll");
    expect_errcode(&r, 404, "M_NOT_FOUND");
    r = raw("GET", a.token, NULL, NULL, 0, "/_matrix/client/v1/media/download/example.test/NoSuchMediaIdAtAll");
    expect_errcode(&r, 404, "M_NOT_FOUND");
    char *id = upload(&a, "text/plain", "hi", 2, NULL);
    /* Another server's media is fetched over federation unless the client forbids it
     * (fetching is covered by the integration test fed_media). */
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/other.test/%s?allow_remote=false", id);
    expect_errcode(&r, 404, "M_NOT_FOUND");
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/other.test/%s", id);
    expect_errcode(&r, 502, "M_UNKNOWN"); /* no federation transport in this test server */
    free(id);
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/..%%2F..%%2Fhs.db");
    expect_errcode(&r, 404, "M_NOT_FOUND");
}

Test(hs_media_api, authenticated_paths_and_upload_need_a_token)
{
    pgt_mx_login a = reg("alice");
    char *id = upload(&a, "text/plain", "secret", 6, NULL);
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/client/v1/media/download/example.test/%s", id);
    expect_errcode(&r, 401, "M_MISSING_TOKEN");
    r = raw("GET", "not-a-token", NULL, NULL, 0, "/_matrix/client/v1/media/download/example.test/%s", id);
    expect_errcode(&r, 401, "M_UNKNOWN_TOKEN");
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/client/v1/media/thumbnail/example.test/%s?width=32&height=32", id);
    expect_errcode(&r, 401, "M_MISSING_TOKEN");
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/client/v1/media/config");
    expect_errcode(&r, 401, "M_MISSING_TOKEN");
    r = raw("POST", NULL, "text/plain", "x", 1, "/_matrix/media/v3/upload");
    expect_errcode(&r, 401, "M_MISSING_TOKEN");
    r = raw("GET", a.token, NULL, NULL, 0, "/_matrix/client/v1/media/config");
    cr_assert_eq(r.status, 200, "%s", r.body);
    pgt_http_free(&r);
    free(id);
}

Test(hs_media_api, legacy_downloads_can_be_turned_off)
{
    pgt_mx_login a = reg("alice");
    char *id = upload(&a, "text/plain", "hello", 5, NULL);
    hs_server_close(&hs.srv);
    hs.cfg.media_unauthenticated_download = false;
    pgt_hs_reopen(&hs);
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s", id);
    expect_errcode(&r, 404, "M_NOT_FOUND");
    r = raw("GET", a.token, NULL, NULL, 0, "/_matrix/client/v1/media/download/example.test/%s", id);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "hello");
    pgt_http_free(&r);
    free(id);
}

Test(hs_media_api, thumbnail_needs_a_size_and_returns_the_original)
{
    pgt_mx_login a = reg("alice");
    uint8_t data[300];
    fill(data, sizeof data, 1);
    char *id = upload(&a, "image/jpeg", data, sizeof data, NULL);
    pgt_http r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/thumbnail/example.test/%s?width=64", id);
    expect_errcode(&r, 400, "M_MISSING_PARAM");
    r = raw("GET", a.token, NULL, NULL, 0, "/_matrix/client/v1/media/thumbnail/example.test/%s?width=64&height=-1", id);
    expect_errcode(&r, 400, "M_INVALID_PARAM");
    r = raw("GET", a.token, NULL, NULL, 0, "/_matrix/client/v1/media/thumbnail/example.test/%s?width=64&height=64", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(r.body_len, sizeof data);
    cr_assert_eq(memcmp(r.body, data, sizeof data), 0);
    expect_header(&r, "Content-Type", "image/jpeg");
    pgt_http_free(&r);
    free(id);
}

Test(hs_media_api, reserved_ids_take_one_upload_from_their_owner)
{
    pgt_mx_login a = reg("alice"), b = reg("bob");
    pgt_http r = raw("POST", a.token, NULL, NULL, 0, "/_matrix/media/v1/create");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    const char *uri = json_string_value(json_object_get(j, "content_uri"));
    cr_assert(uri && strncmp(uri, "mxc://example.test/", 19) == 0, "%s", r.body);
    cr_assert_gt(json_integer_value(json_object_get(j, "unused_expires_at")), 0);
    char id[128];
    snprintf(id, sizeof id, "%s", uri + 19);
    json_decref(j);
    pgt_http_free(&r);

    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s?timeout_ms=0", id);
    expect_errcode(&r, 504, "M_NOT_YET_UPLOADED");
    r = raw("PUT", b.token, "text/plain", "bob's", 5, "/_matrix/media/v3/upload/example.test/%s", id);
    expect_errcode(&r, 403, "M_FORBIDDEN");
    /* While one upload holds the claim, another PUT cannot write the file. */
    cr_assert_eq(hs_store_media_claim(hs.srv.store, id, a.user_id), 0);
    r = raw("PUT", a.token, "text/plain", "racing", 6, "/_matrix/media/v3/upload/example.test/%s", id);
    expect_errcode(&r, 409, "M_CANNOT_OVERWRITE_MEDIA");
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s?timeout_ms=0", id);
    expect_errcode(&r, 504, "M_NOT_YET_UPLOADED");
    cr_assert_eq(hs_store_media_unclaim(hs.srv.store, id), 0);
    r = raw("PUT", a.token, "text/plain", "alice's", 7, "/_matrix/media/v3/upload/example.test/%s?filename=a.txt", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    pgt_http_free(&r);
    r = raw("PUT", a.token, "text/plain", "again", 5, "/_matrix/media/v3/upload/example.test/%s", id);
    expect_errcode(&r, 409, "M_CANNOT_OVERWRITE_MEDIA");
    r = raw("PUT", a.token, "text/plain", "x", 1, "/_matrix/media/v3/upload/example.test/NeverReservedIdHere");
    expect_errcode(&r, 404, "M_NOT_FOUND");
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s", id);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "alice's");
    expect_header(&r, "Content-Disposition", "inline; filename*=utf-8''a.txt");
    pgt_http_free(&r);

    /* A user holds at most HS_MEDIA_MAX_PENDING open reservations. */
    for (int i = 0; i < HS_MEDIA_MAX_PENDING; i++) {
        r = raw("POST", b.token, NULL, NULL, 0, "/_matrix/media/v1/create");
        cr_assert_eq(r.status, 200, "%s", r.body);
        pgt_http_free(&r);
    }
    r = raw("POST", b.token, NULL, NULL, 0, "/_matrix/media/v1/create");
    expect_errcode(&r, 429, "M_LIMIT_EXCEEDED");
    /* A day later the unused reservations have lapsed and are forgotten. */
    cr_assert_eq(hs_store_media_forget_expired(hs.srv.store, wall_ms_plus_day()), HS_MEDIA_MAX_PENDING);
    r = raw("POST", b.token, NULL, NULL, 0, "/_matrix/media/v1/create");
    cr_assert_eq(r.status, 200, "%s", r.body);
    pgt_http_free(&r);
}

/* A download run on its own thread, so the test can upload while it waits. */
typedef struct bg_get {
    pthread_t thread;
    char path[256];
    pgt_http r;
    long ms;
} bg_get;

static void *bg_run(void *arg)
{
    bg_get *g = arg;
    long t0 = pgt_now_ms();
    g->r = raw("GET", NULL, NULL, NULL, 0, "%s", g->path);
    g->ms = pgt_now_ms() - t0;
    return NULL;
}

static void bg_start(bg_get *g, const char *id, long timeout_ms)
{
    snprintf(g->path, sizeof g->path, "/_matrix/media/v3/download/example.test/%s?timeout_ms=%ld", id, timeout_ms);
    cr_assert_eq(pthread_create(&g->thread, NULL, bg_run, g), 0);
}

static char *reserve(const pgt_mx_login *u)
{
    pgt_http r = raw("POST", u->token, NULL, NULL, 0, "/_matrix/media/v1/create");
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    char *id = strdup(json_string_value(json_object_get(j, "content_uri")) + 19);
    json_decref(j);
    pgt_http_free(&r);
    return id;
}

Test(hs_media_api, a_download_waits_for_the_upload_of_a_reserved_id)
{
    pgt_mx_login a = reg("alice");
    char *id = reserve(&a);
    bg_get g;
    bg_start(&g, id, 10000);
    usleep(300 * 1000);
    pgt_http r = raw("PUT", a.token, "text/plain", "worth the wait", 14, "/_matrix/media/v3/upload/example.test/%s", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    pgt_http_free(&r);
    pthread_join(g.thread, NULL);
    cr_assert_eq(g.r.status, 200, "%s", g.r.body);
    cr_assert_str_eq(g.r.body, "worth the wait");
    cr_assert_geq(g.ms, 250, "it waited for the upload (%ld ms)", g.ms);
    cr_assert_lt(g.ms, 5000, "it answered when the upload completed (%ld ms)", g.ms);
    pgt_http_free(&g.r);
    free(id);

    /* Without an upload the wait ends at timeout_ms with 504. */
    id = reserve(&a);
    bg_start(&g, id, 400);
    pthread_join(g.thread, NULL);
    cr_assert_eq(g.r.status, 504, "%s", g.r.body);
    cr_assert_geq(g.ms, 350, "%ld ms", g.ms);
    cr_assert_lt(g.ms, 5000, "%ld ms", g.ms);
    pgt_http_free(&g.r);
    r = raw("GET", NULL, NULL, NULL, 0, "/_matrix/media/v3/download/example.test/%s?timeout_ms=soon", id);
    expect_errcode(&r, 400, "M_INVALID_PARAM");

    /* Shutting down answers a waiting download at once instead of after its timeout. */
    bg_start(&g, id, 60000);
    usleep(300 * 1000);
    long t0 = pgt_now_ms();
    hs_server_close(&hs.srv);
    long close_ms = pgt_now_ms() - t0;
    pthread_join(g.thread, NULL);
    cr_assert_lt(close_ms, 3000, "close took %ld ms", close_ms);
    cr_assert_eq(g.r.status, 504, "%ld %s", g.r.status, g.r.body);
    pgt_http_free(&g.r);
    free(id);
    pgt_hs_reopen(&hs);
}

Test(hs_media_api, files_survive_a_restart)
{
    pgt_mx_login a = reg("alice");
    uint8_t data[4096];
    fill(data, sizeof data, 99);
    char *id = upload(&a, "audio/ogg", data, sizeof data, "?filename=song.ogg");
    hs_server_close(&hs.srv);
    pgt_hs_reopen(&hs);
    pgt_http r = raw("GET", a.token, NULL, NULL, 0, "/_matrix/client/v1/media/download/example.test/%s", id);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(r.body_len, sizeof data);
    cr_assert_eq(memcmp(r.body, data, sizeof data), 0);
    expect_header(&r, "Content-Type", "audio/ogg");
    expect_header(&r, "Content-Disposition", "inline; filename*=utf-8''song.ogg");
    pgt_http_free(&r);
    free(id);
}

/* ---- hs_media helpers --------------------------------------------------------------- */

Test(hs_media, ids_are_random_letters_and_paths_are_checked)
{
    char a[HS_MEDIA_ID_LEN + 1], b[HS_MEDIA_ID_LEN + 1];
    hs_media_new_id(a);
    hs_media_new_id(b);
    cr_assert_eq(strlen(a), HS_MEDIA_ID_LEN);
    cr_assert_str_neq(a, b);
    cr_assert(hs_media_id_valid(a));
    cr_assert_not(hs_media_id_valid(".."));
    cr_assert_not(hs_media_id_valid("ab/cd"));
    cr_assert_not(hs_media_id_valid("abc.def"));
    cr_assert_not(hs_media_id_valid(""));
    char longid[300];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cr_assert_not(hs_media_id_valid(longid));
    longid[HS_MEDIA_ID_MAX] = '\0';
    cr_assert(hs_media_id_valid(longid));
}

Test(hs_media, disposition_encodes_names_and_picks_inline_only_for_safe_types)
{
    char out[256];
    cr_assert_eq(hs_media_disposition("IMAGE/PNG; x=y", "a b\";\r\n.png", out, sizeof out), 0);
    cr_assert_str_eq(out, "inline; filename*=utf-8''a%20b%22%3B%0D%0A.png");
    cr_assert_eq(hs_media_disposition("image/svg+xml", "\xc3\xa9.svg", out, sizeof out), 0);
    cr_assert_str_eq(out, "attachment; filename*=utf-8''%C3%A9.svg");
    cr_assert_eq(hs_media_disposition("text/plain", NULL, out, sizeof out), 0);
    cr_assert_str_eq(out, "inline");
    char small[20];
    cr_assert_eq(hs_media_disposition("text/plain", "a-very-long-file-name.txt", small, sizeof small), -1);
    cr_assert(hs_media_type_valid("application/octet-stream"));
    cr_assert(hs_media_type_valid("text/plain; charset=utf-8"));
    cr_assert_not(hs_media_type_valid("text"));
    cr_assert_not(hs_media_type_valid("/plain"));
    cr_assert_not(hs_media_type_valid("text/"));
    cr_assert_not(hs_media_type_valid("text/plain\r\nX-Evil: 1"));
}

/* ---- large files are streamed ---------------------------------------------------- */

#define BIG_LIMIT (64 * 1024 * 1024)
#define BIG_FILE (24 * 1024 * 1024 + 17)

static void big_limit(hs_config *c)
{
    c->media_max_upload_bytes = BIG_LIMIT;
}

static void big_start(void)
{
    pgt_hs_start(&hs, "example.test", big_limit);
}

TestSuite(hs_media_stream, .init = big_start, .fini = stop, .timeout = 120);

/* A download of a 24 MiB file comes back byte-exact with its Content-Length, and the
 * handler answers with the open file rather than a copy of it in memory: the response
 * the router builds has no body buffer, only the descriptor and the file's size, which
 * hs_httpd hands to libmicrohttpd to send as it goes. */
Test(hs_media_stream, a_large_download_is_served_from_the_file)
{
    pgt_mx_login u = reg("alice");
    uint8_t *data = malloc(BIG_FILE);
    cr_assert_not_null(data);
    fill(data, BIG_FILE, 6);
    char *id = upload(&u, "application/octet-stream", data, BIG_FILE, NULL);

    pgt_http r = raw("GET", u.token, NULL, NULL, 0, "/_matrix/client/v1/media/download/example.test/%s", id);
    cr_assert_eq(r.status, 200, "download: %ld", r.status);
    cr_assert_eq(r.body_len, (size_t)BIG_FILE);
    cr_assert(memcmp(r.body, data, BIG_FILE) == 0, "the download differs from the upload");
    char want[32];
    snprintf(want, sizeof want, "%d", BIG_FILE);
    expect_header(&r, "Content-Length", want);
    expect_header(&r, "Content-Type", "application/octet-stream");
    pgt_http_free(&r);

    char target[256], auth[512];
    snprintf(target, sizeof target, "/_matrix/client/v1/media/download/example.test/%s", id);
    snprintf(auth, sizeof auth, "Bearer %s", u.token);
    hs_kv headers[1] = {{"Authorization", auth}};
    hs_request req = {.method = "GET", .headers = headers, .n_headers = 1, .remote_addr = "127.0.0.1"};
    hs_response resp = {0};
    cr_assert_eq(hs_request_parse_target(&req, target), 0);
    hs_router_dispatch(hs.srv.client_router, &req, &resp);
    hs_request_clear(&req);
    cr_assert_eq(resp.status, 200);
    cr_assert_null(resp.body, "the handler read the file into memory");
    cr_assert(resp.has_body_file, "the response does not carry the file");
    cr_assert_eq(resp.body_file_len, (uint64_t)BIG_FILE);
    hs_response_clear(&resp);
    free(id);
    free(data);
}
