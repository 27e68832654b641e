/* rooms.knock in /sync for a knock on a local room, over HTTP on a real in-process
 * server: bob knocks on alice's knock room and his /sync lists the room under rooms.knock
 * with knock_state (the room's stripped state: its join rule and name, and his own knock)
 * and not under join; an incremental sync after the knock carries it too, and once alice
 * invites him it moves to rooms.invite. The remote case (knock_room_state from the
 * resident's send_knock answer) is tests/integration/test_fed_knock_out.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;
static pgt_mx_login alice, bob;

static void start(void)
{
    pgt_hs_start(&hs, "knock.test", NULL);
    cr_assert_eq(pgt_mx_register(hs.base, "alice", "pw-alice-1", &alice), 0);
    cr_assert_eq(pgt_mx_register(hs.base, "bob", "pw-bob-1", &bob), 0);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_knock_sync, .init = start, .fini = stop, .timeout = 60);

static json_t *sync_since(const char *since)
{
    char path[300];
    snprintf(path, sizeof path, "/_matrix/client/v3/sync?timeout=0%s%s", since ? "&since=" : "", since ? since : "");
    return pgt_mx_expect(hs.base, "GET", path, bob.token, NULL, 200);
}

static json_t *section(json_t *s, const char *name, const char *room)
{
    return json_object_get(json_object_get(json_object_get(s, "rooms"), name), room);
}

Test(hs_knock_sync, a_knock_shows_under_rooms_knock_with_stripped_state)
{
    char *room = pgt_mx_create_room(hs.base, &alice,
                                    "{\"room_version\":\"10\",\"preset\":\"private_chat\",\"name\":\"Porch\","
                                    "\"initial_state\":[{\"type\":\"m.room.join_rules\",\"state_key\":\"\","
                                    "\"content\":{\"join_rule\":\"knock\"}}]}");
    json_t *before = sync_since(NULL);
    char since[128];
    snprintf(since, sizeof since, "%s", json_string_value(json_object_get(before, "next_batch")));
    cr_assert_null(section(before, "knock", room));
    json_decref(before);

    char path[300];
    snprintf(path, sizeof path, "/_matrix/client/v3/knock/%s", pgt_mx_enc(room, (char[256]){0}, 256));
    json_decref(pgt_mx_expect(hs.base, "POST", path, bob.token, "{\"reason\":\"hello\"}", 200));

    json_t *inc = sync_since(since);
    cr_assert_not_null(section(inc, "knock", room), "the incremental sync lacks the knock");
    json_decref(inc);

    json_t *s = sync_since(NULL);
    json_t *k = section(s, "knock", room);
    cr_assert_not_null(k, "rooms.knock lacks the room: %s", json_dumps(json_object_get(s, "rooms"), 0));
    cr_assert_null(section(s, "join", room));
    bool rule = false, name = false, mine = false;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(json_object_get(k, "knock_state"), "events"), i, ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        json_t *c = json_object_get(ev, "content");
        const char *jr = json_string_value(json_object_get(c, "join_rule"));
        const char *nm = json_string_value(json_object_get(c, "name"));
        const char *m = json_string_value(json_object_get(c, "membership"));
        const char *sk = json_string_value(json_object_get(ev, "state_key"));
        if (!type) continue;
        rule |= strcmp(type, "m.room.join_rules") == 0 && jr && strcmp(jr, "knock") == 0;
        name |= strcmp(type, "m.room.name") == 0 && nm && strcmp(nm, "Porch") == 0;
        mine |= strcmp(type, "m.room.member") == 0 && sk && strcmp(sk, bob.user_id) == 0 && m &&
                strcmp(m, "knock") == 0;
    }
    cr_assert(rule && name && mine, "knock_state: %s", json_dumps(k, 0));
    json_decref(s);

    char body[200];
    snprintf(body, sizeof body, "{\"user_id\":\"%s\"}", bob.user_id);
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc(room, (char[256]){0}, 256));
    json_decref(pgt_mx_expect(hs.base, "POST", path, alice.token, body, 200));
    s = sync_since(NULL);
    cr_assert_null(section(s, "knock", room));
    cr_assert_not_null(section(s, "invite", room));
    json_decref(s);
    free(room);
}
