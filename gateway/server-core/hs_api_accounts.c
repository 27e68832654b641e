/* hs_api_accounts: HTTP handlers for accounts, devices and tokens (spec v1.12,
 * "Client Authentication", "Account registration and management", "Device
 * management") and Synapse's POST /_synapse/admin/v1/register.
 *
 * User-interactive auth: registration offers the single flow [m.login.dummy];
 * password change, deactivation and device deletion offer [m.login.password] for the
 * requesting user. A first call without `auth` gets 401 with the flows and a fresh
 * session ID; a session ID presented later must be one we issued and still live.
 *
 * Rate limits (per client address) guard login, every password check inside UIA and
 * registration; they answer 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After.
 * Handlers read the clocks and pass `now` into the cores. */
#include "server-core/hs_api_accounts.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_accounts.h"
#include "server-core/hs_api_keys.h"
#include "server-core/hs_hmac_sha1.h"
#include "server-core/hs_nonces.h"
#include "server-core/hs_ratelimit.h"
#include "server-core/hs_server.h"
#include "server-core/hs_clock.h"

#define UIA_SESSIONS_MAX 1024
#define UIA_SESSION_TTL_MS (INT64_C(30) * 60 * 1000)
#define ADMIN_NONCES_MAX 256
#define ADMIN_NONCE_TTL_MS (INT64_C(60) * 1000)  /* as Synapse */
#define DISPLAY_NAME_MAX 500
#define DELETE_DEVICES_MAX 1000

struct hs_api_accounts {
    hs_server *srv;
    hs_ratelimit *login_rl;     /* NULL when rate limits are off */
    hs_ratelimit *register_rl;
    hs_nonces *uia;
    hs_nonces *admin_nonces;
};

/* ---- small helpers ------------------------------------------------------------------ */

static json_t *body_object(const hs_request *req, hs_response *resp)
{
    char why[256];
    json_t *j = hs_request_json(req, why, sizeof why);
    if (!j) hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
    return j;
}

/* Reads an optional string member. Returns 0 (absent: *out NULL), or -1 after a 400
 * when it is present but not a string, contains NUL, or is longer than max bytes. */
static int opt_string(const json_t *o, const char *key, size_t max, const char **out, hs_response *resp)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' must be a string", key);
        return -1;
    }
    size_t len = json_string_length(v);
    if (strlen(json_string_value(v)) != len || len > max) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' is longer than %zu bytes or contains NUL", key, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int req_string(const json_t *o, const char *key, size_t max, const char **out, hs_response *resp)
{
    if (opt_string(o, key, max, out, resp) != 0) return -1;
    if (!*out) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "'%s' is required", key);
        return -1;
    }
    return 0;
}

