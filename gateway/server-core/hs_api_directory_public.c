/* hs_api_directory_public: the public room list, GET and POST /publicRooms (spec v1.12
 * "Listing rooms"). GET needs no access token (the spec's rule; Synapse's default asks
 * for one); POST needs one, as the spec says.
 *
 * Order and paging: rooms published with visibility "public" are sorted by joined
 * member count (descending), then room ID, after the filter is applied. Batch tokens are
 * offsets into that order written "p<N>"; a room published or joined between two pages
 * can shift the order by one entry, the same approximation Synapse's tokens make. The
 * filter's generic_search_term matches (ASCII case-insensitively) a substring of the
 * name, topic or canonical alias; room_types keeps rooms whose type is listed (null
 * stands for rooms without a type). Only this server's rooms: a `server` other than ours
 * is 404 M_NOT_FOUND until federation asks other servers. A page holds at most
 * PUBLIC_ROOMS_MAX_LIMIT rooms, also when the client sets no limit (GET needs no token),
 * and a filter lists at most ROOM_TYPES_MAX room types. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_directory.h"
#include "server-core/hs_directory.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_directory.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_clock.h"

#define PUBLIC_ROOMS_TOKEN_MAX 24
#define SEARCH_TERM_MAX 512
#define PUBLIC_ROOMS_MAX_LIMIT 100
#define ROOM_TYPES_MAX 16

/* The request after parsing; strings borrowed from the request. */
typedef struct list_query {
    long limit;               /* 0..PUBLIC_ROOMS_MAX_LIMIT */
    long offset;
    const char *term;         /* NULL: no search */
    const json_t *room_types; /* NULL: any type */
} list_query;

/* Parses a batch token "p<N>". Returns 0 or -1. */
static int parse_token(const char *t, long *out)
{
    if (!t || t[0] != 'p' || !isdigit((unsigned char)t[1]) || strlen(t) > PUBLIC_ROOMS_TOKEN_MAX) return -1;
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

static bool matches(const json_t *room, const list_query *q)
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

static void answer_list(hs_server *srv, const list_query *q, hs_response *resp)
{
    json_t *all = hs_directory_public_rooms(srv->store);
    json_t **rooms = all ? calloc(json_array_size(all) + 1, sizeof *rooms) : NULL;
    if (!rooms) {
        json_decref(all);
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room directory");
        return;
    }
    size_t kept = 0, idx;
    json_t *r;
    json_array_foreach(all, idx, r) {
        if (matches(r, q)) rooms[kept++] = json_incref(r);
    }
    json_decref(all);
    qsort(rooms, kept, sizeof *rooms, by_members_then_id);
    size_t from = (size_t)q->offset < kept ? (size_t)q->offset : kept;
    size_t to = (size_t)q->limit > kept - from ? kept : from + (size_t)q->limit;
    json_t *chunk = json_array();
    for (size_t i = 0; i < kept; i++) {
        if (i >= from && i < to) json_array_append(chunk, rooms[i]);
        json_decref(rooms[i]);
    }
    free(rooms);
    json_t *out = json_pack("{so, sI}", "chunk", chunk, "total_room_count_estimate", (json_int_t)kept);
    char tok[PUBLIC_ROOMS_TOKEN_MAX + 2];
    if (to < kept) {
        snprintf(tok, sizeof tok, "p%zu", to);
        json_object_set_new(out, "next_batch", json_string(tok));
    }
    if (from > 0) {
        snprintf(tok, sizeof tok, "p%zu", from > (size_t)q->limit ? from - (size_t)q->limit : 0);
        json_object_set_new(out, "prev_batch", json_string(tok));
    }
    hs_response_json(resp, 200, out);
}

/* Rejects a `server` that is not ours. Returns 0 or -1 after answering. */
static int check_server(hs_server *srv, const char *server, hs_response *resp)
{
    if (server && server[0] && strcmp(server, srv->cfg.server_name) != 0) {
        hs_response_error(resp, 404, "M_NOT_FOUND", "room directories of other servers are not available yet");
        return -1;
    }
    return 0;
}

static void public_rooms_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    if (check_server(srv, hs_request_query(req, "server"), resp) != 0) return;
    list_query q = {.limit = PUBLIC_ROOMS_MAX_LIMIT};
    const char *l = hs_request_query(req, "limit");
    if (l) {
        char *end;
        long v = strtol(l, &end, 10);
        if (end == l || *end || v < 0) {
            hs_response_error(resp, 400, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
            return;
        }
        if (v < q.limit) q.limit = v;
    }
    const char *since = hs_request_query(req, "since");
    if (since && parse_token(since, &q.offset) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'since' is not a token of this server");
        return;
    }
    answer_list(srv, &q, resp);
}

static void public_rooms_post(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), &who, resp) != 0) return;
    if (check_server(srv, hs_request_query(req, "server"), resp) != 0) return;
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    list_query q = {.limit = PUBLIC_ROOMS_MAX_LIMIT};
    json_t *limit = json_object_get(body, "limit");
    json_t *since = json_object_get(body, "since");
    json_t *filter = json_object_get(body, "filter");
    json_t *term = json_object_get(filter, "generic_search_term");
    json_t *types = json_object_get(filter, "room_types");
    if (limit && !json_is_null(limit) && (!json_is_integer(limit) || json_integer_value(limit) < 0)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'limit' must be a non-negative integer");
    } else if (since && !json_is_null(since) && parse_token(json_string_value(since), &q.offset) != 0) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'since' is not a token of this server");
    } else if (filter && !json_is_null(filter) && !json_is_object(filter)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'filter' must be an object");
    } else if (term && !json_is_null(term) && (!json_is_string(term) || json_string_length(term) > SEARCH_TERM_MAX)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'generic_search_term' must be a string of at most %d bytes",
                          SEARCH_TERM_MAX);
    } else if (types && !json_is_null(types) && (!json_is_array(types) || json_array_size(types) > ROOM_TYPES_MAX)) {
        hs_response_error(resp, 400, "M_BAD_JSON", "'room_types' must be an array of at most %d types", ROOM_TYPES_MAX);
    } else {
        if (json_is_integer(limit) && json_integer_value(limit) < q.limit) q.limit = (long)json_integer_value(limit);
        q.term = json_string_value(term);
        q.room_types = json_is_array(types) ? types : NULL;
        answer_list(srv, &q, resp);
    }
    json_decref(body);
}

int hs_api_directory_public_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/publicRooms", public_rooms_get},
        {"POST", "/publicRooms", public_rooms_post},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
