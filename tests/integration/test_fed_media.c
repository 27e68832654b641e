/* Media across two real pinegate processes over loopback HTTPS (localhost:PORT_A and
 * localhost:PORT_B, --dev configs, self-signed certificates, set up as in
 * test_fed_rooms.c): alice uploads a binary file on A; bob downloads mxc://A/ID through
 * B's client API, byte for byte with its type and name, on the authenticated
 * /_matrix/client/v1/media path, the legacy /_matrix/media/v3 path and as a thumbnail
 * (B fetches it from A's /_matrix/federation/v1/media/download and parses the
 * multipart answer); an unknown ID on A is 404 on B; then A is stopped and bob
 * downloads again: B serves its cached copy, while an ID it never fetched now fails.
 * A's federation listener itself: the authenticated endpoint refuses an unsigned
 * request, the legacy unauthenticated download serves A's own media. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_media, 240);

/* GET url with an optional access token. */
static pgt_http get(const char *url, const pgt_mx_login *u)
{
    char auth[600];
    const char *headers[] = {auth, NULL};
    if (u) snprintf(auth, sizeof auth, "Authorization: Bearer %s", u->token);
    pgt_req o = {.headers = u ? headers : NULL, .timeout_ms = 30000};
    return pgt_http_do(url, &o);
}

static size_t collect(char *p, size_t size, size_t n, void *userp)
{
    char **buf = userp;
    size_t have = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, have + size * n + 1);
    if (!nb) return 0;
    memcpy(nb + have, p, size * n);
    nb[have + size * n] = '\0';
    *buf = nb;
    return size * n;
}

/* Uploads data as u on n with Content-Type `type`; returns the media ID (malloc'd).
 * Its own libcurl call: pgt_http_do labels every body application/json. */
static char *upload(const node *n, const pgt_mx_login *u, const char *type, const char *name, const char *data,
                    size_t len)
{
    char url[512], auth[600], ct[300];
    snprintf(url, sizeof url, "%s/_matrix/media/v3/upload?filename=%s", n->base, name);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", u->token);
    snprintf(ct, sizeof ct, "Content-Type: %s", type);
    struct curl_slist *hl = curl_slist_append(curl_slist_append(NULL, auth), ct);
    CURL *c = curl_easy_init();
    char *body = NULL;
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    cr_assert_eq(status, 200, "upload: %ld %s", status, body ? body : "");
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    const char *uri = json_string_value(json_object_get(j, "content_uri"));
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mxc://%s/", n->name);
    cr_assert(uri && strncmp(uri, prefix, strlen(prefix)) == 0, "content_uri %s", uri ? uri : "(none)");
    char *id = strdup(uri + strlen(prefix));
    json_decref(j);
    return id;
}

/* Asserts that GET n's `path` (as u, or unauthenticated) answers exactly data. */
static void expect_file(const node *n, const pgt_mx_login *u, const char *path, const char *data, size_t len,
                        const char *type)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", n->base, path);
    pgt_http r = get(url, u);
    if (r.status != 200) pgt_wait_line(&B.proc, "\x01never", 500, NULL, 0); /* B's log for the message */
    cr_assert_eq(r.status, 200, "%s: %ld %s\nB's log:\n%s", path, r.status, r.body, B.proc.buf);
    cr_assert_eq(r.body_len, len, "%s: %zu bytes, want %zu", path, r.body_len, len);
    cr_assert_eq(memcmp(r.body, data, len), 0, "%s: bytes differ", path);
    char *ct = pgt_header(&r, "Content-Type");
    cr_assert(ct && strcmp(ct, type) == 0, "%s: Content-Type %s", path, ct ? ct : "(none)");
    free(ct);
    pgt_http_free(&r);
}

static void expect_status(const char *url, const pgt_mx_login *u, long status)
{
    pgt_http r = get(url, u);
    cr_assert_eq(r.status, status, "%s: %ld %s", url, r.status, r.body);
    pgt_http_free(&r);
}

Test(fed_media, a_remote_file_is_fetched_once_then_served_from_the_cache)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    /* Bytes that a sloppy multipart parser would get wrong: NULs, CRLFs, "--". */
    size_t len = 300000;
    char *data = malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (char)((i * 131 + (i >> 7)) & 0xff);
    memcpy(data + 1000, "\r\n--\r\n\r\n--", 10);
    char *id = upload(&A, &alice, "image/png", "photo.png", data, len);

    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v1/media/download/%s/%s", A.name, id);
    expect_file(&B, &bob, path, data, len, "image/png");
    char url[1024];
    snprintf(url, sizeof url, "%s%s", B.base, path);
    pgt_http r = get(url, &bob);
    char *disp = pgt_header(&r, "Content-Disposition");
    cr_assert(disp && strstr(disp, "photo.png"), "Content-Disposition %s", disp ? disp : "(none)");
    free(disp);
    pgt_http_free(&r);
    snprintf(path, sizeof path, "/_matrix/media/v3/download/%s/%s", A.name, id);
    expect_file(&B, NULL, path, data, len, "image/png");
    snprintf(path, sizeof path, "/_matrix/client/v1/media/thumbnail/%s/%s?width=64&height=64", A.name, id);
    expect_file(&B, &bob, path, data, len, "image/png");

    /* A file A does not have: 404 from A, 404 to bob. */
    snprintf(url, sizeof url, "%s/_matrix/client/v1/media/download/%s/NoSuchMediaOnA", B.base, A.name);
    expect_status(url, &bob, 404);

    /* A's federation listener: signatures required on the v1.11 endpoint; the legacy
     * download serves A's own media to anyone, and only A's. */
    snprintf(url, sizeof url, "https://127.0.0.1:%d/_matrix/federation/v1/media/download/%s", A.fport, id);
    expect_status(url, NULL, 401);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/_matrix/media/v3/download/%s/%s", A.fport, A.name, id);
    r = get(url, NULL);
    cr_assert_eq(r.status, 200, "legacy federation download: %ld", r.status);
    cr_assert(r.body_len == len && memcmp(r.body, data, len) == 0, "legacy federation download: bytes differ");
    pgt_http_free(&r);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/_matrix/media/v3/download/%s/%s", A.fport, B.name, id);
    expect_status(url, NULL, 404);

    /* Uploaded but never fetched by B: needs A. */
    char *other = upload(&A, &alice, "text/plain", "other.txt", "not fetched", 11);

    /* A goes away: B still serves what it cached, on both client paths. */
    cr_assert_eq(pgt_stop(&A.proc, SIGTERM, 20000), 0);
    snprintf(path, sizeof path, "/_matrix/client/v1/media/download/%s/%s", A.name, id);
    expect_file(&B, &bob, path, data, len, "image/png");
    snprintf(path, sizeof path, "/_matrix/media/v3/download/%s/%s", A.name, id);
    expect_file(&B, NULL, path, data, len, "image/png");
    snprintf(url, sizeof url, "%s/_matrix/client/v1/media/download/%s/%s", B.base, A.name, other);
    expect_status(url, &bob, 502);
    free(other);
    free(id);
    free(data);
}
