/* X-Matrix request authentication against real Synapse traffic: the six requests
 * Synapse 1.67 sent (tests/fixtures/synapse/xmatrix-request-*.json) verify with
 * Synapse's published key, each tampered part (method, uri, body, destination) breaks
 * the signature, our signer reproduces Synapse's signature bytes from its seed, and the
 * parser accepts both comma forms and the quoted/unquoted value forms while refusing
 * malformed headers with a reason. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_signing_key.h"
#include "server-core/hs_xmatrix.h"
#include "support/pgt.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

typedef struct recorded {
    json_t *file;
    const char *method, *uri, *destination, *header;
    json_t *content; /* borrowed from file; NULL for no body */
} recorded;

static recorded load_request(int n)
{
    char path[512];
    snprintf(path, sizeof path, FIX "xmatrix-request-%d.json", n);
    json_error_t je;
    recorded r = {0};
    r.file = json_load_file(path, 0, &je);
    cr_assert_not_null(r.file, "%s: %s", path, je.text);
    r.method = json_string_value(json_object_get(r.file, "method"));
    r.uri = json_string_value(json_object_get(r.file, "uri"));
    r.destination = json_string_value(json_object_get(r.file, "destination"));
    json_t *c = json_object_get(r.file, "content");
    r.content = json_is_null(c) ? NULL : c;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(r.file, "headers"), i, h) {
        if (strcmp(json_string_value(json_array_get(h, 0)), "Authorization") == 0)
            r.header = json_string_value(json_array_get(h, 1));
    }
    cr_assert_not_null(r.header, "request %d has no Authorization header", n);
    return r;
}

/* Synapse A's public key from the bytes it served at /_matrix/key/v2/server. */
static void synapse_a_key(uint8_t pk[32])
{
    json_error_t je;
    json_t *doc = json_load_file(FIX "keys-localhost_8448.json", 0, &je);
    cr_assert_not_null(doc);
    const char *b64 = json_string_value(json_object_get(json_object_get(json_object_get(doc, "verify_keys"),
                                                                        "ed25519:a_uRaI"), "key"));
    cr_assert_eq(hs_b64_decode(b64, pk, 32), 32);
    json_decref(doc);
}

static int verify(const recorded *r, const char *method, const char *uri, const char *dest, const json_t *content,
                  hs_err *err)
{
    hs_xmatrix_auth a;
    cr_assert_eq(hs_xmatrix_parse(r->header, strlen(r->header), &a, err), 0, "%s", err->msg);
    uint8_t pk[32];
    synapse_a_key(pk);
    return hs_xmatrix_verify(&a, method, uri, dest, content, pk, err);
}

Test(hs_xmatrix, synapse_requests_verify_with_synapse_key)
{
    for (int n = 1; n <= 6; n++) {
        recorded r = load_request(n);
        hs_err err;
        cr_expect_eq(verify(&r, r.method, r.uri, r.destination, r.content, &err), 0, "request %d: %s", n, err.msg);
        hs_xmatrix_auth a;
        cr_assert_eq(hs_xmatrix_parse(r.header, strlen(r.header), &a, &err), 0);
        cr_expect_str_eq(a.origin, "localhost:8448");
        cr_expect_str_eq(a.destination, "localhost:8450");
        cr_expect_str_eq(a.key_id, "ed25519:a_uRaI");
        json_decref(r.file);
    }
}

