/* hs_fed_media's outbound fetch as downloads run it (hs_media_fetches' thread on an
 * hs_fed_batch) through server-core's transport seam, against a scripted remote server: the authenticated endpoint's multipart answer is stored with
 * its type and file name, and a client download through the HTTP API fetches once and
 * then serves the cache; a 404 or 400 M_UNRECOGNIZED falls back to the unsigned legacy
 * download with allow_remote=false; 404 on both is "not found"; a file over
 * media.max_upload_bytes, a redirect part, a malformed answer and a 500 are errors and
 * leave nothing cached. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_clock.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_media.h"
#include "server-core/hs_media.h"
#include "server-core/hs_media_fetches.h"
#include "server-core/hs_server.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

enum mode { MULTIPART, AUTH_404, AUTH_400, NOWHERE, TOO_BIG, REDIRECT, MALFORMED, BROKEN, SIZED };

static enum mode mode;
static atomic_int auth_calls, legacy_calls;

#define FILE_BYTES "pixels\r\n--\x00\x01"
#define LIMIT 1000
#define SIZED_BYTES 400
#define CACHE_LIMIT (1024 * 1024 + 100)

static void reply_with(hs_fed_reply *reply, long status, const char *type, const char *body, size_t len)
{
    reply->status = status;
    reply->body = malloc(len + 1);
    memcpy(reply->body, body, len);
    reply->body[len] = '\0';
    reply->body_len = len;
    snprintf(reply->content_type, sizeof reply->content_type, "%s", type);
}

static void multipart(hs_fed_reply *reply, const char *headers, const char *data, size_t len)
{
    char head[512];
    int hl = snprintf(head, sizeof head, "--BB\r\nContent-Type: application/json\r\n\r\n{}\r\n--BB\r\n%s\r\n\r\n", headers);
    size_t total = (size_t)hl + len + 10;
    char *b = malloc(total);
    memcpy(b, head, (size_t)hl);
    memcpy(b + hl, data, len);
    memcpy(b + hl + len, "\r\n--BB--\r\n", 10);
    reply_with(reply, 200, "multipart/mixed; boundary=BB", b, total);
    free(b);
}

static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    (void)err;
    memset(reply, 0, sizeof *reply);
    cr_assert_str_eq(req->destination, "remote.test");
    if (strncmp(req->target, "/_matrix/federation/v1/media/download/", 38) == 0) {
        atomic_fetch_add(&auth_calls, 1);
        cr_assert(req->sign, "the authenticated endpoint must be signed");
        static const char big[LIMIT + 1] = {0};
        switch (mode) {
        case MULTIPART:
            multipart(reply, "Content-Type: image/png\r\nContent-Disposition: inline; filename*=utf-8''a%20b.png",
                      FILE_BYTES, sizeof FILE_BYTES - 1);
            break;
        case TOO_BIG: multipart(reply, "Content-Type: image/png", big, sizeof big); break;
        case SIZED: multipart(reply, "Content-Type: application/octet-stream", big, SIZED_BYTES); break;
        case REDIRECT: multipart(reply, "Location: https://cdn.remote.test/x", "", 0); break;
        case MALFORMED: reply_with(reply, 200, "multipart/mixed; boundary=BB", "--BB\r\n\r\n{}", 10); break;
        case AUTH_400: reply_with(reply, 400, "application/json", "{\"errcode\":\"M_UNRECOGNIZED\"}", 28); break;
        case BROKEN: reply_with(reply, 500, "application/json", "{}", 2); break;
        default: reply_with(reply, 404, "application/json", "{\"errcode\":\"M_UNRECOGNIZED\"}", 28); break;
        }
        return 0;
    }
    atomic_fetch_add(&legacy_calls, 1);
    cr_assert(!req->sign, "the legacy download is unauthenticated");
    cr_assert(strstr(req->target, "/_matrix/media/v3/download/remote.test/") == req->target &&
                  strstr(req->target, "?allow_remote=false"),
              "legacy target %s", req->target);
    if (mode == NOWHERE) reply_with(reply, 404, "application/json", "{\"errcode\":\"M_NOT_FOUND\"}", 25);
    else reply_with(reply, 200, "text/plain", "legacy bytes", 12);
    return 0;
}

static pgt_hs h;

static void tweak(hs_config *cfg)
{
    cfg->media_max_upload_bytes = LIMIT;
}

/* A cache that holds a little more than 1 MiB (the smallest the configuration allows). */
static void tweak_small_cache(hs_config *cfg)
{
    tweak(cfg);
    cfg->media_max_remote_cache_bytes = CACHE_LIMIT;
}

