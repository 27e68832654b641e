/* pgt_matrix: see pgt_matrix.h. Built on pgt_http_do (libcurl). */
#include "support/pgt_matrix.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed_rooms.h"
#include "support/pgt.h"

json_t *pgt_mx_call(const char *base, const char *method, const char *path, const char *token, const char *body,
                    long *status)
{
    char url[2048], auth[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    const char *headers[3] = {NULL, NULL, NULL};
    int nh = 0;
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        headers[nh++] = auth;
    }
    if (body) headers[nh++] = "Content-Type: application/json";
    pgt_req opt = {.method = method, .body = body, .body_len = body ? strlen(body) : 0, .headers = headers};
    pgt_http r = pgt_http_do(url, &opt);
    *status = r.status;
    json_t *j = r.status ? json_loads(r.body, 0, NULL) : NULL;
    pgt_http_free(&r);
    return j;
}

json_t *pgt_mx_expect(const char *base, const char *method, const char *path, const char *token, const char *body,
                      long want)
{
    long st = 0;
    json_t *j = pgt_mx_call(base, method, path, token, body, &st);
    cr_assert_not_null(j, "%s %s: no JSON (status %ld)", method, path, st);
    if (st != want) {
        char *t = json_dumps(j, 0);
        cr_assert_fail("%s %s: status %ld, wanted %ld: %s", method, path, st, want, t);
    }
    return j;
}

json_t *pgt_mx_callf(const char *base, const char *method, const char *token, long *status, const char *body,
                     const char *fmt, ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    json_t *j = pgt_mx_call(base, method, path, token, body, status);
    cr_assert_not_null(j, "%s %s: status %ld, no JSON", method, path, *status);
    return j;
}

void pgt_mx_check_ok(json_t *j, const long *status)
{
    char *dump = json_dumps(j, 0);
    cr_assert_eq(*status, 200, "status %ld: %s", *status, dump);
    free(dump);
    json_decref(j);
}

void pgt_mx_check_error(json_t *j, const long *status, long want, const char *errcode)
{
    char *dump = json_dumps(j, 0);
    cr_assert_eq(*status, want, "status %ld, want %ld: %s", *status, want, dump);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), errcode, "%s", dump);
    free(dump);
    json_decref(j);
}

pgt_mx_login pgt_mx_must_register(const char *base, const char *user, const char *password)
{
    pgt_mx_login l;
    cr_assert_eq(pgt_mx_register(base, user, password, &l), 0, "register %s", user);
    return l;
}

char *pgt_mx_create_room(const char *base, const pgt_mx_login *u, const char *body)
{
    json_t *j = pgt_mx_expect(base, "POST", "/_matrix/client/v3/createRoom", u->token, body, 200);
    char *room = strdup(json_string_value(json_object_get(j, "room_id")));
    json_decref(j);
    return room;
}

char *pgt_mx_send_text(const char *base, const pgt_mx_login *u, const char *room, const char *text)
{
    static atomic_int txn; /* tests may send from several threads */
    char r[512], path[1024], body[1024];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/send/m.room.message/pgt%d",
             pgt_mx_enc(room, r, sizeof r), atomic_fetch_add(&txn, 1) + 1);
    snprintf(body, sizeof body, "{\"msgtype\":\"m.text\",\"body\":\"%s\"}", text);
    json_t *j = pgt_mx_expect(base, "PUT", path, u->token, body, 200);
    char *id = strdup(json_string_value(json_object_get(j, "event_id")));
    json_decref(j);
    return id;
}

const char *pgt_mx_enc(const char *s, char *buf, size_t cap)
{
    char *e = hs_fed_pct_encode(s);
    cr_assert(e && strlen(e) < cap, "pgt_mx_enc: %s does not fit in %zu bytes encoded", s, cap);
    memcpy(buf, e, strlen(e) + 1);
    free(e);
    return buf;
}

const char *pgt_mx_enc_tmp(const char *s)
{
    static _Thread_local char buf[4][512];
    static _Thread_local unsigned k;
    return pgt_mx_enc(s, buf[k++ & 3], sizeof buf[0]);
}

static void copy_field(const json_t *j, const char *key, char *dst, size_t cap)
{
    const char *s = json_string_value(json_object_get(j, key));
    snprintf(dst, cap, "%s", s ? s : "");
}

int pgt_mx_register(const char *base, const char *user, const char *password, pgt_mx_login *out)
{
    char body[1024];
    long st;
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, password);
    json_t *j = pgt_mx_call(base, "POST", "/_matrix/client/v3/register", NULL, body, &st);
    const char *session = json_string_value(json_object_get(j, "session"));
    if (st != 401 || !session) {
        json_decref(j);
        return -1;
    }
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"%s\",\"auth\":{\"type\":\"m.login.dummy\",\"session\":\"%s\"}}",
             user, password, session);
    json_decref(j);
    j = pgt_mx_call(base, "POST", "/_matrix/client/v3/register", NULL, body, &st);
    if (st != 200 || !j) {
        json_decref(j);
        return -1;
    }
    copy_field(j, "user_id", out->user_id, sizeof out->user_id);
    copy_field(j, "access_token", out->token, sizeof out->token);
    copy_field(j, "device_id", out->device_id, sizeof out->device_id);
    json_decref(j);
    return out->token[0] ? 0 : -1;
}
