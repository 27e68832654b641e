/* hs_auth_power: power levels as the auth rules see them: parsing a level value per room
 * version (v1-5 floats and integer strings, v6-9 integer strings, v10+ JSON integers
 * only), a user's level (v12 creators infinite; 100 for the creator without a power
 * levels event), the level an event type needs, and the m.room.power_levels rules.
 *
 * Parsed levels are clamped below HS_AUTH_PL_INFINITE so that no number can tie with a
 * v12 creator. */
#include "server-core/hs_auth_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static long long clamp(long long v)
{
    if (v >= HS_AUTH_PL_INFINITE) return HS_AUTH_PL_INFINITE - 1;
    if (v <= -HS_AUTH_PL_INFINITE) return -HS_AUTH_PL_INFINITE + 1;
    return v;
}

/* The v1-9 string form: whitespace, optional sign, at least one decimal digit (leading
 * zeros allowed), whitespace; nothing else. */
static bool parse_int_string(const char *s, long long *out)
{
    while (*s && isspace((unsigned char)*s)) s++;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return false;
    const char *digits = p;
    while (isdigit((unsigned char)*p)) p++;
    const char *end = p;
    while (*p && isspace((unsigned char)*p)) p++;
    if (*p) return false;
    while (digits < end - 1 && *digits == '0') digits++;
    if (end - digits > 18) return false; /* beyond any level a room could hold */
    long long v = 0;
    for (const char *d = digits; d < end; d++) v = v * 10 + (*d - '0');
    *out = (*s == '-') ? -v : v;
    return true;
}

bool hs_auth_parse_level(const hs_room_version *rv, const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = clamp(json_integer_value(v));
        return true;
    }
    if (rv->integer_power_levels) return false;
    if (json_is_string(v)) {
        long long x;
        if (strlen(json_string_value(v)) != json_string_length(v)) return false; /* embedded NUL */
        if (!parse_int_string(json_string_value(v), &x)) return false;
        *out = clamp(x);
        return true;
    }
    if (!rv->strict_canonical_json && json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d >= 9.2e18 || d <= -9.2e18) return false;
        *out = clamp((long long)trunc(d));
        return true;
    }
    return false;
}

long long hs_auth__pl_field(const hs_room_version *rv, const json_t *pl_content, const char *key,
                            long long dflt)
{
    long long v;
    if (pl_content && hs_auth_parse_level(rv, json_object_get(pl_content, key), &v)) return v;
    return dflt;
}

long long hs_auth_user_level(const hs_room_version *rv, const hs_auth_state *state, const char *user_id)
{
    hs_auth_entry create;
    bool have_create = hs_auth__get(state, "m.room.create", "", &create);
    if (rv->creators_infinite_power && have_create && hs_auth__is_creator(rv, create.pdu, user_id))
        return HS_AUTH_PL_INFINITE;
    const json_t *pl = hs_auth__content(state, "m.room.power_levels", "");
    if (pl) {
        long long v;
        if (hs_auth_parse_level(rv, json_object_get(json_object_get(pl, "users"), user_id), &v)) return v;
        return hs_auth__pl_field(rv, pl, "users_default", 0);
    }
    if (!rv->creators_infinite_power && have_create && hs_auth__is_creator(rv, create.pdu, user_id))
        return 100;
    return 0;
}

long long hs_auth__required_level(const hs_room_version *rv, const hs_auth_state *state,
                                  const char *type, bool is_state)
{
    const json_t *pl = hs_auth__content(state, "m.room.power_levels", "");
    long long v;
    if (pl && hs_auth_parse_level(rv, json_object_get(json_object_get(pl, "events"), type), &v)) return v;
    return is_state ? hs_auth__pl_field(rv, pl, "state_default", 50)
                    : hs_auth__pl_field(rv, pl, "events_default", 0);
}

static const char *const top_keys[] = {"users_default", "events_default", "state_default", "ban",
                                       "redact", "kick", "invite"};
#define N_TOP (sizeof top_keys / sizeof top_keys[0])

