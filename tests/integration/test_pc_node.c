/* `pinegate pinecone` as real processes over loopback TCP, with the fixture seeds
 * (A = 01x32, B = 02x32, C = 03x32; key order B < A < C). A pair and the `line3` topology
 * (B dials A, then C dials B) must converge to what the Go nodes' manholes recorded:
 * root = highest key, C=[] B=[1] A=[1 1], the same parents, peers and SNEK descending
 * nodes. Killing B splits the line, restarting it heals it (B redials A, C redials B
 * through its reconnect backoff). `--ping` from A reaches C across B, again after B was
 * killed and restarted while A was retrying. Two nodes that dial each other keep one
 * peering. The manhole answers 404 for other paths. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/pgt.h"
#include "test_pc_proc.h"

#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define KEY_B "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
#define KEY_C "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"

typedef struct node {
    pct_node pc;       /* the process and its manhole port */
    int seed;
    int port;
    int connect_port;  /* 0: none */
} node;

static node nodes[4];

static void teardown(void)
{
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        pct_node_kill(&nodes[i].pc);
    memset(nodes, 0, sizeof nodes);
}

TestSuite(pc_node, .fini = teardown, .timeout = 60);

/* Starts (or restarts, keeping its ports) a node; waits until it serves its manhole. */
static void start(node *n, int seed, int connect_port)
{
    if (!n->port)
        n->port = pgt_free_port();
    n->seed = seed;
    n->connect_port = connect_port;
    char listen[32], conn[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", n->port);
    snprintf(conn, sizeof conn, "127.0.0.1:%d", connect_port);
    cr_assert(pct_node_start(&n->pc, seed, (char *[]){"--listen", listen, connect_port ? "--connect" : NULL, conn, NULL}),
              "node did not start:\n%s", n->pc.p.buf);
}

static void kill_node(node *n) { pct_node_kill(&n->pc); }

static const char *str(json_t *j, const char *path)
{
    /* dotted path lookup: "root.root_public_key" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save))
        j = json_object_get(j, tok);
    return json_is_string(j) ? json_string_value(j) : "";
}

static json_int_t num(json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && j; tok = strtok_r(NULL, ".", &save))
        j = json_object_get(j, tok);
    return json_is_integer(j) ? json_integer_value(j) : -1;
}

/* Expected state of one node, in the fixture's terms. */
typedef struct want {
    const char *key, *root, *coords;
    int seq;                   /* root sequence, 0: any */
    int parent_port;           /* 0: root (parent null) */
    const char *descending;    /* key or NULL for none */
    int n_peers;               /* peers besides the local entry */
} want;

static bool state_is(const node *n, const want *w, char *why, size_t cap)
{
    json_t *m = pct_manhole(&n->pc);
    if (!m) {
        snprintf(why, cap, "no manhole");
        return false;
    }
    bool ok = true;
    json_t *parent = json_object_get(m, "parent");
    json_t *desc = json_object_get(json_object_get(m, "snek"), "descending");
    if (strcmp(str(m, "public_key"), w->key) != 0) {
        snprintf(why, cap, "key %s", str(m, "public_key"));
        ok = false;
    } else if (strcmp(str(m, "root.root_public_key"), w->root) != 0 ||
               (w->seq && num(m, "root.root_sequence") != w->seq)) {
        snprintf(why, cap, "root %s seq %lld", str(m, "root.root_public_key"), (long long)num(m, "root.root_sequence"));
        ok = false;
    } else if (strcmp(str(m, "coords"), w->coords) != 0) {
        snprintf(why, cap, "coords %s", str(m, "coords"));
        ok = false;
    } else if (w->parent_port ? num(parent, "port") != w->parent_port : !json_is_null(parent)) {
        snprintf(why, cap, "parent port %lld", (long long)num(parent, "port"));
        ok = false;
    } else if ((int)json_object_size(json_object_get(m, "peers")) != w->n_peers + 1) {
        snprintf(why, cap, "%zu peer keys", json_object_size(json_object_get(m, "peers")));
        ok = false;
    } else if (w->descending ? strcmp(str(desc, "public_key"), w->descending) != 0 : !json_is_null(desc)) {
        snprintf(why, cap, "descending %s", str(desc, "public_key"));
        ok = false;
    }
    json_decref(m);
    return ok;
}

/* Polls until every node is in its wanted state or timeout_ms passes. */
static void converge(node *const *ns, const want *ws, int count, int timeout_ms)
{
    long deadline = pgt_now_ms() + timeout_ms;
    char why[256] = "";
    int bad = 0;
    for (;;) {
        bad = -1;
        for (int i = 0; i < count && bad < 0; i++)
            if (!state_is(ns[i], &ws[i], why, sizeof why))
                bad = i;
        if (bad < 0)
            return;
        if (pgt_now_ms() > deadline)
            break;
        usleep(200000);
    }
    cr_assert_fail("node %s did not converge within %d ms: %s", ws[bad].key, timeout_ms, why);
}

/* The local entry and one entry per peer key: port, coords and link fields like Go's. */
static void check_peer(const node *n, const char *peer_key, int port, const char *coords,
                       const char *zone, int uri_port)
{
    json_t *m = pct_manhole(&n->pc);
    cr_assert_not_null(m);
    json_t *list = json_object_get(json_object_get(m, "peers"), peer_key);
    cr_assert_eq(json_array_size(list), 1, "one peering to %s", peer_key);
    json_t *e = json_array_get(list, 0);
    cr_assert_eq(num(e, "port"), port);
    cr_assert_str_eq(str(e, "coords"), coords);
    cr_assert_eq(num(e, "type"), 3);
    cr_assert_str_eq(str(e, "zone"), zone ? zone : "");
    if (uri_port) {
        char uri[32];
        snprintf(uri, sizeof uri, "127.0.0.1:%d", uri_port);
        cr_assert_str_eq(str(e, "uri"), uri);
    }
    cr_assert_gt(num(e, "rx_proto_bytes"), 0);
    cr_assert_gt(num(e, "tx_proto_bytes"), 0);
    json_t *local = json_array_get(json_object_get(json_object_get(m, "peers"), str(m, "public_key")), 0);
    cr_assert_eq(num(local, "port"), 0);
    cr_assert_str_eq(str(local, "zone"), "local");
    json_decref(m);
}

Test(pc_node, pair_converges_like_go)
{
    node *a = &nodes[0], *b = &nodes[1];
    start(a, 1, 0);
    start(b, 2, a->port);
    want w[] = {{KEY_A, KEY_A, "[]", 1, 0, KEY_B, 1}, {KEY_B, KEY_A, "[1]", 1, 1, NULL, 1}};
    node *ns[] = {a, b};
    converge(ns, w, 2, 15000);
    check_peer(a, KEY_B, 1, "[1 1]", NULL, 0);
    check_peer(b, KEY_A, 1, "[1]", "static", a->port);
}

Test(pc_node, line3_converges_heals_after_restart)
{
    node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    start(a, 1, 0);
    start(b, 2, a->port);
    usleep(300000); /* B's port 1 must be A, as in the fixture */
    c->port = pgt_free_port();
    c->pc.mport = pgt_free_port();
    start(c, 3, b->port);
    want w[] = {{KEY_A, KEY_C, "[1 1]", 1, 1, KEY_B, 1},
                {KEY_B, KEY_C, "[1]", 1, 2, NULL, 2},
                {KEY_C, KEY_C, "[]", 1, 0, KEY_A, 1}};
    node *ns[] = {a, b, c};
    converge(ns, w, 3, 20000);
    check_peer(b, KEY_A, 1, "[1 1 1]", "static", a->port);
    check_peer(b, KEY_C, 2, "[1]", NULL, 0);
    check_peer(c, KEY_B, 1, "[1 2]", "static", b->port);

    /* B dies: A and C are alone, each its own root again. */
    kill_node(b);
    /* a node left alone starts over as root with the next sequence (Go does the same) */
    want alone[] = {{KEY_A, KEY_A, "[]", 2, 0, NULL, 0}, {KEY_C, KEY_C, "[]", 2, 0, NULL, 0}};
    node *ac[] = {a, c};
    long t0 = pgt_now_ms();
    converge(ac, alone, 2, 10000);

    /* B returns on the same port: B redials A at once, C redials B by its backoff. */
    start(b, 2, a->port);
    for (int i = 0; i < 3; i++)
        w[i].seq = 2; /* C's new sequence */
    converge(ns, w, 3, 25000);
    cr_assert_lt(pgt_now_ms() - t0, 30000);
    check_peer(c, KEY_B, 1, "[1 2]", "static", b->port);
}

/* Runs A with --ping KEY_C --count 3 dialling B; returns its exit status and output. */
static int ping_from_a(node *a, int b_port, char *out, size_t cap, bool before_b)
{
    char sk[65], conn[32], listen[32];
    pct_seed_hex(1, sk);
    snprintf(conn, sizeof conn, "127.0.0.1:%d", b_port);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", a->port ? a->port : (a->port = pgt_free_port()));
    char *argv[] = {(char *)pgt_pinegate(), "pinecone", "--listen", listen, "--secret-key", sk,
                    "--connect", conn, "--ping", KEY_C, "--count", "3", NULL};
    cr_assert_eq(pgt_spawn(&a->pc.p, argv), 0);
    a->pc.running = true;
    if (before_b) {
        /* A's first dial fails; B comes back while A is backing off */
        usleep(1000000);
        start(&nodes[1], 2, nodes[2].port);
    }
    cr_assert(pgt_wait_line(&a->pc.p, "ping statistics", 30000, NULL, 0), "no summary:\n%s", a->pc.p.buf);
    int rc = pgt_stop(&a->pc.p, 0, 5000);
    a->pc.running = false;
    snprintf(out, cap, "%s", a->pc.p.buf);
    return rc;
}

static int count_lines(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

Test(pc_node, ping_across_b_and_after_restart)
{
    node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    start(c, 3, 0);
    start(b, 2, c->port);
    want w[] = {{KEY_B, KEY_C, "[1]", 1, 1, NULL, 1}};
    node *ns[] = {b};
    converge(ns, w, 1, 10000);

    static char out[65536];
    int rc = ping_from_a(a, b->port, out, sizeof out, false);
    cr_assert_eq(rc, 0, "ping failed:\n%s", out);
    cr_assert_eq(count_lines(out, "reply from " KEY_C ": seq="), 3, "%s", out);
    cr_assert(strstr(out, "3 sent, 3 received, 0% loss"), "%s", out);

    /* B dies; A starts pinging while B is down, B comes back 1 s later. */
    kill_node(b);
    rc = ping_from_a(a, b->port, out, sizeof out, true);
    cr_assert_eq(rc, 0, "ping after restart failed:\n%s", out);
    cr_assert_eq(count_lines(out, "reply from " KEY_C ": seq="), 3, "%s", out);
    cr_assert(strstr(out, "peer up: port 1 key " KEY_B), "%s", out);

    /* C answered: its manhole counts traffic from B. */
    json_t *m = pct_manhole(&c->pc);
    cr_assert_not_null(m);
    json_t *e = json_array_get(json_object_get(json_object_get(m, "peers"), KEY_B), 0);
    cr_assert_gt(num(e, "rx_traffic_bytes"), 0);
    cr_assert_gt(num(e, "traffic_queue.packets_total"), 0);
    json_decref(m);
}

Test(pc_node, mutual_dial_keeps_one_peering)
{
    node *a = &nodes[0], *b = &nodes[1];
    a->port = pgt_free_port();
    a->pc.mport = pgt_free_port();
    b->port = pgt_free_port();
    b->pc.mport = pgt_free_port();
    start(a, 1, b->port); /* A's first dial fails: B is not listening yet */
    start(b, 2, a->port);
    /* A redials B at its next worker tick (5 s): that second stream to the same key is
     * resolved to one peering on both ends. The replacement is made without leaving
     * the nodes alone (root sequence stays 1), though the port may change. */
    usleep(6500000);
    json_t *ma = pct_manhole(&a->pc), *mb = pct_manhole(&b->pc);
    cr_assert_not_null(ma);
    cr_assert_not_null(mb);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(ma, "peers"), KEY_B)), 1, "%s", a->pc.p.buf);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(mb, "peers"), KEY_A)), 1, "%s", b->pc.p.buf);
    cr_assert_eq(num(ma, "root.root_sequence"), 1);
    cr_assert_eq(num(mb, "root.root_sequence"), 1);
    cr_assert_str_eq(str(mb, "root.root_public_key"), KEY_A);
    int port = (int)num(json_array_get(json_object_get(json_object_get(ma, "peers"), KEY_B), 0), "port");
    char coords[16];
    snprintf(coords, sizeof coords, "[%d]", port);
    cr_assert_str_eq(str(mb, "coords"), coords, "B's coordinate is A's port for it");
    json_decref(ma);
    json_decref(mb);
    /* and no more churn past the next worker tick */
    pgt_wait_line(&a->pc.p, "no such line", 5500, NULL, 0);
    int ups = count_lines(a->pc.p.buf, "peer up"), downs = count_lines(a->pc.p.buf, "peer down");
    cr_assert_eq(ups, downs + 1, "%s", a->pc.p.buf);
    cr_assert_leq(ups, 2, "at most one replacement:\n%s", a->pc.p.buf);
}

