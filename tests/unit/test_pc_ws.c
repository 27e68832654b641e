/* pc_ws against the `wspair` fixture (a real Go WebSocket peering): the recorded upgrade
 * request parses and our Sec-WebSocket-Accept equals the one Go's server sent; the raw TCP
 * bytes of each direction, fed through our reader (server side for B-to-A, client side
 * for A-to-B) in one piece and in small chunks, give exactly the de-framed Pinecone
 * stream. Our own client/server pair round-trips messages; protocol violations (unmasked
 * client frames, text messages, oversized heads, wrong accept values) are refused. Also
 * the multicast beacon codec. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_multicast.h"
#include "pinecone/pc_ws.h"
#include "test_pc_util.h"

typedef struct sink {
    uint8_t *buf;
    size_t len, cap;
} sink;

static void sink_add(sink *s, const uint8_t *d, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2 + 64;
        s->buf = realloc(s->buf, s->cap);
        cr_assert(s->buf);
    }
    memcpy(s->buf + s->len, d, n);
    s->len += n;
}

typedef struct pair_io {
    sink out, data;
} pair_io;

static size_t io_write(const uint8_t *d, size_t n, void *ud)
{
    sink_add(&((pair_io *)ud)->out, d, n);
    return n;
}

static int io_data(const uint8_t *d, size_t n, void *ud)
{
    sink_add(&((pair_io *)ud)->data, d, n);
    return 0;
}

static const char *wspair_request_key = "glsw0blmL4Ji3+A8XPlavA==";

Test(pc_ws, accept_key_matches_go_server)
{
    char acc[PC_WS_ACCEPT_LEN + 1];
    cr_assert_eq(pc_ws_accept_key(wspair_request_key, acc), PC_OK);
    cr_assert_str_eq(acc, "aWcWTbBgdh4w5hjGwsaQKhkc0c4=");
    /* RFC 6455 §1.3 example */
    cr_assert_eq(pc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc), PC_OK);
    cr_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    cr_assert_neq(pc_ws_accept_key("short", acc), PC_OK);
}

static void feed_all(const char *tcp_file, const char *bin_file, bool server, size_t chunk)
{
    size_t rawlen, binlen;
    uint8_t *raw = tpc_load(tcp_file, &rawlen);
    uint8_t *bin = tpc_load(bin_file, &binlen);
    cr_assert(raw && bin, "fixture missing");
    size_t used = 0;
    if (server) {
        char key[PC_WS_KEY_LEN + 1];
        cr_assert_eq(pc_ws_parse_request(raw, rawlen, &used, key), PC_OK);
        cr_assert_str_eq(key, wspair_request_key);
        cr_assert_eq(used, 310, "head is %zu bytes", used); /* first frame at raw_offset 310 */
        /* the head cut short is incomplete, not invalid */
        size_t u2;
        cr_assert_eq(pc_ws_parse_request(raw, used - 1, &u2, key), PC_ERR_TRUNCATED);
    } else {
        cr_assert_eq(pc_ws_parse_response(raw, rawlen, &used, wspair_request_key), PC_OK);
        cr_assert_eq(used, 129, "head is %zu bytes", used);
        cr_assert_eq(pc_ws_parse_response(raw, rawlen, &used, "dGhlIHNhbXBsZSBub25jZQ=="),
                     PC_ERR_INVALID, "a wrong accept value must be refused");
    }
    pc_ws *w;
    cr_assert_eq(pc_ws_new(&w, !server), PC_OK);
    pair_io io = {0};
    pc_ws_io cb = {io_write, io_data, &io};
    for (size_t off = used; off < rawlen; off += chunk) {
        size_t n = rawlen - off < chunk ? rawlen - off : chunk;
        cr_assert_eq(pc_ws_feed(w, raw + off, n, &cb), PC_OK, "feed failed at %zu", off);
    }
    cr_assert_eq(io.data.len, binlen, "de-framed %zu bytes, want %zu", io.data.len, binlen);
    cr_assert(memcmp(io.data.buf, bin, binlen) == 0, "de-framed stream differs");
    cr_assert_eq(io.out.len, 0, "nothing to answer in a ping-free capture");
    pc_ws_free(w);
    free(io.data.buf);
    free(io.out.buf);
    free(raw);
    free(bin);
}

Test(pc_ws, fixture_b_to_a_server_reader)
{
    feed_all(PC_FIXTURES "wspair-B-to-A.tcp.bin", PC_FIXTURES "wspair-B-to-A.bin", true, 1 << 20);
    feed_all(PC_FIXTURES "wspair-B-to-A.tcp.bin", PC_FIXTURES "wspair-B-to-A.bin", true, 7);
}

Test(pc_ws, fixture_a_to_b_client_reader)
{
    feed_all(PC_FIXTURES "wspair-A-to-B.tcp.bin", PC_FIXTURES "wspair-A-to-B.bin", false, 1 << 20);
    feed_all(PC_FIXTURES "wspair-A-to-B.tcp.bin", PC_FIXTURES "wspair-A-to-B.bin", false, 3);
}

