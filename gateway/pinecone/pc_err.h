/* pc_err: the one error enum of the Pinecone library and its messages.
 * Every public pc_ function that can fail returns 0 (PC_OK) or a negative pc_err code;
 * pc_strerror() turns a code into a sentence a user can act on (which field, which limit).
 * Codes are stable small negative integers so callers can switch on them. */
#ifndef PC_ERR_H
#define PC_ERR_H

typedef enum pc_err {
    PC_OK = 0,
    PC_ERR_TRUNCATED = -1,        /* input ended in the middle of a field */
    PC_ERR_VARU64 = -2,           /* varu64 longer than 10 bytes, overflowing, or unterminated */
    PC_ERR_BAD_MAGIC = -3,        /* frame does not start with "pine" */
    PC_ERR_BAD_LENGTH = -4,       /* header length < 10 or not equal to the bytes given */
    PC_ERR_TRAILING = -5,         /* declared fields do not add up to the frame length */
    PC_ERR_UNKNOWN_TYPE = -6,     /* frame type not 0..4 (HEAD numbering) */
    PC_ERR_TOO_DEEP = -7,         /* more coordinates / signature entries than PC_MAX_DEPTH */
    PC_ERR_TOO_LONG = -8,         /* encoded result would exceed a size limit */
    PC_ERR_BUFFER = -9,           /* caller's output buffer too small */
    PC_ERR_HS_VERSION = -10,      /* handshake protocol version is not 1 */
    PC_ERR_HS_CAPS = -11,         /* handshake capabilities differ from 0x3B */
    PC_ERR_SIGNATURE = -12,       /* an ed25519 signature does not verify */
    PC_ERR_ANN_NO_ENTRIES = -13,  /* announcement without signature entries */
    PC_ERR_ANN_ROOT = -14,        /* first signer is not the root key */
    PC_ERR_ANN_SENDER = -15,      /* last signer is not the peer it came from */
    PC_ERR_ANN_PORT_ZERO = -16,   /* a signature entry carries port 0 */
    PC_ERR_ANN_LOOP = -17,        /* a signer key appears twice */
    PC_ERR_ANN_REPLAY = -18,      /* same root with a lower sequence than before */
    PC_ERR_NOMEM = -19,           /* allocation failed */
    PC_ERR_INVALID = -20,         /* invalid argument (bad port, NULL, ...) */
    PC_ERR_NO_PEER = -21,         /* no peer is up on that port */
    PC_ERR_PORT_IN_USE = -22,     /* peer_up on a port that is already up */
    PC_ERR_WOULDBLOCK = -23,      /* send callback: transport cannot take a frame now */
    PC_ERR_PEER_TIMEOUT = -24,    /* nothing received from the peer for 5 s */
    PC_ERR_NO_ROUTE = -25,        /* no next hop for the destination */
    PC_ERR_QUEUE_FULL = -26,      /* output queue limit hit, frame dropped */
    PC_ERR_BUFFER_FULL = -27,     /* de-framer buffer full (cannot happen with valid frames) */
    PC_ERR_TLS = -28,             /* TLS setup or handshake failed (certificate, ALPN, key) */
    PC_ERR_PEER_KEY = -29,        /* peer certificate key is not the Pinecone key it came from */
    PC_ERR_QUIC = -30,            /* QUIC protocol error (ngtcp2 refused a packet or call) */
    PC_ERR_CLOSED = -31,          /* the QUIC connection or stream closed before completion */
    PC_ERR_TIMEOUT = -32,         /* no answer in time (request or handshake deadline) */
    PC_ERR_HTTP = -33,            /* malformed HTTP message on a stream */
    PC_ERR_LIMIT = -34,           /* an HTTP size limit (headers or body) was exceeded */
} pc_err;

/* Returns a static, NUL-terminated English message for `code` (never NULL; unknown codes
 * give "unknown pinecone error"). */
const char *pc_strerror(int code);

#endif
