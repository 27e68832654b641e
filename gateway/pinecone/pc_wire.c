/* pc_wire: encoders and decoders for the Pinecone wire format (see pc_wire.h).
 * Invariant kept by every decoder: a read of n bytes at offset o happens only after
 * checking o + n <= len, so hostile input can only produce an error code. Encoders
 * compute the exact size first and refuse anything over 65535 bytes, because Go writes
 * the 16-bit length truncated and the stream would desynchronise. */
#include "pinecone/pc_wire.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

const uint8_t pc_full_mask[PC_KEY_LEN] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

static const uint8_t magic[4] = {0x70, 0x69, 0x6e, 0x65};

const char *pc_frame_type_name(int type)
{
    switch (type) {
    case PC_FRAME_KEEPALIVE: return "Keepalive";
    case PC_FRAME_TREE_ANNOUNCEMENT: return "TreeAnnouncement";
    case PC_FRAME_BOOTSTRAP: return "Bootstrap";
    case PC_FRAME_TRAFFIC: return "Traffic";
    case PC_FRAME_WAKEUP_BROADCAST: return "WakeupBroadcast";
    default: return "Unknown";
    }
}

int pc_key_cmp(const uint8_t a[PC_KEY_LEN], const uint8_t b[PC_KEY_LEN])
{
    return memcmp(a, b, PC_KEY_LEN);
}

bool pc_key_ordered(const uint8_t a[PC_KEY_LEN], const uint8_t b[PC_KEY_LEN],
                    const uint8_t c[PC_KEY_LEN])
{
    return pc_key_cmp(a, b) < 0 && pc_key_cmp(b, c) < 0;
}

/* ---- varu64 ---- */

size_t pc_varu64_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t pc_varu64_put(uint8_t *out, uint64_t v)
{
    size_t n = pc_varu64_size(v);
    for (size_t i = n; i-- > 0;) {
        out[i] = (uint8_t)((v & 0x7f) | (i == n - 1 ? 0 : 0x80));
        v >>= 7;
    }
    return n;
}

int pc_varu64_get(const uint8_t *in, size_t len, uint64_t *value, size_t *used)
{
    uint64_t v = 0;
    /* A leading 0x80 is a zero group with more to come: the same number has a shorter
     * form, which is what every encoder (Go's too) writes. Accepting it would let two
     * byte strings mean one frame, and re-encoding would not give the bytes back. */
    if (len > 0 && in[0] == 0x80)
        return PC_ERR_VARU64;
    for (size_t i = 0; i < len && i < PC_VARU64_MAX; i++) {
        if (v >> 57)
            return PC_ERR_VARU64; /* the shift below would lose bits */
        v = (v << 7) | (in[i] & 0x7f);
        if (!(in[i] & 0x80)) {
            *value = v;
            *used = i + 1;
            return PC_OK;
        }
    }
    return len == 0 ? PC_ERR_TRUNCATED : PC_ERR_VARU64;
}

/* ---- big-endian helpers ---- */

static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ---- coordinates ---- */

static size_t coords_body_size(const pc_coords *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->len; i++)
        n += pc_varu64_size(c->port[i]);
    return n;
}

size_t pc_coords_encoded_size(const pc_coords *c) { return 2 + coords_body_size(c); }

int pc_coords_decode(const uint8_t *in, size_t len, pc_coords *out, size_t *used)
{
    if (len < 2)
        return PC_ERR_TRUNCATED;
    size_t body = get16(in);
    if (body > len - 2)
        return PC_ERR_TRUNCATED;
    const uint8_t *p = in + 2;
    size_t off = 0;
    out->len = 0;
    while (off < body) {
        if (out->len == PC_MAX_DEPTH)
            return PC_ERR_TOO_DEEP;
        size_t n;
        int rc = pc_varu64_get(p + off, body - off, &out->port[out->len], &n);
        if (rc)
            return rc == PC_ERR_TRUNCATED ? PC_ERR_VARU64 : rc;
        off += n;
        out->len++;
    }
    *used = 2 + body;
    return PC_OK;
}

