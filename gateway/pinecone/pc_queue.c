/* pc_queue: ring buffer of malloc'd frame copies (see pc_queue.h). The ring is
 * allocated lazily at its full capacity so idle peers cost nothing. */
#include "pinecone/pc_queue.h"

#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"

int pc_queue_push(pc_queue *q, size_t cap, const uint8_t *frame, size_t len, bool drop_oldest)
{
    if (!q->ring) {
        q->ring = calloc(cap, sizeof *q->ring);
        if (!q->ring)
            return PC_ERR_NOMEM;
        q->cap = cap;
        q->head = q->count = 0;
    }
    int rc = PC_OK;
    if (q->count == q->cap) {
        q->dropped++;
        if (!drop_oldest)
            return PC_ERR_QUEUE_FULL;
        pc_queue_pop(q);
        rc = PC_ERR_QUEUE_FULL;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return PC_ERR_NOMEM;
    memcpy(copy, frame, len);
    pc_qframe *slot = &q->ring[(q->head + q->count) % q->cap];
    slot->data = copy;
    slot->len = len;
    q->count++;
    return rc;
}

const pc_qframe *pc_queue_peek(const pc_queue *q)
{
    return q->count ? &q->ring[q->head] : NULL;
}

void pc_queue_pop(pc_queue *q)
{
    if (!q->count)
        return;
    free(q->ring[q->head].data);
    q->head = (q->head + 1) % q->cap;
    q->count--;
}

void pc_queue_clear(pc_queue *q)
{
    while (q->count)
        pc_queue_pop(q);
    free(q->ring);
    q->ring = NULL;
    q->cap = q->head = q->count = 0;
}
