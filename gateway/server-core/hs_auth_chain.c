/* hs_auth_chain: the auth chain of a set of events, as a sorted list of IDs. A thin public
 * face over the interned graph (hs_stateres_graph.c) that state resolution walks too. */
#include "server-core/hs_auth_chain.h"

#include <stdlib.h>
#include <string.h>

#include "server-core/hs_stateres_internal.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *hs_auth_chain_ids(const hs_room_version *rv, const hs_event_lookup *lookup, const char *const *ids,
                          size_t n, hs_err *err)
{
    hs_sr_graph g;
    hs_sr_graph_init(&g, rv, lookup);
    json_t *result = NULL;
    int *starts = malloc((n ? n : 1) * sizeof *starts), *walked = NULL;
    const char **names = NULL;
    long len = -1;
    if (!starts) {
        hs_err_set(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if ((starts[i] = hs_sr_node_of(&g, ids[i], err)) < 0) goto done;
    /* Walk from the starts' auth events, so a start is only reported as someone's ancestor. */
    size_t n_first = 0;
    for (size_t i = 0; i < n; i++) {
        if (hs_sr_load_auth(&g, starts[i], err) != 0) goto done;
        n_first += (size_t)g.nodes[starts[i]].n_auth;
    }
    int *first = malloc((n_first ? n_first : 1) * sizeof *first);
    if (!first) {
        hs_err_set(err, "out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < g.nodes[starts[i]].n_auth; j++) first[k++] = g.nodes[starts[i]].auth[j];
    len = hs_sr_walk(&g, first, k, &walked, err);
    free(first);
    if (len < 0) goto done;
    names = malloc(((size_t)len + 1) * sizeof *names);
    result = json_array();
    if (!names || !result) {
        json_decref(result);
        result = NULL;
        hs_err_set(err, "out of memory");
        goto done;
    }
    for (long i = 0; i < len; i++) names[i] = g.nodes[walked[i]].id;
    qsort(names, (size_t)len, sizeof *names, cmp_str);
    for (long i = 0; i < len; i++) {
        if (json_array_append_new(result, json_string(names[i])) != 0) {
            json_decref(result);
            result = NULL;
            hs_err_set(err, "out of memory");
            break;
        }
    }
done:
    free(names);
    free(walked);
    free(starts);
    hs_sr_graph_free(&g);
    return result;
}
