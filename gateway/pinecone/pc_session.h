/* pc_session: QUIC sessions over Pinecone (spec §8), sans-I/O, on ngtcp2 0.12 + GnuTLS.
 *
 * One endpoint per node carries every QUIC connection of that node, for every ALPN. A
 * datagram is the payload of one Pinecone traffic frame; its address is the peer's
 * 32-byte public key. Incoming datagrams are demultiplexed by destination connection ID
 * (our CIDs are PC_SESSION_CID_LEN bytes) and must come from the key the connection is
 * with. QUIC v1; packets sent are at most 1200 bytes (no path MTU discovery), datagrams up
 * to 1452 bytes are accepted. TLS 1.3 with the node's Ed25519 self-signed certificate
 * (pc_tls), mutual authentication, and the peer accepted only if its certificate key
 * equals its Pinecone key. Idle timeout 15 s, no keep-alive pings (as Go).
 *
 * Connections: at most one per (ALPN, peer key), used in both directions: streams the
 * peer opens on a connection we dialled are served like streams on one it dialled. When a
 * second connection for the same pair completes its handshake:
 *   - if the older one is ours and younger than PC_SESSION_RACE_MS (both sides dialled at
 *     once), the connection dialled by the lower key survives on both nodes;
 *   - otherwise the newer connection replaces the older (the peer restarted or lost it).
 * Stateless-reset tokens are derived from the node seed, so a restarted node resets the
 * connections its previous life had, and peers redial at once instead of waiting 15 s.
 *
 * Shape (as ngtcp2 and pc_router): feed datagrams and `now` in, datagrams come out
 * through a callback, pc_session_next_deadline says when to call
 * pc_session_handle_timeout. Times are nanoseconds of a monotonic clock. Stream writes
 * only buffer; pc_session_flush (called by the shell after every input) turns buffered
 * data, new streams and new connections into packets. Stream events come out through
 * callbacks during pc_session_recv / pc_session_handle_timeout / pc_session_flush; from
 * them the application may call pc_stream_write/_shutdown/_abort and
 * pc_session_open_stream, but must not call pc_session_recv, _flush, _handle_timeout or
 * _free. Not thread-safe.
 *
 * A client Initial of another version (QUIC v2, say) gets a Version Negotiation packet
 * offering v1, as quic-go's clients start with v1 anyway.
 *
 * Not done: QUIC v2 itself, 0-RTT, connection migration, unidirectional streams (refused:
 * limit 0). */
#ifndef PC_SESSION_H
#define PC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_wire.h"

#define PC_SESSION_CID_LEN 8
#define PC_SESSION_MAX_TX 1200          /* largest datagram we send */
#define PC_SESSION_MAX_RX 1452          /* largest datagram we accept (quic-go's buffers) */
#define PC_SESSION_IDLE_MS 15000
#define PC_SESSION_HANDSHAKE_MS 5000     /* as quic-go's handshake idle timeout */
#define PC_SESSION_RACE_MS 2000
#define PC_SESSION_MAX_CONNS 256
/* Connections one peer key may have us hold (an established one per ALPN plus the one
 * replacing it); more Initials from that key are dropped, so a single peer cannot take
 * every PC_SESSION_MAX_CONNS slot with handshakes it never finishes. */
#define PC_SESSION_MAX_CONNS_PER_PEER (2 * PC_SESSION_MAX_ALPN)
#define PC_SESSION_MAX_ALPN 4
#define PC_SESSION_ALPN_MAX_LEN 32
#define PC_SESSION_MAX_STREAMS 100      /* bidirectional streams a peer may have open */
#define PC_SESSION_STREAM_WINDOW (512u * 1024u)
#define PC_SESSION_CONN_WINDOW (768u * 1024u)

typedef struct pc_session pc_session;
typedef struct pc_stream pc_stream;

