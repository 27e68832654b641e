/* Fuzz target: hs_server_acl_allows on arbitrary input. The bytes up to the first
 * newline are the server name asked about, the rest an m.room.server_acl content (parsed
 * with jansson, at most 64 KiB like an event). The decision must not crash and must keep
 * the spec's promises: a name the deny list names exactly (as a glob without wildcards)
 * is never allowed, and adding a port to the name never changes the decision. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_server_acl.h"

#define MAX_INPUT 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return 0;
    size_t name_len = (size_t)(nl - data);
    if (name_len > 300 || memchr(data, 0, name_len)) return 0;
    char name[320], with_port[330];
    memcpy(name, data, name_len);
    name[name_len] = 0;
    json_t *content = json_loadb((const char *)nl + 1, size - name_len - 1, JSON_ALLOW_NUL, NULL);
    bool ok = hs_server_acl_allows(content, name);
    /* A plain host name (no brackets or colons) keeps its decision with a port added. */
    if (name_len > 0 && !strpbrk(name, ":[]")) {
        strcpy(with_port, name);
        strcat(with_port, ":8448");
        if (hs_server_acl_allows(content, with_port) != ok) abort();
        json_t *deny = json_object_get(content, "deny");
        size_t i;
        json_t *v;
        json_array_foreach(deny, i, v) {
            const char *p = json_string_value(v);
            if (ok && p && !strpbrk(p, "*?") && strcasecmp(p, name) == 0) abort();
        }
    }
    json_decref(content);
    return 0;
}