Test(hs_xmatrix, tampered_parts_fail)
{
    recorded get = load_request(1);  /* profile query, no body */
    recorded post = load_request(3); /* keys/query with a body */
    hs_err err;
    cr_expect_neq(verify(&get, "POST", get.uri, get.destination, NULL, &err), 0, "method change accepted");
    char uri[1024];
    snprintf(uri, sizeof uri, "%s", get.uri);
    uri[strlen(uri) - 1] = 'X'; /* field=displaynamX */
    cr_expect_neq(verify(&get, get.method, uri, get.destination, NULL, &err), 0, "uri change accepted");
    cr_expect_neq(verify(&get, get.method, get.uri, "localhost:8451", NULL, &err), 0, "destination change accepted");
    cr_expect_neq(verify(&get, get.method, get.uri, get.destination, json_object(), &err), 0,
                  "a body added to a GET accepted");

    cr_assert_not_null(post.content);
    cr_assert_eq(verify(&post, post.method, post.uri, post.destination, post.content, &err), 0, "%s", err.msg);
    json_t *changed = json_deep_copy(post.content);
    json_object_set_new(changed, "timeout", json_integer(1));
    cr_expect_neq(verify(&post, post.method, post.uri, post.destination, changed, &err), 0, "body change accepted");
    cr_expect_neq(verify(&post, post.method, post.uri, post.destination, NULL, &err), 0, "dropped body accepted");
    json_decref(changed);
    json_decref(get.file);
    json_decref(post.file);
}

Test(hs_xmatrix, our_signer_reproduces_synapse_header)
{
    char *line = pgt_slurp(FIX "signing-key-localhost_8448.txt");
    cr_assert_not_null(line);
    hs_signing_key key;
    char e[256];
    cr_assert_eq(hs_signing_key_parse(line, &key, e, sizeof e), 0, "%s", e);
    free(line);
    for (int n = 1; n <= 6; n++) {
        recorded r = load_request(n);
        char header[1024];
        hs_err err;
        cr_assert_eq(hs_xmatrix_sign(r.method, r.uri, "localhost:8448", r.destination, r.content, &key, header,
                                     sizeof header, &err),
                     0, "%s", err.msg);
        /* Synapse's header has the same parameters, destination last, no spaces. */
        cr_expect_str_eq(header, r.header, "request %d", n);
        json_decref(r.file);
    }
}

Test(hs_xmatrix, sign_verify_round_trip_with_fresh_key)
{
    hs_signing_key key;
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    json_t *body = json_pack("{s:{s:[s]}}", "device_keys", "@u:b.example", "DEV");
    char header[1024];
    hs_err err;
    cr_assert_eq(hs_xmatrix_sign("POST", "/_matrix/federation/v1/user/keys/query", "a.example", "b.example", body,
                                 &key, header, sizeof header, &err),
                 0, "%s", err.msg);
    cr_expect_null(strstr(header, ", "), "header has a space after a comma: %s", header);
    hs_xmatrix_auth a;
    cr_assert_eq(hs_xmatrix_parse(header, strlen(header), &a, &err), 0, "%s", err.msg);
    cr_expect_eq(hs_xmatrix_verify(&a, "POST", "/_matrix/federation/v1/user/keys/query", "b.example", body,
                                   key.public_key, &err),
                 0, "%s", err.msg);
    hs_signing_key other;
    cr_assert_eq(hs_signing_key_generate(&other), 0);
    cr_expect_neq(hs_xmatrix_verify(&a, "POST", "/_matrix/federation/v1/user/keys/query", "b.example", body,
                                    other.public_key, &err),
                  0, "verified with someone else's key");
    json_decref(body);
}

