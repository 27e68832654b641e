/* hs_directory: alias rules, directory edit permission and public room summaries (see
 * hs_directory.h). Room state is read from the store's current state without the room
 * lock, so a listing may mix state from just before and just after a concurrent send
 * (harmless for a listing). The /publicRooms listing reads every published room's
 * summary per request (two queries) and sorts in memory: directories are small. */
#include "server-core/hs_directory.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_store_accounts.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_rooms.h"

bool hs_directory_alias_is_local(const char *alias, const char *server_name)
{
    if (!alias || !hs_is_valid_room_alias(alias)) return false;
    const char *server = hs_id_server_name(alias);
    return server && strcmp(server, server_name) == 0;
}

int hs_directory_alias_from_name(const char *localpart, const char *server_name, char *out, size_t cap)
{
    if (!localpart[0] || strchr(localpart, ':')) return -1;
    for (const char *p = localpart; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f) return -1;
    int n = snprintf(out, cap, "#%s:%s", localpart, server_name);
    if (n < 0 || (size_t)n >= cap) return -1;
    return hs_is_valid_room_alias(out) ? 0 : -1;
}

/* The current state event at (type, state_key) as a parsed PDU (caller decrefs) with its
 * event ID copied into *event_id when non-NULL (caller frees). Returns 0, 1 when the
 * state has none, -1 on error. */
static int state_pdu(hs_store *st, const char *room_id, const char *type, const char *state_key, json_t **pdu,
                     char **event_id)
{
    char *id = NULL;
    int rc = hs_store_state_get(st, room_id, type, state_key, &id);
    if (rc != 0) return rc;
    hs_store_event ev;
    rc = hs_store_event_get(st, id, &ev);
    if (rc != 0) {
        free(id);
        return -1;
    }
    *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&ev);
    if (!*pdu) {
        free(id);
        return -1;
    }
    if (event_id) *event_id = id;
    else free(id);
    return 0;
}

/* Puts the room's state event at (type, "") into the map. Returns 0 (also when absent)
 * or -1. */
static int map_put_state(hs_store *st, const char *room_id, const char *type, hs_auth_map *map)
{
    json_t *pdu = NULL;
    char *id = NULL;
    int rc = state_pdu(st, room_id, type, "", &pdu, &id);
    if (rc == 1) return 0;
    if (rc < 0) return -1;
    rc = hs_auth_map_put(map, pdu, id);
    json_decref(pdu);
    free(id);
    return rc == 0 ? 0 : -1;
}

/* The power level needed to send an m.room.canonical_alias state event: events[type],
 * else state_default (50 when the room has power levels; 0 when it has none). */
static long long canonical_alias_level(const hs_room_version *rv, hs_auth_map *map)
{
    hs_auth_entry pl;
    if (!hs_auth_map_get(map, "m.room.power_levels", "", &pl)) return 0;
    const json_t *content = hs_pdu_content(pl.pdu);
    long long level = 50;
    json_t *v = json_object_get(json_object_get(content, "events"), "m.room.canonical_alias");
    if (!v || !hs_auth_parse_level(rv, v, &level)) {
        json_t *d = json_object_get(content, "state_default");
        if (!d || !hs_auth_parse_level(rv, d, &level)) level = 50;
    }
    return level;
}

int hs_directory_can_edit(hs_store *st, const char *room_id, const char *user_id, bool *allowed)
{
    *allowed = false;
    char version[HS_STORE_ROOM_VERSION_MAX], membership[32];
    int rc = hs_store_room_get(st, room_id, version);
    if (rc != 0) return rc;
    const hs_room_version *rv = hs_room_version_get(version);
    if (!rv) return -1;
    hs_store_user u;
    rc = hs_store_user_get(st, user_id, &u);
    if (rc < 0) return -1;
    if (rc == 0 && u.admin && !u.deactivated) {
        *allowed = true;
        return 0;
    }
    if (hs_store_membership(st, room_id, user_id, membership) != 0) return -1;
    if (strcmp(membership, "join") != 0) return 0;
    hs_auth_map *map = hs_auth_map_new();
    if (!map) return -1;
    int ret = -1;
    if (map_put_state(st, room_id, "m.room.create", map) == 0 &&
        map_put_state(st, room_id, "m.room.power_levels", map) == 0) {
        hs_auth_state state = hs_auth_map_state(map);
        *allowed = hs_auth_user_level(rv, &state, user_id) >= canonical_alias_level(rv, map);
        ret = 0;
    }
    hs_auth_map_free(map);
    return ret;
}

