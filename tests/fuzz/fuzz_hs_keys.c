/* Fuzz target: arbitrary bodies into the E2EE endpoints of a real server (store in a
 * temporary directory, no listeners) through its client router. The first byte picks
 * the endpoint - keys/upload most often, since its body validation (device keys and
 * their self-signature, one-time and fallback key maps) is the largest parser - then
 * keys/query, keys/claim, signatures/upload, device_signing/upload and sendToDevice.
 * The user is @fuzzer:fuzz.test on device FUZZDEV, fixed so the seed corpus can carry
 * correctly signed device keys the fuzzer mutates from. Every request must get a
 * status and a JSON object, and afterwards an empty keys/upload and a keys/query of
 * oneself must still answer 200 with their required fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz_server.h"

static char token_header[160];

static void dispatch(const char *method, const char *target, const uint8_t *body, size_t len, hs_response *resp)
{
    hs_kv headers[2] = {{"Authorization", token_header}, {"Content-Type", "application/json"}};
    hs_request req = {.method = method, .headers = headers, .n_headers = 2, .body = body, .body_len = len,
                      .remote_addr = "127.0.0.1"};
    if (hs_request_parse_target(&req, target) != 0) {
        resp->status = 400;
        return;
    }
    hs_router_dispatch(srv.client_router, &req, resp);
    hs_request_clear(&req);
}

/* POSTs `body` and returns the answer's JSON when the status is `want`; aborts otherwise. */
static json_t *expect(const char *target, const char *body, int want)
{
    hs_response resp = {0};
    dispatch("POST", target, (const uint8_t *)body, strlen(body), &resp);
    json_t *j = resp.status == want ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    hs_response_clear(&resp);
    if (!j) abort();
    return j;
}

static void setup(void)
{
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "fuzz.test");
    cfg.registration_enabled = true;
    cfg.rate_limits_enabled = false;
    fz_server_open("fuzz_hs_keys", &cfg);
    json_t *j = expect("/_matrix/client/v3/register",
                       "{\"username\":\"fuzzer\",\"password\":\"pw\",\"device_id\":\"FUZZDEV\","
                       "\"auth\":{\"type\":\"m.login.dummy\"}}",
                       200);
    snprintf(token_header, sizeof token_header, "Bearer %s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv.store) setup();
    if (size < 1 || size > 70000) return 0;
    static unsigned txn;
    char target[256];
    const char *method = "POST";
    switch (data[0] % 8) {
    case 3: snprintf(target, sizeof target, "/_matrix/client/v3/keys/query"); break;
    case 4: snprintf(target, sizeof target, "/_matrix/client/v3/keys/claim"); break;
    case 5: snprintf(target, sizeof target, "/_matrix/client/v3/keys/signatures/upload"); break;
    case 6: snprintf(target, sizeof target, "/_matrix/client/v3/keys/device_signing/upload"); break;
    case 7:
        method = "PUT";
        snprintf(target, sizeof target, "/_matrix/client/v3/sendToDevice/m.fuzz/t%u", txn++);
        break;
    default: snprintf(target, sizeof target, "/_matrix/client/v3/keys/upload"); break;
    }
    hs_response resp = {0};
    dispatch(method, target, data + 1, size - 1, &resp);
    if (resp.status < 200 || resp.status > 599) abort();
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (!json_is_object(j)) abort();
    json_decref(j);
    hs_response_clear(&resp);

    j = expect("/_matrix/client/v3/keys/upload", "{}", 200);
    if (!json_is_integer(json_object_get(json_object_get(j, "one_time_key_counts"), "signed_curve25519"))) abort();
    json_decref(j);
    j = expect("/_matrix/client/v3/keys/query", "{\"device_keys\":{\"@fuzzer:fuzz.test\":[]}}", 200);
    if (!json_is_object(json_object_get(json_object_get(j, "device_keys"), "@fuzzer:fuzz.test"))) abort();
    json_decref(j);
    return 0;
}
