/* hs_accounts: local user accounts - the user ID grammar for new accounts, password
 * hashing (libsodium argon2id, interactive limits), device IDs, and access tokens.
 *
 * Access tokens are 32 random bytes, base64url without padding (43 characters). Only
 * their SHA-256 is stored, so a copy of the database does not let anyone act as a
 * user. Time comes in as `now_ms`; this module reads no clock.
 *
 * It does not do HTTP (hs_api_accounts), rate limiting (hs_ratelimit) or
 * user-interactive auth sessions (hs_nonces). */
#ifndef HS_ACCOUNTS_H
#define HS_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_store.h"
#include "server-core/hs_store_accounts.h"

#define HS_ACCOUNTS_TOKEN_MAX 64      /* token string buffer */
#define HS_ACCOUNTS_DEVICE_ID_LEN 10  /* generated device IDs */
#define HS_ACCOUNTS_PASSWORD_MAX 512  /* longer passwords are refused (hashing cost is bounded) */

typedef enum hs_accounts_result {
    HS_ACCOUNTS_OK = 0,
    HS_ACCOUNTS_ERROR,           /* database or randomness failure */
    HS_ACCOUNTS_INVALID_USERNAME,
    HS_ACCOUNTS_USER_IN_USE,
    HS_ACCOUNTS_PASSWORD_TOO_LONG,
    HS_ACCOUNTS_NO_SUCH_USER,
    HS_ACCOUNTS_WRONG_PASSWORD,  /* also: the user has no password */
    HS_ACCOUNTS_DEACTIVATED,
    HS_ACCOUNTS_TOO_MANY_DEVICES, /* a new device past the user's limit */
} hs_accounts_result;

/* A new login: the token is only ever visible here, at creation. */
typedef struct hs_accounts_session {
    char user_id[HS_STORE_ID_MAX];
    char device_id[HS_STORE_ID_MAX];
    char access_token[HS_ACCOUNTS_TOKEN_MAX];
} hs_accounts_session;

/* True when `localpart` may name a new account on `server_name`: 1+ characters from
 * a-z 0-9 . _ = - / + (spec v1.12 user ID grammar) and "@localpart:server_name" at
 * most 255 bytes. */
bool hs_accounts_localpart_valid(const char *localpart, const char *server_name);

/* Writes "@localpart:server_name" into out (capacity HS_STORE_ID_MAX). Returns 0, or
 * -1 when it does not fit. */
int hs_accounts_user_id(const char *localpart, const char *server_name, char *out);

/* Hashes a password with argon2id (interactive limits) into out (HS_STORE_HASH_MAX).
 * Returns 0, or -1 (out of memory). */
int hs_accounts_hash_password(const char *password, char *out);

/* True when `password` matches the encoded hash. An empty hash never matches. */
bool hs_accounts_verify_password(const char *hash, const char *password);

/* SHA-256 of an access token string, the form the store keeps. */
void hs_accounts_token_hash(const char *token, uint8_t out[HS_STORE_TOKEN_HASH_BYTES]);

/* Creates the account @localpart:server_name with `password` (NULL: no password
 * login). Writes the user ID into user_id_out (HS_STORE_ID_MAX) when non-NULL.
 * Returns OK, INVALID_USERNAME, USER_IN_USE (also for deactivated IDs),
 * PASSWORD_TOO_LONG or ERROR. */
hs_accounts_result hs_accounts_register(hs_store *st, const char *server_name, const char *localpart,
                                        const char *password, bool admin, int64_t now_ms, char *user_id_out);

/* Checks `password` for user_id. Returns OK, NO_SUCH_USER, DEACTIVATED,
 * WRONG_PASSWORD, PASSWORD_TOO_LONG or ERROR. */
hs_accounts_result hs_accounts_check_password(hs_store *st, const char *user_id, const char *password);

/* Starts a session for an existing user: claims `device_id` (NULL: a new random
 * one; an existing device of the user is taken over and its old tokens revoked),
 * names a new device `display_name` (may be NULL) and issues a token. Returns OK or
 * ERROR. */
hs_accounts_result hs_accounts_login(hs_store *st, const char *user_id, const char *device_id,
                                     const char *display_name, const char *ip, int64_t now_ms,
                                     hs_accounts_session *out);

/* hs_accounts_login, except that a new device is only created while the user has
 * fewer than max_devices (<= 0: no limit), checked and created in one statement
 * (hs_store_device_claim_capped); an existing device may always log in again.
 * Returns OK, TOO_MANY_DEVICES (nothing written) or ERROR. */
hs_accounts_result hs_accounts_login_capped(hs_store *st, const char *user_id, const char *device_id,
                                            const char *display_name, const char *ip, int64_t now_ms,
                                            int max_devices, hs_accounts_session *out);

/* Sets a new password; when logout_others, deletes every device of the user except
 * `keep_device` (may be NULL: all). Returns OK, NO_SUCH_USER, PASSWORD_TOO_LONG or
 * ERROR. */
hs_accounts_result hs_accounts_set_password(hs_store *st, const char *user_id, const char *new_password,
                                            bool logout_others, const char *keep_device);

#endif
