/* pc_deframer: stream-to-frame reassembly with one bounded buffer (see pc_deframer.h).
 * Whole units that lie entirely inside the caller's chunk are delivered straight from
 * it without copying; only a unit split across chunks is gathered in the buffer, which
 * never holds more than one unit (<= 65535 bytes). */
#include "pinecone/pc_deframer.h"

#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_handshake.h"

int pc_deframer_init(pc_deframer *d, bool expect_handshake)
{
    d->buf = malloc(PC_MAX_FRAME);
    if (!d->buf)
        return PC_ERR_NOMEM;
    d->have = 0;
    d->want_handshake = expect_handshake;
    d->error = 0;
    return PC_OK;
}

void pc_deframer_free(pc_deframer *d)
{
    free(d->buf);
    d->buf = NULL;
    d->have = 0;
}

size_t pc_deframer_pending(const pc_deframer *d) { return d->have; }

/* Length of the unit starting at p (n bytes known), 0 if not yet known, <0 on error. */
static long unit_len(const pc_deframer *d, const uint8_t *p, size_t n)
{
    if (d->want_handshake)
        return PC_HANDSHAKE_LEN;
    static const uint8_t magic[4] = {0x70, 0x69, 0x6e, 0x65};
    if (memcmp(p, magic, n < 4 ? n : 4) != 0)
        return PC_ERR_BAD_MAGIC; /* report corruption as soon as it is visible */
    size_t flen;
    int rc = pc_header_peek(p, n, &flen);
    if (rc == PC_ERR_TRUNCATED)
        return 0;
    return rc ? rc : (long)flen;
}

static int deliver(pc_deframer *d, const uint8_t *p, size_t n, pc_deframer_cb cb, void *ud)
{
    bool hs = d->want_handshake;
    d->want_handshake = false;
    return cb(hs, p, n, ud);
}

int pc_deframer_feed(pc_deframer *d, const uint8_t *data, size_t len, pc_deframer_cb cb,
                     void *ud)
{
    if (d->error)
        return d->error;
    size_t off = 0;
    while (off < len) {
        if (d->have == 0) {
            /* Fast path: deliver whole units from the caller's chunk. */
            long ul = unit_len(d, data + off, len - off);
            if (ul < 0)
                return d->error = (int)ul;
            if (ul > 0 && (size_t)ul <= len - off) {
                int rc = deliver(d, data + off, (size_t)ul, cb, ud);
                off += (size_t)ul;
                if (rc)
                    return rc;
                continue;
            }
        }
        /* Gather: first enough to know the length, then up to the whole unit. */
        long ul = unit_len(d, d->buf, d->have);
        size_t want = ul > 0 ? (size_t)ul : PC_HEADER_LEN;
        size_t n = want - d->have;
        if (n > len - off)
            n = len - off;
        memcpy(d->buf + d->have, data + off, n);
        d->have += n;
        off += n;
        ul = unit_len(d, d->buf, d->have);
        if (ul < 0)
            return d->error = (int)ul;
        if (ul > 0 && d->have == (size_t)ul) {
            d->have = 0;
            int rc = deliver(d, d->buf, (size_t)ul, cb, ud);
            if (rc)
                return rc;
        }
    }
    return PC_OK;
}