static int opt_bool(const json_t *o, const char *key, bool dflt, bool *out, hs_response *resp)
{
    json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* True when the request may proceed; otherwise `resp` holds the 429. */
static bool rate_ok(hs_ratelimit *rl, const hs_request *req, hs_response *resp)
{
    int64_t retry;
    if (!rl || hs_ratelimit_take(rl, req->remote_addr ? req->remote_addr : "", hs_clock_mono_ms(), &retry)) return true;
    hs_response_json(resp, 429, json_pack("{s:s, s:s, s:I}", "errcode", "M_LIMIT_EXCEEDED", "error",
                                          "Too many requests; retry later", "retry_after_ms", (json_int_t)retry));
    char secs[32];
    snprintf(secs, sizeof secs, "%lld", (long long)((retry + 999) / 1000));
    hs_response_header(resp, "Retry-After", secs);
    return false;
}

/* A user identifier as clients send it ("alice" or "@alice:server") as a local user
 * ID. Local localparts are lowercase, so the localpart is lowercased (as Synapse
 * does) and "Alice" finds @alice. Returns 0, or -1 when it cannot be a user ID. */
static int resolve_user(const hs_api_accounts *api, const char *given, char *out)
{
    int n;
    if (given[0] == '@') n = snprintf(out, HS_STORE_ID_MAX, "%s", given);
    else n = snprintf(out, HS_STORE_ID_MAX, "@%s:%s", given, api->srv->cfg.server_name);
    if (n <= 1 || n >= HS_STORE_ID_MAX) return -1;
    for (char *p = out + 1; *p && *p != ':'; p++) *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* The user named by an `identifier` object (m.id.user) or the legacy `user` field.
 * Returns 0, or -1 after a 400. */
static int identifier_user(const hs_api_accounts *api, const json_t *o, char *user_id, hs_response *resp)
{
    const char *user = NULL;
    json_t *ident = json_object_get(o, "identifier");
    if (ident) {
        const char *type;
        if (!json_is_object(ident) || req_string(ident, "type", 64, &type, resp) != 0) {
            if (!resp->status) hs_response_error(resp, 400, "M_INVALID_PARAM", "'identifier' must be an object");
            return -1;
        }
        if (strcmp(type, "m.id.user") != 0) {
            hs_response_error(resp, 400, "M_UNKNOWN", "identifier type '%s' is not supported (only m.id.user)", type);
            return -1;
        }
        if (req_string(ident, "user", HS_STORE_ID_MAX - 1, &user, resp) != 0) return -1;
    } else if (req_string(o, "user", HS_STORE_ID_MAX - 1, &user, resp) != 0) {
        return -1;
    }
    if (resolve_user(api, user, user_id) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'%s' is not a user ID", user);
        return -1;
    }
    return 0;
}

/* ---- user-interactive auth ------------------------------------------------------------- */

/* 401 with the single flow [stage]; errcode/error added when a stage failed. */
static void uia_challenge(hs_api_accounts *api, hs_response *resp, const char *stage, const char *session,
                          const char *errcode, const char *error)
{
    char fresh[HS_NONCE_MAX];
    if (!session) {
        if (hs_nonces_issue(api->uia, hs_clock_mono_ms(), fresh) != 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "no randomness for a session ID");
            return;
        }
        session = fresh;
    }
    json_t *b = json_pack("{s:[{s:[s]}], s:{}, s:s}", "flows", "stages", stage, "params", "session", session);
    if (b && errcode) {
        json_object_set_new(b, "completed", json_array());
        json_object_set_new(b, "errcode", json_string(errcode));
        json_object_set_new(b, "error", json_string(error));
    }
    hs_response_json(resp, 401, b);
}

/* Checks body.auth against the one-stage flow [stage]. For m.login.password the
 * identified user must be `user_id` (the requester). Returns true when the stage is
 * complete (the session is then used up); otherwise `resp` holds the answer. */
static bool uia_complete(hs_api_accounts *api, const hs_request *req, const json_t *body, const char *stage,
                         const char *user_id, hs_response *resp)
{
    json_t *auth = json_object_get(body, "auth");
    if (!auth || json_is_null(auth)) {
        uia_challenge(api, resp, stage, NULL, NULL, NULL);
        return false;
    }
    if (!json_is_object(auth)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'auth' must be an object");
        return false;
    }
    const char *session, *type;
    if (opt_string(auth, "session", HS_NONCE_MAX - 1, &session, resp) != 0) return false;
    if (session && !hs_nonces_valid(api->uia, session, hs_clock_mono_ms())) {
        hs_response_error(resp, 400, "M_UNKNOWN", "unknown or expired session ID");
        return false;
    }
    if (opt_string(auth, "type", 128, &type, resp) != 0) return false;
    if (!type || strcmp(type, stage) != 0) {
        uia_challenge(api, resp, stage, session, "M_UNRECOGNIZED", "this request only accepts the flow in 'flows'");
        return false;
    }
    if (strcmp(stage, "m.login.password") == 0) {
        if (!rate_ok(api->login_rl, req, resp)) return false;
        char who[HS_STORE_ID_MAX];
        const char *password;
        if (identifier_user(api, auth, who, resp) != 0) return false;
        if (req_string(auth, "password", HS_ACCOUNTS_PASSWORD_MAX * 2, &password, resp) != 0) return false;
        if (strcmp(who, user_id) != 0) {
            uia_challenge(api, resp, stage, session, "M_FORBIDDEN", "the identifier is not the requesting user");
            return false;
        }
        hs_accounts_result r = hs_accounts_check_password(api->srv->store, user_id, password);
        if (r == HS_ACCOUNTS_ERROR) {
            hs_response_error(resp, 500, "M_UNKNOWN", "database error");
            return false;
        }
        if (r != HS_ACCOUNTS_OK) {
            uia_challenge(api, resp, stage, session, "M_FORBIDDEN", "Invalid password");
            return false;
        }
    }
    if (session) hs_nonces_consume(api->uia, session, hs_clock_mono_ms());
    return true;
}

/* ---- registration ------------------------------------------------------------------------ */

static void session_json(hs_response *resp, const hs_api_accounts *api, const hs_accounts_session *s)
{
    hs_response_json(resp, 200, json_pack("{s:s, s:s, s:s, s:s}", "user_id", s->user_id, "access_token",
                                           s->access_token, "device_id", s->device_id, "home_server",
                                           api->srv->cfg.server_name));
}

/* Maps a failed hs_accounts_register to the spec's answer. */
static void register_failed(hs_response *resp, hs_accounts_result r, const char *localpart)
{
    switch (r) {
    case HS_ACCOUNTS_INVALID_USERNAME:
        hs_response_error(resp, 400, "M_INVALID_USERNAME",
                          "'%s' is not a valid username: use a-z, 0-9 and . _ = - / +", localpart);
        break;
    case HS_ACCOUNTS_USER_IN_USE:
        hs_response_error(resp, 400, "M_USER_IN_USE", "User ID already taken");
        break;
    case HS_ACCOUNTS_PASSWORD_TOO_LONG:
        hs_response_error(resp, 400, "M_INVALID_PARAM", "password is longer than %d bytes", HS_ACCOUNTS_PASSWORD_MAX);
        break;
    default:
        hs_response_error(resp, 500, "M_UNKNOWN", "could not create the account");
        break;
    }
}

/* Issues a session after registration and answers with it. */
static void login_and_answer(hs_api_accounts *api, const hs_request *req, hs_response *resp, const char *user_id,
                             const char *device_id, const char *display_name)
{
    hs_accounts_session s;
    /* A device the user already has may always log in again; a new one only while the
     * user has fewer than limits.max_devices_per_user (counted and created in one
     * statement, so concurrent logins cannot pass it together). Refusing, as MSC4342
     * proposes, rather than logging out the oldest device keeps that device's
     * undelivered to-device messages (room keys). */
    hs_accounts_result r = hs_accounts_login_capped(api->srv->store, user_id, device_id, display_name, req->remote_addr,
                                                    hs_clock_wall_ms(), api->srv->cfg.max_devices_per_user, &s);
    if (r == HS_ACCOUNTS_TOO_MANY_DEVICES) {
        hs_response_error(resp, 403, "ORG_MATRIX_MSC4342_M_TOO_MANY_DEVICES",
                          "this account already has %d devices, the most this server allows; log out of one first",
                          api->srv->cfg.max_devices_per_user);
        return;
    }
    if (r != HS_ACCOUNTS_OK) {
        hs_response_error(resp, 500, "M_UNKNOWN", "could not create a session");
        return;
    }
    session_json(resp, api, &s);
    sodium_memzero(&s, sizeof s);
}

/* Checks that `localpart` could be registered now. Returns 0, or -1 after a 400/500. */
static int localpart_available(hs_api_accounts *api, const char *localpart, hs_response *resp)
{
    const char *server = api->srv->cfg.server_name;
    char user_id[HS_STORE_ID_MAX];
    if (!hs_accounts_localpart_valid(localpart, server) || hs_accounts_user_id(localpart, server, user_id) != 0) {
        register_failed(resp, HS_ACCOUNTS_INVALID_USERNAME, localpart);
        return -1;
    }
    hs_store_user u;
    int rc = hs_store_user_get(api->srv->store, user_id, &u);
    if (rc != 1) {
        register_failed(resp, rc == 0 ? HS_ACCOUNTS_USER_IN_USE : HS_ACCOUNTS_ERROR, localpart);
        return -1;
    }
    return 0;
}

static void register_available_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    if (!rate_ok(api->register_rl, req, resp)) return;
    const char *username = hs_request_query(req, "username");
    if (!username) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "the 'username' query parameter is required");
        return;
    }
    if (localpart_available(api, username, resp) != 0) return;
    hs_response_json(resp, 200, json_pack("{s:b}", "available", 1));
}

