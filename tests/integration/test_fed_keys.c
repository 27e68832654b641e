/* Two real pinegate processes federating over loopback HTTPS (localhost:PORT_A and
 * localhost:PORT_B, --dev configs, self-signed certificates): A fetches B's keys through
 * discovery and they validate; a profile query signed by A (pinegate fed-get, and a
 * request signed here with A's key file) is answered by B, which authenticates it by
 * fetching A's key over HTTPS; unsigned, forged (wrong key), tampered (other URI) and
 * misaddressed (other destination) requests get 401 M_UNAUTHORIZED; B as a notary
 * serves A's keys co-signed; and with the default deny-list A refuses to dial loopback. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_xmatrix.h"
#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_keys, 180);

/* Runs `pinegate fed-get --config <from> [extra] <server> <path>`; returns the exit
 * status and the output (caller frees). */
static int fed_get(const node *from, const char *extra, const char *server, const char *path, char **out)
{
    char *argv[8];
    int i = 0;
    argv[i++] = (char *)pgt_pinegate();
    argv[i++] = "fed-get";
    argv[i++] = "--config";
    argv[i++] = (char *)from->cfg;
    if (extra) argv[i++] = (char *)extra;
    argv[i++] = (char *)server;
    argv[i++] = (char *)path;
    argv[i] = NULL;
    return pgt_run(argv, out);
}

/* The JSON body after the "HTTP <status>" line of fed-get's output. */
static json_t *body_of(const char *out, long *status)
{
    const char *h = strstr(out, "HTTP ");
    cr_assert_not_null(h, "no HTTP status in:\n%s", out);
    *status = strtol(h + 5, NULL, 10);
    json_t *j = json_loads(strchr(h, '\n') + 1, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(j, "no JSON body in:\n%s", out);
    return j;
}

static hs_signing_key node_key(const node *n)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "%s/signing.key", n->dir);
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_load(path, &k, err, sizeof err), 0, "%s", err);
    return k;
}

/* Sends GET `uri` to B with an Authorization header signed by `key` as `origin` for
 * (`signed_uri`, `destination`). */
static long signed_get(const hs_signing_key *key, const char *origin, const char *uri, const char *signed_uri,
                       const char *destination, json_t **body)
{
    char auth[HS_XMATRIX_MAX_HEADER], line[HS_XMATRIX_MAX_HEADER + 32], url[1024];
    hs_err err;
    cr_assert_eq(hs_xmatrix_sign("GET", signed_uri, origin, destination, NULL, key, auth, sizeof auth, &err), 0, "%s",
                 err.msg);
    snprintf(line, sizeof line, "Authorization: %s", auth);
    const char *headers[] = {line, NULL};
    snprintf(url, sizeof url, "https://localhost:%d%s", B.fport, uri);
    pgt_req opt = {.headers = headers};
    pgt_http r = pgt_http_do(url, &opt);
    *body = json_loads(r.body ? r.body : "", 0, NULL);
    long status = r.status;
    pgt_http_free(&r);
    return status;
}

