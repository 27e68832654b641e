/* hs_ratelimit: an open-addressing hash table (linear probing, capacity a power of two
 * at least twice max_keys, so probes stay short) of token buckets. Buckets are refilled
 * lazily from the time of their last use. Forgetting keys rebuilds the table, which is
 * O(max_keys) and happens only when it is full. */
#include "server-core/hs_ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 128

typedef struct bucket {
    bool used;
    char key[KEY_MAX];
    double tokens;
    int64_t last_ms;
} bucket;

struct hs_ratelimit {
    pthread_mutex_t mu;
    double per_second, burst;
    size_t max_keys, cap, count;
    bucket *slots;
};

hs_ratelimit *hs_ratelimit_new(double per_second, double burst, size_t max_keys)
{
    if (!(burst >= 1) || !(per_second >= 0) || max_keys == 0 || max_keys > SIZE_MAX / 4 / sizeof(bucket))
        return NULL;
    hs_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl) return NULL;
    rl->per_second = per_second;
    rl->burst = burst;
    rl->max_keys = max_keys;
    rl->cap = 8;
    while (rl->cap < max_keys * 2) rl->cap *= 2;
    rl->slots = calloc(rl->cap, sizeof *rl->slots);
    if (!rl->slots || pthread_mutex_init(&rl->mu, NULL) != 0) {
        free(rl->slots);
        free(rl);
        return NULL;
    }
    return rl;
}

void hs_ratelimit_free(hs_ratelimit *rl)
{
    if (!rl) return;
    pthread_mutex_destroy(&rl->mu);
    free(rl->slots);
    free(rl);
}

static uint64_t hash_key(const char *k)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a */
    for (; *k; k++) h = (h ^ (unsigned char)*k) * UINT64_C(1099511628211);
    return h;
}

static void refill(const hs_ratelimit *rl, bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rl->per_second / 1000.0;
        if (b->tokens > rl->burst) b->tokens = rl->burst;
        b->last_ms = now_ms;
    }
}

/* Slot holding `key`, or the empty slot where it would go. */
static bucket *probe(hs_ratelimit *rl, const char *key)
{
    size_t i = (size_t)hash_key(key) & (rl->cap - 1);
    while (rl->slots[i].used && strcmp(rl->slots[i].key, key) != 0) i = (i + 1) & (rl->cap - 1);
    return &rl->slots[i];
}

/* Drops every full bucket, or the fullest one if none is full, by rebuilding in place. */
static void forget_some(hs_ratelimit *rl, int64_t now_ms)
{
    size_t fullest = SIZE_MAX, n_full = 0;
    for (size_t i = 0; i < rl->cap; i++) {
        if (!rl->slots[i].used) continue;
        refill(rl, &rl->slots[i], now_ms);
        if (rl->slots[i].tokens >= rl->burst) n_full++;
        if (fullest == SIZE_MAX || rl->slots[i].tokens > rl->slots[fullest].tokens) fullest = i;
    }
    bucket *old = rl->slots;
    bucket *fresh = calloc(rl->cap, sizeof *fresh);
    if (!fresh) {
        /* No memory to rebuild: clearing the fullest slot in place would break probe
         * chains, so forget everything instead; limits restart rather than fail. */
        memset(old, 0, rl->cap * sizeof *old);
        rl->count = 0;
        return;
    }
    rl->slots = fresh;
    rl->count = 0;
    for (size_t i = 0; i < rl->cap; i++) {
        if (!old[i].used) continue;
        if (n_full ? old[i].tokens >= rl->burst : i == fullest) continue;
        *probe(rl, old[i].key) = old[i];
        rl->count++;
    }
    free(old);
}

bool hs_ratelimit_take(hs_ratelimit *rl, const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    char k[KEY_MAX];
    size_t len = strnlen(key, KEY_MAX - 1);
    memcpy(k, key, len);
    k[len] = '\0';
    pthread_mutex_lock(&rl->mu);
    bucket *b = probe(rl, k);
    if (!b->used) {
        if (rl->count >= rl->max_keys) {
            forget_some(rl, now_ms);
            b = probe(rl, k);
        }
        b->used = true;
        memcpy(b->key, k, len + 1);
        b->tokens = rl->burst;
        b->last_ms = now_ms;
        rl->count++;
    }
    refill(rl, b, now_ms);
    bool ok = b->tokens >= 1.0;
    if (ok) {
        b->tokens -= 1.0;
    } else if (retry_after_ms) {
        double wait = rl->per_second > 0 ? ceil((1.0 - b->tokens) * 1000.0 / rl->per_second) : (double)HS_RATELIMIT_NEVER_MS;
        *retry_after_ms = wait > (double)HS_RATELIMIT_NEVER_MS ? HS_RATELIMIT_NEVER_MS : (int64_t)wait;
        if (*retry_after_ms < 1) *retry_after_ms = 1;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

size_t hs_ratelimit_tracked(hs_ratelimit *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
