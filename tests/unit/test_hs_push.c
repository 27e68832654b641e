/* Push rules and pushers end to end on a real loopback server: the spec's default
 * ruleset (every .m.rule.* of v1.12, in order, naming the user), user rules placed with
 * before/after, enabling and disabling, changing actions of default rules, deleting
 * user rules while default rules cannot be deleted, the errors of each endpoint, and
 * pushers stored and listed. Plus the body validation of hs_push_rules directly. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_push.h"
#include "server-core/hs_server.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

static pgt_hs hs;

static void start(void)
{
    hs.listener_max_body = 1 << 20;
    pgt_hs_start(&hs, "example.test", NULL);
}

static void stop(void)
{
    pgt_hs_stop(&hs);
}

TestSuite(hs_push_api, .init = start, .fini = stop, .timeout = 120);

/* call(method, token, &status, body, path format, ...): one request to this suite's server. */
#define call(method, token, status, body, ...) pgt_mx_callf(hs.base, method, token, status, body, __VA_ARGS__)

/* expect_ok(j, &status) / expect_error(j, &status, want, errcode): the status goes by
 * pointer so it is read after the call that makes `j` has run; both decref `j`. */
#define expect_ok pgt_mx_check_ok
#define expect_error pgt_mx_check_error

static pgt_mx_login reg(const char *user)
{
    return pgt_mx_must_register(hs.base, user, "correct horse battery");
}

/* The rule IDs of one kind, space-separated, as the server lists them. */
static void ids_of(const pgt_mx_login *u, const char *kind, char *out, size_t cap)
{
    long st;
    json_t *j = call("GET", u->token, &st, NULL, "/_matrix/client/v3/pushrules/");
    cr_assert_eq(st, 200);
    json_t *list = json_object_get(json_object_get(j, "global"), kind);
    cr_assert(json_is_array(list), "%s missing", kind);
    size_t o = 0, i;
    json_t *r;
    out[0] = '\0';
    json_array_foreach(list, i, r)
    {
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? " " : "", json_string_value(json_object_get(r, "rule_id")));
        cr_assert_lt(o, cap);
    }
    json_decref(j);
}

static json_t *rule_of(const pgt_mx_login *u, const char *kind, const char *id, long *st)
{
    return call("GET", u->token, st, NULL, "/_matrix/client/v3/pushrules/global/%s/%s", kind, id);
}

Test(hs_push_api, default_ruleset_is_the_specs_for_this_user)
{
    pgt_mx_login a = reg("alice");
    char ids[2048];
    ids_of(&a, "override", ids, sizeof ids);
    cr_assert_str_eq(ids, ".m.rule.master .m.rule.suppress_notices .m.rule.invite_for_me .m.rule.member_event "
                          ".m.rule.is_user_mention .m.rule.contains_display_name .m.rule.is_room_mention "
                          ".m.rule.roomnotif .m.rule.tombstone .m.rule.reaction .m.rule.room.server_acl "
                          ".m.rule.suppress_edits");
    ids_of(&a, "content", ids, sizeof ids);
    cr_assert_str_eq(ids, ".m.rule.contains_user_name");
    ids_of(&a, "underride", ids, sizeof ids);
    cr_assert_str_eq(ids, ".m.rule.call .m.rule.encrypted_room_one_to_one .m.rule.room_one_to_one .m.rule.message "
                          ".m.rule.encrypted");
    ids_of(&a, "room", ids, sizeof ids);
    cr_assert_str_eq(ids, "");
    ids_of(&a, "sender", ids, sizeof ids);
    cr_assert_str_eq(ids, "");

    long st;
    json_t *r = rule_of(&a, "override", ".m.rule.master", &st);
    cr_assert_eq(st, 200);
    cr_assert(json_is_false(json_object_get(r, "enabled")));
    cr_assert(json_is_true(json_object_get(r, "default")));
    cr_assert_eq(json_array_size(json_object_get(r, "actions")), 0);
    json_decref(r);
    r = rule_of(&a, "override", ".m.rule.invite_for_me", &st);
    json_t *c = json_array_get(json_object_get(r, "conditions"), 2);
    cr_assert_str_eq(json_string_value(json_object_get(c, "key")), "state_key");
    cr_assert_str_eq(json_string_value(json_object_get(c, "pattern")), "@alice:example.test");
    json_decref(r);
    r = rule_of(&a, "override", ".m.rule.is_user_mention", &st);
    c = json_array_get(json_object_get(r, "conditions"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(c, "key")), "content.m\\.mentions.user_ids");
    cr_assert_str_eq(json_string_value(json_object_get(c, "value")), "@alice:example.test");
    json_decref(r);
    r = rule_of(&a, "content", ".m.rule.contains_user_name", &st);
    cr_assert_str_eq(json_string_value(json_object_get(r, "pattern")), "alice");
    json_decref(r);
    r = rule_of(&a, "underride", ".m.rule.call", &st);
    json_t *snd = json_array_get(json_object_get(r, "actions"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(snd, "value")), "ring");
    json_decref(r);

    /* /pushrules/global/ is the "global" member of /pushrules/. */
    json_t *all = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/");
    json_t *global = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/");
    cr_assert_eq(st, 200);
    cr_assert(json_equal(json_object_get(all, "global"), global));
    json_decref(all);
    json_decref(global);

    expect_error(call("GET", NULL, &st, NULL, "/_matrix/client/v3/pushrules/"), &st, 401, "M_MISSING_TOKEN");
    expect_error(rule_of(&a, "override", "nope", &st), &st, 404, "M_NOT_FOUND");
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/device/override/x"), &st, 400,
                 "M_UNRECOGNIZED");
    expect_error(rule_of(&a, "sideways", "x", &st), &st, 400, "M_INVALID_PARAM");
}