static void start(void)
{
    pgt_hs_start(&h, "self.test", tweak);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&h.srv, &t);
    atomic_store(&auth_calls, 0);
    atomic_store(&legacy_calls, 0);
}

static void stop(void)
{
    pgt_hs_stop(&h);
}

TestSuite(hs_fed_media, .init = start, .fini = stop, .timeout = 60);

/* The cached file of a row, read back from disk. */
static void expect_cached(const hs_store_remote_media *m, const char *data, size_t len)
{
    char dir[4200];
    hs_fed_media_remote_dir(&h.srv, dir, sizeof dir);
    char *got = NULL;
    size_t got_len = 0;
    cr_assert_eq(hs_media_read(dir, m->file_id, 1 << 20, &got, &got_len), 0);
    cr_assert_eq(got_len, len);
    cr_assert_eq(memcmp(got, data, len), 0);
    cr_assert_eq(m->size, (int64_t)len);
    free(got);
}

/* Fetches mxc://origin/id as a download's leader does (hs_media_fetches' thread runs
 * it) and waits for the outcome; on success *m is the cached row. Returns the
 * outcome: 0 fetched, 1 not found, -1 failed. */
static int fetch(const char *origin, const char *id, hs_store_remote_media *m)
{
    hs_media_fetches *fs = h.srv.media_fetches;
    bool leader;
    hs_media_fetch *f = hs_media_fetches_join(fs, origin, id, &leader);
    cr_assert(f && leader);
    hs_media_fetches_run(fs, f);
    int rc;
    cr_assert(hs_media_fetch_wait(fs, f, hs_clock_mono_ms() + 20000, &rc), "the fetch of %s never ended", id);
    hs_media_fetches_release(fs, f);
    if (rc == 0) cr_assert_eq(hs_store_remote_media_get(h.srv.store, origin, id, m), 0);
    return rc;
}

/* The reason step 0 gives for the current mode's answer, as the fetch thread logs it. */
static int step0_reason(const char *id, hs_err *err)
{
    char target[600];
    hs_fed_out q;
    cr_assert_eq(hs_fed_media_fetch_request("remote.test", id, 0, target, sizeof target, &q, err), 0);
    hs_fed_reply r = {0};
    cr_assert_eq(hs_fed_send(&h.srv, &q, &r, err), 0);
    hs_store_remote_media m;
    int rc = hs_fed_media_fetch_answer(&h.srv, "remote.test", id, 0, &r, &m, err);
    hs_fed_reply_free(&r);
    return rc;
}

static void expect_not_cached(const char *id)
{
    hs_store_remote_media m;
    cr_assert_eq(hs_store_remote_media_get(h.srv.store, "remote.test", id, &m), 1);
}

Test(hs_fed_media, multipart_answer_is_stored_with_type_and_name)
{
    mode = MULTIPART;
    hs_store_remote_media m;
    cr_assert_eq(fetch("remote.test", "Abc", &m), 0);
    cr_assert_str_eq(m.content_type, "image/png");
    cr_assert_str_eq(m.upload_name, "a b.png");
    expect_cached(&m, FILE_BYTES, sizeof FILE_BYTES - 1);
    hs_store_remote_media again;
    cr_assert_eq(hs_store_remote_media_get(h.srv.store, "remote.test", "Abc", &again), 0);
    cr_assert_str_eq(again.file_id, m.file_id);
    cr_assert_eq(atomic_load(&legacy_calls), 0);
}