static void register_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    const char *kind = hs_request_query(req, "kind");
    if (kind && strcmp(kind, "guest") == 0) {
        hs_response_error(resp, 403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is not enabled on this server");
        return;
    }
    if (kind && strcmp(kind, "user") != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'kind' must be 'user' or 'guest'");
        return;
    }
    if (!api->srv->cfg.registration_enabled) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "Registration has been disabled");
        return;
    }
    if (!rate_ok(api->register_rl, req, resp)) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    const char *username, *password, *device_id, *display_name;
    bool inhibit_login;
    char generated[32];
    if (opt_string(body, "username", HS_STORE_ID_MAX - 1, &username, resp) != 0 ||
        opt_string(body, "password", HS_ACCOUNTS_PASSWORD_MAX * 2, &password, resp) != 0 ||
        opt_string(body, "device_id", HS_STORE_ID_MAX - 1, &device_id, resp) != 0 ||
        opt_string(body, "initial_device_display_name", DISPLAY_NAME_MAX, &display_name, resp) != 0 ||
        opt_bool(body, "inhibit_login", false, &inhibit_login, resp) != 0)
        goto out;
    if (device_id && !device_id[0]) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'device_id' must not be empty");
        goto out;
    }
    if (!username) {
        /* The spec lets the server pick; a random lowercase name cannot be guessed
         * or enumerated the way a counter can. */
        if (sodium_init() < 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "no randomness available");
            goto out;
        }
        for (int i = 0; i < 12; i++) generated[i] = (char)('a' + randombytes_uniform(26));
        generated[12] = '\0';
        username = generated;
    }
    /* Username problems are reported before the auth round trip, so a client can ask
     * for another name without redoing the flow. */
    if (localpart_available(api, username, resp) != 0) goto out;
    if (!uia_complete(api, req, body, "m.login.dummy", NULL, resp)) goto out;
    char user_id[HS_STORE_ID_MAX];
    hs_accounts_result r = hs_accounts_register(api->srv->store, api->srv->cfg.server_name, username, password,
                                                false, hs_clock_wall_ms(), user_id);
    if (r != HS_ACCOUNTS_OK) {
        register_failed(resp, r, username);
        goto out;
    }
    hs_info("accounts", "registered %s", user_id);
    if (inhibit_login)
        hs_response_json(resp, 200, json_pack("{s:s, s:s}", "user_id", user_id, "home_server",
                                              api->srv->cfg.server_name));
    else
        login_and_answer(api, req, resp, user_id, device_id, display_name);
