/* hs_filter: validation walks the JSON once, keeps borrowed pointers to the lists and
 * compiles each list into an hs_filter_set: plain entries become keys of a JSON object
 * (a hash set), and the few wildcard entries of types / not_types are kept aside and
 * matched by hs_filter_type_matches, which looks for each part between stars leftmost
 * with memmem (glibc's two-way search, linear) - correct for globs whose only wildcard
 * is '*', and never backtracking, so no pattern costs more than its length plus the
 * type's. */
#include "server-core/hs_filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_filter_set {
    json_t *exact;        /* entries without wildcards, as keys */
    size_t n_wild;
    const char *wild[HS_FILTER_MAX_WILDCARDS]; /* borrowed from the filter's root */
};

static void set_free(hs_filter_set *s)
{
    if (!s) return;
    json_decref(s->exact);
    free(s);
}

static void free_sets(hs_filter *f)
{
    hs_event_filter *all[] = {&f->presence, &f->account_data, &f->timeline, &f->state, &f->ephemeral,
                              &f->room_account_data};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        hs_event_filter *ef = all[i];
        hs_filter_set *sets[] = {ef->types_set,   ef->not_types_set, ef->senders_set,
                                 ef->not_senders_set, ef->rooms_set, ef->not_rooms_set};
        for (size_t j = 0; j < sizeof sets / sizeof sets[0]; j++) set_free(sets[j]);
    }
    set_free(f->rooms_set);
    set_free(f->not_rooms_set);
}

void hs_filter_init(hs_filter *f)
{
    memset(f, 0, sizeof *f);
    hs_event_filter *all[] = {&f->presence, &f->account_data, &f->timeline, &f->state, &f->ephemeral,
                              &f->room_account_data};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) all[i]->contains_url = -1;
}

void hs_filter_clear(hs_filter *f)
{
    free_sets(f);
    json_decref(f->root);
    hs_filter_init(f);
}

/* A list field: absent is fine; present must be an array of at most
 * HS_FILTER_MAX_LIST strings, compiled into *set. `patterns` marks a types / not_types
 * list: entries with '*' are wildcards (at most HS_FILTER_MAX_WILDCARDS) and every entry
 * is at most HS_FILTER_MAX_PATTERN_BYTES long. */
