/* pc_deframer: turns arbitrary chunks of a peering's byte stream into whole frames.
 * Optionally the first 104 bytes are the handshake, delivered as one unit. The buffer
 * is bounded by the largest legal frame (65535 bytes); a bad magic or a length below 10
 * is a fatal stream error (the stream cannot be resynchronised), after which every
 * further feed returns the same error. Frames are delivered whole but not decoded. */
#ifndef PC_DEFRAMER_H
#define PC_DEFRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_wire.h"

/* Called once per whole unit. is_handshake is true for the 104-byte handshake. The data
 * is valid only during the call. Return 0 to continue, non-zero to stop feeding (that
 * value is returned by pc_deframer_feed; the rest of the chunk stays unconsumed). */
typedef int (*pc_deframer_cb)(bool is_handshake, const uint8_t *data, size_t len, void *ud);

typedef struct pc_deframer {
    uint8_t *buf;          /* PC_MAX_FRAME bytes, owned */
    size_t have;
    bool want_handshake;
    int error;             /* sticky fatal error, 0 if none */
} pc_deframer;

/* Allocates the buffer. expect_handshake: the stream starts with a 104-byte handshake.
 * Returns PC_OK or PC_ERR_NOMEM. */
int pc_deframer_init(pc_deframer *d, bool expect_handshake);

/* Frees the buffer. Safe on a zeroed or already-freed deframer. */
void pc_deframer_free(pc_deframer *d);

/* Consumes data[0..len), calling cb for each completed unit. Returns PC_OK, a negative
 * pc_err on stream corruption (PC_ERR_BAD_MAGIC, PC_ERR_BAD_LENGTH; sticky), or the
 * non-zero value cb returned. */
int pc_deframer_feed(pc_deframer *d, const uint8_t *data, size_t len, pc_deframer_cb cb,
                     void *ud);

/* Bytes of an incomplete unit currently buffered. */
size_t pc_deframer_pending(const pc_deframer *d);

#endif
