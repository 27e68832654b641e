/* Canonical JSON: the spec appendix examples byte for byte, escaping rules, key order,
 * number rules, and each parser rejection with its own reason. */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"

/* Parses `in` strictly (any top-level value) and returns its canonical form (malloc'd). */
static char *canon(const char *in)
{
    hs_err err = {{0}};
    json_t *v = hs_cjson_parse(in, strlen(in), 1 << 16, HS_CJSON_ANY, &err);
    cr_assert_not_null(v, "parse failed for %s: %s", in, err.msg);
    char *out = hs_cjson_encode(v, 0, NULL, &err);
    cr_assert_not_null(out, "%s", err.msg);
    json_decref(v);
    return out;
}

static void expect_canon(const char *in, const char *want)
{
    char *got = canon(in);
    cr_expect_str_eq(got, want);
    free(got);
}

/* Parsing must fail with a message containing `needle`. */
static void expect_reject(const char *in, size_t len, unsigned flags, const char *needle)
{
    hs_err err = {{0}};
    json_t *v = hs_cjson_parse(in, len, 1 << 16, flags, &err);
    cr_expect_null(v, "accepted %s", in);
    if (v) json_decref(v);
    cr_expect_not_null(strstr(err.msg, needle), "reason '%s' lacks '%s'", err.msg, needle);
}

Test(hs_cjson, spec_examples)
{
    expect_canon("{}", "{}");
    expect_canon("{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", "{\"one\":1,\"two\":\"Two\"}");
    expect_canon("{\"b\": \"2\", \"a\": \"1\"}", "{\"a\":\"1\",\"b\":\"2\"}");
    expect_canon("{\"b\":\"2\",\"a\":\"1\"}", "{\"a\":\"1\",\"b\":\"2\"}");
    expect_canon("{\"auth\":{\"success\":true,\"mxid\":\"@john.doe:example.com\",\"profile\":{\"display_name\":"
                 "\"John Doe\",\"three_pids\":[{\"medium\":\"email\",\"address\":\"john.doe@example.org\"},"
                 "{\"medium\":\"msisdn\",\"address\":\"123456789\"}]}}}",
                 "{\"auth\":{\"mxid\":\"@john.doe:example.com\",\"profile\":{\"display_name\":\"John Doe\","
                 "\"three_pids\":[{\"address\":\"john.doe@example.org\",\"medium\":\"email\"},{\"address\":"
                 "\"123456789\",\"medium\":\"msisdn\"}]},\"success\":true}}");
    expect_canon("{\"a\": \"\\u65E5\\u672C\\u8A9E\"}", "{\"a\":\"日本語\"}");
    expect_canon("{\"本\": 2, \"日\": 1}", "{\"日\":1,\"本\":2}");
    expect_canon("{\"a\": \"\\u00E9\"}", "{\"a\":\"é\"}");
    expect_canon("{\"a\": -0}", "{\"a\":0}");
    expect_canon("{\"a\": null}", "{\"a\":null}");
    expect_canon("{\"a\": \"\\u2603\"}", "{\"a\":\"☃\"}");
}

Test(hs_cjson, escapes_match_spec_grammar)
{
    /* short forms, lowercase \u00XX for other controls, U+007F and U+2028 raw, '/' raw */
    expect_canon("[\"\\b\\t\\n\\f\\r\\\"\\\\\"]", "[\"\\b\\t\\n\\f\\r\\\"\\\\\"]");
    expect_canon("[\"\\u0000\\u0007\\u000B\\u001F\\u001e\"]", "[\"\\u0000\\u0007\\u000b\\u001f\\u001e\"]");
    expect_canon("[\"\\u007f\\u2028/\"]", "[\"\x7f\xe2\x80\xa8/\"]");
    expect_canon("[\"\\ud83d\\ude00\"]", "[\"\xf0\x9f\x98\x80\"]");
}

