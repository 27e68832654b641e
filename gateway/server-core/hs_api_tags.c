/* hs_api_tags: room tags (GET /user/{userId}/rooms/{roomId}/tags, PUT and DELETE
 * .../tags/{tag}). Tags are the per-room account data of type m.tag ({"tags": {tag:
 * {order?}}}) in the sync engineer's account data store, so /sync delivers every change
 * in account_data of the room like any other account data; each write wakes waiting
 * syncs. A user reads and changes only their own tags (403 otherwise).
 *
 * Read-modify-write of the m.tag content is serialised by one mutex, so two devices
 * tagging at once never lose a tag. The tag object's other fields are kept as sent
 * (Synapse does the same); `order` must be a number when present (the spec describes
 * it as within [0, 1] but does not make servers refuse others, and clients differ). */
#include "server-core/hs_api_tags.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_access.h"
#include "server-core/hs_api_rooms_internal.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_rooms.h"
#include "server-core/hs_store_sync.h"
#include "server-core/hs_clock.h"

#define TAG_MAX 255
#define TAGS_MAX 100

static pthread_mutex_t tags_lock = PTHREAD_MUTEX_INITIALIZER;

/* Authenticates, checks the user is the caller and the room exists. 0, or -1 after answering. */
static int begin(hs_server *srv, const hs_request *req, hs_response *resp, hs_access_identity *who)
{
    if (hs_access_authenticate(srv->store, req, hs_clock_wall_ms(), who, resp) != 0) return -1;
    const char *user = hs_request_param(req, "userId");
    if (!user || strcmp(user, who->user_id) != 0) {
        hs_response_error(resp, 403, "M_FORBIDDEN", "cannot read or change another user's tags");
        return -1;
    }
    char version[HS_STORE_ROOM_VERSION_MAX];
    int rc = hs_store_room_get(srv->store, hs_request_param(req, "roomId"), version);
    if (rc == 0) return 0;
    if (rc == 1) hs_response_error(resp, 404, "M_NOT_FOUND", "unknown room");
    else hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the room");
    return -1;
}

/* The stored tags object (new reference; {} when none), NULL on a store error. */
static json_t *load_tags(hs_server *srv, const char *user, const char *room)
{
    char *text = NULL;
    int rc = hs_store_account_data_get(srv->store, user, room, "m.tag", &text);
    if (rc < 0) return NULL;
    json_t *content = rc == 0 ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *tags = json_object_get(content, "tags");
    json_t *out = json_is_object(tags) ? json_deep_copy(tags) : json_object();
    json_decref(content);
    return out;
}

static int store_tags(hs_server *srv, const char *user, const char *room, json_t *tags)
{
    json_t *content = json_pack("{sO}", "tags", tags);
    char *text = json_dumps(content, JSON_COMPACT);
    json_decref(content);
    int rc = text ? hs_store_account_data_put(srv->store, user, room, "m.tag", text, NULL) : -1;
    free(text);
    if (rc == 0) hs_notifier_wake(srv->notifier);
    return rc;
}

static void tags_get(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (begin(srv, req, resp, &who) != 0) return;
    json_t *tags = load_tags(srv, who.user_id, hs_request_param(req, "roomId"));
    if (!tags) hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the tags");
    else hs_response_json(resp, 200, json_pack("{so}", "tags", tags));
}

static void tag_put(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (begin(srv, req, resp, &who) != 0) return;
    const char *tag = hs_request_param(req, "tag");
    if (!tag[0] || strlen(tag) > TAG_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "a tag is 1 to %d bytes", TAG_MAX);
        return;
    }
    json_t *body = hs_api_rooms__body(req, resp);
    if (!body) return;
    json_t *order = json_object_get(body, "order");
    if (order && !json_is_null(order) && !json_is_number(order)) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "'order' must be a number");
        json_decref(body);
        return;
    }
    const char *room = hs_request_param(req, "roomId");
    pthread_mutex_lock(&tags_lock);
    json_t *tags = load_tags(srv, who.user_id, room);
    if (!tags) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the tags");
    } else if (!json_object_get(tags, tag) && json_object_size(tags) >= TAGS_MAX) {
        hs_response_error(resp, 400, "M_INVALID_PARAM", "a room has at most %d tags", TAGS_MAX);
    } else {
        json_object_set(tags, tag, body);
        if (store_tags(srv, who.user_id, room, tags) == 0) hs_response_json(resp, 200, json_object());
        else hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the tags");
    }
    pthread_mutex_unlock(&tags_lock);
    json_decref(tags);
    json_decref(body);
}

static void tag_delete(const hs_request *req, hs_response *resp, void *ctx)
{
    hs_server *srv = ctx;
    hs_access_identity who;
    if (begin(srv, req, resp, &who) != 0) return;
    const char *room = hs_request_param(req, "roomId"), *tag = hs_request_param(req, "tag");
    pthread_mutex_lock(&tags_lock);
    json_t *tags = load_tags(srv, who.user_id, room);
    if (!tags) {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot read the tags");
    } else if (json_object_del(tags, tag) != 0) {
        /* Deleting a tag the room does not have is not an error: the end state is the same. */
        hs_response_json(resp, 200, json_object());
    } else if (store_tags(srv, who.user_id, room, tags) == 0) {
        hs_response_json(resp, 200, json_object());
    } else {
        hs_response_error(resp, 500, "M_UNKNOWN", "cannot store the tags");
    }
    pthread_mutex_unlock(&tags_lock);
    json_decref(tags);
}

int hs_api_tags_register(hs_server *srv)
{
    static const hs_client_route routes[] = {
        {"GET", "/user/{userId}/rooms/{roomId}/tags", tags_get},
        {"PUT", "/user/{userId}/rooms/{roomId}/tags/{tag}", tag_put},
        {"DELETE", "/user/{userId}/rooms/{roomId}/tags/{tag}", tag_delete},
    };
    return hs_router_add_client_routes(srv->client_router, routes, sizeof routes / sizeof routes[0], srv);
}
