/* hs_nonces: a flat array scanned linearly. The sets are small (hundreds) and touched
 * once per registration or UIA step, so a hash table would buy nothing. Comparison is
 * constant-time per entry so timing does not reveal how much of a guess matched. */
#include "server-core/hs_nonces.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"

typedef struct entry {
    char value[HS_NONCE_MAX];
    int64_t expires_ms;
    bool live;
} entry;

struct hs_nonces {
    pthread_mutex_t mu;
    entry *e;
    size_t max;
    int64_t ttl_ms;
};

hs_nonces *hs_nonces_new(size_t max, int64_t ttl_ms)
{
    if (max == 0 || ttl_ms <= 0) return NULL;
    hs_nonces *ns = calloc(1, sizeof *ns);
    if (!ns) return NULL;
    ns->e = calloc(max, sizeof *ns->e);
    if (!ns->e || pthread_mutex_init(&ns->mu, NULL) != 0) {
        free(ns->e);
        free(ns);
        return NULL;
    }
    ns->max = max;
    ns->ttl_ms = ttl_ms;
    return ns;
}

void hs_nonces_free(hs_nonces *ns)
{
    if (!ns) return;
    pthread_mutex_destroy(&ns->mu);
    free(ns->e);
    free(ns);
}

int hs_nonces_issue(hs_nonces *ns, int64_t now_ms, char out[HS_NONCE_MAX])
{
    if (sodium_init() < 0) return -1;
    uint8_t raw[24];
    randombytes_buf(raw, sizeof raw);
    char *s = hs_b64url_encode(raw, sizeof raw);
    if (!s) return -1;
    memcpy(out, s, strlen(s) + 1); /* 32 characters */
    free(s);
    pthread_mutex_lock(&ns->mu);
    size_t slot = 0;
    for (size_t i = 0; i < ns->max; i++) {
        if (!ns->e[i].live || ns->e[i].expires_ms <= now_ms) {
            slot = i;
            break;
        }
        if (ns->e[i].expires_ms < ns->e[slot].expires_ms) slot = i;
    }
    memset(ns->e[slot].value, 0, HS_NONCE_MAX); /* find() compares whole zero-padded buffers */
    memcpy(ns->e[slot].value, out, strlen(out) + 1);
    ns->e[slot].expires_ms = now_ms + ns->ttl_ms;
    ns->e[slot].live = true;
    pthread_mutex_unlock(&ns->mu);
    return 0;
}

static bool find(hs_nonces *ns, const char *nonce, int64_t now_ms, bool consume)
{
    size_t len = strnlen(nonce, HS_NONCE_MAX);
    if (len == 0 || len >= HS_NONCE_MAX) return false;
    char padded[HS_NONCE_MAX] = {0};
    memcpy(padded, nonce, len);
    bool found = false;
    pthread_mutex_lock(&ns->mu);
    for (size_t i = 0; i < ns->max && !found; i++) {
        entry *e = &ns->e[i];
        if (!e->live || e->expires_ms <= now_ms) continue;
        if (sodium_memcmp(e->value, padded, HS_NONCE_MAX) == 0) {
            found = true;
            if (consume) e->live = false;
        }
    }
    pthread_mutex_unlock(&ns->mu);
    return found;
}

bool hs_nonces_valid(hs_nonces *ns, const char *nonce, int64_t now_ms)
{
    return find(ns, nonce, now_ms, false);
}

bool hs_nonces_consume(hs_nonces *ns, const char *nonce, int64_t now_ms)
{
    return find(ns, nonce, now_ms, true);
}
