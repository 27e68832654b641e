/* Fuzz target: arbitrary request bodies into the accounts endpoints (register, admin
 * registration, login, password change, deactivation, device management, logout), as
 * any client can send them. The first byte picks the endpoint; a real server (store
 * in a temporary directory, no listeners) answers through its client router. Every
 * request must get a status and a JSON answer; nothing may crash or leak. Password
 * hashing makes some inputs slow (argon2id), which is the price of reaching the code
 * behind a valid-looking body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/fuzz_server.h"


/* Registers a fresh account and makes its token the one every request carries. A
 * body may log the previous one out or deactivate it; without this, later inputs
 * would stop at the token check. */
static void new_account(void)
{
    static unsigned n;
    char body[160];
    snprintf(body, sizeof body, "{\"username\":\"fuzzer%u\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}",
             n++);
    json_decref(fz_register(body));
}


static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    snprintf(cfg.registration_shared_secret, sizeof cfg.registration_shared_secret, "secret");
    fz_server_open("fuzz_hs_login", &cfg);
    new_account();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        const char *method, *target;
    } eps[] = {
        {"POST", "/_matrix/client/v3/register"},
        {"POST", "/_synapse/admin/v1/register"},
        {"POST", "/_matrix/client/v3/login"},
        {"POST", "/_matrix/client/v3/account/password"},
        {"POST", "/_matrix/client/v3/account/deactivate"},
        {"PUT", "/_matrix/client/v3/devices/SOMEDEVICE"},
        {"DELETE", "/_matrix/client/v3/devices/SOMEDEVICE"},
        {"POST", "/_matrix/client/v3/delete_devices"},
        {"GET", "/_matrix/client/v3/register/available?username=fuzz"},
    };
    if (!srv.store) setup();
    if (size < 1 || size > 65536) return 0;
    size_t i = data[0] % (sizeof eps / sizeof eps[0]);
    fz_send_checked(eps[i].method, eps[i].target, data + 1, size - 1, false);
    hs_response resp = {0};
    fz_dispatch("GET", "/_matrix/client/v3/account/whoami", NULL, 0, &resp);
    if (resp.status == 401) new_account();
    hs_response_clear(&resp);
    return 0;
}
