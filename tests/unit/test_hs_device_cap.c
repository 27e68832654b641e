/* limits.max_devices_per_user over the Client-Server API: with a limit of 3, the
 * registration's device and two logins fill it; a fourth login is refused with 403
 * ORG_MATRIX_MSC4342_M_TOO_MANY_DEVICES and creates nothing; logging in again on a
 * device the account already has still works; after logging one device out, a new
 * login works again. Logins at the same moment (more of them than free places, on
 * as many server workers) create exactly as many devices as fit; the rest are refused.
 * Over HTTP the logins' password hashing spreads them out, so the same race is also
 * run on hs_accounts_login_capped directly, where threads meet far more often. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_accounts.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define PASSWORD "correct horse battery"
#define LIMIT 3
#define RACERS 8 /* concurrent logins, and server workers to run them at once */

static pgt_hs hs;

static void three_devices(hs_config *c)
{
    c->max_devices_per_user = LIMIT;
    c->threads = RACERS;
}

static void start(void)
{
    pgt_hs_start(&hs, "example.test", three_devices);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_device_cap, .init = start, .fini = stop, .timeout = 60);

/* A password login of alice, on `device_id` (NULL: a new one). Returns the answer. */
static json_t *login(const char *device_id, long *status)
{
    json_t *body = json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "m.login.password", "identifier", "type", "m.id.user",
                             "user", "alice", "password", PASSWORD);
    if (device_id) json_object_set_new(body, "device_id", json_string(device_id));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *r = pgt_mx_call(hs.base, "POST", "/_matrix/client/v3/login", NULL, text, status);
    free(text);
    return r;
}

static size_t device_count(const char *token)
{
    json_t *r = pgt_mx_expect(hs.base, "GET", "/_matrix/client/v3/devices", token, NULL, 200);
    size_t n = json_array_size(json_object_get(r, "devices"));
    json_decref(r);
    return n;
}

Test(hs_device_cap, a_login_past_the_limit_is_refused)
{
    pgt_mx_login a = pgt_mx_must_register(hs.base, "alice", PASSWORD);
    long st;
    char second[64] = "";
    for (int i = 1; i < LIMIT; i++) {
        json_t *r = login(NULL, &st);
        cr_assert_eq(st, 200, "login %d: %ld", i, st);
        if (i == 1) snprintf(second, sizeof second, "%s", json_string_value(json_object_get(r, "device_id")));
        json_decref(r);
    }
    cr_assert_eq(device_count(a.token), LIMIT);

    json_t *r = login(NULL, &st);
    cr_assert_eq(st, 403, "a login past the limit answered %ld", st);
    cr_assert_str_eq(json_string_value(json_object_get(r, "errcode")), "ORG_MATRIX_MSC4342_M_TOO_MANY_DEVICES");
    json_decref(r);
    r = login("BRANDNEW", &st);
    cr_assert_eq(st, 403, "a new device ID past the limit answered %ld", st);
    json_decref(r);
    cr_assert_eq(device_count(a.token), LIMIT, "a refused login left a device behind");

    /* An existing device may log in again. */
    r = login(second, &st);
    cr_assert_eq(st, 200, "logging in again on %s answered %ld", second, st);
    char token[256];
    snprintf(token, sizeof token, "%s", json_string_value(json_object_get(r, "access_token")));
    json_decref(r);
    cr_assert_eq(device_count(a.token), LIMIT);

    /* Logging that device out makes room for a new one. */
    json_decref(pgt_mx_expect(hs.base, "POST", "/_matrix/client/v3/logout", token, "{}", 200));
    cr_assert_eq(device_count(a.token), LIMIT - 1);
    r = login(NULL, &st);
    cr_assert_eq(st, 200, "a login after a logout answered %ld", st);
    json_decref(r);
    cr_assert_eq(device_count(a.token), LIMIT);
}

typedef struct racer {
    pthread_barrier_t *go;
    long status;
} racer;

static void *race_login(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    json_decref(login(NULL, &r->status));
    return NULL;
}

Test(hs_device_cap, concurrent_logins_do_not_pass_the_limit)
{
    pgt_mx_login a = pgt_mx_must_register(hs.base, "alice", PASSWORD);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    racer r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
        r[i] = (racer){&go, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, race_login, &r[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        if (r[i].status == 200) ok++;
        else if (r[i].status == 403) refused++;
        else cr_assert_fail("login %d answered %ld", i, r[i].status);
    }
    pthread_barrier_destroy(&go);
    /* The registration holds one place. */
    cr_assert_eq(device_count(a.token), LIMIT, "%d concurrent logins left %zu devices (limit %d)", RACERS,
                 device_count(a.token), LIMIT);
    cr_assert_eq(ok, LIMIT - 1, "%d logins succeeded", ok);
    cr_assert_eq(refused, RACERS - (LIMIT - 1));
}

#define ROUNDS 20 /* users raced for, one after the other */

typedef struct claimer {
    pthread_barrier_t *go;
    const char *user_id;
    hs_accounts_result r;
} claimer;

static void *race_claim(void *arg)
{
    claimer *c = arg;
    hs_accounts_session s;
    pthread_barrier_wait(c->go);
    c->r = hs_accounts_login_capped(hs.srv.store, c->user_id, NULL, NULL, "127.0.0.1", 1000, LIMIT, &s);
    return NULL;
}

Test(hs_device_cap, concurrent_sessions_on_the_store_do_not_pass_the_limit)
{
    for (int round = 0; round < ROUNDS; round++) {
        char user[64];
        snprintf(user, sizeof user, "@racer%d:example.test", round);
        cr_assert_eq(hs_store_user_insert(hs.srv.store, user, NULL, false, 1000), 0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, RACERS);
        claimer c[RACERS];
        pthread_t t[RACERS];
        for (int i = 0; i < RACERS; i++) {
            c[i] = (claimer){&go, user, HS_ACCOUNTS_ERROR};
            cr_assert_eq(pthread_create(&t[i], NULL, race_claim, &c[i]), 0);
        }
        int ok = 0, refused = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(t[i], NULL);
            ok += c[i].r == HS_ACCOUNTS_OK;
            refused += c[i].r == HS_ACCOUNTS_TOO_MANY_DEVICES;
        }
        pthread_barrier_destroy(&go);
        hs_store_device *all = NULL;
        size_t n = 0;
        cr_assert_eq(hs_store_device_list(hs.srv.store, user, &all, &n), 0);
        free(all);
        cr_assert_eq(n, LIMIT, "round %d: %d concurrent logins left %zu devices (limit %d)", round, RACERS, n, LIMIT);
        cr_assert_eq(ok, LIMIT, "round %d: %d logins succeeded, %d refused", round, ok, refused);
        cr_assert_eq(refused, RACERS - LIMIT, "round %d", round);
    }
}
