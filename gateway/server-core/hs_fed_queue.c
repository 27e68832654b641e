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

/* PUT /send/{txn_id} with `body` to dest; 0 on a 200 answer. */
static int put_txn(hs_server *srv, const char *dest, const char *txn_id, const json_t *body)
{
    char target[300];
    snprintf(target, sizeof target, "/_matrix/federation/v1/send/%s", txn_id);
    hs_fed_out out = {dest, "PUT", target, body, true};
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    int rc = hs_fed_send(srv, &out, &reply, &err);
    if (rc != 0) hs_info("fed", "transaction %s to %s: %s", txn_id, dest, err.msg);
    else if (reply.status != 200)
        hs_info("fed", "transaction %s to %s: HTTP %ld %.200s", txn_id, dest, reply.status, reply.body ? reply.body : "");
    rc = rc == 0 && reply.status == 200 ? 0 : -1;
    hs_fed_reply_free(&reply);
    return rc;
}

int hs_fed_queue_flush(hs_server *srv, const char *dest, int64_t now_ms)
{
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
    int rc = put_txn(srv, dest, txn_id, body);
    json_decref(body);
    if (rc == 0) return hs_store_fed_txn_done(srv->store, dest) == 0 ? 1 : -1;
    hs_store_fed_txn_failed(srv->store, dest, now_ms, HS_FED_BACKOFF_BASE_MS, HS_FED_BACKOFF_CAP_MS);
    return -1;
}

int hs_fed_queue_run(hs_server *srv, int64_t now_ms, int64_t *next_due_ms)
{
    char **dests;
    size_t n;
    if (hs_store_fed_due(srv->store, now_ms, &dests, &n, next_due_ms) != 0) return -1;
    int sent = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = hs_fed_queue_flush(srv, dests[i], now_ms);
        if (rc == 1) sent++;
        /* More may be queued: come back at once. A failure is due at its retry time. */
        if (rc == 1 && *next_due_ms > now_ms) *next_due_ms = now_ms;
        if (rc < 0) {
            int64_t due;
            char **none;
            size_t nn;
            if (hs_store_fed_due(srv->store, now_ms, &none, &nn, &due) == 0) {
                hs_store_free_strings(none, nn);
                if (due < *next_due_ms) *next_due_ms = due;
            }
        }
    }
    hs_store_free_strings(dests, n);
    return sent;
}

int hs_fed_queue_announce(hs_server *srv, int64_t now_ms)
{
    char **dests;
    size_t n;
    if (hs_store_fed_destinations(srv->store, &dests, &n) != 0) return 0;
    int ok = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *body = json_pack("{sssIs[]s[]}", "origin", srv->cfg.server_name, "origin_server_ts", (json_int_t)now_ms,
                                 "pdus", "edus");
        char txn_id[48];
        /* Its own ID space: a ping is never mistaken for a queued transaction. */
        snprintf(txn_id, sizeof txn_id, "ping%lld", (long long)now_ms);
        if (put_txn(srv, dests[i], txn_id, body) == 0) {
            ok++;
            hs_store_fed_dest_reset(srv->store, dests[i]);
        }
        json_decref(body);
    }
    hs_store_free_strings(dests, n);
    return ok;
}

void hs_fed_queue_heard_from(hs_server *srv, const char *origin)
{
    if (hs_store_fed_dest_reset(srv->store, origin) == 1) hs_notifier_wake(srv->notifier);
}
