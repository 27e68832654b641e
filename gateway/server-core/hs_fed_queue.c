/* hs_fed_queue: the scan of local events into the outbound queue and the sending of
 * transactions (see hs_fed_queue.h). */
#include "server-core/hs_fed_queue.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_fed_queue.h"
#include "server-core/hs_store_fed_rooms.h"
#include "server-core/hs_store_rooms.h"

#define SCAN_BATCH 200

typedef struct scanned {
    int64_t stream;
    char *event_id, *room_id, *sender, *type, *state_key, *membership;
} scanned;

typedef struct scan_ctx {
    scanned *v;
    size_t n;
} scan_ctx;

static int collect(void *vc, const hs_store_fed_new *ev)
{
    scan_ctx *c = vc;
    scanned *s = &c->v[c->n++];
    s->stream = ev->stream;
    s->event_id = strdup(ev->event_id);
    s->room_id = strdup(ev->room_id);
    s->sender = strdup(ev->sender);
    s->type = strdup(ev->type);
    s->state_key = ev->state_key ? strdup(ev->state_key) : NULL;
    s->membership = ev->membership ? strdup(ev->membership) : NULL;
    return s->event_id && s->room_id && s->sender && s->type ? 0 : -1;
}

typedef struct receipt_ctx {
    hs_server *srv;
    hs_store_fed_item *items;
    char **payloads, **dests; /* what the items point to */
    size_t n, cap;
    int64_t last;
    int failed;
} receipt_ctx;

/* Queues one local user's m.read receipt as an m.receipt EDU to every other server in
 * the room. */
static int collect_receipt(void *vc, const hs_store_fed_receipt *r)
{
    receipt_ctx *c = vc;
    c->last = r->stream;
    const char *server = hs_id_server_name(r->user_id);
    if (!server || strcmp(server, c->srv->cfg.server_name) != 0) return 0;
    char **servers;
    size_t n;
    if (hs_store_fed_joined_servers(c->srv->store, r->room_id, &servers, &n) != 0) return -1;
    json_t *data = json_pack("{sI}", "ts", (json_int_t)r->ts);
    if (r->thread_id && r->thread_id[0]) json_object_set_new(data, "thread_id", json_string(r->thread_id));
    json_t *edu = json_pack("{sss{s{s{s{s[s]so}}}}}", "edu_type", "m.receipt", "content", r->room_id, "m.read",
                            r->user_id, "event_ids", r->event_id, "data", data);
    char *text = edu ? json_dumps(edu, JSON_COMPACT) : NULL;
    json_decref(edu);
    for (size_t i = 0; text && i < n; i++) {
        if (strcmp(servers[i], c->srv->cfg.server_name) == 0) continue;
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 8;
            hs_store_fed_item *gi = realloc(c->items, cap * sizeof *gi);
            if (gi) c->items = gi;
            char **gp = realloc(c->payloads, cap * sizeof *gp);
            if (gp) c->payloads = gp;
            char **gd = realloc(c->dests, cap * sizeof *gd);
            if (gd) c->dests = gd;
            if (!gi || !gp || !gd) {
                c->failed = 1;
                break;
            }
            c->cap = cap;
        }
        c->payloads[c->n] = strdup(text);
        c->dests[c->n] = strdup(servers[i]);
        c->items[c->n] = (hs_store_fed_item){c->dests[c->n], "edu", c->payloads[c->n]};
        c->n++;
    }
    free(text);
    hs_store_free_strings(servers, n);
    return c->failed ? -1 : 0;
}

static long scan_receipts(hs_server *srv, int64_t now_ms)
{
    int64_t cursor;
    if (hs_store_fed_cursor_get(srv->store, HS_STORE_FED_RECEIPTS, &cursor) != 0) return -1;
    receipt_ctx c = {.srv = srv, .last = cursor};
    long n = hs_store_fed_receipts_after(srv->store, cursor, SCAN_BATCH, collect_receipt, &c);
    if (n > 0 && hs_store_fed_enqueue(srv->store, c.items, c.n, HS_STORE_FED_RECEIPTS, c.last, now_ms) != 0) n = -1;
    hs_store_free_strings(c.payloads, c.n);
    hs_store_free_strings(c.dests, c.n);
    free(c.items);
    return n;
}

