/* Pinecone codec: the test vectors of shared/spec/pinecone.md §14, byte-exact in both
 * directions, plus malformed-input rejection. */
#include <criterion/criterion.h>
#include <string.h>

#include "pinecone/pc_deframer.h"
#include "pinecone/pc_handshake.h"
#include "pinecone/pc_wire.h"
#include "test_pc_util.h"

static const char *KEY_A = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
static const char *KEY_B = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394";
static const char *KEY_C = "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1";

static void expect_bytes(const uint8_t *got, size_t got_len, const char *want_hex)
{
    uint8_t want[70000];
    long n = tpc_unhex(want_hex, want, sizeof want);
    cr_assert_eq((long)got_len, n, "length %zu, want %ld", got_len, n);
    cr_assert(memcmp(got, want, (size_t)n) == 0, "bytes differ");
}

Test(pc_codec, varu64_vectors)
{
    struct { uint64_t v; const char *hex; } vec[] = {
        {0, "00"}, {1, "01"}, {12, "0c"}, {123, "7b"}, {1234, "8952"}, {12345, "e039"},
        {123456, "87c440"}, {1234567, "cbad07"}, {12345678, "85f1c24e"}, {127, "7f"},
        {128, "8100"}, {300, "822c"}, {16383, "ff7f"}, {16384, "818000"}, {5000, "a708"},
        {1700000000000ull, "b1bcff95d000"},
    };
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        uint8_t buf[10];
        size_t n = pc_varu64_put(buf, vec[i].v);
        expect_bytes(buf, n, vec[i].hex);
        uint64_t v;
        size_t used;
        cr_assert_eq(pc_varu64_get(buf, n, &v, &used), PC_OK);
        cr_assert_eq(v, vec[i].v);
        cr_assert_eq(used, n);
    }
    uint8_t in[] = {0x85, 0xf1, 0xc2, 0x4e, 0x01, 0x02, 0x03};
    uint64_t v;
    size_t used;
    cr_assert_eq(pc_varu64_get(in, sizeof in, &v, &used), PC_OK);
    cr_assert_eq(v, 12345678);
    cr_assert_eq(used, 4);
    uint8_t max[10];
    cr_assert_eq(pc_varu64_get(max, pc_varu64_put(max, UINT64_MAX), &v, &used), PC_OK);
    cr_assert_eq(v, UINT64_MAX);
}

