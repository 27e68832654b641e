/* The HTTP layer end to end: a real hs_server on ephemeral loopback ports, real
 * libcurl requests over HTTP and HTTPS (verified against the generated certificate),
 * and the behaviour a client sees - bodies, headers, errors, limits, CORS, metrics,
 * and graceful shutdown. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "federation-side/fed_tls.h"
#include "server-core/hs_server.h"
#include "support/pgt.h"

static char *dir;
static hs_server srv;
static char base[128], fbase[128], ca[1024];
static char err[1024];

static void start(void)
{
    dir = pgt_tmpdir();
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "localhost:8448");
    cfg.client.port = 0;
    cfg.federation.port = 0;
    snprintf(cfg.federation.bind_address, sizeof cfg.federation.bind_address, "127.0.0.1");
    cfg.max_request_body_bytes = 4096;
    cfg.threads = 2;
    cfg.shutdown_grace_seconds = 5;
    snprintf(cfg.database_path, sizeof cfg.database_path, "%s/hs.db", dir);
    snprintf(cfg.signing_key_path, sizeof cfg.signing_key_path, "%s/signing.key", dir);
    snprintf(cfg.federation.tls_certificate, sizeof cfg.federation.tls_certificate, "%s/tls.crt", dir);
    snprintf(cfg.federation.tls_private_key, sizeof cfg.federation.tls_private_key, "%s/tls.key", dir);
    hs_signing_key key;
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    cr_assert_eq(hs_signing_key_save(cfg.signing_key_path, &key, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fed_tls_generate_self_signed(cfg.server_name, 2, cfg.federation.tls_certificate,
                                              cfg.federation.tls_private_key, err, sizeof err),
                 0, "%s", err);
    char *cert, *pkey;
    cr_assert_eq(fed_tls_load(cfg.federation.tls_certificate, cfg.federation.tls_private_key, &cert, &pkey, err,
                              sizeof err),
                 0, "%s", err);
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(hs_server_listen(&srv, cert, pkey, err, sizeof err), 0, "%s", err);
    free(cert);
    free(pkey);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", hs_httpd_port(srv.client));
    snprintf(fbase, sizeof fbase, "https://localhost:%d", hs_httpd_port(srv.federation));
    snprintf(ca, sizeof ca, "%s", cfg.federation.tls_certificate);
}

static void stop(void)
{
    hs_server_close(&srv);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_httpd, .init = start, .fini = stop, .timeout = 60);

static json_t *get_json(const char *url, long want_status, const pgt_req *opt)
{
    pgt_http r = pgt_http_do(url, opt);
    cr_assert_eq(r.status, want_status, "%s: status %ld (%s) body %s", url, r.status, r.error, r.body);
    char *ct = pgt_header(&r, "Content-Type");
    cr_assert(ct && strcmp(ct, "application/json") == 0, "%s: content type %s", url, ct ? ct : "(none)");
    free(ct);
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    cr_assert_not_null(j, "%s: not JSON: %s", url, r.body);
    pgt_http_free(&r);
    return j;
}

static char url[512];
static const char *at(const char *b, const char *path)
{
    snprintf(url, sizeof url, "%s%s", b, path);
    return url;
}

Test(hs_httpd, client_versions)
{
    json_t *j = get_json(at(base, "/_matrix/client/versions"), 200, NULL);
    json_t *v = json_object_get(j, "versions");
    cr_assert(json_is_array(v) && json_array_size(v) > 0);
    bool has_v1_1 = false;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (strcmp(json_string_value(json_array_get(v, i)), "v1.1") == 0) has_v1_1 = true;
    cr_assert(has_v1_1);
    cr_assert(json_is_object(json_object_get(j, "unstable_features")));
    json_decref(j);
}

Test(hs_httpd, federation_version_over_verified_https)
{
    pgt_req opt = {.ca_file = ca};
    json_t *j = get_json(at(fbase, "/_matrix/federation/v1/version"), 200, &opt);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "server"), "name")), "pinegate");
    cr_assert_not_null(json_string_value(json_object_get(json_object_get(j, "server"), "version")));
    json_decref(j);
}

Test(hs_httpd, federation_listener_refuses_plain_http)
{
    char plain[160];
    snprintf(plain, sizeof plain, "http://127.0.0.1:%d/_matrix/federation/v1/version", hs_httpd_port(srv.federation));
    pgt_http r = pgt_http_do(plain, NULL);
    cr_assert_neq(r.status, 200, "federation must be TLS only");
    pgt_http_free(&r);
}

Test(hs_httpd, well_known)
{
    /* Without well_known_server set, delegation points at the bound federation port. */
    char fed[64];
    snprintf(fed, sizeof fed, "localhost:%d", hs_httpd_port(srv.federation));
    json_t *j = get_json(at(base, "/.well-known/matrix/server"), 200, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "m.server")), fed);
    json_decref(j);
    j = get_json(at(base, "/.well-known/matrix/client"), 200, NULL);
    char want[128];
    snprintf(want, sizeof want, "http://localhost:%d", hs_httpd_port(srv.client));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "m.homeserver"), "base_url")), want);
    json_decref(j);
    pgt_req opt = {.ca_file = ca};
    j = get_json(at(fbase, "/.well-known/matrix/server"), 200, &opt);
    cr_assert_str_eq(json_string_value(json_object_get(j, "m.server")), fed);
    json_decref(j);
}

Test(hs_httpd, health)
{
    pgt_http r = pgt_http_do(at(base, "/health"), NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "OK");
    pgt_http_free(&r);
}