#define RULE "{\"conditions\":[{\"kind\":\"event_match\",\"key\":\"content.body\",\"pattern\":\"cake\"}]," \
             "\"actions\":[\"notify\"]}"

Test(hs_push_api, user_rules_are_placed_by_before_and_after)
{
    pgt_mx_login a = reg("alice");
    long st;
    char ids[2048];
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/a"), &st);
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/b"), &st);
    ids_of(&a, "override", ids, sizeof ids);
    /* New rules are the most important user rules; master stays first, defaults after. */
    cr_assert_eq(strncmp(ids, ".m.rule.master b a .m.rule.suppress_notices", 43), 0, "%s", ids);
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/c?after=b"), &st);
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/d?before=b"), &st);
    ids_of(&a, "override", ids, sizeof ids);
    cr_assert_eq(strncmp(ids, ".m.rule.master d b c a .m.rule.suppress_notices", 47), 0, "%s", ids);
    /* Moving an existing rule, and replacing one without an anchor keeps its place. */
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/d?after=a"), &st);
    expect_ok(call("PUT", a.token, &st, "{\"conditions\":[],\"actions\":[]}", "/_matrix/client/v3/pushrules/global/override/c"),
              &st);
    ids_of(&a, "override", ids, sizeof ids);
    cr_assert_eq(strncmp(ids, ".m.rule.master b c a d .m.rule.suppress_notices", 47), 0, "%s", ids);
    json_t *r = rule_of(&a, "override", "c", &st);
    cr_assert_eq(json_array_size(json_object_get(r, "actions")), 0);
    cr_assert_eq(json_array_size(json_object_get(r, "conditions")), 0);
    cr_assert(json_is_false(json_object_get(r, "default")));
    cr_assert(json_is_true(json_object_get(r, "enabled")));
    json_decref(r);

    expect_error(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/e?before=zzz"), &st,
                 400, "M_UNKNOWN");
    expect_error(call("PUT", a.token, &st, RULE,
                      "/_matrix/client/v3/pushrules/global/override/e?before=.m.rule.suppress_notices"),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/.mine"), &st, 400,
                 "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/.m.rule.master"), &st,
                 400, "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, "{\"actions\":[\"notify\"]}", "/_matrix/client/v3/pushrules/global/content/nopattern"),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, "{\"actions\":[\"explode\"]}", "/_matrix/client/v3/pushrules/global/override/x"),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, "{\"conditions\":[]}", "/_matrix/client/v3/pushrules/global/override/x"), &st,
                 400, "M_INVALID_PARAM");
    /* Bytes that are not UTF-8 are a client error, never a 500. */
    expect_error(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/%%FFx"), &st, 400,
                 "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/e?after=%%FF"), &st,
                 400, "M_UNKNOWN");
    ids_of(&a, "override", ids, sizeof ids);
    cr_assert_null(strstr(ids, " e "), "%s", ids);
    cr_assert_null(strstr(ids, " x "), "%s", ids);

    /* Content and room rules; another user's ruleset is untouched. */
    expect_ok(call("PUT", a.token, &st, "{\"pattern\":\"cake*lie\",\"actions\":[\"notify\",\"dont_notify\"]}",
                   "/_matrix/client/v3/pushrules/global/content/nocake"),
              &st);
    r = rule_of(&a, "content", "nocake", &st);
    cr_assert_str_eq(json_string_value(json_object_get(r, "pattern")), "cake*lie");
    cr_assert_eq(json_array_size(json_object_get(r, "actions")), 1, "dont_notify is dropped");
    json_decref(r);
    expect_ok(call("PUT", a.token, &st, "{\"actions\":[]}", "/_matrix/client/v3/pushrules/global/room/%%21r%%3Aexample.test"),
              &st);
    ids_of(&a, "room", ids, sizeof ids);
    cr_assert_str_eq(ids, "!r:example.test");
    pgt_mx_login b = reg("bob");
    ids_of(&b, "room", ids, sizeof ids);
    cr_assert_str_eq(ids, "");

    /* The account-data view the sync engineer serves is the same ruleset. */
    json_t *direct = hs_push_rules_for_user(hs.srv.store, a.user_id);
    json_t *api = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/");
    cr_assert(json_equal(direct, api));
    json_decref(direct);
    json_decref(api);
}

