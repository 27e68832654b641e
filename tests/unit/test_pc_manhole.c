/* pc_manhole: a router core driven in the deterministic harness into the `pair` and
 * `line3` fixture states renders manhole JSON with exactly the structure, key names and
 * value formats of the Go node's recorded /manhole (every object has the same keys,
 * nulls where Go has nulls), and the same values wherever they do not depend on timing
 * or byte counts. Also the manhole HTTP request-line classifier. */
#include <jansson.h>
#include <regex.h>

#include "pinecone/pc_manhole.h"
#include "test_pc_harness.h"

/* Leaves whose values depend on wall time, traffic volume or Go's slice capacities. */
static const char *const volatile_keys[] = {
    "rx_proto_bytes", "tx_proto_bytes", "rx_traffic_bytes", "tx_traffic_bytes", "size",
    "packets_total", "last_seen", "sequence", "uri", NULL};

static bool is_volatile(const char *key)
{
    for (int i = 0; volatile_keys[i]; i++)
        if (key && strcmp(key, volatile_keys[i]) == 0)
            return true;
    return false;
}

static bool matches(const char *re, const char *s)
{
    regex_t rx;
    cr_assert_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* Recursively: same JSON types, same object keys, same array lengths; equal scalar
 * values except volatile ones, which must still have Go's format. */
static void same_shape(json_t *got, json_t *want, const char *key, const char *where)
{
    cr_assert_eq(json_typeof(got), json_typeof(want), "%s: JSON type of '%s'", where, key);
    switch (json_typeof(want)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) {
            json_t *g = json_object_get(got, k);
            cr_assert_not_null(g, "%s: missing key '%s' under '%s'", where, k, key);
            same_shape(g, v, k, where);
        }
        json_object_foreach(got, k, v)
            cr_assert_not_null(json_object_get(want, k), "%s: extra key '%s' under '%s'", where, k, key);
        break;
    }
    case JSON_ARRAY:
        cr_assert_eq(json_array_size(got), json_array_size(want), "%s: length of '%s'", where, key);
        for (size_t i = 0; i < json_array_size(want); i++)
            same_shape(json_array_get(got, i), json_array_get(want, i), key, where);
        break;
    case JSON_STRING:
        if (strcmp(key, "last_seen") == 0)
            cr_assert(matches("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*[1-9])?Z$",
                              json_string_value(got)), "%s: time format %s", where, json_string_value(got));
        else if (!is_volatile(key))
            cr_assert_str_eq(json_string_value(got), json_string_value(want), "%s: value of '%s'", where, key);
        break;
    case JSON_INTEGER:
        if (!is_volatile(key))
            cr_assert_eq(json_integer_value(got), json_integer_value(want), "%s: value of '%s'", where, key);
        break;
    default:
        break;
    }
}

/* Link info as the Go nodes had it: the dialler's peer is "static" with its URI. */
typedef struct links {
    int static_port; /* 0: none */
    const char *static_uri;
} links;

static bool link_info(int port, pc_manhole_link *out, void *ud)
{
    const links *l = ud;
    out->type = 3;
    out->zone = port == l->static_port ? "static" : NULL;
    out->uri = port == l->static_port ? l->static_uri : "127.0.0.1:50000";
    out->traffic_frames = 0;
    return true;
}

static json_t *render(sim_node *nd, uint64_t now, const links *l)
{
    char *text = pc_manhole_render(nd->r, now, link_info, (void *)l);
    cr_assert_not_null(text);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    cr_assert_not_null(j, "not JSON: %s", err.text);
    free(text);
    return j;
}

static void check_against(json_t *got, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, PC_FIXTURES "%s", file);
    json_error_t err;
    json_t *want = json_load_file(path, 0, &err);
    cr_assert_not_null(want, "%s: %s", path, err.text);
    same_shape(got, want, "(top)", file);
    json_decref(want);
}

Test(pc_manhole, pair_matches_go_manholes)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a = sim_add(&s, 1, NULL);
    sim_run_until(&s, SIM_T0 + 1005);
    sim_node *b = sim_add(&s, 2, NULL);
    sim_link(&s, b, 1, a, 1);
    sim_run_until(&s, SIM_T0 + 17000);

    links la = {0, NULL}, lb = {1, "127.0.0.1:7001"};
    json_t *ja = render(a, s.now, &la), *jb = render(b, s.now, &lb);
    check_against(ja, "pair-manhole-A.json");
    check_against(jb, "pair-manhole-B.json");

    /* Volatile values are still real: A received B's bootstraps and keepalives. */
    json_t *pa = json_array_get(json_object_get(json_object_get(ja, "peers"),
        "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"), 0);
    cr_assert_gt(json_integer_value(json_object_get(pa, "rx_proto_bytes")), 500);
    json_t *wm = json_object_get(json_object_get(json_object_get(ja, "snek"), "descending"), "watermark");
    cr_assert_geq(json_integer_value(json_object_get(wm, "sequence")), (json_int_t)SIM_T0);
    json_decref(ja);
    json_decref(jb);
    sim_free(&s);
}