long hs_fed_queue_scan(hs_server *srv, int64_t now_ms)
{
    long receipts = scan_receipts(srv, now_ms);
    if (receipts < 0) return -1;
    long devices = hs_fed_e2ee_scan(srv, now_ms); /* m.device_list_update: hs_fed_e2ee.c */
    if (devices < 0) return -1;
    receipts += devices;
    int64_t cursor;
    if (hs_store_fed_cursor_get(srv->store, HS_STORE_FED_EVENTS, &cursor) != 0) return -1;
    scan_ctx c = {calloc(SCAN_BATCH, sizeof(scanned)), 0};
    if (!c.v) return -1;
    long n = hs_store_fed_events_after(srv->store, cursor, SCAN_BATCH, collect, &c);
    const char *self = srv->cfg.server_name;
    hs_store_fed_item *items = NULL;
    size_t n_items = 0, cap = 0;
    char **names = NULL; /* the destination strings the items point to */
    size_t n_names = 0;
    int ret = n < 0 ? -1 : 0;
    for (size_t i = 0; ret == 0 && i < c.n; i++) {
        const scanned *ev = &c.v[i];
        const char *sender_server = hs_id_server_name(ev->sender);
        if (!sender_server || strcmp(sender_server, self) != 0) continue;
        char **dests = NULL;
        size_t nd = 0;
        if (hs_store_fed_joined_servers(srv->store, ev->room_id, &dests, &nd) != 0) {
            ret = -1;
            break;
        }
        const char *target = ev->state_key && strcmp(ev->type, "m.room.member") == 0 ? hs_id_server_name(ev->state_key)
                                                                                     : NULL;
        /* An invite for a server not in the room goes by /invite (it cannot take the
         * event in a /send before it holds the room). */
        const char *invite_to = NULL;
        if (target) {
            bool have = false;
            for (size_t k = 0; k < nd; k++) have |= strcmp(dests[k], target) == 0;
            if (!have && ev->membership && strcmp(ev->membership, "invite") == 0) invite_to = target;
            char **grown = have ? dests : realloc(dests, (nd + 1) * sizeof *grown);
            if (grown && !have && (grown[nd] = strdup(target))) nd++;
            if (grown) dests = grown;
        }
        for (size_t k = 0; k < nd; k++) {
            if (strcmp(dests[k], self) == 0) {
                free(dests[k]);
                continue;
            }
            if (n_items == cap) {
                cap = cap ? cap * 2 : 16;
                hs_store_fed_item *gi = realloc(items, cap * sizeof *gi);
                char **gn = realloc(names, cap * sizeof *gn);
                if (gi) items = gi;
                if (gn) names = gn;
                if (!gi || !gn) {
                    ret = -1;
                    for (; k < nd; k++) free(dests[k]);
                    break;
                }
            }
            names[n_names++] = dests[k];
            bool inv = invite_to && strcmp(dests[k], invite_to) == 0;
            items[n_items++] = (hs_store_fed_item){dests[k], inv ? "invite" : "pdu", ev->event_id};
        }
        free(dests);
    }
    if (ret == 0 && c.n > 0 && hs_store_fed_enqueue(srv->store, items, n_items, HS_STORE_FED_EVENTS, c.v[c.n - 1].stream, now_ms) != 0)
        ret = -1;
    for (size_t i = 0; i < c.n; i++) {
        free(c.v[i].event_id);
        free(c.v[i].room_id);
        free(c.v[i].sender);
        free(c.v[i].type);
        free(c.v[i].state_key);
        free(c.v[i].membership);
    }
    free(c.v);
    hs_store_free_strings(names, n_names);
    free(items);
    return ret == 0 ? (long)c.n + receipts : -1;
}

/* ---- sending ---------------------------------------------------------------------- */

/* A request in flight: a transaction, or the empty "we are up" transaction. Its index
 * in slots[] is the batch tag. */
typedef struct slot {
    bool used, ping;
    char dest[256];
    char txn_id[48];
} slot;

struct hs_fed_sending {
    hs_server *srv;
    hs_fed_batch *batch;
    slot *slots;
    size_t n_slots, in_flight;
    char **pings;     /* destinations still to announce ourselves to */
    size_t n_pings, ping_at;
};

hs_fed_sending *hs_fed_sending_new(hs_server *srv)
{
    hs_fed_sending *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->srv = srv;
    s->n_slots = srv->cfg.federation_max_concurrent_requests > 0 ? (size_t)srv->cfg.federation_max_concurrent_requests
                                                                  : 16;
    s->slots = calloc(s->n_slots, sizeof *s->slots);
    s->batch = s->slots ? hs_fed_batch_open(srv) : NULL;
    if (!s->batch) {
        hs_fed_sending_free(s);
        return NULL;
    }
    return s;
}

