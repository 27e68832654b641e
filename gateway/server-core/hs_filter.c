/* hs_filter: validation walks the JSON once and keeps borrowed pointers to the lists,
 * so matching needs no copies. Wildcard matching is iterative with one backtrack point
 * (the classic glob algorithm), linear-ish in practice and never recursive, so a
 * hostile pattern cannot blow the stack. */
#include "server-core/hs_filter.h"

#include <stdio.h>
#include <string.h>

void hs_filter_init(hs_filter *f)
{
    memset(f, 0, sizeof *f);
    hs_event_filter *all[] = {&f->presence, &f->account_data, &f->timeline, &f->state, &f->ephemeral,
                              &f->room_account_data};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) all[i]->contains_url = -1;
}

void hs_filter_clear(hs_filter *f)
{
    json_decref(f->root);
    hs_filter_init(f);
}

/* A list field: absent is fine; present must be an array of at most
 * HS_FILTER_MAX_LIST strings. */
static int get_list(const json_t *obj, const char *key, const char *where, const json_t **out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_array(v) || json_array_size(v) > HS_FILTER_MAX_LIST) {
        snprintf(err, errlen, "%s%s must be an array of at most %d strings", where, key, HS_FILTER_MAX_LIST);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            snprintf(err, errlen, "%s%s[%zu] must be a string", where, key, i);
            return -1;
        }
    }
    *out = v;
    return 0;
}

static int get_bool(const json_t *obj, const char *key, const char *where, bool *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "%s%s must be a boolean", where, key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

/* One event filter at obj[key] ("where" prefixes error messages, e.g. "room.timeline."). */
static int parse_event_filter(const json_t *parent, const char *key, const char *where, bool room_filter,
                              hs_event_filter *ef, char *err, size_t errlen)
{
    const json_t *obj = json_object_get(parent, key);
    if (!obj) return 0;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "%.*s must be an object", (int)strlen(where) - 1, where);
        return -1;
    }
    json_t *limit = json_object_get(obj, "limit");
    if (limit) {
        if (!json_is_integer(limit) || json_integer_value(limit) < 1) {
            snprintf(err, errlen, "%slimit must be a positive integer", where);
            return -1;
        }
        json_int_t l = json_integer_value(limit);
        ef->limit = l > 1000000 ? 1000000 : (long)l;
    }
    if (get_list(obj, "types", where, &ef->types, err, errlen) != 0 ||
        get_list(obj, "not_types", where, &ef->not_types, err, errlen) != 0 ||
        get_list(obj, "senders", where, &ef->senders, err, errlen) != 0 ||
        get_list(obj, "not_senders", where, &ef->not_senders, err, errlen) != 0)
        return -1;
    if (!room_filter) return 0;
    if (get_list(obj, "rooms", where, &ef->rooms, err, errlen) != 0 ||
        get_list(obj, "not_rooms", where, &ef->not_rooms, err, errlen) != 0 ||
        get_bool(obj, "lazy_load_members", where, &ef->lazy_load_members, err, errlen) != 0 ||
        get_bool(obj, "include_redundant_members", where, &ef->include_redundant_members, err, errlen) != 0)
        return -1;
    json_t *cu = json_object_get(obj, "contains_url");
    if (cu) {
        if (!json_is_boolean(cu)) {
            snprintf(err, errlen, "%scontains_url must be a boolean", where);
            return -1;
        }
        ef->contains_url = json_is_true(cu) ? 1 : 0;
    }
    return 0;
}

