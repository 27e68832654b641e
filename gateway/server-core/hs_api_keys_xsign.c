/* hs_api_keys_xsign: cross-signing (spec v1.12, "Cross-signing"):
 * POST /keys/device_signing/upload and POST /keys/signatures/upload.
 *
 * Key upload: the self-signing and user-signing keys must be signed by the master key
 * (the one in the same request, else the stored one). User-interactive auth
 * (m.login.password, shared with account/deactivate) is required unless the user has
 * no master key yet or the request repeats exactly the stored keys - the spec's two
 * exceptions, which let a client bootstrap and retry without a password prompt.
 *
 * Signature upload: each signed object must be the stored key (same content apart
 * from signatures), and each new signature in it must come from a key allowed to make
 * it and verify:
 *   - one's own device        <- one's own self-signing key
 *   - one's own master key    <- one's own devices
 *   - one's own self-/user-signing key <- one's own master key
 *   - another user's master key <- one's own user-signing key
 * Anything else ends up in `failures` under the user and key ID, and nothing of that
 * object is stored. Another user may be of another server (verifying someone there):
 * the signed object must then be that user's current master key - cached, else asked
 * of their server (hs_fed_e2ee_remote_master_key) - and the signature is stored here
 * only: keys/query shows it to the signer alone, merged into the master key whether or
 * not that server answers, and nothing goes over federation (only the signer may see
 * it; Synapse sends nothing either). A signature on another user's key tells local
 * clients that user changed (a local_only device list row), so the signer's other
 * devices fetch it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_accounts.h"
#include "server-core/hs_api_keys_internal.h"
#include "server-core/hs_e2ee.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_log.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_clock.h"

#define SIGNATURE_OBJECTS_MAX 1000
/* Master keys of other servers' users one request may have to fetch (those not
 * cached), all within REMOTE_FETCH_TIMEOUT_MS (the keys/query default): a client
 * verifies one user at a time, and a request naming hundreds must not hold a worker
 * for hundreds of waits. */
#define REMOTE_FETCHES_MAX 8
#define REMOTE_FETCH_TIMEOUT_MS 10000

/* A stored cross-signing key. */
typedef struct xkey {
    json_t *json;  /* NULL when the user has none */
    uint8_t pub[32];
    char b64[HS_E2EE_KEY_ID_MAX];
} xkey;

/* Loads (user_id, type) into *k. Returns 0 (k->json NULL when absent) or -1. */
static int load_xkey(hs_server *srv, const char *user_id, const char *type, xkey *k)
{
    memset(k, 0, sizeof *k);
    char *text;
    int rc = hs_store_e2ee_xsign_get(srv->store, user_id, type, &text);
    if (rc != 0) return rc < 0 ? -1 : 0;
    k->json = json_loads(text, 0, NULL);
    free(text);
    hs_err err;
    if (k->json && hs_e2ee_check_cross_key(k->json, user_id, type, k->pub, k->b64, &err) != 0) {
        json_decref(k->json);
        k->json = NULL;
    }
    return 0;
}

/* ---- keys/device_signing/upload --------------------------------------------------------- */

static const char *const XTYPES[3] = {"master", "self_signing", "user_signing"};
static const char *const XFIELDS[3] = {"master_key", "self_signing_key", "user_signing_key"};

