/* pc_sim_scenario: the built-in simulator scenarios behind `pinegate sim` (converge,
 * mobility, churn, blackhole, sybil, root-hijack). Each builds a pc_sim from a seed,
 * runs it in virtual time and returns a report: named figures plus an optional per-step
 * series. The same parameters and seed give identical figures, except those marked
 * `wall` (host CPU time, measured with the monotonic clock, for information only).
 * Nothing here prints; pc_cmd_sim.c formats reports. */
#ifndef PC_SIM_SCENARIO_H
#define PC_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pc_sim_params {
    uint64_t seed;
    int nodes;             /* honest nodes (0: the scenario's default) */
    const char *topology;  /* converge/churn/adversaries: line|star|grid|random */
    uint64_t latency;      /* one-way link latency, ms (default 10) */
    double loss;           /* per-frame loss probability (default 0) */
    int steps;             /* mobility: steps of 10 s (0: 360) */
    int pings;             /* pings per measurement (0: 200) */
    double rate;           /* churn: departures per minute (0: 6) */
    uint64_t duration;     /* churn: seconds of churn (0: 300) */
    int attackers;         /* adversaries: blackhole nodes / sybil identities (0: default) */
    uint64_t max_time;     /* converge: virtual seconds allowed (0: 600) */
    double max_wall_s;     /* converge: wall seconds allowed (0: no bound); a run stopped
                            * by it reports converged = 0 and is not reproducible */
    bool no_hop_limit;     /* routers without traffic hop limiting (Dendrite has it on) */
} pc_sim_params;

typedef struct pc_sim_metric {
    const char *name;      /* static string, snake_case */
    double value;
    const char *unit;      /* static string: "", "s", "ratio", ... */
    bool wall;             /* depends on the host, not only on the seed */
} pc_sim_metric;

#define PC_SIM_MAX_METRICS 32

typedef struct pc_sim_report {
    const char *scenario;
    pc_sim_metric m[PC_SIM_MAX_METRICS];
    size_t n;
    const char *series_name;   /* NULL when there is no series */
    double *series;            /* owned by the report */
    size_t n_series;
} pc_sim_report;

/* Zero/defaults: seed 1, the rest 0 (meaning each scenario's default), random topology. */
void pc_sim_params_default(pc_sim_params *p);

/* The scenario names, NULL-terminated (static). */
const char *const *pc_sim_scenario_names(void);

/* Runs scenario `name` with p into *out (free with pc_sim_report_free). Returns PC_OK,
 * PC_ERR_INVALID for an unknown scenario or topology or an out-of-range parameter
 * (e.g. star over PC_MAX_PORT + 1 nodes), or PC_ERR_NOMEM. */
int pc_sim_scenario_run(const char *name, const pc_sim_params *p, pc_sim_report *out);

/* The value of the named figure, or NAN when the report has none. */
double pc_sim_report_get(const pc_sim_report *r, const char *name);

void pc_sim_report_free(pc_sim_report *r);

#endif
