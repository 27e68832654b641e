/* Pinecone codec against the recorded Go streams (tests/fixtures/pinecone): every
 * `*.bin` stream (not the raw `.tcp.bin`) de-frames into exactly the units listed in
 * `*-frames.jsonl` (offset, length, type, header fields), each frame decodes, every
 * signature verifies, decoded fields match the recorded ones, and re-encoding gives the
 * same bytes. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "pinecone/pc_deframer.h"
#include "pinecone/pc_handshake.h"
#include "pinecone/pc_wire.h"
#include "test_pc_util.h"

typedef struct stream_check {
    json_t *records;        /* array of this connection's jsonl records, in order */
    size_t next;
    const uint8_t *base;    /* start of the .bin, to compute offsets */
    const uint8_t *cursor;  /* where the next unit must start */
    uint8_t sender[32];
    size_t frames, signatures;
} stream_check;

static void check_key(const uint8_t *got, json_t *hex)
{
    cr_assert(json_is_string(hex));
    uint8_t want[32];
    cr_assert_eq(tpc_unhex(json_string_value(hex), want, 32), 32);
    cr_assert(memcmp(got, want, 32) == 0);
}

static void check_coords(const pc_coords *c, json_t *arr)
{
    cr_assert_eq(json_array_size(arr), c->len);
    for (size_t i = 0; i < c->len; i++)
        cr_assert_eq(json_integer_value(json_array_get(arr, i)), (json_int_t)c->port[i]);
}

static void check_signed_msg(const pc_frame *f, json_t *fields, const char *name,
                             const uint8_t *key, stream_check *sc)
{
    pc_signed_msg m;
    cr_assert_eq(pc_signed_msg_decode(f->payload, f->payload_len, &m), PC_OK);
    cr_assert_eq(pc_signed_msg_verify(&m, key, NULL), PC_OK);
    sc->signatures++;
    json_t *b = json_object_get(fields, name);
    cr_assert_eq(json_integer_value(json_object_get(b, "sequence")), (json_int_t)m.seq);
    cr_assert_eq(json_integer_value(json_object_get(b, "root_sequence")), (json_int_t)m.root_seq);
    check_key(m.root_key, json_object_get(b, "root_key"));
}

static void check_frame(const uint8_t *data, size_t len, json_t *rec, stream_check *sc)
{
    pc_frame f;
    cr_assert_eq(pc_frame_decode(data, len, &f), PC_OK);
    json_t *hdr = json_object_get(rec, "header");
    cr_assert_eq(json_integer_value(json_object_get(rec, "type")), f.type);
    cr_assert_eq(json_integer_value(json_object_get(hdr, "hop_limit")), f.hop_limit);
    cr_assert_eq(json_integer_value(json_object_get(hdr, "version")), f.version);
    json_t *fields = json_object_get(rec, "fields");

    switch (f.type) {
    case PC_FRAME_TREE_ANNOUNCEMENT: {
        pc_announcement a;
        cr_assert_eq(pc_announcement_decode(f.payload, f.payload_len, &a), PC_OK);
        cr_assert_eq(a.raw_len, f.payload_len, "no trailing bytes in Go announcements");
        cr_assert_eq(pc_announcement_verify(&a, NULL), PC_OK);
        cr_assert_eq(pc_announcement_check(&a, sc->sender), PC_OK);
        sc->signatures += a.n_entries;
        check_key(a.root_key, json_object_get(fields, "root_key"));
        cr_assert_eq(json_integer_value(json_object_get(fields, "root_sequence")),
                     (json_int_t)a.root_seq);
        cr_assert_eq(json_array_size(json_object_get(fields, "entries")), a.n_entries);
        pc_coords c;
        pc_announcement_coords(&a, &c);
        check_coords(&c, json_object_get(fields, "coords"));
        pc_announcement_peer_coords(&a, &c);
        check_coords(&c, json_object_get(fields, "peer_coords"));
        break;
    }
    case PC_FRAME_BOOTSTRAP:
        check_key(f.dest_key, json_object_get(fields, "destination_key"));
        check_key(f.watermark.key, json_object_get(fields, "watermark_key"));
        cr_assert_eq(json_integer_value(json_object_get(fields, "watermark_sequence")),
                     (json_int_t)f.watermark.seq);
        check_signed_msg(&f, fields, "bootstrap", f.dest_key, sc);
        break;
    case PC_FRAME_WAKEUP_BROADCAST:
        check_key(f.src_key, json_object_get(fields, "source_key"));
        check_signed_msg(&f, fields, "broadcast", f.src_key, sc);
        break;
    case PC_FRAME_TRAFFIC: {
        const char *form = json_string_value(json_object_get(fields, "form"));
        cr_assert_str_eq(form, f.dest_coords.len ? "tree" : "snek");
        check_coords(&f.dest_coords, json_object_get(fields, "destination_coords"));
        check_coords(&f.src_coords, json_object_get(fields, "source_coords"));
        check_key(f.dest_key, json_object_get(fields, "destination_key"));
        check_key(f.src_key, json_object_get(fields, "source_key"));
        cr_assert_eq(json_integer_value(json_object_get(fields, "payload_length")),
                     (json_int_t)f.payload_len);
        if (!f.dest_coords.len) {
            check_key(f.watermark.key, json_object_get(fields, "watermark_key"));
            cr_assert_eq(json_integer_value(json_object_get(fields, "watermark_sequence")),
                         (json_int_t)f.watermark.seq);
        }
        break;
    }
    default:
        break;
    }

    /* Re-encoding the decoded frame gives back the recorded bytes. */
    static uint8_t out[PC_MAX_FRAME];
    size_t n;
    cr_assert_eq(pc_frame_encode(&f, out, sizeof out, &n), PC_OK);
    cr_assert_eq(n, len);
    cr_assert(memcmp(out, data, len) == 0, "re-encoded frame differs");
    uint8_t body[PC_MAX_FRAME];
    const char *body_hex = json_string_value(json_object_get(rec, "body_hex"));
    cr_assert_eq(tpc_unhex(body_hex, body, sizeof body), (long)(len - PC_HEADER_LEN));
    cr_assert(memcmp(body, data + PC_HEADER_LEN, len - PC_HEADER_LEN) == 0);
    sc->frames++;
}