Test(pc_ws, request_paths_and_refusals)
{
    char key[PC_WS_KEY_LEN + 1], req[512];
    size_t used;
    size_t n = pc_ws_build_request(req, sizeof req, "127.0.0.1:1", "/ws", wspair_request_key);
    cr_assert_gt(n, 0);
    cr_assert_eq(pc_ws_parse_request((uint8_t *)req, n, &used, key), PC_OK);
    cr_assert_eq(used, n);
    n = pc_ws_build_request(req, sizeof req, "127.0.0.1:1", "/other", wspair_request_key);
    cr_assert_eq(pc_ws_parse_request((uint8_t *)req, n, &used, key), PC_ERR_NO_PEER);
    const char *noup = "GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Key: glsw0blmL4Ji3+A8XPlavA==\r\n\r\n";
    cr_assert_eq(pc_ws_parse_request((const uint8_t *)noup, strlen(noup), &used, key),
                 PC_ERR_INVALID);
    uint8_t big[PC_WS_HTTP_MAX + 10];
    memset(big, 'a', sizeof big);
    cr_assert_eq(pc_ws_parse_request(big, sizeof big, &used, key), PC_ERR_TOO_LONG);
    char resp[512];
    n = pc_ws_build_response(resp, sizeof resp, wspair_request_key);
    cr_assert_eq(pc_ws_parse_response((uint8_t *)resp, n, &used, wspair_request_key), PC_OK);
}

Test(pc_ws, client_server_round_trip_and_violations)
{
    pc_ws *c, *s;
    cr_assert_eq(pc_ws_new(&c, true), PC_OK);
    cr_assert_eq(pc_ws_new(&s, false), PC_OK);
    pair_io ci = {0}, si = {0};
    pc_ws_io cio = {io_write, io_data, &ci}, sio = {io_write, io_data, &si};
    uint8_t msg[70000];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    cr_assert_eq(pc_ws_send(c, msg, sizeof msg, &cio), PC_OK);
    cr_assert_eq(pc_ws_send(c, msg, 5, &cio), PC_OK);
    cr_assert_gt(ci.out.len, sizeof msg + 5, "client frames carry a mask");
    cr_assert_eq(pc_ws_feed(s, ci.out.buf, ci.out.len, &sio), PC_OK);
    cr_assert_eq(si.data.len, sizeof msg + 5);
    cr_assert(memcmp(si.data.buf, msg, sizeof msg) == 0);
    cr_assert_eq(pc_ws_send(s, msg, 200, &sio), PC_OK);
    cr_assert_eq(si.out.len, 200 + 4, "server frames are unmasked");
    cr_assert_eq(pc_ws_feed(c, si.out.buf, si.out.len, &cio), PC_OK);
    cr_assert_eq(ci.data.len, 200);

    /* server frames sent to a server: unmasked, so the server must refuse them */
    pc_ws *s2;
    cr_assert_eq(pc_ws_new(&s2, false), PC_OK);
    pair_io s2i = {0};
    pc_ws_io s2io = {io_write, io_data, &s2i};
    cr_assert_eq(pc_ws_feed(s2, si.out.buf, si.out.len, &s2io), PC_ERR_INVALID);
    cr_assert_eq(s2i.data.len, 0);
    /* a text message is not Pinecone */
    pc_ws *c2;
    cr_assert_eq(pc_ws_new(&c2, true), PC_OK);
    const uint8_t text[] = {0x81, 0x02, 'h', 'i'};
    pair_io c2i = {0};
    pc_ws_io c2io = {io_write, io_data, &c2i};
    cr_assert_eq(pc_ws_feed(c2, text, sizeof text, &c2io), PC_ERR_INVALID);
    pc_ws_free(c);
    pc_ws_free(s);
    pc_ws_free(s2);
    pc_ws_free(c2);
    free(ci.out.buf);
    free(ci.data.buf);
    free(si.out.buf);
    free(si.data.buf);
    free(s2i.out.buf);
    free(c2i.out.buf);
}

Test(pc_ws, uri_split)
{
    char hp[64], path[64];
    cr_assert(pc_ws_split_uri("ws://127.0.0.1:7101", hp, sizeof hp, path, sizeof path));
    cr_assert_str_eq(hp, "127.0.0.1:7101");
    cr_assert_str_eq(path, "/");
    cr_assert(pc_ws_split_uri("ws://[::1]:80/ws", hp, sizeof hp, path, sizeof path));
    cr_assert_str_eq(hp, "[::1]:80");
    cr_assert_str_eq(path, "/ws");
    cr_assert_not(pc_ws_split_uri("wss://h:1/", hp, sizeof hp, path, sizeof path));
    cr_assert_not(pc_ws_split_uri("ws://host/", hp, sizeof hp, path, sizeof path));
}

Test(pc_ws, multicast_beacon_codec)
{
    uint8_t key[PC_KEY_LEN], b[PC_MCAST_BEACON_LEN], k2[PC_KEY_LEN];
    for (int i = 0; i < PC_KEY_LEN; i++)
        key[i] = (uint8_t)(i + 1);
    pc_mcast_beacon_encode(b, key, 0x1234);
    cr_assert(memcmp(b, key, PC_KEY_LEN) == 0);
    cr_assert_eq(b[32], 0x12);
    cr_assert_eq(b[33], 0x34);
    uint16_t port;
    cr_assert(pc_mcast_beacon_decode(b, sizeof b, k2, &port));
    cr_assert_eq(port, 0x1234);
    cr_assert(memcmp(k2, key, PC_KEY_LEN) == 0);
    cr_assert_not(pc_mcast_beacon_decode(b, 33, k2, &port), "short beacons are refused");
    b[32] = b[33] = 0;
    cr_assert_not(pc_mcast_beacon_decode(b, sizeof b, k2, &port), "port 0 cannot be dialled");
}
