/* hs_http: the transport-neutral HTTP model. A request (method, raw target, decoded
 * path parameters and query, headers, body) goes into a router; a response (status,
 * headers, body) comes out. libmicrohttpd (hs_httpd) is one transport; HTTP/1.1 over
 * QUIC streams on the P2P side is another, serving the very same route tables.
 * Handlers never see the transport. */
#ifndef HS_HTTP_H
#define HS_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_HTTP_MAX_PARAMS 8
#define HS_HTTP_MAX_RESP_HEADERS 16
#define HS_HTTP_MAX_QUERY 64
#define HS_HTTP_MAX_TARGET 8192

typedef struct hs_kv {
    char *name;
    char *value;
} hs_kv;

/* ---- deferred answers (long-polling) ------------------------------------------------
 * A transport that can park a request without holding a worker thread (hs_httpd, with
 * libmicrohttpd's suspend/resume) gives each request an hs_wake. A handler that has
 * nothing to say yet may then leave the response status at 0 and set resp->deferral:
 * the transport parks the request; whoever the handler registered the wake with calls
 * hs_wake_fire later (from any thread); the transport then calls deferral.answer on a
 * worker, which either fills the response or leaves status 0 to be parked again.
 * deferral.release runs exactly once when the request ends, whatever happened. A
 * transport without the ability leaves req->wake NULL and handlers must answer at once. */
typedef struct hs_wake hs_wake;
struct hs_response;

typedef struct hs_deferral {
    void (*answer)(void *state, struct hs_response *resp);
    void (*release)(void *state);
    void *state;
} hs_deferral;

/* For transports: a wake that calls resume(ctx) when fired while the request is parked.
 * NULL when out of memory. Free with hs_wake_free once the request has ended. */
hs_wake *hs_wake_new(void (*resume)(void *ctx), void *ctx);
void hs_wake_free(hs_wake *w);

/* For transports, right after parking the request: returns true when the wake was
 * already fired since the last arming (the caller must resume at once), else marks the
 * request parked so the next hs_wake_fire resumes it. */
bool hs_wake_arm(hs_wake *w);

/* Resumes the parked request (or, if it is not parked yet, makes the next hs_wake_arm
 * return true). Thread-safe; never blocks on the request itself. */
void hs_wake_fire(hs_wake *w);

typedef struct hs_request {
    const char *method;
    const char *target;          /* raw request target as received, with query ("/a%3Ab?x=1") */
    char *path;                  /* raw path part of target, still percent-encoded (owned) */
    hs_kv query[HS_HTTP_MAX_QUERY]; /* decoded, in order; repeated names kept (owned) */
    size_t n_query;
    const hs_kv *headers;        /* as received; lookups are case-insensitive */
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    const char *remote_addr;     /* "127.0.0.1" or "[::1]" or a transport's peer name */
    hs_kv params[HS_HTTP_MAX_PARAMS]; /* decoded path parameters, set by the router (owned) */
    size_t n_params;
    const char *route;           /* matched route pattern, for metrics; set by the router */
    hs_wake *wake;               /* set by transports that can defer answers (see above); else NULL */
} hs_request;

typedef struct hs_response {
    int status;                  /* 0 with deferral.answer set: not answered yet (see above) */
    hs_kv headers[HS_HTTP_MAX_RESP_HEADERS]; /* owned */
    size_t n_headers;
    char *body;                  /* owned */
    size_t body_len;
    /* A body read from a file instead (hs_response_file): body_file_len bytes of
     * body_fd from offset 0, owned (closed by hs_response_clear unless a transport took
     * it). Only meaningful while has_body_file; body is then NULL. */
    bool has_body_file;
    int body_fd;
    uint64_t body_file_len;
    hs_deferral deferral;        /* owned: released by hs_response_clear unless a transport took it */
} hs_response;

/* Splits `target` into path and decoded query into `req` (which keeps a pointer to
 * target). Returns 0, or -1 if the target is not an origin-form path, is longer than
 * HS_HTTP_MAX_TARGET, has more than HS_HTTP_MAX_QUERY parameters or bad %-escapes.
 * Free with hs_request_clear. */
