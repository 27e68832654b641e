/* fed_discovery: "Resolving server names" from the Server-Server API - which host and
 * port to connect to for a server name, which Host header and which TLS name to use:
 *   1. IP literal, with or without port  -> that address (port or 8448)
 *   2. hostname with an explicit port    -> hostname:port
 *   3. https://hostname/.well-known/matrix/server names a delegated server; then for it
 *      IP literal / explicit port -> direct; SRV _matrix-fed._tcp, then _matrix._tcp;
 *      else delegated:8448 (Host and TLS name: the delegated hostname)
 *   4. SRV _matrix-fed._tcp.hostname, 5. SRV _matrix._tcp.hostname
 *   6. hostname:8448
 * Well-known answers are cached: successes for their Cache-Control max-age (default
 * 24 h, at most 48 h), failures for an hour, as the spec recommends.
 *
 * DNS and HTTPS come from a resolver function table, so the order and caching rules run
 * in unit tests without a network (there is no DNS in CI). The default table uses
 * fed_srv_lookup and fed_client's well-known fetch. Address resolution (A/AAAA) is not
 * done here: the connecting code resolves `connect_host` and applies the deny-list to
 * the result. */
#ifndef FED_DISCOVERY_H
#define FED_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "federation-side/fed_srv.h"
#include "server-core/hs_canonical_json.h"

#define FED_WELL_KNOWN_MAX_BYTES (64 * 1024)
#define FED_WELL_KNOWN_DEFAULT_TTL_MS (24LL * 3600 * 1000)
#define FED_WELL_KNOWN_MAX_TTL_MS (48LL * 3600 * 1000)
#define FED_WELL_KNOWN_ERROR_TTL_MS (3600LL * 1000)
#define FED_DISCOVERY_CACHE_MAX 1024  /* server names whose well-known answer we remember */

/* One HTTP answer to GET https://host/.well-known/matrix/server. */
typedef struct fed_wk_http {
    long status;          /* 0 when no HTTP answer came (DNS, connect, TLS, timeout) */
    char *body;           /* malloc'd (the fetcher allocates, discovery frees), may be NULL */
    size_t body_len;
    int64_t max_age_ms;   /* Cache-Control max-age, else Expires; -1 when neither; 0: do not cache */
} fed_wk_http;

/* The seam for DNS and HTTPS. Both functions must be thread-safe. */
typedef struct fed_resolver {
    /* SRV records of `name`; returns their count (0: none), -1 on resolver failure. */
    int (*srv)(void *ctx, const char *name, fed_srv_record *out, size_t max);
    /* Fetches the well-known document of `hostname` (port 443). Returns 0 with *out
     * filled (any status), -1 when nothing was fetched (then out->status is 0). */
    int (*well_known)(void *ctx, const char *hostname, fed_wk_http *out);
    void *ctx;
} fed_resolver;

/* Where to connect for a server name. */
typedef struct fed_target {
    char connect_host[256];  /* hostname or IP literal (no brackets) to resolve/connect */
    int port;
    char host_header[300];   /* the Host header: the server name, or the delegated name */
    char tls_name[256];      /* SNI and certificate name (hostname without port) */
    bool ip_literal;         /* tls_name is an IP address: no SNI */
} fed_target;

typedef struct fed_discovery fed_discovery;

/* Creates a resolver context with an empty well-known cache. `r` is copied. Returns
 * NULL on allocation failure. */
fed_discovery *fed_discovery_new(const fed_resolver *r);

/* Frees it. NULL is allowed. */
void fed_discovery_free(fed_discovery *d);

/* Resolves `server_name` at `now_ms` as described above. Returns 0 and fills *out, or
 * -1 with err set when the name is not a valid server name. (A server that cannot be
 * found still resolves to hostname:8448; failing to connect is the caller's error.) */
int fed_discover(fed_discovery *d, const char *server_name, int64_t now_ms, fed_target *out, hs_err *err);

/* Parses a well-known body: a JSON object (at most FED_WELL_KNOWN_MAX_BYTES) whose
 * "m.server" is a valid server name, copied into `out`. Returns 0, or -1 with err. */
int fed_well_known_parse(const char *body, size_t len, char *out, size_t cap, hs_err *err);

/* Splits a server name into host (IPv6 without brackets) and port (-1 when absent) and
 * says whether the host is an IP literal. Returns 0, or -1 when it is not a server name. */
int fed_split_server_name(const char *server_name, char *host, size_t cap, int *port, bool *ip_literal);

#endif
