/* hs_capabilities: the capabilities answer (see hs_capabilities.h). The room version
 * list is derived from the room engine's own table, so it can never advertise a version
 * createRoom would refuse. */
#include "server-core/hs_capabilities.h"

#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_room.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_server.h"

json_t *hs_capabilities_json(const char *default_version)
{
    json_t *available = json_object();
    const hs_room_version *const *all;
    int n = hs_room_version_all(&all);
    for (int i = 0; i < n; i++)
        if (hs_room_version_for_new_room(all[i]->id)) json_object_set_new(available, all[i]->id, json_string("stable"));
    return json_pack("{s{sb}, s{ss, so}, s{sb}, s{sb}, s{sb}}",
                     "m.change_password", "enabled", 1,
                     "m.room_versions", "default", default_version, "available", available,
                     "m.set_displayname", "enabled", 1,
                     "m.set_avatar_url", "enabled", 1,
                     "m.3pid_changes", "enabled", 0);
}

static void capabilities_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (hs_access_authenticate(srv->store, req, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &who, resp) != 0)
        return;
    json_t *caps = hs_capabilities_json(srv->cfg.default_room_version);
    if (!caps) {
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return;
    }
    hs_response_json(resp, 200, json_pack("{so}", "capabilities", caps));
}

int hs_capabilities_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/capabilities", capabilities_get},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
