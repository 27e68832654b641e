/* Pinecone router cores wired together in the deterministic harness: the `pair` and
 * `line3` fixture topologies (same seeds, same port numbering, same start times) must
 * converge to what the Go nodes' manholes recorded (root, sequence, coordinates, parent,
 * peers' coordinates, SNEK descending node and paths), and traffic must cross B between
 * A and C in both directions, switching to tree routing once coordinates are cached. */
#include <jansson.h>

#include "test_pc_harness.h"

static void hexkey(const uint8_t *k, char out[65]) { tpc_hex(k, 32, out); }

static int port_of(json_t *obj)
{
    return obj && json_is_object(obj) ? (int)json_integer_value(json_object_get(obj, "port")) : 0;
}

/* Compares one router's state with a recorded Go manhole JSON. */
static void check_manhole(sim_node *nd, const char *file)
{
    json_error_t err;
    char path[512];
    snprintf(path, sizeof path, PC_FIXTURES "%s", file);
    json_t *m = json_load_file(path, 0, &err);
    cr_assert_not_null(m, "%s: %s", path, err.text);
    pc_router *r = nd->r;
    char hex[65], buf[256];

    hexkey(pc_router_public_key(r), hex);
    cr_assert_str_eq(hex, json_string_value(json_object_get(m, "public_key")));

    uint8_t root[32];
    uint64_t seq;
    pc_router_root(r, root, &seq);
    hexkey(root, hex);
    json_t *jr = json_object_get(m, "root");
    cr_assert_str_eq(hex, json_string_value(json_object_get(jr, "root_public_key")), "%s root", file);
    cr_assert_eq((json_int_t)seq, json_integer_value(json_object_get(jr, "root_sequence")), "%s seq", file);

    pc_coords c;
    pc_router_coords(r, &c);
    cr_assert_str_eq(pc_coords_format(&c, buf, sizeof buf),
                     json_string_value(json_object_get(m, "coords")), "%s coords", file);
    cr_assert_eq(pc_router_parent(r), port_of(json_object_get(m, "parent")), "%s parent", file);

    /* Peers: port and announced coordinates (port 0 is the local router in Go). */
    const char *key;
    json_t *list;
    json_object_foreach(json_object_get(m, "peers"), key, list) {
        json_t *pe = json_array_get(list, 0);
        int port = port_of(pe);
        if (port == 0)
            continue;
        pc_peer_status ps;
        cr_assert_eq(pc_router_peer_status(r, port, &ps), PC_OK, "%s port %d", file, port);
        hexkey(ps.key, hex);
        cr_assert_str_eq(hex, key);
        cr_assert_str_eq(pc_coords_format(&ps.coords, buf, sizeof buf),
                         json_string_value(json_object_get(pe, "coords")), "%s peer %d", file, port);
    }

    json_t *snek = json_object_get(m, "snek");
    json_t *jd = json_object_get(snek, "descending");
    pc_path_status d;
    bool has = pc_router_descending(r, &d);
    cr_assert_eq(has, !json_is_null(jd), "%s descending presence", file);
    if (has) {
        hexkey(d.key, hex);
        cr_assert_str_eq(hex, json_string_value(json_object_get(jd, "public_key")), "%s desc", file);
        cr_assert_eq(d.src_port, port_of(json_object_get(jd, "source")));
    }

    json_t *paths = json_object_get(snek, "paths");
    pc_path_status ps[16];
    size_t n = pc_router_paths(r, ps, 16);
    cr_assert_eq(n, json_array_size(paths), "%s path count", file);
    for (size_t i = 0; i < n; i++) {
        json_t *jp = json_array_get(paths, i);
        hexkey(ps[i].key, hex);
        cr_assert_str_eq(hex, json_string_value(json_object_get(jp, "public_key")));
        cr_assert_eq(ps[i].src_port, port_of(json_object_get(jp, "source")));
        cr_assert_eq(ps[i].dst_port, port_of(json_object_get(jp, "destination")), "%s path dst", file);
        cr_assert(memcmp(ps[i].watermark.key, ps[i].key, 32) == 0);
    }
    json_decref(m);
}

