/* hs_room_restricted: who may join a restricted room without an invite, and which of
 * our users vouches for it (see hs_room_restricted.h). The join rules and power levels
 * are read through hs_room_state (redacted events count redacted: from v8 a redacted
 * join rules event keeps `allow`); memberships come straight from current_state. The
 * authoriser's choice is deterministic so that a retried make_join names the same user. */
#include "server-core/hs_room_restricted.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_auth.h"
#include "server-core/hs_pdu.h"
#include "server-core/hs_room.h"
#include "server-core/hs_store_members.h"
#include "server-core/hs_store_rooms.h"

static hs_restricted_status say(hs_restricted_status s, char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static hs_restricted_status say(hs_restricted_status s, char *msg, size_t msg_len, const char *fmt, ...)
{
    if (msg && msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_len, fmt, ap);
        va_end(ap);
    }
    return s;
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* 1 when some user of server_name is joined to room_id, 0 when none, -1. */
static int server_in_room(hs_store *st, const char *room_id, const char *server_name)
{
    char **ids = NULL;
    size_t n = 0;
    if (hs_store_joined_users_of(st, room_id, server_name, &ids, &n) != 0) return -1;
    hs_store_free_strings(ids, n);
    return n > 0;
}

hs_restricted_status hs_room_restricted_admits(hs_store *st, const hs_room_version *rv, const char *room_id,
                                               const char *user_id, const char *server_name, char *msg,
                                               size_t msg_len)
{
    if (msg && msg_len) msg[0] = 0;
    if (!rv->restricted_join) return HS_RESTRICTED_NOT_NEEDED;
    hs_room_state s = {.st = st, .rv = rv, .room_id = room_id, .cache = hs_auth_map_new()};
    if (!s.cache) return say(HS_RESTRICTED_ERROR, msg, msg_len, "out of memory");
    hs_restricted_status status = HS_RESTRICTED_NOT_NEEDED;
    hs_auth_entry jr;
    bool have_rules = hs_room_state_get(&s, "m.room.join_rules", "", &jr);
    if (s.failed) {
        status = say(HS_RESTRICTED_ERROR, msg, msg_len, "cannot read the join rules of %s", room_id);
        goto out;
    }
    const json_t *content = have_rules ? hs_pdu_content(jr.pdu) : NULL;
    const char *rule = json_string_value(json_object_get(content, "join_rule"));
    if (!streq(rule, "restricted") && !(rv->knock_restricted && streq(rule, "knock_restricted"))) goto out;

    char membership[32];
    if (hs_store_membership(st, room_id, user_id, membership) != 0) {
        status = say(HS_RESTRICTED_ERROR, msg, msg_len, "cannot read the membership of %s", user_id);
        goto out;
    }
    if (streq(membership, "join") || streq(membership, "invite") || streq(membership, "ban")) goto out;

    const char *user_server = hs_id_server_name(user_id);
    bool ours = streq(user_server, server_name), unknown_room = false;
    size_t i;
    const json_t *allow;
    json_array_foreach(json_object_get(content, "allow"), i, allow) {
        const char *allowed = json_string_value(json_object_get(allow, "room_id"));
        if (!streq(json_string_value(json_object_get(allow, "type")), "m.room_membership") || !allowed) continue;
        char m[32];
        if (hs_store_membership(st, allowed, user_id, m) != 0) {
            status = say(HS_RESTRICTED_ERROR, msg, msg_len, "cannot read the membership of %s", user_id);
            goto out;
        }
        if (streq(m, "join")) {
            status = HS_RESTRICTED_ADMITTED;
            goto out;
        }
        if (!ours && !unknown_room) {
            int in = server_in_room(st, allowed, server_name);
            if (in < 0) {
                status = say(HS_RESTRICTED_ERROR, msg, msg_len, "cannot read the members of %s", allowed);
                goto out;
            }
            unknown_room = in == 0;
        }
    }
    if (unknown_room)
        status = say(HS_RESTRICTED_CANNOT_TELL, msg, msg_len,
                     "%s cannot tell whether %s is in a room that %s allows: it is not in all of them", server_name,
                     user_id, room_id);
    else
        status = say(HS_RESTRICTED_NOT_MEMBER, msg, msg_len,
                     "%s is not invited and not joined to any of the rooms whose members may join %s", user_id,
                     room_id);
out:
    hs_auth_map_free(s.cache);
    return status;
}

int hs_room_restricted_authoriser(hs_store *st, const hs_room_version *rv, const char *room_id,
                                  const char *server_name, char **user)
{
    *user = NULL;
    char **ids = NULL;
    size_t n = 0;
    if (hs_store_joined_users_of(st, room_id, server_name, &ids, &n) != 0) return -1;
    hs_room_state s = {.st = st, .rv = rv, .room_id = room_id, .cache = hs_auth_map_new()};
    if (!s.cache) {
        hs_store_free_strings(ids, n);
        return -1;
    }
    hs_auth_state state = {hs_room_state_get, &s};
    long long best_level = 0;
    size_t best = n;
    /* ids come sorted, so a strictly higher level is needed to replace: ties keep the
     * smallest user ID. */
    for (size_t i = 0; i < n; i++) {
        long long level = hs_auth_user_level(rv, &state, ids[i]);
        if (best == n || level > best_level) {
            best = i;
            best_level = level;
        }
    }
    long long invite = 0;
    hs_auth_entry pl;
    if (hs_room_state_get(&s, "m.room.power_levels", "", &pl)) {
        const json_t *v = json_object_get(hs_pdu_content(pl.pdu), "invite");
        if (v && !hs_auth_parse_level(rv, v, &invite)) invite = 0;
    }
    int rc = s.failed ? -1 : 1;
    if (!s.failed && best < n && best_level >= invite) {
        *user = ids[best];
        ids[best] = NULL;
        rc = 0;
    }
    hs_store_free_strings(ids, n);
    hs_auth_map_free(s.cache);
    return rc;
}

hs_restricted_status hs_room_restricted_join(hs_store *st, const hs_room_version *rv, const char *room_id,
                                             const char *user_id, const char *server_name, char **authoriser,
                                             char *msg, size_t msg_len)
{
    *authoriser = NULL;
    hs_restricted_status s = hs_room_restricted_admits(st, rv, room_id, user_id, server_name, msg, msg_len);
    if (s != HS_RESTRICTED_ADMITTED) return s;
    int rc = hs_room_restricted_authoriser(st, rv, room_id, server_name, authoriser);
    if (rc < 0) return say(HS_RESTRICTED_ERROR, msg, msg_len, "cannot read the members of %s", room_id);
    if (rc == 1)
        return say(HS_RESTRICTED_NO_AUTHORISER, msg, msg_len,
                   "no user of %s joined to %s has the power to invite, so it cannot authorise the join of %s",
                   server_name, room_id, user_id);
    return HS_RESTRICTED_ADMITTED;
}