/* content[key] of the room's (type, "") state as a string, or NULL. `keep` holds the
 * parsed PDU so the returned pointer stays valid; *failed is set on a database error. */
static const char *state_string(hs_store *st, const char *room_id, const char *type, const char *key, json_t **keep,
                                bool *failed)
{
    *keep = NULL;
    int rc = state_pdu(st, room_id, type, "", keep, NULL);
    if (rc < 0) *failed = true;
    if (rc != 0) return NULL;
    return json_string_value(json_object_get(hs_pdu_content(*keep), key));
}

/* Where each state event type's content goes in a directory entry. */
static const struct {
    const char *type, *key, *field;
} summary_fields[] = {
    {"m.room.name", "name", "name"},
    {"m.room.topic", "topic", "topic"},
    {"m.room.canonical_alias", "alias", "canonical_alias"},
    {"m.room.avatar", "url", "avatar_url"},
    {"m.room.create", "type", "room_type"},
    {"m.room.join_rules", "join_rule", "join_rule"},
    {"m.room.history_visibility", "history_visibility", NULL},
    {"m.room.guest_access", "guest_access", NULL},
};
#define N_SUMMARY_FIELDS (sizeof summary_fields / sizeof summary_fields[0])

typedef struct summaries {
    json_t *list;    /* the entries, in room ID order */
    json_t *by_id;   /* room ID -> the same entry objects */
} summaries;

static int add_room(void *ctx, const char *room_id, int64_t joined)
{
    summaries *s = ctx;
    json_t *entry = json_pack("{ss, sI, sb, sb}", "room_id", room_id, "num_joined_members", (json_int_t)joined,
                              "world_readable", 0, "guest_can_join", 0);
    if (!entry) return -1;
    json_object_set(s->by_id, room_id, entry);
    json_array_append_new(s->list, entry);
    return 0;
}

static int add_state(void *ctx, const char *room_id, const char *type, const char *content_json)
{
    summaries *s = ctx;
    json_t *entry = json_object_get(s->by_id, room_id);
    json_t *content = json_loads(content_json, JSON_ALLOW_NUL, NULL);
    for (size_t i = 0; entry && i < N_SUMMARY_FIELDS; i++) {
        if (strcmp(summary_fields[i].type, type) != 0) continue;
        const char *v = json_string_value(json_object_get(content, summary_fields[i].key));
        if (!v) break;
        if (summary_fields[i].field) {
            if (v[0]) json_object_set_new(entry, summary_fields[i].field, json_string(v));
        } else if (strcmp(type, "m.room.history_visibility") == 0) {
            json_object_set_new(entry, "world_readable", json_boolean(strcmp(v, "world_readable") == 0));
        } else {
            json_object_set_new(entry, "guest_can_join", json_boolean(strcmp(v, "can_join") == 0));
        }
        break;
    }
    json_decref(content);
    return 0;
}

json_t *hs_directory_public_rooms(hs_store *st)
{
    const char *types[N_SUMMARY_FIELDS];
    for (size_t i = 0; i < N_SUMMARY_FIELDS; i++) types[i] = summary_fields[i].type;
    summaries s = {json_array(), json_object()};
    int rc = hs_store_public_rooms_scan(st, types, N_SUMMARY_FIELDS, add_room, add_state, &s);
    json_decref(s.by_id);
    if (rc != 0) {
        json_decref(s.list);
        return NULL;
    }
    return s.list;
}

