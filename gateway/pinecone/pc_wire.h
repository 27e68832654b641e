/* pc_wire: the Pinecone wire codec (matrix-org/pinecone at Dendrite's pin, HEAD frame
 * numbering). Primitive encodings (varu64, coordinates, keys, watermarks), the 10-byte
 * frame header, every frame type, and the signed bodies carried inside frames (root
 * announcements with their signature chain, bootstrap and wakeup-broadcast messages).
 *
 * Decoding is zero-copy: decoded structs hold pointers into the caller's buffer, which
 * must outlive them. Every decoder is bounded (frames <= 65535 bytes, at most
 * PC_MAX_DEPTH coordinates or signature entries, varu64 <= 10 bytes) and returns a
 * negative pc_err code on malformed input; none reads outside [in, in+len).
 * Frame-level decoders check only structure; signatures are verified by the explicit
 * *_verify functions. This file does no I/O and keeps no state. */
#ifndef PC_WIRE_H
#define PC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_err.h"

#define PC_KEY_LEN 32
#define PC_SIG_LEN 64
#define PC_SECRET_KEY_LEN 64      /* libsodium form: seed || public key */
#define PC_SEED_LEN 32
#define PC_HEADER_LEN 10
#define PC_MAX_FRAME 65535        /* the 16-bit length field includes the header */
#define PC_VARU64_MAX 10
/* Deepest tree we accept (coordinates and announcement signature entries). Go's only
 * bound is the frame size (~670 levels); 128 levels is far beyond any real mesh and
 * keeps decoded structs a fixed, small size. */
#define PC_MAX_DEPTH 128
#define PC_ANN_ENTRY_MIN (1 + PC_KEY_LEN + PC_SIG_LEN) /* 97 */

#define PC_HOP_LIMIT_TRAFFIC 10   /* MaxHopLimit */
#define PC_HOP_LIMIT_BROADCAST 5  /* NetworkHorizonDistance */

typedef enum pc_frame_type {
    PC_FRAME_KEEPALIVE = 0,
    PC_FRAME_TREE_ANNOUNCEMENT = 1,
    PC_FRAME_BOOTSTRAP = 2,
    PC_FRAME_TRAFFIC = 3,
    PC_FRAME_WAKEUP_BROADCAST = 4,
} pc_frame_type;

/* Returns "Keepalive", "TreeAnnouncement", ... (Go names), or "Unknown". */
const char *pc_frame_type_name(int type);

/* ---- keys ------------------------------------------------------------------ */

/* 32 bytes of 0xFF: the "no watermark yet" key. */
extern const uint8_t pc_full_mask[PC_KEY_LEN];

/* memcmp order of two keys (<0, 0, >0). */
int pc_key_cmp(const uint8_t a[PC_KEY_LEN], const uint8_t b[PC_KEY_LEN]);

/* True iff a < b < c (strict, no wrap). */
bool pc_key_ordered(const uint8_t a[PC_KEY_LEN], const uint8_t b[PC_KEY_LEN],
                    const uint8_t c[PC_KEY_LEN]);

/* ---- varu64 (big-endian base-128, MSB group first) ------------------------ */

/* Number of bytes pc_varu64_put writes for v (1..10). */
size_t pc_varu64_size(uint64_t v);

/* Writes v to out (room for PC_VARU64_MAX bytes needed); returns bytes written. */
size_t pc_varu64_put(uint8_t *out, uint64_t v);

/* Reads one varu64 from in[0..len). On success stores the value and the number of bytes
 * consumed; returns PC_ERR_VARU64 for unterminated, >10-byte or >64-bit input. */
int pc_varu64_get(const uint8_t *in, size_t len, uint64_t *value, size_t *used);

/* ---- coordinates ----------------------------------------------------------- */

typedef struct pc_coords {
    uint16_t len;                  /* number of ports */
    uint64_t port[PC_MAX_DEPTH];
} pc_coords;

/* Decodes "uint16 body length || varu64 ports" from in[0..len); sets *used to 2+body. */
int pc_coords_decode(const uint8_t *in, size_t len, pc_coords *out, size_t *used);

/* Encoded size (2 + body) of c. */
size_t pc_coords_encoded_size(const pc_coords *c);

