/* hs_httpd: serves an hs_router over HTTP or HTTPS with libmicrohttpd.
 *
 * Threads: each listener owns `threads` worker threads (libmicrohttpd's internal
 * thread pool, epoll); a handler runs on the worker that read its request. The
 * listener enforces the body limit (413 M_TOO_LARGE, before reading a body whose
 * Content-Length is already too big) and the connection limit, and records metrics. */
#ifndef HS_HTTPD_H
#define HS_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_http.h"
#include "server-core/hs_metrics.h"

typedef struct hs_httpd hs_httpd;

typedef struct hs_httpd_config {
    const char *name;          /* "client", "federation": log and metrics label (static) */
    const char *bind_address;  /* numeric IPv4 or IPv6 address */
    int port;                  /* 0 = ephemeral */
    const char *tls_cert_pem;  /* both NULL: plain HTTP */
    const char *tls_key_pem;
    int threads;
    int max_connections;
    int64_t max_body_bytes;
    /* Requests whose raw target starts with upload_prefix (NULL: none) may carry bodies up
     * to max(max_body_bytes, upload_max_body_bytes): media uploads are far bigger than any
     * JSON body, and one shared limit would either refuse files or accept huge JSON. */
    const char *upload_prefix;
    int64_t upload_max_body_bytes;
    hs_router *router;         /* borrowed; must outlive the listener */
    hs_metrics *metrics;       /* borrowed; may be NULL */
} hs_httpd_config;

/* Binds and starts serving. Returns the listener, or NULL with a reason in err (bad
 * address, port in use, TLS material rejected). */
hs_httpd *hs_httpd_start(const hs_httpd_config *cfg, char *err, size_t errlen);

/* The port actually bound (useful with port 0). */
int hs_httpd_port(const hs_httpd *h);

/* Requests being processed right now on this listener. */
int64_t hs_httpd_in_flight(const hs_httpd *h);

/* Stops accepting new connections; requests already received still complete. */
void hs_httpd_quiesce(hs_httpd *h);

/* Stops the worker threads, closes every connection and frees the listener. NULL is
 * allowed. Remove the upgrade hook first and close every upgraded connection. */
void hs_httpd_stop(hs_httpd *h);

/* A connection taken over by an upgrade hook (opaque). */
typedef struct hs_upgraded hs_upgraded;

/* A hook that takes connections out of HTTP with an HTTP/1.1 Upgrade (e.g. WebSocket)
 * on one path. The listener knows nothing of the protocol behind it.
 *   check: runs on a worker for every GET whose path (query ignored) equals `path`. To
 *          take the connection it sets resp->status to 101 and adds the headers to send
 *          (at least Upgrade; libmicrohttpd adds Connection: Upgrade); any other status
 *          is sent as an ordinary response (e.g. 400 for a malformed upgrade request).
 *   adopt: runs on a worker once the 101 has been sent. fd is the connection's socket;
 *          extra (valid during the call only) holds bytes the client sent after its
 *          request; remote is its address. From then on the hook owns the connection and
 *          ends it with hs_httpd_upgraded_close(conn) exactly once, never close(fd).
 * Both run with the hook's lock held: they must not call hs_httpd_set_upgrade. */
typedef struct hs_httpd_upgrade {
    const char *path;          /* e.g. "/ws"; must outlive the hook */
    void (*check)(void *ud, const hs_request *req, hs_response *resp);
    void (*adopt)(void *ud, hs_upgraded *conn, int fd, const uint8_t *extra, size_t extra_len,
                  const char *remote);
    void *ud;
} hs_httpd_upgrade;

/* Installs (u non-NULL, copied) or removes (NULL) the upgrade hook of a plain-HTTP
 * listener, from any thread. Removing waits for hook callbacks in progress; afterwards
 * none runs, and a 101 already queued is closed instead of adopted. */
void hs_httpd_set_upgrade(hs_httpd *h, const hs_httpd_upgrade *u);

/* Ends an adopted connection (libmicrohttpd closes its socket). Any thread; once. */
void hs_httpd_upgraded_close(hs_upgraded *conn);

#endif
