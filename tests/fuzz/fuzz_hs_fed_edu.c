/* Fuzz target: arbitrary bytes as the EDUs of a /send transaction from "other.test" into
 * a real server (store in a scratch directory, no listeners, no outbound transport).
 * The input is parsed with the federation limits; an object with "edus" is a
 * transaction (each entry one EDU), anything else one EDU. Each EDU goes through the
 * five checks of hs_fed_edu, whose successes must keep their promises (the user an
 * EDU speaks for belongs to the origin, IDs and status messages within bounds, counts
 * within limits, presence states from the spec's three, a self-signing key beside a
 * master key signed by it), and then through hs_fed_edu_apply, which must not crash;
 * to-device messages may name the local user "@fuzzer:fuzz.test", whose device exists,
 * so the inbox write runs and the inbox must stay readable. Presence and signing keys
 * of other.test's users are never stored: none shares a room with a local user. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"
#include "server-core/hs_e2ee.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_sync.h"

#define ORIGIN "other.test"

static char device_id[128];

static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_fed_edu", &cfg);
    json_t *r = fz_register(FZ_REGISTER_FUZZER);
    snprintf(device_id, sizeof device_id, "%s", json_string_value(json_object_get(r, "device_id")));
    json_decref(r);
}

static void of_origin(const char *user_id)
{
    const char *server = user_id ? hs_id_server_name(user_id) : NULL;
    if (!server || strcmp(server, ORIGIN) != 0) abort();
}

static void count_inbox(void *ctx, int64_t stream_id, const char *sender, const char *type, const char *content)
{
    (void)stream_id;
    (void)type;
    if (!sender || !content) abort();
    (*(long *)ctx)++;
}

static void one(const json_t *edu)
{
    const json_t *content = json_object_get(edu, "content");
    hs_err err;
    hs_fed_edu_device_list d;
    if (hs_fed_edu_device_list_check(content, ORIGIN, &d, &err) == 0) {
        of_origin(d.user_id);
        if (!d.device_id[0] || strlen(d.device_id) > HS_FED_EDU_ID_MAX) abort();
        if (d.keys && d.deleted) abort();
    } else if (!err.msg[0]) {
        abort();
    }
    hs_fed_edu_to_device t;
    if (hs_fed_edu_to_device_check(content, ORIGIN, &t, &err) == 0) {
        of_origin(t.sender);
        if (t.n_messages > HS_FED_EDU_TO_DEVICE_MAX || !json_is_object(t.messages)) abort();
    } else if (!err.msg[0]) {
        abort();
    }
    hs_fed_edu_typing ty;
    if (hs_fed_edu_typing_check(content, ORIGIN, &ty, &err) == 0) {
        of_origin(ty.user_id);
        if (ty.timeout_ms < 0) abort();
    } else if (!err.msg[0]) {
        abort();
    }
    static hs_fed_edu_presence pv[HS_FED_EDU_PRESENCE_MAX];
    long np = hs_fed_edu_presence_check(content, ORIGIN, pv, HS_FED_EDU_PRESENCE_MAX, &err);
    if (np >= 0) {
        if (np < 1 || np > HS_FED_EDU_PRESENCE_MAX) abort();
        for (long i = 0; i < np; i++) {
            of_origin(pv[i].user_id);
            if (pv[i].last_active_ago < 0) abort();
            if (strcmp(pv[i].presence, "online") != 0 && strcmp(pv[i].presence, "offline") != 0 &&
                strcmp(pv[i].presence, "unavailable") != 0)
                abort();
            if (pv[i].status_msg && strlen(pv[i].status_msg) > HS_FED_EDU_STATUS_MSG_MAX) abort();
        }
    } else if (!err.msg[0]) {
        abort();
    }
    hs_fed_edu_signing_key sk;
    if (hs_fed_edu_signing_key_check(content, ORIGIN, &sk, &err) == 0) {
        of_origin(sk.user_id);
        if (!sk.master_key && !sk.self_signing_key) abort();
        if (sk.master_key && sk.self_signing_key) {
            uint8_t pub[32];
            char b64[HS_E2EE_KEY_ID_MAX];
            hs_err why;
            if (hs_e2ee_check_cross_key(sk.master_key, sk.user_id, "master", pub, b64, &why) != 0 ||
                hs_e2ee_verify(sk.self_signing_key, sk.user_id, b64, pub, &why) != 0)
                abort();
        }
    } else if (!err.msg[0]) {
        abort();
    }
    int resyncs = HS_FED_RESYNCS_PER_TXN;
    hs_fed_edu_apply(&srv, ORIGIN, edu, &resyncs);
    for (long i = 0; i < np; i++) {
        hs_store_presence p;
        if (hs_store_presence_get(srv.store, pv[i].user_id, &p) != 1) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store) setup();
    hs_err err;
    json_t *j = hs_cjson_parse((const char *)data, size, 1 << 20, HS_CJSON_LAX_INTS | HS_CJSON_ANY, &err);
    if (!j) return 0;
    json_t *edus = json_object_get(j, "edus");
    if (json_is_array(edus)) {
        size_t i;
        json_t *e;
        json_array_foreach(edus, i, e) {
            if (i >= 100) break;
            one(e);
        }
    } else {
        one(j);
    }
    json_decref(j);
    long n = 0;
    if (hs_store_e2ee_inbox_each(srv.store, "@fuzzer:fuzz.test", device_id, 0, 1000, count_inbox, &n) < 0) abort();
    return 0;
}
