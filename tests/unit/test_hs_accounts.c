/* Account building blocks without HTTP: the user ID grammar for new accounts,
 * argon2id password hashes, the store's account/device/token rules, token buckets,
 * one-time nonces and HMAC-SHA1 (RFC 2202 vectors, what Synapse's admin API uses). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_accounts.h"
#include "server-core/hs_hmac_sha1.h"
#include "server-core/hs_nonces.h"
#include "server-core/hs_ratelimit.h"
#include "server-core/hs_store_accounts.h"
#include "support/pgt_hs.h"

Test(hs_accounts, localpart_grammar)
{
    const char *good[] = {"alice", "a", "bob.smith", "x_y=z-1/2+3", "0123456789"};
    const char *bad[] = {"", "Alice", "al ice", "al:ice", "al@ice", "ålice", "a#b", "a\tb"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(hs_accounts_localpart_valid(good[i], "example.org"), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(hs_accounts_localpart_valid(bad[i], "example.org"), "%s", bad[i]);
    /* "@" + localpart + ":" + server name may be 255 bytes, not 256. */
    char lp[300];
    size_t room = 255 - 2 - strlen("example.org");
    memset(lp, 'a', room);
    lp[room] = '\0';
    cr_assert(hs_accounts_localpart_valid(lp, "example.org"));
    lp[room] = 'a';
    lp[room + 1] = '\0';
    cr_assert_not(hs_accounts_localpart_valid(lp, "example.org"));
}