int hs_request_parse_target(hs_request *req, const char *target);

/* Frees what hs_request_parse_target and the router allocated inside `req`. */
void hs_request_clear(hs_request *req);

/* Case-insensitive header lookup; NULL if absent. Points into the request. */
const char *hs_request_header(const hs_request *req, const char *name);

/* First query value for `name`, decoded; NULL if absent. */
const char *hs_request_query(const hs_request *req, const char *name);

/* Decoded path parameter `name` of the matched route; NULL if absent. */
const char *hs_request_param(const hs_request *req, const char *name);

/* Parses the body as a JSON object. Returns a new reference, or NULL with a message in
 * err when the body is not JSON or not an object (caller answers 400 M_NOT_JSON). */
json_t *hs_request_json(const hs_request *req, char *err, size_t errlen);

/* Adds a response header (copied). Silently ignores headers past the limit, which is
 * a programming error caught by an assert in debug builds. */
void hs_response_header(hs_response *resp, const char *name, const char *value);

/* Sets status and a JSON body (Content-Type application/json). Steals `body`. */
void hs_response_json(hs_response *resp, int status, json_t *body);

/* Sets status and a Matrix error body {"errcode": ..., "error": ...}. */
void hs_response_error(hs_response *resp, int status, const char *errcode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets status and a body of the given content type (copied). */
void hs_response_bytes(hs_response *resp, int status, const char *content_type, const void *data, size_t len);

/* Sets status and a body of `len` bytes read from the open file `fd` (from offset 0;
 * the response owns fd from now on), so a large file is sent without being held in
 * memory; the caller adds Content-Type. Transports stream it (hs_httpd); one that cannot
 * sees body NULL. */
void hs_response_file(hs_response *resp, int status, int fd, uint64_t len);

/* Frees the headers, body and any deferral still held (calling its release) and zeroes
 * `resp`. */
void hs_response_clear(hs_response *resp);

/* ---- router ---------------------------------------------------------------------- */

typedef void (*hs_handler)(const hs_request *req, hs_response *resp, void *ctx);

typedef struct hs_router hs_router;

typedef struct hs_router_options {
    bool cors;   /* add the spec's CORS headers to every response and answer OPTIONS */
} hs_router_options;

/* Creates an empty routing table. Returns NULL on allocation failure. */
hs_router *hs_router_new(hs_router_options opts);

/* Frees the table. NULL is allowed. */
void hs_router_free(hs_router *r);

/* Registers `method` on `pattern`. Patterns are literal segments and {name} segments
 * ("/_matrix/client/v3/rooms/{roomId}/send/{type}/{txnId}"); a final {name...}
 * segment captures the rest of the path. Returns 0, or -1 on a malformed pattern or
 * allocation failure. */
int hs_router_add(hs_router *r, const char *method, const char *pattern, hs_handler fn, void *ctx);

/* Routes `req` and fills `resp`: the handler's answer; 404 M_UNRECOGNIZED for an unknown
 * path; 405 M_UNRECOGNIZED (with Allow) for a known path and wrong method; CORS headers
 * and OPTIONS answers when enabled. Sets req->params and req->route. */
void hs_router_dispatch(hs_router *r, hs_request *req, hs_response *resp);

/* One Client-Server endpoint: method and path below the API prefix ("/login"). */
typedef struct hs_client_route {
    const char *method;
    const char *path;
    hs_handler fn;
} hs_client_route;

/* Registers each route under /_matrix/client/v3 and under the legacy /_matrix/client/r0
 * that older clients still call. Returns 0, or -1 if any registration failed. */
int hs_router_add_client_routes(hs_router *r, const hs_client_route *routes, size_t n, void *ctx);

/* Number of registered routes, and the pattern of route i (for metrics labels). */
size_t hs_router_count(const hs_router *r);
const char *hs_router_pattern(const hs_router *r, size_t i);

#endif
