/* The accounts API end to end: a real hs_server on an ephemeral loopback port and
 * libcurl requests, checking what a Matrix client sees - registration with its UIA
 * round trip, Synapse's shared-secret admin registration (MACs computed here with
 * OpenSSL, independently of the server's HMAC), login, tokens in the header and the
 * query, logout, password change, deactivation, devices, rate limits, tokens at rest
 * and across a restart. Each test gets a fresh server and database. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server.h"
#include "server-core/hs_store_accounts.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define SECRET "s3cret shared"

static pgt_hs hs;
static bool registration_open, rate_limited;

static void accounts_config(hs_config *c)
{
    c->registration_enabled = registration_open;
    snprintf(c->registration_shared_secret, sizeof c->registration_shared_secret, "%s", SECRET);
    c->rate_limits_enabled = rate_limited;
    c->login_per_second = 0.5;
    c->login_burst = 2;
}

/* Only the client listener matters here; the federation one needs TLS material, so it
 * is left out by listening on the client router alone (what pgt_hs does). */
static void configure(bool registration, bool rate_limits)
{
    /* Criterion runs the suite's init and then a test's own: a test that asks for another
     * configuration replaces the server the suite started instead of leaking it. */
    if (hs.dir) pgt_hs_stop(&hs);
    registration_open = registration;
    rate_limited = rate_limits;
    hs.listener_max_body = 65536;
    pgt_hs_start(&hs, "example.test", accounts_config);
}

static void start_open(void) { configure(true, false); }
static void start_closed(void) { configure(false, false); }
static void start_limited(void) { configure(true, true); }

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_accounts_api, .init = start_open, .fini = stop, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------ */

/* Performs a request and parses the JSON answer; *status gets the HTTP status. */
static json_t *call(const char *method, const char *path, const char *token, long *status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static json_t *call(const char *method, const char *path, const char *token, long *status, const char *fmt, ...)
{
    char body[4096] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(body, sizeof body, fmt, ap);
        va_end(ap);
    }
    json_t *j = pgt_mx_call(hs.base, method, path, token, fmt ? body : NULL, status);
    cr_assert_neq(*status, 0, "%s %s: no answer", method, path);
    cr_assert_not_null(j, "%s %s: answer is not JSON", method, path);
    return j;
}

static const char *str(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

/* Asserts an error answer and frees it. */
static void expect_error(json_t *j, long status, long want_status, const char *errcode)
{
    char *dump = json_dumps(j, 0);
    cr_assert_eq(status, want_status, "status %ld, want %ld: %s", status, want_status, dump);
    cr_assert_str_eq(str(j, "errcode"), errcode, "%s", dump);
    free(dump);
    json_decref(j);
}

typedef pgt_mx_login login;

/* Registers through the two-step dummy flow. */
static login reg(const char *user, const char *password)
{
    login l;
    cr_assert_eq(pgt_mx_register(hs.base, user, password, &l), 0, "register %s", user);
    return l;
}

static login do_login(const char *user, const char *password, long want)
{
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/login", NULL, &st,
                     "{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"%s\"},"
                     "\"password\":\"%s\",\"initial_device_display_name\":\"dev of %s\"}",
                     user, password, user);
    cr_assert_eq(st, want, "login %s: %ld", user, st);
    login l;
    snprintf(l.user_id, sizeof l.user_id, "%s", str(j, "user_id"));
    snprintf(l.token, sizeof l.token, "%s", str(j, "access_token"));
    snprintf(l.device_id, sizeof l.device_id, "%s", str(j, "device_id"));
    if (want != 200) cr_assert_str_eq(str(j, "errcode"), "M_FORBIDDEN");
    json_decref(j);
    return l;
}

/* 200 with this user, or the given error. */
static void whoami_is(const char *token, const char *user_id)
{
    long st;
    json_t *j = call("GET", "/_matrix/client/v3/account/whoami", token, &st, NULL);
    cr_assert_eq(st, 200, "whoami: %ld %s", st, str(j, "errcode"));
    cr_assert_str_eq(str(j, "user_id"), user_id);
    json_decref(j);
}