Test(pc_codec, varu64_rejects_malformed)
{
    uint64_t v;
    size_t used;
    uint8_t unterminated[] = {0x81, 0x82};
    cr_assert_eq(pc_varu64_get(unterminated, 2, &v, &used), PC_ERR_VARU64);
    uint8_t eleven[11];
    memset(eleven, 0x80, 10);
    eleven[10] = 0;
    cr_assert_eq(pc_varu64_get(eleven, 11, &v, &used), PC_ERR_VARU64);
    uint8_t overflow[] = {0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    cr_assert_eq(pc_varu64_get(overflow, sizeof overflow, &v, &used), PC_ERR_VARU64);
    cr_assert_eq(pc_varu64_get(overflow, 0, &v, &used), PC_ERR_TRUNCATED);
    /* Non-minimal: 0x80 0x05 would be 5, whose only encoding is 0x05. */
    uint8_t padded[] = {0x80, 0x05};
    cr_assert_eq(pc_varu64_get(padded, sizeof padded, &v, &used), PC_ERR_VARU64);
    uint8_t zero[] = {0x00};
    cr_assert_eq(pc_varu64_get(zero, 1, &v, &used), PC_OK, "zero itself is one 0x00 byte");
    cr_assert_eq(v, 0);
}

Test(pc_codec, coords_and_distance)
{
    pc_coords c = {.len = 4, .port = {1, 2, 3, 4000}};
    uint8_t buf[32];
    size_t n;
    cr_assert_eq(pc_coords_encode(&c, buf, sizeof buf, &n), PC_OK);
    expect_bytes(buf, n, "0005 010203 9f20");
    pc_coords d;
    cr_assert_eq(pc_coords_decode(buf, n, &d, &n), PC_OK);
    cr_assert(pc_coords_equal(&c, &d));

    pc_coords us = {4, {1, 2, 3, 4}}, parent = {3, {1, 2, 3}}, root = {0, {0}},
              other = {7, {1, 3, 3, 4, 7, 6, 1}};
    cr_assert_eq(pc_coords_distance(&us, &root), 4);
    cr_assert_eq(pc_coords_distance(&parent, &root), 3);
    cr_assert_eq(pc_coords_distance(&root, &us), 4);
    cr_assert_eq(pc_coords_distance(&us, &other), 9);
    cr_assert_eq(pc_coords_distance(&parent, &other), 8);
    cr_assert_eq(pc_coords_distance(&root, &other), 7);
    pc_coords a = {5, {1, 3, 5, 3, 4}}, b = {6, {1, 3, 5, 7, 6, 1}};
    cr_assert_eq(pc_coords_distance(&a, &b), 5);
    char s[64];
    cr_assert_str_eq(pc_coords_format(&a, s, sizeof s), "[1 3 5 3 4]");
    cr_assert_str_eq(pc_coords_format(&root, s, sizeof s), "[]");

    uint8_t bad[] = {0x00, 0x03, 0x01, 0x02};  /* body claims 3 bytes, 2 present */
    cr_assert_eq(pc_coords_decode(bad, sizeof bad, &d, &n), PC_ERR_TRUNCATED);
    uint8_t unterminated[] = {0x00, 0x02, 0x01, 0x82};
    cr_assert_eq(pc_coords_decode(unterminated, sizeof unterminated, &d, &n), PC_ERR_VARU64);
}

Test(pc_codec, v1_handshake)
{
    uint8_t pk[32], sk[64], hs[PC_HANDSHAKE_LEN], peer[32];
    tpc_keys(1, pk, sk);
    uint8_t want_pk[32];
    tpc_unhex(KEY_A, want_pk, 32);
    cr_assert(memcmp(pk, want_pk, 32) == 0);
    pc_handshake_encode(sk, hs);
    char want[300];
    snprintf(want, sizeof want, "010000000000003b%s%s", KEY_A,
             "3888c1c321b4c4ff5d1ff4cd028726811e36b907215f6054b068af993ad5342f"
             "550fc7650169dbbeb6dbe16ccb71a450e114b6656e5219798c918604c6452001");
    expect_bytes(hs, sizeof hs, want);
    cr_assert_eq(pc_handshake_decode(hs, sizeof hs, peer), PC_OK);
    cr_assert(memcmp(peer, pk, 32) == 0);

    uint8_t bad[PC_HANDSHAKE_LEN];
    memcpy(bad, hs, sizeof bad);
    bad[0] = 2;
    cr_assert_eq(pc_handshake_decode(bad, sizeof bad, peer), PC_ERR_HS_VERSION);
    memcpy(bad, hs, sizeof bad);
    bad[7] = 0x3f;
    cr_assert_eq(pc_handshake_decode(bad, sizeof bad, peer), PC_ERR_HS_CAPS);
    memcpy(bad, hs, sizeof bad);
    bad[20] ^= 1;
    cr_assert_eq(pc_handshake_decode(bad, sizeof bad, peer), PC_ERR_SIGNATURE);
    memcpy(bad, hs, sizeof bad);
    bad[2] = 0x55; /* unused bytes are ignored by value but covered by the signature */
    cr_assert_eq(pc_handshake_decode(bad, sizeof bad, peer), PC_ERR_SIGNATURE);
    cr_assert_eq(pc_handshake_decode(hs, 103, peer), PC_ERR_TRUNCATED);
}

Test(pc_codec, v2_keepalive)
{
    pc_frame f = {.type = PC_FRAME_KEEPALIVE};
    uint8_t buf[16];
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, buf, sizeof buf, &n), PC_OK);
    expect_bytes(buf, n, "70696e65 00 00 00 00 000a");
    pc_frame d;
    cr_assert_eq(pc_frame_decode(buf, n, &d), PC_OK);
    cr_assert_eq(d.type, PC_FRAME_KEEPALIVE);
}

static const char *V3_SIG = "ff89960dbc4fe6149da0411d5e62ea0decbdec6f5bce6e85e15fec10c3458c65"
                            "80c6d5bc7e5060e7895cc538ec6a4164ceb56f105bc89730dd4173f5051c010b";
static const char *V4_SIG = "06d17394993ce0dfef90118896f539fd45e11cbfa6acdf1950a9eea05170b6f5"
                            "c678fe3003c22854ed813ee21a66a714c6bade6dc01282c6fc7cc8c17563c908";

