/* pc_tcp: the TCP transport shell around one pc_router. It owns the sockets: a listener,
 * static peers dialled with Go's connection-manager rules (first dial at once, then a
 * check every 5 s; after a failed attempt wait 2^attempts s, at most 1 h; success resets),
 * the 104-byte handshake on every new stream (both sides send theirs at once; version,
 * capabilities and signature checked by pc_handshake), a de-framer per link, and a
 * bounded write buffer per link. Frames go into pc_router_recv; the router's outgoing
 * frames come back through pc_tcp_send_frame.
 *
 * Invariants: at most one peering per peer key (when a second stream to the same key
 * handshakes, both ends keep the stream dialled by the higher key, so they agree); a link
 * has a router port only between a successful handshake and its close; the router is
 * never re-entered: sockets are closed and pc_router_peer_down / peer_writable are called
 * only from pc_tcp_process / pc_tcp_flush, never from inside a router callback.
 *
 * A WebSocket link (pc_ws) is the same kind of link with two differences: an HTTP upgrade
 * precedes the handshake (clients send GET with a fresh key, the WebSocket listener
 * accepts GET / and GET /ws), and the Pinecone stream travels inside binary messages
 * (each frame written is one message). Links dialled after a multicast beacon
 * (pc_tcp_dial_discovered) are plain TCP links with manhole link type 1.
 *
 * wss:// links are WebSocket links over a GnuTLS client session whose certificate must
 * verify for the URI's host (system trust, or the file given to pc_tcp_set_ca_file).
 *
 * Not done here: the poll loop itself (pc_node), the beacons (pc_multicast).
 * One thread; non-blocking sockets. */
#ifndef PC_TCP_H
#define PC_TCP_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_manhole.h"
#include "pinecone/pc_router.h"

#define PC_TCP_MAX_LINKS 64               /* streams open at once (all states) */
#define PC_TCP_MAX_STATIC 16              /* configured static peers */
#define PC_TCP_WBUF_MAX (256 * 1024)      /* bytes buffered for writing per link */
#define PC_TCP_HANDSHAKE_TIMEOUT 10000    /* ms, Go's handshake deadline */
#define PC_TCP_DIAL_TIMEOUT 5000          /* ms, connection manager dial timeout */
#define PC_TCP_WRITE_TIMEOUT 3000         /* ms without write progress before closing */
#define PC_TCP_WORKER_INTERVAL 5000       /* ms between static-peer checks */
#define PC_TCP_BACKOFF_MAX 3600000        /* ms, longest wait after failures */
#define PC_TCP_URI_MAX 128

typedef struct pc_tcp pc_tcp;

/* Called when a link gets (up=true) or loses (up=false) its router port. */
typedef void (*pc_tcp_link_cb)(void *ud, int port, const uint8_t key[PC_KEY_LEN],
                               const char *uri, bool up);

/* Creates a transport for the node whose libsodium secret key is sk (seed || pk).
 * link_cb may be NULL. Returns PC_OK and *out (free with pc_tcp_free) or PC_ERR_NOMEM. */
int pc_tcp_new(pc_tcp **out, const uint8_t sk[PC_SECRET_KEY_LEN], pc_tcp_link_cb link_cb,
               void *ud);

/* Attaches the router (created after the transport because its callbacks forward here). */
void pc_tcp_attach(pc_tcp *t, pc_router *r);

/* Closes every socket without telling the router. NULL is allowed. */
void pc_tcp_free(pc_tcp *t);

/* Listens on "host:port" (port 0 = ephemeral). Writes the bound "ip:port" into bound.
 * Returns PC_OK or PC_ERR_INVALID (bad address, bind/listen failed: errno is kept). */
int pc_tcp_listen(pc_tcp *t, const char *hostport, char *bound, size_t cap);

/* Listens for WebSocket peers on "host:port" (GET / or /ws); like pc_tcp_listen. */
int pc_tcp_listen_ws(pc_tcp *t, const char *hostport, char *bound, size_t cap);

