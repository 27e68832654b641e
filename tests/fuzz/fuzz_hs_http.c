/* Fuzz target: request-target parsing and routing on arbitrary targets, as any
 * client or peer can send. Every dispatch must produce a status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_http.h"

static void ok(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)ctx;
    json_t *o = json_object();
    for (size_t i = 0; i < req->n_params; i++) json_object_set_new(o, req->params[i].name, json_string(req->params[i].value));
    hs_response_json(resp, 200, o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static hs_router *r;
    if (!r) {
        r = hs_router_new((hs_router_options){.cors = true});
        hs_router_add(r, "GET", "/_matrix/client/versions", ok, NULL);
        hs_router_add(r, "PUT", "/_matrix/client/v3/rooms/{roomId}/send/{type}/{txnId}", ok, NULL);
        hs_router_add(r, "GET", "/_matrix/media/v3/download/{server}/{rest...}", ok, NULL);
    }
    if (size < 1 || size > HS_HTTP_MAX_TARGET + 16) return 0;
    static const char *const methods[] = {"GET", "PUT", "POST", "OPTIONS", "HEAD"};
    char *target = malloc(size);
    memcpy(target, data + 1, size - 1);
    target[size - 1] = '\0';
    hs_request req = {.method = methods[data[0] % 5]};
    hs_response resp = {0};
    if (hs_request_parse_target(&req, target) == 0) {
        hs_router_dispatch(r, &req, &resp);
        if (resp.status < 200 || resp.status > 599) abort();
        hs_request_clear(&req);
    }
    hs_response_clear(&resp);
    free(target);
    return 0;
}