void hs_fed_sending_free(hs_fed_sending *s)
{
    if (!s) return;
    hs_fed_batch_close(s->batch);
    hs_store_free_strings(s->pings, s->n_pings);
    free(s->slots);
    free(s);
}

void hs_fed_sending_wake(hs_fed_sending *s)
{
    hs_fed_batch_wake(s->batch);
}

size_t hs_fed_sending_in_flight(const hs_fed_sending *s)
{
    return s->in_flight;
}

static slot *find_slot(hs_fed_sending *s, const char *dest)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->slots[i].used && strcmp(s->slots[i].dest, dest) == 0) return &s->slots[i];
    return NULL;
}

static slot *free_slot(hs_fed_sending *s)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (!s->slots[i].used) return &s->slots[i];
    return NULL;
}

/* Starts PUT /send/{txn_id} with `body` to dest in slot sl. Returns 0, or -1 (logged)
 * when it could not start. */
static int start_put(hs_fed_sending *s, slot *sl, const char *dest, const char *txn_id, bool ping,
                     const json_t *body)
{
    char target[300];
    snprintf(target, sizeof target, "/_matrix/federation/v1/send/%s", txn_id);
    hs_fed_out out = {dest, "PUT", target, body, true};
    hs_err err = {{0}};
    if (hs_fed_batch_start(s->batch, &out, (uint64_t)(sl - s->slots), &err) != 0) {
        hs_info("fed", "transaction %s to %s: %s", txn_id, dest, err.msg);
        return -1;
    }
    sl->used = true;
    sl->ping = ping;
    snprintf(sl->dest, sizeof sl->dest, "%s", dest);
    snprintf(sl->txn_id, sizeof sl->txn_id, "%s", txn_id);
    s->in_flight++;
    return 0;
}

/* The pending transaction of `dest` (the one in flight in the database if any, so a
 * retry is the same transaction): an invite is sent here and now (hs_fed_invite_send
 * is a whole exchange of its own); PDUs and EDUs are started in `sl`. Returns 1 when
 * something was sent or started, 0 when nothing is queued, -1 on failure (backed off). */
static int start_dest(hs_fed_sending *s, slot *sl, const char *dest, int64_t now_ms)
{
    hs_server *srv = s->srv;
    hs_store_fed_row *rows;
    size_t n;
    int64_t txn;
    if (hs_store_fed_txn_begin(srv->store, dest, HS_FED_MAX_PDUS, HS_FED_MAX_EDUS, &rows, &n, &txn) != 0) return -1;
    if (n == 0) {
        hs_store_fed_rows_free(rows, n);
        return 0;
    }
    if (strcmp(rows[0].kind, "invite") == 0) {
        int rc = hs_fed_invite_send(srv, dest, rows[0].payload);
        hs_store_fed_rows_free(rows, n);
        if (rc == 0) return hs_store_fed_txn_done(srv->store, dest) == 0 ? 1 : -1;
        hs_store_fed_txn_failed(srv->store, dest, now_ms, HS_FED_BACKOFF_BASE_MS, HS_FED_BACKOFF_CAP_MS);
        return -1;
    }
    json_t *pdus = json_array(), *edus = json_array();
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].kind, "pdu") == 0) {
            hs_store_event ev;
            if (hs_store_event_get(srv->store, rows[i].payload, &ev) != 0) continue;
            json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
            hs_store_event_clear(&ev);
            if (pdu) json_array_append_new(pdus, pdu);
        } else {
            json_t *edu = json_loads(rows[i].payload, 0, NULL);
            if (edu) json_array_append_new(edus, edu);
        }
    }
    hs_store_fed_rows_free(rows, n);
    json_t *body = json_pack("{sssIsoso}", "origin", srv->cfg.server_name, "origin_server_ts", (json_int_t)now_ms,
                             "pdus", pdus, "edus", edus);
    char txn_id[32];
    snprintf(txn_id, sizeof txn_id, "pg%lld", (long long)txn);
    int rc = body ? start_put(s, sl, dest, txn_id, false, body) : -1;
    json_decref(body);
    if (rc == 0) return 1;
    hs_store_fed_txn_failed(srv->store, dest, now_ms, HS_FED_BACKOFF_BASE_MS, HS_FED_BACKOFF_CAP_MS);
    return -1;
}

