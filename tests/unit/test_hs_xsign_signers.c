/* keys/signatures/upload: which of one's own devices may sign one's master key. Every
 * device the user has may, however many there are: the check looks up the devices the
 * signatures name instead of reading a fixed number of devices (before, only the first
 * 256 by device ID could sign). A signature by a device the user does not have is
 * refused. Devices are written straight into the store (300 password logins would take
 * most of the test's time); the signatures go through the HTTP API. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_e2ee.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define DEVICES 300

static pgt_hs hs;

static void start(void)
{
    pgt_hs_start(&hs, "xsign.test", NULL);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_xsign_signers, .init = start, .fini = stop, .timeout = 60);

static json_t *call(const pgt_mx_login *u, const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *r = pgt_mx_expect(hs.base, "POST", path, u->token, text, 200);
    free(text);
    return r;
}

static void new_key(hs_signing_key *k, const char *id)
{
    char pub[44];
    cr_assert_eq(hs_signing_key_generate(k), 0);
    hs_signing_key_public_b64(k, pub);
    snprintf(k->key_id, sizeof k->key_id, "ed25519:%s", id ? id : pub);
}

static json_t *cross_key(const char *user, const char *usage, const hs_signing_key *k, const hs_signing_key *by)
{
    char pub[44];
    hs_signing_key_public_b64(k, pub);
    json_t *ck = json_pack("{s:s, s:[s], s:{s:s}}", "user_id", user, "usage", usage, "keys", k->key_id, pub);
    hs_err e;
    if (by) cr_assert_eq(hs_sign_json(ck, user, by, &e), 0, "%s", e.msg);
    return ck;
}

/* A device of `user` with self-signed keys made by `k`, written into the store. */
static void add_device(const char *user, const char *device_id, const hs_signing_key *k)
{
    char pub[44], ed_id[64], cv_id[64];
    hs_signing_key_public_b64(k, pub);
    snprintf(ed_id, sizeof ed_id, "ed25519:%s", device_id);
    snprintf(cv_id, sizeof cv_id, "curve25519:%s", device_id);
    json_t *dk = json_pack("{s:s, s:s, s:[s], s:{s:s, s:s}}", "user_id", user, "device_id", device_id, "algorithms",
                           "m.olm.v1.curve25519-aes-sha2", "keys", ed_id, pub, cv_id, "Y3VydmU");
    hs_signing_key self = *k;
    snprintf(self.key_id, sizeof self.key_id, "%s", ed_id);
    hs_err e;
    cr_assert_eq(hs_sign_json(dk, user, &self, &e), 0, "%s", e.msg);
    char *text = json_dumps(dk, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(dk);
    size_t conflict = 0;
    bool changed = false;
    cr_assert_eq(hs_store_device_claim(hs.srv.store, user, device_id, NULL, "127.0.0.1", 1), 0);
    cr_assert_eq(hs_store_e2ee_upload(hs.srv.store, user, device_id, text, NULL, 0, NULL, 0, &conflict, &changed), 0);
    free(text);
}

/* The master key `m` of `user` signed by the device key `dev` named `device_id`, uploaded;
 * returns the failures object's entry for the master key (NULL when it was taken). */
static json_t *sign_master(const pgt_mx_login *u, const hs_signing_key *m, const hs_signing_key *dev,
                           const char *device_id)
{
    json_t *obj = cross_key(u->user_id, "master", m, NULL);
    hs_signing_key as_device = *dev;
    snprintf(as_device.key_id, sizeof as_device.key_id, "ed25519:%s", device_id);
    hs_err e;
    cr_assert_eq(hs_sign_json(obj, u->user_id, &as_device, &e), 0, "%s", e.msg);
    json_t *r = call(u, "/_matrix/client/v3/keys/signatures/upload", json_pack("{s:{s:o}}", u->user_id, m->key_id + 8, obj));
    json_t *f = json_object_get(json_object_get(json_object_get(r, "failures"), u->user_id), m->key_id + 8);
    json_incref(f);
    json_decref(r);
    return f;
}

Test(hs_xsign_signers, any_of_many_devices_may_sign_the_master_key)
{
    pgt_mx_login a = pgt_mx_must_register(hs.base, "alice", "correct horse battery");
    hs_signing_key master, ssk, usk;
    new_key(&master, NULL);
    new_key(&ssk, NULL);
    new_key(&usk, NULL);
    json_decref(call(&a, "/_matrix/client/v3/keys/device_signing/upload",
                     json_pack("{s:o, s:o, s:o}", "master_key", cross_key(a.user_id, "master", &master, NULL),
                               "self_signing_key", cross_key(a.user_id, "self_signing", &ssk, &master),
                               "user_signing_key", cross_key(a.user_id, "user_signing", &usk, &master))));

    hs_signing_key dev;
    new_key(&dev, NULL);
    char last[16];
    for (int i = 0; i < DEVICES; i++) {
        snprintf(last, sizeof last, "D%03d", i);
        add_device(a.user_id, last, &dev);
    }

    /* A device that does not exist may not sign, even with a valid signature. */
    json_t *f = sign_master(&a, &master, &dev, "NOSUCHDEVICE");
    cr_assert(json_is_object(f), "a signature by a device the user does not have was taken");
    cr_assert_str_eq(json_string_value(json_object_get(f, "errcode")), "M_INVALID_SIGNATURE");
    json_decref(f);

    /* The last device by ID, far past the first 256, may. */
    f = sign_master(&a, &master, &dev, last);
    cr_assert_null(f, "device %s of %d was refused: %s", last, DEVICES,
                   json_string_value(json_object_get(f, "error")));

    /* The signature is part of the master key others see. */
    json_t *q = call(&a, "/_matrix/client/v3/keys/query", json_pack("{s:{s:[]}}", "device_keys", a.user_id));
    json_t *sigs = json_object_get(
        json_object_get(json_object_get(json_object_get(q, "master_keys"), a.user_id), "signatures"), a.user_id);
    char want[32];
    snprintf(want, sizeof want, "ed25519:%s", last);
    cr_assert(json_is_string(json_object_get(sigs, want)), "the master key lacks the signature by %s", last);
    json_decref(q);
}