int hs_directory_world_readable(hs_store *st, const char *room_id, bool *out)
{
    bool failed = false;
    json_t *keep;
    const char *hv = state_string(st, room_id, "m.room.history_visibility", "history_visibility", &keep, &failed);
    *out = hv && strcmp(hv, "world_readable") == 0;
    json_decref(keep);
    return failed ? -1 : 0;
}

#define TOKEN_MAX 24 /* "p" and a long's digits */

static int refuse(hs_directory_error *e, const char *errcode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(hs_directory_error *e, const char *errcode, const char *fmt, ...)
{
    e->errcode = errcode;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* The checks both request forms share once their fields are typed. */
static int check_common(const hs_directory_query *q, hs_directory_error *e)
{
    if (q->since && strlen(q->since) > HS_DIRECTORY_SINCE_MAX)
        return refuse(e, "M_INVALID_PARAM", "'since' is longer than %d bytes", HS_DIRECTORY_SINCE_MAX);
    if (q->include_all_networks && q->third_party_instance_id)
        return refuse(e, "M_INVALID_PARAM", "can't use include_all_networks with an explicit network");
    return 0;
}

int hs_directory_query_from_params(const char *limit, const char *since, const char *include_all_networks,
                                   const char *third_party_instance_id, hs_directory_query *q,
                                   hs_directory_error *e)
{
    *q = (hs_directory_query){.limit = -1, .since = since, .third_party_instance_id = third_party_instance_id};
    if (limit) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (end == limit || *end || v < 0)
            return refuse(e, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
        q->limit = v == 0 ? -1 : v > HS_DIRECTORY_PAGE_MAX ? HS_DIRECTORY_PAGE_MAX : v;
    }
    if (include_all_networks) {
        if (strcmp(include_all_networks, "true") == 0) q->include_all_networks = true;
        else if (strcmp(include_all_networks, "false") != 0)
            return refuse(e, "M_INVALID_PARAM", "'include_all_networks' must be true or false");
    }
    return check_common(q, e);
}

int hs_directory_query_from_body(const json_t *body, hs_directory_query *q, hs_directory_error *e)
{
    *q = (hs_directory_query){.limit = -1};
    if (!json_is_object(body)) return refuse(e, "M_BAD_JSON", "the body must be an object");
    json_t *limit = json_object_get(body, "limit");
    json_t *since = json_object_get(body, "since");
    json_t *filter = json_object_get(body, "filter");
    json_t *term = json_object_get(filter, "generic_search_term");
    json_t *types = json_object_get(filter, "room_types");
    json_t *all = json_object_get(body, "include_all_networks");
    json_t *tpid = json_object_get(body, "third_party_instance_id");
    if (limit && !json_is_null(limit) && (!json_is_integer(limit) || json_integer_value(limit) < 0))
        return refuse(e, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
    if (since && !json_is_null(since) && !json_is_string(since))
        return refuse(e, "M_INVALID_PARAM", "'since' must be a string");
    if (filter && !json_is_null(filter) && !json_is_object(filter))
        return refuse(e, "M_BAD_JSON", "'filter' must be an object");
    if (term && !json_is_null(term) && (!json_is_string(term) || json_string_length(term) > HS_DIRECTORY_TERM_MAX))
        return refuse(e, "M_INVALID_PARAM", "'generic_search_term' must be a string of at most %d bytes",
                      HS_DIRECTORY_TERM_MAX);
    if (types && !json_is_null(types) &&
        (!json_is_array(types) || json_array_size(types) > HS_DIRECTORY_ROOM_TYPES_MAX))
        return refuse(e, "M_BAD_JSON", "'room_types' must be an array of at most %d types",
                      HS_DIRECTORY_ROOM_TYPES_MAX);
    if (all && !json_is_null(all) && !json_is_boolean(all))
        return refuse(e, "M_BAD_JSON", "'include_all_networks' must be a boolean");
    if (tpid && !json_is_null(tpid) && !json_is_string(tpid))
        return refuse(e, "M_BAD_JSON", "'third_party_instance_id' must be a string");
    if (json_is_integer(limit) && json_integer_value(limit) > 0)
        q->limit = json_integer_value(limit) > HS_DIRECTORY_PAGE_MAX ? HS_DIRECTORY_PAGE_MAX
                                                                     : (long)json_integer_value(limit);
    q->since = json_string_value(since);
    q->term = json_string_value(term);
    q->room_types = json_is_array(types) ? types : NULL;
    q->include_all_networks = json_is_true(all);
    q->third_party_instance_id = json_string_value(tpid);
    return check_common(q, e);
}

/* Parses a batch token "p<N>". Returns 0 or -1. */
static int parse_token(const char *t, long *out)
{
    if (!t || t[0] != 'p' || !isdigit((unsigned char)t[1]) || strlen(t) > TOKEN_MAX) return -1;
    char *end;
    long v = strtol(t + 1, &end, 10);
    if (*end || v < 0) return -1;
    *out = v;
    return 0;
}

/* ASCII case-insensitive substring test. */
static bool contains_ci(const char *hay, const char *needle)
{
    if (!hay) return false;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return n == 0;
}

bool hs_directory_entry_matches(const json_t *room, const hs_directory_query *q)
{
    if (q->term && q->term[0]) {
        bool hit = false;
        static const char *const keys[] = {"name", "topic", "canonical_alias"};
        for (size_t i = 0; i < 3 && !hit; i++)
            hit = contains_ci(json_string_value(json_object_get(room, keys[i])), q->term);
        if (!hit) return false;
    }
    if (q->room_types) {
        const char *type = json_string_value(json_object_get(room, "room_type"));
        size_t i;
        json_t *t;
        json_array_foreach(q->room_types, i, t) {
            if (json_is_null(t) ? !type : type && json_is_string(t) && strcmp(json_string_value(t), type) == 0)
                return true;
        }
        return false;
    }
    return true;
}

static int by_members_then_id(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t mx = json_integer_value(json_object_get(x, "num_joined_members"));
    json_int_t my = json_integer_value(json_object_get(y, "num_joined_members"));
    if (mx != my) return mx > my ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "room_id")), json_string_value(json_object_get(y, "room_id")));
}