out:
    json_decref(body);
}

/* ---- Synapse shared-secret admin registration ------------------------------------------------ */

static void admin_register_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    hs_api_accounts *api = ctx;
    if (!api->srv->cfg.registration_shared_secret[0]) {
        hs_response_error(resp, 400, "M_UNKNOWN", "Shared secret registration is not enabled");
        return;
    }
    char nonce[HS_NONCE_MAX];
    if (hs_nonces_issue(api->admin_nonces, hs_clock_mono_ms(), nonce) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "no randomness for a nonce");
        return;
    }
    hs_response_json(resp, 200, json_pack("{s:s}", "nonce", nonce));
}

/* Constant-time check of a hex MAC (either case) against the expected bytes. */
static bool mac_matches(const char *hex, const uint8_t want[HS_SHA1_BYTES])
{
    uint8_t got[HS_SHA1_BYTES];
    size_t bin_len = 0;
    if (strlen(hex) != 2 * HS_SHA1_BYTES ||
        sodium_hex2bin(got, sizeof got, hex, strlen(hex), NULL, &bin_len, NULL) != 0 || bin_len != sizeof got)
        return false;
    return sodium_memcmp(got, want, sizeof got) == 0;
}

static void admin_register_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    const char *secret = api->srv->cfg.registration_shared_secret;
    if (!secret[0]) {
        hs_response_error(resp, 400, "M_UNKNOWN", "Shared secret registration is not enabled");
        return;
    }
    json_t *body = body_object(req, resp);
    if (!body) return;
    const char *nonce, *username, *password, *mac, *user_type;
    bool admin;
    if (req_string(body, "nonce", HS_NONCE_MAX - 1, &nonce, resp) != 0 ||
        req_string(body, "username", HS_STORE_ID_MAX - 1, &username, resp) != 0 ||
        req_string(body, "password", HS_ACCOUNTS_PASSWORD_MAX * 2, &password, resp) != 0 ||
        req_string(body, "mac", 128, &mac, resp) != 0 || opt_bool(body, "admin", false, &admin, resp) != 0 ||
        opt_string(body, "user_type", 64, &user_type, resp) != 0)
        goto out;
    if (user_type) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'user_type' is not supported by this server");
        goto out;
    }
    /* Used up before the MAC is checked: a nonce is good for one attempt, right or wrong. */
    if (!hs_nonces_consume(api->admin_nonces, nonce, hs_clock_mono_ms())) {
        hs_response_error(resp, 400, "M_UNKNOWN", "unrecognised nonce");
        goto out;
    }
    /* MAC over nonce \0 username \0 password \0 admin|notadmin, as Synapse defines it. */
    size_t nl = strlen(nonce), ul = strlen(username), pl = strlen(password);
    const char *flag = admin ? "admin" : "notadmin";
    size_t fl = strlen(flag), total = nl + ul + pl + fl + 3;
    uint8_t *msg = malloc(total);
    if (!msg) {
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        goto out;
    }
    uint8_t *p = msg;
    memcpy(p, nonce, nl), p += nl, *p++ = 0;
    memcpy(p, username, ul), p += ul, *p++ = 0;
    memcpy(p, password, pl), p += pl, *p++ = 0;
    memcpy(p, flag, fl);
    uint8_t want[HS_SHA1_BYTES];
    if (hs_hmac_sha1((const uint8_t *)secret, strlen(secret), msg, total, want) != 0)
        memset(want, 0, sizeof want); /* never matches a hex MAC of 40 digits */
    sodium_memzero(msg, total);
    free(msg);
    if (!mac_matches(mac, want)) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "HMAC incorrect");
        goto out;
    }
    char user_id[HS_STORE_ID_MAX];
    hs_accounts_result r =
        hs_accounts_register(api->srv->store, api->srv->cfg.server_name, username, password, admin, hs_clock_wall_ms(), user_id);
    if (r != HS_ACCOUNTS_OK) {
        register_failed(resp, r, username);
        goto out;
    }
    hs_info("accounts", "registered %s%s with the shared secret", user_id, admin ? " (admin)" : "");
    login_and_answer(api, req, resp, user_id, NULL, NULL);
