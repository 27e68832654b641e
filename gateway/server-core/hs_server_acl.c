/* hs_server_acl: the m.room.server_acl decision (see hs_server_acl.h). The glob matcher
 * is the push rules' (hs_push_glob: case-insensitive, O(pattern x name)); the name is cut
 * to its host part first, because ACLs never name ports. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_push_eval.h"
#include "server-core/hs_server_acl.h"
#include "server-core/hs_store_rooms.h"

/* Copies the host part of `server_name` into host (size cap): "[v6]" keeps its
 * brackets, otherwise everything before the last ':' goes. Sets *ip_literal for an
 * IPv4 dotted quad or a bracketed IPv6 address. False when it does not fit. */
static bool host_of(const char *server_name, char *host, size_t cap, bool *ip_literal)
{
    size_t len;
    *ip_literal = false;
    if (server_name[0] == '[') {
        const char *end = strchr(server_name, ']');
        if (!end) return false;
        len = (size_t)(end - server_name) + 1;
    } else {
        const char *colon = strrchr(server_name, ':');
        len = colon ? (size_t)(colon - server_name) : strlen(server_name);
    }
    if (len == 0 || len >= cap) return false;
    memcpy(host, server_name, len);
    host[len] = 0;
    unsigned char addr[16];
    if (host[0] == '[') {
        char inner[64];
        size_t n = len - 2;
        if (n < sizeof inner) {
            memcpy(inner, host + 1, n);
            inner[n] = 0;
            *ip_literal = inet_pton(AF_INET6, inner, addr) == 1;
        }
    } else {
        *ip_literal = inet_pton(AF_INET, host, addr) == 1;
    }
    return true;
}

static bool any_matches(const json_t *list, const char *host)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *pattern = json_string_value(v);
        if (pattern && strlen(pattern) <= HS_SERVER_ACL_ENTRY_MAX && hs_push_glob(pattern, host, false)) return true;
    }
    return false;
}

bool hs_server_acl_allows(const json_t *content, const char *server_name)
{
    char host[HS_SERVER_ACL_ENTRY_MAX + 1];
    bool ip_literal;
    if (!server_name || !host_of(server_name, host, sizeof host, &ip_literal)) return false;
    const json_t *ip = json_object_get(content, "allow_ip_literals");
    if (ip_literal && json_is_false(ip)) return false;
    if (any_matches(json_object_get(content, "deny"), host)) return false;
    return any_matches(json_object_get(content, "allow"), host);
}

int hs_server_acl_room_allows(hs_store *st, const char *room_id, const char *server_name)
{
    char *id = NULL;
    int rc = hs_store_state_get(st, room_id, "m.room.server_acl", "", &id);
    if (rc == 1) return 1;
    if (rc != 0) return -1;
    hs_store_event ev;
    rc = hs_store_event_get(st, id, &ev);
    free(id);
    if (rc != 0) return -1;
    /* A redacted ACL keeps no allow list, so it denies everyone (as on every server). */
    json_t *pdu = ev.redacted_by ? NULL : json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    bool ok = hs_server_acl_allows(json_object_get(pdu, "content"), server_name);
    json_decref(pdu);
    hs_store_event_clear(&ev);
    return ok ? 1 : 0;
}