Test(pc_codec, v3_v4_announcements)
{
    uint8_t pka[32], ska[64], pkb[32], skb[64];
    tpc_keys(1, pka, ska);
    tpc_keys(2, pkb, skb);
    uint8_t payload[512];
    size_t plen = pc_announcement_root(pka, 1, payload);
    cr_assert_eq(pc_announcement_sign_append(payload, plen, 1, ska, payload, sizeof payload, &plen),
                 PC_OK);
    pc_frame f = {.type = PC_FRAME_TREE_ANNOUNCEMENT, .payload = payload, .payload_len = plen};
    uint8_t frame[1024];
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, frame, sizeof frame, &n), PC_OK);
    char want[2000];
    snprintf(want, sizeof want, "70696e65 00 01 00 00 008e 0082 %s 01 01 %s %s", KEY_A, KEY_A, V3_SIG);
    expect_bytes(frame, n, want);

    /* B re-signs A's announcement for its port 3 (V4). */
    size_t p4;
    uint8_t payload4[512];
    cr_assert_eq(pc_announcement_sign_append(payload, plen, 3, skb, payload4, sizeof payload4, &p4),
                 PC_OK);
    f.payload = payload4;
    f.payload_len = p4;
    cr_assert_eq(pc_frame_encode(&f, frame, sizeof frame, &n), PC_OK);
    snprintf(want, sizeof want, "70696e65 00 01 00 00 00ef 00e3 %s 01 01 %s %s 03 %s %s", KEY_A,
             KEY_A, V3_SIG, KEY_B, V4_SIG);
    expect_bytes(frame, n, want);

    pc_frame d;
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_OK);
    pc_announcement a;
    cr_assert_eq(pc_announcement_decode(d.payload, d.payload_len, &a), PC_OK);
    cr_assert_eq(a.n_entries, 2);
    cr_assert_eq(a.root_seq, 1);
    cr_assert_eq(pc_announcement_verify(&a, NULL), PC_OK);
    cr_assert_eq(pc_announcement_check(&a, pkb), PC_OK);
    cr_assert_eq(pc_announcement_check(&a, pka), PC_ERR_ANN_SENDER);
    pc_coords c, pcs;
    pc_announcement_coords(&a, &c);
    pc_announcement_peer_coords(&a, &pcs);
    pc_coords want_c = {2, {1, 3}}, want_p = {1, {1}};
    cr_assert(pc_coords_equal(&c, &want_c));
    cr_assert(pc_coords_equal(&pcs, &want_p));

    /* A flipped bit in an earlier entry breaks every later signature check. */
    frame[12 + 40] ^= 0x01;
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_OK);
    cr_assert_eq(pc_announcement_decode(d.payload, d.payload_len, &a), PC_OK);
    cr_assert_eq(pc_announcement_verify(&a, NULL), PC_ERR_SIGNATURE);
}

Test(pc_codec, v5_bootstrap)
{
    uint8_t pka[32], ska[64], pkc[32], skc[64];
    tpc_keys(1, pka, ska);
    tpc_keys(3, pkc, skc);
    uint8_t msg[PC_SIGNED_MSG_MAX];
    size_t mlen;
    cr_assert_eq(pc_signed_msg_build(1700000000000ull, pka, 1, skc, msg, sizeof msg, &mlen), PC_OK);
    pc_frame f = {.type = PC_FRAME_BOOTSTRAP, .dest_key = pkc, .payload = msg, .payload_len = mlen};
    pc_watermark_init(&f.watermark);
    uint8_t frame[512];
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, frame, sizeof frame, &n), PC_OK);
    char want[1000];
    snprintf(want, sizeof want, "70696e65 00 02 00 00 00b4 0067 %s %s 00 b1bcff95d000 %s 01 %s",
             KEY_C, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", KEY_A,
             "191df5e0ac291d5c9c301768b3bc22e816705b41dffe95a2d3d91281e72c8880"
             "6cfe173304c3dee754fefbd808edeec5ea029a0f4c7bd0fe27404553278fda0e");
    expect_bytes(frame, n, want);
    pc_frame d;
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_OK);
    pc_signed_msg m;
    cr_assert_eq(pc_signed_msg_decode(d.payload, d.payload_len, &m), PC_OK);
    cr_assert_eq(m.seq, 1700000000000ull);
    cr_assert_eq(pc_signed_msg_verify(&m, d.dest_key, NULL), PC_OK);
    cr_assert_eq(pc_signed_msg_verify(&m, pka, NULL), PC_ERR_SIGNATURE);
}