static void token_is_dead(const char *token)
{
    long st;
    json_t *j = call("GET", "/_matrix/client/v3/account/whoami", token, &st, NULL);
    cr_assert_eq(json_is_false(json_object_get(j, "soft_logout")), true);
    expect_error(j, st, 401, "M_UNKNOWN_TOKEN");
}

/* ---- registration ---------------------------------------------------------------------- */

Test(hs_accounts_api, register_dummy_flow)
{
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/register", NULL, &st, "{\"username\":\"alice\",\"password\":\"pw\"}");
    cr_assert_eq(st, 401);
    json_t *stages = json_object_get(json_array_get(json_object_get(j, "flows"), 0), "stages");
    cr_assert_str_eq(json_string_value(json_array_get(stages, 0)), "m.login.dummy");
    cr_assert(strlen(str(j, "session")) > 10);
    cr_assert(json_is_object(json_object_get(j, "params")));
    json_decref(j);
    /* An invented session is refused. */
    j = call("POST", "/_matrix/client/v3/register", NULL, &st,
             "{\"username\":\"alice\",\"auth\":{\"type\":\"m.login.dummy\",\"session\":\"invented\"}}");
    expect_error(j, st, 400, "M_UNKNOWN");

    login l = reg("alice", "pw");
    cr_assert_str_eq(l.user_id, "@alice:example.test");
    cr_assert_eq(strlen(l.token), 43);
    cr_assert(l.device_id[0]);
    whoami_is(l.token, "@alice:example.test");

    /* Client-chosen device, display name, inhibit_login. */
    j = call("POST", "/_matrix/client/r0/register", NULL, &st,
             "{\"username\":\"bob\",\"password\":\"pw\",\"device_id\":\"BOBPHONE\","
             "\"initial_device_display_name\":\"Bob's phone\",\"auth\":{\"type\":\"m.login.dummy\"}}");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(str(j, "device_id"), "BOBPHONE");
    json_decref(j);
    j = call("POST", "/_matrix/client/v3/register", NULL, &st,
             "{\"username\":\"carol\",\"password\":\"pw\",\"inhibit_login\":true,\"auth\":{\"type\":\"m.login.dummy\"}}");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(str(j, "user_id"), "@carol:example.test");
    cr_assert_null(json_object_get(j, "access_token"));
    json_decref(j);
    do_login("carol", "pw", 200);
}

Test(hs_accounts_api, register_duplicate_invalid_and_available)
{
    reg("alice", "pw");
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/register", NULL, &st,
                     "{\"username\":\"alice\",\"password\":\"x\",\"auth\":{\"type\":\"m.login.dummy\"}}");
    expect_error(j, st, 400, "M_USER_IN_USE");
    const char *bad[] = {"Alice", "al%20ice", "al%3Aice", "%C3%A5"};
    for (size_t i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof path, "/_matrix/client/v3/register/available?username=%s", bad[i]);
        j = call("GET", path, NULL, &st, NULL);
        expect_error(j, st, 400, "M_INVALID_USERNAME");
    }
    j = call("POST", "/_matrix/client/v3/register", NULL, &st, "{\"username\":\"Bad Name\",\"password\":\"x\"}");
    expect_error(j, st, 400, "M_INVALID_USERNAME");
    j = call("GET", "/_matrix/client/v3/register/available?username=alice", NULL, &st, NULL);
    expect_error(j, st, 400, "M_USER_IN_USE");
    j = call("GET", "/_matrix/client/v3/register/available?username=dave", NULL, &st, NULL);
    cr_assert_eq(st, 200);
    cr_assert(json_is_true(json_object_get(j, "available")));
    json_decref(j);
    j = call("POST", "/_matrix/client/v3/register?kind=guest", NULL, &st, "{}");
    expect_error(j, st, 403, "M_GUEST_ACCESS_FORBIDDEN");
    j = call("POST", "/_matrix/client/v3/register", NULL, &st, "not json");
    expect_error(j, st, 400, "M_NOT_JSON");
}