Test(hs_push_api, enable_disable_and_actions_on_user_and_default_rules)
{
    pgt_mx_login a = reg("alice");
    long st;
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/underride/mine"), &st);
    expect_ok(call("PUT", a.token, &st, "{\"enabled\":false}", "/_matrix/client/v3/pushrules/global/underride/mine/enabled"),
              &st);
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/underride/mine/enabled");
    cr_assert(json_is_false(json_object_get(j, "enabled")));
    json_decref(j);
    /* Replacing the rule keeps it disabled. */
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/underride/mine"), &st);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/underride/mine/enabled");
    cr_assert(json_is_false(json_object_get(j, "enabled")));
    json_decref(j);

    expect_ok(call("PUT", a.token, &st, "{\"enabled\":true}", "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled"),
              &st);
    j = rule_of(&a, "override", ".m.rule.master", &st);
    cr_assert(json_is_true(json_object_get(j, "enabled")));
    json_decref(j);
    expect_ok(call("PUT", a.token, &st, "{\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"bing\"}]}",
                   "/_matrix/client/v3/pushrules/global/underride/.m.rule.message/actions"),
              &st);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/underride/.m.rule.message/actions");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "actions"), 1), "value")), "bing");
    json_decref(j);
    /* Changing actions of a default rule keeps its conditions and place. */
    j = rule_of(&a, "underride", ".m.rule.message", &st);
    cr_assert_eq(json_array_size(json_object_get(j, "conditions")), 1);
    cr_assert(json_is_true(json_object_get(j, "default")));
    json_decref(j);

    /* Survives a restart. */
    pgt_hs_restart(&hs);
    j = rule_of(&a, "override", ".m.rule.master", &st);
    cr_assert(json_is_true(json_object_get(j, "enabled")));
    json_decref(j);

    expect_error(call("PUT", a.token, &st, "{\"enabled\":\"yes\"}", "/_matrix/client/v3/pushrules/global/underride/mine/enabled"),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("PUT", a.token, &st, "{\"enabled\":true}", "/_matrix/client/v3/pushrules/global/override/ghost/enabled"),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("PUT", a.token, &st, "{\"enabled\":true}", "/_matrix/client/v3/pushrules/global/override/.m.rule.ghost/enabled"),
                 &st, 404, "M_NOT_FOUND");
    expect_error(call("PUT", a.token, &st, "{\"actions\":\"notify\"}", "/_matrix/client/v3/pushrules/global/underride/mine/actions"),
                 &st, 400, "M_INVALID_PARAM");
    expect_error(call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/override/ghost/actions"), &st, 404,
                 "M_NOT_FOUND");
}

