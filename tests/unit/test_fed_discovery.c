/* Server discovery, the deny-list and the outbound client. The resolution order of the
 * spec is checked through the resolver function table (there is no DNS in CI): each
 * case feeds well-known and SRV answers and checks where the connection would go, with
 * which Host header and TLS name, and which lookups were made - and the well-known
 * cache's lifetimes. Then the real client against a real loopback HTTPS server
 * (hs_httpd with a self-signed certificate): well-known fetched over TLS with its
 * Cache-Control, a request delegated through it arriving with the right Host header,
 * the deny-list refusing loopback, certificate verification refusing the self-signed
 * peer, and the response size limit. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "federation-side/fed_client.h"
#include "federation-side/fed_denylist.h"
#include "federation-side/fed_discovery.h"
#include "federation-side/fed_srv.h"
#include "federation-side/fed_tls.h"
#include "server-core/hs_httpd.h"
#include "support/pgt.h"

/* ---- a scripted resolver -------------------------------------------------------- */

typedef struct fake {
    const char *wk_host;        /* the one host with a well-known answer */
    long wk_status;
    const char *wk_body;
    int64_t wk_max_age_ms;
    const char *srv_name[2];    /* names with one SRV record each */
    fed_srv_record srv_rec[2];
    int wk_calls, srv_calls;
    char srv_asked[8][300];
} fake;

static int fake_srv(void *ctx, const char *name, fed_srv_record *out, size_t max)
{
    fake *f = ctx;
    if (f->srv_calls < 8) snprintf(f->srv_asked[f->srv_calls], 300, "%s", name);
    f->srv_calls++;
    for (int i = 0; i < 2; i++) {
        if (f->srv_name[i] && strcmp(f->srv_name[i], name) == 0 && max > 0) {
            out[0] = f->srv_rec[i];
            return 1;
        }
    }
    return 0;
}

static int fake_wk(void *ctx, const char *host, fed_wk_http *out)
{
    fake *f = ctx;
    f->wk_calls++;
    memset(out, 0, sizeof *out);
    out->max_age_ms = f->wk_max_age_ms;
    if (!f->wk_host || strcmp(host, f->wk_host) != 0) {
        out->status = 404;
        return 0;
    }
    out->status = f->wk_status;
    if (f->wk_body) {
        out->body = strdup(f->wk_body);
        out->body_len = strlen(f->wk_body);
    }
    return 0;
}

static fed_target discover(fake *f, const char *name, int64_t now)
{
    fed_resolver r = {.srv = fake_srv, .well_known = fake_wk, .ctx = f};
    fed_discovery *d = fed_discovery_new(&r);
    fed_target t;
    hs_err err;
    cr_assert_eq(fed_discover(d, name, now, &t, &err), 0, "%s: %s", name, err.msg);
    fed_discovery_free(d);
    return t;
}

static void expect_target(const fed_target *t, const char *connect, int port, const char *host_header,
                          const char *tls_name)
{
    cr_expect_str_eq(t->connect_host, connect);
    cr_expect_eq(t->port, port, "port %d, expected %d", t->port, port);
    cr_expect_str_eq(t->host_header, host_header);
    cr_expect_str_eq(t->tls_name, tls_name);
}

Test(fed_discovery, ip_literals_and_explicit_ports_skip_lookups)
{
    fake f = {.wk_host = "example.org", .wk_status = 200, .wk_body = "{\"m.server\":\"x.example:1\"}", .wk_max_age_ms = -1};
    fed_target t = discover(&f, "192.0.2.7", 0);
    expect_target(&t, "192.0.2.7", 8448, "192.0.2.7", "192.0.2.7");
    cr_expect(t.ip_literal);
    t = discover(&f, "[2001:db8::1]:8449", 0);
    expect_target(&t, "2001:db8::1", 8449, "[2001:db8::1]:8449", "2001:db8::1");
    t = discover(&f, "example.org:1234", 0);
    expect_target(&t, "example.org", 1234, "example.org:1234", "example.org");
    cr_expect_not(t.ip_literal);
    cr_expect_eq(f.wk_calls, 0, "well-known asked for a name with a port");
    cr_expect_eq(f.srv_calls, 0, "SRV asked for a name with a port");
}

