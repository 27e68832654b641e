/* libFuzzer target: the Pinecone frame decoder, the signed bodies inside frames, the
 * re-encoder, and the stream de-framer. Any input must give a frame or an error code,
 * and a decoded frame must re-encode to exactly the bytes it came from. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_deframer.h"
#include "pinecone/pc_wire.h"

static uint8_t out[PC_MAX_FRAME];

static void one_frame(const uint8_t *data, size_t len)
{
    pc_frame f;
    if (pc_frame_decode(data, len, &f) != PC_OK)
        return;
    size_t n;
    if (pc_frame_encode(&f, out, sizeof out, &n) != PC_OK || n != len || memcmp(out, data, n))
        abort();
    if (f.type == PC_FRAME_TREE_ANNOUNCEMENT) {
        static pc_announcement a;
        if (pc_announcement_decode(f.payload, f.payload_len, &a) == PC_OK) {
            pc_coords c;
            pc_announcement_coords(&a, &c);
            if (a.n_entries)
                (void)pc_announcement_check(&a, a.entries[a.n_entries - 1].key);
            if (a.n_entries <= 2)
                (void)pc_announcement_verify(&a, NULL);
        }
    } else if (f.type == PC_FRAME_BOOTSTRAP || f.type == PC_FRAME_WAKEUP_BROADCAST) {
        pc_signed_msg m;
        if (pc_signed_msg_decode(f.payload, f.payload_len, &m) == PC_OK)
            (void)pc_signed_msg_verify(&m, f.dest_key ? f.dest_key : f.src_key, NULL);
    }
}

static int on_unit(bool is_hs, const uint8_t *data, size_t len, void *ud)
{
    (void)ud;
    if (!is_hs)
        one_frame(data, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && size <= PC_MAX_FRAME)
        one_frame(data, size);
    /* The first byte picks a chunk size so frames straddle feeds in different ways. */
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    pc_deframer d;
    if (pc_deframer_init(&d, (data[0] & 1) != 0) != PC_OK)
        return 0;
    for (size_t off = 1; off < size; off += chunk)
        if (pc_deframer_feed(&d, data + off, off + chunk > size ? size - off : chunk, on_unit, NULL))
            break;
    pc_deframer_free(&d);
    return 0;
}