Test(hs_fed_media, client_download_fetches_once_then_serves_the_cache)
{
    mode = MULTIPART;
    pgt_mx_login u = pgt_mx_must_register(h.base, "carol", "pw-carol-1");
    char url[512], auth[600];
    snprintf(url, sizeof url, "%s/_matrix/client/v1/media/download/remote.test/Xyz", h.base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", u.token);
    const char *headers[] = {auth, NULL};
    pgt_req o = {.headers = headers};
    for (int i = 0; i < 2; i++) {
        pgt_http r = pgt_http_do(url, &o);
        cr_assert_eq(r.status, 200, "download %d: %ld %s", i, r.status, r.body);
        cr_assert_eq(r.body_len, sizeof FILE_BYTES - 1);
        cr_assert_eq(memcmp(r.body, FILE_BYTES, r.body_len), 0);
        pgt_http_free(&r);
    }
    cr_assert_eq(atomic_load(&auth_calls), 1, "the second download must come from the cache");
}

Test(hs_fed_media, not_found_and_unrecognized_fall_back_to_the_legacy_download)
{
    hs_store_remote_media m;
    mode = AUTH_404;
    cr_assert_eq(fetch("remote.test", "Old1", &m), 0);
    cr_assert_str_eq(m.content_type, "text/plain");
    expect_cached(&m, "legacy bytes", 12);
    mode = AUTH_400;
    cr_assert_eq(fetch("remote.test", "Old2", &m), 0);
    expect_cached(&m, "legacy bytes", 12);
    cr_assert_eq(atomic_load(&legacy_calls), 2);
    mode = NOWHERE;
    cr_assert_eq(fetch("remote.test", "Gone", &m), 1);
    expect_not_cached("Gone");
}

Test(hs_fed_media, bad_answers_are_errors_and_cache_nothing)
{
    static const enum mode bad[] = {TOO_BIG, REDIRECT, MALFORMED, BROKEN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mode = bad[i];
        hs_store_remote_media m;
        cr_assert_eq(fetch("remote.test", "Bad", &m), -1, "mode %d", (int)mode);
        hs_err err = {{0}};
        cr_assert_eq(step0_reason("Bad", &err), -1, "mode %d", (int)mode);
        cr_assert(err.msg[0], "mode %d: no reason given", (int)mode);
        expect_not_cached("Bad");
    }
    cr_assert_eq(atomic_load(&legacy_calls), 0, "only 404/400 M_UNRECOGNIZED fall back");
    hs_store_remote_media m;
    cr_assert_eq(fetch("remote.test/../x", "Bad", &m), -1);
    cr_assert_eq(fetch("remote.test", "../etc", &m), -1);
}

Test(hs_fed_media, the_remote_cache_keeps_the_newest_files_within_its_bound)
{
    /* restart with the small cache: 2,622 files of 400 bytes fit in 1 MiB + 100 bytes */
    pgt_hs_stop(&h);
    pgt_hs_start(&h, "self.test", tweak_small_cache);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&h.srv, &t);
    mode = SIZED;
    const int fits = CACHE_LIMIT / SIZED_BYTES, fetched = fits + 5;
    char first_file[64] = "";
    for (int i = 0; i < fetched; i++) {
        char id[16];
        snprintf(id, sizeof id, "file%d", i);
        hs_store_remote_media m;
        cr_assert_eq(fetch("remote.test", id, &m), 0, "%s", id);
        if (i == 0) snprintf(first_file, sizeof first_file, "%s", m.file_id);
    }
    /* the five oldest are gone, rows and files; the newest are all still served */
    for (int i = 0; i < fetched; i++) {
        char id[16];
        snprintf(id, sizeof id, "file%d", i);
        hs_store_remote_media m;
        cr_assert_eq(hs_store_remote_media_get(h.srv.store, "remote.test", id, &m), i < 5 ? 1 : 0, "%s", id);
        if (i >= fetched - 3) {
            static const char zeros[SIZED_BYTES];
            expect_cached(&m, zeros, SIZED_BYTES);
        }
    }
    char dir[4200];
    hs_fed_media_remote_dir(&h.srv, dir, sizeof dir);
    char *got = NULL;
    size_t got_len = 0;
    cr_assert_eq(hs_media_read(dir, first_file, 1 << 20, &got, &got_len), 1, "the oldest file was deleted");
    /* an evicted file is fetched again when asked for */
    int before = atomic_load(&auth_calls);
    hs_store_remote_media m;
    cr_assert_eq(fetch("remote.test", "file0", &m), 0);
    cr_assert_eq(atomic_load(&auth_calls), before + 1);
}
