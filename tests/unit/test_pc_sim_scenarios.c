/* The library simulator (pc_sim) and its scenarios: PRNG and run determinism, link
 * mechanics (latency, loss, disconnect), the convergence predicate, convergence and
 * pings on every topology, mobility with a reduced step count, churn and each
 * adversary. Lower bounds are what the seeds below were measured to give (with some
 * margin), not targets; each comment says what was measured. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "pinecone/pc_sim.h"
#include "pinecone/pc_sim_scenario.h"

Test(pc_sim_core, rng_is_reproducible_and_bounded)
{
    pc_sim_rng a, b, c;
    pc_sim_rng_seed(&a, 42);
    pc_sim_rng_seed(&b, 42);
    pc_sim_rng_seed(&c, 43);
    int same_c = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = pc_sim_rng_next(&a);
        cr_assert_eq(x, pc_sim_rng_next(&b));
        same_c += x == pc_sim_rng_next(&c);
        uint64_t v = pc_sim_rng_below(&a, 7);
        pc_sim_rng_below(&b, 7);
        cr_assert_lt(v, 7);
        double u = pc_sim_rng_unit(&a);
        pc_sim_rng_unit(&b);
        cr_assert(u >= 0 && u < 1);
    }
    cr_assert_eq(same_c, 0);
}

static void pair(pc_sim **s, int *a, int *b, uint64_t latency, double loss, int *link)
{
    cr_assert_eq(pc_sim_new(s, 7, PC_SIM_T0), PC_OK);
    *a = pc_sim_add_node(*s, NULL, NULL);
    *b = pc_sim_add_node(*s, NULL, NULL);
    *link = pc_sim_connect(*s, *a, 0, *b, 0, latency, loss);
    cr_assert_geq(*link, 0);
}

Test(pc_sim_core, frames_take_the_link_latency)
{
    pc_sim *s;
    int a, b, l;
    pair(&s, &a, &b, 250, 0, &l);
    pc_router_counters k;
    pc_sim_run_until(s, PC_SIM_T0 + 249);
    pc_router_get_counters(pc_sim_router(s, b), &k);
    cr_assert_eq(k.frames_in, 0, "nothing arrives before the latency has passed");
    pc_sim_run_until(s, PC_SIM_T0 + 250);
    pc_router_get_counters(pc_sim_router(s, b), &k);
    cr_assert_gt(k.frames_in, 0);
    cr_assert_eq(pc_sim_now(s), PC_SIM_T0 + 250);
    pc_sim_free(s);
}

Test(pc_sim_core, loss_drops_frames_and_disconnect_takes_both_ends_down)
{
    pc_sim *s;
    int a, b, l;
    pair(&s, &a, &b, 5, 0.5, &l);
    pc_sim_run_until(s, PC_SIM_T0 + 20000);
    pc_sim_totals t;
    pc_sim_get_totals(s, &t);
    cr_assert_gt(t.lost, 0);
    cr_assert_gt(t.frames, 0);
    /* With half the keepalives lost the routers may time the peer out; either way a
     * still-up link goes down on both ends on disconnect. */
    bool up;
    int x, y;
    pc_sim_link_info(s, l, &x, &y, &up);
    if (up) {
        cr_assert_eq(pc_sim_disconnect(s, l), PC_OK);
        cr_assert_eq(pc_sim_disconnect(s, l), PC_ERR_NO_PEER);
    }
    pc_peer_status ps;
    cr_assert_eq(pc_router_peer_status(pc_sim_router(s, a), 1, &ps), PC_ERR_NO_PEER);
    cr_assert_eq(pc_router_peer_status(pc_sim_router(s, b), 1, &ps), PC_ERR_NO_PEER);
    cr_assert_eq(pc_sim_find_link(s, a, b), -1);
    pc_sim_free(s);
}

Test(pc_sim_core, convergence_predicate_tracks_the_network)
{
    pc_sim *s;
    cr_assert_eq(pc_sim_new(&s, 3, PC_SIM_T0), PC_OK);
    for (int i = 0; i < 4; i++)
        pc_sim_add_node(s, NULL, NULL);
    pc_sim_convergence c;
    /* Four isolated nodes: each is its own root and has no descending: converged. */
    cr_assert(pc_sim_check_convergence(s, NULL, &c));
    cr_assert_eq(c.components, 4);
    for (int i = 1; i < 4; i++)
        cr_assert_geq(pc_sim_connect(s, i - 1, 0, i, 0, 10, 0), 0);
    cr_assert_not(pc_sim_check_convergence(s, NULL, &c), "just linked: roots still differ");
    cr_assert_gt(c.wrong_root, 0);
    pc_sim_run_until(s, PC_SIM_T0 + 30000);
    cr_assert(pc_sim_check_convergence(s, NULL, &c));
    cr_assert_eq(c.components, 1);
    /* Cutting the middle link splits the line; right after, the halves disagree. */
    pc_sim_disconnect(s, pc_sim_find_link(s, 1, 2));
    pc_sim_check_convergence(s, NULL, &c);
    cr_assert_eq(c.components, 2);
    pc_sim_run_until(s, PC_SIM_T0 + 60000);
    cr_assert(pc_sim_check_convergence(s, NULL, &c));
    pc_sim_free(s);
}

