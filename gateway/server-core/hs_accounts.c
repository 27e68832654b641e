/* hs_accounts: account rules over hs_store_accounts. Password hashing uses libsodium's
 * crypto_pwhash_str (argon2id13, OPSLIMIT/MEMLIMIT_INTERACTIVE: 2 passes over 64 MiB),
 * whose encoded string carries its own parameters, so limits can be raised later and
 * old hashes still verify. */
#include "server-core/hs_accounts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_store_directory.h"

bool hs_accounts_localpart_valid(const char *localpart, const char *server_name)
{
    if (!localpart || !localpart[0]) return false;
    for (const char *p = localpart; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._=-/+", c))) return false;
    }
    /* "@" + localpart + ":" + server_name */
    return 1 + strlen(localpart) + 1 + strlen(server_name) <= 255;
}

int hs_accounts_user_id(const char *localpart, const char *server_name, char *out)
{
    int n = snprintf(out, HS_STORE_ID_MAX, "@%s:%s", localpart, server_name);
    return n > 0 && n < HS_STORE_ID_MAX ? 0 : -1;
}

int hs_accounts_hash_password(const char *password, char *out)
{
    _Static_assert(crypto_pwhash_STRBYTES <= HS_STORE_HASH_MAX, "hash buffer too small");
    if (sodium_init() < 0) return -1;
    return crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

bool hs_accounts_verify_password(const char *hash, const char *password)
{
    if (!hash || !hash[0] || sodium_init() < 0) return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void hs_accounts_token_hash(const char *token, uint8_t out[HS_STORE_TOKEN_HASH_BYTES])
{
    crypto_hash_sha256(out, (const unsigned char *)token, strlen(token));
}

hs_accounts_result hs_accounts_register(hs_store *st, const char *server_name, const char *localpart,
                                        const char *password, bool admin, int64_t now_ms, char *user_id_out)
{
    char user_id[HS_STORE_ID_MAX];
    if (!hs_accounts_localpart_valid(localpart, server_name) || hs_accounts_user_id(localpart, server_name, user_id))
        return HS_ACCOUNTS_INVALID_USERNAME;
    if (password && strlen(password) > HS_ACCOUNTS_PASSWORD_MAX) return HS_ACCOUNTS_PASSWORD_TOO_LONG;
    hs_store_user existing;
    int rc = hs_store_user_get(st, user_id, &existing);
    if (rc < 0) return HS_ACCOUNTS_ERROR;
    if (rc == 0) return HS_ACCOUNTS_USER_IN_USE; /* skip the expensive hash */
    char hash[HS_STORE_HASH_MAX];
    if (password && hs_accounts_hash_password(password, hash) != 0) return HS_ACCOUNTS_ERROR;
    rc = hs_store_user_insert(st, user_id, password ? hash : NULL, admin, now_ms);
    sodium_memzero(hash, sizeof hash);
    if (rc < 0) return HS_ACCOUNTS_ERROR;
    if (rc == 1) return HS_ACCOUNTS_USER_IN_USE; /* lost a race with a concurrent registration */
    /* Every new user starts with their localpart as display name, as on Synapse. A failure
     * here leaves a nameless but working account, so it does not fail the registration. */
    (void)hs_store_profile_init(st, user_id, localpart);
    if (user_id_out) memcpy(user_id_out, user_id, sizeof user_id);
    return HS_ACCOUNTS_OK;
}

hs_accounts_result hs_accounts_check_password(hs_store *st, const char *user_id, const char *password)
{
    if (strlen(password) > HS_ACCOUNTS_PASSWORD_MAX) return HS_ACCOUNTS_PASSWORD_TOO_LONG;
    hs_store_user u;
    int rc = hs_store_user_get(st, user_id, &u);
    if (rc < 0) return HS_ACCOUNTS_ERROR;
    if (rc == 1) return HS_ACCOUNTS_NO_SUCH_USER;
    if (u.deactivated) return HS_ACCOUNTS_DEACTIVATED;
    return hs_accounts_verify_password(u.password_hash, password) ? HS_ACCOUNTS_OK : HS_ACCOUNTS_WRONG_PASSWORD;
}

/* Ten capital letters, like Synapse's device IDs: easy to read out in a verification
 * dialog. 26^10 makes collisions within one user negligible, and a collision would
 * only take over the user's own device. */
static void new_device_id(char *out)
{
    for (int i = 0; i < HS_ACCOUNTS_DEVICE_ID_LEN; i++) out[i] = (char)('A' + randombytes_uniform(26));
    out[HS_ACCOUNTS_DEVICE_ID_LEN] = '\0';
}

hs_accounts_result hs_accounts_login(hs_store *st, const char *user_id, const char *device_id,
                                     const char *display_name, const char *ip, int64_t now_ms,
                                     hs_accounts_session *out)
{
    return hs_accounts_login_capped(st, user_id, device_id, display_name, ip, now_ms, 0, out);
}

hs_accounts_result hs_accounts_login_capped(hs_store *st, const char *user_id, const char *device_id,
                                            const char *display_name, const char *ip, int64_t now_ms,
                                            int max_devices, hs_accounts_session *out)
{
    if (sodium_init() < 0) return HS_ACCOUNTS_ERROR;
    memset(out, 0, sizeof *out);
    snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    if (device_id) snprintf(out->device_id, sizeof out->device_id, "%s", device_id);
    else new_device_id(out->device_id);
    int claimed = hs_store_device_claim_capped(st, user_id, out->device_id, display_name, ip, now_ms, max_devices);
    if (claimed < 0) return HS_ACCOUNTS_ERROR;
    if (claimed == 2) return HS_ACCOUNTS_TOO_MANY_DEVICES;
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    char *tok = hs_b64url_encode(raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    if (!tok) return HS_ACCOUNTS_ERROR;
    snprintf(out->access_token, sizeof out->access_token, "%s", tok);
    sodium_memzero(tok, strlen(tok));
    free(tok);
    uint8_t hash[HS_STORE_TOKEN_HASH_BYTES];
    hs_accounts_token_hash(out->access_token, hash);
    if (hs_store_token_insert(st, hash, user_id, out->device_id, now_ms) != 0) return HS_ACCOUNTS_ERROR;
    return HS_ACCOUNTS_OK;
}

hs_accounts_result hs_accounts_set_password(hs_store *st, const char *user_id, const char *new_password,
                                            bool logout_others, const char *keep_device)
{
    if (strlen(new_password) > HS_ACCOUNTS_PASSWORD_MAX) return HS_ACCOUNTS_PASSWORD_TOO_LONG;
    char hash[HS_STORE_HASH_MAX];
    if (hs_accounts_hash_password(new_password, hash) != 0) return HS_ACCOUNTS_ERROR;
    int rc = hs_store_user_set_password(st, user_id, hash);
    if (rc < 0) return HS_ACCOUNTS_ERROR;
    if (rc == 1) return HS_ACCOUNTS_NO_SUCH_USER;
    if (logout_others && hs_store_devices_delete_others(st, user_id, keep_device) < 0) return HS_ACCOUNTS_ERROR;
    return HS_ACCOUNTS_OK;
}
