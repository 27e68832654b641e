/* pc_err: messages for the pc_err codes. Kept in one table so a new code cannot be
 * added without a message (the switch has no default that hides a missing case). */
#include "pinecone/pc_err.h"

const char *pc_strerror(int code)
{
    switch ((pc_err)code) {
    case PC_OK: return "success";
    case PC_ERR_TRUNCATED: return "input truncated in the middle of a field";
    case PC_ERR_VARU64: return "malformed varu64 (unterminated, over 10 bytes or over 64 bits)";
    case PC_ERR_BAD_MAGIC: return "frame does not start with the magic bytes \"pine\"";
    case PC_ERR_BAD_LENGTH: return "frame length field is below 10 or does not match the data";
    case PC_ERR_TRAILING: return "frame fields do not add up to the frame length";
    case PC_ERR_UNKNOWN_TYPE: return "unknown frame type (expected 0..4)";
    case PC_ERR_TOO_DEEP: return "more coordinates or signature entries than PC_MAX_DEPTH";
    case PC_ERR_TOO_LONG: return "frame would exceed 65535 bytes (or a payload limit)";
    case PC_ERR_BUFFER: return "output buffer too small";
    case PC_ERR_HS_VERSION: return "handshake protocol version is not 1";
    case PC_ERR_HS_CAPS: return "handshake capabilities are not exactly 0x3B";
    case PC_ERR_SIGNATURE: return "ed25519 signature does not verify";
    case PC_ERR_ANN_NO_ENTRIES: return "tree announcement has no signature entries";
    case PC_ERR_ANN_ROOT: return "tree announcement: first signer is not the root";
    case PC_ERR_ANN_SENDER: return "tree announcement: last signer is not the sending peer";
    case PC_ERR_ANN_PORT_ZERO: return "tree announcement: a signature entry has port 0";
    case PC_ERR_ANN_LOOP: return "tree announcement: a signer appears twice (routing loop)";
    case PC_ERR_ANN_REPLAY: return "tree announcement replays an older root sequence";
    case PC_ERR_NOMEM: return "out of memory";
    case PC_ERR_INVALID: return "invalid argument";
    case PC_ERR_NO_PEER: return "no peer is up on that port";
    case PC_ERR_PORT_IN_USE: return "a peer is already up on that port";
    case PC_ERR_WOULDBLOCK: return "transport cannot take a frame now";
    case PC_ERR_PEER_TIMEOUT: return "peer sent nothing for 5 seconds";
    case PC_ERR_NO_ROUTE: return "no route to the destination";
    case PC_ERR_QUEUE_FULL: return "peer output queue full, frame dropped";
    case PC_ERR_BUFFER_FULL: return "stream de-framer buffer full";
    case PC_ERR_TLS: return "TLS failure (certificate, ALPN or handshake)";
    case PC_ERR_PEER_KEY: return "peer certificate key differs from its Pinecone key";
    case PC_ERR_QUIC: return "QUIC protocol error";
    case PC_ERR_CLOSED: return "QUIC connection or stream closed";
    case PC_ERR_TIMEOUT: return "no answer in time";
    case PC_ERR_HTTP: return "malformed HTTP message";
    case PC_ERR_LIMIT: return "HTTP header or body size limit exceeded";
    }
    return "unknown pinecone error";
}
