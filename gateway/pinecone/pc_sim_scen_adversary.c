/* pc_sim_scen_adversary: the adversary scenarios. Each builds N honest nodes on a
 * topology (random by default), adds or marks attackers, lets the network converge for
 * 60 s and pings 200 random honest pairs (20 ms apart, 5 s to arrive). Each is run twice
 * with the same seed: once with the attackers forwarding honestly (baseline) and once
 * with them dropping every traffic frame they should forward, so the difference is the
 * attack's effect alone. Attackers cannot forge signatures, so they follow the protocol
 * in everything else:
 *   blackhole    k honest-looking nodes (default 10% of N) drop all transit traffic.
 *   sybil        one attacker machine attached to one honest node hosts k identities
 *                (default 20), each a node linked only to the attacker's hub; they
 *                occupy many places in the SNEK key space and drop transit traffic.
 *   root-hijack  one attacker whose key is ground (by trying seeds) to be higher than
 *                every honest key, linked to two honest nodes: it legitimately wins
 *                the root election, then drops transit traffic, so tree routing
 *                through the root fails. (Replaying an old announcement cannot win: a
 *                lower sequence for the same root is rejected, a replayed chain's last
 *                signer is not the sender.) */
#include "pinecone/pc_sim_scen_int.h"

#include <string.h>

#include "pinecone/pc_handshake.h"

typedef struct attack {
    int first, count;    /* attacker node indexes: first .. first+count-1 */
    int honest;          /* honest nodes are 0 .. honest-1 */
} attack;

static int add_attackers(pc_sim *s, const char *kind, int n, int k, uint64_t latency,
                         double loss, attack *a)
{
    pc_sim_rng *g = pc_sim_rng_of(s);
    a->honest = n;
    if (strcmp(kind, "blackhole") == 0) {
        /* Mark k of the honest-looking nodes (the last k indexes, which the random
         * topology attached at random places) and shrink the honest set. */
        if (k >= n)
            return PC_ERR_INVALID;
        a->first = n - k;
        a->count = k;
        a->honest = n - k;
        return PC_OK;
    }
    a->first = (int)pc_sim_node_count(s);
    if (strcmp(kind, "sybil") == 0) {
        if (k + 1 > PC_MAX_PORT)
            return PC_ERR_INVALID;
        int hub = pc_sim_add_node(s, NULL, NULL);
        if (hub < 0 || pc_sim_connect(s, hub, 0, (int)pc_sim_rng_below(g, (uint64_t)n), 0,
                                      latency, loss) < 0)
            return PC_ERR_NOMEM;
        for (int i = 0; i < k; i++) {
            int v = pc_sim_add_node(s, NULL, NULL);
            if (v < 0 || pc_sim_connect(s, hub, 0, v, 0, 1, 0) < 0)
                return PC_ERR_NOMEM;
        }
        a->count = k + 1;
        return PC_OK;
    }
    /* root-hijack: grind a seed whose key beats every honest key. */
    uint8_t top[PC_KEY_LEN] = {0}, seed[PC_SEED_LEN], pk[PC_KEY_LEN], sk[PC_SECRET_KEY_LEN];
    for (int i = 0; i < n; i++)
        if (pc_key_cmp(pc_sim_key(s, i), top) > 0)
            memcpy(top, pc_sim_key(s, i), PC_KEY_LEN);
    do {
        for (int i = 0; i < PC_SEED_LEN; i += 8) {
            uint64_t v = pc_sim_rng_next(g);
            memcpy(seed + i, &v, 8);
        }
        pc_keypair_from_seed(seed, pk, sk);
    } while (pc_key_cmp(pk, top) <= 0);
    int v = pc_sim_add_node(s, seed, NULL);
    int x = (int)pc_sim_rng_below(g, (uint64_t)n), y = (int)pc_sim_rng_below(g, (uint64_t)n);
    if (v < 0 || pc_sim_connect(s, v, 0, x, 0, latency, loss) < 0)
        return PC_ERR_NOMEM;
    if (y != x && pc_sim_connect(s, v, 0, y, 0, latency, loss) < 0)
        return PC_ERR_NOMEM;
    a->count = 1;
    return PC_OK;
}

