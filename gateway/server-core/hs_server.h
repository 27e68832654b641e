/* hs_server: the running homeserver. It owns the configuration, the store, the signing
 * key, the metrics registry, the two route tables and the two listeners.
 *
 * Thread model (see docs/architecture.md): the main thread opens, starts, then waits
 * for a signal and shuts down. Each listener has cfg.threads workers that run the
 * handlers; handlers share the store (serialized SQLite connection) and the metrics
 * (mutex). Nothing else runs threads yet. */
#ifndef HS_SERVER_H
#define HS_SERVER_H

#include <time.h>

#include "server-core/hs_config.h"
#include "server-core/hs_http.h"
#include "server-core/hs_httpd.h"
#include "server-core/hs_metrics.h"
#include "server-core/hs_notify.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_store.h"

typedef struct hs_server {
    hs_config cfg;
    hs_store *store;
    hs_signing_key signing_key;
    hs_metrics *metrics;
    struct timespec started;     /* CLOCK_MONOTONIC */
    hs_router *client_router;    /* CORS on */
    hs_router *federation_router;
    hs_httpd *client;
    hs_httpd *federation;
    struct hs_api_accounts *accounts; /* hs_api_accounts.c: rate limits, UIA sessions, nonces */
    hs_notifier *notifier;       /* wakes long-polling readers when anything is written */
    struct hs_media_waits *media_waits; /* hs_api_media.c: downloads parked until their upload */
    struct hs_media_fetches *media_fetches; /* hs_api_media.c: remote media fetches in progress */
    struct hs_api_sync *sync;    /* hs_api_sync.c: typing table, long-poll budget */
    struct hs_fed *fed;          /* hs_fed.c: key lookup, X-Matrix, outbound transport */
    struct hs_notary *notary;    /* hs_notary.c: the notary's key fetch threads */
} hs_server;

/* Opens the store (migrating it), claims the server name, loads the signing key and
 * registers the built-in routes on both tables. Nothing listens yet. Returns 0, or -1
 * with a reason in err; on failure everything opened is closed again. */
int hs_server_open(hs_server *srv, const hs_config *cfg, char *err, size_t errlen);

/* Starts the client listener (plain HTTP) and the federation listener (HTTPS with the
 * given PEM certificate chain and key). Returns 0, or -1 with a reason in err. */
int hs_server_listen(hs_server *srv, const char *tls_cert_pem, const char *tls_key_pem, char *err, size_t errlen);

/* Requests in progress on both listeners. */
int64_t hs_server_in_flight(const hs_server *srv);

/* Graceful stop: stop accepting, let in-flight requests finish for up to
 * cfg.shutdown_grace_seconds, stop the listeners, close the store. Safe on a server
 * that was only opened. */
void hs_server_close(hs_server *srv);

/* Registers the discovery, health, metrics and version endpoints (hs_api_basic.c). */
int hs_api_basic_register(hs_server *srv);

#endif