typedef struct pc_session_callbacks {
    /* Required. Send one datagram (len <= PC_SESSION_MAX_TX) to the node `dest`. The
     * return value is ignored: QUIC recovers lost datagrams. */
    void (*send_datagram)(const uint8_t dest[PC_KEY_LEN], const uint8_t *data, size_t len,
                          void *user_data);
    /* Required. The peer opened a bidirectional stream on an authenticated connection. */
    void (*stream_opened)(pc_stream *st, void *user_data);
    /* Required. Bytes arrived on a stream, in order; fin: the peer finished sending (len
     * may be 0 then). data is valid only during the call. */
    void (*stream_data)(pc_stream *st, const uint8_t *data, size_t len, bool fin, void *user_data);
    /* Required. The stream is gone: err is PC_OK when both directions finished cleanly,
     * PC_ERR_CLOSED when it was reset or its connection closed, PC_ERR_TLS /
     * PC_ERR_PEER_KEY / PC_ERR_TIMEOUT when its connection never came up. The stream
     * pointer is invalid once the callback returns. */
    void (*stream_closed)(pc_stream *st, int err, void *user_data);
    /* Optional. A connection became usable (up, err PC_OK) or went away (err says why). */
    void (*conn_event)(const uint8_t key[PC_KEY_LEN], const char *alpn, bool client, bool up,
                       int err, void *user_data);
} pc_session_callbacks;

typedef struct pc_session_config {
    const char *alpn[PC_SESSION_MAX_ALPN]; /* protocols we accept as a server; NULL-ended */
    uint64_t idle_timeout_ms;              /* 0: PC_SESSION_IDLE_MS */
} pc_session_config;

/* Creates the endpoint of the node with ed25519 `seed` (certificate from the seed, dated
 * from now_unix seconds). cfg->alpn[0] is required. Returns PC_OK and *out, PC_ERR_INVALID
 * (no ALPN, an ALPN longer than PC_SESSION_ALPN_MAX_LEN), PC_ERR_TLS or PC_ERR_NOMEM. */
int pc_session_new(pc_session **out, const uint8_t seed[PC_SEED_LEN], const pc_session_config *cfg,
                   const pc_session_callbacks *cb, void *user_data, int64_t now_unix);

/* Closes every connection (CONNECTION_CLOSE sent through send_datagram, streams get
 * stream_closed with PC_ERR_CLOSED) and frees everything. NULL is allowed. */
void pc_session_free(pc_session *s, uint64_t now_ns);

/* One datagram from `src` (a Pinecone traffic payload). Unknown, malformed or foreign
 * packets are dropped; a short-header packet for an unknown CID is answered with a
 * stateless reset. Call pc_session_flush afterwards. */
void pc_session_recv(pc_session *s, const uint8_t src[PC_KEY_LEN], const uint8_t *data, size_t len,
                     uint64_t now_ns);

/* Starts pending connections, opens pending streams and sends every packet that
 * congestion and flow control allow now. */
void pc_session_flush(pc_session *s, uint64_t now_ns);

/* Earliest time pc_session_handle_timeout has work (UINT64_MAX: none). */
uint64_t pc_session_next_deadline(const pc_session *s);

/* Runs due connection timers (retransmission, idle close), then flushes. */
void pc_session_handle_timeout(pc_session *s, uint64_t now_ns);

/* Creates a bidirectional stream to `key` over `alpn` (dialling a connection if none is
 * up or being set up). Data may be written at once; it is sent once the stream opens.
 * The stream belongs to the session; it ends with a stream_closed callback. Returns
 * PC_OK, PC_ERR_INVALID (own key, bad ALPN) or PC_ERR_NOMEM. */
int pc_session_open_stream(pc_session *s, const char *alpn, const uint8_t key[PC_KEY_LEN],
                           pc_stream **out);

/* Our public key. */
const uint8_t *pc_session_public_key(const pc_session *s);

/* Live connections (handshaking or established). */
size_t pc_session_conn_count(const pc_session *s);

/* Buffers len bytes for sending (copied). PC_ERR_CLOSED after shutdown/abort. */
int pc_stream_write(pc_stream *st, const uint8_t *data, size_t len);

/* Sends FIN after the buffered data. Idempotent. */
void pc_stream_shutdown(pc_stream *st);

/* Resets both directions with application error `code`; stream_closed follows (from
 * the next flush at the latest). */
void pc_stream_abort(pc_stream *st, uint64_t code);

/* Bytes written but not yet acknowledged by the peer (for back-pressure). */
size_t pc_stream_unacked(const pc_stream *st);

void pc_stream_set_user(pc_stream *st, void *p);
void *pc_stream_user(const pc_stream *st);
const uint8_t *pc_stream_peer(const pc_stream *st);
const char *pc_stream_alpn(const pc_stream *st);
/* True for streams this node opened. */
bool pc_stream_is_local(const pc_stream *st);

/* True once the stream exists on a connection, i.e. its data may have reached the peer;
 * false while it waited for a connection that never came up. */
bool pc_stream_was_opened(const pc_stream *st);

#endif
