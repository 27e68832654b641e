/* pc_sim_scenario: the scenario dispatcher and the helpers every scenario shares
 * (topologies, pings, reports, convergence loop). Topologies are built only from the
 * simulation's PRNG, so a seed fixes the whole run. */
#include "pinecone/pc_sim_scen_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const names[] = {"converge", "mobility", "churn", "blackhole", "sybil",
                                    "root-hijack", NULL};

const char *const *pc_sim_scenario_names(void) { return names; }

void pc_sim_params_default(pc_sim_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->topology = "random";
}

int pc_sim_scenario_run(const char *name, const pc_sim_params *p, pc_sim_report *out)
{
    memset(out, 0, sizeof *out);
    if (p->nodes < 0 || p->steps < 0 || p->pings < 0 || p->rate < 0 || p->attackers < 0 ||
        !(p->loss >= 0 && p->loss < 1))
        return PC_ERR_INVALID;
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            out->scenario = names[i];
    if (!out->scenario)
        return PC_ERR_INVALID;
    if (strcmp(name, "converge") == 0)
        return pcx_converge(p, out);
    if (strcmp(name, "mobility") == 0)
        return pcx_mobility(p, out);
    if (strcmp(name, "churn") == 0)
        return pcx_churn(p, out);
    return pcx_adversary(name, p, out);
}

double pc_sim_report_get(const pc_sim_report *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->m[i].name, name) == 0)
            return r->m[i].value;
    return NAN;
}

void pc_sim_report_free(pc_sim_report *r)
{
    free(r->series);
    r->series = NULL;
    r->n_series = 0;
}

void pcx_put(pc_sim_report *r, const char *name, double v, const char *unit, bool wall)
{
    if (r->n < PC_SIM_MAX_METRICS)
        r->m[r->n++] = (pc_sim_metric){name, v, unit, wall};
}

void pcx_put_drops(pc_sim *s, pc_sim_report *r)
{
    pc_router_counters sum = {0}, k;
    for (size_t i = 0; i < pc_sim_node_count(s); i++) {
        pc_router_get_counters(pc_sim_router(s, (int)i), &k);
        sum.dropped_hop_limit += k.dropped_hop_limit;
        sum.dropped_no_route += k.dropped_no_route;
        sum.dropped_watermark += k.dropped_watermark;
        sum.dropped_queue_full += k.dropped_queue_full;
        sum.dropped_bootstrap_watermark += k.dropped_bootstrap_watermark;
    }
    pcx_put(r, "dropped_hop_limit", (double)sum.dropped_hop_limit, "frames", false);
    pcx_put(r, "dropped_no_route", (double)sum.dropped_no_route, "frames", false);
    pcx_put(r, "dropped_watermark", (double)sum.dropped_watermark, "frames", false);
    pcx_put(r, "dropped_queue_full", (double)sum.dropped_queue_full, "frames", false);
    pcx_put(r, "bootstraps_not_forwarded", (double)sum.dropped_bootstrap_watermark, "frames",
            false);
}

double pcx_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

double pcx_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t pcx_run_to_convergence(pc_sim *s, const bool *absent, uint64_t step, uint64_t limit,
                                double wall_deadline, pc_sim_watch_stats *stats)
{
    for (;;) {
        uint64_t next = pc_sim_now(s) + step;
        if (pc_sim_run_until_converged(s, absent, next < limit ? next : limit, stats))
            return pc_sim_now(s);
        if (pc_sim_now(s) >= limit || (wall_deadline > 0 && pcx_wall() >= wall_deadline))
            return 0;
    }
}

pc_sim *pcx_new_sim(const pc_sim_params *p)
{
    pc_sim *s;
    if (pc_sim_new(&s, p->seed, PC_SIM_T0) != PC_OK)
        return NULL;
    pc_router_config cfg;
    pc_router_config_default(&cfg);
    cfg.hop_limiting = !p->no_hop_limit;
    pc_sim_set_router_config(s, &cfg);
    return s;
}

/* ---- topologies -------------------------------------------------------------------- */

static int link(pc_sim *s, int a, int b, uint64_t latency, double loss)
{
    if (pc_sim_find_link(s, a, b) >= 0)
        return PC_OK;
    int rc = pc_sim_connect(s, a, 0, b, 0, latency, loss);
    return rc < 0 ? rc : PC_OK;
}