/* Computes Synapse's admin-registration MAC with OpenSSL. */
static void synapse_mac(const char *nonce, const char *user, const char *pw, bool admin, char hex[41])
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s%c%s%c%s%c%s", nonce, 0, user, 0, pw, 0, admin ? "admin" : "notadmin");
    unsigned char mac[20];
    unsigned int len = 0;
    HMAC(EVP_sha1(), SECRET, (int)strlen(SECRET), (const unsigned char *)msg, (size_t)n, mac, &len);
    cr_assert_eq(len, 20);
    for (int i = 0; i < 20; i++) sprintf(hex + 2 * i, "%02x", mac[i]);
}

static void get_nonce(char *nonce)
{
    long st;
    json_t *j = call("GET", "/_synapse/admin/v1/register", NULL, &st, NULL);
    cr_assert_eq(st, 200);
    snprintf(nonce, 64, "%s", str(j, "nonce"));
    cr_assert(nonce[0]);
    json_decref(j);
}

Test(hs_accounts_api, registration_off_is_forbidden_but_shared_secret_works, .init = start_closed)
{
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/register", NULL, &st,
                     "{\"username\":\"alice\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}");
    expect_error(j, st, 403, "M_FORBIDDEN");

    char nonce[64], mac[41];
    get_nonce(nonce);
    synapse_mac(nonce, "root", "hunter2", true, mac);
    j = call("POST", "/_synapse/admin/v1/register", NULL, &st,
             "{\"nonce\":\"%s\",\"username\":\"root\",\"password\":\"hunter2\",\"admin\":true,\"mac\":\"%s\"}", nonce,
             mac);
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    cr_assert_str_eq(str(j, "user_id"), "@root:example.test");
    char token[128];
    snprintf(token, sizeof token, "%s", str(j, "access_token"));
    json_decref(j);
    whoami_is(token, "@root:example.test");
    hs_store_user u;
    cr_assert_eq(hs_store_user_get(hs.srv.store, "@root:example.test", &u), 0);
    cr_assert(u.admin);

    /* The same nonce again: refused even with a correct MAC. */
    j = call("POST", "/_synapse/admin/v1/register", NULL, &st,
             "{\"nonce\":\"%s\",\"username\":\"root\",\"password\":\"hunter2\",\"admin\":true,\"mac\":\"%s\"}", nonce,
             mac);
    expect_error(j, st, 400, "M_UNKNOWN");

    /* A MAC over different fields (admin flag flipped) is wrong. */
    get_nonce(nonce);
    synapse_mac(nonce, "eve", "pw", false, mac);
    j = call("POST", "/_synapse/admin/v1/register", NULL, &st,
             "{\"nonce\":\"%s\",\"username\":\"eve\",\"password\":\"pw\",\"admin\":true,\"mac\":\"%s\"}", nonce, mac);
    expect_error(j, st, 403, "M_FORBIDDEN");
    cr_assert_eq(hs_store_user_get(hs.srv.store, "@eve:example.test", &u), 1, "no account made");
    /* ... and the nonce was used up by the failed attempt. */
    synapse_mac(nonce, "eve", "pw", true, mac);
    j = call("POST", "/_synapse/admin/v1/register", NULL, &st,
             "{\"nonce\":\"%s\",\"username\":\"eve\",\"password\":\"pw\",\"admin\":true,\"mac\":\"%s\"}", nonce, mac);
    expect_error(j, st, 400, "M_UNKNOWN");

    /* Non-admin with upper-case hex MAC; then the name is taken. */
    get_nonce(nonce);
    synapse_mac(nonce, "frank", "pw", false, mac);
    for (char *p = mac; *p; p++) *p = (char)toupper((unsigned char)*p);
    j = call("POST", "/_synapse/admin/v1/register", NULL, &st,
             "{\"nonce\":\"%s\",\"username\":\"frank\",\"password\":\"pw\",\"mac\":\"%s\"}", nonce, mac);
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    json_decref(j);
    cr_assert_eq(hs_store_user_get(hs.srv.store, "@frank:example.test", &u), 0);
    cr_assert_not(u.admin);
    get_nonce(nonce);
    synapse_mac(nonce, "frank", "pw", false, mac);
    j = call("POST", "/_synapse/admin/v1/register", NULL, &st,
             "{\"nonce\":\"%s\",\"username\":\"frank\",\"password\":\"pw\",\"mac\":\"%s\"}", nonce, mac);
    expect_error(j, st, 400, "M_USER_IN_USE");
    do_login("frank", "pw", 200);
}