/* Opens a non-blocking listening TCP socket on "host:port" (also used for the manhole).
 * Writes the bound "ip:port" into bound. Returns the fd (caller closes) or -1 with errno. */
int pc_tcp_listen_socket(const char *hostport, char *bound, size_t cap);

/* Adds a static peer "host:port" (TCP), "ws://host:port[/path]" (WebSocket) or
 * "wss://host[:port][/path]" (WebSocket over TLS, port 443 by default) and dials it at
 * once; all kinds share the reconnect backoff. PC_ERR_INVALID on a bad address or too
 * many static peers. */
int pc_tcp_add_static(pc_tcp *t, const char *uri, uint64_t now);

/* Trust anchors (PEM file) for wss:// certificates instead of the system's; call before
 * adding wss:// peers. PC_OK or PC_ERR_NOMEM. */
int pc_tcp_set_ca_file(pc_tcp *t, const char *path);

/* Dials "host:port" over TCP once, for the node whose beacon advertised key. Does nothing
 * (PC_ERR_PORT_IN_USE) when key is ours, already peered, or being dialled; a failed
 * dial is not retried here (the next beacon does that). PC_ERR_INVALID on a bad address
 * or when the connect cannot start. */
int pc_tcp_dial_discovered(pc_tcp *t, const uint8_t key[PC_KEY_LEN], const char *hostport,
                           uint64_t now);

/* Adopts a connected stream whose WebSocket upgrade another server already answered (the
 * homeserver's GET /ws): the link starts at the Pinecone handshake, and extra (len bytes
 * the client sent after its request; copied) is fed first as WebSocket frames. uri names
 * the peer in the manhole. When the link ends, release(ctx) is called instead of
 * close(fd) (that server owns the socket's teardown); release NULL: fd is closed. On
 * failure (PC_ERR_NOMEM, also at the link limit) release/close has already happened. */
int pc_tcp_adopt_ws(pc_tcp *t, int fd, const uint8_t *extra, size_t len, const char *uri,
                    void (*release)(void *ctx), void *ctx, uint64_t now);

/* Router send_frame callback body: appends the frame to the port's write buffer.
 * Returns 0, or PC_ERR_WOULDBLOCK when the buffer is full (pc_tcp_flush calls
 * pc_router_peer_writable once it has drained). Frames for a closing port are dropped. */
int pc_tcp_send_frame(pc_tcp *t, int port, const uint8_t *frame, size_t len);

/* Router peer_closed callback body: the router dropped the port; the link is closed at
 * the next pc_tcp_process/pc_tcp_flush without calling pc_router_peer_down. */
void pc_tcp_peer_closed(pc_tcp *t, int port, int reason);

/* Fills up to cap pollfd entries for the transport's sockets; returns how many. */
size_t pc_tcp_pollfds(pc_tcp *t, struct pollfd *fds, size_t cap);

/* Handles the poll results for the entries pc_tcp_pollfds filled (fds[0..n)), then the
 * timers (dial/handshake/write timeouts, the static-peer worker), then writes. */
void pc_tcp_process(pc_tcp *t, const struct pollfd *fds, size_t n, uint64_t now);

/* Writes buffered frames, resumes drained ports, and closes failed links. */
void pc_tcp_flush(pc_tcp *t, uint64_t now);

/* Earliest time pc_tcp_process has timer work (UINT64_MAX when none). */
uint64_t pc_tcp_next_deadline(const pc_tcp *t);

/* Number of links that have a router port. */
size_t pc_tcp_peer_count(const pc_tcp *t);

/* Manhole link info for an up port (type 3, zone "static" for dialled static peers,
 * the URI). Matches pc_manhole_link_fn with ud = the transport. */
bool pc_tcp_link_info(int port, pc_manhole_link *out, void *ud);

#endif
