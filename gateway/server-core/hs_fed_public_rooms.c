/* hs_fed_public_rooms: /publicRooms between servers (see hs_fed_public_rooms.h). The
 * inbound side only parses and hands over to the listing the client API uses; the
 * outbound side builds the request, checks the answer and keeps a small cache. The
 * cache is a fixed array under one mutex: lookups are linear, which is cheaper than
 * anything cleverer at 32 entries. */
#include "server-core/hs_fed_public_rooms.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_api_directory.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_log.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_server.h"
#include "server-core/hs_strbuf.h"

#define FED_PATH "/_matrix/federation/v1/publicRooms"

/* ---- inbound --------------------------------------------------------------------- */

/* False (with the answer set) when the operator keeps the directory to our own users. */
static bool served_to_others(const hs_server *srv, const char *origin, hs_response *resp)
{
    if (srv->cfg.federation_public_rooms) return true;
    hs_response_error(resp, 403, "M_FORBIDDEN", "this server does not share its public room list with %.255s",
                      origin);
    return false;
}

static void fed_get(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    if (!served_to_others(srv, origin, resp)) return;
    hs_directory_query q;
    if (hs_api_directory_public_query(req, &q, resp) != 0) return;
    hs_api_directory_public_answer(srv, &q, resp);
}

static void fed_post(const hs_request *req, hs_response *resp, hs_server *srv, const char *origin)
{
    if (!served_to_others(srv, origin, resp)) return;
    char why[256];
    json_t *body = hs_request_json(req, why, sizeof why);
    if (!body) {
        hs_response_error(resp, 400, "M_NOT_JSON", "%s", why);
        return;
    }
    hs_directory_query q;
    hs_directory_error e;
    if (hs_directory_query_from_body(body, &q, &e) != 0) hs_response_error(resp, 400, e.errcode, "%s", e.msg);
    else hs_api_directory_public_answer(srv, &q, resp);
    json_decref(body);
}

int hs_fed_public_rooms_register(hs_server *srv)
{
    if (hs_fed_route(srv, "GET", FED_PATH, fed_get) != 0) return -1;
    return hs_fed_route(srv, "POST", FED_PATH, fed_post);
}

/* ---- validating an answer --------------------------------------------------------- */

static const char *const optional_strings[] = {"name",      "topic",     "avatar_url", "canonical_alias",
                                               "join_rule", "room_type"};

static bool short_string(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) <= HS_FED_PUBLIC_ROOMS_FIELD_MAX;
}

/* The spec's fields of one chunk entry, copied into a new object; NULL when the entry
 * is malformed. */
static json_t *clean_entry(const json_t *in)
{
    json_t *room_id = json_object_get(in, "room_id");
    json_t *members = json_object_get(in, "num_joined_members");
    json_t *wr = json_object_get(in, "world_readable");
    json_t *guests = json_object_get(in, "guest_can_join");
    if (!json_is_string(room_id) || !hs_is_valid_room_id(json_string_value(room_id), NULL)) return NULL;
    if (!json_is_integer(members) || json_integer_value(members) < 0) return NULL;
    if (!json_is_boolean(wr) || !json_is_boolean(guests)) return NULL;
    json_t *out = json_pack("{sO, sO, sO, sO}", "room_id", room_id, "num_joined_members", members, "world_readable",
                            wr, "guest_can_join", guests);
    if (!out) return NULL;
    for (size_t i = 0; i < sizeof optional_strings / sizeof optional_strings[0]; i++) {
        json_t *v = json_object_get(in, optional_strings[i]);
        if (!v || json_is_null(v)) continue;
        if (!short_string(v)) {
            json_decref(out);
            return NULL;
        }
        json_object_set(out, optional_strings[i], v);
    }
    return out;
}

