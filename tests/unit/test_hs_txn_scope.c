/* Client transaction IDs are scoped to the device and the request path (Client-Server
 * API v1.7+; migration 12): the same txnId sent to two rooms makes two events, to the
 * same room with another event type a new one, and redacting two events with one txnId
 * two redactions; a retry on the same path gets the first event ID back and stores
 * nothing. A database from before migration 12 keeps its answered transactions, now
 * scoped by the room and type (or redacted event) of their events. Found against
 * Synapse: the second room's send returned the first room's event and sent nothing. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store.h"
#include "server-core/hs_store_rooms.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;
static pgt_mx_login alice;

static void start(void)
{
    pgt_hs_start(&hs, "txn.test", NULL);
    alice = pgt_mx_must_register(hs.base, "alice", "pw-alice-1");
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_txn_scope, .init = start, .fini = stop, .timeout = 60);

static const char *enc(const char *s)
{
    static char buf[4][512];
    static int k;
    return pgt_mx_enc(s, buf[k++ & 3], sizeof buf[0]);
}

/* PUT a path made from fmt as alice; returns the answer's event_id (malloc'd). */
static char *put(const char *body, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *put(const char *body, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    json_t *j = pgt_mx_expect(hs.base, "PUT", path, alice.token, body, 200);
    const char *id = json_string_value(json_object_get(j, "event_id"));
    cr_assert_not_null(id, "%s: no event_id", path);
    char *out = strdup(id);
    json_decref(j);
    return out;
}

/* The number of timeline events of the room whose content.body is `text`. */
static int count_body(const char *room, const char *text)
{
    long st;
    json_t *r = pgt_mx_callf(hs.base, "GET", alice.token, &st, NULL,
                             "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=100", enc(room));
    cr_assert_eq(st, 200);
    int n = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(r, "chunk"), i, ev) {
        const char *b = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        n += b && strcmp(b, text) == 0;
    }
    json_decref(r);
    return n;
}

Test(hs_txn_scope, one_txn_id_in_two_rooms_sends_twice_and_retries_are_idempotent)
{
    char *r1 = pgt_mx_create_room(hs.base, &alice, "{}"), *r2 = pgt_mx_create_room(hs.base, &alice, "{}");
    const char *msg1 = "{\"msgtype\":\"m.text\",\"body\":\"one\"}", *msg2 = "{\"msgtype\":\"m.text\",\"body\":\"two\"}";
    char *e1 = put(msg1, "/_matrix/client/v3/rooms/%s/send/m.room.message/t1", enc(r1));
    char *e2 = put(msg2, "/_matrix/client/v3/rooms/%s/send/m.room.message/t1", enc(r2));
    cr_assert_str_neq(e1, e2, "the second room got the first room's event");
    cr_assert_eq(count_body(r2, "two"), 1);

    /* The same path again: the first answer, nothing new. */
    char *again = put(msg1, "/_matrix/client/v3/rooms/%s/send/m.room.message/t1", enc(r1));
    cr_assert_str_eq(again, e1);
    free(again);
    again = put(msg2, "/_matrix/client/v3/rooms/%s/send/m.room.message/t1", enc(r2));
    cr_assert_str_eq(again, e2);
    free(again);
    cr_assert_eq(count_body(r1, "one"), 1);
    cr_assert_eq(count_body(r2, "two"), 1);

    /* Another event type in the same room is another path. */
    char *e3 = put("{\"body\":\"three\"}", "/_matrix/client/v3/rooms/%s/send/org.example.note/t1", enc(r1));
    cr_assert_str_neq(e3, e1);

    /* Redactions: the path names the redacted event. */
    char *x1 = put("{}", "/_matrix/client/v3/rooms/%s/redact/%s/t1", enc(r1), enc(e1));
    char *x3 = put("{}", "/_matrix/client/v3/rooms/%s/redact/%s/t1", enc(r1), enc(e3));
    cr_assert_str_neq(x1, x3);
    cr_assert_str_neq(x1, e1);
    again = put("{}", "/_matrix/client/v3/rooms/%s/redact/%s/t1", enc(r1), enc(e1));
    cr_assert_str_eq(again, x1);
    free(again);
    free(x1);
    free(x3);
    free(e3);
    free(e1);
    free(e2);
    free(r1);
    free(r2);
}

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

Test(hs_txn_scope, transactions_answered_before_migration_12_keep_their_answer)
{
    char *dir = pgt_tmpdir();
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/old.db", dir);
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    size_t before = 0;
    while (before < n && m[before].version < 12) before++;
    cr_assert_lt(before, n, "migration 12 exists");
    hs_store *st;
    cr_assert_eq(hs_store_open(path, m, before, &st, err, sizeof err), 0, "%s", err);
    hs_store_close(st);

    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    exec(db, "INSERT INTO rooms (room_id, room_version, creator, created_ts) VALUES ('!r:old.test', '10', '@a:old.test', 1)");
    exec(db, "INSERT INTO events (event_id, room_id, type, sender, depth, origin_server_ts, pdu, txn_user, txn_device,"
             " txn_id) VALUES ('$m', '!r:old.test', 'm.room.message', '@a:old.test', 1, 1, '{}', '@a:old.test', 'D', 't'),"
             " ('$x', '!r:old.test', 'm.room.redaction', '@a:old.test', 2, 2, '{\"redacts\":\"$m\"}', '@a:old.test',"
             " 'D', 'u')");
    exec(db, "INSERT INTO event_txns (user_id, device_id, txn_id, event_id) VALUES ('@a:old.test', 'D', 't', '$m'),"
             " ('@a:old.test', 'D', 'u', '$x')");
    sqlite3_close(db);

    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    char *id = NULL;
    cr_assert_eq(hs_store_txn_get(st, "@a:old.test", "D", "!r:old.test", "send/m.room.message", "t", &id), 0);
    cr_assert_str_eq(id, "$m");
    free(id);
    cr_assert_eq(hs_store_txn_get(st, "@a:old.test", "D", "!r:old.test", "redact/$m", "u", &id), 0);
    cr_assert_str_eq(id, "$x");
    free(id);
    cr_assert_eq(hs_store_txn_get(st, "@a:old.test", "D", "!other:old.test", "send/m.room.message", "t", &id), 1);
    cr_assert_eq(hs_store_txn_get(st, "@a:old.test", "D", "!r:old.test", "send/m.text", "t", &id), 1);
    hs_store_close(st);
    pgt_rmtree(dir);
    free(dir);
}
