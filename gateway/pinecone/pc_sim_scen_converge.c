/* pc_sim_scen_converge: the `converge` scenario. N nodes start at the same instant on a
 * line, star, grid or random topology; the run measures the virtual and wall time until
 * the network has converged (pc_sim_check_convergence: one root, the highest key, and
 * every SNEK descending node equal to the key-order predecessor), then sends pings
 * between random distinct pairs, 10 ms apart, and counts how many arrive within 5 s.
 * A first datagram to a key has no destination coordinates, so it is SNEK-routed, and
 * SNEK paths are longer than shortest paths (they follow key order over bootstrap
 * paths): with Dendrite's hop limit, pairs only a few links apart can be out of reach.
 * The figures are therefore also given for pairs whose shortest path fits the hop
 * limit, and for pairs within 5 hops (the horizon the Go simulator pings within). */
#include "pinecone/pc_sim_scen_int.h"

#include <stdint.h>
#include <stdlib.h>

#define CHECK_EVERY 1000  /* virtual ms between looks at the wall-clock bound */

int pcx_converge(const pc_sim_params *p, pc_sim_report *r)
{
    int n = p->nodes ? p->nodes : 50;
    uint64_t latency = p->latency ? p->latency : 10;
    uint64_t limit = (p->max_time ? p->max_time : 600) * 1000;
    int pings = p->pings ? p->pings : 200;
    pc_sim *s = pcx_new_sim(p);
    if (!s)
        return PC_ERR_NOMEM;
    double w0 = pcx_wall();
    int rc = pcx_build_topology(s, n, p->topology ? p->topology : "random", latency, p->loss);
    if (rc != PC_OK) {
        pc_sim_free(s);
        return rc;
    }
    pc_sim_watch_stats ws = {.fewest_wrong = SIZE_MAX};
    uint64_t at = pcx_run_to_convergence(s, NULL, CHECK_EVERY, PC_SIM_T0 + limit,
                                         p->max_wall_s > 0 ? w0 + p->max_wall_s : 0, &ws);
    double w1 = pcx_wall();
    pc_sim_convergence c;
    pc_sim_check_convergence(s, NULL, &c);

    /* Each ping's group is the pair's shortest-path length in links. A frame leaves
     * its origin with hop limit 10 and every forwarding node, the origin included,
     * needs more than 1 left, so it crosses at most PC_HOP_LIMIT_TRAFFIC - 1 links. */
    pcx_pings ps = {0};
    pcx_pings_attach(s, &ps);
    pc_sim_rng *g = pc_sim_rng_of(s);
    int *dist = malloc((size_t)n * sizeof *dist);
    for (int i = 0; dist && n > 1 && i < pings; i++) {
        int a = (int)pc_sim_rng_below(g, (uint64_t)n), b = (int)pc_sim_rng_below(g, (uint64_t)n - 1);
        if (b >= a)
            b++;
        pc_sim_hops_from(s, a, dist);
        pcx_ping(s, &ps, a, b, dist[b]);
        pc_sim_run_until(s, pc_sim_now(s) + 10);
    }
    free(dist);
    pc_sim_run_until(s, pc_sim_now(s) + 5000);
    size_t sent, near, horizon;
    double ratio = pcx_ratio(&ps, -1, &sent);
    double ratio_near = pcx_ratio_within(&ps, PC_HOP_LIMIT_TRAFFIC - 1, &near);
    double ratio_horizon = pcx_ratio_within(&ps, PC_HOP_LIMIT_BROADCAST, &horizon);
    pc_sim_totals t;
    pc_sim_get_totals(s, &t);

    pcx_put(r, "nodes", n, "", false);
    pcx_put(r, "links", (double)pc_sim_link_count(s), "", false);
    pcx_put(r, "converged", at ? 1 : 0, "bool", false);
    pcx_put(r, "converge_virtual_s", at ? (double)(at - PC_SIM_T0) / 1000.0 : -1, "s", false);
    pcx_put(r, "converge_wall_s", w1 - w0, "s", true);
    /* How close an unconverged run came: the fewest nodes off at any instant. */
    pcx_put(r, "fewest_wrong", ws.fewest_wrong == SIZE_MAX ? (double)n : (double)ws.fewest_wrong,
            "nodes", false);
    pcx_put(r, "fewest_wrong_virtual_s",
            ws.fewest_wrong == SIZE_MAX ? -1 : (double)(ws.fewest_at - PC_SIM_T0) / 1000.0, "s", false);
    pcx_put(r, "wrong_root", (double)c.wrong_root, "nodes", false);
    pcx_put(r, "wrong_descending", (double)c.wrong_descending, "nodes", false);
    pcx_put(r, "pings_sent", (double)sent, "", false);
    pcx_put(r, "ping_arrival", ratio, "ratio", false);
    pcx_put(r, "pings_within_hop_limit", (double)near, "", false);
    pcx_put(r, "arrival_within_hop_limit", ratio_near, "ratio", false);
    pcx_put(r, "pings_within_5_hops", (double)horizon, "", false);
    pcx_put(r, "arrival_within_5_hops", ratio_horizon, "ratio", false);
    pcx_put_drops(s, r);
    pcx_put(r, "events", (double)t.events, "", false);
    pcx_put(r, "frames", (double)t.frames, "", false);
    pcx_pings_free(&ps);
    pc_sim_free(s);
    return PC_OK;
}