typedef struct outcome {
    double arrival;
    size_t sent;
    size_t rooted_at_attacker;   /* honest nodes whose root is an attacker key */
    size_t desc_is_attacker;     /* honest nodes whose SNEK descending is an attacker */
    uint64_t blackholed;
} outcome;

static int run_once(const char *kind, const pc_sim_params *p, bool attack_on, outcome *o)
{
    int n = p->nodes ? p->nodes : 50, pings = p->pings ? p->pings : 200;
    int k = p->attackers ? p->attackers : strcmp(kind, "blackhole") == 0 ? (n + 9) / 10 : 20;
    uint64_t latency = p->latency ? p->latency : 10;
    pc_sim *s = pcx_new_sim(p);
    if (!s)
        return PC_ERR_NOMEM;
    attack a;
    int rc = pcx_build_topology(s, n, p->topology ? p->topology : "random", latency, p->loss);
    if (rc == PC_OK)
        rc = add_attackers(s, kind, n, k, latency, p->loss, &a);
    if (rc != PC_OK || a.honest < 2) {
        pc_sim_free(s);
        return rc != PC_OK ? rc : PC_ERR_INVALID;
    }
    for (int i = 0; i < a.count; i++)
        pc_sim_set_blackhole(s, a.first + i, attack_on);
    pc_sim_run_until(s, PC_SIM_T0 + 60000);

    memset(o, 0, sizeof *o);
    for (int i = 0; i < a.honest; i++) {
        uint8_t root[PC_KEY_LEN];
        uint64_t seq;
        pc_path_status d;
        pc_router *r = pc_sim_router(s, i);
        pc_router_root(r, root, &seq);
        bool has = pc_router_descending(r, &d);
        for (int j = 0; j < a.count; j++) {
            const uint8_t *ak = pc_sim_key(s, a.first + j);
            o->rooted_at_attacker += memcmp(root, ak, PC_KEY_LEN) == 0;
            o->desc_is_attacker += has && memcmp(d.key, ak, PC_KEY_LEN) == 0;
        }
    }
    pcx_pings ps = {0};
    pcx_pings_attach(s, &ps);
    pc_sim_rng *g = pc_sim_rng_of(s);
    for (int i = 0; i < pings; i++) {
        int x = (int)pc_sim_rng_below(g, (uint64_t)a.honest);
        int y = (int)pc_sim_rng_below(g, (uint64_t)a.honest - 1);
        if (y >= x)
            y++;
        pcx_ping(s, &ps, x, y, 0);
        pc_sim_run_until(s, pc_sim_now(s) + 20);
    }
    pc_sim_run_until(s, pc_sim_now(s) + 5000);
    o->arrival = pcx_ratio(&ps, 0, &o->sent);
    for (int i = 0; i < a.count; i++)
        o->blackholed += pc_sim_stats(s, a.first + i)->blackholed;
    pcx_pings_free(&ps);
    pc_sim_free(s);
    return PC_OK;
}

int pcx_adversary(const char *kind, const pc_sim_params *p, pc_sim_report *r)
{
    double w0 = pcx_wall();
    outcome base, att;
    int rc = run_once(kind, p, false, &base);
    if (rc == PC_OK)
        rc = run_once(kind, p, true, &att);
    if (rc != PC_OK)
        return rc;
    int n = p->nodes ? p->nodes : 50;
    int k = p->attackers ? p->attackers : strcmp(kind, "blackhole") == 0 ? (n + 9) / 10 : 20;
    pcx_put(r, "nodes", n, "", false);
    pcx_put(r, "attacker_nodes", strcmp(kind, "root-hijack") == 0 ? 1
                                 : strcmp(kind, "sybil") == 0 ? k + 1 : k, "", false);
    pcx_put(r, "pings_sent", (double)att.sent, "", false);
    pcx_put(r, "arrival_baseline", base.arrival, "ratio", false);
    pcx_put(r, "arrival_under_attack", att.arrival, "ratio", false);
    pcx_put(r, "honest_rooted_at_attacker", (double)att.rooted_at_attacker, "nodes", false);
    pcx_put(r, "honest_descending_attacker", (double)att.desc_is_attacker, "nodes", false);
    pcx_put(r, "frames_blackholed", (double)att.blackholed, "", false);
    pcx_put(r, "wall_s", pcx_wall() - w0, "s", true);
    return PC_OK;
}