Test(fed_discovery, well_known_delegation_rules)
{
    /* Delegated to host:port: connect there, Host is the delegated name. */
    fake f = {.wk_host = "example.org", .wk_status = 200, .wk_body = "{\"m.server\":\"matrix.example.net:443\"}",
              .wk_max_age_ms = -1};
    fed_target t = discover(&f, "example.org", 0);
    expect_target(&t, "matrix.example.net", 443, "matrix.example.net:443", "matrix.example.net");
    cr_expect_eq(f.srv_calls, 0);

    /* Delegated to an IP literal without port: 8448. */
    fake g = {.wk_host = "example.org", .wk_status = 200, .wk_body = "{\"m.server\":\"198.51.100.4\"}", .wk_max_age_ms = -1};
    t = discover(&g, "example.org", 0);
    expect_target(&t, "198.51.100.4", 8448, "198.51.100.4", "198.51.100.4");

    /* Delegated hostname without port: SRV _matrix-fed._tcp of the delegated name first,
     * Host and TLS name stay the delegated name (not the SRV target). */
    fake h = {.wk_host = "example.org", .wk_status = 200, .wk_body = "{\"m.server\":\"deleg.example.net\"}",
              .wk_max_age_ms = -1,
              .srv_name = {"_matrix-fed._tcp.deleg.example.net", "_matrix._tcp.deleg.example.net"},
              .srv_rec = {{10, 0, 8555, "fed-target.example.net"}, {10, 0, 9999, "old-target.example.net"}}};
    t = discover(&h, "example.org", 0);
    expect_target(&t, "fed-target.example.net", 8555, "deleg.example.net", "deleg.example.net");
    cr_expect_eq(h.srv_calls, 1);

    /* Only the deprecated _matrix._tcp record exists: it is used after asking matrix-fed. */
    h.srv_name[0] = NULL;
    h.srv_calls = 0;
    t = discover(&h, "example.org", 0);
    expect_target(&t, "old-target.example.net", 9999, "deleg.example.net", "deleg.example.net");
    cr_expect_str_eq(h.srv_asked[0], "_matrix-fed._tcp.deleg.example.net");
    cr_expect_str_eq(h.srv_asked[1], "_matrix._tcp.deleg.example.net");

    /* No SRV at all: delegated name on 8448. */
    h.srv_name[1] = NULL;
    t = discover(&h, "example.org", 0);
    expect_target(&t, "deleg.example.net", 8448, "deleg.example.net", "deleg.example.net");
}

Test(fed_discovery, without_well_known_srv_then_8448)
{
    static const char *const bad_bodies[] = {NULL, "not json", "{\"m.server\":5}", "{\"m.server\":\"bad name!\"}"};
    for (size_t i = 0; i < 4; i++) {
        fake f = {.wk_host = "example.org", .wk_status = 200, .wk_body = bad_bodies[i], .wk_max_age_ms = -1,
                  .srv_name = {"_matrix-fed._tcp.example.org"}, .srv_rec = {{1, 1, 7000, "srv.example.org"}}};
        fed_target t = discover(&f, "example.org", 0);
        expect_target(&t, "srv.example.org", 7000, "example.org", "example.org");
    }
    fake f = {.wk_host = "example.org", .wk_status = 500, .wk_body = "{\"m.server\":\"x.example:1\"}",
              .wk_max_age_ms = -1, .srv_name = {"_matrix._tcp.example.org"}, .srv_rec = {{1, 1, 7001, "old.example.org"}}};
    fed_target t = discover(&f, "example.org", 0);
    expect_target(&t, "old.example.org", 7001, "example.org", "example.org");
    cr_expect_str_eq(f.srv_asked[0], "_matrix-fed._tcp.example.org");
    f.srv_name[0] = NULL;
    t = discover(&f, "example.org", 0);
    expect_target(&t, "example.org", 8448, "example.org", "example.org");
}

