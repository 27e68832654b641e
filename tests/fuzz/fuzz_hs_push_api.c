/* Fuzz target: arbitrary requests into the push endpoints of a real server (store in a
 * temporary directory, no listeners) through its client router. The first byte picks
 * the endpoint and the kind; the input up to the first newline becomes the rule ID or
 * query (before/after), the rest the JSON body. Every request must get a status and a
 * JSON answer below 500, and afterwards the user's ruleset must still be served with
 * .m.rule.master first and every rule carrying rule_id, default, enabled and actions. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_server.h"
#include "server-core/hs_push.h"

static char user_id[128];

static void setup(void)
{
    hs_config cfg;
    fz_config(&cfg);
    fz_server_open("fuzz_hs_push_api", &cfg);
    json_t *j = fz_register(FZ_REGISTER_FUZZER);
    snprintf(user_id, sizeof user_id, "%s", json_string_value(json_object_get(j, "user_id")));
    json_decref(j);
}

static void check_ruleset(void)
{
    json_t *all = hs_push_rules_for_user(srv.store, user_id);
    json_t *global = json_object_get(all, "global");
    if (!global) abort();
    for (int k = 0; k < HS_PUSH_KIND_COUNT; k++) {
        json_t *list = json_object_get(global, hs_push_kind_name((hs_push_kind)k));
        size_t i;
        json_t *r;
        if (!json_is_array(list)) abort();
        json_array_foreach(list, i, r)
        {
            if (!json_is_string(json_object_get(r, "rule_id")) || !json_is_boolean(json_object_get(r, "default")) ||
                !json_is_boolean(json_object_get(r, "enabled")) || !json_is_array(json_object_get(r, "actions")))
                abort();
        }
    }
    const char *first = json_string_value(json_object_get(json_array_get(json_object_get(global, "override"), 0), "rule_id"));
    if (!first || strcmp(first, ".m.rule.master") != 0) abort();
    json_decref(all);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 1 || size > 16384) return 0;
    static const char *const kinds[] = {"override", "content", "room", "sender", "underride"};
    const char *kind = kinds[(data[0] >> 3) % 5];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nl = memchr(rest, '\n', n);
    size_t head_len = nl ? (size_t)(nl - rest) : 0;
    const uint8_t *body = nl ? nl + 1 : rest;
    size_t body_len = nl ? n - head_len - 1 : n;
    char head[512];
    if (head_len >= sizeof head) return 0;
    memcpy(head, rest, head_len);
    head[head_len] = '\0';
    /* Not a request target; or ('/') another route's business: the router's own 404
     * echoes the raw path and is not what this target tests. */
    if (strpbrk(head, " \r\t#/")) return 0;

    char target[1024];
    const char *method = "PUT";
    switch (data[0] & 7) {
    case 0: snprintf(target, sizeof target, "/_matrix/client/v3/pushrules/global/%s/r%s", kind, head); break;
    case 1: snprintf(target, sizeof target, "/_matrix/client/v3/pushrules/global/%s/%s", kind, head); break;
    case 2: snprintf(target, sizeof target, "/_matrix/client/v3/pushrules/global/%s/%s/enabled", kind, head); break;
    case 3: snprintf(target, sizeof target, "/_matrix/client/v3/pushrules/global/%s/%s/actions", kind, head); break;
    case 4:
        method = "DELETE";
        snprintf(target, sizeof target, "/_matrix/client/v3/pushrules/global/%s/%s", kind, head);
        break;
    case 5:
        method = "POST";
        snprintf(target, sizeof target, "/_matrix/client/v3/pushers/set");
        break;
    case 6:
        method = "GET";
        snprintf(target, sizeof target, "/_matrix/client/v3/pushrules/global/%s/%s", kind, head);
        break;
    default:
        method = "GET";
        snprintf(target, sizeof target, "/_matrix/client/v3/pushers");
        break;
    }
    hs_response resp = {0};
    fz_dispatch(method, target, body, body_len, &resp);
    bool unparsable_target = resp.status == 400 && !resp.body;
    if (!unparsable_target) {
        /* 500 would mean a bug: every bad input has a 4xx answer. */
        if (resp.status < 200 || resp.status >= 500) abort();
        json_t *j = json_loadb(resp.body, resp.body_len, 0, NULL);
        if (!j) abort();
        json_decref(j);
    }
    hs_response_clear(&resp);
    check_ruleset();
    return 0;
}