Test(hs_push_api, changes_reach_sync_as_m_push_rules_account_data)
{
    pgt_mx_login a = reg("alice");
    long st;
    expect_ok(call("PUT", a.token, &st, "{\"pattern\":\"cake\",\"actions\":[\"notify\"]}",
                   "/_matrix/client/v3/pushrules/global/content/cake"),
              &st);
    json_t *api = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushrules/");
    json_t *ad = call("GET", a.token, &st, NULL, "/_matrix/client/v3/user/%s/account_data/m.push_rules", a.user_id);
    cr_assert_eq(st, 200);
    cr_assert(json_equal(api, ad), "account data is the served ruleset");
    json_decref(ad);
    json_decref(api);

    /* An incremental /sync after a change carries the new ruleset. */
    json_t *s1 = call("GET", a.token, &st, NULL, "/_matrix/client/v3/sync");
    char since[128];
    snprintf(since, sizeof since, "%s", json_string_value(json_object_get(s1, "next_batch")));
    json_decref(s1);
    expect_ok(call("PUT", a.token, &st, "{\"enabled\":false}", "/_matrix/client/v3/pushrules/global/content/cake/enabled"),
              &st);
    json_t *s2 = call("GET", a.token, &st, NULL, "/_matrix/client/v3/sync?since=%s&timeout=0", since);
    cr_assert_eq(st, 200);
    json_t *events = json_object_get(json_object_get(s2, "account_data"), "events"), *ev, *found = NULL;
    size_t i;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "m.push_rules") == 0) found = ev;
    }
    char *dump = json_dumps(s2, 0);
    cr_assert_not_null(found, "no m.push_rules in %s", dump);
    free(dump);
    json_t *cake = json_array_get(json_object_get(json_object_get(json_object_get(found, "content"), "global"), "content"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(cake, "rule_id")), "cake");
    cr_assert(json_is_false(json_object_get(cake, "enabled")));
    json_decref(s2);
}