/* ---- login and tokens -------------------------------------------------------------------- */

Test(hs_accounts_api, login_right_and_wrong_password)
{
    reg("alice", "correct");
    long st;
    json_t *j = call("GET", "/_matrix/client/v3/login", NULL, &st, NULL);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(str(json_array_get(json_object_get(j, "flows"), 0), "type"), "m.login.password");
    json_decref(j);

    login l = do_login("alice", "correct", 200);
    cr_assert_str_eq(l.user_id, "@alice:example.test");
    whoami_is(l.token, "@alice:example.test");
    do_login("alice", "wrong", 403);
    do_login("nobody", "correct", 403);
    do_login("@alice:example.test", "correct", 200);
    /* The legacy top-level "user" field, on the r0 path. */
    j = call("POST", "/_matrix/client/r0/login", NULL, &st,
             "{\"type\":\"m.login.password\",\"user\":\"alice\",\"password\":\"correct\"}");
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("POST", "/_matrix/client/v3/login", NULL, &st, "{\"type\":\"m.login.token\",\"token\":\"x\"}");
    expect_error(j, st, 400, "M_UNKNOWN");
    j = call("POST", "/_matrix/client/v3/login", NULL, &st, "{\"type\":\"m.login.password\",\"user\":\"alice\"}");
    expect_error(j, st, 400, "M_MISSING_PARAM");
}

Test(hs_accounts_api, whoami_header_query_bad_and_missing_token)
{
    login l = reg("alice", "pw");
    whoami_is(l.token, l.user_id);
    long st;
    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/account/whoami?access_token=%s", l.token);
    json_t *j = call("GET", path, NULL, &st, NULL);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(str(j, "user_id"), l.user_id);
    cr_assert_str_eq(str(j, "device_id"), l.device_id);
    cr_assert(json_is_false(json_object_get(j, "is_guest")));
    json_decref(j);
    token_is_dead("not-a-token");
    char tampered[128];
    snprintf(tampered, sizeof tampered, "%s", l.token);
    tampered[0] = tampered[0] == 'A' ? 'B' : 'A';
    token_is_dead(tampered);
    j = call("GET", "/_matrix/client/v3/account/whoami", NULL, &st, NULL);
    cr_assert(json_is_false(json_object_get(j, "soft_logout")));
    expect_error(j, st, 401, "M_MISSING_TOKEN");
}

Test(hs_accounts_api, logout_and_logout_all)
{
    login a = reg("alice", "pw");
    login b = do_login("alice", "pw", 200);
    login c = do_login("alice", "pw", 200);
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/logout", a.token, &st, "{}");
    cr_assert_eq(st, 200);
    json_decref(j);
    token_is_dead(a.token);
    whoami_is(b.token, a.user_id);
    j = call("GET", "/_matrix/client/v3/devices", b.token, &st, NULL);
    cr_assert_eq(json_array_size(json_object_get(j, "devices")), 2, "logout deletes the device");
    json_decref(j);
    j = call("POST", "/_matrix/client/r0/logout/all", b.token, &st, "{}");
    cr_assert_eq(st, 200);
    json_decref(j);
    token_is_dead(b.token);
    token_is_dead(c.token);
    do_login("alice", "pw", 200);
}

/* UIA body for m.login.password. */
#define PW_AUTH(user, pw) "\"auth\":{\"type\":\"m.login.password\",\"identifier\":{\"type\":\"m.id.user\",\"user\":\"" user "\"},\"password\":\"" pw "\"}"

