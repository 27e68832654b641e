/* Benchmark: the deterministic Pinecone simulator. Wall seconds until convergence (one
 * root, exact SNEK ring) for 100, 1,000 and 10,000 nodes on the random topology, with the
 * virtual time it took and the ping arrival afterwards; then the full 360-step mobility
 * run (50 nodes, 150 closest pairs, 200 pings per step), with Dendrite's hop limit and
 * without it. Seed 1 throughout, so the non-wall figures are reproducible. */
#include <stdio.h>
#include <stdlib.h>

#include "pinecone/pc_sim_scenario.h"

static void converge(int n)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = n;
    p.pings = 100;
    p.max_time = 900;
    p.max_wall_s = 1200; /* keeps `make bench` bounded; a stopped run prints "converged NO" */
    pc_sim_report r;
    if (pc_sim_scenario_run("converge", &p, &r) != 0) {
        printf("converge %d nodes: failed to run\n", n);
        return;
    }
    printf("converge random %6d nodes: wall %8.2f s  virtual %7.2f s  converged %s  "
           "events %.0f  ping arrival %.3f (hop-limit drops %.0f)\n",
           n, pc_sim_report_get(&r, "converge_wall_s"), pc_sim_report_get(&r, "converge_virtual_s"),
           pc_sim_report_get(&r, "converged") == 1 ? "yes" : "NO", pc_sim_report_get(&r, "events"),
           pc_sim_report_get(&r, "ping_arrival"), pc_sim_report_get(&r, "dropped_hop_limit"));
    fflush(stdout);
    pc_sim_report_free(&r);
}

static void mobility(bool no_hop_limit)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.no_hop_limit = no_hop_limit;
    pc_sim_report r;
    if (pc_sim_scenario_run("mobility", &p, &r) != 0) {
        printf("mobility: failed to run\n");
        return;
    }
    printf("mobility 360 steps%s: median arrival %.4f  mean %.4f  min %.4f  wall %.1f s\n",
           no_hop_limit ? " (no hop limit)" : " (hop limit 10)",
           pc_sim_report_get(&r, "median_arrival"), pc_sim_report_get(&r, "mean_arrival"),
           pc_sim_report_get(&r, "min_arrival"), pc_sim_report_get(&r, "wall_s"));
    fflush(stdout);
    pc_sim_report_free(&r);
}

int main(int argc, char **argv)
{
    (void)argv;
    converge(100);
    converge(1000);
    if (argc < 2)   /* any argument skips the slow 10,000-node run */
        converge(10000);
    mobility(false);
    mobility(true);
    return 0;
}
