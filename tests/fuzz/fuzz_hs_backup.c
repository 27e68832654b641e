/* Fuzz target: arbitrary bodies into the key backup endpoints of a real server (store
 * in a scratch directory, no listeners). The first byte picks the endpoint, the rest is
 * the body. Every request must get a status with a JSON answer, and the version the
 * fuzzer writes into must always read back as valid JSON with a count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"

static char token_header[160];

static void dispatch(const char *method, const char *target, const uint8_t *body, size_t len, hs_response *resp)
{
    hs_kv headers[2] = {{"Authorization", token_header}, {"Content-Type", "application/json"}};
    hs_request req = {.method = method, .headers = headers, .n_headers = 2, .body = body, .body_len = len,
                      .remote_addr = "127.0.0.1"};
    if (hs_request_parse_target(&req, target) != 0) abort();
    hs_router_dispatch(srv.client_router, &req, resp);
    hs_request_clear(&req);
}

static json_t *request(const char *method, const char *target, const char *body, int want)
{
    hs_response resp = {0};
    dispatch(method, target, (const uint8_t *)body, body ? strlen(body) : 0, &resp);
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
    fz_server_open("fuzz_hs_backup", &cfg);
    json_t *j = request("POST", "/_matrix/client/v3/register",
                        "{\"username\":\"fuzzer\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}", 200);
    snprintf(token_header, sizeof token_header, "Bearer %s", json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    json_decref(request("POST", "/_matrix/client/v3/room_keys/version",
                        "{\"algorithm\":\"m.megolm_backup.v1.curve25519-aes-sha2\",\"auth_data\":{}}", 200));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    if (size < 1 || size > 4096) return 0;
    static const struct {
        const char *method, *target;
    } eps[] = {
        {"PUT", "/_matrix/client/v3/room_keys/keys?version=1"},
        {"PUT", "/_matrix/client/v3/room_keys/keys/%21r%3Afuzz.test?version=1"},
        {"PUT", "/_matrix/client/v3/room_keys/keys/%21r%3Afuzz.test/S?version=1"},
        {"PUT", "/_matrix/client/v3/room_keys/version/1"},
        {"POST", "/_matrix/client/v3/room_keys/version"},
    };
    size_t n = sizeof eps / sizeof eps[0];
    hs_response resp = {0};
    dispatch(eps[data[0] % n].method, eps[data[0] % n].target, data + 1, size - 1, &resp);
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (resp.status == 0 || !j) abort();
    json_decref(j);
    hs_response_clear(&resp);
    j = request("GET", "/_matrix/client/v3/room_keys/version/1", NULL, 200);
    if (!json_is_integer(json_object_get(j, "count"))) abort();
    json_decref(j);
    json_decref(request("GET", "/_matrix/client/v3/room_keys/keys?version=1", NULL, 200));
    return 0;
}
