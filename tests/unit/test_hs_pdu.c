/* PDU format validation and identifier grammar: every recorded event passes, and each
 * kind of malformed event is refused with its own reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_pdu.h"
#include "unit/test_hs_event_fixtures.h"

Test(hs_pdu, every_fixture_event_validates)
{
    int n = 0;
    for (int r = 0; r < HS_FIX_N_ROOMS; r++) {
        json_t *lines = hs_fix_lines(hs_fix_rooms[r]);
        size_t i;
        json_t *line;
        json_array_foreach(lines, i, line) {
            const hs_room_version *rv = hs_room_version_get(json_string_value(json_object_get(line, "room_version")));
            hs_err err = {{0}};
            cr_expect_eq(hs_pdu_validate(json_object_get(line, "pdu"), rv, &err), 0, "%s line %zu: %s",
                         hs_fix_rooms[r], i + 1, err.msg);
            json_t *served = json_object_get(json_object_get(line, "pdu_served"), "pdu");
            if (served)
                cr_expect_eq(hs_pdu_validate(served, rv, &err), 0, "served %s line %zu: %s", hs_fix_rooms[r], i + 1,
                             err.msg);
            n++;
        }
        json_decref(lines);
    }
    cr_expect_eq(n, 209);
}

Test(hs_pdu, server_name_grammar)
{
    const char *good[] = {"example.org", "localhost:8448", "1.2.3.4", "1.2.3.4:1", "[::1]", "[::1]:8448",
                          "[1234:5678::abcd]", "a-b.c", "x:65535"};
    const char *bad[] = {"", "exa mple.org", "example.org:", "example.org:123456", "example.org:8a", "[::1",
                         "[::g]", "[]", "::1", "a_b.org", "ex\xc3\xa9.org", "host:80:80"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) cr_expect(hs_is_valid_server_name(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) cr_expect_not(hs_is_valid_server_name(bad[i]), "%s", bad[i]);
    char longname[300];
    memset(longname, 'a', 256);
    longname[256] = '\0';
    cr_expect_not(hs_is_valid_server_name(longname), "256-byte host");
}

Test(hs_pdu, identifier_grammar)
{
    cr_expect(hs_is_valid_user_id("@alice:localhost:8448"));
    cr_expect(hs_is_valid_user_id("@Alice=_/+.!:example.org"), "historical localpart characters");
    cr_expect_not(hs_is_valid_user_id("alice:example.org"), "no sigil");
    cr_expect_not(hs_is_valid_user_id("@:example.org"), "empty localpart");
    cr_expect_not(hs_is_valid_user_id("@al ice:example.org"), "space");
    cr_expect_not(hs_is_valid_user_id("@alice"), "no server");
    cr_expect_not(hs_is_valid_user_id("@alice:bad_host"), "bad server");

    char uid[300] = "@";
    memset(uid + 1, 'a', 250);
    strcpy(uid + 251, ":x.org");
    cr_expect_not(hs_is_valid_user_id(uid), "257-byte user ID");
    uid[249] = '\0';
    strcat(uid, ":x.org");
    cr_expect(hs_is_valid_user_id(uid), "255-byte user ID");

    const hs_room_version *v1 = hs_room_version_get("1"), *v3 = hs_room_version_get("3"),
                          *v10 = hs_room_version_get("10"), *v12 = hs_room_version_get("12");
    cr_expect(hs_is_valid_room_id("!abc:example.org", v10));
    cr_expect_not(hs_is_valid_room_id("!abc", v10));
    cr_expect_not(hs_is_valid_room_id("#abc:example.org", v10));
    cr_expect_not(hs_is_valid_room_id("!abc:example.org", v12), "v12 room IDs have no server");
    cr_expect(hs_is_valid_room_id("!_xPYYsXf83XQiYS4wNHuhRtoDJmVaT3AzR3gEhzxuM8", v12));

    cr_expect(hs_is_valid_event_id("$abc:example.org", v1));
    cr_expect_not(hs_is_valid_event_id("$abc", v1));
    cr_expect(hs_is_valid_event_id("$_xPYYsXf83XQiYS4wNHuhRtoDJmVaT3AzR3gEhzxuM8", v10));
    cr_expect_not(hs_is_valid_event_id("$_xPYYsXf83XQiYS4wNHuhRtoDJmVaT3AzR3gEhzxuM", v10), "42 chars");
    cr_expect_not(hs_is_valid_event_id("$_xPYYsXf83XQiYS4wNHuhRtoDJmVaT3AzR3gEhzxuM8", v3), "'_' not std base64");
    cr_expect(hs_is_valid_event_id("$+xPYYsXf83XQiYS4wNHuhRtoDJmVaT3AzR3gEhzxuM8", v3));
    cr_expect_not(hs_is_valid_event_id("$abc:example.org", v10));

    cr_expect(hs_is_valid_room_alias("#fixture:localhost:8450"));
    cr_expect_not(hs_is_valid_room_alias("#fixture"));
    cr_expect_str_eq(hs_id_server_name("@alice:localhost:8448"), "localhost:8448");
    cr_expect_null(hs_id_server_name("alice:localhost"));
}

/* A valid v10 message event (from room 1) to break in tests. */
static json_t *sample(void)
{
    json_t *lines = hs_fix_lines(hs_fix_rooms[0]);
    json_t *pdu = NULL;
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line) {
        json_t *p = json_object_get(line, "pdu");
        if (strcmp(hs_pdu_type(p), "m.room.message") == 0) {
            pdu = json_deep_copy(p);
            break;
        }
    }
    json_decref(lines);
    cr_assert_not_null(pdu);
    return pdu;
}

