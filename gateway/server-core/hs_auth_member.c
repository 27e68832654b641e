/* hs_auth_member: the m.room.member rules: join (creator's first join, invite/knock,
 * v8 restricted and v10 knock_restricted joins through join_authorised_via_users_server,
 * public), invite (including third-party invites, whose `signed` block is checked with
 * ed25519 against the m.room.third_party_invite public keys), leave/kick/unban, ban and
 * v7 knock.
 *
 * The authorising server's signature on a restricted join is only checked for presence
 * here; verifying it needs that server's keys, which is the signature checker's job. */
#include "server-core/hs_auth_internal.h"

#include <sodium.h>
#include <string.h>

#include "server-core/hs_base64.h"
#include "server-core/hs_signing.h"

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* "The only previous event is an m.room.create": one prev event, and it is the create
 * event of the state. v1-2 prev_events are [id, hashes] pairs. */
static bool only_prev_is_create(const json_t *event, const hs_auth_state *state)
{
    const json_t *prev = json_object_get(event, "prev_events");
    if (json_array_size(prev) != 1) return false;
    const json_t *p = json_array_get(prev, 0);
    const char *pid = json_is_array(p) ? json_string_value(json_array_get(p, 0)) : json_string_value(p);
    hs_auth_entry create;
    if (!hs_auth__get(state, "m.room.create", "", &create)) return false;
    return streq(pid, hs_auth__entry_id(&create));
}

static hs_auth_rule check_join(const hs_room_version *rv, const json_t *event, const hs_auth_state *state,
                               const char *sender, const char *target, hs_auth_result *res)
{
    hs_auth_entry create;
    hs_auth__get(state, "m.room.create", "", &create);
    if (only_prev_is_create(event, state) && hs_auth__is_creator(rv, create.pdu, target)) return HS_AUTH_OK;
    if (!streq(sender, target))
        return hs_auth__fail(rv, res, HS_AUTH_JOIN_SENDER_NOT_TARGET, "%s for %s", sender, target);

    const char *cur = hs_auth__membership(state, sender);
    if (streq(cur, "ban")) return hs_auth__fail(rv, res, HS_AUTH_JOIN_BANNED, "%s", sender);
    bool member = streq(cur, "invite") || streq(cur, "join");

    const char *rule = hs_auth__join_rule(state);
    if (streq(rule, "invite") || (rv->knock && streq(rule, "knock"))) {
        if (member) return HS_AUTH_OK;
        return hs_auth__fail(rv, res, HS_AUTH_JOIN_NOT_INVITED, "join rule %s, membership %s", rule, cur);
    }
    if ((rv->restricted_join && streq(rule, "restricted")) ||
        (rv->knock_restricted && streq(rule, "knock_restricted"))) {
        if (member) return HS_AUTH_OK;
        const char *via = hs_auth__str(json_object_get(event, "content"), "join_authorised_via_users_server");
        if (!via) return hs_auth__fail(rv, res, HS_AUTH_JOIN_RESTRICTED_AUTHORISER, "no join_authorised_via_users_server");
        const char *via_m = hs_auth__membership(state, via);
        if (!streq(via_m, "join"))
            return hs_auth__fail(rv, res, HS_AUTH_JOIN_RESTRICTED_AUTHORISER, "%s is %s", via, via_m);
        long long lvl = hs_auth_user_level(rv, state, via);
        long long inv = hs_auth__pl_field(rv, hs_auth__content(state, "m.room.power_levels", ""), "invite", 0);
        if (lvl < inv)
            return hs_auth__fail(rv, res, HS_AUTH_JOIN_RESTRICTED_AUTHORISER, "%s level %lld < invite %lld", via, lvl, inv);
        return HS_AUTH_OK;
    }
    if (streq(rule, "public")) return HS_AUTH_OK;
    return hs_auth__fail(rv, res, HS_AUTH_JOIN_RULE, "join rule %s", rule);
}

static bool decode_key(const char *b64, uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
    uint8_t buf[64];
    if (!b64) return false;
    long n = hs_b64_decode(b64, buf, sizeof buf);
    if (n != crypto_sign_PUBLICKEYBYTES) n = hs_b64url_decode(b64, buf, sizeof buf);
    if (n != crypto_sign_PUBLICKEYBYTES) return false;
    memcpy(pk, buf, crypto_sign_PUBLICKEYBYTES);
    return true;
}

/* Tries every signature in signed.signatures against one public key, through
 * hs_verify_json (canonical JSON without signatures/unsigned, ed25519). */
