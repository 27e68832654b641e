/* pc_quic_hdr: the invariant part of a QUIC packet header, enough to demultiplex a
 * datagram to a connection before any decryption: header form, version, packet type and
 * the connection IDs. Long headers carry both CIDs with their lengths; short headers only
 * the destination CID, whose length the receiver knows because it chose it
 * (`short_dcid_len`: PC_SESSION_CID_LEN for our own connections, 4 for quic-go's).
 *
 * Decoding is ngtcp2's (ngtcp2_pkt_decode_version_cid); this wrapper adds the form and
 * long-header type and maps errors to pc_err. Nothing is decrypted or allocated. */
#ifndef PC_QUIC_HDR_H
#define PC_QUIC_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PC_QUIC_V1 0x00000001u
#define PC_QUIC_MAX_CID 20

typedef enum pc_quic_type {
    PC_QUIC_INITIAL = 0,
    PC_QUIC_0RTT = 1,
    PC_QUIC_HANDSHAKE = 2,
    PC_QUIC_RETRY = 3,
    PC_QUIC_SHORT = 4,            /* 1-RTT */
    PC_QUIC_VERSION_NEG = 5,      /* long header with version 0 */
} pc_quic_type;

typedef struct pc_quic_hdr {
    bool long_header;
    pc_quic_type type;
    uint32_t version;             /* 0 for short headers */
    uint8_t dcid[PC_QUIC_MAX_CID];
    size_t dcid_len;
    uint8_t scid[PC_QUIC_MAX_CID];
    size_t scid_len;              /* 0 for short headers */
} pc_quic_hdr;

/* Parses the header of one datagram. Returns PC_OK; PC_ERR_QUIC for an unsupported
 * version (h is still filled: a Version Negotiation may be sent) ; PC_ERR_TRUNCATED when
 * the header is cut short or a CID is longer than 20 bytes; PC_ERR_INVALID for NULL. */
int pc_quic_hdr_parse(const uint8_t *data, size_t len, size_t short_dcid_len, pc_quic_hdr *h);

#endif
