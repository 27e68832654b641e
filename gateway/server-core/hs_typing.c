/* hs_typing: two small arrays under one mutex — the typing notices (room, user,
 * deadline) and each room's serial of last change. Linear scans are fine: typing
 * notices are few and short-lived, and the table is capped (in all and per user).
 * Rooms whose last change is older than every live client token could be dropped; they are kept (a room ID per
 * room that ever saw typing) because a stale client token would otherwise miss a stop. */
#include "server-core/hs_typing.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct notice {
    char *room_id;
    char *user_id;
    int64_t expires;
} notice;

typedef struct room_serial {
    char *room_id;
    int64_t serial;
} room_serial;

struct hs_typing {
    pthread_mutex_t mu;
    int64_t serial;
    notice *n;
    size_t n_len, n_cap;
    room_serial *r;
    size_t r_len, r_cap;
};

hs_typing *hs_typing_new(void)
{
    hs_typing *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void hs_typing_free(hs_typing *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_len; i++) {
        free(t->n[i].room_id);
        free(t->n[i].user_id);
    }
    for (size_t i = 0; i < t->r_len; i++) free(t->r[i].room_id);
    free(t->n);
    free(t->r);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* Records a change in the room: bumps the serial. Returns 0 or -1 (out of memory). */
static int touch_room(hs_typing *t, const char *room_id)
{
    t->serial++;
    for (size_t i = 0; i < t->r_len; i++) {
        if (strcmp(t->r[i].room_id, room_id) == 0) {
            t->r[i].serial = t->serial;
            return 0;
        }
    }
    if (t->r_len == t->r_cap) {
        size_t cap = t->r_cap ? t->r_cap * 2 : 16;
        room_serial *r = realloc(t->r, cap * sizeof *r);
        if (!r) return -1;
        t->r = r;
        t->r_cap = cap;
    }
    char *id = strdup(room_id);
    if (!id) return -1;
    t->r[t->r_len++] = (room_serial){id, t->serial};
    return 0;
}

static void remove_notice(hs_typing *t, size_t i)
{
    free(t->n[i].room_id);
    free(t->n[i].user_id);
    t->n[i] = t->n[--t->n_len];
}

static void expire(hs_typing *t, int64_t now_ms)
{
    for (size_t i = 0; i < t->n_len;) {
        if (t->n[i].expires <= now_ms) {
            char *room = t->n[i].room_id;
            t->n[i].room_id = NULL;
            remove_notice(t, i);
            touch_room(t, room);
            free(room);
        } else {
            i++;
        }
    }
}

int hs_typing_set(hs_typing *t, const char *room_id, const char *user_id, bool typing, int64_t timeout_ms,
                  int64_t now_ms)
{
    if (timeout_ms < 0) timeout_ms = 0;
    if (timeout_ms > HS_TYPING_MAX_TIMEOUT_MS) timeout_ms = HS_TYPING_MAX_TIMEOUT_MS;
    pthread_mutex_lock(&t->mu);
    expire(t, now_ms);
    int ret = 0;
    size_t i = t->n_len, by_user = 0;
    for (size_t k = 0; k < t->n_len; k++) {
        if (strcmp(t->n[k].user_id, user_id) != 0) continue;
        by_user++;
        if (strcmp(t->n[k].room_id, room_id) == 0) i = k;
    }
    bool found = i < t->n_len;
    if (typing && found) {
        t->n[i].expires = now_ms + timeout_ms;
    } else if (typing) {
        if (t->n_len == HS_TYPING_MAX || by_user >= HS_TYPING_MAX_PER_USER) {
            ret = -1;
        } else if (t->n_len == t->n_cap) {
            size_t cap = t->n_cap ? t->n_cap * 2 : 16;
            notice *n = realloc(t->n, cap * sizeof *n);
            if (n) {
                t->n = n;
                t->n_cap = cap;
            } else {
                ret = -1;
            }
        }
        if (ret == 0) {
            notice nn = {strdup(room_id), strdup(user_id), now_ms + timeout_ms};
            if (!nn.room_id || !nn.user_id) {
                free(nn.room_id);
                free(nn.user_id);
                ret = -1;
            } else {
                t->n[t->n_len++] = nn;
                ret = touch_room(t, room_id) == 0 ? 1 : -1;
            }
        }
    } else if (found) {
        remove_notice(t, i);
        ret = touch_room(t, room_id) == 0 ? 1 : -1;
    }
    pthread_mutex_unlock(&t->mu);
    return ret;
}

int64_t hs_typing_serial(hs_typing *t, int64_t now_ms)
{
    pthread_mutex_lock(&t->mu);
    expire(t, now_ms);
    int64_t s = t->serial;
    pthread_mutex_unlock(&t->mu);
    return s;
}

json_t *hs_typing_room(hs_typing *t, const char *room_id, int64_t since)
{
    pthread_mutex_lock(&t->mu);
    json_t *out = NULL;
    int64_t changed = 0;
    for (size_t i = 0; i < t->r_len; i++)
        if (strcmp(t->r[i].room_id, room_id) == 0) changed = t->r[i].serial;
    bool reset = since > t->serial;
    if (changed > since || (reset && changed > 0)) {
        out = json_array();
        for (size_t i = 0; i < t->n_len; i++)
            if (strcmp(t->n[i].room_id, room_id) == 0) json_array_append_new(out, json_string(t->n[i].user_id));
    }
    pthread_mutex_unlock(&t->mu);
    return out;
}

int64_t hs_typing_next_expiry(hs_typing *t)
{
    pthread_mutex_lock(&t->mu);
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < t->n_len; i++)
        if (t->n[i].expires < next) next = t->n[i].expires;
    pthread_mutex_unlock(&t->mu);
    return next;
}
