/* pc_sim_check: graph and convergence analysis over a pc_sim (see pc_sim.h): hop
 * distances over up links, connected components, and the convergence predicate the
 * scenarios use (one root per component, SNEK descending = key-order predecessor).
 * Read-only with respect to the routers; allocates scratch space per call. */
#include "pinecone/pc_sim.h"

#include <stdlib.h>
#include <string.h>

/* Adjacency over up links, as CSR arrays (off has n+1 entries). */
typedef struct adj {
    int *off, *to;
} adj;

static bool adj_build(const pc_sim *s, adj *g)
{
    size_t n = pc_sim_node_count(s), m = pc_sim_link_count(s);
    g->off = calloc(n + 1, sizeof *g->off);
    g->to = malloc((2 * m + 1) * sizeof *g->to);
    if (!g->off || !g->to) {
        free(g->off);
        free(g->to);
        return false;
    }
    for (size_t l = 0; l < m; l++) {
        int a, b;
        bool up;
        pc_sim_link_info(s, (int)l, &a, &b, &up);
        if (up) {
            g->off[a + 1]++;
            g->off[b + 1]++;
        }
    }
    for (size_t i = 0; i < n; i++)
        g->off[i + 1] += g->off[i];
    int *fill = malloc((n + 1) * sizeof *fill);
    if (!fill) {
        free(g->off);
        free(g->to);
        return false;
    }
    memcpy(fill, g->off, (n + 1) * sizeof *fill);
    for (size_t l = 0; l < m; l++) {
        int a, b;
        bool up;
        pc_sim_link_info(s, (int)l, &a, &b, &up);
        if (up) {
            g->to[fill[a]++] = b;
            g->to[fill[b]++] = a;
        }
    }
    free(fill);
    return true;
}

static void adj_free(adj *g)
{
    free(g->off);
    free(g->to);
}

static void bfs(const adj *g, size_t n, int src, int *dist, int *queue)
{
    for (size_t i = 0; i < n; i++)
        dist[i] = -1;
    size_t head = 0, tail = 0;
    dist[src] = 0;
    queue[tail++] = src;
    while (head < tail) {
        int u = queue[head++];
        for (int k = g->off[u]; k < g->off[u + 1]; k++)
            if (dist[g->to[k]] < 0) {
                dist[g->to[k]] = dist[u] + 1;
                queue[tail++] = g->to[k];
            }
    }
}

void pc_sim_hops_from(const pc_sim *s, int src, int *dist)
{
    size_t n = pc_sim_node_count(s);
    adj g;
    int *queue = malloc((n + 1) * sizeof *queue);
    if (!queue || !adj_build(s, &g)) {
        free(queue);
        for (size_t i = 0; i < n; i++)
            dist[i] = -1;
        return;
    }
    bfs(&g, n, src, dist, queue);
    adj_free(&g);
    free(queue);
}

typedef struct keyed {
    const uint8_t *key;
    int node;
} keyed;

static int by_key(const void *x, const void *y)
{
    return pc_key_cmp(((const keyed *)x)->key, ((const keyed *)y)->key);
}

bool pc_sim_check_convergence(pc_sim *s, const bool *absent, pc_sim_convergence *out)
{
    size_t n = pc_sim_node_count(s);
    pc_sim_convergence c = {0};
    adj g;
    int *comp = malloc((n + 1) * sizeof *comp), *members = malloc((n + 1) * sizeof *members);
    keyed *order = malloc((n + 1) * sizeof *order);
    if (!comp || !members || !order || !adj_build(s, &g)) {
        free(comp);
        free(members);
        free(order);
        c.wrong_root = n;
        if (out)
            *out = c;
        return false;
    }
    for (size_t i = 0; i < n; i++)
        comp[i] = -1;
    for (size_t start = 0; start < n; start++) {
        if (comp[start] >= 0 || (absent && absent[start]))
            continue;
        /* Collect the component by BFS (members doubles as the queue). */
        size_t cnt = 0, head = 0;
        comp[start] = (int)c.components;
        members[cnt++] = (int)start;
        while (head < cnt) {
            int u = members[head++];
            for (int k = g.off[u]; k < g.off[u + 1]; k++) {
                int v = g.to[k];
                if (comp[v] < 0 && !(absent && absent[v])) {
                    comp[v] = (int)c.components;
                    members[cnt++] = v;
                }
            }
        }
        c.components++;
        for (size_t i = 0; i < cnt; i++)
            order[i] = (keyed){pc_sim_key(s, members[i]), members[i]};
        qsort(order, cnt, sizeof *order, by_key);
        const uint8_t *top = order[cnt - 1].key;
        for (size_t i = 0; i < cnt; i++) {
            pc_router *r = pc_sim_router(s, order[i].node);
            uint8_t root[PC_KEY_LEN];
            uint64_t seq;
            pc_router_root(r, root, &seq);
            if (memcmp(root, top, PC_KEY_LEN) != 0)
                c.wrong_root++;
            pc_path_status d;
            bool has = pc_router_descending(r, &d);
            if (i == 0 ? has
                       : !has || memcmp(d.key, order[i - 1].key, PC_KEY_LEN) != 0)
                c.wrong_descending++;
        }
    }
    adj_free(&g);
    free(comp);
    free(members);
    free(order);
    if (out)
        *out = c;
    return c.wrong_root == 0 && c.wrong_descending == 0;
}
