/* hs_fed_e2ee_internal: what the three files behind hs_fed_e2ee.h share -
 * hs_fed_e2ee.c (inbound endpoints and EDUs, EDUs queued at once, remote profiles),
 * hs_fed_e2ee_scan.c (the outbound scan of device list and presence changes) and
 * hs_fed_e2ee_keys.c (a client's key queries and claims on other servers). Not an API
 * for other modules. */
#ifndef HS_FED_E2EE_INTERNAL_H
#define HS_FED_E2EE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server-core/hs_server.h"
#include "server-core/hs_store_fed_queue.h"

/* True when user_id is a user of this server. */
bool hs_fed_e2ee_is_local(const hs_server *srv, const char *user_id);

/* EDUs to enqueue, owning their strings. Zero-initialise; a failed allocation sets
 * `failed`, after which adds do nothing. */
typedef struct hs_fed_edu_batch {
    hs_store_fed_item *items;
    char **dests, **payloads;
    size_t n, cap;
    bool failed;
} hs_fed_edu_batch;

/* Adds `edu` (copied as JSON text) for destination `dest`. */
void hs_fed_edu_batch_add(hs_fed_edu_batch *b, const char *dest, const json_t *edu);

/* Frees what the batch holds. */
void hs_fed_edu_batch_free(hs_fed_edu_batch *b);

/* Enqueues the batch (no cursor moved), wakes the sender and frees the batch.
 * Returns 0 or -1. */
int hs_fed_edu_batch_send(hs_server *srv, hs_fed_edu_batch *b);

/* The canonical JSON of a key object (malloc'd), or NULL (key NULL, or not encodable). */
char *hs_fed_e2ee_key_text(const json_t *key);

/* The cached cross-signing key ("master", "self_signing") of a user of another
 * server, parsed (new reference), or NULL when none is cached. */
json_t *hs_fed_e2ee_cached_cross_key(hs_server *srv, const char *user_id, const char *type);

#endif
