/* pc_ws: the WebSocket carrier for Pinecone peerings (spec §9.2). Binary messages carry the
 * raw Pinecone byte stream (handshake + frames); no subprotocol, no extensions. Two parts:
 *
 *  - the HTTP/1.1 upgrade, written here with a hard size limit (PC_WS_HTTP_MAX): build and
 *    parse the client's GET request and the server's 101 response, and compute
 *    Sec-WebSocket-Accept = base64(SHA-1(key || RFC 6455 GUID)) with GnuTLS's SHA-1;
 *  - RFC 6455 framing after the upgrade, done by wslay's event API. A pc_ws is one
 *    direction pair of one connection: pc_ws_feed decodes received bytes (unmasking,
 *    reassembling fragments, answering pings, honouring close) and hands the payload of
 *    every binary message to the caller; pc_ws_send wraps bytes into one binary message.
 *
 * Invariants: a server-side pc_ws rejects unmasked client frames and a client-side one
 * rejects masked server frames (wslay enforces both); a message longer than PC_WS_MSG_MAX
 * ends the connection; text messages are a protocol error for Pinecone and end it too.
 * The payload callback is never called from inside wslay, so it may call pc_ws_send.
 * Sans-I/O: no sockets; output goes through a caller-supplied write function. */
#ifndef PC_WS_H
#define PC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PC_WS_HTTP_MAX 4096          /* longest upgrade request/response head accepted */
#define PC_WS_MSG_MAX (128 * 1024)   /* longest received message */
#define PC_WS_KEY_LEN 24             /* base64 of the 16-byte Sec-WebSocket-Key nonce */
#define PC_WS_ACCEPT_LEN 28          /* base64 of a SHA-1 digest */
#define PC_WS_FRAME_OVERHEAD 14      /* largest frame header: 2 + 8 length + 4 mask */
#define PC_WS_PATH_MAX 64

/* Sec-WebSocket-Accept for the client's key (NUL-terminated, as sent). Writes
 * PC_WS_ACCEPT_LEN chars + NUL into out. Returns 0, or PC_ERR_INVALID for a key that is
 * not 24 base64 characters. */
int pc_ws_accept_key(const char *key, char out[PC_WS_ACCEPT_LEN + 1]);

/* A fresh random Sec-WebSocket-Key (base64 of 16 random bytes) into out. */
void pc_ws_new_key(char out[PC_WS_KEY_LEN + 1]);

/* Parses a client's upgrade request from the start of buf. Accepts GET on "/" or "/ws"
 * (any query ignored), HTTP/1.1, "Upgrade: websocket", a Connection header containing
 * "upgrade", "Sec-WebSocket-Version: 13" and a 24-char key (header names are
 * case-insensitive). On success writes the key and sets *used to the head's length (the
 * bytes after it are already WebSocket frames). Returns:
 *   0                 a complete valid request
 *   PC_ERR_TRUNCATED  need more bytes (head not complete and under PC_WS_HTTP_MAX)
 *   PC_ERR_TOO_LONG   no end of head within PC_WS_HTTP_MAX bytes
 *   PC_ERR_NO_PEER    a valid HTTP request for another path (answer 404)
 *   PC_ERR_INVALID    anything else (answer 400) */
int pc_ws_parse_request(const uint8_t *buf, size_t len, size_t *used,
                        char key[PC_WS_KEY_LEN + 1]);

/* Parses the server's response to a request sent with key: must be "HTTP/1.1 101" with
 * Upgrade: websocket, Connection: upgrade, the right Sec-WebSocket-Accept and no
 * extension or subprotocol. Same return codes as pc_ws_parse_request (PC_ERR_INVALID
 * for a refusal or a wrong accept value). */
int pc_ws_parse_response(const uint8_t *buf, size_t len, size_t *used, const char *key);

/* Writes the client request for host ("host:port") and path into out. Returns its length,
 * or 0 if it does not fit in cap. */
size_t pc_ws_build_request(char *out, size_t cap, const char *host, const char *path,
                           const char *key);

/* Writes the 101 response for the client's key into out. Returns its length, or 0 if the
 * key is invalid or cap is too small. */
size_t pc_ws_build_response(char *out, size_t cap, const char *key);

/* Writes a plain HTTP error response ("400 Bad Request", ...) into out; returns its length. */
size_t pc_ws_build_error(char *out, size_t cap, const char *status);

typedef struct pc_ws pc_ws;

/* Where a pc_ws sends its output and its received payload. write appends raw bytes to the
 * connection's output and returns how many it took (fewer = no room now; wslay keeps the
 * rest and pc_ws_flush retries). data receives binary message payload (a stream: message
 * boundaries carry no meaning); a nonzero return ends pc_ws_feed with that code. */
typedef struct pc_ws_io {
    size_t (*write)(const uint8_t *data, size_t len, void *ud);
    int (*data)(const uint8_t *data, size_t len, void *ud);
    void *ud;
} pc_ws_io;

/* Creates the framing state for one connection after its upgrade: client = we dialled
 * (our frames are masked). Returns 0 and *out (free with pc_ws_free) or PC_ERR_NOMEM. */
int pc_ws_new(pc_ws **out, bool client);

/* Frees. NULL is allowed. */
void pc_ws_free(pc_ws *w);

/* Decodes len received bytes. Payload goes to io->data after wslay has consumed the
 * input; pongs and close replies go to io->write. Returns 0; the data callback's nonzero
 * code; PC_ERR_INVALID on a protocol error, a text message, an oversized message or a
 * close from the peer (the connection is finished: a close frame may have been written);
 * PC_ERR_NOMEM. */
int pc_ws_feed(pc_ws *w, const uint8_t *in, size_t len, const pc_ws_io *io);

/* Sends data as one binary message through io->write. The caller checks room first
 * (len + PC_WS_FRAME_OVERHEAD). Returns 0, PC_ERR_INVALID when the connection is closing,
 * or PC_ERR_NOMEM. */
int pc_ws_send(pc_ws *w, const uint8_t *data, size_t len, const pc_ws_io *io);

/* Retries output that io->write refused earlier. Returns 0 or PC_ERR_INVALID. */
int pc_ws_flush(pc_ws *w, const pc_ws_io *io);

/* True when wslay still holds output that io->write refused. */
bool pc_ws_want_write(const pc_ws *w);

/* Splits a "ws://host:port[/path]" URI: host:port into hostport, path (default "/") into
 * path. Returns false for other schemes ("wss://" is not supported), a missing port or
 * over-long parts. */
bool pc_ws_split_uri(const char *uri, char *hostport, size_t hcap, char *path, size_t pcap);

#endif