void hs_keys_device_signing_upload(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = hs_keys_body(req, resp);
    if (!body) return;
    xkey stored[3] = {{0}};
    char *texts[3] = {0};
    const char *types[3], *jsons[3];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (load_xkey(srv, who.user_id, XTYPES[i], &stored[i]) != 0) {
            hs_response_error(resp, 500, "M_UNKNOWN", "database error");
            goto out;
        }
    }
    /* The master key the others must be signed by: the new one, else the stored one. */
    xkey master = stored[0];
    json_t *given[3];
    for (int i = 0; i < 3; i++) {
        given[i] = json_object_get(body, XFIELDS[i]);
        if (given[i] && json_is_null(given[i])) given[i] = NULL;
    }
    if (!given[0] && !given[1] && !given[2]) {
        hs_response_error(resp, 400, "M_MISSING_PARAM", "no cross-signing key in the request");
        goto out;
    }
    bool all_same = stored[0].json != NULL;
    for (int i = 0; i < 3; i++) {
        if (!given[i]) continue;
        uint8_t pub[32];
        char b64[HS_E2EE_KEY_ID_MAX];
        hs_err err;
        if (hs_e2ee_check_cross_key(given[i], who.user_id, XTYPES[i], pub, b64, &err) != 0) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "%s", err.msg);
            goto out;
        }
        if (i == 0) {
            master.json = given[0];
            memcpy(master.pub, pub, 32);
            memcpy(master.b64, b64, sizeof b64);
        } else if (!master.json) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "a %s key needs a master key to be signed by", XTYPES[i]);
            goto out;
        } else if (hs_e2ee_verify(given[i], who.user_id, master.b64, master.pub, &err) != 0) {
            hs_response_error(resp, 400, "M_INVALID_SIGNATURE", "the %s key: %s", XTYPES[i], err.msg);
            goto out;
        }
        hs_err why;
        size_t len;
        texts[n] = hs_cjson_encode(given[i], 0, &len, &why);
        if (!texts[n]) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "%s: %s", XFIELDS[i], why.msg);
            goto out;
        }
        if (len > HS_E2EE_KEY_JSON_MAX) {
            /* Stored as given and sent in every keys/query of this user. */
            hs_response_error(resp, 400, "M_INVALID_PARAM", "%s is longer than %d bytes", XFIELDS[i],
                              HS_E2EE_KEY_JSON_MAX);
            goto out;
        }
        char *old = stored[i].json ? hs_cjson_encode(stored[i].json, 0, NULL, NULL) : NULL;
        all_same = all_same && old && strcmp(old, texts[n]) == 0;
        free(old);
        types[n] = XTYPES[i];
        jsons[n] = texts[n];
        n++;
    }
    if (all_same) {
        hs_response_json(resp, 200, json_object());
        goto out;
    }
    if (stored[0].json && !hs_api_accounts_uia_password(srv, req, body, who.user_id, resp)) goto out;
    if (hs_store_e2ee_xsign_put(srv->store, who.user_id, types, jsons, n) != 0) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        goto out;
    }
    hs_info("keys", "cross-signing keys of %s uploaded (%zu)", who.user_id, n);
    hs_notifier_wake(srv->notifier);
    hs_response_json(resp, 200, json_object());
out:
    for (int i = 0; i < 3; i++) {
        json_decref(stored[i].json);
        free(texts[i]);
    }
    json_decref(body);
}

/* ---- keys/signatures/upload -------------------------------------------------------------- */

static void fail(json_t *failures, const char *user_id, const char *key_id, const char *errcode, const char *msg)
{
    json_t *mine = json_object_get(failures, user_id);
    if (!mine) {
        mine = json_object();
        json_object_set_new(failures, user_id, mine);
    }
    json_object_set_new(mine, key_id, json_pack("{s:s, s:s}", "errcode", errcode, "error", msg));
}

/* A key that may sign the target: its user, "ed25519:<b64>" ID and public key. */
typedef struct signer {
    char b64[HS_E2EE_KEY_ID_MAX];
    uint8_t pub[32];
} signer;

typedef struct sig_job {
    hs_server *srv;
    const char *me;
    json_t *failures;
    int db_failed;
    int stored;
    int remote_fetches;     /* master keys of other servers' users fetched so far */
    int64_t fetch_deadline; /* monotonic ms the fetches must end by; set by the first */
} sig_job;

/* Checks and stores the signatures by `me` on one signed object. `stored_obj` is the
 * key as the server has it; signers[0..n) are the keys of `me` allowed to sign it. */
static void take_signatures(sig_job *j, const char *target_user, const char *key_id, const json_t *obj,
                            const json_t *stored_obj, const signer *signers, size_t n, const char *notify_user)
{
    if (!hs_e2ee_same_signed_content(obj, stored_obj)) {
        fail(j->failures, target_user, key_id, "M_INVALID_PARAM", "the signed object is not the stored key");
        return;
    }
    json_t *mine = json_object_get(json_object_get(obj, "signatures"), j->me);
    const json_t *had = json_object_get(json_object_get(stored_obj, "signatures"), j->me);
    const char *sk;
    json_t *sig;
    size_t taken = 0;
    /* Verify every new signature before storing any, so a forged one rejects the object. */
    for (int pass = 0; pass < 2; pass++) {
        json_object_foreach(mine, sk, sig) {
            if (json_equal(json_object_get(had, sk), sig)) continue;  /* already part of the key */
            const signer *by = NULL;
            for (size_t i = 0; i < n && !by; i++)
                if (strncmp(sk, "ed25519:", 8) == 0 && strcmp(sk + 8, signers[i].b64) == 0) by = &signers[i];
            if (pass == 0) {
                hs_err err;
                if (!by) {
                    fail(j->failures, target_user, key_id, "M_INVALID_SIGNATURE",
                         "signed by a key that may not sign it");
                    return;
                }
                if (hs_e2ee_verify(obj, j->me, by->b64, by->pub, &err) != 0) {
                    fail(j->failures, target_user, key_id, "M_INVALID_SIGNATURE", err.msg);
                    return;
                }
            } else if (hs_store_e2ee_signature_put(j->srv->store, target_user, key_id, j->me, sk,
                                                   json_string_value(sig), notify_user) != 0) {
                j->db_failed = 1;
                return;
            } else {
                taken++;
            }
        }
    }
    if (taken) j->stored = 1;
}

