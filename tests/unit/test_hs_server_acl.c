/* m.room.server_acl decisions (hs_server_acl) in the spec's order: deny before allow, a
 * missing or empty allow list denies everyone, IP literals (v4, bracketed v6) denied only
 * when allow_ip_literals is false, ports never compared, `*` and `?` globs, case-
 * insensitive names, non-string and over-long entries ignored; and the room lookup on a
 * real server: no ACL allows, a room's ACL (made through createRoom's initial_state)
 * decides, and a later ACL event replaces it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed_rooms.h"
#include "server-core/hs_room.h"
#include "server-core/hs_server_acl.h"
#include "support/pgt_hs.h"

static bool allows(const char *content, const char *server)
{
    json_t *c = json_loads(content, 0, NULL);
    cr_assert_not_null(c, "%s", content);
    bool ok = hs_server_acl_allows(c, server);
    json_decref(c);
    return ok;
}

Test(hs_server_acl, deny_before_allow)
{
    const char *acl = "{\"allow\":[\"*\"],\"deny\":[\"evil.example\",\"*.bad.example\"]}";
    cr_assert(allows(acl, "good.example"));
    cr_assert(allows(acl, "good.example:8448"));
    cr_assert_not(allows(acl, "evil.example"));
    cr_assert_not(allows(acl, "evil.example:443"), "the port is not compared");
    cr_assert_not(allows(acl, "EVIL.Example"), "names compare case-insensitively");
    cr_assert_not(allows(acl, "a.bad.example"));
    cr_assert(allows(acl, "bad.example"), "*.bad.example needs a label before the dot");
    cr_assert(allows(acl, "notevil.example"));
}

Test(hs_server_acl, allow_list_and_missing_allow)
{
    const char *acl = "{\"allow\":[\"*.friends.example\",\"host?.example\"]}";
    cr_assert(allows(acl, "a.friends.example"));
    cr_assert(allows(acl, "host1.example:8448"));
    cr_assert_not(allows(acl, "host12.example"), "? is exactly one character");
    cr_assert_not(allows(acl, "stranger.example"), "not on the allow list");
    cr_assert_not(allows("{\"deny\":[]}", "anyone.example"), "no allow list denies everyone");
    cr_assert_not(allows("{}", "anyone.example"));
    cr_assert_not(hs_server_acl_allows(NULL, "anyone.example"));
    cr_assert_not(allows("{\"allow\":[\"*\"],\"deny\":[\"*\"]}", "anyone.example"));
}

Test(hs_server_acl, ip_literals)
{
    const char *deny_ip = "{\"allow\":[\"*\"],\"allow_ip_literals\":false}";
    cr_assert_not(allows(deny_ip, "1.2.3.4"));
    cr_assert_not(allows(deny_ip, "1.2.3.4:8448"));
    cr_assert_not(allows(deny_ip, "[::1]:8448"));
    cr_assert_not(allows(deny_ip, "[2001:db8::1]"));
    cr_assert(allows(deny_ip, "1.2.3.4.example"), "a DNS name that starts like an address");
    cr_assert(allows("{\"allow\":[\"*\"]}", "1.2.3.4"), "allowed when the field is missing");
    cr_assert(allows("{\"allow\":[\"*\"],\"allow_ip_literals\":\"no\"}", "1.2.3.4"), "a non-boolean counts as true");
    cr_assert(allows("{\"allow\":[\"1.2.3.*\"]}", "1.2.3.9:1"));
    cr_assert(allows("{\"allow\":[\"[::1]\"]}", "[::1]:8448"));
}

Test(hs_server_acl, odd_entries_and_names)
{
    char *longp = malloc(HS_SERVER_ACL_ENTRY_MAX + 10);
    memset(longp, '*', HS_SERVER_ACL_ENTRY_MAX + 9);
    longp[HS_SERVER_ACL_ENTRY_MAX + 9] = 0;
    json_t *c = json_pack("{s[iso]}", "allow", 7, longp, json_null());
    cr_assert_not(hs_server_acl_allows(c, "a.example"), "non-strings and over-long entries never match");
    json_decref(c);
    free(longp);
    cr_assert_not(allows("{\"allow\":\"*\"}", "a.example"), "allow must be a list");
    json_t *all = json_pack("{s[s]}", "allow", "*");
    cr_assert_not(hs_server_acl_allows(all, ""));
    json_decref(all);
    cr_assert_not(allows("{\"allow\":[\"*\"]}", "[::1"), "an unclosed bracket is not a name");
    cr_assert_not(allows("{\"allow\":[\"*\"]}", ":8448"));
}

static pgt_hs hs;

static void start(void) { pgt_hs_start(&hs, "acl.test", NULL); }
static void stop(void) { pgt_hs_stop(&hs); }

Test(hs_server_acl_room, room_state_decides, .init = start, .fini = stop, .timeout = 60)
{
    hs_room_engine e = hs_fed_rooms_engine(&hs.srv);
    hs_room_result res;
    char *plain = NULL, *acl_room = NULL;
    json_t *req = json_pack("{ss}", "preset", "public_chat");
    cr_assert_eq(hs_room_create(&e, "@owner:acl.test", req, 1700000000000LL, &plain, &res), HS_ROOM_OK, "%s",
                 res.msg);
    json_decref(req);
    cr_assert_eq(hs_server_acl_room_allows(hs.srv.store, plain, "anyone.example"), 1, "no ACL allows");
    cr_assert_eq(hs_server_acl_room_allows(hs.srv.store, "!unknown:acl.test", "anyone.example"), 1);

    req = json_pack("{ss s[{ss ss s{s[s] s[s]}}]}", "preset", "public_chat", "initial_state", "type",
                    "m.room.server_acl", "state_key", "", "content", "allow", "*", "deny", "evil.example");
    cr_assert_eq(hs_room_create(&e, "@owner:acl.test", req, 1700000000000LL, &acl_room, &res), HS_ROOM_OK, "%s",
                 res.msg);
    json_decref(req);
    cr_assert_eq(hs_server_acl_room_allows(hs.srv.store, acl_room, "evil.example:8448"), 0);
    cr_assert_eq(hs_server_acl_room_allows(hs.srv.store, acl_room, "good.example:8448"), 1);

    json_t *content = json_pack("{s[s]}", "allow", "good.example");
    char *id = NULL;
    cr_assert_eq(hs_room_send(&e, acl_room, "@owner:acl.test", "m.room.server_acl", "", content, NULL,
                              1700000001000LL, &id, &res),
                 HS_ROOM_OK, "%s", res.msg);
    json_decref(content);
    free(id);
    cr_assert_eq(hs_server_acl_room_allows(hs.srv.store, acl_room, "good.example"), 1);
    cr_assert_eq(hs_server_acl_room_allows(hs.srv.store, acl_room, "other.example"), 0, "the newer ACL decides");
    free(plain);
    free(acl_room);
}
