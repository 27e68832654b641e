/* pc_sim_scen_int.h: helpers shared by the scenario files (pc_sim_scen*.c): topology
 * builders, ping accounting, report filling. Not public API. */
#ifndef PC_SIM_SCEN_INT_H
#define PC_SIM_SCEN_INT_H

#include "pinecone/pc_sim.h"
#include "pinecone/pc_sim_scenario.h"

/* A new simulation for the scenario parameters (seed, router config at PC_SIM_T0).
 * Returns NULL when out of memory. */
pc_sim *pcx_new_sim(const pc_sim_params *p);

/* Adds n nodes with PRNG seeds and links them as `topology` describes, each link with
 * the given latency and loss. Returns PC_OK or PC_ERR_INVALID / PC_ERR_NOMEM. */
int pcx_build_topology(pc_sim *s, int n, const char *topology, uint64_t latency, double loss);

/* Pings: a payload carrying an id; delivery at the intended node marks it arrived. */
typedef struct pcx_pings {
    int *dst;
    int *group;          /* caller's grouping, e.g. the mobility step */
    bool *arrived;
    size_t n, cap;
} pcx_pings;

/* Installs the delivery observer for ps on s. */
void pcx_pings_attach(pc_sim *s, pcx_pings *ps);
/* Sends one ping now from -> to; a send error counts as a lost ping. */
void pcx_ping(pc_sim *s, pcx_pings *ps, int from, int to, int group);
/* Arrived / sent over pings of `group` (-1: all). 0 when none were sent. */
double pcx_ratio(const pcx_pings *ps, int group, size_t *sent);
/* The same over pings whose group is in [0, max_group]. */
double pcx_ratio_within(const pcx_pings *ps, int max_group, size_t *sent);
void pcx_pings_free(pcx_pings *ps);

/* Appends a figure to the report (silently ignored beyond PC_SIM_MAX_METRICS). */
void pcx_put(pc_sim_report *r, const char *name, double v, const char *unit, bool wall);

/* Appends the routers' drop counters summed over all nodes, to explain lost pings:
 * traffic dropped by the hop limit, for want of a route or by the watermark rule,
 * frames of any type dropped at a full queue, and (apart, because they are the normal
 * end of many bootstrap paths, not lost traffic) bootstraps not forwarded. */
void pcx_put_drops(pc_sim *s, pc_sim_report *r);

/* Seconds of the monotonic clock, for the `wall` figures only. */
double pcx_wall(void);

/* Median of v[0..n) (sorts v in place); 0 when n == 0. */
double pcx_median(double *v, size_t n);

/* Runs the simulation from now until converged or `limit` (absolute virtual ms), or
 * until the monotonic clock passes wall_deadline (0: no bound), which is looked at every
 * `step` virtual ms. Returns the first virtual instant at which the network was
 * converged (pc_sim_run_until_converged: exact to the millisecond), or 0 if not reached.
 * stats (may be NULL) as for pc_sim_run_until_converged. */
uint64_t pcx_run_to_convergence(pc_sim *s, const bool *absent, uint64_t step, uint64_t limit,
                                double wall_deadline, pc_sim_watch_stats *stats);

int pcx_converge(const pc_sim_params *p, pc_sim_report *r);
int pcx_mobility(const pc_sim_params *p, pc_sim_report *r);
int pcx_churn(const pc_sim_params *p, pc_sim_report *r);
int pcx_adversary(const char *kind, const pc_sim_params *p, pc_sim_report *r);

#endif