static bool verify_with_key(const json_t *signed_obj, const char *key_b64)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (!decode_key(key_b64, pk)) return false;
    const char *server;
    const json_t *by_server;
    json_object_foreach(json_object_get(signed_obj, "signatures"), server, by_server) {
        const char *kid;
        const json_t *sig;
        json_object_foreach((json_t *)by_server, kid, sig) {
            if (hs_verify_json(signed_obj, server, kid, pk, NULL) == 0) return true;
        }
    }
    return false;
}

bool hs_auth__tpi_signature_ok(const json_t *signed_obj, const json_t *tpi_content)
{
    if (!json_is_object(signed_obj) || !json_is_object(json_object_get(signed_obj, "signatures")))
        return false;
    if (verify_with_key(signed_obj, hs_auth__str(tpi_content, "public_key"))) return true;
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(tpi_content, "public_keys"), i, k) {
        if (verify_with_key(signed_obj, hs_auth__str(k, "public_key"))) return true;
    }
    return false;
}

static hs_auth_rule check_third_party_invite(const hs_room_version *rv, const json_t *tpi,
                                             const hs_auth_state *state, const char *sender,
                                             const char *target, hs_auth_result *res)
{
    if (streq(hs_auth__membership(state, target), "ban"))
        return hs_auth__fail(rv, res, HS_AUTH_TPI_TARGET_BANNED, "%s", target);
    const json_t *signed_obj = json_object_get(tpi, "signed");
    if (!json_is_object(signed_obj)) return hs_auth__fail(rv, res, HS_AUTH_TPI_NO_SIGNED, NULL);
    const char *mxid = hs_auth__str(signed_obj, "mxid"), *token = hs_auth__str(signed_obj, "token");
    if (!mxid || !token) return hs_auth__fail(rv, res, HS_AUTH_TPI_SIGNED_FIELDS, NULL);
    if (!streq(mxid, target)) return hs_auth__fail(rv, res, HS_AUTH_TPI_MXID, "%s vs %s", mxid, target);
    hs_auth_entry inv;
    if (!hs_auth__get(state, "m.room.third_party_invite", token, &inv))
        return hs_auth__fail(rv, res, HS_AUTH_TPI_NO_EVENT, "token %s", token);
    if (!streq(sender, hs_auth__str(inv.pdu, "sender")))
        return hs_auth__fail(rv, res, HS_AUTH_TPI_SENDER, "%s", sender);
    if (hs_auth__tpi_signature_ok(signed_obj, json_object_get(inv.pdu, "content"))) return HS_AUTH_OK;
    return hs_auth__fail(rv, res, HS_AUTH_TPI_SIGNATURE, NULL);
}

static hs_auth_rule check_invite(const hs_room_version *rv, const json_t *event, const hs_auth_state *state,
                                 const char *sender, const char *target, hs_auth_result *res)
{
    const json_t *tpi = json_object_get(json_object_get(event, "content"), "third_party_invite");
    if (tpi) return check_third_party_invite(rv, tpi, state, sender, target, res);
    const char *sm = hs_auth__membership(state, sender);
    if (!streq(sm, "join")) return hs_auth__fail(rv, res, HS_AUTH_INVITE_SENDER_NOT_JOINED, "%s is %s", sender, sm);
    const char *tm = hs_auth__membership(state, target);
    if (streq(tm, "join") || streq(tm, "ban"))
        return hs_auth__fail(rv, res, HS_AUTH_INVITE_TARGET_JOINED_OR_BANNED, "%s is %s", target, tm);
    long long lvl = hs_auth_user_level(rv, state, sender);
    long long inv = hs_auth__pl_field(rv, hs_auth__content(state, "m.room.power_levels", ""), "invite", 0);
    if (lvl >= inv) return HS_AUTH_OK;
    return hs_auth__fail(rv, res, HS_AUTH_INVITE_LEVEL, "level %lld < %lld", lvl, inv);
}