Test(pc_codec, v6_broadcast)
{
    uint8_t pka[32], ska[64], pkb[32], skb[64];
    tpc_keys(1, pka, ska);
    tpc_keys(2, pkb, skb);
    uint8_t msg[PC_SIGNED_MSG_MAX];
    size_t mlen, n;
    cr_assert_eq(pc_signed_msg_build(1700000000000ull, pka, 1, skb, msg, sizeof msg, &mlen), PC_OK);
    pc_frame f = {.type = PC_FRAME_WAKEUP_BROADCAST, .hop_limit = PC_HOP_LIMIT_BROADCAST,
                  .src_key = pkb, .payload = msg, .payload_len = mlen};
    uint8_t frame[512];
    cr_assert_eq(pc_frame_encode(&f, frame, sizeof frame, &n), PC_OK);
    char want[1000];
    snprintf(want, sizeof want, "70696e65 00 04 00 05 0093 0067 %s b1bcff95d000 %s 01 %s", KEY_B,
             KEY_A,
             "498781d03d4a8ac351005e6031f0be6db2988c5786287d6019d364b9843b0054"
             "ba30b371e0f10c6f3cd68e640e293b6c854d21ac14f59a5f04dd35c81c170706");
    expect_bytes(frame, n, want);
}

Test(pc_codec, v7_v8_v9_traffic)
{
    uint8_t pkb[32], pkc[32];
    tpc_unhex(KEY_B, pkb, 32);
    tpc_unhex(KEY_C, pkc, 32);
    const uint8_t hello[] = "hello";
    char want[1000];
    uint8_t frame[512];
    size_t n;
    pc_frame d;

    pc_frame v7 = {.type = PC_FRAME_TRAFFIC, .hop_limit = 10, .src_coords = {1, {1}},
                   .dest_key = pkc, .src_key = pkb, .payload = hello, .payload_len = 5};
    pc_watermark_init(&v7.watermark);
    cr_assert_eq(pc_frame_encode(&v7, frame, sizeof frame, &n), PC_OK);
    snprintf(want, sizeof want, "70696e65 00 03 00 0a 0077 0005 0000 0001 01 %s %s %s 00 68656c6c6f",
             KEY_C, KEY_B, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    expect_bytes(frame, n, want);
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_OK);
    cr_assert_eq(d.src_coords.len, 1);
    cr_assert_eq(d.payload_len, 5);

    pc_frame v8 = {.type = PC_FRAME_TRAFFIC, .hop_limit = 10, .dest_coords = {1, {1}},
                   .src_coords = {2, {1, 3}}, .dest_key = pkb, .src_key = pkc,
                   .payload = hello, .payload_len = 5};
    cr_assert_eq(pc_frame_encode(&v8, frame, sizeof frame, &n), PC_OK);
    snprintf(want, sizeof want, "70696e65 00 03 00 0a 0058 0005 0001 01 0002 0103 %s %s 68656c6c6f",
             KEY_B, KEY_C);
    expect_bytes(frame, n, want);
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_OK);
    cr_assert(memcmp(d.watermark.key, pc_full_mask, 32) == 0, "tree form decodes to FullMask");
    cr_assert_eq(d.dest_coords.len, 1);

    const uint8_t aa = 0xaa;
    pc_frame v9 = {.type = PC_FRAME_TRAFFIC, .dest_key = pkc, .src_key = pkb, .payload = &aa,
                   .payload_len = 1};
    memcpy(v9.watermark.key, pkc, 32);
    v9.watermark.seq = 1700000000000ull;
    cr_assert_eq(pc_frame_encode(&v9, frame, sizeof frame, &n), PC_OK);
    snprintf(want, sizeof want, "70696e65 00 03 00 00 0077 0001 0000 0000 %s %s %s b1bcff95d000 aa",
             KEY_C, KEY_B, KEY_C);
    expect_bytes(frame, n, want);
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_OK);
    cr_assert_eq(d.watermark.seq, 1700000000000ull);

    /* Trailing byte: declared length one more than the fields. */
    frame[9]++;
    frame[n] = 0;
    cr_assert_eq(pc_frame_decode(frame, n + 1, &d), PC_ERR_TRAILING);
    /* Payload length larger than the frame. */
    frame[9]--;
    frame[11] = 0x10;
    cr_assert_eq(pc_frame_decode(frame, n, &d), PC_ERR_TRUNCATED);
}