Test(hs_xmatrix, both_comma_forms_and_value_forms_parse)
{
    recorded r = load_request(2);
    /* Re-space Synapse's header: ", " between parameters, as newer servers may send. */
    char spaced[1024];
    size_t o = 0;
    for (const char *p = r.header; *p && o + 2 < sizeof spaced; p++) {
        spaced[o++] = *p;
        if (*p == ',') spaced[o++] = ' ';
    }
    spaced[o] = '\0';
    hs_err err;
    hs_xmatrix_auth a, b;
    cr_assert_eq(hs_xmatrix_parse(r.header, strlen(r.header), &a, &err), 0, "%s", err.msg);
    cr_assert_eq(hs_xmatrix_parse(spaced, strlen(spaced), &b, &err), 0, "%s: %s", spaced, err.msg);
    cr_expect_eq(memcmp(&a, &b, sizeof a), 0, "the two comma forms parse differently");
    uint8_t pk[32];
    synapse_a_key(pk);
    cr_expect_eq(hs_xmatrix_verify(&b, r.method, r.uri, r.destination, NULL, pk, &err), 0, "%s", err.msg);

    /* Unquoted values, upper-case names, whitespace around '=' and an unknown parameter. */
    char loose[1024];
    snprintf(loose, sizeof loose, "x-matrix ORIGIN = localhost:8448 ,  Key=ed25519:a_uRaI,extra=\"1\",sig=%s", a.sig);
    cr_assert_eq(hs_xmatrix_parse(loose, strlen(loose), &b, &err), 0, "%s", err.msg);
    cr_expect_str_eq(b.origin, "localhost:8448");
    cr_expect_str_eq(b.key_id, "ed25519:a_uRaI");
    cr_expect_str_eq(b.destination, "");
    /* No destination parameter: the receiver's own name is what was signed. */
    cr_expect_eq(hs_xmatrix_verify(&b, r.method, r.uri, "localhost:8450", NULL, pk, &err), 0, "%s", err.msg);

    char escaped[] = "X-Matrix origin=\"local\\host\",key=\"ed25519:k\",sig=\"s\"";
    cr_assert_eq(hs_xmatrix_parse(escaped, strlen(escaped), &b, &err), 0, "%s", err.msg);
    cr_expect_str_eq(b.origin, "localhost");
    json_decref(r.file);
}

Test(hs_xmatrix, malformed_headers_refused_with_reason)
{
    static const char *const bad[] = {
        "",
        "Bearer abc",
        "X-Matrixorigin=a",
        "X-Matrix key=\"ed25519:k\",sig=\"s\"",                         /* no origin */
        "X-Matrix origin=a,sig=\"s\"",                                   /* no key */
        "X-Matrix origin=a,key=\"ed25519:k\"",                           /* no sig */
        "X-Matrix origin=a,origin=b,key=\"ed25519:k\",sig=\"s\"",        /* repeated */
        "X-Matrix origin=\"a,key=\"ed25519:k\",sig=\"s\"",               /* unterminated quote */
        "X-Matrix origin=a key=\"ed25519:k\",sig=\"s\"",                 /* no comma */
        "X-Matrix origin=,key=\"ed25519:k\",sig=\"s\"",                  /* empty value */
        "X-Matrix origin=a,key=\"rsa:k\",sig=\"s\"",                     /* not ed25519 */
        "X-Matrix origin=\"bad server!\",key=\"ed25519:k\",sig=\"s\"",   /* not a server name */
        "X-Matrix origin=a,key=\"ed25519:k\",sig=\"s\",destination=\"\"", /* empty destination */
        "X-Matrix origin=\"a\x01\",key=\"ed25519:k\",sig=\"s\"",         /* control char */
        "X-Matrix =a",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_xmatrix_auth a;
        hs_err err = {{0}};
        cr_expect_neq(hs_xmatrix_parse(bad[i], strlen(bad[i]), &a, &err), 0, "accepted: %s", bad[i]);
        cr_expect_neq(err.msg[0], '\0', "no reason for: %s", bad[i]);
    }
    /* Over the size limit, even if otherwise well-formed. */
    char *big = malloc(HS_XMATRIX_MAX_HEADER + 100);
    int n = snprintf(big, HS_XMATRIX_MAX_HEADER + 100, "X-Matrix origin=a,key=\"ed25519:k\",sig=\"s\",x=\"");
    memset(big + n, 'a', HS_XMATRIX_MAX_HEADER);
    big[n + HS_XMATRIX_MAX_HEADER - 10] = '"';
    big[n + HS_XMATRIX_MAX_HEADER - 9] = '\0';
    hs_xmatrix_auth a;
    hs_err err;
    cr_expect_neq(hs_xmatrix_parse(big, strlen(big), &a, &err), 0);
    cr_expect(strstr(err.msg, "longer than") != NULL, "%s", err.msg);
    /* An embedded NUL inside the given length is not a value character. */
    const char nul[] = "X-Matrix origin=a\0b,key=\"ed25519:k\",sig=\"s\"";
    cr_expect_neq(hs_xmatrix_parse(nul, sizeof nul - 1, &a, &err), 0);
    free(big);
}
