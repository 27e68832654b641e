/* pc_cmd_sim: `pinegate sim SCENARIO [options]`, the command-line front of the
 * deterministic Pinecone simulator (pc_sim_scenario.h). Parses options, runs one
 * scenario and prints its figures as a table or, with --json, one JSON object:
 * {"scenario", "seed", "params", "figures": {name: value}, "wall_figures": [names],
 * "series": {name: [..]}}. Exit status 0 on success, 1 when the run fails, 2 on a usage
 * error. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_sim_scenario.h"

int pc_cmd_sim(int argc, char **argv);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pinegate sim SCENARIO [options] [--seed S] [--json]\n"
            "  Runs Pinecone router cores in one process with virtual time and links.\n"
            "  The same seed always gives the same figures (except *_wall_s / wall_s).\n\n"
            "scenarios:\n"
            "  converge     time to one root and full SNEK convergence, then ping ratio\n"
            "               (--nodes 50 --topology line|star|grid|random --max-time 600)\n"
            "  mobility     50 moving nodes, links = 150 closest pairs, 200 pings per 10 s\n"
            "               step; per-step arrival and median (--steps 360 --pings 200)\n"
            "  churn        nodes leave and rejoin (--nodes 50 --rate 6 per minute\n"
            "               --duration 300 s); arrival and reconvergence times\n"
            "  blackhole    --attackers nodes (10%%) drop the traffic they should forward\n"
            "  sybil        one attacker with --attackers identities (20) at one point\n"
            "  root-hijack  an attacker with the highest key becomes root and drops traffic\n\n"
            "options:\n"
            "  --nodes N  --topology T  --latency MS (10)  --loss P (0)  --steps N\n"
            "  --pings N  --rate R  --duration S  --attackers K  --max-time S\n"
            "  --no-hop-limit (routers without Dendrite's traffic hop limit of 10)\n"
            "  --seed S (1)  --json\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, int *out, int max)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v > (uint64_t)max)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static void print_value(double v, const char *unit)
{
    if (v == floor(v) && fabs(v) < 1e15)
        printf("%-14.0f", v);
    else
        printf("%-14.4f", v);
    printf("%s\n", unit);
}

static void print_table(const pc_sim_report *r, uint64_t seed)
{
    printf("pinegate sim %s (seed %llu)\n\n", r->scenario, (unsigned long long)seed);
    printf("  %-30s %-14s%s\n", "figure", "value", "unit");
    for (size_t i = 0; i < r->n; i++) {
        printf("  %-30s ", r->m[i].name);
        print_value(r->m[i].value, r->m[i].wall ? "s (wall clock)" : r->m[i].unit);
    }
    if (r->series && r->n_series) {
        printf("\n  %s (%zu values):\n   ", r->series_name, r->n_series);
        for (size_t i = 0; i < r->n_series; i++)
            printf(" %.3f%s", r->series[i], (i + 1) % 12 == 0 && i + 1 < r->n_series ? "\n   " : "");
        printf("\n");
    }
}

static int print_json(const pc_sim_report *r, const pc_sim_params *p)
{
    json_t *o = json_object(), *figs = json_object(), *wall = json_array(), *params = json_object();
    json_object_set_new(o, "scenario", json_string(r->scenario));
    json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
    json_object_set_new(params, "nodes", json_integer(p->nodes));
    json_object_set_new(params, "topology", json_string(p->topology));
    json_object_set_new(params, "latency_ms", json_integer((json_int_t)p->latency));
    json_object_set_new(params, "loss", json_real(p->loss));
    json_object_set_new(params, "steps", json_integer(p->steps));
    json_object_set_new(params, "pings", json_integer(p->pings));
    json_object_set_new(params, "rate", json_real(p->rate));
    json_object_set_new(params, "duration_s", json_integer((json_int_t)p->duration));
    json_object_set_new(params, "attackers", json_integer(p->attackers));
    json_object_set_new(params, "hop_limit", json_boolean(!p->no_hop_limit));
    json_object_set_new(o, "params", params);
    for (size_t i = 0; i < r->n; i++) {
        json_object_set_new(figs, r->m[i].name, json_real(r->m[i].value));
        if (r->m[i].wall)
            json_array_append_new(wall, json_string(r->m[i].name));
    }
    json_object_set_new(o, "figures", figs);
    json_object_set_new(o, "wall_figures", wall);
    if (r->series) {
        json_t *ser = json_object(), *arr = json_array();
        for (size_t i = 0; i < r->n_series; i++)
            json_array_append_new(arr, json_real(r->series[i]));
        json_object_set_new(ser, r->series_name, arr);
        json_object_set_new(o, "series", ser);
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!text)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

int pc_cmd_sim(int argc, char **argv)
{
    pc_sim_params p;
    pc_sim_params_default(&p);
    const char *scenario = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, takes = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
            takes = false;
        } else if (strcmp(a, "--no-hop-limit") == 0) {
            p.no_hop_limit = true;
            takes = false;
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_u64(v, &p.seed);
        } else if (strcmp(a, "--nodes") == 0) {
            ok = parse_int(v, &p.nodes, 1000000);
        } else if (strcmp(a, "--topology") == 0) {
            ok = v != NULL;
            p.topology = v;
        } else if (strcmp(a, "--latency") == 0) {
            ok = parse_u64(v, &p.latency) && p.latency >= 1 && p.latency <= 60000;
        } else if (strcmp(a, "--loss") == 0) {
            ok = parse_double(v, &p.loss) && p.loss < 1;
        } else if (strcmp(a, "--steps") == 0) {
            ok = parse_int(v, &p.steps, 100000);
        } else if (strcmp(a, "--pings") == 0) {
            ok = parse_int(v, &p.pings, 1000000);
        } else if (strcmp(a, "--rate") == 0) {
            ok = parse_double(v, &p.rate) && p.rate <= 6000;
        } else if (strcmp(a, "--duration") == 0) {
            ok = parse_u64(v, &p.duration) && p.duration <= 86400;
        } else if (strcmp(a, "--attackers") == 0) {
            ok = parse_int(v, &p.attackers, 100000);
        } else if (strcmp(a, "--max-time") == 0) {
            ok = parse_u64(v, &p.max_time) && p.max_time <= 86400;
        } else if (a[0] != '-' && !scenario) {
            scenario = a;
            takes = false;
        } else {
            fprintf(stderr, "pinegate sim: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "pinegate sim: bad or missing value for %s\n", a);
            return 2;
        }
        if (takes)
            i++;
    }
    if (!scenario) {
        usage(stderr);
        return 2;
    }
    pc_sim_report r;
    int rc = pc_sim_scenario_run(scenario, &p, &r);
    if (rc == PC_ERR_INVALID) {
        fprintf(stderr, "pinegate sim: unknown scenario '%s' or parameter out of range "
                        "(topology line|star|grid|random; star has at most 254 nodes)\n", scenario);
        return 2;
    }
    if (rc != PC_OK) {
        fprintf(stderr, "pinegate sim: %s\n", pc_strerror(rc));
        return 1;
    }
    int status = json ? print_json(&r, &p) : (print_table(&r, p.seed), 0);
    pc_sim_report_free(&r);
    return status;
}
