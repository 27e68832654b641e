/* Benchmark: X-Matrix request authentication - header parses per second, and full
 * inbound checks per second (parse the header + parse the body + canonical JSON +
 * ed25519 verify) over Synapse's recorded keys/query request (with a body), plus
 * outbound signatures per second. Release build (make bench). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_xmatrix.h"

#define FIX PG_SOURCE_DIR "/tests/fixtures/synapse/"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    json_error_t je;
    json_t *req = json_load_file(FIX "xmatrix-request-3.json", 0, &je);
    json_t *keys = json_load_file(FIX "keys-localhost_8448.json", 0, &je);
    if (!req || !keys) {
        fprintf(stderr, "cannot load fixtures: %s\n", je.text);
        return 1;
    }
    const char *header = NULL;
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(req, "headers"), i, h) {
        if (strcmp(json_string_value(json_array_get(h, 0)), "Authorization") == 0)
            header = json_string_value(json_array_get(h, 1));
    }
    const char *method = json_string_value(json_object_get(req, "method"));
    const char *uri = json_string_value(json_object_get(req, "uri"));
    const char *dest = json_string_value(json_object_get(req, "destination"));
    const char *body = json_string_value(json_object_get(req, "body"));
    uint8_t pk[32];
    hs_b64_decode(json_string_value(json_object_get(json_object_get(json_object_get(keys, "verify_keys"),
                                                                    "ed25519:a_uRaI"), "key")), pk, 32);
    hs_err err;
    const int N = 20000;

    double t0 = now_s();
    for (int n = 0; n < N * 10; n++) {
        hs_xmatrix_auth a;
        if (hs_xmatrix_parse(header, strlen(header), &a, &err) != 0) return 1;
    }
    double parse_s = now_s() - t0;

    t0 = now_s();
    for (int n = 0; n < N; n++) {
        hs_xmatrix_auth a;
        json_t *content = hs_cjson_parse(body, strlen(body), 1 << 20, 0, &err);
        if (!content || hs_xmatrix_parse(header, strlen(header), &a, &err) != 0 ||
            hs_xmatrix_verify(&a, method, uri, dest, content, pk, &err) != 0) {
            fprintf(stderr, "verify failed: %s\n", err.msg);
            return 1;
        }
        json_decref(content);
    }
    double verify_s = now_s() - t0;

    hs_signing_key key;
    hs_signing_key_generate(&key);
    json_t *content = hs_cjson_parse(body, strlen(body), 1 << 20, 0, &err);
    t0 = now_s();
    for (int n = 0; n < N; n++) {
        char out[1024];
        if (hs_xmatrix_sign(method, uri, "localhost:8448", dest, content, &key, out, sizeof out, &err) != 0) return 1;
    }
    double sign_s = now_s() - t0;
    json_decref(content);

    printf("X-Matrix header parse:            %10.0f /s\n", N * 10 / parse_s);
    printf("X-Matrix inbound check (%zu-byte body): %8.0f requests/s (parse + canonical JSON + ed25519 verify)\n",
           strlen(body), N / verify_s);
    printf("X-Matrix outbound signature:      %10.0f /s\n", N / sign_s);
    json_decref(req);
    json_decref(keys);
    return 0;
}