int pc_coords_encode(const pc_coords *c, uint8_t *out, size_t cap, size_t *used)
{
    size_t body = coords_body_size(c);
    if (body > 0xffff)
        return PC_ERR_TOO_LONG;
    if (cap < 2 + body)
        return PC_ERR_BUFFER;
    put16(out, body);
    size_t off = 2;
    for (size_t i = 0; i < c->len; i++)
        off += pc_varu64_put(out + off, c->port[i]);
    *used = off;
    return PC_OK;
}

bool pc_coords_equal(const pc_coords *a, const pc_coords *b)
{
    if (a->len != b->len)
        return false;
    for (size_t i = 0; i < a->len; i++)
        if (a->port[i] != b->port[i])
            return false;
    return true;
}

size_t pc_coords_distance(const pc_coords *a, const pc_coords *b)
{
    size_t p = 0;
    while (p < a->len && p < b->len && a->port[p] == b->port[p])
        p++;
    return (size_t)a->len + b->len - 2 * p;
}

char *pc_coords_format(const pc_coords *c, char *out, size_t cap)
{
    size_t off = 0;
    if (cap == 0)
        return out;
    out[0] = '\0';
    int n = snprintf(out, cap, "[");
    off = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < c->len && off < cap; i++) {
        n = snprintf(out + off, cap - off, i ? " %llu" : "%llu", (unsigned long long)c->port[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    if (off < cap)
        snprintf(out + off, cap - off, "]");
    return out;
}

/* ---- watermarks ---- */

void pc_watermark_init(pc_watermark *w)
{
    memcpy(w->key, pc_full_mask, PC_KEY_LEN);
    w->seq = 0;
}

bool pc_watermark_worse(const pc_watermark *a, const pc_watermark *b)
{
    int c = pc_key_cmp(a->key, b->key);
    if (c > 0)
        return true;
    return c == 0 && a->seq != 0 && a->seq < b->seq;
}

/* ---- frames ---- */

int pc_header_peek(const uint8_t *in, size_t len, size_t *frame_len)
{
    if (len < PC_HEADER_LEN)
        return PC_ERR_TRUNCATED;
    if (memcmp(in, magic, 4) != 0)
        return PC_ERR_BAD_MAGIC;
    size_t l = get16(in + 8);
    if (l < PC_HEADER_LEN)
        return PC_ERR_BAD_LENGTH;
    *frame_len = l;
    return PC_OK;
}

/* A cursor over the frame body so each read is bounds-checked in one place. */
typedef struct cursor {
    const uint8_t *p;
    size_t len, off;
} cursor;

static int take(cursor *c, size_t n, const uint8_t **out)
{
    if (n > c->len - c->off)
        return PC_ERR_TRUNCATED;
    *out = c->p + c->off;
    c->off += n;
    return PC_OK;
}

static int take16(cursor *c, size_t *v)
{
    const uint8_t *p;
    int rc = take(c, 2, &p);
    if (!rc)
        *v = get16(p);
    return rc;
}

static int take_varu64(cursor *c, uint64_t *v)
{
    size_t n;
    int rc = pc_varu64_get(c->p + c->off, c->len - c->off, v, &n);
    if (!rc)
        c->off += n;
    return rc;
}

static int take_coords(cursor *c, pc_coords *out)
{
    size_t n;
    int rc = pc_coords_decode(c->p + c->off, c->len - c->off, out, &n);
    if (!rc)
        c->off += n;
    return rc;
}

int pc_frame_decode(const uint8_t *in, size_t len, pc_frame *f)
{
    size_t flen;
    int rc = pc_header_peek(in, len, &flen);
    if (rc)
        return rc;
    if (flen != len)
        return PC_ERR_BAD_LENGTH;
    f->version = in[4];
    f->type = in[5];
    f->extra = in[6];
    f->hop_limit = in[7];
    f->dest_coords.len = 0;
    f->src_coords.len = 0;
    f->dest_key = f->src_key = NULL;
    pc_watermark_init(&f->watermark);
    f->payload = NULL;
    f->payload_len = 0;

    cursor c = {in, len, PC_HEADER_LEN};
    size_t plen = 0;
    switch (f->type) {
    case PC_FRAME_KEEPALIVE:
        break;
    case PC_FRAME_TREE_ANNOUNCEMENT:
        if ((rc = take16(&c, &plen)))
            return rc;
        break;
    case PC_FRAME_BOOTSTRAP: {
        const uint8_t *wk;
        if ((rc = take16(&c, &plen)) || (rc = take(&c, PC_KEY_LEN, &f->dest_key)) ||
            (rc = take(&c, PC_KEY_LEN, &wk)) || (rc = take_varu64(&c, &f->watermark.seq)))
            return rc;
        memcpy(f->watermark.key, wk, PC_KEY_LEN);
        break;
    }
    case PC_FRAME_TRAFFIC:
        if ((rc = take16(&c, &plen)) || (rc = take_coords(&c, &f->dest_coords)) ||
            (rc = take_coords(&c, &f->src_coords)) ||
            (rc = take(&c, PC_KEY_LEN, &f->dest_key)) || (rc = take(&c, PC_KEY_LEN, &f->src_key)))
            return rc;
        if (f->dest_coords.len == 0) {
            const uint8_t *wk;
            if ((rc = take(&c, PC_KEY_LEN, &wk)) || (rc = take_varu64(&c, &f->watermark.seq)))
                return rc;
            memcpy(f->watermark.key, wk, PC_KEY_LEN);
        }
        break;
    case PC_FRAME_WAKEUP_BROADCAST:
        if ((rc = take16(&c, &plen)) || (rc = take(&c, PC_KEY_LEN, &f->src_key)))
            return rc;
        break;
    default:
        return PC_ERR_UNKNOWN_TYPE;
    }
    if (f->type != PC_FRAME_KEEPALIVE) {
        if ((rc = take(&c, plen, &f->payload)))
            return rc;
        f->payload_len = plen;
    }
    return c.off == len ? PC_OK : PC_ERR_TRAILING;
}

size_t pc_frame_encoded_size(const pc_frame *f)
{
    size_t n = PC_HEADER_LEN;
    switch (f->type) {
    case PC_FRAME_KEEPALIVE:
        return n;
    case PC_FRAME_TREE_ANNOUNCEMENT:
        return n + 2 + f->payload_len;
    case PC_FRAME_BOOTSTRAP:
        return n + 2 + 2 * PC_KEY_LEN + pc_varu64_size(f->watermark.seq) + f->payload_len;
    case PC_FRAME_TRAFFIC:
        n += 2 + pc_coords_encoded_size(&f->dest_coords) + pc_coords_encoded_size(&f->src_coords) +
             2 * PC_KEY_LEN + f->payload_len;
        if (f->dest_coords.len == 0)
            n += PC_KEY_LEN + pc_varu64_size(f->watermark.seq);
        return n;
    case PC_FRAME_WAKEUP_BROADCAST:
        return n + 2 + PC_KEY_LEN + f->payload_len;
    default:
        return 0;
    }
}

int pc_frame_encode(const pc_frame *f, uint8_t *out, size_t cap, size_t *written)
{
    if (f->type > PC_FRAME_WAKEUP_BROADCAST)
        return PC_ERR_UNKNOWN_TYPE;
    size_t total = pc_frame_encoded_size(f);
    if (total > PC_MAX_FRAME || f->payload_len > 0xffff)
        return PC_ERR_TOO_LONG;
    if (cap < total)
        return PC_ERR_BUFFER;
    memcpy(out, magic, 4);
    out[4] = f->version;
    out[5] = f->type;
    out[6] = f->extra;
    out[7] = f->hop_limit;
    put16(out + 8, total);
    size_t off = PC_HEADER_LEN, n;
    if (f->type != PC_FRAME_KEEPALIVE) {
        put16(out + off, f->payload_len);
        off += 2;
    }
    switch (f->type) {
    case PC_FRAME_BOOTSTRAP:
        memcpy(out + off, f->dest_key, PC_KEY_LEN);
        memcpy(out + off + PC_KEY_LEN, f->watermark.key, PC_KEY_LEN);
        off += 2 * PC_KEY_LEN;
        off += pc_varu64_put(out + off, f->watermark.seq);
        break;
    case PC_FRAME_TRAFFIC:
        pc_coords_encode(&f->dest_coords, out + off, cap - off, &n);
        off += n;
        pc_coords_encode(&f->src_coords, out + off, cap - off, &n);
        off += n;
        memcpy(out + off, f->dest_key, PC_KEY_LEN);
        memcpy(out + off + PC_KEY_LEN, f->src_key, PC_KEY_LEN);
        off += 2 * PC_KEY_LEN;
        if (f->dest_coords.len == 0) {
            memcpy(out + off, f->watermark.key, PC_KEY_LEN);
            off += PC_KEY_LEN;
            off += pc_varu64_put(out + off, f->watermark.seq);
        }
        break;
    case PC_FRAME_WAKEUP_BROADCAST:
        memcpy(out + off, f->src_key, PC_KEY_LEN);
        off += PC_KEY_LEN;
        break;
    default:
        break;
    }
    if (f->payload_len)
        memcpy(out + off, f->payload, f->payload_len);
    off += f->payload_len;
    *written = off;
    return PC_OK;
}

/* ---- root announcements ---- */

int pc_announcement_decode(const uint8_t *in, size_t len, pc_announcement *a)
{
    cursor c = {in, len, 0};
    int rc;
    if ((rc = take(&c, PC_KEY_LEN, &a->root_key)) || (rc = take_varu64(&c, &a->root_seq)))
        return rc;
    a->n_entries = 0;
    while (len - c.off >= PC_ANN_ENTRY_MIN) {
        if (a->n_entries == PC_MAX_DEPTH)
            return PC_ERR_TOO_DEEP;
        pc_sig_entry *e = &a->entries[a->n_entries];
        e->offset = c.off;
        if ((rc = take_varu64(&c, &e->port)) || (rc = take(&c, PC_KEY_LEN, &e->key)) ||
            (rc = take(&c, PC_SIG_LEN, &e->sig)))
            return rc;
        a->n_entries++;
    }
    a->raw = in;
    a->raw_len = c.off;
    return PC_OK;
}

int pc_verify(const pc_verifier *v, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
              const uint8_t key[PC_KEY_LEN])
{
    if (v && v->fn)
        return v->fn(v->ctx, sig, msg, len, key);
    return crypto_sign_verify_detached(sig, msg, len, key);
}

int pc_announcement_verify(const pc_announcement *a, const pc_verifier *v)
{
    for (size_t i = 0; i < a->n_entries; i++) {
        const pc_sig_entry *e = &a->entries[i];
        if (pc_verify(v, e->sig, a->raw, e->offset, e->key) != 0)
            return PC_ERR_SIGNATURE;
    }
    return PC_OK;
}

int pc_announcement_check(const pc_announcement *a, const uint8_t sender_key[PC_KEY_LEN])
{
    if (a->n_entries == 0)
        return PC_ERR_ANN_NO_ENTRIES;
    if (pc_key_cmp(a->entries[0].key, a->root_key) != 0)
        return PC_ERR_ANN_ROOT;
    if (pc_key_cmp(a->entries[a->n_entries - 1].key, sender_key) != 0)
        return PC_ERR_ANN_SENDER;
    for (size_t i = 0; i < a->n_entries; i++) {
        if (a->entries[i].port == 0)
            return PC_ERR_ANN_PORT_ZERO;
        for (size_t j = 0; j < i; j++)
            if (pc_key_cmp(a->entries[i].key, a->entries[j].key) == 0)
                return PC_ERR_ANN_LOOP;
    }
    return PC_OK;
}

void pc_announcement_coords(const pc_announcement *a, pc_coords *out)
{
    out->len = (uint16_t)a->n_entries;
    for (size_t i = 0; i < a->n_entries; i++)
        out->port[i] = a->entries[i].port;
}

void pc_announcement_peer_coords(const pc_announcement *a, pc_coords *out)
{
    pc_announcement_coords(a, out);
    if (out->len)
        out->len--;
}

bool pc_announcement_has_signer(const pc_announcement *a, const uint8_t key[PC_KEY_LEN])
{
    for (size_t i = 0; i < a->n_entries; i++)
        if (pc_key_cmp(a->entries[i].key, key) == 0)
            return true;
    return false;
}

size_t pc_announcement_root(const uint8_t root_key[PC_KEY_LEN], uint64_t seq, uint8_t *out)
{
    memcpy(out, root_key, PC_KEY_LEN);
    return PC_KEY_LEN + pc_varu64_put(out + PC_KEY_LEN, seq);
}

int pc_announcement_sign_append(const uint8_t *prefix, size_t prefix_len, uint64_t port,
                                const uint8_t sk[PC_SECRET_KEY_LEN], uint8_t *out,
                                size_t cap, size_t *written)
{
    size_t total = prefix_len + pc_varu64_size(port) + PC_KEY_LEN + PC_SIG_LEN;
    if (cap < total)
        return PC_ERR_BUFFER;
    uint8_t sig[PC_SIG_LEN];
    /* Sign before writing: prefix may alias out, and the entry must not be covered. */
    crypto_sign_detached(sig, NULL, prefix, prefix_len, sk);
    if (out != prefix)
        memmove(out, prefix, prefix_len);
    size_t off = prefix_len;
    off += pc_varu64_put(out + off, port);
    memcpy(out + off, sk + PC_SEED_LEN, PC_KEY_LEN);
    off += PC_KEY_LEN;
    memcpy(out + off, sig, PC_SIG_LEN);
    *written = off + PC_SIG_LEN;
    return PC_OK;
}

/* ---- bootstrap / broadcast messages ---- */

int pc_signed_msg_decode(const uint8_t *in, size_t len, pc_signed_msg *m)
{
    cursor c = {in, len, 0};
    int rc;
    if ((rc = take_varu64(&c, &m->seq)) || (rc = take(&c, PC_KEY_LEN, &m->root_key)) ||
        (rc = take_varu64(&c, &m->root_seq)))
        return rc;
    m->signed_part = in;
    m->signed_len = c.off;
    return take(&c, PC_SIG_LEN, &m->sig);
}

int pc_signed_msg_verify(const pc_signed_msg *m, const uint8_t key[PC_KEY_LEN], const pc_verifier *v)
{
    return pc_verify(v, m->sig, m->signed_part, m->signed_len, key) == 0
               ? PC_OK
               : PC_ERR_SIGNATURE;
}

int pc_signed_msg_build(uint64_t seq, const uint8_t root_key[PC_KEY_LEN], uint64_t root_seq,
                        const uint8_t sk[PC_SECRET_KEY_LEN], uint8_t *out, size_t cap,
                        size_t *written)
{
    size_t total = pc_varu64_size(seq) + PC_KEY_LEN + pc_varu64_size(root_seq) + PC_SIG_LEN;
    if (cap < total)
        return PC_ERR_BUFFER;
    size_t off = pc_varu64_put(out, seq);
    memcpy(out + off, root_key, PC_KEY_LEN);
    off += PC_KEY_LEN;
    off += pc_varu64_put(out + off, root_seq);
    crypto_sign_detached(out + off, NULL, out, off, sk);
    *written = off + PC_SIG_LEN;
    return PC_OK;
}
