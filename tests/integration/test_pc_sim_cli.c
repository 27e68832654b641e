/* `pinegate sim` as a user runs it: a real process, its table, its JSON, and the usage
 * errors. Small, fast sizes (seconds under the sanitizers). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"

static int sim(const char *args, char **out)
{
    int rc = pgt_pinegate_stdin(args, "", out);
    cr_assert(rc >= 0, "pinegate did not exit normally: %s", args);
    return rc;
}

Test(pc_sim_cli, converge_prints_a_table)
{
    char *out;
    int rc = sim("sim converge --nodes 12 --topology star --seed 5", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "pinegate sim converge (seed 5)"), "%s", out);
    cr_assert_not_null(strstr(out, "converged"), "%s", out);
    cr_assert_not_null(strstr(out, "ping_arrival"), "%s", out);
    free(out);
}

Test(pc_sim_cli, json_is_valid_and_complete)
{
    char *out;
    int rc = sim("sim converge --nodes 12 --topology grid --seed 3 --json", &out);
    cr_assert_eq(rc, 0, "%s", out);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    cr_assert_not_null(j, "not JSON (%s): %s", err.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "scenario")), "converge");
    cr_assert_eq(json_integer_value(json_object_get(j, "seed")), 3);
    json_t *f = json_object_get(j, "figures");
    cr_assert_eq(json_real_value(json_object_get(f, "converged")), 1.0);
    cr_assert_eq(json_real_value(json_object_get(f, "nodes")), 12.0);
    cr_assert(json_is_array(json_object_get(j, "wall_figures")));
    json_decref(j);
    free(out);
}

Test(pc_sim_cli, same_seed_prints_the_same_json_figures)
{
    char *a, *b;
    cr_assert_eq(sim("sim blackhole --nodes 15 --pings 50 --seed 9 --json", &a), 0, "%s", a);
    cr_assert_eq(sim("sim blackhole --nodes 15 --pings 50 --seed 9 --json", &b), 0, "%s", b);
    json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
    cr_assert(ja && jb);
    json_t *fa = json_object_get(ja, "figures"), *fb = json_object_get(jb, "figures");
    json_object_del(fa, "wall_s");
    json_object_del(fb, "wall_s");
    cr_assert(json_equal(fa, fb), "%s\n---\n%s", a, b);
    json_decref(ja);
    json_decref(jb);
    free(a);
    free(b);
}

Test(pc_sim_cli, usage_errors_exit_2)
{
    char *out;
    cr_assert_eq(sim("sim", &out), 2);
    free(out);
    cr_assert_eq(sim("sim teleport", &out), 2);
    cr_assert_not_null(strstr(out, "unknown scenario"), "%s", out);
    free(out);
    cr_assert_eq(sim("sim converge --nodes", &out), 2);
    free(out);
    cr_assert_eq(sim("sim converge --topology ring", &out), 2);
    free(out);
    cr_assert_eq(sim("sim --help", &out), 0);
    cr_assert_not_null(strstr(out, "mobility"), "%s", out);
    free(out);
}
