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


static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_keys", &cfg);
    json_decref(fz_register("{\"username\":\"fuzzer\",\"password\":\"pw\",\"device_id\":\"FUZZDEV\","
                            "\"auth\":{\"type\":\"m.login.dummy\"}}"));
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
    fz_send_checked(method, target, data + 1, size - 1, false);

    json_t *j = fz_request("POST", "/_matrix/client/v3/keys/upload", "{}", 200);
    if (!json_is_integer(json_object_get(json_object_get(j, "one_time_key_counts"), "signed_curve25519"))) abort();
    json_decref(j);
    j = fz_request("POST", "/_matrix/client/v3/keys/query", "{\"device_keys\":{\"@fuzzer:fuzz.test\":[]}}", 200);
    if (!json_is_object(json_object_get(json_object_get(j, "device_keys"), "@fuzzer:fuzz.test"))) abort();
    json_decref(j);
    return 0;
}