static int on_unit(bool is_hs, const uint8_t *data, size_t len, void *ud)
{
    stream_check *sc = ud;
    cr_assert_lt(sc->next, json_array_size(sc->records), "more units than recorded");
    json_t *rec = json_array_get(sc->records, sc->next++);
    /* Units come out in stream order and back to back. */
    size_t offset = (size_t)(sc->cursor - sc->base);
    cr_assert_eq(json_integer_value(json_object_get(rec, "offset")), (json_int_t)offset);
    cr_assert_eq(json_integer_value(json_object_get(rec, "length")), (json_int_t)len);
    sc->cursor += len;
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    if (is_hs) {
        cr_assert_str_eq(kind, "handshake");
        cr_assert_eq(pc_handshake_decode(data, len, sc->sender), PC_OK);
        check_key(sc->sender, json_object_get(json_object_get(rec, "fields"), "public_key"));
        sc->signatures++;
    } else {
        cr_assert_str_eq(kind, "frame");
        check_frame(data, len, rec, sc);
    }
    return 0;
}

static void check_scenario(const char *scenario)
{
    char path[512];
    snprintf(path, sizeof path, PC_FIXTURES "%s-frames.jsonl", scenario);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "%s", path);
    json_t *by_conn = json_object();
    static char line[1 << 20];
    while (fgets(line, sizeof line, fp)) {
        json_error_t err;
        json_t *rec = json_loads(line, 0, &err);
        cr_assert_not_null(rec, "%s: %s", path, err.text);
        const char *conn = json_string_value(json_object_get(rec, "conn"));
        json_t *arr = json_object_get(by_conn, conn);
        if (!arr) {
            arr = json_array();
            json_object_set_new(by_conn, conn, arr);
        }
        json_array_append_new(arr, rec);
    }
    fclose(fp);
    cr_assert_geq(json_object_size(by_conn), 2);

    const char *conn;
    json_t *records;
    json_object_foreach(by_conn, conn, records) {
        snprintf(path, sizeof path, PC_FIXTURES "%s-%s.bin", scenario, conn);
        size_t len;
        uint8_t *bin = tpc_load(path, &len);
        cr_assert_not_null(bin, "%s", path);
        /* Odd chunk sizes so frames straddle feeds. */
        stream_check sc = {.records = records, .base = bin, .cursor = bin};
        pc_deframer d;
        cr_assert_eq(pc_deframer_init(&d, true), PC_OK);
        for (size_t off = 0; off < len; off += 333)
            cr_assert_eq(pc_deframer_feed(&d, bin + off, off + 333 > len ? len - off : 333, on_unit,
                                          &sc), PC_OK);
        cr_assert_eq(pc_deframer_pending(&d), 0, "%s: partial frame at end", path);
        pc_deframer_free(&d);
        cr_assert_eq(sc.next, json_array_size(records), "%s: fewer units than recorded", path);
        cr_assert_eq((size_t)(sc.cursor - bin), len);
        cr_assert_gt(sc.frames, 0);
        cr_assert_gt(sc.signatures, 1);
        free(bin);
    }
    json_decref(by_conn);
}

Test(pc_fixtures, pair_streams) { check_scenario("pair"); }
Test(pc_fixtures, wspair_streams) { check_scenario("wspair"); }
Test(pc_fixtures, line3_streams) { check_scenario("line3"); }
Test(pc_fixtures, traffic_streams) { check_scenario("traffic"); }
