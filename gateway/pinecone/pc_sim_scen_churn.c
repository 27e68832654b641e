/* pc_sim_scen_churn: the `churn` scenario. N nodes on a topology (random by default)
 * converge for up to 60 s; then for `duration` seconds nodes leave at `rate` departures
 * per minute (exponential gaps), each chosen among present nodes (at most half may be
 * away), and come back after 5-30 s as a restarted process (fresh router, same key),
 * re-linking to the neighbours of the original topology that are present. Meanwhile 10
 * pings per second go between random present pairs that are connected at send time.
 * Reconvergence time: from a leave or join until the convergence check (every 250 ms,
 * over present nodes) passes; an event followed by another before convergence counts
 * as not reconverged. */
#include "pinecone/pc_sim_scen_int.h"

#include <math.h>
#include <stdlib.h>

#define CHECK_EVERY 250
#define PING_EVERY 100

typedef struct edge {
    int a, b;
} edge;

int pcx_churn(const pc_sim_params *p, pc_sim_report *r)
{
    int n = p->nodes ? p->nodes : 50;
    uint64_t latency = p->latency ? p->latency : 10;
    double rate = p->rate > 0 ? p->rate : 6;
    uint64_t duration = (p->duration ? p->duration : 300) * 1000;
    if (n < 3)
        return PC_ERR_INVALID;
    pc_sim *s = pcx_new_sim(p);
    if (!s)
        return PC_ERR_NOMEM;
    int rc = pcx_build_topology(s, n, p->topology ? p->topology : "random", latency, p->loss);
    size_t ne = pc_sim_link_count(s);
    edge *edges = malloc((ne + 1) * sizeof *edges);
    bool *absent = calloc((size_t)n, sizeof *absent);
    uint64_t *back_at = calloc((size_t)n, sizeof *back_at);
    int *dist = malloc((size_t)n * sizeof *dist);
    double *reconv = malloc(4096 * sizeof *reconv);
    if (rc != PC_OK || !edges || !absent || !back_at || !dist || !reconv) {
        free(edges), free(absent), free(back_at), free(dist), free(reconv);
        pc_sim_free(s);
        return rc != PC_OK ? rc : PC_ERR_NOMEM;
    }
    for (size_t l = 0; l < ne; l++) {
        bool up;
        pc_sim_link_info(s, (int)l, &edges[l].a, &edges[l].b, &up);
    }
    double w0 = pcx_wall();
    pc_sim_rng *g = pc_sim_rng_of(s);
    uint64_t t0 = pcx_run_to_convergence(s, NULL, CHECK_EVERY, PC_SIM_T0 + 60000, 0, NULL);
    uint64_t start = pc_sim_now(s), end = start + duration;

    pcx_pings ps = {0};
    pcx_pings_attach(s, &ps);
    uint64_t next_leave = start + (uint64_t)(-log(1 - pc_sim_rng_unit(g)) * 60000.0 / rate) + 1;
    uint64_t next_ping = start + PING_EVERY, next_check = start + CHECK_EVERY;
    uint64_t pending_since = 0;
    size_t leaves = 0, joins = 0, events = 0, n_reconv = 0;
    int away = 0;
    while (pc_sim_now(s) < end) {
        uint64_t t = next_leave < next_ping ? next_leave : next_ping;
        t = t < next_check ? t : next_check;
        for (int i = 0; i < n; i++)
            if (absent[i] && back_at[i] < t)
                t = back_at[i];
        pc_sim_run_until(s, t);
        bool changed = false;
        for (int i = 0; i < n; i++) {
            if (!absent[i] || back_at[i] > t)
                continue;
            absent[i] = false;
            away--;
            pc_sim_restart_node(s, i);
            for (size_t e = 0; e < ne; e++) {
                int o = edges[e].a == i ? edges[e].b : edges[e].b == i ? edges[e].a : -1;
                if (o >= 0 && !absent[o])
                    pc_sim_connect(s, i, 0, o, 0, latency, p->loss);
            }
            joins++;
            changed = true;
        }
        if (t == next_leave) {
            if (away < n / 2) {
                int v;
                do
                    v = (int)pc_sim_rng_below(g, (uint64_t)n);
                while (absent[v]);
                for (size_t l = 0; l < pc_sim_link_count(s); l++) {
                    int a, b;
                    bool up;
                    pc_sim_link_info(s, (int)l, &a, &b, &up);
                    if (up && (a == v || b == v))
                        pc_sim_disconnect(s, (int)l);
                }
                absent[v] = true;
                away++;
                back_at[v] = t + 5000 + pc_sim_rng_below(g, 25001);
                leaves++;
                changed = true;
            }
            next_leave = t + (uint64_t)(-log(1 - pc_sim_rng_unit(g)) * 60000.0 / rate) + 1;
        }
        if (changed) {
            events++;
            pending_since = t;
        }
        if (t == next_ping) {
            int a = (int)pc_sim_rng_below(g, (uint64_t)n);
            if (!absent[a]) {
                pc_sim_hops_from(s, a, dist);
                int b = (int)pc_sim_rng_below(g, (uint64_t)n);
                if (b != a && dist[b] > 0)
                    pcx_ping(s, &ps, a, b, 0);
            }
            next_ping += PING_EVERY;
        }
        if (t == next_check) {
            if (pending_since && pc_sim_check_convergence(s, absent, NULL)) {
                if (n_reconv < 4096)
                    reconv[n_reconv++] = (double)(t - pending_since) / 1000.0;
                pending_since = 0;
            }
            next_check += CHECK_EVERY;
        }
    }
    pc_sim_run_until(s, pc_sim_now(s) + 5000);
    double mx = 0;
    for (size_t i = 0; i < n_reconv; i++)
        mx = reconv[i] > mx ? reconv[i] : mx;
    size_t sent;
    double ratio = pcx_ratio(&ps, 0, &sent);
    pcx_put(r, "nodes", n, "", false);
    pcx_put(r, "rate_per_min", rate, "", false);
    pcx_put(r, "duration_s", (double)duration / 1000.0, "s", false);
    pcx_put(r, "initial_converge_virtual_s", t0 ? (double)(t0 - PC_SIM_T0) / 1000.0 : -1, "s", false);
    pcx_put(r, "leaves", (double)leaves, "", false);
    pcx_put(r, "joins", (double)joins, "", false);
    pcx_put(r, "pings_sent", (double)sent, "", false);
    pcx_put(r, "ping_arrival", ratio, "ratio", false);
    pcx_put(r, "reconverged_events", (double)n_reconv, "", false);
    pcx_put(r, "topology_events", (double)events, "", false);
    pcx_put(r, "reconverge_median_s", pcx_median(reconv, n_reconv), "s", false);
    pcx_put(r, "reconverge_max_s", mx, "s", false);
    pcx_put(r, "wall_s", pcx_wall() - w0, "s", true);
    free(edges), free(absent), free(back_at), free(dist), free(reconv);
    pcx_pings_free(&ps);
    pc_sim_free(s);
    return PC_OK;
}