json_t *hs_fed_public_rooms_parse(const char *body, size_t len, size_t *dropped, hs_err *err)
{
    if (dropped) *dropped = 0;
    if (len > HS_FED_PUBLIC_ROOMS_MAX_BYTES) {
        hs_err_set(err, "the answer is larger than %u bytes", HS_FED_PUBLIC_ROOMS_MAX_BYTES);
        return NULL;
    }
    json_error_t je;
    json_t *in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!in) {
        hs_err_set(err, "the answer is not JSON: %s", je.text);
        return NULL;
    }
    json_t *chunk = json_object_get(in, "chunk");
    if (!json_is_object(in) || !json_is_array(chunk)) {
        json_decref(in);
        hs_err_set(err, "the answer has no chunk array");
        return NULL;
    }
    json_t *rooms = json_array();
    size_t i, bad = 0;
    json_t *entry;
    json_array_foreach(chunk, i, entry) {
        if (json_array_size(rooms) == HS_FED_PUBLIC_ROOMS_MAX_CHUNK) break;
        json_t *clean = clean_entry(entry);
        if (clean) json_array_append_new(rooms, clean);
        else bad++;
    }
    json_t *out = json_pack("{so}", "chunk", rooms);
    static const char *const batches[] = {"next_batch", "prev_batch"};
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(in, batches[k]);
        if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= HS_DIRECTORY_SINCE_MAX)
            json_object_set(out, batches[k], v);
    }
    json_t *total = json_object_get(in, "total_room_count_estimate");
    if (json_is_integer(total) && json_integer_value(total) >= 0)
        json_object_set(out, "total_room_count_estimate", total);
    json_decref(in);
    if (dropped) *dropped = bad;
    return out;
}

/* ---- the cache ------------------------------------------------------------------- */

typedef struct cache_entry {
    char *key;       /* NULL: free slot */
    json_t *answer;
    int64_t stored_ms;
} cache_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_entry cache[HS_FED_PUBLIC_ROOMS_CACHE_ENTRIES];

