/* pgt_fed: the federation test node of pgt_fed.h. The server is ready once it logs its
 * federation listener ("federation API:"), the last listener it starts. */
#include "support/pgt_fed.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-core/hs_xmatrix.h"

void pgt_fed_serve(pgt_fed_node *n)
{
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", n->cfg, NULL};
    cr_assert_eq(pgt_spawn(&n->proc, argv), 0);
    cr_assert(pgt_wait_line(&n->proc, "federation API:", 30000, NULL, 0), "server did not start:\n%s", n->proc.buf);
}

void pgt_fed_make(pgt_fed_node *n)
{
    n->dir = pgt_tmpdir();
    n->cport = pgt_free_port();
    n->fport = pgt_free_port();
    snprintf(n->name, sizeof n->name, "localhost:%d", n->fport);
    snprintf(n->cfg, sizeof n->cfg, "%s/config.yaml", n->dir);
    snprintf(n->base, sizeof n->base, "http://127.0.0.1:%d", n->cport);
    char cp[16], fp[16];
    snprintf(cp, sizeof cp, "%d", n->cport);
    snprintf(fp, sizeof fp, "%d", n->fport);
    char *gen[] = {(char *)pgt_pinegate(), "generate-config", "--dev", "--data-dir", n->dir, "--server-name", n->name,
                   "--client-port", cp, "--federation-port", fp, NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(gen, &out), 0, "generate-config: %s", out);
    free(out);
    pgt_fed_serve(n);
}

void pgt_fed_destroy(pgt_fed_node *n)
{
    if (n->proc.pid > 0) pgt_stop(&n->proc, SIGTERM, 20000);
    pgt_rmtree(n->dir);
    free(n->dir);
}

json_t *pgt_fed_req(const pgt_fed_node *n, const pgt_mx_login *u, const char *method, json_t *body, long want,
                    const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    long st;
    json_t *r = pgt_mx_call(n->base, method, path, u ? u->token : NULL, text, &st);
    free(text);
    char *dump = r ? json_dumps(r, JSON_COMPACT) : NULL;
    cr_assert_eq(st, want, "%s %s on %s: %ld %s", method, path, n->name, st, dump ? dump : "");
    free(dump);
    return r;
}

char *pgt_fed_join_by_alias(const pgt_fed_node *host, const pgt_mx_login *creator, const char *alias,
                            const pgt_fed_node *at, const pgt_mx_login *joiner)
{
    json_t *r = pgt_fed_req(host, creator, "POST",
                            json_pack("{s:s, s:s}", "preset", "public_chat", "room_alias_name", alias), 200,
                            "/_matrix/client/v3/createRoom");
    char *room = strdup(json_string_value(json_object_get(r, "room_id")));
    json_decref(r);
    char full[256];
    snprintf(full, sizeof full, "#%s:%s", alias, host->name);
    json_decref(pgt_fed_req(at, joiner, "POST", json_object(), 200, "/_matrix/client/v3/join/%s",
                            pgt_mx_enc_tmp(full)));
    return room;
}

const char *pgt_fed_sync_token(const pgt_fed_node *n, const pgt_mx_login *u, char *out, size_t len)
{
    json_t *r = pgt_fed_req(n, u, "GET", NULL, 200, "/_matrix/client/v3/sync?timeout=0");
    snprintf(out, len, "%s", json_string_value(json_object_get(r, "next_batch")));
    json_decref(r);
    return out;
}

bool pgt_fed_sees_message(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text)
{
    long st;
    json_t *r = pgt_mx_callf(n->base, "GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/messages?dir=b&limit=50",
                             pgt_mx_enc_tmp(room));
    bool found = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(r, "chunk"), i, ev) {
        const char *body = json_string_value(json_object_get(json_object_get(ev, "content"), "body"));
        found |= body && strcmp(body, text) == 0;
    }
    json_decref(r);
    return found;
}

