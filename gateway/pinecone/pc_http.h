/* pc_http: HTTP/1.1 in cleartext over QUIC bidirectional streams (spec §8.5), the way
 * Dendrite P2P nodes talk federation, on top of pc_session and pc_http_msg.
 *
 * Server side: every stream the peer opens (on any connection of the configured ALPN) is
 * read as a sequence of requests (keep-alive); each complete request goes to the
 * handler, which answers with pc_http_respond — at once or later (the request stays
 * valid until then). Responses carry Content-Length; the stream is finished (FIN) after
 * a response to a request that asked for `Connection: close` or HTTP/1.0, or once the
 * peer finished its side with nothing pending. Go's client never half-closes, so requests
 * are answered as soon as they are complete. Errors: 400 malformed, 431 headers too
 * large, 413 body too large, each followed by FIN.
 *
 * Client side: pc_http_request opens a new stream to a key, sends the request with
 * `Host: <64-hex key>`, WITHOUT `Connection: close` and without FIN, reads the response
 * up to its Content-Length (or chunked end, or FIN), and only then sends FIN. This is the
 * order that lets Go's net/http over quic-go both keep the request context alive and
 * return stream credit (quic-over-pinecone-notes.md pitfall 5). If the connection fails
 * before any response byte arrived (the peer restarted and reset it, or it was
 * replaced), the request is retried once on a new connection; if its connection's
 * handshake timed out (a node that just joined may have no route for several seconds),
 * it never left and is sent again on new connections until its own deadline. A request also fails after `request_timeout_ms`,
 * because a Go server that rejects our key just ignores the connection (pitfall 4).
 *
 * This library does not include server-core (layering): its request/response types are
 * its own; p2p-side adapts them to hs_http. Sans-I/O like pc_session; not thread-safe. */
#ifndef PC_HTTP_H
#define PC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_http_msg.h"
#include "pinecone/pc_session.h"

#define PC_HTTP_DEFAULT_MAX_HEADER (64u * 1024u)
#define PC_HTTP_DEFAULT_MAX_REQUEST_BODY (16u * 1024u * 1024u)
#define PC_HTTP_DEFAULT_MAX_RESPONSE_BODY (64u * 1024u * 1024u)
#define PC_HTTP_DEFAULT_TIMEOUT_MS 30000
/* Request bytes held by the server side at once, over all streams and peers: what peers
 * sent that is buffered, being parsed, or waiting for its answer. */
#define PC_HTTP_DEFAULT_MAX_BUFFERED (64u * 1024u * 1024u)

typedef struct pc_http pc_http;
typedef struct pc_http_exchange pc_http_exchange;

/* A request as the server handler sees it. */
typedef struct pc_http_request {
    const uint8_t *peer;             /* the authenticated Pinecone key of the sender */
    const char *alpn;
    const pc_http_msg *msg;          /* method, target, headers, body */
} pc_http_incoming;

/* Called for each complete request. Must lead to exactly one pc_http_respond(ex, ...). */
typedef void (*pc_http_handler)(pc_http_exchange *ex, const pc_http_incoming *req, void *user_data);

/* Client completion: err PC_OK with the response (valid during the call only), or an
 * error (PC_ERR_TIMEOUT, PC_ERR_CLOSED, PC_ERR_TLS, PC_ERR_PEER_KEY, PC_ERR_HTTP,
 * PC_ERR_LIMIT, PC_ERR_NO_ROUTE...) with resp NULL. */
typedef void (*pc_http_done)(int err, const pc_http_msg *resp, void *user_data);

typedef struct pc_http_config {
    pc_session *session;
    const char *alpn;                /* for requests we send (e.g. "matrix") */
    pc_http_handler handler;         /* NULL: peer-opened streams are refused (reset) */
    void *handler_data;
    size_t max_header_bytes;         /* 0: defaults above */
    size_t max_request_body;
    size_t max_response_body;
    size_t max_buffered;             /* 0: PC_HTTP_DEFAULT_MAX_BUFFERED */
    uint64_t request_timeout_ms;
} pc_http_config;

/* Returns PC_OK and *out, PC_ERR_INVALID (no session or ALPN) or PC_ERR_NOMEM. */
int pc_http_new(pc_http **out, const pc_http_config *cfg);

/* Fails pending client requests with PC_ERR_CLOSED (their callbacks run), orphans
 * pending exchanges (pc_http_respond on them then only frees them). NULL is allowed.
 * Call before pc_session_free. */
void pc_http_free(pc_http *h);

/* Wire these to the pc_session callbacks of the same names. */
void pc_http_stream_opened(pc_http *h, pc_stream *st);
void pc_http_stream_data(pc_http *h, pc_stream *st, const uint8_t *data, size_t len, bool fin);
void pc_http_stream_closed(pc_http *h, pc_stream *st, int err);

/* Sends a request to `key`. headers: extra headers (Host and Content-Length are added).
 * `done` runs exactly once, never from inside this call. Returns PC_OK, or
 * PC_ERR_INVALID / PC_ERR_NOMEM (then done never runs). */
int pc_http_request(pc_http *h, const uint8_t key[PC_KEY_LEN], const char *method, const char *target,
                    const pc_http_header *headers, size_t n_headers, const uint8_t *body, size_t body_len,
                    uint64_t now_ns, pc_http_done done, void *user_data);

/* Answers a request. headers: extra headers (Content-Length, and Connection when the
 * stream ends, are added). The exchange is freed. Returns PC_OK, or PC_ERR_CLOSED when
 * the stream went away meanwhile (nothing is sent). */
int pc_http_respond(pc_http_exchange *ex, int status, const pc_http_header *headers, size_t n_headers,
                    const uint8_t *body, size_t body_len);

/* Earliest request deadline (UINT64_MAX: none), and the call that enforces it. */
uint64_t pc_http_next_deadline(const pc_http *h);
void pc_http_handle_timeout(pc_http *h, uint64_t now_ns);

/* Requests in flight and streams being served. */
size_t pc_http_active(const pc_http *h);

/* Request bytes the server side holds now (bounded by max_buffered: a stream whose data
 * would go past it is reset). */
size_t pc_http_buffered(const pc_http *h);

/* The reason phrase for a status ("OK", "Not Found"; "Unknown" otherwise). */
const char *pc_http_reason(int status);

#endif