static double elapsed_ms(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

Test(hs_accounts, password_hash_is_argon2id_and_verifies, .timeout = 60)
{
    char h1[HS_STORE_HASH_MAX], h2[HS_STORE_HASH_MAX];
    struct timespec t0, t1, t2;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(hs_accounts_hash_password("correct horse", h1), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert(hs_accounts_verify_password(h1, "correct horse"));
    clock_gettime(CLOCK_MONOTONIC, &t2);
    cr_log_info("argon2id interactive: hash %.1f ms, verify %.1f ms", elapsed_ms(t0, t1), elapsed_ms(t1, t2));
    cr_assert(strncmp(h1, "$argon2id$", 10) == 0, "%s", h1);
    cr_assert_null(strstr(h1, "correct horse"));
    cr_assert_not(hs_accounts_verify_password(h1, "correct horsf"));
    cr_assert_not(hs_accounts_verify_password("", ""));
    /* Salted: the same password hashes differently each time. */
    cr_assert_eq(hs_accounts_hash_password("correct horse", h2), 0);
    cr_assert_str_neq(h1, h2);
}

static char *dir;
static hs_store *st;

static void open_store(void)
{
    st = pgt_store_open(&dir, "a.db");
}

static void close_store(void)
{
    pgt_store_close(st, dir);
}

Test(hs_accounts, register_login_token_lifecycle, .init = open_store, .fini = close_store, .timeout = 60)
{
    char uid[HS_STORE_ID_MAX];
    cr_assert_eq(hs_accounts_register(st, "example.org", "alice", "pw", false, 1000, uid), HS_ACCOUNTS_OK);
    cr_assert_str_eq(uid, "@alice:example.org");
    cr_assert_eq(hs_accounts_register(st, "example.org", "alice", "pw2", false, 1000, NULL), HS_ACCOUNTS_USER_IN_USE);
    cr_assert_eq(hs_accounts_register(st, "example.org", "Alice", "pw", false, 1000, NULL),
                 HS_ACCOUNTS_INVALID_USERNAME);
    cr_assert_eq(hs_accounts_check_password(st, uid, "pw"), HS_ACCOUNTS_OK);
    cr_assert_eq(hs_accounts_check_password(st, uid, "nope"), HS_ACCOUNTS_WRONG_PASSWORD);
    cr_assert_eq(hs_accounts_check_password(st, "@bob:example.org", "pw"), HS_ACCOUNTS_NO_SUCH_USER);

    hs_accounts_session a, b;
    cr_assert_eq(hs_accounts_login(st, uid, NULL, "phone", "127.0.0.1", 2000, &a), HS_ACCOUNTS_OK);
    cr_assert_eq(strlen(a.device_id), HS_ACCOUNTS_DEVICE_ID_LEN);
    cr_assert_eq(strlen(a.access_token), 43, "32 bytes base64url unpadded: %s", a.access_token);
    uint8_t h[HS_STORE_TOKEN_HASH_BYTES];
    char u[HS_STORE_ID_MAX], d[HS_STORE_ID_MAX];
    hs_accounts_token_hash(a.access_token, h);
    cr_assert_eq(hs_store_token_lookup(st, h, u, d), 0);
    cr_assert_str_eq(u, uid);
    cr_assert_str_eq(d, a.device_id);

    /* Logging in again on the same device ID replaces the device's old token. */
    cr_assert_eq(hs_accounts_login(st, uid, a.device_id, NULL, "127.0.0.1", 3000, &b), HS_ACCOUNTS_OK);
    cr_assert_str_eq(b.device_id, a.device_id);
    cr_assert_eq(hs_store_token_lookup(st, h, u, d), 1, "the replaced token still works");
    hs_store_device dev;
    cr_assert_eq(hs_store_device_get(st, uid, a.device_id, &dev), 0);
    cr_assert_str_eq(dev.display_name, "phone", "a takeover keeps the device's name");

    /* Deactivation: tokens stop resolving, the name stays taken. */
    hs_accounts_token_hash(b.access_token, h);
    cr_assert_eq(hs_store_token_lookup(st, h, u, d), 0);
    cr_assert_eq(hs_store_user_deactivate(st, uid), 0);
    cr_assert_eq(hs_store_token_lookup(st, h, u, d), 1);
    cr_assert_eq(hs_accounts_check_password(st, uid, "pw"), HS_ACCOUNTS_DEACTIVATED);
    cr_assert_eq(hs_accounts_register(st, "example.org", "alice", "pw", false, 4000, NULL), HS_ACCOUNTS_USER_IN_USE);
}

Test(hs_accounts, ratelimit_bucket_refills_and_reports_retry)
{
    hs_ratelimit *rl = hs_ratelimit_new(2.0, 3, 100); /* 3 at once, then one per 500 ms */
    cr_assert_not_null(rl);
    int64_t retry = 0;
    for (int i = 0; i < 3; i++) cr_assert(hs_ratelimit_take(rl, "1.2.3.4", 1000, &retry));
    cr_assert_not(hs_ratelimit_take(rl, "1.2.3.4", 1000, &retry));
    cr_assert_eq(retry, 500);
    cr_assert(hs_ratelimit_take(rl, "5.6.7.8", 1000, NULL), "keys are independent");
    cr_assert_not(hs_ratelimit_take(rl, "1.2.3.4", 1300, &retry));
    cr_assert_eq(retry, 200);
    cr_assert(hs_ratelimit_take(rl, "1.2.3.4", 1500, &retry));
    cr_assert_not(hs_ratelimit_take(rl, "1.2.3.4", 1500, &retry));
    hs_ratelimit_free(rl);
    cr_assert_null(hs_ratelimit_new(1, 0, 10));
}

Test(hs_accounts, ratelimit_table_is_bounded_and_keeps_limited_keys)
{
    hs_ratelimit *rl = hs_ratelimit_new(0.001, 1, 16);
    cr_assert(hs_ratelimit_take(rl, "victim", 0, NULL));
    cr_assert_not(hs_ratelimit_take(rl, "victim", 0, NULL));
    /* A flood of new keys: the table never grows past 16, and since every flooding
     * key is drained too, the fullest one is forgotten - never resetting "victim"
     * while it is emptier than the others. */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        hs_ratelimit_take(rl, key, 1, NULL);
        cr_assert_leq(hs_ratelimit_tracked(rl), 16);
    }
    hs_ratelimit_free(rl);

    /* With refilled (idle) keys present, those are forgotten first. */
    rl = hs_ratelimit_new(1000, 1, 4);
    cr_assert(hs_ratelimit_take(rl, "a", 0, NULL));
    cr_assert(hs_ratelimit_take(rl, "b", 0, NULL));
    cr_assert(hs_ratelimit_take(rl, "c", 0, NULL));
    cr_assert(hs_ratelimit_take(rl, "d", 0, NULL));
    cr_assert(hs_ratelimit_take(rl, "e", 10, NULL));
    cr_assert_eq(hs_ratelimit_tracked(rl), 1, "a-d had refilled and were dropped");
    hs_ratelimit_free(rl);
}

Test(hs_accounts, nonces_are_single_use_and_expire)
{
    hs_nonces *ns = hs_nonces_new(4, 1000);
    char a[HS_NONCE_MAX], b[HS_NONCE_MAX];
    cr_assert_eq(hs_nonces_issue(ns, 0, a), 0);
    cr_assert_eq(hs_nonces_issue(ns, 0, b), 0);
    cr_assert_str_neq(a, b);
    cr_assert(hs_nonces_valid(ns, a, 10));
    cr_assert(hs_nonces_consume(ns, a, 10));
    cr_assert_not(hs_nonces_consume(ns, a, 10), "reused");
    cr_assert_not(hs_nonces_valid(ns, b, 1000), "expired");
    cr_assert_not(hs_nonces_valid(ns, "made-up", 10));
    cr_assert_not(hs_nonces_valid(ns, "", 10));
    /* Bounded: the oldest live nonce makes room. */
    char c[5][HS_NONCE_MAX];
    for (int i = 0; i < 5; i++) hs_nonces_issue(ns, 2000 + i, c[i]);
    cr_assert_not(hs_nonces_valid(ns, c[0], 2010));
    cr_assert(hs_nonces_valid(ns, c[4], 2010));
    hs_nonces_free(ns);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

Test(hs_accounts, hmac_sha1_rfc2202_vectors)
{
    uint8_t mac[HS_SHA1_BYTES];
    char h[41];
    uint8_t k1[20];
    memset(k1, 0x0b, sizeof k1);
    hs_hmac_sha1(k1, 20, (const uint8_t *)"Hi There", 8, mac);
    hex(mac, 20, h);
    cr_assert_str_eq(h, "b617318655057264e28bc0b6fb378c8ef146be00");
    hs_hmac_sha1((const uint8_t *)"Jefe", 4, (const uint8_t *)"what do ya want for nothing?", 28, mac);
    hex(mac, 20, h);
    cr_assert_str_eq(h, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    uint8_t k3[20], d3[50];
    memset(k3, 0xaa, sizeof k3);
    memset(d3, 0xdd, sizeof d3);
    hs_hmac_sha1(k3, 20, d3, 50, mac);
    hex(mac, 20, h);
    cr_assert_str_eq(h, "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
    uint8_t k6[80];
    memset(k6, 0xaa, sizeof k6);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    hs_hmac_sha1(k6, 80, (const uint8_t *)m6, strlen(m6), mac);
    hex(mac, 20, h);
    cr_assert_str_eq(h, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}