/* A copy of the cached answer for key (new object), or NULL. */
static json_t *cache_get(const char *key, int64_t now_ms)
{
    json_t *hit = NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < HS_FED_PUBLIC_ROOMS_CACHE_ENTRIES && !hit; i++) {
        if (cache[i].key && strcmp(cache[i].key, key) == 0 && now_ms >= cache[i].stored_ms &&
            now_ms - cache[i].stored_ms < HS_FED_PUBLIC_ROOMS_CACHE_MS)
            hit = json_deep_copy(cache[i].answer);
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

/* Keeps a copy of answer under key, in the slot of the same key or else the oldest. */
static void cache_put(const char *key, const json_t *answer, int64_t now_ms)
{
    char *k = strdup(key);
    json_t *copy = json_deep_copy(answer);
    if (!k || !copy) {
        free(k);
        json_decref(copy);
        return;
    }
    pthread_mutex_lock(&cache_lock);
    size_t slot = 0;
    for (size_t i = 0; i < HS_FED_PUBLIC_ROOMS_CACHE_ENTRIES; i++) {
        if (cache[i].key && strcmp(cache[i].key, key) == 0) {
            slot = i;
            break;
        }
        if (!cache[i].key || (cache[slot].key && cache[i].stored_ms < cache[slot].stored_ms)) slot = i;
    }
    free(cache[slot].key);
    json_decref(cache[slot].answer);
    cache[slot] = (cache_entry){k, copy, now_ms};
    pthread_mutex_unlock(&cache_lock);
}

/* ---- asking another server ------------------------------------------------------- */

/* Appends "&name=value" (value percent-encoded); out of memory makes the buffer fail. */
static void add_param(hs_strbuf *b, const char *name, const char *value)
{
    char *v = hs_fed_pct_encode(value);
    if (v) hs_strbuf_printf(b, "&%s=%s", name, v);
    else b->oom = true;
    free(v);
}

/* The GET target for q (filter left out; limit and since only when `paged`). malloc'd,
 * NULL when out of memory. */
static char *get_target(const hs_directory_query *q, bool paged)
{
    hs_strbuf b = HS_STRBUF_INIT;
    hs_strbuf_printf(&b, FED_PATH "?include_all_networks=%s", q->include_all_networks ? "true" : "false");
    if (paged && q->limit > 0) hs_strbuf_printf(&b, "&limit=%ld", q->limit);
    if (paged && q->since) add_param(&b, "since", q->since);
    if (q->third_party_instance_id) add_param(&b, "third_party_instance_id", q->third_party_instance_id);
    return hs_strbuf_take(&b);
}

/* The POST body for q (Synapse's form: include_all_networks always, the rest when set). */
static json_t *post_body(const hs_directory_query *q)
{
    json_t *filter = json_object();
    if (q->term) json_object_set_new(filter, "generic_search_term", json_string(q->term));
    if (q->room_types) json_object_set_new(filter, "room_types", json_deep_copy(q->room_types));
    json_t *body = json_pack("{sb, so}", "include_all_networks", q->include_all_networks, "filter", filter);
    if (!body) return NULL;
    if (q->limit > 0) json_object_set_new(body, "limit", json_integer(q->limit));
    if (q->since) json_object_set_new(body, "since", json_string(q->since));
    if (q->third_party_instance_id)
        json_object_set_new(body, "third_party_instance_id", json_string(q->third_party_instance_id));
    return body;
}

typedef enum { ASK_OK, ASK_FORBIDDEN, ASK_UNKNOWN_ENDPOINT, ASK_FAILED } ask_result;

/* One request to `server`, its answer validated into *out (or from the cache). */
static ask_result ask(hs_server *srv, const char *server, const char *method, const char *target,
                      const json_t *content, json_t **out)
{
    char *dumped = content ? json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    hs_strbuf kb = HS_STRBUF_INIT;
    hs_strbuf_printf(&kb, "%s\n%s\n%s %s\n%s", srv->cfg.server_name, server, method, target, dumped ? dumped : "");
    free(dumped);
    char *key = hs_strbuf_take(&kb);
    if (!key) return ASK_FAILED;
    int64_t now = hs_fed_now_ms();
    *out = cache_get(key, now);
    if (*out) {
        free(key);
        return ASK_OK;
    }
    hs_fed_out req = {.destination = server, .method = method, .target = target, .content = content, .sign = true};
    hs_fed_reply reply = {0};
    hs_err err = {{0}};
    ask_result res = ASK_FAILED;
    if (hs_fed_send(srv, &req, &reply, &err) != 0) {
        hs_warn("fed", "publicRooms of %s: %s", server, err.msg);
    } else if (reply.status == 200) {
        size_t dropped;
        *out = hs_fed_public_rooms_parse(reply.body, reply.body_len, &dropped, &err);
        if (!*out) hs_warn("fed", "publicRooms of %s: %s", server, err.msg);
        else {
            if (dropped) hs_info("fed", "publicRooms of %s: %zu malformed entries left out", server, dropped);
            if (reply.body_len <= HS_FED_PUBLIC_ROOMS_CACHE_MAX_BYTES) cache_put(key, *out, now);
            res = ASK_OK;
        }
    } else {
        json_t *e = json_loadb(reply.body ? reply.body : "", reply.body_len, 0, NULL);
        const char *code = json_string_value(json_object_get(e, "errcode"));
        if (reply.status == 403) res = ASK_FORBIDDEN;
        else if (reply.status == 404 || reply.status == 405 || (code && strcmp(code, "M_UNRECOGNIZED") == 0))
            res = ASK_UNKNOWN_ENDPOINT;
        hs_info("fed", "publicRooms of %s: HTTP %ld %s", server, reply.status, code ? code : "");
        json_decref(e);
    }
    hs_fed_reply_free(&reply);
    free(key);
    return res;
}

/* Keeps the entries of list that pass q's filter (the answer of a server that could
 * not filter); its paging no longer applies. */
static void filter_here(json_t *list, const hs_directory_query *q)
{
    json_t *chunk = json_object_get(list, "chunk");
    for (size_t i = json_array_size(chunk); i-- > 0;)
        if (!hs_directory_entry_matches(json_array_get(chunk, i), q)) json_array_remove(chunk, i);
    json_object_del(list, "next_batch");
    json_object_del(list, "prev_batch");
    json_object_set_new(list, "total_room_count_estimate", json_integer((json_int_t)json_array_size(chunk)));
}

void hs_fed_public_rooms_answer(hs_server *srv, const char *server, const hs_directory_query *q, hs_response *resp)
{
    if (!hs_is_valid_server_name(server)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "Invalid server name: %s", server);
        return;
    }
    json_t *list = NULL;
    ask_result res = ASK_UNKNOWN_ENDPOINT;
    bool filtered = (q->term && q->term[0]) || q->room_types;
    if (filtered) {
        json_t *body = post_body(q);
        res = body ? ask(srv, server, "POST", FED_PATH, body, &list) : ASK_FAILED;
        json_decref(body);
    }
    if (res == ASK_UNKNOWN_ENDPOINT) {
        /* No filter, or a server that only knows the GET form: then it lists everything
         * and the filter is applied here, without paging (Synapse's fallback). */
        char *target = get_target(q, !filtered);
        res = target ? ask(srv, server, "GET", target, NULL, &list) : ASK_FAILED;
        free(target);
        if (res == ASK_OK && filtered) filter_here(list, q);
    }
    if (res == ASK_OK) hs_response_json(resp, 200, list);
    else if (res == ASK_FORBIDDEN)
        hs_response_error(resp, 403, "M_FORBIDDEN", "You are not allowed to view the public rooms list of %s", server);
    else hs_response_error(resp, 502, "M_UNKNOWN", "Failed to fetch room list from %s", server);
}
