/* Fuzz target: arbitrary bodies into the key backup endpoints of a real server (store
 * in a scratch directory, no listeners). The first byte picks the endpoint, the rest is
 * the body. Every request must get a status with a JSON answer, and the version the
 * fuzzer writes into must always read back as valid JSON with a count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"


static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_backup", &cfg);
    json_t *j = fz_register(FZ_REGISTER_FUZZER);
    json_decref(j);
    json_decref(fz_request("POST", "/_matrix/client/v3/room_keys/version",
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
    fz_dispatch(eps[data[0] % n].method, eps[data[0] % n].target, data + 1, size - 1, &resp);
    json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (resp.status == 0 || !j) abort();
    json_decref(j);
    hs_response_clear(&resp);
    j = fz_request("GET", "/_matrix/client/v3/room_keys/version/1", NULL, 200);
    if (!json_is_integer(json_object_get(j, "count"))) abort();
    json_decref(j);
    json_decref(fz_request("GET", "/_matrix/client/v3/room_keys/keys?version=1", NULL, 200));
    return 0;
}
