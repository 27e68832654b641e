/* libFuzzer target: the QUIC endpoint's receive path (pc_session_recv: header parse,
 * demultiplexing by CID and key, server accept, ngtcp2 and GnuTLS behind it, stateless
 * resets, version negotiation) and pc_quic_hdr_parse on its own. Input: byte 0 picks the
 * sender key (bit 0) and the short-header CID length for the standalone parse (bits
 * 1-5); then datagrams, each a 2-byte big-endian length and that many bytes (cut at the
 * end of the input). One endpoint lives across inputs, as a node's does; virtual time
 * advances 20 s per input so idle connections expire. Seeds: quic-go's recorded Initial
 * and a short-header packet from tests/fixtures/pinecone/traffic-frames.jsonl. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_quic_hdr.h"
#include "pinecone/pc_session.h"

static pc_session *s;
static uint64_t now = 1000000000ull;
static size_t sent_bytes;

static void on_send(const uint8_t dest[32], const uint8_t *d, size_t len, void *ud)
{
    (void)dest, (void)d, (void)ud;
    if (len > PC_SESSION_MAX_TX)
        abort(); /* never more than 1200 bytes on the wire */
    sent_bytes += len;
}
static void on_open(pc_stream *st, void *ud) { (void)st, (void)ud; }
static void on_data(pc_stream *st, const uint8_t *d, size_t l, bool f, void *ud) { (void)st, (void)d, (void)l, (void)f, (void)ud; }
static void on_closed(pc_stream *st, int e, void *ud) { (void)st, (void)e, (void)ud; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s) {
        uint8_t seed[32];
        memset(seed, 1, sizeof seed);
        pc_session_config cfg = {.alpn = {"matrix"}};
        pc_session_callbacks cb = {on_send, on_open, on_data, on_closed, NULL};
        if (pc_session_new(&s, seed, &cfg, &cb, NULL, 1700000000) != PC_OK)
            abort();
    }
    if (size < 1)
        return 0;
    uint8_t src[32];
    memset(src, (data[0] & 1) ? 3 : 2, sizeof src);
    size_t cidlen = (size_t)(data[0] >> 1) & 31;
    now += 20000000000ull;
    pc_session_handle_timeout(s, now);
    size_t off = 1;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        pc_quic_hdr h;
        int rc = pc_quic_hdr_parse(data + off, len, cidlen, &h);
        if (rc == PC_OK && (h.dcid_len > PC_QUIC_MAX_CID || h.scid_len > PC_QUIC_MAX_CID))
            abort();
        pc_session_recv(s, src, data + off, len, now);
        pc_session_flush(s, now);
        off += len;
    }
    if (pc_session_conn_count(s) > PC_SESSION_MAX_CONNS)
        abort();
    return 0;
}