Test(hs_httpd, unknown_path_is_404_unrecognized)
{
    json_t *j = get_json(at(base, "/_matrix/client/v3/nonexistent"), 404, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNRECOGNIZED");
    cr_assert(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    pgt_req opt = {.ca_file = ca};
    j = get_json(at(fbase, "/_matrix/federation/v1/nonexistent"), 404, &opt);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNRECOGNIZED");
    json_decref(j);
}

Test(hs_httpd, wrong_method_is_405_unrecognized)
{
    pgt_req opt = {.method = "DELETE"};
    pgt_http r = pgt_http_do(at(base, "/_matrix/client/versions"), &opt);
    cr_assert_eq(r.status, 405);
    cr_assert(strstr(r.body, "\"errcode\":\"M_UNRECOGNIZED\""), "%s", r.body);
    char *allow = pgt_header(&r, "Allow");
    cr_assert_str_eq(allow, "GET");
    free(allow);
    pgt_http_free(&r);
}

Test(hs_httpd, oversize_body_is_413_too_large)
{
    char *big = malloc(10000);
    memset(big, 'a', 10000);
    pgt_req opt = {.method = "POST", .body = big, .body_len = 10000};
    json_t *j = get_json(at(base, "/_matrix/client/versions"), 413, &opt);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_TOO_LARGE");
    json_decref(j);
    /* Chunked bodies have no Content-Length: the limit applies while reading. */
    pgt_req chunked = {.method = "POST", .body = big, .body_len = 10000, .chunked = true};
    j = get_json(at(base, "/_matrix/client/versions"), 413, &chunked);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_TOO_LARGE");
    json_decref(j);
    free(big);
    /* A body under the limit reaches routing (405 here, not 413). */
    pgt_req small = {.method = "POST", .body = "{}", .body_len = 2};
    pgt_http r = pgt_http_do(at(base, "/_matrix/client/versions"), &small);
    cr_assert_eq(r.status, 405);
    pgt_http_free(&r);
}

Test(hs_httpd, cors_on_client_not_federation)
{
    pgt_http r = pgt_http_do(at(base, "/_matrix/client/versions"), NULL);
    char *o = pgt_header(&r, "Access-Control-Allow-Origin");
    char *m = pgt_header(&r, "Access-Control-Allow-Methods");
    char *h = pgt_header(&r, "Access-Control-Allow-Headers");
    cr_assert_str_eq(o, "*");
    cr_assert(m && strstr(m, "PUT") && strstr(m, "OPTIONS"));
    cr_assert(h && strstr(h, "Authorization"));
    free(o);
    free(m);
    free(h);
    pgt_http_free(&r);

    pgt_req opt = {.method = "OPTIONS"};
    r = pgt_http_do(at(base, "/_matrix/client/versions"), &opt);
    cr_assert(r.status == 204 || r.status == 200, "preflight got %ld", r.status);
    o = pgt_header(&r, "Access-Control-Allow-Origin");
    cr_assert_str_eq(o, "*");
    free(o);
    pgt_http_free(&r);

    pgt_req fopt = {.ca_file = ca};
    r = pgt_http_do(at(fbase, "/_matrix/federation/v1/version"), &fopt);
    cr_assert_null(pgt_header(&r, "Access-Control-Allow-Origin"));
    pgt_http_free(&r);
}

Test(hs_httpd, metrics_count_requests_by_route)
{
    for (int i = 0; i < 3; i++) {
        pgt_http r = pgt_http_do(at(base, "/_matrix/client/versions"), NULL);
        pgt_http_free(&r);
    }
    pgt_http r = pgt_http_do(at(base, "/no/such/thing"), NULL);
    pgt_http_free(&r);
    r = pgt_http_do(at(base, "/metrics"), NULL);
    cr_assert_eq(r.status, 200);
    char *ct = pgt_header(&r, "Content-Type");
    cr_assert(ct && strstr(ct, "text/plain; version=0.0.4"));
    free(ct);
    cr_assert(strstr(r.body, "pinegate_http_requests_total{listener=\"client\",route=\"/_matrix/client/versions\","
                             "code=\"2xx\"} 3\n"),
              "%s", r.body);
    cr_assert(strstr(r.body, "route=\"unrecognized\",code=\"4xx\"} 1\n"), "%s", r.body);
    cr_assert(strstr(r.body, "pinegate_http_request_duration_seconds_count{listener=\"client\",route=\"/_matrix/client/versions\"} 3"));
    cr_assert(strstr(r.body, "pinegate_database_size_bytes "));
    cr_assert(strstr(r.body, "pinegate_uptime_seconds "));
    cr_assert_null(strstr(r.body, "/no/such/thing"), "raw paths must not become labels");
    pgt_http_free(&r);
}

/* A slow handler to show that shutdown lets a running request finish. */
static void slow(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    usleep(700 * 1000);
    hs_response_json(resp, 200, json_pack("{s:b}", "finished", 1));
}

static void *slow_request(void *arg)
{
    pgt_http *r = arg;
    *r = pgt_http_do(url, NULL);
    return NULL;
}

/* The suite's fini closes the server again: closing a closed server is a no-op. */
Test(hs_httpd, shutdown_finishes_in_flight_requests)
{
    cr_assert_eq(hs_router_add(srv.client_router, "GET", "/test/slow", slow, NULL), 0);
    at(base, "/test/slow");
    pgt_http r;
    pthread_t t;
    pthread_create(&t, NULL, slow_request, &r);
    while (hs_server_in_flight(&srv) == 0) usleep(1000);
    hs_server_close(&srv); /* must wait for the handler */
    pthread_join(t, NULL);
    cr_assert_eq(r.status, 200, "in-flight request was cut: %s", r.error);
    cr_assert(strstr(r.body, "finished"));
    pgt_http_free(&r);
    /* And nothing listens any more. */
    pgt_http after = pgt_http_do(at(base, "/_matrix/client/versions"), NULL);
    cr_assert_eq(after.status, 0);
    pgt_http_free(&after);
}