/* Collects the ed25519 keys of my devices (for signatures on my master key). */
struct devices_ctx {
    signer *v;
    size_t n, cap;
};

static int collect_device(void *ctx, const char *device_id, const char *keys_json, const char *display_name)
{
    (void)display_name;
    struct devices_ctx *d = ctx;
    json_t *k = json_loads(keys_json, 0, NULL);
    if (k && strlen(device_id) < HS_E2EE_KEY_ID_MAX && d->n < d->cap) {
        signer *s = &d->v[d->n];
        if (hs_e2ee_device_ed25519(k, device_id, s->pub) == 0) {
            strcpy(s->b64, device_id);
            d->n++;
        }
    }
    json_decref(k);
    return 0;
}

/* The devices of `me` named by the signatures of `me` on obj, each looked up on its own:
 * one indexed read per signature however many devices the user has (reading every
 * device into a fixed array let only the first 256 by ID sign the master key). Returns
 * 0 with *out (malloc'd, the caller frees it) and *n, or -1 on a database error. */
static int signing_devices(sig_job *j, const json_t *obj, signer **out, size_t *n)
{
    const json_t *mine = json_object_get(json_object_get(obj, "signatures"), j->me);
    struct devices_ctx d = {calloc(json_object_size(mine) + 1, sizeof(signer)), 0, json_object_size(mine)};
    if (!d.v) return -1;
    const char *sk;
    const json_t *sig;
    json_object_foreach((json_t *)mine, sk, sig) {
        if (strncmp(sk, "ed25519:", 8) != 0) continue;
        if (hs_store_e2ee_device_keys_each(j->srv->store, j->me, sk + 8, collect_device, &d) < 0) {
            free(d.v);
            return -1;
        }
    }
    *out = d.v;
    *n = d.n;
    return 0;
}

static void sign_own(sig_job *j, const char *key_id, const json_t *obj, const xkey own[3])
{
    signer s[1];
    for (int t = 0; t < 3; t++) {
        if (!own[t].json || strcmp(key_id, own[t].b64) != 0) continue;
        if (t == 0) {
            signer *devs;
            size_t n;
            if (signing_devices(j, obj, &devs, &n) != 0) {
                j->db_failed = 1;
                return;
            }
            take_signatures(j, j->me, key_id, obj, own[0].json, devs, n, j->me);
            free(devs);
        } else {
            memcpy(s[0].b64, own[0].b64, sizeof s[0].b64);
            memcpy(s[0].pub, own[0].pub, 32);
            take_signatures(j, j->me, key_id, obj, own[t].json, s, 1, j->me);
        }
        return;
    }
    /* Otherwise a device ID. */
    char *text;
    int rc = hs_store_e2ee_device_keys_get(j->srv->store, j->me, key_id, &text);
    if (rc < 0) {
        j->db_failed = 1;
        return;
    }
    if (rc == 1) {
        fail(j->failures, j->me, key_id, "M_NOT_FOUND", "no such device or cross-signing key");
        return;
    }
    json_t *dev = json_loads(text, 0, NULL);
    free(text);
    if (!own[1].json) {
        fail(j->failures, j->me, key_id, "M_INVALID_SIGNATURE", "no self-signing key has been uploaded");
    } else if (dev) {
        memcpy(s[0].b64, own[1].b64, sizeof s[0].b64);
        memcpy(s[0].pub, own[1].pub, 32);
        take_signatures(j, j->me, key_id, obj, dev, s, 1, j->me);
    }
    json_decref(dev);
}

/* The master key of a user of another server when it is `key_id` (cached, else
 * fetched: at most REMOTE_FETCHES_MAX fetches a request, all within
 * REMOTE_FETCH_TIMEOUT_MS), into *k (k->json NULL with why when not found). */