/* Applies `mutate` to a fresh sample and expects validation to fail mentioning `needle`. */
static void expect_invalid(const char *ver, void (*mutate)(json_t *), const char *needle)
{
    json_t *pdu = sample();
    mutate(pdu);
    hs_err err = {{0}};
    cr_expect_eq(hs_pdu_validate(pdu, hs_room_version_get(ver), &err), -1, "accepted (want '%s')", needle);
    cr_expect_not_null(strstr(err.msg, needle), "reason '%s' lacks '%s'", err.msg, needle);
    json_decref(pdu);
}

static void keep_as_is(json_t *p) { (void)p; }
static void no_sender(json_t *p) { json_object_del(p, "sender"); }
static void bad_sender(json_t *p) { json_object_set_new(p, "sender", json_string("alice")); }
static void bad_room(json_t *p) { json_object_set_new(p, "room_id", json_string("!nohost")); }
static void long_type(json_t *p)
{
    char t[300];
    memset(t, 'x', 256);
    t[256] = '\0';
    json_object_set_new(p, "type", json_string(t));
}
static void long_state_key(json_t *p)
{
    char t[300];
    memset(t, 'k', 256);
    t[256] = '\0';
    json_object_set_new(p, "state_key", json_string(t));
}
static void int_type(json_t *p) { json_object_set_new(p, "type", json_integer(1)); }
static void float_content(json_t *p) { json_object_set_new(hs_pdu_content(p), "f", json_real(1.5)); }
static void big_int(json_t *p) { json_object_set_new(hs_pdu_content(p), "n", json_integer(9007199254740992LL)); }
static void neg_depth(json_t *p) { json_object_set_new(p, "depth", json_integer(-1)); }
static void str_depth(json_t *p) { json_object_set_new(p, "depth", json_string("1")); }
static void no_hashes(json_t *p) { json_object_del(p, "hashes"); }
static void content_array(json_t *p) { json_object_set_new(p, "content", json_array()); }
static void bad_prev(json_t *p) { json_array_append_new(json_object_get(p, "prev_events"), json_string("$short")); }
static void many_prev(json_t *p)
{
    json_t *arr = json_object_get(p, "prev_events");
    while (json_array_size(arr) <= 20) json_array_append(arr, json_array_get(arr, 0));
}
static void many_auth(json_t *p)
{
    json_t *arr = json_object_get(p, "auth_events");
    while (json_array_size(arr) <= 10) json_array_append(arr, json_array_get(arr, 0));
}
static void bad_sigs(json_t *p) { json_object_set_new(p, "signatures", json_pack("{s:{s:i}}", "x.org", "ed25519:1", 1)); }
static void oversize(json_t *p)
{
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    json_object_set_new(hs_pdu_content(p), "body", json_string(big));
    free(big);
}
static void bad_origin(json_t *p) { json_object_set_new(p, "origin", json_string("not a host")); }
static void member_bad_key(json_t *p)
{
    json_object_set_new(p, "type", json_string("m.room.member"));
    json_object_set_new(p, "state_key", json_string("dave"));
    json_object_set_new(hs_pdu_content(p), "membership", json_string("join"));
}
static void bad_redacts(json_t *p)
{
    json_object_set_new(p, "type", json_string("m.room.redaction"));
    json_object_set_new(p, "redacts", json_string("not-an-id"));
}

