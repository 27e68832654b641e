/* Redaction: Synapse's served redactions (pdu_served) byte for byte, and the per-version
 * rule changes (v6 aliases, v8 allow, v9 join_authorised_via_users_server, v11). */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_redact.h"
#include "unit/test_hs_event_fixtures.h"

static char *canon_without_unsigned(const json_t *v)
{
    static const char *const skip[] = {"unsigned", NULL};
    char *s = hs_cjson_encode_without(v, skip, 0, NULL, NULL);
    cr_assert_not_null(s);
    return s;
}

Test(hs_redact, matches_synapse_served_events)
{
    int compared = 0;
    for (int r = 0; r < HS_FIX_N_ROOMS; r++) {
        json_t *lines = hs_fix_lines(hs_fix_rooms[r]);
        size_t i;
        json_t *line;
        json_array_foreach(lines, i, line) {
            json_t *served = json_object_get(json_object_get(line, "pdu_served"), "pdu");
            if (!served) continue;
            const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(line, "room_version")));
            json_t *red = hs_redact(json_object_get(line, "pdu"), rv);
            cr_assert_not_null(red);
            char *got = canon_without_unsigned(red), *want = canon_without_unsigned(served);
            cr_expect_str_eq(got, want, "%s line %zu", hs_fix_rooms[r], i + 1);
            free(got);
            free(want);
            json_decref(red);
            compared++;
        }
        json_decref(lines);
    }
    cr_expect_eq(compared, 14, "5 + 5 + 4 redacted events");
}

/* Redacts `event` under version `ver` and compares with `want` (canonical). */
static void expect_redacted(const char *ver, const char *event, const char *want)
{
    json_t *ev = hs_cjson_parse(event, strlen(event), 1 << 16, 0, NULL);
    cr_assert_not_null(ev, "bad test JSON %s", event);
    json_t *red = hs_redact(ev, hs_room_version_get(ver));
    char *got = hs_cjson_encode(red, 0, NULL, NULL);
    cr_expect_str_eq(got, want, "room version %s", ver);
    free(got);
    json_decref(red);
    json_decref(ev);
}

#define BASE "\"origin\":\"x.org\",\"membership\":\"join\",\"prev_state\":[],\"unsigned\":{\"a\":1},\"foo\":1"

Test(hs_redact, top_level_keys_v1_vs_v11)
{
    const char *ev = "{\"type\":\"m.room.message\",\"content\":{\"body\":\"hi\"}," BASE "}";
    expect_redacted("10", ev, "{\"content\":{},\"membership\":\"join\",\"origin\":\"x.org\",\"prev_state\":[],"
                              "\"type\":\"m.room.message\"}");
    expect_redacted("11", ev, "{\"content\":{},\"type\":\"m.room.message\"}");
    expect_redacted("1", "{\"type\":\"x\"}", "{\"content\":{},\"type\":\"x\"}");
}

Test(hs_redact, aliases_until_v6)
{
    const char *ev = "{\"type\":\"m.room.aliases\",\"content\":{\"aliases\":[\"#a:x.org\"],\"other\":1}}";
    expect_redacted("5", ev, "{\"content\":{\"aliases\":[\"#a:x.org\"]},\"type\":\"m.room.aliases\"}");
    expect_redacted("6", ev, "{\"content\":{},\"type\":\"m.room.aliases\"}");
}

Test(hs_redact, join_rules_allow_from_v8)
{
    const char *ev = "{\"type\":\"m.room.join_rules\",\"content\":{\"join_rule\":\"restricted\",\"allow\":[],\"x\":1}}";
    expect_redacted("7", ev, "{\"content\":{\"join_rule\":\"restricted\"},\"type\":\"m.room.join_rules\"}");
    expect_redacted("8", ev, "{\"content\":{\"allow\":[],\"join_rule\":\"restricted\"},\"type\":\"m.room.join_rules\"}");
}

Test(hs_redact, member_keys_by_version)
{
    const char *ev = "{\"type\":\"m.room.member\",\"content\":{\"membership\":\"join\",\"displayname\":\"d\","
                     "\"join_authorised_via_users_server\":\"@a:x.org\",\"third_party_invite\":{\"display_name\":\"e\","
                     "\"signed\":{\"mxid\":\"@b:x.org\"}}}}";
    expect_redacted("8", ev, "{\"content\":{\"membership\":\"join\"},\"type\":\"m.room.member\"}");
    expect_redacted("9", ev, "{\"content\":{\"join_authorised_via_users_server\":\"@a:x.org\",\"membership\":\"join\"},"
                             "\"type\":\"m.room.member\"}");
    expect_redacted("11", ev, "{\"content\":{\"join_authorised_via_users_server\":\"@a:x.org\",\"membership\":\"join\","
                              "\"third_party_invite\":{\"signed\":{\"mxid\":\"@b:x.org\"}}},\"type\":\"m.room.member\"}");
}

Test(hs_redact, create_power_levels_redaction_v11)
{
    const char *create = "{\"type\":\"m.room.create\",\"content\":{\"creator\":\"@a:x.org\",\"room_version\":\"1\",\"m.federate\":false}}";
    expect_redacted("10", create, "{\"content\":{\"creator\":\"@a:x.org\"},\"type\":\"m.room.create\"}");
    expect_redacted("11", create, "{\"content\":{\"creator\":\"@a:x.org\",\"m.federate\":false,\"room_version\":\"1\"},"
                                  "\"type\":\"m.room.create\"}");

    const char *pl = "{\"type\":\"m.room.power_levels\",\"content\":{\"ban\":1,\"events\":{},\"events_default\":2,"
                     "\"invite\":3,\"kick\":4,\"notifications\":{\"room\":5},\"redact\":6,\"state_default\":7,"
                     "\"users\":{},\"users_default\":8,\"historical\":9}}";
    expect_redacted("10", pl, "{\"content\":{\"ban\":1,\"events\":{},\"events_default\":2,\"kick\":4,\"redact\":6,"
                              "\"state_default\":7,\"users\":{},\"users_default\":8},\"type\":\"m.room.power_levels\"}");
    expect_redacted("11", pl, "{\"content\":{\"ban\":1,\"events\":{},\"events_default\":2,\"invite\":3,\"kick\":4,"
                              "\"redact\":6,\"state_default\":7,\"users\":{},\"users_default\":8},\"type\":\"m.room.power_levels\"}");

    const char *redaction = "{\"type\":\"m.room.redaction\",\"redacts\":\"$a\",\"content\":{\"redacts\":\"$a\",\"reason\":\"r\"}}";
    expect_redacted("10", redaction, "{\"content\":{},\"type\":\"m.room.redaction\"}");
    expect_redacted("11", redaction, "{\"content\":{\"redacts\":\"$a\"},\"type\":\"m.room.redaction\"}");
    expect_redacted("12", redaction, "{\"content\":{\"redacts\":\"$a\"},\"type\":\"m.room.redaction\"}");

    expect_redacted("9", "{\"type\":\"m.room.history_visibility\",\"content\":{\"history_visibility\":\"shared\",\"x\":1}}",
                    "{\"content\":{\"history_visibility\":\"shared\"},\"type\":\"m.room.history_visibility\"}");
}