int hs_directory_public_list(hs_store *st, const hs_directory_query *q, json_t **out)
{
    long offset = 0;
    if (q->since && parse_token(q->since, &offset) != 0) return 1;
    size_t limit = q->limit < 0 || q->limit > HS_DIRECTORY_PAGE_MAX ? HS_DIRECTORY_PAGE_MAX : (size_t)q->limit;
    bool other_network = q->third_party_instance_id && !q->include_all_networks;
    json_t *all = other_network ? json_array() : hs_directory_public_rooms(st);
    json_t **rooms = all ? calloc(json_array_size(all) + 1, sizeof *rooms) : NULL;
    if (!rooms) {
        json_decref(all);
        return -1;
    }
    size_t kept = 0, idx;
    json_t *r;
    json_array_foreach(all, idx, r) {
        if (hs_directory_entry_matches(r, q)) rooms[kept++] = json_incref(r);
    }
    json_decref(all);
    qsort(rooms, kept, sizeof *rooms, by_members_then_id);
    size_t from = (size_t)offset < kept ? (size_t)offset : kept;
    size_t to = limit > kept - from ? kept : from + limit;
    json_t *chunk = json_array();
    for (size_t i = 0; i < kept; i++) {
        if (i >= from && i < to) json_array_append(chunk, rooms[i]);
        json_decref(rooms[i]);
    }
    free(rooms);
    *out = json_pack("{so, sI}", "chunk", chunk, "total_room_count_estimate", (json_int_t)kept);
    if (!*out) return -1;
    char tok[TOKEN_MAX + 2];
    if (to < kept) {
        snprintf(tok, sizeof tok, "p%zu", to);
        json_object_set_new(*out, "next_batch", json_string(tok));
    }
    if (from > 0) {
        snprintf(tok, sizeof tok, "p%zu", from > limit ? from - limit : 0);
        json_object_set_new(*out, "prev_batch", json_string(tok));
    }
    return 0;
}