Test(hs_pdu, each_rejection_has_its_reason)
{
    expect_invalid("10", no_sender, "missing required field 'sender'");
    expect_invalid("10", bad_sender, "sender 'alice' is not a valid user ID");
    expect_invalid("10", bad_room, "room_id '!nohost' is not a valid room version 10 room ID");
    expect_invalid("10", long_type, "field 'type' is 256 bytes, over the 255 byte limit");
    expect_invalid("10", long_state_key, "field 'state_key' is 256 bytes");
    expect_invalid("10", int_type, "field 'type' must be a string");
    expect_invalid("10", float_content, "floats are not allowed");
    expect_invalid("10", big_int, "outside the canonical JSON range");
    expect_invalid("10", neg_depth, "'depth' must not be negative");
    expect_invalid("10", str_depth, "'depth' must be an integer");
    expect_invalid("10", no_hashes, "missing required field 'hashes'");
    expect_invalid("10", content_array, "'content' must be an object");
    expect_invalid("10", bad_prev, "is not a valid room version 10 event ID");
    expect_invalid("10", many_prev, "'prev_events' has 21 entries, over the limit of 20");
    expect_invalid("10", many_auth, "'auth_events' has 11 entries, over the limit of 10");
    expect_invalid("10", bad_sigs, "signatures.x.org.ed25519:1 must be a string");
    expect_invalid("10", oversize, "over the 65536 byte limit");
    expect_invalid("10", bad_origin, "'origin' must be a valid server name");
    expect_invalid("10", member_bad_key, "state_key 'dave' is not a valid user ID");
    expect_invalid("10", bad_redacts, "'redacts' is not a valid event ID");
    /* a v10 event read as room version 1: v1 events must carry their own event_id */
    expect_invalid("1", keep_as_is, "missing required field 'event_id'");
}

Test(hs_pdu, v5_tolerates_big_ints)
{
    json_t *pdu = sample();
    big_int(pdu);
    hs_err err = {{0}};
    /* v5 prev_events are plain strings in this sample, which is v4+ format: fine */
    cr_expect_eq(hs_pdu_validate(pdu, hs_room_version_get("5"), &err), 0, "%s", err.msg);
    json_decref(pdu);
}

Test(hs_pdu, v1_reference_pairs)
{
    const char *ev = "{\"auth_events\":[[\"$a:x.org\",{\"sha256\":\"abc\"}]],\"content\":{},\"depth\":2,"
                     "\"event_id\":\"$e:x.org\",\"hashes\":{\"sha256\":\"x\"},\"origin\":\"x.org\",\"origin_server_ts\":1,"
                     "\"prev_events\":[[\"$p:x.org\",{\"sha256\":\"abc\"}]],\"room_id\":\"!r:x.org\",\"sender\":\"@u:x.org\","
                     "\"signatures\":{},\"type\":\"m.room.message\"}";
    hs_err err = {{0}};
    json_t *pdu = hs_pdu_parse(ev, strlen(ev), hs_room_version_get("1"), &err);
    cr_assert_not_null(pdu, "%s", err.msg);
    cr_expect_eq(hs_pdu_prev_event_count(pdu), 1);
    cr_expect_str_eq(hs_pdu_prev_event(pdu, 0), "$p:x.org");
    cr_expect_str_eq(hs_pdu_auth_event(pdu, 0), "$a:x.org");
    cr_expect_null(hs_pdu_prev_event(pdu, 1));
    json_decref(pdu);

    cr_expect_null(hs_pdu_parse(ev, strlen(ev), hs_room_version_get("3"), &err));
    cr_expect_not_null(strstr(err.msg, "prev_events[0] must be an event ID string"), "%s", err.msg);

    json_t *nid = hs_cjson_parse(ev, strlen(ev), 1 << 16, 0, NULL);
    json_object_del(nid, "event_id");
    cr_expect_eq(hs_pdu_validate(nid, hs_room_version_get("2"), &err), -1);
    cr_expect_not_null(strstr(err.msg, "missing required field 'event_id'"), "%s", err.msg);
    json_decref(nid);
}

Test(hs_pdu, parse_limits_and_duplicates)
{
    hs_err err = {{0}};
    const char *dup = "{\"type\":\"a\",\"type\":\"b\"}";
    cr_expect_null(hs_pdu_parse(dup, strlen(dup), hs_room_version_get("10"), &err));
    cr_expect_not_null(strstr(err.msg, "duplicate key"), "%s", err.msg);

    size_t n = HS_PDU_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    cr_expect_null(hs_pdu_parse(big, n, hs_room_version_get("10"), &err));
    cr_expect_not_null(strstr(err.msg, "over the 65536 byte limit"), "%s", err.msg);
    free(big);
}

Test(hs_pdu, accessors)
{
    json_t *pdu = sample();
    cr_expect_str_eq(hs_pdu_type(pdu), "m.room.message");
    cr_expect_null(hs_pdu_state_key(pdu));
    cr_expect_gt(hs_pdu_depth(pdu), 0);
    cr_expect_gt(hs_pdu_origin_server_ts(pdu), 1700000000000LL);
    cr_expect_eq(hs_pdu_prev_event_count(pdu), 1);
    cr_expect(hs_is_valid_event_id(hs_pdu_prev_event(pdu, 0), hs_room_version_get("10")));
    json_t *red = json_pack("{s:s,s:{s:s}}", "redacts", "$old", "content", "redacts", "$new");
    cr_expect_str_eq(hs_pdu_redacts(red, hs_room_version_get("10")), "$old");
    cr_expect_str_eq(hs_pdu_redacts(red, hs_room_version_get("11")), "$new");
    json_decref(red);
    json_decref(pdu);
}