int pcx_build_topology(pc_sim *s, int n, const char *topology, uint64_t latency, double loss)
{
    bool line = strcmp(topology, "line") == 0, star = strcmp(topology, "star") == 0;
    bool grid = strcmp(topology, "grid") == 0, rnd = strcmp(topology, "random") == 0;
    if (n < 1 || !(line || star || grid || rnd) || (star && n > PC_MAX_PORT + 1))
        return PC_ERR_INVALID;
    int base = (int)pc_sim_node_count(s);
    for (int i = 0; i < n; i++) {
        int rc = pc_sim_add_node(s, NULL, NULL);
        if (rc < 0)
            return rc;
    }
    pc_sim_rng *g = pc_sim_rng_of(s);
    int rc = PC_OK;
    if (line || star) {
        for (int i = 1; i < n && rc == PC_OK; i++)
            rc = link(s, base + (line ? i - 1 : 0), base + i, latency, loss);
    } else if (grid) {
        int side = (int)ceil(sqrt((double)n));
        for (int i = 0; i < n && rc == PC_OK; i++) {
            if ((i + 1) % side != 0 && i + 1 < n)
                rc = link(s, base + i, base + i + 1, latency, loss);
            if (rc == PC_OK && i + side < n)
                rc = link(s, base + i, base + i + side, latency, loss);
        }
    } else {
        /* A random recursive tree (connected, depth ~ ln n) plus n/2 random chords, so
         * there are alternative paths: average degree about 3. */
        for (int i = 1; i < n && rc == PC_OK; i++)
            rc = link(s, base + (int)pc_sim_rng_below(g, (uint64_t)i), base + i, latency, loss);
        for (int k = 0; n > 2 && k < n / 2 && rc == PC_OK; k++) {
            int a = (int)pc_sim_rng_below(g, (uint64_t)n), b = (int)pc_sim_rng_below(g, (uint64_t)n);
            if (a != b)
                rc = link(s, base + a, base + b, latency, loss);
        }
    }
    return rc;
}

/* ---- pings ------------------------------------------------------------------------- */

static const uint8_t ping_magic[8] = {'p', 'c', 's', 'i', 'm', 'p', 'n', 'g'};

static void on_ping(pc_sim *s, int node, const uint8_t src[PC_KEY_LEN], const uint8_t *p,
                    size_t len, void *user)
{
    (void)s;
    (void)src;
    pcx_pings *ps = user;
    uint64_t id;
    if (len != 16 || memcmp(p, ping_magic, 8) != 0)
        return;
    memcpy(&id, p + 8, 8);
    if (id < ps->n && ps->dst[id] == node)
        ps->arrived[id] = true;
}

void pcx_pings_attach(pc_sim *s, pcx_pings *ps) { pc_sim_on_deliver(s, on_ping, ps); }

void pcx_ping(pc_sim *s, pcx_pings *ps, int from, int to, int group)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 256;
        int *d = realloc(ps->dst, cap * sizeof *d);
        if (!d)
            return;
        ps->dst = d;
        int *gr = realloc(ps->group, cap * sizeof *gr);
        if (!gr)
            return;
        ps->group = gr;
        bool *a = realloc(ps->arrived, cap * sizeof *a);
        if (!a)
            return;
        ps->arrived = a;
        ps->cap = cap;
    }
    uint64_t id = ps->n++;
    ps->dst[id] = to;
    ps->group[id] = group;
    ps->arrived[id] = false;
    uint8_t payload[16];
    memcpy(payload, ping_magic, 8);
    memcpy(payload + 8, &id, 8);
    pc_sim_send(s, from, to, payload, sizeof payload);
}

double pcx_ratio(const pcx_pings *ps, int group, size_t *sent)
{
    size_t n = 0, ok = 0;
    for (size_t i = 0; i < ps->n; i++)
        if (group < 0 || ps->group[i] == group) {
            n++;
            ok += ps->arrived[i];
        }
    if (sent)
        *sent = n;
    return n ? (double)ok / (double)n : 0;
}

double pcx_ratio_within(const pcx_pings *ps, int max_group, size_t *sent)
{
    size_t n = 0, ok = 0;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->group[i] >= 0 && ps->group[i] <= max_group) {
            n++;
            ok += ps->arrived[i];
        }
    if (sent)
        *sent = n;
    return n ? (double)ok / (double)n : 0;
}

void pcx_pings_free(pcx_pings *ps)
{
    free(ps->dst);
    free(ps->group);
    free(ps->arrived);
    memset(ps, 0, sizeof *ps);
}