Test(hs_accounts_api, password_change)
{
    login a = reg("alice", "old");
    login b = do_login("alice", "old", 200);
    login c = do_login("alice", "old", 200);
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/account/password", a.token, &st, "{\"new_password\":\"new\"}");
    cr_assert_eq(st, 401);
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_array_get(json_object_get(j, "flows"), 0), "stages"), 0)),
                     "m.login.password");
    json_decref(j);
    j = call("POST", "/_matrix/client/v3/account/password", a.token, &st,
             "{\"new_password\":\"new\"," PW_AUTH("alice", "wrong") "}");
    cr_assert(json_is_string(json_object_get(j, "session")));
    expect_error(j, st, 401, "M_FORBIDDEN");
    /* logout_devices false keeps the other sessions. */
    j = call("POST", "/_matrix/client/v3/account/password", a.token, &st,
             "{\"new_password\":\"mid\",\"logout_devices\":false," PW_AUTH("alice", "old") "}");
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    json_decref(j);
    whoami_is(b.token, a.user_id);
    do_login("alice", "old", 403);
    /* Default: every other device is logged out, the requesting one stays. */
    j = call("POST", "/_matrix/client/v3/account/password", a.token, &st,
             "{\"new_password\":\"new\"," PW_AUTH("@alice:example.test", "mid") "}");
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    json_decref(j);
    whoami_is(a.token, a.user_id);
    token_is_dead(b.token);
    token_is_dead(c.token);
    do_login("alice", "mid", 403);
    do_login("alice", "new", 200);
}

Test(hs_accounts_api, deactivate)
{
    login a = reg("alice", "pw");
    login b = do_login("alice", "pw", 200);
    reg("bob", "pw");
    long st;
    json_t *j = call("POST", "/_matrix/client/v3/account/deactivate", a.token, &st, "{}");
    cr_assert_eq(st, 401);
    json_decref(j);
    /* Another user's password does not do. */
    j = call("POST", "/_matrix/client/v3/account/deactivate", a.token, &st, "{" PW_AUTH("bob", "pw") "}");
    expect_error(j, st, 401, "M_FORBIDDEN");
    j = call("POST", "/_matrix/client/v3/account/deactivate", a.token, &st, "{" PW_AUTH("alice", "pw") "}");
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    cr_assert_str_eq(str(j, "id_server_unbind_result"), "no-support");
    json_decref(j);
    token_is_dead(a.token);
    token_is_dead(b.token);
    j = call("POST", "/_matrix/client/v3/login", NULL, &st,
             "{\"type\":\"m.login.password\",\"user\":\"alice\",\"password\":\"pw\"}");
    expect_error(j, st, 403, "M_USER_DEACTIVATED");
    j = call("POST", "/_matrix/client/v3/register", NULL, &st,
             "{\"username\":\"alice\",\"password\":\"x\",\"auth\":{\"type\":\"m.login.dummy\"}}");
    expect_error(j, st, 400, "M_USER_IN_USE");
}

/* ---- devices -------------------------------------------------------------------------------- */

Test(hs_accounts_api, devices_list_rename_delete)
{
    login a = reg("alice", "pw");
    login b = do_login("alice", "pw", 200);
    login c = do_login("alice", "pw", 200);
    login other = reg("bob", "pw");
    long st;
    json_t *j = call("GET", "/_matrix/client/v3/devices", a.token, &st, NULL);
    cr_assert_eq(st, 200);
    json_t *devs = json_object_get(j, "devices");
    cr_assert_eq(json_array_size(devs), 3);
    bool saw_b = false;
    for (size_t i = 0; i < 3; i++) {
        json_t *d = json_array_get(devs, i);
        if (strcmp(str(d, "device_id"), b.device_id) == 0) {
            saw_b = true;
            cr_assert_str_eq(str(d, "display_name"), "dev of alice");
            cr_assert_str_eq(str(d, "last_seen_ip"), "127.0.0.1");
            cr_assert(json_integer_value(json_object_get(d, "last_seen_ts")) > 1600000000000LL);
        }
    }
    cr_assert(saw_b);
    json_decref(j);

    char path[256];
    snprintf(path, sizeof path, "/_matrix/client/v3/devices/%s", b.device_id);
    j = call("PUT", path, a.token, &st, "{\"display_name\":\"Work laptop\"}");
    cr_assert_eq(st, 200);
    json_decref(j);
    j = call("GET", path, a.token, &st, NULL);
    cr_assert_eq(st, 200);
    cr_assert_str_eq(str(j, "display_name"), "Work laptop");
    json_decref(j);
    /* Another user's device is not found from here. */
    snprintf(path, sizeof path, "/_matrix/client/v3/devices/%s", other.device_id);
    { json_t *e_ = call("GET", path, a.token, &st, NULL); expect_error(e_, st, 404, "M_NOT_FOUND"); }
    { json_t *e_ = call("PUT", path, a.token, &st, "{\"display_name\":\"x\"}"); expect_error(e_, st, 404, "M_NOT_FOUND"); }

    snprintf(path, sizeof path, "/_matrix/client/v3/devices/%s", b.device_id);
    j = call("DELETE", path, a.token, &st, NULL);
    cr_assert_eq(st, 401, "delete needs UIA");
    json_decref(j);
    whoami_is(b.token, a.user_id);
    j = call("DELETE", path, a.token, &st, "{" PW_AUTH("alice", "pw") "}");
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    json_decref(j);
    token_is_dead(b.token);
    { json_t *e_ = call("GET", path, a.token, &st, NULL); expect_error(e_, st, 404, "M_NOT_FOUND"); }

    j = call("POST", "/_matrix/client/v3/delete_devices", a.token, &st, "{\"devices\":[\"%s\"]}", c.device_id);
    cr_assert_eq(st, 401);
    json_decref(j);
    j = call("POST", "/_matrix/client/v3/delete_devices", a.token, &st,
             "{\"devices\":[\"%s\", \"%s\"]," PW_AUTH("alice", "pw") "}", c.device_id, other.device_id);
    cr_assert_eq(st, 200, "%s", str(j, "error"));
    json_decref(j);
    token_is_dead(c.token);
    whoami_is(other.token, other.user_id); /* bob's device of the same ID list is untouched */
    j = call("GET", "/_matrix/client/v3/devices", a.token, &st, NULL);
    cr_assert_eq(json_array_size(json_object_get(j, "devices")), 1);
    json_decref(j);
}

