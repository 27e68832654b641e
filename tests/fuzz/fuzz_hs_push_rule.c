/* fuzz_hs_push_rule: push rule bodies as clients send them. The first byte picks the
 * kind, the rest is the JSON body. Invariants: no crash; an accepted rule, put back
 * together with its cleaned actions, is accepted again unchanged (what the server
 * stores is itself a valid body). The same bytes also go through the media helpers
 * that turn client text into headers: a Content-Disposition never contains CR, LF or
 * a quote, and only MIME types without control characters are accepted. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_media.h"
#include "server-core/hs_push_rules.h"

#define MAX_INPUT 65536

static void check_rule(hs_push_kind kind, const json_t *body)
{
    char err[256];
    json_t *actions = NULL;
    json_t *rule = hs_push_rule_parse(kind, body, &actions, err, sizeof err);
    if (!rule) {
        if (!err[0]) abort(); /* a refusal always says why */
        return;
    }
    json_t *again_body = json_deep_copy(rule);
    json_object_set(again_body, "actions", actions);
    json_t *actions2 = NULL;
    json_t *rule2 = hs_push_rule_parse(kind, again_body, &actions2, err, sizeof err);
    if (!rule2 || !json_equal(rule, rule2) || !json_equal(actions, actions2)) abort();
    json_decref(rule2);
    json_decref(actions2);
    json_decref(again_body);
    json_decref(rule);
    json_decref(actions);
}

static void check_media_text(const char *s)
{
    char out[4096];
    if (hs_media_disposition(s, s, out, sizeof out) == 0 && strpbrk(out, "\r\n\"")) abort();
    if (hs_media_type_valid(s))
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) abort();
    if (hs_media_id_valid(s) && (strchr(s, '/') || strchr(s, '.'))) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_INPUT) return 0;
    hs_push_kind kind = (hs_push_kind)(data[0] % HS_PUSH_KIND_COUNT);
    json_t *body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    if (body) {
        check_rule(kind, body);
        char err[256];
        json_t *a = hs_push_actions_parse(json_object_get(body, "actions"), err, sizeof err);
        json_decref(a);
        json_decref(body);
    }
    char *s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    check_media_text(s);
    char err[256];
    hs_push_rule_id_check(s, err, sizeof err);
    free(s);
    return 0;
}
