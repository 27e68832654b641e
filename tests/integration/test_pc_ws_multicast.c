/* `pinegate pinecone` over WebSocket links and multicast discovery, as real processes with
 * the fixture seeds (A = 01x32, B = 02x32, C = 03x32, D = 04x32; key order B < A < C).
 *  - A pair over ws:// (B dials ws://A/ws, Dendrite's path) converges like the TCP pair
 *    (A root, B=[1]); B's peer entry names the ws:// URI with zone "static"; a ping from a
 *    third node dialling ws://A/ crosses A to B and back.
 *  - A mixed line A --tcp-- B --ws-- C: C pings A across B.
 *  - Three nodes with --multicast and no static peers find each other inside a fresh
 *    network namespace (loopback only, multicast route on lo): every node peers with the
 *    other two, the tree has root C, and a fourth multicast node's ping reaches A.
 *    The namespace needs root; without it the test is skipped. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/pgt.h"
#include "test_pc_proc.h"

#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define KEY_B "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
#define KEY_C "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"

static pct_node nodes[4];

static void teardown(void)
{
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        pct_node_kill(&nodes[i]);
    memset(nodes, 0, sizeof nodes);
}

TestSuite(pc_ws_node, .fini = teardown, .timeout = 60);

static const char *str(json_t *o, const char *k1, const char *k2)
{
    json_t *j = json_object_get(o, k1);
    if (k2)
        j = json_object_get(j, k2);
    return json_is_string(j) ? json_string_value(j) : "";
}

/* True when n's manhole shows root `root`, coords `coords` and `peers` peer keys. */
static bool state_is(const pct_node *n, const char *root, const char *coords, size_t peers,
                     char *why, size_t cap)
{
    json_t *m = pct_manhole(n);
    if (!m) {
        snprintf(why, cap, "no manhole");
        return false;
    }
    bool ok = strcmp(str(m, "root", "root_public_key"), root) == 0 &&
              strcmp(str(m, "coords", NULL), coords) == 0 &&
              json_object_size(json_object_get(m, "peers")) == peers + 1;
    snprintf(why, cap, "%s: root %s coords %s, %zu peer keys", str(m, "public_key", NULL),
             str(m, "root", "root_public_key"), str(m, "coords", NULL),
             json_object_size(json_object_get(m, "peers")) - 1);
    json_decref(m);
    return ok;
}

static bool wait_state(const pct_node *n, const char *root, const char *coords, size_t peers,
                       int timeout_ms, char *why, size_t cap)
{
    long deadline = pgt_now_ms() + timeout_ms;
    while (!state_is(n, root, coords, peers, why, cap)) {
        if (pgt_now_ms() > deadline)
            return false;
        usleep(200000);
    }
    return true;
}

/* Waits for a pinging node to finish; true when its summary says all `count` came back. */
static bool ping_ok(pct_node *n, int count, char *line, size_t cap)
{
    char want[64];
    snprintf(want, sizeof want, "%d sent, %d received", count, count);
    bool ok = pgt_wait_line(&n->p, "ping statistics", 20000, NULL, 0) &&
              pgt_wait_line(&n->p, "sent,", 5000, line, cap) && strstr(line, want);
    int st = pgt_stop(&n->p, SIGTERM, 5000);
    n->running = false;
    return ok && st == 0;
}

Test(pc_ws_node, ws_pair_converges_and_pings)
{
    pct_node *a = &nodes[0], *b = &nodes[1], *d = &nodes[2];
    char lws[32], conn[48], conn2[48], why[256], line[256];
    int port = pgt_free_port();
    snprintf(lws, sizeof lws, "127.0.0.1:%d", port);
    snprintf(conn, sizeof conn, "ws://127.0.0.1:%d/ws", port);
    cr_assert(pct_node_start(a, 1, (char *[]){"--listen-ws", lws, NULL}), "A did not start:\n%s", a->p.buf);
    cr_assert(pct_node_start(b, 2, (char *[]){"--connect", conn, NULL}), "B did not start:\n%s", b->p.buf);
    cr_assert(wait_state(a, KEY_A, "[]", 1, 15000, why, sizeof why), "A: %s", why);
    cr_assert(wait_state(b, KEY_A, "[1]", 1, 15000, why, sizeof why), "B: %s", why);

    json_t *m = pct_manhole(b);
    cr_assert_not_null(m);
    json_t *e = json_array_get(json_object_get(json_object_get(m, "peers"), KEY_A), 0);
    cr_assert_str_eq(str(e, "uri", NULL), conn);
    cr_assert_str_eq(str(e, "zone", NULL), "static");
    cr_assert_eq(json_integer_value(json_object_get(e, "type")), 3);
    cr_assert_gt(json_integer_value(json_object_get(e, "rx_proto_bytes")), 0);
    json_decref(m);

    /* a plain HTTP GET (no upgrade) is refused with 400 and A keeps its one peering */
    char url[48];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ws", port);
    pgt_http r = pgt_http_do(url, &(pgt_req){.timeout_ms = 3000});
    cr_assert_eq(r.status, 400, "plain GET got %ld", r.status);
    pgt_http_free(&r);
    cr_assert(state_is(a, KEY_A, "[]", 1, why, sizeof why), "A after the plain GET: %s", why);

    /* a third node on path "/" pings B through A */
    snprintf(conn2, sizeof conn2, "ws://127.0.0.1:%d/", port);
    cr_assert(pct_node_start(d, 4, (char *[]){"--connect", conn2, "--ping", KEY_B, "--count", "3", NULL}),
              "D did not start:\n%s", d->p.buf);
    cr_assert(ping_ok(d, 3, line, sizeof line), "ping over ws failed:\n%s", d->p.buf);
}

