/* hs_push_eval against the spec's own examples (glob on content.topic and on
 * content.body with word boundaries, event_property_is/contains, member counts, the
 * sender's notification power) and against the default ruleset: what a user would see
 * as "notifies", "highlights" or "silent" for ordinary events. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "server-core/hs_push_eval.h"
#include "server-core/hs_push_rules.h"

Test(hs_push_eval, glob_matches_whole_values_like_the_spec)
{
    cr_assert(hs_push_glob("lunc?*", "Lunch plans", false));
    cr_assert(hs_push_glob("lunc?*", "LUNCH", false));
    cr_assert_not(hs_push_glob("lunc?*", " lunch", false), "leading space");
    cr_assert_not(hs_push_glob("lunc?*", "lunc", false), "? needs a character");
    cr_assert(hs_push_glob("*", "", false));
    cr_assert(hs_push_glob("m.room.message", "m.room.message", false));
    cr_assert_not(hs_push_glob("m.room.message", "m.room.message.x", false));
    cr_assert(hs_push_glob("caf?", "caf\xc3\xa9", false), "? is one character, not one byte");
    cr_assert_not(hs_push_glob("caf??", "caf\xc3\xa9", false));
}

Test(hs_push_eval, glob_on_body_matches_words_like_the_spec)
{
    cr_assert(hs_push_glob("ex*ple", "An example event.", true));
    cr_assert(hs_push_glob("ex*ple", "exple", true));
    cr_assert(hs_push_glob("ex*ple", "An exciting triple-whammy", true));
    cr_assert_not(hs_push_glob("ex*ple", "Anexample", true), "must start at a word boundary");
    cr_assert(hs_push_glob("alice", "hey Alice!", true));
    cr_assert_not(hs_push_glob("alice", "malice aforethought", true));
    cr_assert_not(hs_push_glob("alice", "alice_b", true), "_ is a word character");
    cr_assert(hs_push_glob("@room", "hello @room", true));
    /* Backtracking-hostile patterns stay fast (this would take ages with naive recursion). */
    char text[4001];
    memset(text, 'a', 4000);
    text[4000] = '\0';
    cr_assert_not(hs_push_glob("*a*a*a*a*a*a*a*a*a*a*a*a*b", text, false));
}

Test(hs_push_eval, property_paths_unescape_dots)
{
    json_t *ev = json_loads("{\"content\":{\"m.relates_to\":{\"rel_type\":\"m.replace\"},\"a\\\\b\":1}}", 0, NULL);
    cr_assert_str_eq(json_string_value(hs_push_property(ev, "content.m\\.relates_to.rel_type")), "m.replace");
    cr_assert_null(hs_push_property(ev, "content.m.relates_to.rel_type"));
    cr_assert_eq(json_integer_value(hs_push_property(ev, "content.a\\\\b")), 1);
    cr_assert_null(hs_push_property(ev, "content.missing.deeper"));
    json_decref(ev);
}

/* Evaluates the default ruleset of @alice:example.test for `event_json`. */
static hs_push_result eval_default(const char *event_json, int64_t members, int64_t sender_power)
{
    json_t *set = hs_push_default_ruleset("@alice:example.test");
    json_t *ev = json_loads(event_json, 0, NULL);
    cr_assert_not_null(ev, "%s", event_json);
    hs_push_ctx ctx = {.user_id = "@alice:example.test", .display_name = "Alice L", .member_count = members,
                       .sender_power = sender_power};
    hs_push_result r;
    hs_push_evaluate(set, ev, &ctx, &r);
    /* rule_id points into the ruleset: keep a copy alive for the caller's asserts. */
    static char id[128];
    snprintf(id, sizeof id, "%s", r.rule_id ? r.rule_id : "");
    r.rule_id = r.rule_id ? id : NULL;
    r.sound = NULL;
    json_decref(ev);
    json_decref(set);
    return r;
}