out:
    json_decref(body);
}

/* ---- login and logout ------------------------------------------------------------------------- */

static void login_get(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    hs_response_json(resp, 200, json_pack("{s:[{s:s}]}", "flows", "type", "m.login.password"));
}

static void login_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    if (!rate_ok(api->login_rl, req, resp)) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    const char *type, *password, *device_id, *display_name;
    char user_id[HS_STORE_ID_MAX];
    if (req_string(body, "type", 128, &type, resp) != 0) goto out;
    if (strcmp(type, "m.login.password") != 0) {
        hs_response_error(resp, 400, "M_UNKNOWN", "login type '%s' is not supported", type);
        goto out;
    }
    if (identifier_user(api, body, user_id, resp) != 0 ||
        req_string(body, "password", HS_ACCOUNTS_PASSWORD_MAX * 2, &password, resp) != 0 ||
        opt_string(body, "device_id", HS_STORE_ID_MAX - 1, &device_id, resp) != 0 ||
        opt_string(body, "initial_device_display_name", DISPLAY_NAME_MAX, &display_name, resp) != 0)
        goto out;
    if (device_id && !device_id[0]) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'device_id' must not be empty");
        goto out;
    }
    hs_accounts_result r = hs_accounts_check_password(api->srv->store, user_id, password);
    if (r == HS_ACCOUNTS_DEACTIVATED) {
        hs_response_error(resp, 403, "M_USER_DEACTIVATED", "This account has been deactivated");
    } else if (r == HS_ACCOUNTS_ERROR) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
    } else if (r != HS_ACCOUNTS_OK) {
        /* One answer for unknown user and wrong password: no account enumeration. */
        hs_response_error(resp, 403, "M_FORBIDDEN", "Invalid username or password");
    } else {
        login_and_answer(api, req, resp, user_id, device_id, display_name);
    }
out:
    json_decref(body);
}

