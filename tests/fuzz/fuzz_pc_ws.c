/* libFuzzer target: the WebSocket carrier's parsers. The first byte picks the path:
 * 0 the server side (upgrade request, then client frames), 1 the client side (101
 * response for a fixed key, then server frames), 2/3 frames alone on the server/client
 * reader fed in two pieces, 4 the multicast beacon. Every input must be accepted or
 * refused with an error code; a parsed head never claims more bytes than it was given,
 * and the payload handed out never exceeds the frame bytes fed in. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_multicast.h"
#include "pinecone/pc_ws.h"

static size_t total_out, total_data;

static size_t on_write(const uint8_t *d, size_t n, void *ud)
{
    (void)d;
    (void)ud;
    total_out += n;
    return n;
}

static int on_data(const uint8_t *d, size_t n, void *ud)
{
    (void)ud;
    volatile uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= d[i]; /* touch every byte: ASan catches a bad pointer */
    (void)x;
    total_data += n;
    return 0;
}

static void frames(const uint8_t *in, size_t len, bool client)
{
    pc_ws *w;
    if (pc_ws_new(&w, client) != PC_OK)
        return;
    pc_ws_io io = {on_write, on_data, NULL};
    total_data = 0;
    size_t cut = len ? in[0] % (len + 1) : 0;
    if (pc_ws_feed(w, in, cut, &io) == PC_OK)
        pc_ws_feed(w, in + cut, len - cut, &io);
    if (total_data > len)
        abort();
    pc_ws_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t used = 0;
    switch (data[0] % 5) {
    case 0: {
        char key[PC_WS_KEY_LEN + 1];
        if (pc_ws_parse_request(in, len, &used, key) == PC_OK) {
            char acc[PC_WS_ACCEPT_LEN + 1];
            if (used > len || pc_ws_accept_key(key, acc) != PC_OK)
                abort();
            frames(in + used, len - used, false);
        }
        break;
    }
    case 1:
        if (pc_ws_parse_response(in, len, &used, "glsw0blmL4Ji3+A8XPlavA==") == PC_OK) {
            if (used > len)
                abort();
            frames(in + used, len - used, true);
        }
        break;
    case 2: frames(in, len, false); break;
    case 3: frames(in, len, true); break;
    default: {
        uint8_t key[PC_KEY_LEN];
        uint16_t port;
        if (pc_mcast_beacon_decode(in, len, key, &port) && (len < PC_MCAST_BEACON_LEN || port == 0))
            abort();
        break;
    }
    }
    return 0;
}
