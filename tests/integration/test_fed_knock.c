/* Inbound knocking over federation against a real pinegate (A), with the knocking
 * server played by the test with a second real pinegate's (B's) identity: B runs so A
 * can fetch B's key, and the test signs requests and events with B's signing key, as B
 * would. A room on A (version 10, join rule knock): make_knock for bob of B answers a
 * knock template, the signed knock sent with send_knock is accepted and answered with
 * the room's stripped state, and alice on A sees bob's membership "knock". Refused:
 * knocking on a public room (403), a version-6 room (400 M_INCOMPATIBLE_ROOM_VERSION),
 * a template for another server's user (403), an unsigned request (401), a knock
 * signed for someone else's user (400). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_event_id.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

PGT_FED_SUITE_AB(fed_knock, 240);

/* A federation request to A's listener as B (signed unless `sign` is false); asserts
 * the status `want` and returns the JSON answer (caller decrefs). */
static json_t *fed(bool sign, const char *method, const json_t *content, long want, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static json_t *fed(bool sign, const char *method, const json_t *content, long want, const char *fmt, ...)
{
    char target[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(target, sizeof target, fmt, ap);
    va_end(ap);
    char *body = content ? json_dumps(content, JSON_COMPACT) : NULL;
    json_t *j;
    long st = pgt_fed_call_as(&B, &A, sign, method, target, body, &j);
    free(body);
    char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
    cr_assert_eq(st, want, "%s %s: %ld %s", method, target, st, dump ? dump : "");
    free(dump);
    cr_assert_not_null(j, "%s %s: not JSON", method, target);
    return j;
}

static const char *errcode(const json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "errcode"));
    return c ? c : "";
}

Test(fed_knock, a_remote_user_knocks_on_a_knock_room)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    char bob[128];
    snprintf(bob, sizeof bob, "@bob:%s", B.name);
    char *room = pgt_mx_create_room(A.base, &alice,
                                    "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"name\":\"Knock here\","
                                    "\"initial_state\":[{\"type\":\"m.room.join_rules\",\"state_key\":\"\","
                                    "\"content\":{\"join_rule\":\"knock\"}}]}");

    json_decref(fed(false, "GET", NULL, 401, "/_matrix/federation/v1/make_knock/%s/%s?ver=10", pgt_mx_enc_tmp(room),
                    pgt_mx_enc_tmp(bob)));
    json_t *j = fed(true, "GET", NULL, 403, "/_matrix/federation/v1/make_knock/%s/%s?ver=10", pgt_mx_enc_tmp(room),
                    pgt_mx_enc_tmp("@carol:elsewhere.test"));
    json_decref(j);

    json_t *t = fed(true, "GET", NULL, 200, "/_matrix/federation/v1/make_knock/%s/%s?ver=10", pgt_mx_enc_tmp(room),
                    pgt_mx_enc_tmp(bob));
    cr_assert_str_eq(json_string_value(json_object_get(t, "room_version")), "10");
    json_t *ev = json_deep_copy(json_object_get(t, "event"));
    json_decref(t);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "content"), "membership")), "knock");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "state_key")), bob);

    const hs_room_version *rv = hs_room_version_get("10");
    hs_signing_key k = pgt_fed_signing_key(&B);
    hs_err err;
    cr_assert_eq(hs_event_sign(ev, rv, B.name, &k, 1, &err), 0, "%s", err.msg);
    char *event_id = hs_event_id_compute(ev, rv, &err);
    cr_assert_not_null(event_id, "%s", err.msg);
    json_t *r = fed(true, "PUT", ev, 200, "/_matrix/federation/v1/send_knock/%s/%s", pgt_mx_enc_tmp(room),
                    pgt_mx_enc_tmp(event_id));
    bool saw_rule = false, saw_name = false;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(r, "knock_room_state"), i, s) {
        const char *type = json_string_value(json_object_get(s, "type"));
        json_t *content = json_object_get(s, "content");
        if (type && strcmp(type, "m.room.join_rules") == 0)
            saw_rule = strcmp(json_string_value(json_object_get(content, "join_rule")), "knock") == 0;
        if (type && strcmp(type, "m.room.name") == 0)
            saw_name = strcmp(json_string_value(json_object_get(content, "name")), "Knock here") == 0;
        cr_assert_null(json_object_get(s, "signatures"), "stripped state carries no signatures");
    }
    cr_assert(saw_rule && saw_name, "knock_room_state lacks the join rule or name");
    json_decref(r);

    pgt_fed_expect_membership(&A, &alice, room, bob, "knock");

    /* Another server's user inside a knock B signed: refused before it is accepted. */
    json_t *forged = json_deep_copy(ev);
    json_object_set_new(forged, "sender", json_string("@carol:elsewhere.test"));
    json_object_set_new(forged, "state_key", json_string("@carol:elsewhere.test"));
    json_object_del(forged, "signatures");
    json_object_del(forged, "hashes");
    cr_assert_eq(hs_event_sign(forged, rv, B.name, &k, 1, &err), 0, "%s", err.msg);
    char *forged_id = hs_event_id_compute(forged, rv, &err);
    json_t *fr = fed(true, "PUT", forged, 400, "/_matrix/federation/v1/send_knock/%s/%s", pgt_mx_enc_tmp(room),
                     pgt_mx_enc_tmp(forged_id));
    cr_assert_str_eq(errcode(fr), "M_BAD_JSON");
    json_decref(fr);
    free(forged_id);
    json_decref(forged);
    json_decref(ev);
    free(event_id);
    free(room);
}

Test(fed_knock, knocking_where_it_is_not_allowed_is_refused)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    char bob[128];
    snprintf(bob, sizeof bob, "@bob:%s", B.name);
    char *pub = pgt_mx_create_room(A.base, &alice, "{\"room_version\":\"10\",\"preset\":\"public_chat\"}");
    json_t *j = fed(true, "GET", NULL, 403, "/_matrix/federation/v1/make_knock/%s/%s?ver=10", pgt_mx_enc_tmp(pub),
                    pgt_mx_enc_tmp(bob));
    cr_assert_str_eq(errcode(j), "M_FORBIDDEN");
    json_decref(j);
    char *old = pgt_mx_create_room(A.base, &alice, "{\"room_version\":\"6\",\"preset\":\"private_chat\"}");
    j = fed(true, "GET", NULL, 400, "/_matrix/federation/v1/make_knock/%s/%s?ver=6", pgt_mx_enc_tmp(old),
            pgt_mx_enc_tmp(bob));
    cr_assert_str_eq(errcode(j), "M_INCOMPATIBLE_ROOM_VERSION");
    json_decref(j);
    free(pub);
    free(old);
}