/* Rules 1-4 (v12 numbering): the shape of the new content. */
static hs_auth_rule check_shape(const hs_room_version *rv, const json_t *content, const json_t *create,
                                hs_auth_result *res)
{
    long long x;
    for (size_t i = 0; i < N_TOP; i++) {
        const json_t *v = json_object_get(content, top_keys[i]);
        if (v && !hs_auth_parse_level(rv, v, &x))
            return hs_auth__fail(rv, res, HS_AUTH_PL_NOT_INTEGER, "%s", top_keys[i]);
    }
    const char *maps[] = {"events", "notifications"};
    for (size_t m = 0; m < 2; m++) {
        const json_t *obj = json_object_get(content, maps[m]);
        if (!obj || (m == 1 && !rv->limit_notifications_pl)) continue;
        if (!json_is_object(obj)) return hs_auth__fail(rv, res, HS_AUTH_PL_MAP_NOT_INTEGER, "%s", maps[m]);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)obj, k, v) {
            if (!hs_auth_parse_level(rv, v, &x))
                return hs_auth__fail(rv, res, HS_AUTH_PL_MAP_NOT_INTEGER, "%s.%s", maps[m], k);
        }
    }
    const json_t *users = json_object_get(content, "users");
    if (users) {
        if (!json_is_object(users)) return hs_auth__fail(rv, res, HS_AUTH_PL_USERS_INVALID, "not an object");
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)users, k, v) {
            if (!hs_auth__valid_user_id(k)) return hs_auth__fail(rv, res, HS_AUTH_PL_USERS_INVALID, "key %s", k);
            if (!hs_auth_parse_level(rv, v, &x))
                return hs_auth__fail(rv, res, HS_AUTH_PL_USERS_INVALID, "value of %s", k);
            if (rv->creators_infinite_power && hs_auth__is_creator(rv, create, k))
                return hs_auth__fail(rv, res, HS_AUTH_PL_USERS_HAS_CREATOR, "%s", k);
        }
    }
    return HS_AUTH_OK;
}

/* Reads key from obj as a level; false when absent (an unparseable old value counts as
 * absent: it was accepted once, and refusing every later change would wedge the room). */
static bool level_of(const hs_room_version *rv, const json_t *obj, const char *key, long long *out)
{
    return hs_auth_parse_level(rv, json_object_get(obj, key), out);
}

/* Rules 7 and 8 (v12 numbering) for one map ("events" or "notifications"). `removed`
 * selects the pass: entries changed or removed (old value checked), else entries added or
 * changed (new value checked). */
static hs_auth_rule check_map(const hs_room_version *rv, const json_t *old, const json_t *neu,
                              const char *name, long long level, bool removed, hs_auth_result *res)
{
    const json_t *from = removed ? old : neu, *other = removed ? neu : old;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)from, k, v) {
        long long a, b;
        if (!hs_auth_parse_level(rv, v, &a)) continue;
        bool changed = !level_of(rv, other, k, &b) || a != b;
        if (changed && a > level)
            return hs_auth__fail(rv, res, removed ? HS_AUTH_PL_MAP_OLD_ABOVE_SENDER : HS_AUTH_PL_MAP_NEW_ABOVE_SENDER,
                                 "%s.%s = %lld > %lld", name, k, a, level);
    }
    return HS_AUTH_OK;
}

hs_auth_rule hs_auth__power_levels(const hs_room_version *rv, const json_t *event,
                                   const hs_auth_state *state, hs_auth_result *res)
{
    const json_t *neu = json_object_get(event, "content");
    hs_auth_entry create;
    hs_auth__get(state, "m.room.create", "", &create);
    hs_auth_rule r = check_shape(rv, neu, create.pdu, res);
    if (r != HS_AUTH_OK) return r;

    const json_t *old = hs_auth__content(state, "m.room.power_levels", "");
    if (!old) return HS_AUTH_OK;

    const char *sender = hs_auth__str(event, "sender");
    long long level = hs_auth_user_level(rv, state, sender);

    for (size_t i = 0; i < N_TOP; i++) {
        long long a = 0, b = 0;
        bool ha = level_of(rv, old, top_keys[i], &a), hb = level_of(rv, neu, top_keys[i], &b);
        if (ha == hb && a == b) continue;
        if ((ha && a > level) || (hb && b > level))
            return hs_auth__fail(rv, res, HS_AUTH_PL_DEFAULTS_ABOVE_SENDER, "%s: %s%lld -> %s%lld, sender %lld",
                                 top_keys[i], ha ? "" : "(absent) ", a, hb ? "" : "(absent) ", b, level);
    }

    const char *maps[] = {"events", "notifications"};
    size_t n_maps = rv->limit_notifications_pl ? 2 : 1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t m = 0; m < n_maps; m++) {
            r = check_map(rv, json_object_get(old, maps[m]), json_object_get(neu, maps[m]), maps[m], level,
                          pass == 0, res);
            if (r != HS_AUTH_OK) return r;
        }
    }

    const json_t *ou = json_object_get(old, "users"), *nu = json_object_get(neu, "users");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)ou, k, v) {
        long long a, b;
        if (strcmp(k, sender) == 0 || !hs_auth_parse_level(rv, v, &a)) continue;
        bool changed = !level_of(rv, nu, k, &b) || a != b;
        if (changed && a >= level)
            return hs_auth__fail(rv, res, HS_AUTH_PL_USER_OLD_NOT_BELOW_SENDER, "%s at %lld, sender %lld", k, a, level);
    }
    json_object_foreach((json_t *)nu, k, v) {
        long long a, b;
        if (!hs_auth_parse_level(rv, v, &b)) continue;
        bool changed = !level_of(rv, ou, k, &a) || a != b;
        if (changed && b > level)
            return hs_auth__fail(rv, res, HS_AUTH_PL_USER_NEW_ABOVE_SENDER, "%s to %lld, sender %lld", k, b, level);
    }
    return HS_AUTH_OK;
}
