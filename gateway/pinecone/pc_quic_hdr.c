/* pc_quic_hdr: QUIC invariant header fields through ngtcp2's decoder (see pc_quic_hdr.h).
 * The long-header type bits are those of QUIC v1 (RFC 9000 §17.2); other versions keep
 * their raw value, which callers only use for display. */
#include "pinecone/pc_quic_hdr.h"

#include <ngtcp2/ngtcp2.h>
#include <string.h>

#include "pinecone/pc_err.h"

int pc_quic_hdr_parse(const uint8_t *data, size_t len, size_t short_dcid_len, pc_quic_hdr *h)
{
    if (!data || !h || short_dcid_len > PC_QUIC_MAX_CID)
        return PC_ERR_INVALID;
    memset(h, 0, sizeof *h);
    if (len == 0)
        return PC_ERR_TRUNCATED;
    ngtcp2_version_cid vc;
    int rc = ngtcp2_pkt_decode_version_cid(&vc, data, len, short_dcid_len);
    if (rc != 0 && rc != NGTCP2_ERR_VERSION_NEGOTIATION)
        return PC_ERR_TRUNCATED;
    if (vc.dcidlen > PC_QUIC_MAX_CID || vc.scidlen > PC_QUIC_MAX_CID)
        return PC_ERR_TRUNCATED;
    h->long_header = (data[0] & 0x80) != 0;
    h->version = vc.version;
    memcpy(h->dcid, vc.dcid, vc.dcidlen);
    h->dcid_len = vc.dcidlen;
    if (vc.scidlen)
        memcpy(h->scid, vc.scid, vc.scidlen);
    h->scid_len = vc.scidlen;
    if (!h->long_header)
        h->type = PC_QUIC_SHORT;
    else if (vc.version == 0)
        h->type = PC_QUIC_VERSION_NEG;
    else
        h->type = (pc_quic_type)((data[0] >> 4) & 3);
    return rc == NGTCP2_ERR_VERSION_NEGOTIATION ? PC_ERR_QUIC : PC_OK;
}