static void run(const char *name, pc_sim_params *p, pc_sim_report *r)
{
    int rc = pc_sim_scenario_run(name, p, r);
    cr_assert_eq(rc, PC_OK, "%s: %d", name, rc);
}

/* A scenario over `nodes` nodes with every other parameter at its default. */
static void run_with_nodes(const char *name, int nodes, pc_sim_report *r)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = nodes;
    run(name, &p, r);
}

static double fig(const pc_sim_report *r, const char *name)
{
    double v = pc_sim_report_get(r, name);
    cr_assert(!isnan(v), "no figure %s", name);
    return v;
}

Test(pc_sim_scen, same_seed_same_figures_other_seed_differs)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = 30;
    pc_sim_report r1, r2, r3;
    run("converge", &p, &r1);
    run("converge", &p, &r2);
    p.seed = 2;
    run("converge", &p, &r3);
    cr_assert_eq(r1.n, r2.n);
    bool differs = false;
    for (size_t i = 0; i < r1.n; i++) {
        if (r1.m[i].wall)
            continue;
        cr_assert_eq(r1.m[i].value, r2.m[i].value, "%s", r1.m[i].name);
        differs |= r1.m[i].value != r3.m[i].value;
    }
    cr_assert(differs, "seed 2 gave exactly the figures of seed 1");
}

Test(pc_sim_scen, unknown_scenario_and_bad_topology_are_refused)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    pc_sim_report r;
    cr_assert_eq(pc_sim_scenario_run("nope", &p, &r), PC_ERR_INVALID);
    p.topology = "ring";
    cr_assert_eq(pc_sim_scenario_run("converge", &p, &r), PC_ERR_INVALID);
    p.topology = "star";
    p.nodes = 300;
    cr_assert_eq(pc_sim_scenario_run("converge", &p, &r), PC_ERR_INVALID, "254 ports at most");
}

/* Every topology converges (one root, exact SNEK ring). Without the hop limit every
 * ping arrives; with Dendrite's limit of 10 the star (2 hops) still gets all, while on
 * long lines pairs beyond 10 hops cannot be reached at all. */
static void converge_topology(const char *topo)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = 30;
    p.topology = topo;
    p.pings = 100;
    p.no_hop_limit = true;
    pc_sim_report r;
    run("converge", &p, &r);
    cr_assert_eq(fig(&r, "converged"), 1, "%s", topo);
    cr_assert_eq(fig(&r, "wrong_root"), 0);
    cr_assert_eq(fig(&r, "wrong_descending"), 0);
    cr_assert_lt(fig(&r, "converge_virtual_s"), 120, "%s", topo);
    cr_assert_eq(fig(&r, "ping_arrival"), 1.0, "%s: %f", topo, fig(&r, "ping_arrival"));
}

Test(pc_sim_scen, converge_line) { converge_topology("line"); }
Test(pc_sim_scen, converge_star) { converge_topology("star"); }
Test(pc_sim_scen, converge_grid) { converge_topology("grid"); }
Test(pc_sim_scen, converge_random) { converge_topology("random"); }

Test(pc_sim_scen, converge_star_with_hop_limit_delivers_all)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = 30;
    p.topology = "star";
    p.pings = 100;
    pc_sim_report r;
    run("converge", &p, &r);
    cr_assert_eq(fig(&r, "converged"), 1);
    cr_assert_eq(fig(&r, "ping_arrival"), 1.0);
}

Test(pc_sim_scen, converge_line_hop_limit_cuts_far_pairs)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = 30;
    p.topology = "line";
    p.pings = 100;
    pc_sim_report r;
    run("converge", &p, &r);
    cr_assert_eq(fig(&r, "converged"), 1);
    cr_assert_lt(fig(&r, "pings_within_hop_limit"), fig(&r, "pings_sent"));
    cr_assert_lt(fig(&r, "ping_arrival"), 1.0);
    cr_assert_gt(fig(&r, "dropped_hop_limit"), 0);
    /* On a line the only path is the shortest one and a frame never turns back, so
     * every pair whose path fits the limit (at most 9 links: hop limit 10, and each
     * forwarding node, the origin too, needs more than 1 left) must arrive. */
    cr_assert_eq(fig(&r, "arrival_within_hop_limit"), 1.0, "%f",
                 fig(&r, "arrival_within_hop_limit"));
}

