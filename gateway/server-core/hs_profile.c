/* hs_profile: profile changes and the membership events that announce them (see
 * hs_profile.h). The new member content is the user's current member content with the
 * changed field replaced, so other fields a client put there survive; the restricted
 * join's join_authorised_via_users_server is dropped because it only authorises the
 * original join. */
#include "server-core/hs_profile.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_store_rooms.h"

static const char *field_key(hs_store_profile_field f)
{
    return f == HS_STORE_PROFILE_DISPLAYNAME ? "displayname" : "avatar_url";
}

/* The user's current m.room.member content in the room (new reference), or NULL. */
static json_t *member_content(hs_store *st, const char *room_id, const char *user_id)
{
    char *event_id = NULL;
    if (hs_store_state_get(st, room_id, "m.room.member", user_id, &event_id) != 0) return NULL;
    hs_store_event ev;
    int rc = hs_store_event_get(st, event_id, &ev);
    free(event_id);
    if (rc != 0) return NULL;
    json_t *pdu = json_loads(ev.pdu_json, JSON_ALLOW_NUL, NULL);
    hs_store_event_clear(&ev);
    json_t *content = pdu ? json_deep_copy(hs_pdu_content(pdu)) : NULL;
    json_decref(pdu);
    return json_is_object(content) ? content : (json_decref(content), NULL);
}

hs_profile_status hs_profile_set(const hs_room_engine *e, const char *user_id, hs_store_profile_field field,
                                 const char *value, int64_t now_ms, size_t *rooms_failed)
{
    size_t failed = 0;
    if (rooms_failed) *rooms_failed = 0;
    if (value && !value[0]) value = NULL;
    size_t max = field == HS_STORE_PROFILE_DISPLAYNAME ? HS_PROFILE_DISPLAYNAME_MAX : HS_PROFILE_AVATAR_URL_MAX;
    if (value && strlen(value) > max) return HS_PROFILE_TOO_LONG;
    if (hs_store_profile_set(e->store, user_id, field, value) != 0) return HS_PROFILE_ERROR;

    char **rooms;
    size_t n;
    if (hs_store_joined_rooms(e->store, user_id, &rooms, &n) != 0) return HS_PROFILE_ERROR;
    for (size_t i = 0; i < n; i++) {
        /* Under the room lock from reading the membership to sending, so a leave that
         * lands meanwhile is seen and not undone by a "join" carrying the new name. */
        hs_room_lock();
        json_t *content = member_content(e->store, rooms[i], user_id);
        const char *m = json_string_value(json_object_get(content, "membership"));
        if (!content || !m || strcmp(m, "join") != 0) {
            hs_room_unlock();
            if (!content) failed++;
            json_decref(content);
            continue;
        }
        json_t *before = json_deep_copy(content);
        json_object_del(content, "join_authorised_via_users_server");
        if (value) json_object_set_new(content, field_key(field), json_string(value));
        else json_object_del(content, field_key(field));
        hs_room_result res;
        /* The same profile again changes nothing a member could see: no event. */
        if (!json_equal(before, content) &&
            hs_room_send_locked(e, rooms[i], user_id, "m.room.member", user_id, content, NULL, NULL, now_ms, NULL,
                                &res) != HS_ROOM_OK)
            failed++;
        hs_room_unlock();
        json_decref(before);
        json_decref(content);
    }
    hs_store_free_strings(rooms, n);
    if (rooms_failed) *rooms_failed = failed;
    return HS_PROFILE_OK;
}

int hs_profile_member_content(hs_store *st, const char *user_id, json_t *content)
{
    char *displayname, *avatar_url;
    if (hs_store_profile_get(st, user_id, &displayname, &avatar_url) < 0) return -1;
    if (displayname) json_object_set_new(content, "displayname", json_string(displayname));
    if (avatar_url) json_object_set_new(content, "avatar_url", json_string(avatar_url));
    free(displayname);
    free(avatar_url);
    return 0;
}
