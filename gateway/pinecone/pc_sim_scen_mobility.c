/* pc_sim_scen_mobility: the `mobility` scenario, after the original Pinecone
 * measurement. 50 nodes are placed uniformly at random in a 1 km x 1 km square; every
 * 10 s each node moves 0-20 m in a random direction (reflected at the edges), and the
 * links become the 150 closest node pairs (3 per node): links that left the set go
 * down, new ones come up. During each 10 s step, 200 pings between random connected
 * pairs at least 2 hops apart in the current graph are sent, spread evenly over the
 * step (one every 50 ms), so some follow a topology change closely and some late. A ping
 * counts as arrived if it is delivered before the run ends (at most 5 s after the last
 * step). Before step 0 the network gets 60 s to converge. Floating-point geometry uses
 * libm (sqrt, sin, cos), so runs are bit-identical on one platform. */
#include "pinecone/pc_sim_scen_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AREA 1000.0
#define MAX_MOVE 20.0
#define STEP_MS 10000

typedef struct pair {
    double d;
    int a, b;
} pair;

static int by_distance(const void *x, const void *y)
{
    const pair *p = x, *q = y;
    if (p->d != q->d)
        return p->d < q->d ? -1 : 1;
    return p->a != q->a ? p->a - q->a : p->b - q->b;
}

static double reflect(double v)
{
    if (v < 0)
        return -v;
    if (v > AREA)
        return 2 * AREA - v;
    return v;
}

/* Brings the link set to the k closest pairs; returns how many links changed. */
static int relink(pc_sim *s, int n, const double *x, const double *y, int k, pair *pairs,
                  uint64_t latency, double loss, bool *want)
{
    size_t np = 0;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            pairs[np++] = (pair){hypot(x[a] - x[b], y[a] - y[b]), a, b};
    qsort(pairs, np, sizeof *pairs, by_distance);
    memset(want, 0, (size_t)n * (size_t)n * sizeof *want);
    for (int i = 0; i < k && (size_t)i < np; i++)
        want[pairs[i].a * n + pairs[i].b] = true;
    int changes = 0;
    for (size_t l = 0; l < pc_sim_link_count(s); l++) {
        int a, b;
        bool up;
        pc_sim_link_info(s, (int)l, &a, &b, &up);
        int lo = a < b ? a : b, hi = a < b ? b : a;
        if (up && !want[lo * n + hi]) {
            pc_sim_disconnect(s, (int)l);
            changes++;
        }
    }
    for (int i = 0; i < k && (size_t)i < np; i++)
        if (pc_sim_find_link(s, pairs[i].a, pairs[i].b) < 0 &&
            pc_sim_connect(s, pairs[i].a, 0, pairs[i].b, 0, latency, loss) >= 0)
            changes++;
    return changes;
}

int pcx_mobility(const pc_sim_params *p, pc_sim_report *r)
{
    int n = p->nodes ? p->nodes : 50, steps = p->steps ? p->steps : 360;
    int pings = p->pings ? p->pings : 200, k = 3 * n;
    uint64_t latency = p->latency ? p->latency : 10;
    if (n < 3 || n > 1000)
        return PC_ERR_INVALID;
    pc_sim *s = pcx_new_sim(p);
    if (!s)
        return PC_ERR_NOMEM;
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    pair *pairs = malloc((size_t)n * (size_t)n / 2 * sizeof *pairs);
    bool *want = malloc((size_t)n * (size_t)n * sizeof *want);
    int *dist = malloc((size_t)n * sizeof *dist);
    int *cand = malloc((size_t)n * (size_t)n * 2 * sizeof *cand);
    double *ratio = malloc((size_t)steps * sizeof *ratio), *sorted = malloc((size_t)steps * sizeof *sorted);
    if (!x || !y || !pairs || !want || !dist || !cand || !ratio || !sorted) {
        free(x), free(y), free(pairs), free(want), free(dist), free(cand), free(ratio), free(sorted);
        pc_sim_free(s);
        return PC_ERR_NOMEM;
    }
    double w0 = pcx_wall();
    pc_sim_rng *g = pc_sim_rng_of(s);
    for (int i = 0; i < n; i++) {
        pc_sim_add_node(s, NULL, NULL);
        x[i] = pc_sim_rng_unit(g) * AREA;
        y[i] = pc_sim_rng_unit(g) * AREA;
    }
    relink(s, n, x, y, k, pairs, latency, p->loss, want);
    pc_sim_run_until(s, PC_SIM_T0 + 60000);

    pcx_pings ps = {0};
    pcx_pings_attach(s, &ps);
    long changes = 0, unreachable = 0;
    for (int st = 0; st < steps; st++) {
        uint64_t t = pc_sim_now(s);
        for (int i = 0; i < n; i++) {
            double ang = pc_sim_rng_unit(g) * 2 * M_PI, d = pc_sim_rng_unit(g) * MAX_MOVE;
            x[i] = reflect(x[i] + d * cos(ang));
            y[i] = reflect(y[i] + d * sin(ang));
        }
        changes += relink(s, n, x, y, k, pairs, latency, p->loss, want);
        size_t nc = 0;
        for (int a = 0; a < n; a++) {
            pc_sim_hops_from(s, a, dist);
            for (int b = 0; b < n; b++) {
                if (dist[b] >= 2) {
                    cand[2 * nc] = a;
                    cand[2 * nc + 1] = b;
                    nc++;
                } else if (dist[b] < 0) {
                    unreachable++;
                }
            }
        }
        for (int i = 0; i < pings && nc; i++) {
            pc_sim_run_until(s, t + (uint64_t)((2 * i + 1) * STEP_MS / (2 * pings)));
            size_t c = (size_t)pc_sim_rng_below(g, nc);
            pcx_ping(s, &ps, cand[2 * c], cand[2 * c + 1], st);
        }
        pc_sim_run_until(s, t + STEP_MS);
    }
    pc_sim_run_until(s, pc_sim_now(s) + 5000);
    double sum = 0, lo = 1;
    size_t counted = 0;
    for (int st = 0; st < steps; st++) {
        size_t sent;
        ratio[st] = pcx_ratio(&ps, st, &sent);
        if (!sent)
            continue;
        sorted[counted++] = ratio[st];
        sum += ratio[st];
        if (ratio[st] < lo)
            lo = ratio[st];
    }
    double wall = pcx_wall() - w0;
    double mean = counted ? sum / (double)counted : 0;
    pcx_put(r, "nodes", n, "", false);
    pcx_put(r, "links_per_step", k, "", false);
    pcx_put(r, "steps", steps, "", false);
    pcx_put(r, "pings_per_step", pings, "", false);
    pcx_put(r, "median_arrival", pcx_median(sorted, counted), "ratio", false);
    pcx_put(r, "mean_arrival", mean, "ratio", false);
    pcx_put(r, "min_arrival", counted ? lo : 0, "ratio", false);
    pcx_put(r, "overall_arrival", pcx_ratio(&ps, -1, NULL), "ratio", false);
    pcx_put(r, "link_changes_per_step", steps ? (double)changes / steps : 0, "", false);
    pcx_put(r, "disconnected_pairs_per_step", steps ? (double)unreachable / steps : 0, "", false);
    pcx_put_drops(s, r);
    pcx_put(r, "wall_s", wall, "s", true);
    r->series_name = "arrival_per_step";
    r->series = ratio;
    r->n_series = (size_t)steps;
    free(x), free(y), free(pairs), free(want), free(dist), free(cand), free(sorted);
    pcx_pings_free(&ps);
    pc_sim_free(s);
    return PC_OK;
}