static int validate(json_t *obj, hs_filter *f, char *err, size_t errlen)
{
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "a filter must be a JSON object");
        return -1;
    }
    const json_t *fields;
    if (get_list(obj, "event_fields", "", &fields, err, errlen) != 0) return -1;
    json_t *format = json_object_get(obj, "event_format");
    if (format && (!json_is_string(format) || (strcmp(json_string_value(format), "client") != 0 &&
                                               strcmp(json_string_value(format), "federation") != 0))) {
        snprintf(err, errlen, "event_format must be \"client\" or \"federation\"");
        return -1;
    }
    if (parse_event_filter(obj, "presence", "presence.", false, &f->presence, err, errlen) != 0 ||
        parse_event_filter(obj, "account_data", "account_data.", false, &f->account_data, err, errlen) != 0)
        return -1;
    json_t *room = json_object_get(obj, "room");
    if (!room) return 0;
    if (!json_is_object(room)) {
        snprintf(err, errlen, "room must be an object");
        return -1;
    }
    if (get_list(room, "rooms", "room.", &f->rooms, err, errlen) != 0 ||
        get_list(room, "not_rooms", "room.", &f->not_rooms, err, errlen) != 0 ||
        get_bool(room, "include_leave", "room.", &f->include_leave, err, errlen) != 0)
        return -1;
    if (parse_event_filter(room, "timeline", "room.timeline.", true, &f->timeline, err, errlen) != 0 ||
        parse_event_filter(room, "state", "room.state.", true, &f->state, err, errlen) != 0 ||
        parse_event_filter(room, "ephemeral", "room.ephemeral.", true, &f->ephemeral, err, errlen) != 0 ||
        parse_event_filter(room, "account_data", "room.account_data.", true, &f->room_account_data, err, errlen) !=
            0)
        return -1;
    return 0;
}

int hs_filter_from_json(json_t *obj, hs_filter *f, char *err, size_t errlen)
{
    hs_filter_init(f);
    if (validate(obj, f, err, errlen) != 0) {
        hs_filter_init(f);
        return -1;
    }
    f->root = json_incref(obj);
    return 0;
}

int hs_filter_parse(const char *json, size_t len, hs_filter *f, char *err, size_t errlen)
{
    hs_filter_init(f);
    if (len > HS_FILTER_MAX_BYTES) {
        snprintf(err, errlen, "filter is larger than %d bytes", HS_FILTER_MAX_BYTES);
        return -1;
    }
    json_error_t jerr;
    json_t *obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        snprintf(err, errlen, "filter is not valid JSON: %s", jerr.text);
        return -1;
    }
    int rc = hs_filter_from_json(obj, f, err, errlen);
    json_decref(obj);
    return rc;
}

bool hs_filter_type_matches(const char *pattern, const char *type)
{
    const char *p = pattern, *t = type, *star = NULL, *resume = NULL;
    while (*t) {
        if (*p == '*') {
            star = p++;
            resume = t;
        } else if (*p == *t) {
            p++;
            t++;
        } else if (star) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*') p++;
    return *p == 0;
}

static bool list_has(const json_t *list, const char *value, bool wildcard)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *s = json_string_value(e);
        if (wildcard ? hs_filter_type_matches(s, value) : strcmp(s, value) == 0) return true;
    }
    return false;
}

bool hs_filter_event_allowed(const hs_event_filter *ef, const char *type, const char *sender, const char *room_id,
                             const json_t *content)
{
    if (type) {
        if (ef->not_types && list_has(ef->not_types, type, true)) return false;
        if (ef->types && !list_has(ef->types, type, true)) return false;
    }
    if (sender) {
        if (ef->not_senders && list_has(ef->not_senders, sender, false)) return false;
        if (ef->senders && !list_has(ef->senders, sender, false)) return false;
    }
    if (room_id) {
        if (ef->not_rooms && list_has(ef->not_rooms, room_id, false)) return false;
        if (ef->rooms && !list_has(ef->rooms, room_id, false)) return false;
    }
    if (ef->contains_url >= 0) {
        bool has_url = json_is_string(json_object_get(content, "url"));
        if (has_url != (ef->contains_url == 1)) return false;
    }
    return true;
}

bool hs_filter_room_allowed(const hs_filter *f, const char *room_id)
{
    if (f->not_rooms && list_has(f->not_rooms, room_id, false)) return false;
    if (f->rooms && !list_has(f->rooms, room_id, false)) return false;
    return true;
}

long hs_filter_limit(const hs_event_filter *ef, long dflt, long max)
{
    long l = ef->limit > 0 ? ef->limit : dflt;
    if (l < 1) l = 1;
    return l > max ? max : l;
}
