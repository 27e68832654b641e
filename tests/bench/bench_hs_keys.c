/* bench_hs_keys: the cost of the E2EE key endpoints on a real server (scratch store,
 * no listeners; requests go through the client router). USERS users each upload
 * self-signed device keys (one ed25519 verification per upload) with OTKS one-time
 * keys, as a client does right after login; then one device queries the keys of all
 * of them in one keys/query, claims one one-time key of each in one keys/claim, and
 * sends one to-device message to each. Each answer is checked for the expected number
 * of entries. Figures: uploads per second, and milliseconds per request. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_server.h"
#include "bench/bench_support.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_store_e2ee.h"

#define USERS 200
#define OTKS 50
#define ROUNDS 10

static hs_server srv;

static json_t *request(const char *token, const char *method, const char *target, json_t *body)
{
    char auth[200];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *j = bs_request(&srv, auth, method, target, text, text ? strlen(text) : 0);
    free(text);
    return j;
}

static void count_message(void *ctx, int64_t stream_id, const char *sender, const char *type, const char *content)
{
    (void)ctx;
    (void)stream_id;
    (void)sender;
    (void)type;
    (void)content;
}

/* The keys/upload body of one freshly logged-in device: signed device keys and OTKS
 * signed one-time keys (client-side signing is not timed). */
static json_t *upload_body(const hs_accounts_session *s)
{
    hs_signing_key k;
    char pub[44], id[300], err_id[300];
    if (hs_signing_key_generate(&k) != 0) exit(1);
    hs_signing_key_public_b64(&k, pub);
    snprintf(k.key_id, sizeof k.key_id, "ed25519:%s", s->device_id);
    snprintf(id, sizeof id, "curve25519:%s", s->device_id);
    json_t *dk = json_pack("{s:s, s:s, s:[s, s], s:{s:s, s:s}}", "user_id", s->user_id, "device_id", s->device_id,
                           "algorithms", "m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2", "keys", k.key_id, pub,
                           id, "Y3VydmUga2V5IG9mIHRoZSBkZXZpY2UgaW4gYmFzZTY0");
    hs_err e;
    if (hs_sign_json(dk, s->user_id, &k, &e) != 0) exit(1);
    json_t *otks = json_object();
    for (int i = 0; i < OTKS; i++) {
        snprintf(err_id, sizeof err_id, "signed_curve25519:AAAA%04d", i);
        json_t *o = json_pack("{s:s}", "key", "b25lLXRpbWUga2V5IGluIGJhc2U2NCwgNDMgY2hhcnM");
        if (hs_sign_json(o, s->user_id, &k, &e) != 0) exit(1);
        json_object_set_new(otks, err_id, o);
    }
    return json_pack("{s:o, s:o}", "device_keys", dk, "one_time_keys", otks);
}

static size_t entries(json_t *j, const char *field)
{
    return json_object_size(json_object_get(j, field));
}

int main(void)
{
    char dir[] = "/tmp/bench_hs_keys.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    static hs_accounts_session s[USERS];
    static json_t *bodies[USERS];
    for (int i = 0; i < USERS; i++) {
        char lp[32], uid[HS_STORE_ID_MAX];
        snprintf(lp, sizeof lp, "user%03d", i);
        /* No password: argon2id per user would dominate the setup. */
        if (hs_accounts_register(srv.store, cfg.server_name, lp, NULL, false, bs_wall_ms(), uid) != HS_ACCOUNTS_OK ||
            hs_accounts_login(srv.store, uid, NULL, "bench", "127.0.0.1", bs_wall_ms(), &s[i]) != HS_ACCOUNTS_OK)
            return 1;
        bodies[i] = upload_body(&s[i]);
    }

    double t0 = bs_now_s();
    for (int i = 0; i < USERS; i++) {
        json_t *j = request(s[i].access_token, "POST", "/_matrix/client/v3/keys/upload", bodies[i]);
        json_int_t n = json_integer_value(
            json_object_get(json_object_get(j, "one_time_key_counts"), "signed_curve25519"));
        if (n != OTKS) return 1;
        json_decref(j);
        json_decref(bodies[i]);
    }
    double dt = bs_now_s() - t0;
    printf("keys/upload (device keys + %d OTKs, signature checked)  %8.0f uploads/s (%.2f ms each)\n", OTKS,
           USERS / dt, dt * 1e3 / USERS);

    json_t *q = json_object(), *c = json_object(), *m = json_object();
    for (int i = 0; i < USERS; i++) {
        json_object_set_new(q, s[i].user_id, json_array());
        json_object_set_new(c, s[i].user_id, json_pack("{s:s}", s[i].device_id, "signed_curve25519"));
        json_object_set_new(m, s[i].user_id, json_pack("{s:{s:s}}", s[i].device_id, "ciphertext", "opaque"));
    }
    json_t *qb = json_pack("{s:o}", "device_keys", q), *cb = json_pack("{s:o}", "one_time_keys", c),
           *mb = json_pack("{s:o}", "messages", m);
    const char *me = s[0].access_token;

    t0 = bs_now_s();
    for (int r = 0; r < ROUNDS; r++) {
        json_t *j = request(me, "POST", "/_matrix/client/v3/keys/query", qb);
        if (entries(json_object_get(j, "device_keys"), s[USERS - 1].user_id) != 1 ||
            entries(j, "device_keys") != USERS)
            return 1;
        json_decref(j);
    }
    printf("keys/query of %d users                                %8.2f ms/request\n", USERS,
           (bs_now_s() - t0) * 1e3 / ROUNDS);

    t0 = bs_now_s();
    for (int r = 0; r < ROUNDS; r++) {
        json_t *j = request(me, "POST", "/_matrix/client/v3/keys/claim", cb);
        if (entries(j, "one_time_keys") != USERS) return 1;
        json_decref(j);
    }
    printf("keys/claim of %d devices (one OTK each)               %8.2f ms/request\n", USERS,
           (bs_now_s() - t0) * 1e3 / ROUNDS);

    t0 = bs_now_s();
    for (int r = 0; r < ROUNDS; r++) {
        char target[128];
        snprintf(target, sizeof target, "/_matrix/client/v3/sendToDevice/m.room.encrypted/bench%d", r);
        json_decref(request(me, "PUT", target, mb));
    }
    double sent_s = bs_now_s() - t0;
    long inbox = hs_store_e2ee_inbox_each(srv.store, s[USERS - 1].user_id, s[USERS - 1].device_id, 0, 2 * ROUNDS,
                                          count_message, NULL);
    if (inbox != ROUNDS) return 1;
    printf("sendToDevice to %d devices                            %8.2f ms/request\n", USERS,
           sent_s * 1e3 / ROUNDS);

    json_decref(qb);
    json_decref(cb);
    json_decref(mb);
    return bs_server_close(&srv, dir);
}