Test(pc_sim, pair_converges_like_go)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a = sim_add(&s, 1, NULL);
    sim_run_until(&s, SIM_T0 + 1005);
    sim_node *b = sim_add(&s, 2, NULL);
    sim_link(&s, b, 1, a, 1);
    sim_run_until(&s, SIM_T0 + 17000);
    cr_assert_eq(s.recv_errors, 0);
    cr_assert_eq(a->closed + b->closed, 0, "keepalives keep the link up");
    check_manhole(a, "pair-manhole-A.json");
    check_manhole(b, "pair-manhole-B.json");
    cr_assert_gt(a->frames_by_type[PC_FRAME_KEEPALIVE], 0);
    cr_assert_gt(b->frames_by_type[PC_FRAME_BOOTSTRAP], 2);
    cr_assert_eq(a->frames_by_type[PC_FRAME_BOOTSTRAP], 0, "the root never bootstraps");
    cr_assert_geq(a->broadcasts, 1);
    sim_free(&s);
}

static void build_line3(sim *s, sim_node **a, sim_node **b, sim_node **c)
{
    *a = sim_add(s, 1, NULL);
    sim_run_until(s, SIM_T0 + 1005);
    *b = sim_add(s, 2, NULL);
    sim_link(s, *b, 1, *a, 1);
    sim_run_until(s, SIM_T0 + 4008);
    *c = sim_add(s, 3, NULL);
    sim_link(s, *c, 1, *b, 2);
}

Test(pc_sim, line3_converges_like_go)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a, *b, *c;
    build_line3(&s, &a, &b, &c);
    sim_run_until(&s, SIM_T0 + 20047);
    cr_assert_eq(s.recv_errors, 0);
    check_manhole(a, "line3-manhole-A.json");
    check_manhole(b, "line3-manhole-B.json");
    check_manhole(c, "line3-manhole-C.json");
    sim_free(&s);
}

Test(pc_sim, line3_traffic_both_ways_across_b)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a, *b, *c;
    build_line3(&s, &a, &b, &c);
    sim_run_until(&s, SIM_T0 + 12000);

    const uint8_t hello[] = "GET /hello";
    cr_assert_eq(pc_router_send_traffic(c->r, a->pk, hello, sizeof hello, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    cr_assert_eq(a->delivered, 1);
    cr_assert(memcmp(a->last_src, c->pk, 32) == 0);
    cr_assert_eq(a->last_len, sizeof hello);
    cr_assert(memcmp(a->last_payload, hello, sizeof hello) == 0);

    /* A learned nothing about C's coordinates (C is root: empty), so replies go SNEK. */
    const uint8_t reply[] = "200 OK";
    cr_assert_eq(pc_router_send_traffic(a->r, c->pk, reply, sizeof reply, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    cr_assert_eq(c->delivered, 1);
    cr_assert(memcmp(c->last_src, a->pk, 32) == 0);
    cr_assert(memcmp(c->last_payload, reply, sizeof reply) == 0);

    /* C cached A's coordinates [1 1] from A's frame: the next frame is tree-routed. */
    pc_cache_status cs[4];
    cr_assert_eq(pc_router_coords_cache(c->r, cs, 4), 1);
    pc_coords want = {2, {1, 1}};
    cr_assert(pc_coords_equal(&cs[0].coords, &want));
    cr_assert_eq(pc_router_coords_cache(a->r, cs, 4), 0);
    cr_assert_eq(pc_router_send_traffic(c->r, a->pk, hello, sizeof hello, s.now), PC_OK);
    sim_run_until(&s, s.now + 10);
    cr_assert_eq(a->delivered, 2);

    pc_router_counters k;
    pc_router_get_counters(b->r, &k);
    cr_assert_eq(k.traffic_forwarded, 3);
    cr_assert_eq(s.recv_errors, 0);
    sim_free(&s);
}

Test(pc_sim, line3_heals_after_link_loss)
{
    sim s = {.now = SIM_T0, .latency = 1};
    sim_node *a, *b, *c;
    build_line3(&s, &a, &b, &c);
    sim_run_until(&s, SIM_T0 + 12000);
    /* C leaves: B and A fall back to A as root, B under A again. */
    cr_assert_eq(pc_router_peer_down(b->r, 2, s.now), PC_OK);
    cr_assert_eq(pc_router_peer_down(c->r, 1, s.now), PC_OK);
    sim_run_until(&s, s.now + 5000);
    uint8_t root[32];
    uint64_t seq;
    pc_router_root(b->r, root, &seq);
    cr_assert(memcmp(root, a->pk, 32) == 0);
    cr_assert_eq(pc_router_parent(b->r), 1);
    pc_router_root(a->r, root, &seq);
    cr_assert(memcmp(root, a->pk, 32) == 0);
    cr_assert_eq(pc_router_parent(a->r), 0);
    pc_router_root(c->r, root, &seq);
    cr_assert_eq(seq, 2, "a node left alone resets and increments its sequence");
    cr_assert_eq(s.recv_errors, 0);
    sim_free(&s);
}