Test(pc_node, manhole_http_and_usage)
{
    node *a = &nodes[0];
    start(a, 1, 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/other", a->pc.mport);
    pgt_http r = pgt_http_do(url, NULL);
    cr_assert_eq(r.status, 404);
    pgt_http_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/manhole", a->pc.mport);
    r = pgt_http_do(url, &(pgt_req){.method = "POST", .body = "x", .body_len = 1});
    cr_assert_eq(r.status, 405);
    pgt_http_free(&r);
    json_t *m = pct_manhole(&a->pc);
    cr_assert_str_eq(str(m, "public_key"), KEY_A, "same key as Go for the seed 01x32");
    cr_assert(json_is_null(json_object_get(json_object_get(m, "snek"), "paths")));
    json_decref(m);
    cr_assert_eq(pgt_stop(&a->pc.p, SIGTERM, 5000), 0, "SIGTERM exits cleanly");
    a->pc.running = false;

    char *out = NULL;
    char *bad[] = {(char *)pgt_pinegate(), "pinecone", "--listen", "127.0.0.1:0", "--secret-key", "zz", NULL};
    cr_assert_eq(pgt_run(bad, &out), 2);
    cr_assert(strstr(out, "64 hex digits"), "%s", out);
    free(out);
    char *help[] = {(char *)pgt_pinegate(), "pinecone", "--help", NULL};
    cr_assert_eq(pgt_run(help, &out), 0);
    cr_assert(strstr(out, "pinegate-specific"), "%s", out);
    free(out);
}
