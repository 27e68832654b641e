/* hs_fed_invite_remote's check of the invitee server's answer, through server-core's
 * transport seam against a scripted remote server (remote.test, with a signing key of its
 * own and a signed key document): an invite of @carol:remote.test by alice of self.test
 * is stored only when remote.test returns the same event with its valid signature
 * added. A changed content, no signature, a signature by another key under remote.test's
 * key ID, an added signature of a third server, our signature removed, a 403 and a
 * transport failure are each answered with an error and leave no invite in the room.
 * createRoom's `invite` reaches users of other servers the same way (is_direct kept).
 * The two-process version is tests/integration/test_fed_invite_out.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_room_version.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

enum mode { GOOD, CHANGED, UNSIGNED, WRONG_KEY, THIRD_SERVER, OURS_REMOVED, REFUSED, UNREACHABLE };

static pgt_hs h;
static enum mode mode;
static hs_signing_key remote_key, other_key;
static int invites_seen;

static void reply_json(hs_fed_reply *reply, long status, json_t *body)
{
    reply->status = status;
    reply->body = json_dumps(body, JSON_COMPACT);
    reply->body_len = strlen(reply->body);
    snprintf(reply->content_type, sizeof reply->content_type, "application/json");
    json_decref(body);
}

static json_t *key_document(void)
{
    char pub[44];
    hs_signing_key_public_b64(&remote_key, pub);
    json_int_t valid_until = (json_int_t)time(NULL) * 1000 + 3600 * 1000;
    json_t *doc = json_pack("{ss sI s{s{ss}} s{}}", "server_name", "remote.test", "valid_until_ts", valid_until,
                            "verify_keys", remote_key.key_id, "key", pub, "old_verify_keys");
    hs_err err;
    cr_assert_eq(hs_sign_json(doc, "remote.test", &remote_key, &err), 0, "%s", err.msg);
    return doc;
}

/* remote.test's answer to PUT /v2/invite, per mode. */
static void answer_invite(const json_t *body, hs_fed_reply *reply)
{
    invites_seen++;
    const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(body, "room_version")));
    cr_assert_not_null(rv);
    json_t *ev = json_deep_copy(json_object_get(body, "event"));
    cr_assert_not_null(ev);
    hs_err err;
    switch (mode) {
    case REFUSED:
        json_decref(ev);
        reply_json(reply, 403, json_pack("{ss ss}", "errcode", "M_FORBIDDEN", "error", "not today"));
        return;
    case CHANGED:
        json_object_set_new(json_object_get(ev, "content"), "displayname", json_string("someone else"));
        break;
    case OURS_REMOVED:
        json_object_del(json_object_get(ev, "signatures"), "self.test");
        break;
    default: break;
    }
    if (mode == WRONG_KEY) {
        /* another key under remote.test's key ID */
        hs_signing_key k = other_key;
        snprintf(k.key_id, sizeof k.key_id, "%s", remote_key.key_id);
        cr_assert_eq(hs_event_sign(ev, rv, "remote.test", &k, 0, &err), 0, "%s", err.msg);
    } else if (mode != UNSIGNED) {
        cr_assert_eq(hs_event_sign(ev, rv, "remote.test", &remote_key, 0, &err), 0, "%s", err.msg);
    }
    if (mode == THIRD_SERVER) cr_assert_eq(hs_event_sign(ev, rv, "third.test", &other_key, 0, &err), 0, "%s", err.msg);
    json_object_set_new(ev, "unsigned", json_pack("{si}", "age", 5));
    reply_json(reply, 200, json_pack("{so}", "event", ev));
}

static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    memset(reply, 0, sizeof *reply);
    if (strcmp(req->destination, "remote.test") != 0) return hs_err_set(err, "no such server %s", req->destination);
    if (strncmp(req->target, "/_matrix/key/v2/server", 22) == 0) {
        reply_json(reply, 200, key_document());
        return 0;
    }
    if (strncmp(req->target, "/_matrix/federation/v2/invite/", 30) == 0 && strcmp(req->method, "PUT") == 0) {
        if (mode == UNREACHABLE) return hs_err_set(err, "connection refused");
        answer_invite(req->content, reply);
        return 0;
    }
    reply_json(reply, 404, json_pack("{ss}", "errcode", "M_UNRECOGNIZED"));
    return 0;
}