Test(pc_ws_node, mixed_tcp_ws_line_ping_across_middle)
{
    pct_node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
    char la[32], lb[32], ca[48], cb[48], why[256], line[256];
    int pa = pgt_free_port(), pb = pgt_free_port();
    snprintf(la, sizeof la, "127.0.0.1:%d", pa);
    snprintf(lb, sizeof lb, "127.0.0.1:%d", pb);
    snprintf(ca, sizeof ca, "127.0.0.1:%d", pa);
    snprintf(cb, sizeof cb, "ws://127.0.0.1:%d/", pb);
    cr_assert(pct_node_start(a, 1, (char *[]){"--listen", la, NULL}), "A did not start:\n%s", a->p.buf);
    cr_assert(pct_node_start(b, 2, (char *[]){"--listen-ws", lb, "--connect", ca, NULL}), "B:\n%s", b->p.buf);
    cr_assert(wait_state(b, KEY_A, "[1]", 1, 15000, why, sizeof why), "B: %s", why);
    cr_assert(pct_node_start(c, 3, (char *[]){"--connect", cb, "--ping", KEY_A, "--count", "3", NULL}),
              "C did not start:\n%s", c->p.buf);
    /* C is the highest key: once it is up B has two peers under root C */
    cr_assert(wait_state(b, KEY_C, "[1]", 2, 15000, why, sizeof why), "B: %s", why);
    cr_assert(ping_ok(c, 3, line, sizeof line), "ping C->B->A failed:\n%s", c->p.buf);
}

/* ---- multicast in a private network namespace ------------------------------------ */

/* Runs in a forked child that has its own network namespace: starts the nodes, checks
 * them, writes a verdict ("ok", "skip: ..." or the failure) into msg. */
static int mcast_scenario(char *msg, size_t cap, void *ctx)
{
    (void)ctx;
    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(msg, cap, "skip: cannot create a network namespace (needs root): %m");
        return 2;
    }
    if (system("ip link set lo up && ip link set lo multicast on && "
               "ip route add 224.0.0.0/4 dev lo") != 0) {
        snprintf(msg, cap, "skip: cannot set up loopback multicast in the namespace");
        return 2;
    }
    const char *keys[] = {KEY_A, KEY_B, KEY_C};
    for (int i = 0; i < 3; i++)
        if (!pct_node_start(&nodes[i], i + 1, (char *[]){"--listen", "127.0.0.1:0", "--multicast",
                   "--multicast-interface", "lo", NULL})) {
            snprintf(msg, cap, "node %d did not start:\n%s", i, nodes[i].p.buf);
            return 1;
        }
    char why[256];
    const char *coords[] = {NULL, NULL, "[]"};
    for (int i = 0; i < 3; i++) {
        /* every node ends with the other two as peers, all under root C */
        long deadline = pgt_now_ms() + 15000;
        bool ok = false;
        while (!ok && pgt_now_ms() < deadline) {
            json_t *m = pct_manhole(&nodes[i]);
            ok = m && strcmp(str(m, "root", "root_public_key"), KEY_C) == 0 &&
                 json_object_size(json_object_get(m, "peers")) == 3 &&
                 (!coords[i] || strcmp(str(m, "coords", NULL), coords[i]) == 0);
            if (m) {
                for (int k = 0; ok && k < 3; k++)
                    if (k != i)
                        ok = json_array_size(json_object_get(json_object_get(m, "peers"), keys[k])) == 1;
                snprintf(why, sizeof why, "root %s, %zu peer keys", str(m, "root", "root_public_key"),
                         json_object_size(json_object_get(m, "peers")) - 1);
            }
            json_decref(m);
            if (!ok)
                usleep(200000);
        }
        if (!ok) {
            snprintf(msg, cap, "node %d did not find the others: %s\n%s", i, why, nodes[i].p.buf);
            return 1;
        }
    }
    /* each of the three peerings was dialled after a beacon by exactly one side, which
     * shows it as link type 1 (multicast); the accepting side shows type 3 */
    int type1 = 0;
    for (int i = 0; i < 3; i++) {
        json_t *m = pct_manhole(&nodes[i]);
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(m, "peers"), k, v)
            if (json_integer_value(json_object_get(json_array_get(v, 0), "type")) == 1)
                type1++;
        json_decref(m);
    }
    if (type1 != 3) {
        snprintf(msg, cap, "%d peerings of link type 1, want 3:\n%s", type1, nodes[0].p.buf);
        return 1;
    }
    char line[256];
    if (!pct_node_start(&nodes[3], 4, (char *[]){"--multicast", "--multicast-interface", "lo", "--ping", KEY_A,
               "--count", "2", NULL}) || !ping_ok(&nodes[3], 2, line, sizeof line)) {
        snprintf(msg, cap, "ping from a fourth multicast node failed:\n%s", nodes[3].p.buf);
        return 1;
    }
    snprintf(msg, cap, "ok");
    return 0;
}

/* In the scenario's child: whatever nodes it left running go down with it. */
static void kill_nodes(void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        pct_node_kill(&nodes[i]);
}

Test(pc_ws_node, multicast_three_nodes_find_each_other, .timeout = 60)
{
    static char buf[70000];
    int rc = pgt_in_child(mcast_scenario, kill_nodes, NULL, buf, sizeof buf);
    if (rc == 2) cr_skip_test("%s", buf);
    cr_assert_eq(rc, 0, "multicast scenario failed: %s", buf);
}