static void load_remote_master(sig_job *j, const char *user_id, const char *key_id, xkey *k, char *why,
                               size_t why_len)
{
    memset(k, 0, sizeof *k);
    k->json = hs_fed_e2ee_remote_master_key(j->srv, user_id, key_id, 0, why, why_len);
    if (!k->json) {
        int64_t now = hs_clock_mono_ms();
        if (!j->remote_fetches) j->fetch_deadline = now + REMOTE_FETCH_TIMEOUT_MS;
        if (j->remote_fetches >= REMOTE_FETCHES_MAX) {
            snprintf(why, why_len, "at most %d master keys of other servers' users are fetched per request",
                     REMOTE_FETCHES_MAX);
            return;
        }
        if (now >= j->fetch_deadline) {
            snprintf(why, why_len, "no time left to fetch %s's master key (%d ms for all of them)", user_id,
                     REMOTE_FETCH_TIMEOUT_MS);
            return;
        }
        j->remote_fetches++;
        k->json =
            hs_fed_e2ee_remote_master_key(j->srv, user_id, key_id, (int)(j->fetch_deadline - now), why, why_len);
    }
    hs_err err;
    if (k->json && hs_e2ee_check_cross_key(k->json, user_id, "master", k->pub, k->b64, &err) != 0) {
        snprintf(why, why_len, "%s's master key: %s", user_id, err.msg);
        json_decref(k->json);
        k->json = NULL;
    }
}

static void sign_other(sig_job *j, const char *target_user, const char *key_id, const json_t *obj, const xkey *usk)
{
    xkey theirs;
    char why[600] = "not that user's master key";
    if (!usk->json) {
        /* Checked first: without it no other server need be asked for anything. */
        fail(j->failures, target_user, key_id, "M_INVALID_SIGNATURE", "no user-signing key has been uploaded");
        return;
    }
    if (!hs_keys_is_local(j->srv, target_user)) {
        load_remote_master(j, target_user, key_id, &theirs, why, sizeof why);
    } else if (load_xkey(j->srv, target_user, "master", &theirs) != 0) {
        j->db_failed = 1;
        return;
    }
    if (!theirs.json || strcmp(key_id, theirs.b64) != 0) {
        fail(j->failures, target_user, key_id, "M_NOT_FOUND", why);
    } else {
        signer s = {{0}, {0}};
        memcpy(s.b64, usk->b64, sizeof s.b64);
        memcpy(s.pub, usk->pub, 32);
        /* Local clients re-query the target (the signer's own devices among them);
         * the store keeps the row from other servers. */
        take_signatures(j, target_user, key_id, obj, theirs.json, &s, 1, target_user);
    }
    json_decref(theirs.json);
}

void hs_keys_signatures_upload(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    json_t *body = hs_keys_body(req, resp);
    if (!body) return;
    const char *user_id, *key_id;
    json_t *keys, *obj;
    size_t total = 0;
    bool ok = true;
    json_object_foreach(body, user_id, keys) {
        ok = ok && json_is_object(keys);
        json_object_foreach(keys, key_id, obj) ok = ok && json_is_object(obj);
        total += json_object_size(keys);
    }
    if (!ok || total > SIGNATURE_OBJECTS_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM",
                          "the body must map user IDs to {key ID: signed key}, at most %d keys", SIGNATURE_OBJECTS_MAX);
        json_decref(body);
        return;
    }
    xkey own[3];
    int loaded = 0;
    for (; loaded < 3; loaded++)
        if (load_xkey(srv, who.user_id, XTYPES[loaded], &own[loaded]) != 0) break;
    sig_job j = {srv, who.user_id, json_object(), loaded < 3, 0, 0, 0};
    json_object_foreach(body, user_id, keys) {
        if (j.db_failed) break;
        json_object_foreach(keys, key_id, obj) {
            if (j.db_failed) break;
            if (strcmp(user_id, who.user_id) == 0)
                sign_own(&j, key_id, obj, own);
            else
                sign_other(&j, user_id, key_id, obj, &own[2]);
        }
    }
    if (j.db_failed) {
        hs_response_error(resp, 500, "M_UNKNOWN", "database error");
        json_decref(j.failures);
    } else {
        if (j.stored) hs_notifier_wake(srv->notifier);
        hs_response_json(resp, 200, json_pack("{s:o}", "failures", j.failures));
    }
    for (int i = 0; i < loaded; i++) json_decref(own[i].json);
    json_decref(body);
}