static void logout_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    /* The spec deletes the device together with its token. */
    if (hs_store_device_delete(api->srv->store, who.user_id, who.device_id) < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        return;
    }
    hs_api_keys_devices_deleted(api->srv, who.user_id);
    hs_response_json(resp, 200, json_object());
}

static void logout_all_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    if (hs_store_devices_delete_others(api->srv->store, who.user_id, NULL) < 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        return;
    }
    hs_api_keys_devices_deleted(api->srv, who.user_id);
    hs_response_json(resp, 200, json_object());
}

/* ---- account management ------------------------------------------------------------------------- */

static void whoami_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    hs_response_json(resp, 200, json_pack("{s:s, s:s, s:b}", "user_id", who.user_id, "device_id", who.device_id,
                                          "is_guest", 0));
}

static void password_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    const char *new_password;
    bool logout_devices;
    if (req_string(body, "new_password", HS_ACCOUNTS_PASSWORD_MAX * 2, &new_password, resp) != 0 ||
        opt_bool(body, "logout_devices", true, &logout_devices, resp) != 0)
        goto out;
    if (strlen(new_password) > HS_ACCOUNTS_PASSWORD_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "password is longer than %d bytes", HS_ACCOUNTS_PASSWORD_MAX);
        goto out;
    }
    if (!uia_complete(api, req, body, "m.login.password", who.user_id, resp)) goto out;
    hs_accounts_result r = hs_accounts_set_password(api->srv->store, who.user_id, new_password, logout_devices,
                                                    who.device_id);
    if (r != HS_ACCOUNTS_OK) hs_response_error(resp, 500, "M_UNKNOWN", "could not change the password");
    else hs_response_json(resp, 200, json_object());
    if (r == HS_ACCOUNTS_OK && logout_devices) hs_api_keys_devices_deleted(api->srv, who.user_id);
out:
    json_decref(body);
}

static void deactivate_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    if (uia_complete(api, req, body, "m.login.password", who.user_id, resp)) {
        if (hs_store_user_deactivate(api->srv->store, who.user_id) != 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "could not deactivate the account");
        } else {
            hs_info("accounts", "deactivated %s", who.user_id);
            hs_api_keys_devices_deleted(api->srv, who.user_id);
            /* No identity server bindings are ever made, so none are removed. */
            hs_response_json(resp, 200, json_pack("{s:s}", "id_server_unbind_result", "no-support"));
        }
    }
    json_decref(body);
}

/* ---- devices --------------------------------------------------------------------------------------- */

static json_t *device_json(const hs_store_device *d)
{
    json_t *o = json_pack("{s:s}", "device_id", d->device_id);
    if (d->has_display_name) json_object_set_new(o, "display_name", json_string(d->display_name));
    if (d->last_seen_ip[0]) json_object_set_new(o, "last_seen_ip", json_string(d->last_seen_ip));
    if (d->last_seen_ts) json_object_set_new(o, "last_seen_ts", json_integer(d->last_seen_ts));
    return o;
}

static void devices_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    hs_store_device *list;
    size_t n;
    if (hs_store_device_list(api->srv->store, who.user_id, &list, &n) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, device_json(&list[i]));
    free(list);
    hs_response_json(resp, 200, json_pack("{s:o}", "devices", arr));
}

static void device_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    hs_store_device d;
    int rc = hs_store_device_get(api->srv->store, who.user_id, hs_request_param(req, "deviceId"), &d);
    if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "database error");
    else if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "No such device");
    else hs_response_json(resp, 200, device_json(&d));
}

static void device_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    const char *name;
    if (opt_string(body, "display_name", DISPLAY_NAME_MAX, &name, resp) == 0) {
        const char *device_id = hs_request_param(req, "deviceId");
        hs_store_device d;
        int rc = hs_store_device_get(api->srv->store, who.user_id, device_id, &d);
        /* Only a present display_name changes the name; an absent one leaves it. */
        if (rc == 0 && json_object_get(body, "display_name"))
            rc = hs_store_device_set_name(api->srv->store, who.user_id, device_id, name);
        if (rc < 0) hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        else if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "No such device");
        else hs_response_json(resp, 200, json_object());
    }
    json_decref(body);
}

/* DELETE with a body: clients send the auth dict there; an empty body is allowed for
 * the first round trip. */
static json_t *body_or_empty(const hs_request *req, hs_response *resp)
{
    if (req->body_len == 0) return json_object();
    return body_object(req, resp);
}

