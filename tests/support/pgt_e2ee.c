/* pgt_e2ee: the client-made E2EE keys of pgt_e2ee.h, signed with hs_sign_json as a
 * client signs them (canonical JSON without signatures/unsigned). */
#include "support/pgt_e2ee.h"

#include <criterion/criterion.h>
#include <stdio.h>

#include "server-core/hs_signing.h"

hs_signing_key *pgt_e2ee_device_key(const pgt_mx_login *u, hs_signing_key *k)
{
    cr_assert_eq(hs_signing_key_generate(k), 0);
    snprintf(k->key_id, sizeof k->key_id, "ed25519:%s", u->device_id);
    return k;
}

json_t *pgt_e2ee_device_keys(const pgt_mx_login *u, const hs_signing_key *k, const char *curve)
{
    char pub[44], ed_id[160], cv_id[160];
    hs_signing_key_public_b64(k, pub);
    snprintf(ed_id, sizeof ed_id, "ed25519:%s", u->device_id);
    snprintf(cv_id, sizeof cv_id, "curve25519:%s", u->device_id);
    json_t *dk =
        json_pack("{s:s, s:s, s:[s, s], s:{s:s, s:s}}", "user_id", u->user_id, "device_id", u->device_id, "algorithms",
                  "m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2", "keys", ed_id, pub, cv_id, curve);
    hs_err e;
    cr_assert_eq(hs_sign_json(dk, u->user_id, k, &e), 0, "%s", e.msg);
    return dk;
}

json_t *pgt_e2ee_new_device_keys(const pgt_mx_login *u, hs_signing_key *k)
{
    return pgt_e2ee_device_keys(u, pgt_e2ee_device_key(u, k), "curve");
}

json_t *pgt_e2ee_cross_key(const char *user_id, const char *usage, hs_signing_key *k)
{
    cr_assert_eq(hs_signing_key_generate(k), 0);
    char pub[44], id[64];
    hs_signing_key_public_b64(k, pub);
    snprintf(id, sizeof id, "ed25519:%s", pub);
    snprintf(k->key_id, sizeof k->key_id, "%s", id);
    return json_pack("{s:s, s:[s], s:{s:s}}", "user_id", user_id, "usage", usage, "keys", id, pub);
}