/* ---- limits, storage, restart ----------------------------------------------------------------- */

Test(hs_accounts_api, login_rate_limit_answers_429, .init = start_limited)
{
    reg("alice", "pw");
    long st;
    const char *body = "{\"type\":\"m.login.password\",\"user\":\"alice\",\"password\":\"wrong\"}";
    for (int i = 0; i < 2; i++) { json_t *e_ = call("POST", "/_matrix/client/v3/login", NULL, &st, "%s", body); expect_error(e_, st, 403, "M_FORBIDDEN"); }
    char url[256];
    snprintf(url, sizeof url, "%s/_matrix/client/v3/login", hs.base);
    pgt_req opt = {.method = "POST", .body = body, .body_len = strlen(body)};
    pgt_http r = pgt_http_do(url, &opt);
    cr_assert_eq(r.status, 429, "%ld %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(str(j, "errcode"), "M_LIMIT_EXCEEDED");
    json_int_t retry = json_integer_value(json_object_get(j, "retry_after_ms"));
    cr_assert(retry > 0 && retry <= 2000, "retry_after_ms %lld", (long long)retry);
    char *ra = pgt_header(&r, "Retry-After");
    cr_assert(ra && atoi(ra) >= 1 && atoi(ra) <= 2, "Retry-After %s", ra ? ra : "(none)");
    free(ra);
    json_decref(j);
    pgt_http_free(&r);
    /* Even the right password is refused while limited. */
    j = call("POST", "/_matrix/client/v3/login", NULL, &st,
             "{\"type\":\"m.login.password\",\"user\":\"alice\",\"password\":\"pw\"}");
    expect_error(j, st, 429, "M_LIMIT_EXCEEDED");
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    bool found = memmem(buf, got, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

Test(hs_accounts_api, tokens_hashed_at_rest_and_survive_restart)
{
    login a = reg("alice", "pw");
    char db[1100], wal[1100];
    snprintf(db, sizeof db, "%s", hs.cfg.database_path);
    snprintf(wal, sizeof wal, "%s-wal", hs.cfg.database_path);
    /* The device ID proves the scan sees the rows; the token must not be there. */
    hs_server_close(&hs.srv);
    cr_assert(file_contains(db, a.device_id), "device row not found in the file: the scan is blind");
    cr_assert_not(file_contains(db, a.token), "the access token is stored in plain text");
    cr_assert_not(file_contains(wal, a.token), "the access token is in the WAL in plain text");
    cr_assert_not(file_contains(db, "\"pw\""));
    pgt_hs_reopen(&hs);
    whoami_is(a.token, "@alice:example.test");
    do_login("alice", "pw", 200);
}