int hs_fed_sending_start(hs_fed_sending *s, int64_t now_ms, int64_t *next_due_ms)
{
    hs_server *srv = s->srv;
    char **dests;
    size_t n;
    int64_t due;
    if (hs_store_fed_due(srv->store, now_ms, &dests, &n, &due) != 0) return -1;
    if (due < *next_due_ms) *next_due_ms = due;
    int started = 0;
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        if (find_slot(s, dests[i])) continue; /* one transaction in flight per destination */
        slot *sl = free_slot(s);
        if (!sl) break; /* due but no room: it starts once an answer frees a slot */
        int rc = start_dest(s, sl, dests[i], now_ms);
        if (rc == 1) started++;
        failed |= rc < 0;
    }
    hs_store_free_strings(dests, n);
    /* A failure made a destination due later: that may be the earliest retry now. */
    if (failed && hs_store_fed_due(srv->store, now_ms, &dests, &n, &due) == 0) {
        hs_store_free_strings(dests, n);
        if (due < *next_due_ms) *next_due_ms = due;
    }
    /* Announcements take what room is left; a destination with a transaction in flight
     * needs none (any authenticated request from us clears its backoff of us). */
    slot *sl;
    while (s->ping_at < s->n_pings && (sl = free_slot(s))) {
        const char *dest = s->pings[s->ping_at++];
        if (find_slot(s, dest)) continue;
        json_t *body = json_pack("{sssIs[]s[]}", "origin", srv->cfg.server_name, "origin_server_ts",
                                 (json_int_t)now_ms, "pdus", "edus");
        char txn_id[48];
        /* Its own ID space: a ping is never mistaken for a queued transaction. */
        snprintf(txn_id, sizeof txn_id, "ping%lld", (long long)now_ms);
        if (body && start_put(s, sl, dest, txn_id, true, body) == 0) started++;
        json_decref(body);
    }
    return started;
}

/* Records one finished request: a transaction answered 200 is done (its rows go), any
 * other outcome backs its destination off and keeps the transaction for the retry. */
static int finish_slot(hs_fed_sending *s, slot *sl, const hs_fed_reply *reply, const hs_err *err, int64_t now_ms)
{
    hs_server *srv = s->srv;
    int answered = 0;
    if (reply->status == 0) hs_info("fed", "transaction %s to %s: %s", sl->txn_id, sl->dest, err->msg);
    else if (reply->status != 200)
        hs_info("fed", "transaction %s to %s: HTTP %ld %.200s", sl->txn_id, sl->dest, reply->status,
                reply->body ? reply->body : "");
    if (sl->ping) {
        if (reply->status == 200) hs_store_fed_dest_reset(srv->store, sl->dest);
    } else if (reply->status == 200) {
        answered = hs_store_fed_txn_done(srv->store, sl->dest) == 0 ? 1 : -1;
    } else {
        hs_store_fed_txn_failed(srv->store, sl->dest, now_ms, HS_FED_BACKOFF_BASE_MS, HS_FED_BACKOFF_CAP_MS);
    }
    sl->used = false;
    s->in_flight--;
    return answered;
}

int hs_fed_sending_collect(hs_fed_sending *s, int wait_ms)
{
    int answered = 0, db_error = 0;
    uint64_t tag;
    hs_fed_reply reply;
    hs_err err;
    int got = hs_fed_batch_next(s->batch, wait_ms, &tag, &reply, &err);
    while (got == 1) {
        if (tag < s->n_slots && s->slots[tag].used) {
            int rc = finish_slot(s, &s->slots[tag], &reply, &err, hs_fed_now_ms());
            if (rc < 0) db_error = 1;
            else answered += rc;
        }
        hs_fed_reply_free(&reply);
        /* Whatever else has finished by now, without waiting again. */
        got = hs_fed_batch_next(s->batch, 0, &tag, &reply, &err);
    }
    return db_error ? -1 : answered;
}

int hs_fed_sending_announce(hs_fed_sending *s)
{
    hs_store_free_strings(s->pings, s->n_pings);
    s->pings = NULL;
    s->n_pings = s->ping_at = 0;
    return hs_store_fed_destinations(s->srv->store, &s->pings, &s->n_pings);
}

void hs_fed_queue_heard_from(hs_server *srv, const char *origin)
{
    if (hs_store_fed_dest_reset(srv->store, origin) == 1) hs_notifier_wake(srv->notifier);
}