static void start(void)
{
    cr_assert_eq(hs_signing_key_generate(&remote_key), 0);
    cr_assert_eq(hs_signing_key_generate(&other_key), 0);
    pgt_hs_start(&h, "self.test", NULL);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&h.srv, &t);
    invites_seen = 0;
}

static void stop(void)
{
    pgt_hs_stop(&h);
}

TestSuite(hs_fed_invite_out, .init = start, .fini = stop, .timeout = 60);

#define CAROL "@carol:remote.test"

static long invite_carol(const pgt_mx_login *alice, const char *room)
{
    char path[400];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/invite", pgt_mx_enc(room, (char[300]){0}, 300));
    long st;
    json_decref(pgt_mx_call(h.base, "POST", path, alice->token, "{\"user_id\":\"" CAROL "\"}", &st));
    return st;
}

static long carol_state(const pgt_mx_login *alice, const char *room)
{
    char path[500];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s",
             pgt_mx_enc(room, (char[300]){0}, 300), pgt_mx_enc(CAROL, (char[100]){0}, 100));
    long st;
    json_decref(pgt_mx_call(h.base, "GET", path, alice->token, NULL, &st));
    return st;
}

Test(hs_fed_invite_out, only_a_valid_countersignature_stores_the_invite)
{
    pgt_mx_login alice = pgt_mx_must_register(h.base, "alice", "pw-alice-1");
    char *room = pgt_mx_create_room(h.base, &alice, "{\"preset\":\"private_chat\"}");
    static const struct {
        enum mode m;
        const char *name;
        long status;
    } bad[] = {
        {CHANGED, "a changed event", 500},         {UNSIGNED, "no signature", 500},
        {WRONG_KEY, "another key", 500},           {THIRD_SERVER, "a third server's signature", 500},
        {OURS_REMOVED, "our signature gone", 500}, {REFUSED, "a refusal", 403},
        {UNREACHABLE, "no answer", 500},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mode = bad[i].m;
        int before = invites_seen;
        cr_expect_eq(invite_carol(&alice, room), bad[i].status, "%s", bad[i].name);
        cr_expect_eq(invites_seen, before + (mode == UNREACHABLE ? 0 : 1), "%s: /invite not asked once", bad[i].name);
        cr_expect_eq(carol_state(&alice, room), 404, "%s: an invite was stored", bad[i].name);
    }
    mode = GOOD;
    cr_assert_eq(invite_carol(&alice, room), 200);
    cr_assert_eq(carol_state(&alice, room), 200, "the countersigned invite is not in the room");
    free(room);
}

/* createRoom with a user of another server in `invite`: the room is made, then the invite
 * goes through that server like any other, with is_direct in its content for a DM. A
 * refusal leaves the room without the invite (the client can invite again). */
Test(hs_fed_invite_out, create_room_invites_users_of_other_servers)
{
    pgt_mx_login alice = pgt_mx_must_register(h.base, "alice", "pw-alice-1");
    mode = GOOD;
    char *room = pgt_mx_create_room(h.base, &alice,
                                    "{\"preset\":\"trusted_private_chat\",\"is_direct\":true,\"invite\":[\"" CAROL "\"]}");
    cr_assert_eq(invites_seen, 1);
    char path[500];
    snprintf(path, sizeof path, "/_matrix/client/v3/rooms/%s/state/m.room.member/%s",
             pgt_mx_enc(room, (char[300]){0}, 300), pgt_mx_enc(CAROL, (char[100]){0}, 100));
    json_t *m = pgt_mx_expect(h.base, "GET", path, alice.token, NULL, 200);
    cr_assert_str_eq(json_string_value(json_object_get(m, "membership")), "invite");
    cr_assert(json_is_true(json_object_get(m, "is_direct")), "%s", json_dumps(m, 0));
    json_decref(m);
    free(room);

    mode = REFUSED;
    room = pgt_mx_create_room(h.base, &alice, "{\"preset\":\"private_chat\",\"invite\":[\"" CAROL "\"]}");
    cr_assert_eq(invites_seen, 2);
    cr_assert_eq(carol_state(&alice, room), 404);
    free(room);
}
