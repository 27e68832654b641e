/* pc_node: a standalone Pinecone node: one pc_router driven by real sockets (pc_tcp, with
 * TCP and WebSocket links; pc_multicast beacons when asked) and
 * a real clock in one poll loop, with an optional manhole HTTP listener and an optional
 * ping client. The loop sleeps until the earliest of the router's next deadline, the
 * transport's timers and the ping schedule.
 *
 * Clock: `now` is Unix milliseconds at start plus the CLOCK_MONOTONIC time elapsed since,
 * so it never jumps backwards yet looks like Go's Unix-ms sequence numbers.
 *
 * Ping traffic is pinegate-specific test traffic, NOT understood by Go nodes. Payload
 * (21 bytes, inside an ordinary traffic frame):
 *     "pgping\0\0" (8 bytes) | kind (1: 0 = ping, 1 = pong) | seq (uint32 BE)
 *     | sender's monotonic time in microseconds (uint64 BE, echoed unchanged in the pong)
 * Every node answers pings from anyone with a pong to the source key; other payloads are
 * ignored. A pinging node sends one ping per second, starting 1 s after its first peering
 * is up, and stops after `count` pings plus 2 s for late replies (or once all replied).
 *
 * Sessions: every node runs one QUIC endpoint (pc_session) on its traffic and HTTP over
 * its streams (pc_http): with `http_serve` it serves that directory's files, otherwise it
 * answers 404. Traffic that is not ping/pong goes to the endpoint; the router callback
 * only queues it (bounded, PC_NODE_MAX_DATAGRAMS), the loop feeds it in. With `http_get`
 * the node fetches a path from a key over sessions (starting 1 s after its first peering
 * is up), writes the body of a single request to `body_out`, and stops when all requests
 * are done.
 *
 * Adopted links: another server in the same process (the homeserver's GET /ws) may hand
 * the node WebSocket connections it has already upgraded (pc_node_adopt_ws, from any
 * thread); they wait in a small locked queue, an eventfd wakes the loop, and the loop
 * turns them into links (pc_tcp_adopt_ws). */
#ifndef PC_NODE_H
#define PC_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pinecone/pc_wire.h"

#define PC_PING_LEN 21
#define PC_PING_INTERVAL 1000  /* ms */
#define PC_PING_LINGER 2000    /* ms to wait for replies after the last ping */
#define PC_PING_MAX_COUNT 100000
#define PC_NODE_MAX_PONGS 64   /* pong replies waiting to be sent */
#define PC_NODE_MAX_DATAGRAMS 1024 /* session datagrams waiting to be fed in (~1.5 MB) */
#define PC_NODE_DEFAULT_ALPN "matrix"
#define PC_NODE_HTTP_TIMEOUT 30000 /* ms per --http-get request by default */
#define PC_NODE_HTTP_MAX_COUNT 1000000
#define PC_NODE_MAX_ADOPT 16   /* handed-over connections waiting for the loop */

typedef struct pc_node pc_node;

typedef struct pc_node_config {
    uint8_t seed[PC_SEED_LEN];        /* ed25519 seed, as Go's -secretkey */
    const char *listen;               /* "host:port" or NULL */
    const char *listen_ws;            /* "host:port" for WebSocket peers or NULL */
    const char *const *connect;       /* static peers "host:port", "ws://host:port/path" or
                                       * "wss://host[:port]/path" */
    const char *ca_file;              /* PEM trust anchors for wss:// (NULL: the system's) */
    size_t n_connect;
    const char *manhole;              /* "host:port" of the manhole listener or NULL */
    bool multicast;                   /* send beacons, dial the nodes they reveal */
    const char *multicast_if;         /* only this interface (NULL: every usable one) */
    bool ping;                        /* ping ping_key count times, then stop */
    uint8_t ping_key[PC_KEY_LEN];
    unsigned ping_count;
    const char *alpn;                 /* session ALPN (NULL: PC_NODE_DEFAULT_ALPN) */
    const char *http_serve;           /* serve this directory's files over sessions */
    bool http_get;                    /* fetch http_get_path from http_get_key, then stop */
    uint8_t http_get_key[PC_KEY_LEN];
    const char *http_get_path;
    unsigned http_count;              /* requests to make (0: 1) */
    unsigned http_concurrency;        /* at most this many in flight (0: 1) */
    unsigned http_interval_ms;        /* wait between starting two requests */
    unsigned http_timeout_ms;         /* per request (0: PC_NODE_HTTP_TIMEOUT) */
    FILE *body_out;                   /* a single request's body (NULL: stdout) */
    FILE *out;                        /* progress lines (public key, peers, ping replies) */
} pc_node_config;

/* Builds the node: router, listeners, first dials. On failure returns a negative pc_err
 * and writes a message into err. Prints "public key: <hex>", "listening on <addr>",
 * "listening for websocket on ws://<addr>/", "multicast discovery on port <tcp port>" and
 * "manhole on http://<addr>/manhole" to cfg->out. With multicast but no listen, a TCP
 * listener on [::]:0 (dual stack) is opened for the beacon to advertise. */
int pc_node_new(pc_node **out, const pc_node_config *cfg, char *err, size_t errlen);

/* Runs until stop_fd (e.g. a signalfd; -1 for none) becomes readable or, when pinging
 * or fetching, until that run ends. Returns 0 on a clean stop, when at least one ping
 * was answered, or when every HTTP request got a 2xx answer; 1 when a ping run got no
 * reply, a request failed, or the poll loop failed. */
int pc_node_run(pc_node *n, int stop_fd);

/* Frees everything. NULL is allowed. Connections still queued for adoption are
 * released (their release callback runs). */
void pc_node_free(pc_node *n);

/* Hands over a connection whose WebSocket upgrade was already answered (101 sent): the
 * node's loop makes it a WebSocket peering starting at the Pinecone handshake. extra holds
 * len bytes the client sent after its request (copied, at most PC_WS_MSG_MAX + 14); remote names
 * the peer ("ip:port") in the manhole. The node owns the connection from now on and ends
 * it by calling release(ctx) exactly once (never close(fd)), from its loop or from
 * pc_node_free. Thread-safe (any thread, while the node is not being freed). Returns
 * PC_OK, or PC_ERR_NOMEM / PC_ERR_INVALID (queue full, too many bytes): then release has
 * already been called. */
int pc_node_adopt_ws(pc_node *n, int fd, const uint8_t *extra, size_t len, const char *remote,
                     void (*release)(void *ctx), void *ctx);

/* Builds a ping/pong payload into out (PC_PING_LEN bytes). */
void pc_ping_encode(uint8_t out[PC_PING_LEN], bool pong, uint32_t seq, uint64_t usec);

/* Parses a ping/pong payload; false when it is not one (wrong length or magic). */
bool pc_ping_decode(const uint8_t *in, size_t len, bool *pong, uint32_t *seq, uint64_t *usec);

#endif
