/* IPv6 multicast discovery (ff02::114) between real `pinegate pinecone` processes inside a
 * fresh network namespace: a veth pair v0/v1 with link-local IPv6 addresses only (no
 * IPv4 address on it, loopback without multicast), so nothing but IPv6 beacons can lead
 * the nodes to each other. Three nodes with --multicast on v0 and no --listen (so they
 * listen on [::]:0) must dial each other at [fe80::...%v0]:port and end up peered
 * under root C; a fourth multicast node's ping reaches A. Needs root for the namespace;
 * skipped otherwise. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/pgt.h"
#include "test_pc_proc.h"

#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define KEY_B "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
#define KEY_C "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"

static pct_node nodes[4];

/* Runs in a child with its own network namespace; the verdict goes into msg. */
static int scenario(char *msg, size_t cap, void *ctx)
{
    (void)ctx;
    if (unshare(CLONE_NEWNET) != 0) {
        snprintf(msg, cap, "skip: cannot create a network namespace (needs root): %m");
        return 2;
    }
    /* nodad: the link-local addresses are usable at once instead of after DAD */
    if (system("ip link set lo up && ip link add v0 type veth peer name v1 && "
               "ip link set v0 addrgenmode none && ip link set v1 addrgenmode none && "
               "ip link set v0 up && ip link set v1 up && "
               "ip -6 addr add fe80::10/64 dev v0 nodad && ip -6 addr add fe80::11/64 dev v1 nodad") != 0) {
        snprintf(msg, cap, "skip: cannot set up a veth pair with IPv6 in the namespace");
        return 2;
    }
    const char *keys[] = {KEY_A, KEY_B, KEY_C};
    for (int i = 0; i < 3; i++)
        if (!pct_node_start(&nodes[i], i + 1, (char *[]){"--multicast", "--multicast-interface", "v0", NULL})) {
            snprintf(msg, cap, "node %d did not start:\n%s", i, nodes[i].p.buf);
            return 1;
        }
    for (int i = 0; i < 3; i++) {
        long deadline = pgt_now_ms() + 15000;
        bool ok = false;
        while (!ok && pgt_now_ms() < deadline) {
            json_t *m = pct_manhole(&nodes[i]);
            json_t *root = json_object_get(json_object_get(m, "root"), "root_public_key");
            ok = m && json_is_string(root) && strcmp(json_string_value(root), KEY_C) == 0 &&
                 json_object_size(json_object_get(m, "peers")) == 3;
            for (int k = 0; ok && k < 3; k++)
                if (k != i)
                    ok = json_array_size(json_object_get(json_object_get(m, "peers"), keys[k])) == 1;
            json_decref(m);
            if (!ok)
                usleep(200000);
        }
        if (!ok) {
            snprintf(msg, cap, "node %d did not find the others over IPv6:\n%s", i, nodes[i].p.buf);
            return 1;
        }
    }
    /* the dials went to link-local addresses on v0 (each peering was dialled by one side) */
    int dialled = 0;
    for (int i = 0; i < 3; i++)
        dialled += pgt_wait_line(&nodes[i].p, "%v0]:", 1000, NULL, 0);
    if (dialled == 0) {
        snprintf(msg, cap, "no dial to a link-local address:\n%s", nodes[0].p.buf);
        return 1;
    }
    if (!pct_node_start(&nodes[3], 4,
                        (char *[]){"--multicast", "--multicast-interface", "v0", "--ping", KEY_A, "--count", "2", NULL}) ||
        !pgt_wait_line(&nodes[3].p, "2 sent, 2 received", 20000, NULL, 0)) {
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

Test(pc_mcast6, three_nodes_find_each_other_over_ipv6, .timeout = 60)
{
    static char buf[70000];
    int rc = pgt_in_child(scenario, kill_nodes, NULL, buf, sizeof buf);
    if (rc == 2) cr_skip_test("%s", buf);
    cr_assert_eq(rc, 0, "IPv6 multicast scenario failed: %s", buf);
}
