/* fuzz_hs_fed_keys: the parsers that read what other servers send us before we trust
 * them - key server responses (hs_keys_parse), .well-known/matrix/server bodies,
 * server names and the configured IP deny-list - never crash, and a key response can
 * only be accepted with keys and a self-signature (random bytes essentially never
 * carry a valid ed25519 signature, so acceptance of fuzz input means a bug). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "federation-side/fed_denylist.h"
#include "federation-side/fed_discovery.h"
#include "server-core/hs_keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hs_err err;
    hs_keys_doc kd;
    json_t *doc = hs_keys_parse((const char *)data, size, "example.org", 0, &kd, &err);
    if (doc && kd.n_keys == 0) abort();
    json_decref(doc);
    char out[256];
    fed_well_known_parse((const char *)data, size, out, sizeof out, &err);
    if (size < 1024) {
        char *s = malloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';
        char host[256];
        int port;
        bool ip;
        fed_split_server_name(s, host, sizeof host, &port, &ip);
        fed_denylist_free(fed_denylist_parse(s, &err));
        free(s);
    }
    return 0;
}