static hs_auth_rule check_leave(const hs_room_version *rv, const hs_auth_state *state, const char *sender,
                                const char *target, hs_auth_result *res)
{
    if (streq(sender, target)) {
        const char *m = hs_auth__membership(state, sender);
        if (streq(m, "invite") || streq(m, "join") || (rv->knock && streq(m, "knock"))) return HS_AUTH_OK;
        return hs_auth__fail(rv, res, HS_AUTH_LEAVE_SELF_NOT_MEMBER, "%s is %s", sender, m);
    }
    const char *sm = hs_auth__membership(state, sender);
    if (!streq(sm, "join")) return hs_auth__fail(rv, res, HS_AUTH_LEAVE_SENDER_NOT_JOINED, "%s is %s", sender, sm);
    const json_t *pl = hs_auth__content(state, "m.room.power_levels", "");
    long long lvl = hs_auth_user_level(rv, state, sender), tlvl = hs_auth_user_level(rv, state, target);
    long long ban = hs_auth__pl_field(rv, pl, "ban", 50), kick = hs_auth__pl_field(rv, pl, "kick", 50);
    if (streq(hs_auth__membership(state, target), "ban") && lvl < ban)
        return hs_auth__fail(rv, res, HS_AUTH_LEAVE_UNBAN_LEVEL, "level %lld < ban %lld", lvl, ban);
    if (lvl >= kick && tlvl < lvl) return HS_AUTH_OK;
    return hs_auth__fail(rv, res, HS_AUTH_LEAVE_KICK_LEVEL, "level %lld, kick %lld, target %lld", lvl, kick, tlvl);
}

static hs_auth_rule check_ban(const hs_room_version *rv, const hs_auth_state *state, const char *sender,
                              const char *target, hs_auth_result *res)
{
    const char *sm = hs_auth__membership(state, sender);
    if (!streq(sm, "join")) return hs_auth__fail(rv, res, HS_AUTH_BAN_SENDER_NOT_JOINED, "%s is %s", sender, sm);
    long long lvl = hs_auth_user_level(rv, state, sender), tlvl = hs_auth_user_level(rv, state, target);
    long long ban = hs_auth__pl_field(rv, hs_auth__content(state, "m.room.power_levels", ""), "ban", 50);
    if (lvl >= ban && tlvl < lvl) return HS_AUTH_OK;
    return hs_auth__fail(rv, res, HS_AUTH_BAN_LEVEL, "level %lld, ban %lld, target %lld", lvl, ban, tlvl);
}

static hs_auth_rule check_knock(const hs_room_version *rv, const hs_auth_state *state, const char *sender,
                                const char *target, hs_auth_result *res)
{
    const char *rule = hs_auth__join_rule(state);
    if (!streq(rule, "knock") && !(rv->knock_restricted && streq(rule, "knock_restricted")))
        return hs_auth__fail(rv, res, HS_AUTH_KNOCK_JOIN_RULE, "join rule %s", rule);
    if (!streq(sender, target))
        return hs_auth__fail(rv, res, HS_AUTH_KNOCK_SENDER_NOT_TARGET, "%s for %s", sender, target);
    const char *m = hs_auth__membership(state, sender);
    if (streq(m, "ban") || streq(m, "invite") || streq(m, "join"))
        return hs_auth__fail(rv, res, HS_AUTH_KNOCK_MEMBERSHIP, "%s is %s", sender, m);
    return HS_AUTH_OK;
}

hs_auth_rule hs_auth__member(const hs_room_version *rv, const json_t *event, const hs_auth_state *state,
                             hs_auth_result *res)
{
    const char *sender = hs_auth__str(event, "sender");
    const char *target = hs_auth__str(event, "state_key");
    const json_t *content = json_object_get(event, "content");
    const char *membership = hs_auth__str(content, "membership");
    if (!target || !membership) return hs_auth__fail(rv, res, HS_AUTH_MEMBER_MALFORMED, NULL);

    if (rv->restricted_join) {
        const json_t *via = json_object_get(content, "join_authorised_via_users_server");
        if (via) {
            const char *server = hs_auth__domain(json_string_value(via));
            if (!server || !json_is_object(json_object_get(json_object_get(event, "signatures"), server)))
                return hs_auth__fail(rv, res, HS_AUTH_MEMBER_AUTHORISER_UNSIGNED, "%s",
                                     server ? server : "(not a user ID)");
        }
    }

    if (streq(membership, "join")) return check_join(rv, event, state, sender, target, res);
    if (streq(membership, "invite")) return check_invite(rv, event, state, sender, target, res);
    if (streq(membership, "leave")) return check_leave(rv, state, sender, target, res);
    if (streq(membership, "ban")) return check_ban(rv, state, sender, target, res);
    if (rv->knock && streq(membership, "knock")) return check_knock(rv, state, sender, target, res);
    return hs_auth__fail(rv, res, HS_AUTH_MEMBER_UNKNOWN, "%s", membership);
}
