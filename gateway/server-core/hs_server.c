/* hs_server: lifecycle of the homeserver. Opening and listening are separate so
 * commands and tests can open a server (store, key, routes) without sockets, and so
 * the caller (gateway wiring) can load TLS material with its own library. */
#include "server-core/hs_server.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_api_accounts.h"
#include "server-core/hs_api_backup.h"
#include "server-core/hs_api_directory.h"
#include "server-core/hs_api_keys.h"
#include "server-core/hs_api_media.h"
#include "server-core/hs_api_misc.h"
#include "server-core/hs_api_push.h"
#include "server-core/hs_api_rooms.h"
#include "server-core/hs_api_sync.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_media.h"
#include "server-core/hs_fed_public_rooms.h"
#include "server-core/hs_media_fetches.h"
#include "server-core/hs_media_wait.h"
#include "server-core/hs_notary.h"
#include "server-core/hs_log.h"

int hs_server_open(hs_server *srv, const hs_config *cfg, char *err, size_t errlen)
{
    memset(srv, 0, sizeof *srv);
    srv->cfg = *cfg;
    clock_gettime(CLOCK_MONOTONIC, &srv->started);
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    if (hs_store_open(cfg->database_path, m, n, &srv->store, err, errlen) != 0) return -1;
    if (hs_store_claim_server_name(srv->store, cfg->server_name, err, errlen) != 0) goto fail;
    if (hs_signing_key_load(cfg->signing_key_path, &srv->signing_key, err, errlen) != 0) goto fail;
    srv->metrics = hs_metrics_new();
    srv->notifier = hs_notifier_new();
    srv->client_router = hs_router_new((hs_router_options){.cors = true});
    srv->federation_router = hs_router_new((hs_router_options){.cors = false});
    if (!srv->metrics || !srv->notifier || !srv->client_router || !srv->federation_router) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Every area registers its own routes. The router tries routes in registration order,
     * so this order is part of the routing where two areas' patterns overlap. */
    static const struct {
        int (*fn)(hs_server *srv);
        const char *what;
    } areas[] = {
        {hs_api_sync_register, "sync"},
        {hs_api_media_register, "media"},
        {hs_api_push_register, "push rules"},
        {hs_api_basic_register, "discovery, health and metrics"},
        {hs_api_accounts_register, "accounts"},
        {hs_api_rooms_register, "rooms"},
        {hs_api_backup_register, "key backup"},
        {hs_api_keys_register, "E2EE keys"},
        {hs_fed_register, "federation"},
        {hs_fed_media_register, "federation media"},
        {hs_fed_public_rooms_register, "federation public room directory"},
        {hs_api_directory_register, "directory, profile and capabilities"},
        {hs_api_misc_register, "tags, search, upgrades and other extras"},
    };
    for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++) {
        if (areas[i].fn(srv) != 0) {
            snprintf(err, errlen, "cannot register the %s routes", areas[i].what);
            goto fail;
        }
    }
    return 0;
fail:
    hs_server_close(srv);
    return -1;
}

int hs_server_listen(hs_server *srv, const char *tls_cert_pem, const char *tls_key_pem, char *err, size_t errlen)
{
    hs_httpd_config c = {
        .name = "client",
        .bind_address = srv->cfg.client.bind_address,
        .port = srv->cfg.client.port,
        .threads = srv->cfg.threads,
        .max_connections = srv->cfg.max_connections,
        .max_body_bytes = srv->cfg.max_request_body_bytes,
        .upload_prefix = HS_MEDIA_UPLOAD_PREFIX,
        .upload_max_body_bytes = srv->cfg.media_max_upload_bytes,
        .router = srv->client_router,
        .metrics = srv->metrics,
    };
    srv->client = hs_httpd_start(&c, err, errlen);
    if (!srv->client) return -1;
    hs_httpd_config f = c;
    f.name = "federation";
    f.bind_address = srv->cfg.federation.bind_address;
    f.port = srv->cfg.federation.port;
    f.tls_cert_pem = tls_cert_pem;
    f.tls_key_pem = tls_key_pem;
    f.router = srv->federation_router;
    f.upload_prefix = NULL; /* no uploads over federation */
    srv->federation = hs_httpd_start(&f, err, errlen);
    if (!srv->federation) {
        hs_httpd_stop(srv->client);
        srv->client = NULL;
        return -1;
    }
    return 0;
}

int64_t hs_server_in_flight(const hs_server *srv)
{
    int64_t n = 0;
    if (srv->client) n += hs_httpd_in_flight(srv->client);
    if (srv->federation) n += hs_httpd_in_flight(srv->federation);
    return n;
}

void hs_server_close(hs_server *srv)
{
    if (srv->client) hs_httpd_quiesce(srv->client);
    if (srv->federation) hs_httpd_quiesce(srv->federation);
    hs_api_sync_stop(srv->sync); /* waiting /sync requests answer now instead of at their timeout */
    hs_media_waits_stop(srv->media_waits); /* parked downloads answer now, not at their timeout */
    hs_media_fetches_stop(srv->media_fetches); /* its thread uses the transport and the store */
    /* Poll rather than wait on a condition: shutdown happens once, and 10 ms steps keep
     * the code free of another synchronisation object shared with the workers. */
    int waited_ms = 0;
    while (hs_server_in_flight(srv) > 0 && waited_ms < srv->cfg.shutdown_grace_seconds * 1000) {
        usleep(10 * 1000);
        waited_ms += 10;
    }
    if (hs_server_in_flight(srv) > 0)
        hs_warn("server", "%lld requests still running after %d s; closing them",
                (long long)hs_server_in_flight(srv), srv->cfg.shutdown_grace_seconds);
    hs_httpd_stop(srv->client);
    hs_httpd_stop(srv->federation);
    hs_router_free(srv->client_router);
    hs_router_free(srv->federation_router);
    hs_metrics_free(srv->metrics);
    hs_notifier_free(srv->notifier);
    hs_api_accounts_free(srv->accounts);
    hs_api_sync_free(srv->sync);
    hs_notary_free(srv->notary); /* joins fetch threads that use srv->fed and the store */
    hs_fed_free(srv->fed);
    hs_media_waits_free(srv->media_waits);
    hs_media_fetches_free(srv->media_fetches);
    hs_store_close(srv->store);
    memset(srv, 0, sizeof *srv);
}