/* Encodes c into out (capacity cap); sets *used. PC_ERR_BUFFER if it does not fit. */
int pc_coords_encode(const pc_coords *c, uint8_t *out, size_t cap, size_t *used);

bool pc_coords_equal(const pc_coords *a, const pc_coords *b);

/* Tree distance len(a) + len(b) - 2 * common prefix. */
size_t pc_coords_distance(const pc_coords *a, const pc_coords *b);

/* Formats as Go prints it: "[1 2 3]". Writes at most cap bytes incl. NUL; returns out. */
char *pc_coords_format(const pc_coords *c, char *out, size_t cap);

/* ---- watermarks ------------------------------------------------------------ */

typedef struct pc_watermark {
    uint8_t key[PC_KEY_LEN];
    uint64_t seq;
} pc_watermark;

/* The initial watermark (FullMask, 0). */
void pc_watermark_init(pc_watermark *w);

/* Go's WorseThan: a.key > b.key, or same key and a.seq != 0 and a.seq < b.seq. */
bool pc_watermark_worse(const pc_watermark *a, const pc_watermark *b);

/* ---- frames ---------------------------------------------------------------- */

/* One decoded (or to-be-encoded) frame. Which fields are meaningful depends on type:
 *   KEEPALIVE:          none
 *   TREE_ANNOUNCEMENT:  payload (a root announcement, see pc_announcement_decode)
 *   BOOTSTRAP:          dest_key (the originator), watermark, payload (pc_signed_msg)
 *   TRAFFIC:            dest_coords, src_coords, dest_key, src_key, payload, and the
 *                       watermark only when dest_coords is empty (SNEK form); in tree
 *                       form the decoder sets the watermark to (FullMask, 0) as Go does
 *   WAKEUP_BROADCAST:   src_key (the originator), payload (pc_signed_msg)
 * Key and payload pointers point into the decoded buffer (or, for encoding, wherever
 * the caller keeps them). */
typedef struct pc_frame {
    uint8_t version;   /* always 0 on send; not checked on receive (as Go) */
    uint8_t type;
    uint8_t extra;     /* always 0 on send; ignored */
    uint8_t hop_limit;
    pc_coords dest_coords;
    pc_coords src_coords;
    const uint8_t *dest_key;
    const uint8_t *src_key;
    pc_watermark watermark;
    const uint8_t *payload;
    size_t payload_len;
} pc_frame;

/* Reads the 10-byte header at in[0..len): checks the magic and that the length field is
 * >= 10 and stores it in *frame_len. PC_ERR_TRUNCATED when len < 10. */
int pc_header_peek(const uint8_t *in, size_t len, size_t *frame_len);

/* Decodes exactly one whole frame in[0..len) (len must equal the header's length).
 * Unknown types give PC_ERR_UNKNOWN_TYPE (Go drops those silently; the caller decides).
 * Fields that do not add up exactly to the frame length give PC_ERR_TRAILING. */
int pc_frame_decode(const uint8_t *in, size_t len, pc_frame *f);

/* Size the encoded frame would have (may exceed PC_MAX_FRAME; encode then fails). */
size_t pc_frame_encoded_size(const pc_frame *f);

/* Encodes f into out[0..cap); sets *written. PC_ERR_TOO_LONG over 65535 bytes,
 * PC_ERR_BUFFER when cap is too small, PC_ERR_UNKNOWN_TYPE for other types. */
int pc_frame_encode(const pc_frame *f, uint8_t *out, size_t cap, size_t *written);

/* ---- root announcements (TreeAnnouncement payload) ------------------------- */

typedef struct pc_sig_entry {
    uint64_t port;         /* signer's port towards the receiver of this copy */
    const uint8_t *key;    /* signer */
    const uint8_t *sig;    /* over raw[0..offset) */
    size_t offset;         /* where this entry starts inside raw */
} pc_sig_entry;

typedef struct pc_announcement {
    const uint8_t *root_key;
    uint64_t root_seq;
    size_t n_entries;
    pc_sig_entry entries[PC_MAX_DEPTH];
    const uint8_t *raw;    /* the decoded bytes */
    size_t raw_len;        /* excludes trailing bytes (< 97) that Go also ignores */
} pc_announcement;