Test(hs_push_api, user_rules_can_be_deleted_default_rules_cannot)
{
    pgt_mx_login a = reg("alice");
    long st;
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/gone"), &st);
    expect_ok(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/override/gone"), &st);
    expect_error(rule_of(&a, "override", "gone", &st), &st, 404, "M_NOT_FOUND");
    expect_error(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/override/gone"), &st, 404,
                 "M_NOT_FOUND");
    expect_error(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/override/.m.rule.master"), &st,
                 400, "M_INVALID_PARAM");
    expect_error(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/content/.m.rule.master"), &st,
                 404, "M_NOT_FOUND");
    json_t *r = rule_of(&a, "override", ".m.rule.master", &st);
    cr_assert_eq(st, 200, "the default rule is still there");
    json_decref(r);
}

/* A client cannot grow its ruleset without bound: every event is evaluated against it
 * and every change sends it whole to /sync. */
Test(hs_push_api, user_rule_count_is_limited)
{
    pgt_mx_login a = reg("alice");
    long st;
    static const char *const kinds[] = {"override", "underride", "room", "sender", "content"};
    for (int i = 0; i < HS_PUSH_MAX_USER_RULES; i++) {
        const char *kind = kinds[i % 5];
        const char *body = strcmp(kind, "content") == 0 ? "{\"pattern\":\"cake\",\"actions\":[]}" : RULE;
        expect_ok(call("PUT", a.token, &st, body, "/_matrix/client/v3/pushrules/global/%s/r%d", kind, i), &st);
    }
    expect_error(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/one_more"), &st, 400,
                 "M_INVALID_PARAM");
    expect_error(rule_of(&a, "override", "one_more", &st), &st, 404, "M_NOT_FOUND");
    /* At the limit an existing rule may still be replaced, and a deletion makes room. */
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/r0?after=r5"), &st);
    expect_ok(call("DELETE", a.token, &st, NULL, "/_matrix/client/v3/pushrules/global/underride/r1"), &st);
    expect_ok(call("PUT", a.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/one_more"), &st);
    char ids[4096];
    ids_of(&a, "override", ids, sizeof ids);
    cr_assert(strstr(ids, ".m.rule.master one_more "), "%s", ids);
    /* Another user's count is their own. */
    pgt_mx_login b = reg("bob");
    expect_ok(call("PUT", b.token, &st, RULE, "/_matrix/client/v3/pushrules/global/override/mine"), &st);
}

Test(hs_push_api, pushers_are_stored_listed_and_removed)
{
    pgt_mx_login a = reg("alice");
    long st;
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushers");
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "pushers")), 0);
    json_decref(j);
    const char *pusher = "{\"pushkey\":\"key1\",\"kind\":\"http\",\"app_id\":\"org.example.app\",\"app_display_name\":\"App\","
                         "\"device_display_name\":\"Phone\",\"lang\":\"en\",\"data\":{\"url\":\"https://push.example/_matrix/push/v1/notify\"}}";
    expect_ok(call("POST", a.token, &st, pusher, "/_matrix/client/v3/pushers/set"), &st);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushers");
    json_t *p = json_array_get(json_object_get(j, "pushers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p, "pushkey")), "key1");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "data"), "url")),
                     "https://push.example/_matrix/push/v1/notify");
    json_decref(j);
    expect_error(call("POST", a.token, &st, "{\"pushkey\":\"k\",\"kind\":\"http\",\"app_id\":\"a\",\"app_display_name\":\"A\","
                                            "\"device_display_name\":\"P\",\"lang\":\"en\",\"data\":{}}",
                      "/_matrix/client/v3/pushers/set"),
                 &st, 400, "M_MISSING_PARAM");
    expect_error(call("POST", a.token, &st, "{\"kind\":null}", "/_matrix/client/v3/pushers/set"), &st, 400,
                 "M_MISSING_PARAM");
    expect_ok(call("POST", a.token, &st, "{\"pushkey\":\"key1\",\"kind\":null,\"app_id\":\"org.example.app\"}",
                   "/_matrix/client/v3/pushers/set"),
              &st);
    j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushers");
    cr_assert_eq(json_array_size(json_object_get(j, "pushers")), 0);
    json_decref(j);
}

/* Pushers are listed whole: a user has at most 32, each at most 8 KiB of JSON. */
Test(hs_push_api, pushers_are_bounded)
{
    pgt_mx_login a = reg("alice");
    long st;
    const char *fmt = "{\"pushkey\":\"key%d\",\"kind\":\"http\",\"app_id\":\"org.example.app\",\"app_display_name\":"
                      "\"App\",\"device_display_name\":\"Phone\",\"lang\":\"en\",\"data\":{\"url\":"
                      "\"https://push.example/_matrix/push/v1/notify\",\"pad\":\"%s\"}}";
    char body[16384];
    for (int i = 0; i < 32; i++) {
        snprintf(body, sizeof body, fmt, i, "");
        expect_ok(call("POST", a.token, &st, body, "/_matrix/client/v3/pushers/set"), &st);
    }
    snprintf(body, sizeof body, fmt, 32, "");
    expect_error(call("POST", a.token, &st, body, "/_matrix/client/v3/pushers/set"), &st, 400, "M_INVALID_PARAM");
    snprintf(body, sizeof body, fmt, 0, "changed");
    expect_ok(call("POST", a.token, &st, body, "/_matrix/client/v3/pushers/set"), &st);
    json_t *j = call("GET", a.token, &st, NULL, "/_matrix/client/v3/pushers");
    cr_assert_eq(json_array_size(json_object_get(j, "pushers")), 32, "replacing one at the limit is fine");
    json_decref(j);
    expect_ok(call("POST", a.token, &st, "{\"pushkey\":\"key1\",\"kind\":null,\"app_id\":\"org.example.app\"}",
                   "/_matrix/client/v3/pushers/set"),
              &st);
    static char pad[9000];
    memset(pad, 'x', sizeof pad - 1);
    snprintf(body, sizeof body, fmt, 40, pad);
    expect_error(call("POST", a.token, &st, body, "/_matrix/client/v3/pushers/set"), &st, 400, "M_INVALID_PARAM");
    snprintf(body, sizeof body, fmt, 40, "");
    expect_ok(call("POST", a.token, &st, body, "/_matrix/client/v3/pushers/set"), &st);
}

/* ---- hs_push_rules directly --------------------------------------------------------- */

Test(hs_push, rule_bodies_are_validated_and_cleaned)
{
    char why[256];
    json_t *actions = NULL;
    json_t *body = json_loads("{\"actions\":[\"coalesce\",\"notify\",{\"set_tweak\":\"highlight\",\"value\":false}]}", 0, NULL);
    json_t *rule = hs_push_rule_parse(HS_PUSH_OVERRIDE, body, &actions, why, sizeof why);
    cr_assert_not_null(rule, "%s", why);
    cr_assert_eq(json_array_size(actions), 2);
    cr_assert_eq(json_array_size(json_object_get(rule, "conditions")), 0, "absent conditions are []");
    json_decref(rule);
    json_decref(actions);
    json_decref(body);

    static const char *const bad[] = {
        "{\"actions\":[{\"value\":1}]}",
        "{\"actions\":[{\"set_tweak\":\"x\",\"value\":{\"deep\":1}}]}",
        "{\"actions\":[],\"conditions\":[{\"kind\":\"event_match\",\"key\":\"type\"}]}",
        "{\"actions\":[],\"conditions\":[{\"kind\":\"room_member_count\"}]}",
        "{\"actions\":[],\"conditions\":[{\"kind\":\"event_property_is\",\"key\":\"a\",\"value\":[1]}]}",
        "{\"actions\":[],\"conditions\":{}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = json_loads(bad[i], 0, NULL);
        cr_assert_null(hs_push_rule_parse(HS_PUSH_OVERRIDE, body, &actions, why, sizeof why), "%s", bad[i]);
        cr_assert_gt(strlen(why), 0);
        json_decref(body);
    }
    /* Condition and tweak objects have a bounded number of members, so a rule's size is bounded. */
    char wide[2048];
    for (int tweak = 0; tweak < 2; tweak++) {
        int o = snprintf(wide, sizeof wide, tweak ? "{\"conditions\":[],\"actions\":[{\"set_tweak\":\"x\""
                                                  : "{\"actions\":[],\"conditions\":[{\"kind\":\"k\"");
        for (int i = 1; i < HS_PUSH_MAX_FIELDS; i++) o += snprintf(wide + o, sizeof wide - (size_t)o, ",\"f%d\":1", i);
        snprintf(wide + o, sizeof wide - (size_t)o, "}]}");
        body = json_loads(wide, 0, NULL);
        rule = hs_push_rule_parse(HS_PUSH_OVERRIDE, body, &actions, why, sizeof why);
        cr_assert_not_null(rule, "%d members are fine: %s", HS_PUSH_MAX_FIELDS, why);
        json_decref(rule);
        json_decref(actions);
        json_object_set_new(json_array_get(json_object_get(body, tweak ? "actions" : "conditions"), 0), "one_more",
                            json_integer(1));
        cr_assert_null(hs_push_rule_parse(HS_PUSH_OVERRIDE, body, &actions, why, sizeof why), "%s", wide);
        json_decref(body);
    }
    /* Unknown condition kinds are kept: the spec says they just never match. */
    body = json_loads("{\"actions\":[],\"conditions\":[{\"kind\":\"org.example.future\"}]}", 0, NULL);
    rule = hs_push_rule_parse(HS_PUSH_UNDERRIDE, body, &actions, why, sizeof why);
    cr_assert_not_null(rule, "%s", why);
    json_decref(rule);
    json_decref(actions);
    json_decref(body);
    cr_assert_eq(hs_push_rule_id_check("ok", why, sizeof why), 0);
    cr_assert_eq(hs_push_rule_id_check("a/b", why, sizeof why), -1);
    cr_assert_eq(hs_push_rule_id_check("a\\b", why, sizeof why), -1);
    cr_assert_eq(hs_push_rule_id_check("", why, sizeof why), -1);
    cr_assert_eq(hs_push_rule_id_check("caf\xc3\xa9", why, sizeof why), 0);
    cr_assert_eq(hs_push_rule_id_check("caf\xc3", why, sizeof why), -1, "not UTF-8");
}

/* The spec's own definitions of the server-default rules ("Predefined Rules" of
 * client-server-api/modules/push.md in matrix-org/matrix-spec, read at commit 0318440),
 * transcribed in order with the user "@alice:example.test" put in for "[the user's
 * Matrix ID]" and "alice" for its local part: every field of every rule must be equal. */
#define EM(k, p) "{\"kind\":\"event_match\",\"key\":\"" k "\",\"pattern\":\"" p "\"}"
#define DEF(id, conds, acts) "{\"rule_id\":\"" id "\",\"default\":true,\"enabled\":true,\"conditions\":[" conds "]," \
                             "\"actions\":[" acts "]}"
#define SOUND(v) "{\"set_tweak\":\"sound\",\"value\":\"" v "\"}"
#define HL "{\"set_tweak\":\"highlight\"}"
#define PERM_ROOM "{\"kind\":\"sender_notification_permission\",\"key\":\"room\"}"
#define TWO "{\"kind\":\"room_member_count\",\"is\":\"2\"}"
static const char spec_defaults[] =
    "{\"override\":["
    "{\"rule_id\":\".m.rule.master\",\"default\":true,\"enabled\":false,\"conditions\":[],\"actions\":[]},"
    DEF(".m.rule.suppress_notices", EM("content.msgtype", "m.notice"), "") ","
    DEF(".m.rule.invite_for_me", EM("type", "m.room.member") "," EM("content.membership", "invite") ","
        EM("state_key", "@alice:example.test"), "\"notify\"," SOUND("default")) ","
    DEF(".m.rule.member_event", EM("type", "m.room.member"), "") ","
    DEF(".m.rule.is_user_mention", "{\"kind\":\"event_property_contains\",\"key\":\"content.m\\\\.mentions.user_ids\","
        "\"value\":\"@alice:example.test\"}", "\"notify\"," SOUND("default") "," HL) ","
    DEF(".m.rule.contains_display_name", "{\"kind\":\"contains_display_name\"}", "\"notify\"," SOUND("default") "," HL) ","
    DEF(".m.rule.is_room_mention", "{\"kind\":\"event_property_is\",\"key\":\"content.m\\\\.mentions.room\",\"value\":true},"
        PERM_ROOM, "\"notify\"," HL) ","
    DEF(".m.rule.roomnotif", EM("content.body", "@room") "," PERM_ROOM, "\"notify\"," HL) ","
    DEF(".m.rule.tombstone", EM("type", "m.room.tombstone") "," EM("state_key", ""), "\"notify\"," HL) ","
    DEF(".m.rule.reaction", EM("type", "m.reaction"), "") ","
    DEF(".m.rule.room.server_acl", EM("type", "m.room.server_acl") "," EM("state_key", ""), "") ","
    DEF(".m.rule.suppress_edits", "{\"kind\":\"event_property_is\",\"key\":\"content.m\\\\.relates_to.rel_type\","
        "\"value\":\"m.replace\"}", "")
    "],\"content\":["
    "{\"rule_id\":\".m.rule.contains_user_name\",\"default\":true,\"enabled\":true,\"pattern\":\"alice\","
    "\"actions\":[\"notify\"," SOUND("default") "," HL "]}"
    "],\"room\":[],\"sender\":[],\"underride\":["
    DEF(".m.rule.call", EM("type", "m.call.invite"), "\"notify\"," SOUND("ring")) ","
    DEF(".m.rule.encrypted_room_one_to_one", TWO "," EM("type", "m.room.encrypted"), "\"notify\"," SOUND("default")) ","
    DEF(".m.rule.room_one_to_one", TWO "," EM("type", "m.room.message"), "\"notify\"," SOUND("default")) ","
    DEF(".m.rule.message", EM("type", "m.room.message"), "\"notify\"") ","
    DEF(".m.rule.encrypted", EM("type", "m.room.encrypted"), "\"notify\"")
    "]}";

Test(hs_push, default_ruleset_equals_the_specs_definitions)
{
    json_error_t e;
    json_t *want = json_loads(spec_defaults, 0, &e);
    cr_assert_not_null(want, "transcription: %s at %d", e.text, e.position);
    json_t *got = hs_push_default_ruleset("@alice:example.test");
    const char *kind;
    json_t *list;
    json_object_foreach(want, kind, list)
    {
        json_t *ours = json_object_get(got, kind);
        cr_assert_eq(json_array_size(ours), json_array_size(list), "%s", kind);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char *w = json_dumps(json_array_get(list, i), JSON_SORT_KEYS), *g = json_dumps(json_array_get(ours, i), JSON_SORT_KEYS);
            cr_assert(json_equal(json_array_get(list, i), json_array_get(ours, i)), "%s[%zu]:\nspec %s\nours %s", kind, i, w, g);
            free(w);
            free(g);
        }
    }
    cr_assert_eq(json_object_size(got), json_object_size(want));
    json_decref(got);
    json_decref(want);
}