Test(pc_manhole, line3_matches_go_manholes)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a = sim_add(&s, 1, NULL);
    sim_run_until(&s, SIM_T0 + 1005);
    sim_node *b = sim_add(&s, 2, NULL);
    sim_link(&s, b, 1, a, 1);
    sim_run_until(&s, SIM_T0 + 4008);
    sim_node *c = sim_add(&s, 3, NULL);
    sim_link(&s, c, 1, b, 2);
    sim_run_until(&s, SIM_T0 + 20047);

    links la = {0, NULL}, lb = {1, "127.0.0.1:7001"}, lc = {1, "127.0.0.1:7002"};
    json_t *j;
    check_against(j = render(a, s.now, &la), "line3-manhole-A.json");
    json_decref(j);
    check_against(j = render(b, s.now, &lb), "line3-manhole-B.json");
    json_decref(j);
    check_against(j = render(c, s.now, &lc), "line3-manhole-C.json");
    json_decref(j);
    sim_free(&s);
}

Test(pc_manhole, coords_cache_entries_and_expiry)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a = sim_add(&s, 1, NULL);
    sim_node *b = sim_add(&s, 2, NULL);
    sim_node *c = sim_add(&s, 3, NULL);
    sim_link(&s, b, 1, a, 1);
    sim_link(&s, c, 1, b, 2);
    sim_run_until(&s, SIM_T0 + 12000);
    /* A's traffic carries its coordinates [1 1]; C caches them (traffic fixture). */
    const uint8_t msg[] = "hi";
    cr_assert_eq(pc_router_send_traffic(a->r, c->pk, msg, sizeof msg, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    links l = {0, NULL};
    json_t *j = render(c, s.now, &l);
    json_t *cache = json_object_get(j, "coords_cache");
    cr_assert_eq(json_object_size(cache), 1);
    cr_assert_str_eq(json_string_value(json_object_get(cache,
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c")), "[1 1]");
    json_decref(j);
    /* Rendered more than the lifetime later (without running timers): left out. */
    j = render(c, s.now + PC_COORDS_CACHE_LIFETIME + 1, &l);
    cr_assert_eq(json_object_size(json_object_get(j, "coords_cache")), 0);
    json_decref(j);
    sim_free(&s);
}

Test(pc_manhole, time_format_like_go)
{
    char buf[64];
    cr_assert_str_eq(pc_manhole_time(1795462143341ull, buf, sizeof buf), "2026-11-23T19:29:03.341Z");
    cr_assert_str_eq(pc_manhole_time(1795462143340ull, buf, sizeof buf), "2026-11-23T19:29:03.34Z");
    cr_assert_str_eq(pc_manhole_time(1795462143000ull, buf, sizeof buf), "2026-11-23T19:29:03Z");
}

static pc_manhole_req req(const char *s) { return pc_manhole_parse_request(s, strlen(s)); }

Test(pc_manhole, request_classification)
{
    cr_assert_eq(req("GET /manhole HTTP/1.1\r\nHost: x\r\n\r\n"), PC_MANHOLE_REQ_OK);
    cr_assert_eq(req("GET /manhole?x=1 HTTP/1.0\r\n\r\n"), PC_MANHOLE_REQ_OK);
    cr_assert_eq(req("GET /manhole HTTP/1.1\n\n"), PC_MANHOLE_REQ_OK);
    cr_assert_eq(req("GET /manhole HTTP/1.1\r\nHost: x\r\n"), PC_MANHOLE_REQ_INCOMPLETE);
    cr_assert_eq(req("GET /manholes HTTP/1.1\r\n\r\n"), PC_MANHOLE_REQ_NOT_FOUND);
    cr_assert_eq(req("GET / HTTP/1.1\r\n\r\n"), PC_MANHOLE_REQ_NOT_FOUND);
    cr_assert_eq(req("POST /manhole HTTP/1.1\r\n\r\n"), PC_MANHOLE_REQ_BAD_METHOD);
    cr_assert_eq(req("GET /manhole\r\n\r\n"), PC_MANHOLE_REQ_BAD);
    cr_assert_eq(req("GET /manhole HTTP/2.0\r\n\r\n"), PC_MANHOLE_REQ_BAD);
    cr_assert_eq(req("\r\n\r\n"), PC_MANHOLE_REQ_BAD);
    char big[PC_MANHOLE_REQ_MAX + 10];
    memset(big, 'a', sizeof big);
    cr_assert_eq(pc_manhole_parse_request(big, sizeof big), PC_MANHOLE_REQ_TOO_LARGE);
    cr_assert_eq(pc_manhole_parse_request(big, 100), PC_MANHOLE_REQ_INCOMPLETE);
}