Test(fed_discovery, well_known_cache_lifetimes)
{
    fake f = {.wk_host = "example.org", .wk_status = 200, .wk_body = "{\"m.server\":\"d.example:1\"}",
              .wk_max_age_ms = 600 * 1000};
    fed_resolver r = {.srv = fake_srv, .well_known = fake_wk, .ctx = &f};
    fed_discovery *d = fed_discovery_new(&r);
    fed_target t;
    hs_err err;
    int64_t now = 1000000;
    cr_assert_eq(fed_discover(d, "example.org", now, &t, &err), 0);
    cr_assert_eq(fed_discover(d, "example.org", now + 599 * 1000, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 1, "max-age 600 s not honoured");
    cr_assert_eq(fed_discover(d, "example.org", now + 601 * 1000, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 2, "not refetched after max-age");

    /* A max-age beyond 48 h is capped. */
    f.wk_max_age_ms = 7 * 24 * 3600 * 1000LL;
    now += 1300 * 1000;
    cr_assert_eq(fed_discover(d, "example.org", now, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 3);
    cr_assert_eq(fed_discover(d, "example.org", now + FED_WELL_KNOWN_MAX_TTL_MS - 1, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 3);
    cr_assert_eq(fed_discover(d, "example.org", now + FED_WELL_KNOWN_MAX_TTL_MS + 1, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 4, "cached beyond 48 h");

    /* Errors are remembered for an hour, then asked again. */
    now += 3 * FED_WELL_KNOWN_MAX_TTL_MS;
    f.wk_status = 404;
    f.wk_max_age_ms = -1;
    cr_assert_eq(fed_discover(d, "example.org", now, &t, &err), 0);
    expect_target(&t, "example.org", 8448, "example.org", "example.org");
    cr_assert_eq(fed_discover(d, "example.org", now + FED_WELL_KNOWN_ERROR_TTL_MS - 1, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 5);
    f.wk_status = 200;
    cr_assert_eq(fed_discover(d, "example.org", now + FED_WELL_KNOWN_ERROR_TTL_MS + 1, &t, &err), 0);
    cr_expect_eq(f.wk_calls, 6);
    expect_target(&t, "d.example", 1, "d.example:1", "d.example");
    cr_expect_neq(fed_discover(d, "not a name", now, &t, &err), 0);
    fed_discovery_free(d);
}

/* The well-known cache holds at most FED_DISCOVERY_CACHE_MAX names, whoever names
 * them: one more name replaces the entry that expires first, the others stay cached. */
Test(fed_discovery, well_known_cache_is_bounded)
{
    fake f = {0};
    fed_resolver r = {.srv = fake_srv, .well_known = fake_wk, .ctx = &f};
    fed_discovery *d = fed_discovery_new(&r);
    fed_target t;
    hs_err err;
    char name[64];
    int64_t now = 1000000;
    for (int i = 0; i <= FED_DISCOVERY_CACHE_MAX; i++) {
        snprintf(name, sizeof name, "n%d.example", i);
        cr_assert_eq(fed_discover(d, name, now + i, &t, &err), 0, "%s", err.msg);
    }
    cr_expect_eq(f.wk_calls, FED_DISCOVERY_CACHE_MAX + 1);
    int64_t later = now + FED_DISCOVERY_CACHE_MAX + 1;
    cr_assert_eq(fed_discover(d, "n1.example", later, &t, &err), 0);
    snprintf(name, sizeof name, "n%d.example", FED_DISCOVERY_CACHE_MAX); /* the newest */
    cr_assert_eq(fed_discover(d, name, later, &t, &err), 0);
    cr_expect_eq(f.wk_calls, FED_DISCOVERY_CACHE_MAX + 1, "a cached name was asked again");
    cr_assert_eq(fed_discover(d, "n0.example", later, &t, &err), 0);
    cr_expect_eq(f.wk_calls, FED_DISCOVERY_CACHE_MAX + 2, "the oldest entry was not the one replaced");
    fed_discovery_free(d);
}

/* ---- SRV answers and the deny-list ----------------------------------------------- */

static size_t put_name(uint8_t *p, const char *name)
{
    size_t o = 0;
    while (*name) {
        size_t l = strcspn(name, ".");
        p[o++] = (uint8_t)l;
        memcpy(p + o, name, l);
        o += l;
        name += l + (name[l] == '.');
    }
    p[o++] = 0;
    return o;
}

static size_t put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

Test(fed_srv, parses_sorted_records_and_refuses_truncation)
{
    uint8_t m[512];
    size_t o = 0;
    o += put16(m + o, 1);
    o += put16(m + o, 0x8180);
    o += put16(m + o, 1);
    o += put16(m + o, 3);
    o += put16(m + o, 0);
    o += put16(m + o, 0);
    o += put_name(m + o, "_matrix-fed._tcp.example.org");
    o += put16(m + o, 33);
    o += put16(m + o, 1);
    const struct { unsigned prio, weight, port; const char *target; } recs[] = {
        {10, 5, 8448, "a.example.org"}, {5, 0, 443, "b.example.org"}, {5, 0, 1, ""}};
    for (size_t i = 0; i < 3; i++) {
        m[o++] = 0xc0; /* pointer to the question name */
        m[o++] = 12;
        o += put16(m + o, 33);
        o += put16(m + o, 1);
        m[o++] = 0, m[o++] = 0, m[o++] = 1, m[o++] = 44; /* TTL */
        uint8_t rd[300];
        size_t r = 0;
        r += put16(rd + r, recs[i].prio);
        r += put16(rd + r, recs[i].weight);
        r += put16(rd + r, recs[i].port);
        r += put_name(rd + r, recs[i].target);
        o += put16(m + o, (unsigned)r);
        memcpy(m + o, rd, r);
        o += r;
    }
    fed_srv_record out[4];
    hs_err err;
    int n = fed_srv_parse(m, o, out, 4, &err);
    cr_assert_eq(n, 2, "%d records (%s); the '.' target must be dropped", n, err.msg);
    cr_expect_str_eq(out[0].target, "b.example.org");
    cr_expect_eq(out[0].port, 443);
    cr_expect_str_eq(out[1].target, "a.example.org");
    cr_expect_eq(out[1].priority, 10);
    for (size_t cut = 0; cut < o; cut++) {
        int k = fed_srv_parse(m, cut, out, 4, &err);
        cr_expect_lt(k, 2, "a message cut at %zu bytes still gave every record", cut);
    }
}

static struct sockaddr_storage addr(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    return ss;
}

static bool denied(const fed_denylist *d, const char *ip)
{
    struct sockaddr_storage ss = addr(ip);
    return fed_denylist_denies(d, (struct sockaddr *)&ss);
}

Test(fed_denylist, default_ranges_deny_internal_addresses)
{
    hs_config cfg;
    hs_config_defaults(&cfg);
    hs_err err;
    fed_denylist *d = fed_denylist_parse(cfg.ip_range_denylist, &err);
    cr_assert_not_null(d, "%s", err.msg);
    static const char *const deny[] = {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                                       "169.254.169.254", "100.64.0.1", "::1", "fe80::1", "fd00::5",
                                       "::ffff:127.0.0.1", "::ffff:10.0.0.1", "0.0.0.0", "::"};
    static const char *const allow[] = {"8.8.8.8", "172.32.0.1", "93.184.216.34", "2a00:1450::1", "::ffff:8.8.8.8"};
    for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++) cr_expect(denied(d, deny[i]), "%s allowed", deny[i]);
    for (size_t i = 0; i < sizeof allow / sizeof allow[0]; i++) cr_expect_not(denied(d, allow[i]), "%s denied", allow[i]);
    fed_denylist_free(d);

    d = fed_denylist_parse("", &err);
    cr_assert_not_null(d);
    cr_expect_not(denied(d, "127.0.0.1"));
    fed_denylist_free(d);
    static const char *const bad[] = {"10.0.0.1/8", "10.0.0.0/33", "300.0.0.0/8", "fe80::/129", "x", "10.0.0.0/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_null(fed_denylist_parse(bad[i], &err), "accepted %s", bad[i]);
        cr_expect(strstr(err.msg, "ip_range_denylist") != NULL, "%s", err.msg);
    }
}

/* ---- the real client over loopback HTTPS ------------------------------------------ */

static char *dir;
static hs_router *router;
static hs_httpd *httpd;
static int port;
static atomic_int wk_hits;
static char wk_body[256];
static char wk_cache_name[32] = "Cache-Control", wk_cache_value[64] = "public, max-age=120";

/* What the well-known route answers: the document, a redirect to another loopback
 * address, or a body larger than any well-known the parser accepts. */
static enum { WK_DOC, WK_REDIRECT, WK_HUGE } wk_mode;

static void wk_handler(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    atomic_fetch_add(&wk_hits, 1);
    if (wk_mode == WK_REDIRECT) {
        char location[128];
        snprintf(location, sizeof location, "https://127.0.0.2:%d/.well-known/matrix/server", port);
        hs_response_bytes(resp, 302, "text/plain", "", 0);
        hs_response_header(resp, "Location", location);
        return;
    }
    if (wk_mode == WK_HUGE) {
        static char blob[FED_WELL_KNOWN_MAX_BYTES * 2];
        memset(blob, ' ', sizeof blob);
        blob[0] = '{';
        blob[sizeof blob - 1] = '}';
        hs_response_bytes(resp, 200, "application/json", blob, sizeof blob);
        return;
    }
    hs_response_bytes(resp, 200, "application/json", wk_body, strlen(wk_body));
    hs_response_header(resp, wk_cache_name, wk_cache_value);
}

static void echo_handler(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)ctx;
    const char *host = hs_request_header(req, "Host");
    hs_response_json(resp, 200, json_pack("{s:s, s:s}", "host", host ? host : "", "target", req->target));
}

static void big_handler(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    static char blob[64 * 1024];
    memset(blob, 'x', sizeof blob);
    hs_response_bytes(resp, 200, "text/plain", blob, sizeof blob);
}

/* 2 MiB: more than any key answer is allowed to be. */
static void huge_key_handler(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    size_t n = 2 << 20;
    char *blob = malloc(n);
    memset(blob, ' ', n);
    hs_response_bytes(resp, 200, "application/json", blob, n);
    free(blob);
}

static void https_start(void)
{
    dir = pgt_tmpdir();
    char cert[512], key[512], err[512];
    snprintf(cert, sizeof cert, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    cr_assert_eq(fed_tls_generate_self_signed("localhost", 2, cert, key, err, sizeof err), 0, "%s", err);
    char *cert_pem, *key_pem;
    cr_assert_geq(fed_tls_load(cert, key, &cert_pem, &key_pem, err, sizeof err), 0, "%s", err);
    router = hs_router_new((hs_router_options){0});
    hs_router_add(router, "GET", "/.well-known/matrix/server", wk_handler, NULL);
    hs_router_add(router, "GET", "/echo", echo_handler, NULL);
    hs_router_add(router, "GET", "/big", big_handler, NULL);
    hs_router_add(router, "GET", "/_matrix/key/v2/server", huge_key_handler, NULL);
    hs_httpd_config c = {.name = "federation", .bind_address = "127.0.0.1", .port = 0, .threads = 2,
                         .max_connections = 16, .max_body_bytes = 1 << 20, .router = router,
                         .tls_cert_pem = cert_pem, .tls_key_pem = key_pem};
    httpd = hs_httpd_start(&c, err, sizeof err);
    free(cert_pem);
    free(key_pem);
    cr_assert_not_null(httpd, "%s", err);
    port = hs_httpd_port(httpd);
    atomic_store(&wk_hits, 0);
    wk_mode = WK_DOC;
}

static void https_stop(void)
{
    hs_httpd_stop(httpd);
    hs_router_free(router);
    pgt_rmtree(dir);
    free(dir);
}

static fed_client *client(const char *deny, bool verify, int64_t max_bytes, const fed_resolver *r)
{
    static const hs_signing_key *none = NULL;
    fed_client_config fc = {.server_name = "origin.test", .key = none, .ip_range_denylist = deny,
                            .verify_certificates = verify, .timeout_seconds = 10, .max_response_bytes = max_bytes};
    hs_err err;
    fed_client *c = fed_client_new(&fc, r, &err);
    cr_assert_not_null(c, "%s", err.msg);
    return c;
}

/* The well-known step of a resolver whose "port 443" is the test server's port. */
static int loopback_wk(void *ctx, const char *host, fed_wk_http *out)
{
    hs_err err;
    (void)host; /* every name's well-known lives on the one loopback server */
    return fed_client_fetch_well_known(ctx, "127.0.0.1", port, out, &err);
}

static int no_srv(void *ctx, const char *name, fed_srv_record *out, size_t max)
{
    (void)ctx, (void)name, (void)out, (void)max;
    return 0;
}

Test(fed_client, well_known_over_https_with_cache_control, .init = https_start, .fini = https_stop, .timeout = 30)
{
    snprintf(wk_body, sizeof wk_body, "{\"m.server\":\"127.0.0.1:%d\"}", port);
    fed_client *wk = client("", false, 1 << 20, NULL);
    fed_wk_http h;
    hs_err err;
    cr_assert_eq(fed_client_fetch_well_known(wk, "127.0.0.1", port, &h, &err), 0, "%s", err.msg);
    cr_expect_eq(h.status, 200);
    cr_expect_eq(h.max_age_ms, 120 * 1000);
    char name[256];
    cr_expect_eq(fed_well_known_parse(h.body, h.body_len, name, sizeof name, &err), 0, "%s", err.msg);
    free(h.body);

    /* Without Cache-Control, Expires gives the lifetime; a past date means none. */
    snprintf(wk_cache_name, sizeof wk_cache_name, "Expires");
    time_t later = time(NULL) + 300;
    strftime(wk_cache_value, sizeof wk_cache_value, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
    cr_assert_eq(fed_client_fetch_well_known(wk, "127.0.0.1", port, &h, &err), 0, "%s", err.msg);
    cr_expect(h.max_age_ms > 295 * 1000 && h.max_age_ms <= 300 * 1000, "Expires gave %lld ms", (long long)h.max_age_ms);
    free(h.body);
    snprintf(wk_cache_value, sizeof wk_cache_value, "Thu, 01 Jan 1970 00:00:01 GMT");
    cr_assert_eq(fed_client_fetch_well_known(wk, "127.0.0.1", port, &h, &err), 0, "%s", err.msg);
    cr_expect_eq(h.max_age_ms, 0);
    free(h.body);
    snprintf(wk_cache_name, sizeof wk_cache_name, "Cache-Control");
    snprintf(wk_cache_value, sizeof wk_cache_value, "public, max-age=120");

    /* A request to a name delegated through that well-known reaches the server with the
     * delegated name as Host, and the well-known is fetched once for both requests. */
    atomic_store(&wk_hits, 0);
    fed_resolver r = {.srv = no_srv, .well_known = loopback_wk, .ctx = wk};
    fed_client *c = client("", false, 1 << 20, &r);
    for (int i = 0; i < 2; i++) {
        hs_fed_out out = {.destination = "delegating.test", .method = "GET", .target = "/echo?a=%40b"};
        hs_fed_reply reply;
        cr_assert_eq(fed_client_request(c, &out, &reply, &err), 0, "%s", err.msg);
        cr_expect_eq(reply.status, 200);
        json_t *j = json_loads(reply.body, 0, NULL);
        cr_expect_str_eq(json_string_value(json_object_get(j, "host")), name);
        cr_expect_str_eq(json_string_value(json_object_get(j, "target")), "/echo?a=%40b");
        json_decref(j);
        hs_fed_reply_free(&reply);
    }
    cr_expect_eq(atomic_load(&wk_hits), 1, "well-known fetched %d times", atomic_load(&wk_hits));
    fed_client_free(c);
    fed_client_free(wk);
}

Test(fed_client, denylist_certificates_and_size_limit, .init = https_start, .fini = https_stop, .timeout = 30)
{
    char dest[64];
    snprintf(dest, sizeof dest, "127.0.0.1:%d", port);
    hs_fed_out out = {.destination = dest, .method = "GET", .target = "/echo"};
    hs_fed_reply reply;
    hs_err err;

    fed_client *c = client("", false, 1 << 20, NULL);
    cr_assert_eq(fed_client_request(c, &out, &reply, &err), 0, "%s", err.msg);
    cr_expect_eq(reply.status, 200);
    hs_fed_reply_free(&reply);
    fed_client_free(c);

    hs_config cfg;
    hs_config_defaults(&cfg);
    c = client(cfg.ip_range_denylist, false, 1 << 20, NULL);
    cr_expect_neq(fed_client_request(c, &out, &reply, &err), 0, "loopback reached with the default deny-list");
    cr_expect(strstr(err.msg, "ip_range_denylist") != NULL, "%s", err.msg);
    fed_client_free(c);

    c = client("", true, 1 << 20, NULL);
    cr_expect_neq(fed_client_request(c, &out, &reply, &err), 0, "self-signed certificate accepted");
    fed_client_free(c);

    c = client("", false, 16 * 1024, NULL);
    out.target = "/big";
    cr_expect_neq(fed_client_request(c, &out, &reply, &err), 0, "64 KiB read with a 16 KiB limit");
    cr_expect(strstr(err.msg, "larger than") != NULL || strstr(err.msg, "size") != NULL, "%s", err.msg);
    fed_client_free(c);

    /* The key endpoints are read only up to what a key answer may be, whatever the
     * general limit (media needs a large one). */
    c = client("", false, 50 << 20, NULL);
    out.target = "/_matrix/key/v2/server";
    cr_expect_neq(fed_client_request(c, &out, &reply, &err), 0, "2 MiB key response read");
    cr_expect(strstr(err.msg, "larger than 1048576") != NULL, "%s", err.msg);
    fed_client_free(c);
}

/* A well-known redirect is followed, but the new connection goes through the deny-list
 * again (here only the redirect's address is denied); and a well-known body is read
 * only up to what its parser accepts, whatever the client's general limit. */
Test(fed_client, well_known_redirect_rechecked_and_size_limited, .init = https_start, .fini = https_stop,
     .timeout = 30)
{
    fed_wk_http h;
    hs_err err;
    fed_client *c = client("127.0.0.2/32", false, 1 << 20, NULL);
    wk_mode = WK_REDIRECT;
    cr_expect_neq(fed_client_fetch_well_known(c, "127.0.0.1", port, &h, &err), 0, "redirect to a denied address");
    cr_expect(strstr(err.msg, "127.0.0.2") != NULL && strstr(err.msg, "ip_range_denylist") != NULL, "%s", err.msg);
    cr_expect_eq(atomic_load(&wk_hits), 1, "the first address was not asked");

    wk_mode = WK_HUGE;
    cr_expect_neq(fed_client_fetch_well_known(c, "127.0.0.1", port, &h, &err), 0, "128 KiB well-known read");
    cr_expect(strstr(err.msg, "larger than 65536") != NULL, "%s", err.msg);
    fed_client_free(c);
}
