/* hs_api_basic: the endpoints every homeserver answers before anything else -
 * client versions, federation version, .well-known delegation, health and metrics.
 * The well-known answers are derived from the config the way operators expect:
 * explicit values win, otherwise they follow server_name and the listener ports. */
#include <stdio.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "server-core/hs_strbuf.h"

/* The spec versions this server implements endpoints of. Clients pick features by
 * these, so the list grows only with the implementation. */
static const char *const client_versions[] = {"r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6",
                                               "v1.7",   "v1.8", "v1.9", "v1.10", "v1.11", "v1.12"};

static void client_versions_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    json_t *v = json_array();
    for (size_t i = 0; i < sizeof client_versions / sizeof client_versions[0]; i++)
        json_array_append_new(v, json_string(client_versions[i]));
    hs_response_json(resp, 200, json_pack("{s:o, s:{}}", "versions", v, "unstable_features"));
}

static void federation_version_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    hs_response_json(resp, 200, json_pack("{s:{s:s, s:s}}", "server", "name", "pinegate", "version", PG_VERSION));
}

/* host part of a server name: strips ":port" (and keeps "[v6]" brackets). */
static void server_host(const char *server_name, char *out, size_t len)
{
    snprintf(out, len, "%s", server_name);
    char *colon = strrchr(out, ':');
    char *bracket = strrchr(out, ']');
    if (colon && (!bracket || colon > bracket)) *colon = '\0';
}

static void well_known_server_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    hs_server *srv = ctx;
    char target[300];
    if (srv->cfg.well_known_server[0]) {
        snprintf(target, sizeof target, "%s", srv->cfg.well_known_server);
    } else {
        char host[256];
        server_host(srv->cfg.server_name, host, sizeof host);
        snprintf(target, sizeof target, "%s:%d", host,
                 srv->federation ? hs_httpd_port(srv->federation) : srv->cfg.federation.port);
    }
    hs_response_json(resp, 200, json_pack("{s:s}", "m.server", target));
}

static void well_known_client_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    hs_server *srv = ctx;
    char base[600];
    if (srv->cfg.public_baseurl[0]) {
        snprintf(base, sizeof base, "%s", srv->cfg.public_baseurl);
    } else {
        char host[256];
        server_host(srv->cfg.server_name, host, sizeof host);
        snprintf(base, sizeof base, "http://%s:%d", host, srv->client ? hs_httpd_port(srv->client) : srv->cfg.client.port);
    }
    size_t n = strlen(base);
    if (n > 0 && base[n - 1] == '/') base[n - 1] = '\0'; /* the spec's example has no trailing slash */
    hs_response_json(resp, 200, json_pack("{s:{s:s}}", "m.homeserver", "base_url", base));
}

static void health_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    hs_server *srv = ctx;
    if (hs_store_ping(srv->store) != 0) {
        hs_response_bytes(resp, 503, "text/plain; charset=utf-8", "database unavailable\n", 21);
        return;
    }
    hs_response_bytes(resp, 200, "text/plain; charset=utf-8", "OK", 2);
}

static void metrics_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    hs_server *srv = ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    hs_metrics_gauges g = {
        .database_size_bytes = hs_store_size_bytes(srv->store),
        .uptime_seconds = (double)(now.tv_sec - srv->started.tv_sec) +
                          (double)(now.tv_nsec - srv->started.tv_nsec) / 1e9,
        .requests_in_flight = hs_server_in_flight(srv),
    };
    char *text = hs_metrics_render(srv->metrics, &g);
    if (!text) {
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return;
    }
    resp->status = 200;
    resp->body = text;
    resp->body_len = strlen(text);
    hs_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

int hs_api_basic_register(hs_server *srv)
{
    hs_router *c = srv->client_router, *f = srv->federation_router;
    int rc = 0;
    rc |= hs_router_add(c, "GET", "/_matrix/client/versions", client_versions_get, srv);
    rc |= hs_router_add(f, "GET", "/_matrix/federation/v1/version", federation_version_get, srv);
    hs_router *both[] = {c, f};
    for (int i = 0; i < 2; i++) {
        rc |= hs_router_add(both[i], "GET", "/.well-known/matrix/server", well_known_server_get, srv);
        rc |= hs_router_add(both[i], "GET", "/.well-known/matrix/client", well_known_client_get, srv);
        rc |= hs_router_add(both[i], "GET", "/health", health_get, srv);
    }
    /* Metrics only on the client listener, which binds to loopback by default: the
     * federation port faces the internet. */
    rc |= hs_router_add(c, "GET", "/metrics", metrics_get, srv);
    return rc ? -1 : 0;
}