Test(fed_keys, keys_discovery_and_authenticated_profile_query)
{
    /* A fetches B's keys by B's server name; they validate for B. */
    char *out = NULL;
    cr_assert_eq(fed_get(&A, NULL, B.name, "/_matrix/key/v2/server", &out), 0, "%s", out);
    long status;
    json_t *keys = body_of(out, &status);
    free(out);
    cr_assert_eq(status, 200);
    hs_keys_doc b_keys;
    hs_err err;
    cr_assert_eq(hs_keys_validate(keys, B.name, 1, &b_keys, &err), 0, "%s", err.msg);
    hs_signing_key bk = node_key(&B);
    cr_expect_not_null(hs_keys_find(&b_keys, bk.key_id));
    json_decref(keys);

    /* A user on B with a display name. */
    char base[128];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", B.cport);
    pgt_mx_login bob;
    cr_assert_eq(pgt_mx_register(base, "bob", "correct horse battery", &bob), 0);
    char path[512];
    snprintf(path, sizeof path, "/_matrix/client/v3/profile/%%40bob%%3Alocalhost%%3A%d/displayname", B.fport);
    json_t *r = pgt_mx_call(base, "PUT", path, bob.token, "{\"displayname\":\"Bob on B\"}", &status);
    json_decref(r);
    if (status == 404) cr_skip_test("this build has no Client-Server profile endpoint to set a display name");
    cr_assert_eq(status, 200);

    /* A asks B for bob's display name, signed (fed-get signs as A). */
    char uri[512], missing[512];
    snprintf(uri, sizeof uri, "/_matrix/federation/v1/query/profile?user_id=%%40bob%%3Alocalhost%%3A%d&field=displayname",
             B.fport);
    snprintf(missing, sizeof missing, "/_matrix/federation/v1/query/profile?user_id=%%40nobody%%3Alocalhost%%3A%d",
             B.fport);
    cr_assert_eq(fed_get(&A, NULL, B.name, uri, &out), 0, "%s", out);
    json_t *p = body_of(out, &status);
    free(out);
    cr_expect_eq(status, 200);
    cr_expect_str_eq(json_string_value(json_object_get(p, "displayname")), "Bob on B");
    json_decref(p);
    cr_expect_eq(fed_get(&A, NULL, B.name, missing, &out), 3);
    p = body_of(out, &status);
    free(out);
    cr_expect_eq(status, 404);
    json_decref(p);

    /* Unsigned: 401 before anything is looked up. */
    cr_expect_eq(fed_get(&A, "--unsigned", B.name, uri, &out), 3);
    p = body_of(out, &status);
    free(out);
    cr_expect_eq(status, 401);
    cr_expect_str_eq(json_string_value(json_object_get(p, "errcode")), "M_UNAUTHORIZED");
    json_decref(p);

    /* Signed here with A's real key: accepted (the harness signs correctly)... */
    hs_signing_key ak = node_key(&A);
    json_t *body = NULL;
    cr_expect_eq(signed_get(&ak, A.name, uri, uri, B.name, &body), 200);
    json_decref(body);
    /* ...but a forged key under A's key ID, a signature over another URI, or one
     * addressed to another destination is refused. */
    hs_signing_key forged;
    cr_assert_eq(hs_signing_key_generate(&forged), 0);
    memcpy(forged.key_id, ak.key_id, sizeof forged.key_id);
    char other_uri[600];
    snprintf(other_uri, sizeof other_uri, "%.500s&x=1", uri);
    struct {
        const hs_signing_key *key;
        const char *signed_uri, *dest, *what;
    } bad[] = {
        {&forged, uri, B.name, "forged key"},
        {&ak, other_uri, B.name, "signature over another URI"},
        {&ak, uri, A.name, "destination of another server"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(signed_get(bad[i].key, A.name, uri, bad[i].signed_uri, bad[i].dest, &body), 401, "%s",
                     bad[i].what);
        cr_expect_str_eq(json_string_value(json_object_get(body, "errcode")), "M_UNAUTHORIZED", "%s", bad[i].what);
        json_decref(body);
    }

    /* B fetched A's key to authenticate A; as a notary it serves it co-signed. */
    char q[256];
    snprintf(q, sizeof q, "/_matrix/key/v2/query/localhost%%3A%d", A.fport);
    cr_assert_eq(fed_get(&A, NULL, B.name, q, &out), 0, "%s", out);
    json_t *n = body_of(out, &status);
    free(out);
    json_t *doc = json_array_get(json_object_get(n, "server_keys"), 0);
    hs_keys_doc a_keys;
    cr_assert_eq(hs_keys_validate(doc, A.name, 1, &a_keys, &err), 0, "%s", err.msg);
    cr_expect_eq(hs_verify_json(doc, B.name, bk.key_id, bk.public_key, &err), 0, "notary signature: %s", err.msg);
    json_decref(n);
}

Test(fed_keys, default_denylist_refuses_loopback_peers)
{
    char *text = pgt_slurp(A.cfg);
    cr_assert_not_null(text);
    const char *line = "ip_range_denylist: \"\"";
    char *at = strstr(text, line);
    cr_assert_not_null(at, "no empty deny-list in the --dev config");
    char cfg[1200];
    snprintf(cfg, sizeof cfg, "%s/deny.yaml", A.dir);
    char *patched = malloc(strlen(text) + 64);
    snprintf(patched, strlen(text) + 64, "%.*sip_range_denylist: \"127.0.0.0/8,::1/128\"%s", (int)(at - text), text,
             at + strlen(line));
    cr_assert_eq(pgt_write_file(cfg, patched), 0);
    free(patched);
    free(text);
    node denied = A;
    snprintf(denied.cfg, sizeof denied.cfg, "%s", cfg);
    char *out = NULL;
    cr_expect_eq(fed_get(&denied, NULL, B.name, "/_matrix/key/v2/server", &out), 1, "%s", out);
    cr_expect(strstr(out, "ip_range_denylist") != NULL, "%s", out);
    free(out);
}

Test(fed_keys, federation_keys_query_has_the_client_bounds)
{
    /* 2 users x 600 device IDs in one user/keys/query: each list is short, but 1,200 in
     * all is past the client endpoint's bound of 1,000 listed devices, and gets its answer
     * instead of 1,200 lookups. */
    size_t cap = 1200 * 8 + 256, o = 0;
    char *data = malloc(cap);
    o += (size_t)snprintf(data + o, cap - o, "{\"device_keys\":{");
    for (int u = 0; u < 2; u++) {
        o += (size_t)snprintf(data + o, cap - o, "%s\"@bob%d:%s\":[", u ? "]," : "", u, B.name);
        for (int i = 0; i < 600; i++) o += (size_t)snprintf(data + o, cap - o, "%s\"D%d\"", i ? "," : "", i);
    }
    snprintf(data + o, cap - o, "]}}");
    char *argv[] = {(char *)pgt_pinegate(), "fed-get", "--config", (char *)A.cfg, "--method", "POST", "--data", data,
                    (char *)B.name, "/_matrix/federation/v1/user/keys/query", NULL};
    char *out = NULL;
    cr_expect_eq(pgt_run(argv, &out), 3, "%s", out);
    long status;
    json_t *p = body_of(out, &status);
    cr_expect_eq(status, 400, "%s", out);
    cr_expect_str_eq(json_string_value(json_object_get(p, "errcode")), "M_INVALID_PARAM");
    json_decref(p);
    free(out);
    free(data);
}
