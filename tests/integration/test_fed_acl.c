/* Server ACLs (m.room.server_acl) enforced on inbound federation, across two real
 * pinegate processes (A, B; --dev configs over loopback HTTPS). Alice on A makes a room
 * whose ACL denies B: bob on B cannot join it (A's make_join answers 403). In a second
 * room bob joins, then alice adds an ACL denying B: bob's later message is refused by A
 * (never in alice's /messages) and B may no longer read the room's state from A
 * (state_ids 403), his typing and receipt do not reach alice, and his invite of carol
 * (of A) is refused by A's /invite. (Both servers are "localhost" and ACLs ignore ports, so B denies
 * A's later events too; that half is not asserted.) Found checking pinegate against a real Synapse, which pinegate
 * let post into a room whose ACL denied it. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_acl, 240);

Test(fed_acl, a_denied_server_cannot_join_post_or_read)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char body[1024];
    /* ACLs name hosts, never ports, and both servers are "localhost": denying that host
     * denies B (and A too, but a server never applies its rooms' ACLs to itself). */
    const char *b_host = "localhost";
    snprintf(body, sizeof body,
             "{\"preset\":\"public_chat\",\"initial_state\":[{\"type\":\"m.room.server_acl\",\"state_key\":\"\","
             "\"content\":{\"allow\":[\"*\"],\"deny\":[\"%s\"]}}]}",
             b_host);
    char *closed = pgt_mx_create_room(A.base, &alice, body);
    long st;
    json_t *r = pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s?server_name=%s",
                             pgt_mx_enc_tmp(closed), pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 403, "bob joined a room whose ACL denies B (%ld)", st);
    json_decref(r);

    char *open = pgt_mx_create_room(A.base, &alice, "{\"preset\":\"public_chat\"}");
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/join/%s?server_name=%s",
                                 pgt_mx_enc_tmp(open), pgt_mx_enc_tmp(A.name)),
                    &st);
    char *before = pgt_mx_send_text(B.base, &bob, open, "bob before the acl");
    cr_assert(pgt_fed_wait_message(&A, &alice, open, "bob before the acl", 15000));
    snprintf(body, sizeof body, "{\"allow\":[\"*\"],\"deny\":[\"%s\"]}", b_host);
    pgt_mx_check_ok(pgt_mx_callf(A.base, "PUT", alice.token, &st, body,
                                 "/_matrix/client/v3/rooms/%s/state/m.room.server_acl/", pgt_mx_enc_tmp(open)),
                    &st);
    free(pgt_mx_send_text(B.base, &bob, open, "bob after the acl"));
    /* Room EDUs of a denied server are ignored too (MSC4163): bob's typing and his
     * receipt on his own earlier message never show in alice's /sync. */
    char tbody[64];
    snprintf(tbody, sizeof tbody, "{\"typing\":true,\"timeout\":30000}");
    pgt_mx_check_ok(pgt_mx_callf(B.base, "PUT", bob.token, &st, tbody, "/_matrix/client/v3/rooms/%s/typing/%s",
                                 pgt_mx_enc_tmp(open), pgt_mx_enc_tmp(bob.user_id)),
                    &st);
    pgt_mx_check_ok(pgt_mx_callf(B.base, "POST", bob.token, &st, "{}", "/_matrix/client/v3/rooms/%s/receipt/m.read/%s",
                                 pgt_mx_enc_tmp(open), pgt_mx_enc_tmp(before)),
                    &st);
    sleep(3);
    cr_assert_not(pgt_fed_sees_message(&A, &alice, open, "bob after the acl"), "A accepted a PDU from a denied server");
    json_t *sync = pgt_mx_callf(A.base, "GET", alice.token, &st, NULL, "/_matrix/client/v3/sync?timeout=0");
    char *text = json_dumps(json_object_get(json_object_get(json_object_get(json_object_get(sync, "rooms"), "join"),
                                                            open),
                                            "ephemeral"),
                            JSON_COMPACT);
    cr_assert(text && !strstr(text, bob.user_id), "A took room EDUs from a denied server: %s", text ? text : "");
    free(text);
    json_decref(sync);

    /* bob invites carol of A into the room: A refuses the denied server's /invite, so
     * B's invite fails and carol is never invited. */
    pgt_mx_login carol = pgt_mx_must_register(A.base, "carol", "pw-carol-1");
    char ibody[400];
    snprintf(ibody, sizeof ibody, "{\"user_id\":\"%s\"}", carol.user_id);
    json_t *ir =
        pgt_mx_callf(B.base, "POST", bob.token, &st, ibody, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc_tmp(open));
    cr_assert_neq(st, 200, "B's invite through a denied server went through");
    json_decref(ir);
    json_t *cs = pgt_mx_callf(A.base, "GET", carol.token, &st, NULL, "/_matrix/client/v3/sync?timeout=0");
    cr_assert_null(json_object_get(json_object_get(json_object_get(cs, "rooms"), "invite"), open));
    json_decref(cs);

    char out[4096] = "";
    char *argv[] = {(char *)pgt_pinegate(), "fed-get", "--config", B.cfg, A.name, NULL, NULL};
    char target[600];
    snprintf(target, sizeof target, "/_matrix/federation/v1/state_ids/%s?event_id=%s", pgt_mx_enc_tmp(open),
             pgt_mx_enc_tmp(before));
    argv[5] = target;
    char *got = NULL;
    pgt_run(argv, &got);
    snprintf(out, sizeof out, "%s", got ? got : "");
    free(got);
    cr_assert(strstr(out, "HTTP 403") != NULL, "state_ids for a denied server: %s", out);
    free(before);
    free(open);
    free(closed);
}
