/* limits.max_devices_per_user over the Client-Server API: with a limit of 3, the
 * registration's device and two logins fill it; a fourth login is refused with 403
 * ORG_MATRIX_MSC4342_M_TOO_MANY_DEVICES and creates nothing; logging in again on a
 * device the account already has still works; after logging one device out, a new
 * login works again. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define PASSWORD "correct horse battery"
#define LIMIT 3

static pgt_hs hs;

static void three_devices(hs_config *c)
{
    c->max_devices_per_user = LIMIT;
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