static int get_list(const json_t *obj, const char *key, const char *where, bool patterns, const json_t **out,
                    hs_filter_set **set, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_array(v) || json_array_size(v) > HS_FILTER_MAX_LIST) {
        snprintf(err, errlen, "%s%s must be an array of at most %d strings", where, key, HS_FILTER_MAX_LIST);
        return -1;
    }
    hs_filter_set *s = calloc(1, sizeof *s);
    if (!s || !(s->exact = json_object())) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            snprintf(err, errlen, "%s%s[%zu] must be a string", where, key, i);
            goto fail;
        }
        const char *text = json_string_value(e);
        if (patterns && json_string_length(e) > HS_FILTER_MAX_PATTERN_BYTES) {
            snprintf(err, errlen, "%s%s[%zu] is longer than %d bytes", where, key, i, HS_FILTER_MAX_PATTERN_BYTES);
            goto fail;
        }
        if (patterns && strchr(text, '*')) {
            if (s->n_wild == HS_FILTER_MAX_WILDCARDS) {
                snprintf(err, errlen, "%s%s has more than %d entries with '*'", where, key, HS_FILTER_MAX_WILDCARDS);
                goto fail;
            }
            s->wild[s->n_wild++] = text;
        } else if (json_object_set(s->exact, text, json_true()) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    *out = v;
    *set = s;
    return 0;
fail:
    set_free(s);
    return -1;
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
    if (get_list(obj, "types", where, true, &ef->types, &ef->types_set, err, errlen) != 0 ||
        get_list(obj, "not_types", where, true, &ef->not_types, &ef->not_types_set, err, errlen) != 0 ||
        get_list(obj, "senders", where, false, &ef->senders, &ef->senders_set, err, errlen) != 0 ||
        get_list(obj, "not_senders", where, false, &ef->not_senders, &ef->not_senders_set, err, errlen) != 0)
        return -1;
    if (!room_filter) return 0;
    if (get_list(obj, "rooms", where, false, &ef->rooms, &ef->rooms_set, err, errlen) != 0 ||
        get_list(obj, "not_rooms", where, false, &ef->not_rooms, &ef->not_rooms_set, err, errlen) != 0 ||
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
    json_t *fields = json_object_get(obj, "event_fields");
    if (fields && (!json_is_array(fields) || json_array_size(fields) > HS_FILTER_MAX_LIST)) {
        snprintf(err, errlen, "event_fields must be an array of at most %d strings", HS_FILTER_MAX_LIST);
        return -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(fields, i, e) {
        if (!json_is_string(e)) {
            snprintf(err, errlen, "event_fields[%zu] must be a string", i);
            return -1;
        }
    }
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
    if (get_list(room, "rooms", "room.", false, &f->rooms, &f->rooms_set, err, errlen) != 0 ||
        get_list(room, "not_rooms", "room.", false, &f->not_rooms, &f->not_rooms_set, err, errlen) != 0 ||
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
        free_sets(f);
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
    size_t plen = strlen(pattern), tlen = strlen(type);
    const char *first = memchr(pattern, '*', plen);
    if (!first) return plen == tlen && memcmp(pattern, type, plen) == 0;
    const char *last = memrchr(pattern, '*', plen);
    size_t head = (size_t)(first - pattern), tail = plen - (size_t)(last - pattern) - 1;
    if (head + tail > tlen || memcmp(pattern, type, head) != 0 ||
        memcmp(last + 1, type + tlen - tail, tail) != 0)
        return false;
    /* The parts between the first and last star, each found leftmost after the one
     * before: taking the leftmost occurrence never rules out a match the rest allows. */
    const char *t = type + head, *t_end = type + tlen - tail;
    for (const char *part = first + 1; part < last;) {
        const char *star = memchr(part, '*', (size_t)(last - part) + 1);
        size_t n = (size_t)(star - part);
        if (n) {
            const char *hit = memmem(t, (size_t)(t_end - t), part, n);
            if (!hit) return false;
            t = hit + n;
        }
        part = star + 1;
    }
    return true;
}

static bool set_has(const hs_filter_set *s, const char *value)
{
    if (json_object_get(s->exact, value)) return true;
    for (size_t i = 0; i < s->n_wild; i++)
        if (hs_filter_type_matches(s->wild[i], value)) return true;
    return false;
}

bool hs_filter_event_allowed(const hs_event_filter *ef, const char *type, const char *sender, const char *room_id,
                             const json_t *content)
{
    if (type) {
        if (ef->not_types_set && set_has(ef->not_types_set, type)) return false;
        if (ef->types_set && !set_has(ef->types_set, type)) return false;
    }
    if (sender) {
        if (ef->not_senders_set && set_has(ef->not_senders_set, sender)) return false;
        if (ef->senders_set && !set_has(ef->senders_set, sender)) return false;
    }
    if (room_id) {
        if (ef->not_rooms_set && set_has(ef->not_rooms_set, room_id)) return false;
        if (ef->rooms_set && !set_has(ef->rooms_set, room_id)) return false;
    }
    if (ef->contains_url >= 0) {
        bool has_url = json_is_string(json_object_get(content, "url"));
        if (has_url != (ef->contains_url == 1)) return false;
    }
    return true;
}

bool hs_filter_room_allowed(const hs_filter *f, const char *room_id)
{
    if (f->not_rooms_set && set_has(f->not_rooms_set, room_id)) return false;
    if (f->rooms_set && !set_has(f->rooms_set, room_id)) return false;
    return true;
}

long hs_filter_limit(const hs_event_filter *ef, long dflt, long max)
{
    long l = ef->limit > 0 ? ef->limit : dflt;
    if (l < 1) l = 1;
    return l > max ? max : l;
}