/* A converged random network: without the hop limit nearly every ping arrives (seed 1:
 * all but one, which the watermark rule drops where the routing entry it followed had
 * just expired, 10.1 s old); with it, the lost pings are traffic frames the hop limit
 * dropped, because first datagrams are SNEK-routed and SNEK paths are longer than
 * shortest paths. Every lost ping is one counted traffic drop: bootstraps that end at
 * the watermark rule are the protocol working and are counted apart. */
Test(pc_sim_scen, converge_random_losses_are_the_hop_limit, .timeout = 60)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = 200;
    p.pings = 200;
    pc_sim_report r;
    p.no_hop_limit = true;
    run("converge", &p, &r);
    cr_assert_eq(fig(&r, "converged"), 1);
    cr_assert_geq(fig(&r, "ping_arrival"), 0.99, "%f", fig(&r, "ping_arrival"));
    cr_assert_float_eq(fig(&r, "dropped_watermark"),
                       fig(&r, "pings_sent") * (1.0 - fig(&r, "ping_arrival")), 0.01);
    p.no_hop_limit = false;
    run("converge", &p, &r);
    cr_assert_eq(fig(&r, "converged"), 1);
    double lost = fig(&r, "pings_sent") * (1.0 - fig(&r, "ping_arrival"));
    cr_assert_gt(lost, 0.5, "a 200-node random graph has SNEK paths over 9 links");
    cr_assert_eq(fig(&r, "dropped_no_route"), 0);
    cr_assert_eq(fig(&r, "dropped_queue_full"), 0);
    cr_assert_float_eq(fig(&r, "dropped_hop_limit") + fig(&r, "dropped_watermark"), lost, 0.01);
    cr_assert_geq(fig(&r, "dropped_hop_limit"), 0.95 * lost);
    cr_assert_gt(fig(&r, "bootstraps_not_forwarded"), 0);
}

/* Seed 1, 10 steps: measured median 0.725 with the hop limit. */
Test(pc_sim_scen, mobility_reduced_reports_a_median, .timeout = 60)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.steps = 10;
    pc_sim_report r;
    run("mobility", &p, &r);
    cr_assert_eq(r.n_series, 10);
    double med = fig(&r, "median_arrival");
    cr_assert_geq(med, 0.65, "median %f", med);
    cr_assert_leq(med, 1.0);
    cr_assert_geq(fig(&r, "min_arrival"), 0.3);
    cr_assert_gt(fig(&r, "link_changes_per_step"), 0, "nodes moved, links changed");
    pc_sim_report_free(&r);
}

/* Seed 1, 30 nodes, 60 s: measured 6 leaves, arrival 0.93, reconvergence ~3 s. */
Test(pc_sim_scen, churn_runs_and_reconverges)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    p.nodes = 30;
    p.duration = 60;
    pc_sim_report r;
    run("churn", &p, &r);
    cr_assert_gt(fig(&r, "leaves"), 0);
    cr_assert_gt(fig(&r, "joins"), 0);
    cr_assert_gt(fig(&r, "reconverged_events"), 0);
    cr_assert_gt(fig(&r, "reconverge_median_s"), 0);
    cr_assert_geq(fig(&r, "ping_arrival"), 0.8);
}

/* Seed 1, 30 honest nodes: measured blackhole 0.985 -> 0.925, root-hijack 0.905 ->
 * 0.73 with every honest node under the attacker's root. */
Test(pc_sim_scen, blackhole_lowers_arrival)
{
    pc_sim_report r;
    run_with_nodes("blackhole", 30, &r);
    cr_assert_eq(fig(&r, "attacker_nodes"), 3);
    cr_assert_gt(fig(&r, "frames_blackholed"), 0);
    cr_assert_lt(fig(&r, "arrival_under_attack"), fig(&r, "arrival_baseline"));
}

Test(pc_sim_scen, sybil_runs)
{
    pc_sim_report r;
    run_with_nodes("sybil", 30, &r);
    cr_assert_eq(fig(&r, "attacker_nodes"), 21);
    cr_assert_gt(fig(&r, "honest_descending_attacker"), 0, "sybil keys enter the SNEK ring");
    cr_assert_leq(fig(&r, "arrival_under_attack"), fig(&r, "arrival_baseline"));
}

Test(pc_sim_scen, root_hijack_takes_the_root_and_drops)
{
    pc_sim_report r;
    run_with_nodes("root-hijack", 30, &r);
    cr_assert_eq(fig(&r, "honest_rooted_at_attacker"), 30);
    cr_assert_gt(fig(&r, "frames_blackholed"), 0);
    cr_assert_lt(fig(&r, "arrival_under_attack"), fig(&r, "arrival_baseline"));
}