Test(pc_codec, v10_watermarks)
{
    uint8_t pkc[32];
    tpc_unhex(KEY_C, pkc, 32);
    pc_watermark full, c5, c7, c0;
    pc_watermark_init(&full);
    memcpy(c5.key, pkc, 32);
    c5.seq = 5;
    c7 = c5;
    c7.seq = 7;
    c0 = c5;
    c0.seq = 0;
    cr_assert(!pc_watermark_worse(&c5, &full));
    cr_assert(pc_watermark_worse(&full, &c5));
    cr_assert(pc_watermark_worse(&c5, &c7));
    cr_assert(!pc_watermark_worse(&c0, &c7));
    cr_assert(!pc_watermark_worse(&c7, &c5));
}

Test(pc_codec, header_rejections)
{
    uint8_t frame[16] = {0x70, 0x69, 0x6e, 0x65, 0, 0, 0, 0, 0, 9};
    pc_frame d;
    size_t l;
    cr_assert_eq(pc_header_peek(frame, 10, &l), PC_ERR_BAD_LENGTH, "length < 10 must be refused");
    cr_assert_eq(pc_frame_decode(frame, 10, &d), PC_ERR_BAD_LENGTH);
    frame[9] = 10;
    frame[0] = 'P';
    cr_assert_eq(pc_frame_decode(frame, 10, &d), PC_ERR_BAD_MAGIC);
    frame[0] = 0x70;
    frame[5] = 9;
    cr_assert_eq(pc_frame_decode(frame, 10, &d), PC_ERR_UNKNOWN_TYPE);
    cr_assert_eq(pc_frame_decode(frame, 9, &d), PC_ERR_TRUNCATED);
    cr_assert_str_eq(pc_strerror(PC_ERR_BAD_MAGIC), "frame does not start with the magic bytes \"pine\"");

    /* An encoder refuses frames over 65535 bytes rather than truncating the length. */
    static uint8_t big[70000], out[70000];
    pc_frame f = {.type = PC_FRAME_TREE_ANNOUNCEMENT, .payload = big, .payload_len = 65524};
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, out, sizeof out, &n), PC_ERR_TOO_LONG);
    f.payload_len = 65523;
    cr_assert_eq(pc_frame_encode(&f, out, sizeof out, &n), PC_OK);
    cr_assert_eq(n, 65535);
}

/* The de-framer gives the same units whatever the chunking. */
typedef struct units {
    size_t n, bytes;
    int hs;
} units;

static int count_unit(bool is_hs, const uint8_t *data, size_t len, void *ud)
{
    units *u = ud;
    (void)data;
    u->n++;
    u->bytes += len;
    u->hs += is_hs;
    return 0;
}

Test(pc_codec, deframer_chunking)
{
    size_t len;
    uint8_t *bin = tpc_load(PC_FIXTURES "line3-B-to-A.bin", &len);
    cr_assert_not_null(bin);
    units whole = {0};
    pc_deframer d;
    cr_assert_eq(pc_deframer_init(&d, true), PC_OK);
    cr_assert_eq(pc_deframer_feed(&d, bin, len, count_unit, &whole), PC_OK);
    pc_deframer_free(&d);
    cr_assert_eq(whole.bytes, len);
    cr_assert_eq(whole.hs, 1);
    for (size_t chunk = 1; chunk < 200; chunk += 7) {
        units u = {0};
        cr_assert_eq(pc_deframer_init(&d, true), PC_OK);
        for (size_t off = 0; off < len; off += chunk)
            cr_assert_eq(pc_deframer_feed(&d, bin + off, off + chunk > len ? len - off : chunk,
                                          count_unit, &u), PC_OK);
        cr_assert_eq(pc_deframer_pending(&d), 0);
        pc_deframer_free(&d);
        cr_assert_eq(u.n, whole.n, "chunk %zu", chunk);
        cr_assert_eq(u.bytes, len);
    }
    /* Corruption is sticky. */
    units u = {0};
    cr_assert_eq(pc_deframer_init(&d, false), PC_OK);
    cr_assert_eq(pc_deframer_feed(&d, (const uint8_t *)"pinX", 4, count_unit, &u), PC_ERR_BAD_MAGIC);
    cr_assert_eq(pc_deframer_feed(&d, bin + 104, 10, count_unit, &u), PC_ERR_BAD_MAGIC);
    pc_deframer_free(&d);
    free(bin);
}
