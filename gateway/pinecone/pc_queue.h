/* pc_queue: a bounded FIFO of owned frame copies, one per peer and class (protocol,
 * traffic). Bounded because a flooding or stalled peer must not grow memory without
 * limit; the overflow policy is the caller's choice (drop the newest or the oldest). */
#ifndef PC_QUEUE_H
#define PC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pc_qframe {
    uint8_t *data;
    size_t len;
} pc_qframe;

typedef struct pc_queue {
    pc_qframe *ring;   /* allocated on first push */
    size_t cap, head, count;
    uint64_t dropped;
} pc_queue;

/* Copies frame into q. If q holds `cap` frames: drop_oldest frees the head first,
 * otherwise the new frame is refused; either way `dropped` counts it and the function
 * returns PC_ERR_QUEUE_FULL (the new frame is queued when drop_oldest). PC_ERR_NOMEM on
 * allocation failure. */
int pc_queue_push(pc_queue *q, size_t cap, const uint8_t *frame, size_t len, bool drop_oldest);

/* The oldest frame, or NULL when empty (still owned by the queue). */
const pc_qframe *pc_queue_peek(const pc_queue *q);

/* Frees and removes the oldest frame. */
void pc_queue_pop(pc_queue *q);

/* Frees every frame and the ring; q may be reused afterwards. */
void pc_queue_clear(pc_queue *q);

#endif
