/* Benchmark: the deterministic Pinecone simulator. Wall seconds until convergence (one
 * root, exact SNEK ring) for 100, 1,000 and 10,000 nodes on the random topology, with the
 * virtual time it took, the fewest nodes off at any instant when it did not converge,
 * and the ping arrival afterwards; then the full 360-step mobility run (50 nodes, 150
 * closest pairs, 200 pings per step), with Dendrite's hop limit and without it. Seed 1
 * throughout, so the non-wall figures are reproducible. The 10,000-node run takes
 * minutes; it is bounded (virtual and wall time, see below) and skipped with any
 * argument or PC_BENCH_SIM_10K=0. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_sim_scenario.h"

/* Bounds of the 10,000-node run: virtual seconds simulated at most, and wall seconds
 * after which it stops early (then "converged NO" and the figures are not reproducible). */
#define BIG_VIRTUAL_S 600
#define BIG_WALL_S 900.0

static void converge(int n, uint64_t max_virtual_s, double max_wall_s)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = n;
    p.pings = 100;
    p.max_time = max_virtual_s;
    p.max_wall_s = max_wall_s; /* keeps `make bench` bounded; a stopped run prints "converged NO" */
    pc_sim_report r;
    if (pc_sim_scenario_run("converge", &p, &r) != 0) {
        printf("converge %d nodes: failed to run\n", n);
        return;
    }
    bool ok = pc_sim_report_get(&r, "converged") == 1;
    printf("converge random %6d nodes: wall %8.2f s  virtual %7.2f s  converged %s  "
           "events %.0f  ping arrival %.3f (hop-limit drops %.0f)\n",
           n, pc_sim_report_get(&r, "converge_wall_s"),
           ok ? pc_sim_report_get(&r, "converge_virtual_s") : (double)max_virtual_s,
           ok ? "yes" : "NO", pc_sim_report_get(&r, "events"),
           pc_sim_report_get(&r, "ping_arrival"), pc_sim_report_get(&r, "dropped_hop_limit"));
    if (!ok)
        printf("    not converged within %llu virtual s: fewest nodes off at any instant %.0f "
               "(at %.2f s), at the end %.0f with a wrong root, %.0f with a wrong descending\n",
               (unsigned long long)max_virtual_s, pc_sim_report_get(&r, "fewest_wrong"),
               pc_sim_report_get(&r, "fewest_wrong_virtual_s"), pc_sim_report_get(&r, "wrong_root"),
               pc_sim_report_get(&r, "wrong_descending"));
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
    converge(100, 900, 1200);
    converge(1000, 900, 1200);
    const char *big = getenv("PC_BENCH_SIM_10K");
    if (argc < 2 && !(big && strcmp(big, "0") == 0))
        converge(10000, BIG_VIRTUAL_S, BIG_WALL_S);
    else
        printf("converge random  10000 nodes: skipped (PC_BENCH_SIM_10K=0 or an argument)\n");
    mobility(false);
    mobility(true);
    return 0;
}