Test(hs_cjson, keys_sort_by_codepoint)
{
    /* '_' (0x5F) sorts after 'A' (0x41), 'é' (U+00E9) after both, and a prefix first. */
    expect_canon("{\"é\":1,\"_\":2,\"A\":3,\"AA\":4,\"\":5}", "{\"\":5,\"A\":3,\"AA\":4,\"_\":2,\"é\":1}");
    /* astral (U+1F600) after BMP (U+FFFD): UTF-8 byte order equals codepoint order */
    expect_canon("{\"\xf0\x9f\x98\x80\":1,\"\xef\xbf\xbd\":2}", "{\"\xef\xbf\xbd\":2,\"\xf0\x9f\x98\x80\":1}");
}

Test(hs_cjson, integer_range)
{
    expect_canon("[9007199254740991,-9007199254740991,0,-1]", "[9007199254740991,-9007199254740991,0,-1]");
    expect_reject("[9007199254740992]", 18, HS_CJSON_ANY, "outside the canonical JSON range");
    expect_reject("[-9007199254740992]", 19, HS_CJSON_ANY, "outside the canonical JSON range");
    expect_reject("[99999999999999999999999]", 25, HS_CJSON_ANY, "number too large");

    hs_err err = {{0}};
    json_t *v = hs_cjson_parse("[9007199254740992]", 18, 100, HS_CJSON_ANY | HS_CJSON_LAX_INTS, &err);
    cr_assert_not_null(v, "lax ints (room v1-5) must accept 2^53: %s", err.msg);
    cr_expect_null(hs_cjson_encode(v, 0, NULL, &err), "strict encode must refuse 2^53");
    char *s = hs_cjson_encode(v, HS_CJSON_LAX_INTS, NULL, &err);
    cr_expect_str_eq(s, "[9007199254740992]");
    free(s);
    json_decref(v);
}

Test(hs_cjson, rejections_have_distinct_reasons)
{
    expect_reject("{\"a\":1.5}", 9, 0, "floats are not allowed");
    expect_reject("{\"a\":1e3}", 9, 0, "floats are not allowed");
    expect_reject("{\"a\":1,\"a\":2}", 13, 0, "duplicate key");
    expect_reject("{\"a\":\"\xff\"}", 8, 0, "invalid UTF-8");
    expect_reject("{\"a\\u0000\":1}", 13, 0, "NUL byte in an object key");
    expect_reject("[1]", 3, 0, "must be an object");
    expect_reject("{\"a\":1} x", 9, 0, "invalid JSON");
    expect_reject("{\"a\":", 5, 0, "invalid JSON");
    expect_reject("{\"a\":NaN}", 9, 0, "invalid JSON");

    char big[200];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 1] = '}';
    hs_err err = {{0}};
    cr_expect_null(hs_cjson_parse(big, sizeof big, 100, 0, &err));
    cr_expect_not_null(strstr(err.msg, "over the 100 byte limit"), "%s", err.msg);
    json_t *ok = hs_cjson_parse(big, sizeof big, 200, 0, &err);
    cr_expect_not_null(ok, "exactly at the limit must pass: %s", err.msg);
    json_decref(ok);
}

Test(hs_cjson, encode_refuses_constructed_float)
{
    json_t *v = json_pack("{s:f}", "x", 0.5);
    hs_err err = {{0}};
    cr_expect_null(hs_cjson_encode(v, 0, NULL, &err));
    cr_expect_not_null(strstr(err.msg, "floats"));
    cr_expect_eq(hs_cjson_check(v, 0, &err), -1);
    cr_expect_not_null(strstr(err.msg, "$.x"), "path in '%s'", err.msg);
    json_decref(v);
}

Test(hs_cjson, encode_without_skips_top_level_only)
{
    json_t *v = json_pack("{s:i,s:{s:i},s:{s:i}}", "a", 1, "unsigned", "x", 1, "n", "unsigned", 2);
    static const char *const skip[] = {"unsigned", NULL};
    size_t len;
    char *s = hs_cjson_encode_without(v, skip, 0, &len, NULL);
    cr_expect_str_eq(s, "{\"a\":1,\"n\":{\"unsigned\":2}}");
    cr_expect_eq(len, strlen(s));
    free(s);
    json_decref(v);
}