static void device_delete(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = body_or_empty(req, resp);
    if (!body) return;
    if (uia_complete(api, req, body, "m.login.password", who.user_id, resp)) {
        /* Deleting a device that is already gone succeeds, as in Synapse: the client's
         * goal is reached. */
        if (hs_store_device_delete(api->srv->store, who.user_id, hs_request_param(req, "deviceId")) < 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        } else {
            hs_api_keys_devices_deleted(api->srv, who.user_id);
            hs_response_json(resp, 200, json_object());
        }
    }
    json_decref(body);
}

static void delete_devices_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_api_accounts *api = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(api->srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = body_object(req, resp);
    if (!body) return;
    json_t *devices = json_object_get(body, "devices");
    if (!json_is_array(devices) || json_array_size(devices) > DELETE_DEVICES_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'devices' must be a list of at most %d device IDs",
                          DELETE_DEVICES_MAX);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(devices, i, v) {
        if (!json_is_string(v)) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "'devices' must contain only strings");
            goto out;
        }
    }
    if (!uia_complete(api, req, body, "m.login.password", who.user_id, resp)) goto out;
    json_array_foreach(devices, i, v) {
        if (hs_store_device_delete(api->srv->store, who.user_id, json_string_value(v)) < 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "database error");
            goto out;
        }
    }
    hs_api_keys_devices_deleted(api->srv, who.user_id);
    hs_response_json(resp, 200, json_object());
out:
    json_decref(body);
}

/* ---- UIA for other modules' endpoints -------------------------------------------------------------- */

bool hs_api_accounts_uia_password(hs_server *srv, const hs_request *req, const json_t *body, const char *user_id,
                                  hs_response *resp)
{
    return uia_complete(srv->accounts, req, body, "m.login.password", user_id, resp);
}

/* ---- registration of the routes ------------------------------------------------------------------ */

void hs_api_accounts_free(hs_api_accounts *api)
{
    if (!api) return;
    hs_ratelimit_free(api->login_rl);
    hs_ratelimit_free(api->register_rl);
    hs_nonces_free(api->uia);
    hs_nonces_free(api->admin_nonces);
    free(api);
}

int hs_api_accounts_register(hs_server *srv)
{
    const hs_config *cfg = &srv->cfg;
    hs_api_accounts *api = calloc(1, sizeof *api);
    if (!api) return -1;
    srv->accounts = api;
    api->srv = srv;
    api->uia = hs_nonces_new(UIA_SESSIONS_MAX, UIA_SESSION_TTL_MS);
    api->admin_nonces = hs_nonces_new(ADMIN_NONCES_MAX, ADMIN_NONCE_TTL_MS);
    if (!api->uia || !api->admin_nonces) return -1;
    if (cfg->rate_limits_enabled) {
        api->login_rl = hs_ratelimit_new(cfg->login_per_second, cfg->login_burst, (size_t)cfg->rate_limit_max_keys);
        api->register_rl =
            hs_ratelimit_new(cfg->register_per_second, cfg->register_burst, (size_t)cfg->rate_limit_max_keys);
        if (!api->login_rl || !api->register_rl) return -1;
    }
    static const hs_client_route routes[] = {
        {"GET", "/register/available", register_available_get},
        {"POST", "/register", register_post},
        {"GET", "/login", login_get},
        {"POST", "/login", login_post},
        {"POST", "/logout", logout_post},
        {"POST", "/logout/all", logout_all_post},
        {"GET", "/account/whoami", whoami_get},
        {"POST", "/account/password", password_post},
        {"POST", "/account/deactivate", deactivate_post},
        {"GET", "/devices", devices_get},
        {"GET", "/devices/{deviceId}", device_get},
        {"PUT", "/devices/{deviceId}", device_put},
        {"DELETE", "/devices/{deviceId}", device_delete},
        {"POST", "/delete_devices", delete_devices_post},
    };
    int rc = hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], api);
    rc |= hs_router_add(srv->client_router, "GET", "/_synapse/admin/v1/register", admin_register_get, api);
    rc |= hs_router_add(srv->client_router, "POST", "/_synapse/admin/v1/register", admin_register_post, api);
    return rc ? -1 : 0;
}