#define MSG(body) "{\"type\":\"m.room.message\",\"sender\":\"@bob:example.test\",\"room_id\":\"!r:example.test\"," \
                  "\"content\":{\"msgtype\":\"m.text\",\"body\":\"" body "\"}}"

Test(hs_push_eval, default_rules_give_the_notifications_users_expect)
{
    /* rule: the rule that decides (NULL: none matches); then what the user sees. */
    static const struct {
        const char *event;
        int64_t members, sender_power;
        const char *rule;
        bool notify, highlight;
        const char *why;
    } cases[] = {
        {MSG("hello"), 5, 0, ".m.rule.message", true, false, "a message in a group"},
        {MSG("hello"), 2, 0, ".m.rule.room_one_to_one", true, false, "a message in a DM"},
        {MSG("hi alice, lunch?"), 5, 0, ".m.rule.contains_user_name", true, true, "the localpart"},
        {MSG("is Alice L around"), 5, 0, ".m.rule.contains_display_name", true, true, "the display name"},
        {MSG("@room lunch"), 5, 50, ".m.rule.roomnotif", true, true, "@room with the power to"},
        {MSG("@room lunch"), 5, 0, ".m.rule.message", true, false, "no power to notify the room"},
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.test\",\"content\":{\"msgtype\":\"m.text\","
         "\"body\":\"x\",\"m.mentions\":{\"user_ids\":[\"@alice:example.test\"]}}}",
         5, 0, ".m.rule.is_user_mention", true, true, "an intentional mention"},
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.test\",\"content\":{\"msgtype\":\"m.notice\","
         "\"body\":\"alice\"}}",
         5, 0, ".m.rule.suppress_notices", false, false, "a bot's notice"},
        {"{\"type\":\"m.room.message\",\"sender\":\"@bob:example.test\",\"content\":{\"body\":\"* fixed\","
         "\"m.relates_to\":{\"rel_type\":\"m.replace\",\"event_id\":\"$x\"}}}",
         5, 0, ".m.rule.suppress_edits", false, false, "an edit"},
        {"{\"type\":\"m.room.member\",\"sender\":\"@bob:example.test\",\"state_key\":\"@alice:example.test\","
         "\"content\":{\"membership\":\"invite\"}}",
         5, 0, ".m.rule.invite_for_me", true, false, "an invite"},
        {"{\"type\":\"m.room.member\",\"sender\":\"@bob:example.test\",\"state_key\":\"@bob:example.test\","
         "\"content\":{\"membership\":\"join\"}}",
         5, 0, ".m.rule.member_event", false, false, "someone else joins"},
        {"{\"type\":\"m.room.encrypted\",\"sender\":\"@bob:example.test\",\"content\":{}}", 2, 0,
         ".m.rule.encrypted_room_one_to_one", true, false, "an encrypted DM"},
        {"{\"type\":\"m.reaction\",\"sender\":\"@bob:example.test\",\"content\":{}}", 2, 0, ".m.rule.reaction",
         false, false, "a reaction"},
        {"{\"type\":\"org.example.custom\",\"sender\":\"@bob:example.test\",\"content\":{}}", 2, 0, NULL, false,
         false, "nothing matches an unknown event type"},
        {"{\"type\":\"m.room.message\",\"sender\":\"@alice:example.test\",\"content\":{\"body\":\"alice\"}}", 2,
         100, NULL, false, false, "own events never notify"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hs_push_result r = eval_default(cases[i].event, cases[i].members, cases[i].sender_power);
        if (cases[i].rule) cr_assert_str_eq(r.rule_id, cases[i].rule, "%s", cases[i].why);
        else cr_assert_null(r.rule_id, "%s", cases[i].why);
        cr_assert_eq(r.notify, cases[i].notify, "%s: notify", cases[i].why);
        cr_assert_eq(r.highlight, cases[i].highlight, "%s: highlight", cases[i].why);
    }
}