bool pgt_fed_wait_message(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *text, int ms)
{
    for (int waited = 0; waited <= ms; waited += 200) {
        if (pgt_fed_sees_message(n, u, room, text)) return true;
        usleep(200 * 1000);
    }
    return false;
}

bool pgt_fed_sync_until(const pgt_fed_node *n, const pgt_mx_login *u, const char *since, const char *extra,
                        bool (*check)(json_t *sync, const void *arg), const void *arg, int ms)
{
    for (int waited = 0; waited <= ms; waited += 250) {
        json_t *r = pgt_fed_req(n, u, "GET", NULL, 200, "/_matrix/client/v3/sync?timeout=0%s%s%s",
                                since ? "&since=" : "", since ? pgt_mx_enc_tmp(since) : "", extra ? extra : "");
        bool ok = check(r, arg);
        json_decref(r);
        if (ok) return true;
        usleep(250 * 1000);
    }
    return false;
}

bool pgt_fed_sync_lists_changed(json_t *sync, const void *user)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(sync, "device_lists"), "changed"), i, v) {
        if (strcmp(json_string_value(v), user) == 0) return true;
    }
    return false;
}

hs_signing_key pgt_fed_signing_key(const pgt_fed_node *n)
{
    char path[1100], err[256];
    snprintf(path, sizeof path, "%s/signing.key", n->dir);
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_load(path, &k, err, sizeof err), 0, "%s", err);
    return k;
}

long pgt_fed_call_as(const pgt_fed_node *from, const pgt_fed_node *to, bool sign, const char *method, const char *uri,
                     const char *body, json_t **answer)
{
    char line[HS_XMATRIX_MAX_HEADER + 32], url[1400];
    const char *headers[] = {"Content-Type: application/json", NULL, NULL};
    if (sign) {
        hs_signing_key k = pgt_fed_signing_key(from);
        json_t *content = body ? json_loads(body, 0, NULL) : NULL;
        char auth[HS_XMATRIX_MAX_HEADER];
        hs_err err;
        cr_assert_eq(hs_xmatrix_sign(method, uri, from->name, to->name, content, &k, auth, sizeof auth, &err), 0,
                     "%s", err.msg);
        json_decref(content);
        snprintf(line, sizeof line, "Authorization: %s", auth);
        headers[1] = line;
    }
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", to->fport, uri);
    pgt_req opt = {.method = method, .headers = headers, .body = body, .body_len = body ? strlen(body) : 0,
                   .timeout_ms = 30000};
    pgt_http resp = pgt_http_do(url, &opt);
    *answer = json_loads(resp.body ? resp.body : "", 0, NULL);
    long status = resp.status;
    pgt_http_free(&resp);
    return status;
}

void pgt_fed_expect_membership(const pgt_fed_node *n, const pgt_mx_login *u, const char *room, const char *user,
                               const char *want)
{
    long st;
    json_t *r = pgt_mx_callf(n->base, "GET", u->token, &st, NULL, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s",
                             pgt_mx_enc_tmp(room), pgt_mx_enc_tmp(user));
    cr_assert_eq(st, 200, "%s's membership in %s on %s: %ld", user, room, n->name, st);
    cr_assert_str_eq(json_string_value(json_object_get(r, "membership")), want, "%s in %s on %s", user, room, n->name);
    json_decref(r);
}

void pgt_fed_queue_keep_latest(const pgt_fed_node *from, const pgt_fed_node *to)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/homeserver.db", from->dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char sql[400];
    snprintf(sql, sizeof sql,
             "DELETE FROM fed_out_queue WHERE destination = '%s' AND seq < (SELECT MAX(seq) FROM fed_out_queue"
             " WHERE destination = '%s'); UPDATE fed_destinations SET txn_upto = 0, retry_at = 0;",
             to->name, to->name);
    char *err = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &err), SQLITE_OK, "%s", err ? err : "");
    sqlite3_close(db);
}