/* Decodes a root announcement from a TreeAnnouncement payload. Entries are read while
 * at least 97 bytes remain, as Go does. Does not verify signatures or sanity rules. */
int pc_announcement_decode(const uint8_t *in, size_t len, pc_announcement *a);

/* An ed25519 signature check: returns 0 when `sig` is `key`'s signature of msg[0..len).
 * Routers use libsodium's directly; the simulator plugs in a memoising one, because in a
 * simulation one signed message is checked at thousands of nodes. */
typedef int (*pc_verify_fn)(void *ctx, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
                            const uint8_t key[PC_KEY_LEN]);
typedef struct pc_verifier {
    pc_verify_fn fn; /* NULL: libsodium */
    void *ctx;
} pc_verifier;

/* Checks one signature with `v` (NULL or v->fn NULL: libsodium). 0 if valid. */
int pc_verify(const pc_verifier *v, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
              const uint8_t key[PC_KEY_LEN]);

/* Verifies every entry's signature (entry i signs raw[0..entries[i].offset)) with `v`
 * (NULL: libsodium). Returns PC_OK or PC_ERR_SIGNATURE. */
int pc_announcement_verify(const pc_announcement *a, const pc_verifier *v);

/* The §3.1 structural sanity rules 1-5 with the sending peer's key (rule 6, replay, needs
 * history and lives in the router). Returns PC_OK or a PC_ERR_ANN_* code. */
int pc_announcement_check(const pc_announcement *a, const uint8_t sender_key[PC_KEY_LEN]);

/* Coords(ann): all entry ports. PeerCoords(ann): all but the last. */
void pc_announcement_coords(const pc_announcement *a, pc_coords *out);
void pc_announcement_peer_coords(const pc_announcement *a, pc_coords *out);

/* True if any signer of a is `key`. */
bool pc_announcement_has_signer(const pc_announcement *a, const uint8_t key[PC_KEY_LEN]);

/* Builds the unsigned start of a root's own announcement (root key || varu64 seq) into
 * out; returns bytes written (at most 42). */
size_t pc_announcement_root(const uint8_t root_key[PC_KEY_LEN], uint64_t seq, uint8_t *out);

/* Appends a signature entry: out = prefix || varu64 port || pk || sign(sk, prefix).
 * prefix may alias out. sk is the libsodium 64-byte secret key (its public half is the
 * signer key). Returns PC_ERR_BUFFER if cap is too small. */
int pc_announcement_sign_append(const uint8_t *prefix, size_t prefix_len, uint64_t port,
                                const uint8_t sk[PC_SECRET_KEY_LEN], uint8_t *out,
                                size_t cap, size_t *written);

/* ---- bootstrap / wakeup broadcast message ---------------------------------- */

/* seq || root key || root seq || signature; identical layout for both payloads. */
typedef struct pc_signed_msg {
    uint64_t seq;
    const uint8_t *root_key;
    uint64_t root_seq;
    const uint8_t *sig;
    const uint8_t *signed_part;    /* seq || root key || root seq as encoded */
    size_t signed_len;
} pc_signed_msg;

/* Decodes a bootstrap/broadcast message; bytes after the signature are ignored. */
int pc_signed_msg_decode(const uint8_t *in, size_t len, pc_signed_msg *m);

/* Verifies m's signature with `key` (bootstrap: frame dest key; broadcast: src key),
 * using `v` (NULL: libsodium). Returns PC_OK or PC_ERR_SIGNATURE. */
int pc_signed_msg_verify(const pc_signed_msg *m, const uint8_t key[PC_KEY_LEN], const pc_verifier *v);

/* Builds and signs a message with sk; out needs room for 10+32+10+64 bytes. */
int pc_signed_msg_build(uint64_t seq, const uint8_t root_key[PC_KEY_LEN], uint64_t root_seq,
                        const uint8_t sk[PC_SECRET_KEY_LEN], uint8_t *out, size_t cap,
                        size_t *written);

#define PC_SIGNED_MSG_MAX (PC_VARU64_MAX + PC_KEY_LEN + PC_VARU64_MAX + PC_SIG_LEN)

#endif