Test(hs_push_eval, user_rules_disabled_rules_and_room_rules)
{
    json_t *set = hs_push_default_ruleset("@alice:example.test");
    /* Mute one room (a room rule with no actions) and disable .m.rule.message. */
    json_array_append_new(json_object_get(set, "room"),
                          json_pack("{ss sb sb s[]}", "rule_id", "!muted:example.test", "default", 0, "enabled", 1, "actions"));
    json_t *message = json_array_get(json_object_get(set, "underride"), 3);
    cr_assert_str_eq(json_string_value(json_object_get(message, "rule_id")), ".m.rule.message");
    json_object_set_new(message, "enabled", json_false());
    hs_push_ctx ctx = {.user_id = "@alice:example.test", .member_count = 5};
    hs_push_result r;
    json_t *ev = json_loads("{\"type\":\"m.room.message\",\"sender\":\"@bob:example.test\",\"room_id\":\"!muted:example.test\","
                            "\"content\":{\"body\":\"hi\"}}",
                            0, NULL);
    cr_assert(hs_push_evaluate(set, ev, &ctx, &r));
    cr_assert_str_eq(r.rule_id, "!muted:example.test");
    cr_assert_not(r.notify);
    json_object_set_new(ev, "room_id", json_string("!other:example.test"));
    cr_assert_not(hs_push_evaluate(set, ev, &ctx, &r), "the disabled rule does not match");
    /* Member counts with every operator. */
    json_t *cond = json_pack("{s{ss sb sb s[{ss ss}] s[s]}}", "r", "rule_id", "big", "default", 0,
                             "enabled", 1, "conditions", "kind", "room_member_count", "is", ">=10", "actions", "notify");
    json_array_insert(json_object_get(set, "override"), 1, json_object_get(cond, "r"));
    ctx.member_count = 10;
    cr_assert(hs_push_evaluate(set, ev, &ctx, &r));
    cr_assert_str_eq(r.rule_id, "big");
    ctx.member_count = 9;
    cr_assert_not(hs_push_evaluate(set, ev, &ctx, &r));
    json_decref(cond);
    json_decref(ev);
    json_decref(set);
}

/* A rule's pattern over a long body costs pattern x body steps; one evaluation may
 * spend HS_PUSH_EVAL_BUDGET of them, so a user's 100 rules of 32 long patterns cannot
 * keep a thread busy for minutes per event. Past the budget a glob does not match. */
Test(hs_push_eval, glob_work_per_event_is_bounded, .timeout = 60)
{
    static char pattern[HS_PUSH_STRING_MAX + 1], body[65537];
    memset(pattern, '*', HS_PUSH_STRING_MAX - 1);
    pattern[HS_PUSH_STRING_MAX - 1] = 'a';
    memset(body, 'a', sizeof body - 1);
    json_t *set = hs_push_default_ruleset("@alice:example.test");
    json_t *conds = json_array();
    for (int i = 0; i < HS_PUSH_MAX_CONDITIONS; i++)
        json_array_append_new(conds, json_pack("{ss ss ss}", "kind", "event_match", "key", "content.body", "pattern", pattern));
    json_array_insert_new(json_object_get(set, "override"), 1,
                          json_pack("{ss sb sb so s[s]}", "rule_id", "costly", "default", 0, "enabled", 1, "conditions",
                                    conds, "actions", "notify"));
    hs_push_ctx ctx = {.user_id = "@alice:example.test", .member_count = 5};
    hs_push_result r;
    json_t *ev = json_pack("{ss ss s{ss}}", "type", "m.room.message", "sender", "@bob:example.test", "content", "body", "aaaa");
    cr_assert(hs_push_evaluate(set, ev, &ctx, &r));
    cr_assert_str_eq(r.rule_id, "costly", "every pattern matches a short body");
    cr_assert(hs_push_glob(pattern, body, true), "and, without a budget, the long body too");
    json_object_set_new(json_object_get(ev, "content"), "body", json_string(body));
    hs_push_evaluate(set, ev, &ctx, &r);
    cr_assert(r.rule_id == NULL || strcmp(r.rule_id, "costly") != 0, "the long body is past the budget");
    json_decref(ev);
    json_decref(set);
}
