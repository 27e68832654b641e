/* fuzz_hs_push_eval: glob patterns, values and events. The input is
 * "<pattern>\n<value>\n<event JSON>". Invariants: no crash and bounded time (the NFA
 * never backtracks); "*" matches every value; a pattern without wildcards matches a
 * whole ASCII value exactly when they are equal ignoring ASCII case; a whole-value
 * match is also a word-boundary match; and the default ruleset evaluates any event. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server-core/hs_push_eval.h"
#include "server-core/hs_push_rules.h"

#define MAX_INPUT 8192

static bool ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (strlen(buf) != size) { /* NUL bytes cannot appear in JSON strings */
        free(buf);
        return 0;
    }
    char *value = strchr(buf, '\n');
    char *event = value ? strchr(value + 1, '\n') : NULL;
    if (value) *value++ = '\0';
    else value = buf + size;
    if (event) *event++ = '\0';

    if (!hs_push_glob("*", value, false)) abort();
    bool whole = hs_push_glob(buf, value, false);
    if (!strpbrk(buf, "*?") && ascii(buf) && ascii(value) && whole != (strcasecmp(buf, value) == 0)) abort();
    if (whole && !hs_push_glob(buf, value, true)) abort();

    json_t *ev = event ? json_loads(event, 0, NULL) : NULL;
    if (ev) {
        json_t *set = hs_push_default_ruleset("@fuzz:example.test");
        hs_push_ctx ctx = {.user_id = "@fuzz:example.test", .display_name = buf, .member_count = (int64_t)strlen(value),
                           .sender_power = 50};
        hs_push_result r;
        if (hs_push_evaluate(set, ev, &ctx, &r) && !r.rule_id) abort();
        json_decref(set);
        json_decref(ev);
    }
    free(buf);
    return 0;
}
