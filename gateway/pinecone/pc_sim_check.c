/* pc_sim_check: graph and convergence analysis over a pc_sim (see pc_sim.h): hop
 * distances over up links, connected components, and the convergence predicate the
 * scenarios use (one root per component, SNEK descending = key-order predecessor).
 * Read-only with respect to the routers; allocates scratch space per call. */
#include "pinecone/pc_sim.h"
#include "pinecone/pc_sim_int.h"

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

long pcsim_expectations(pc_sim *s, const bool *absent, const uint8_t **root, const uint8_t **pred)
{
    size_t n = pc_sim_node_count(s);
    adj g;
    int *comp = malloc((n + 1) * sizeof *comp), *members = malloc((n + 1) * sizeof *members);
    keyed *order = malloc((n + 1) * sizeof *order);
    if (!comp || !members || !order || !adj_build(s, &g)) {
        free(comp);
        free(members);
        free(order);
        return -1;
    }
    long components = 0;
    for (size_t i = 0; i < n; i++) {
        comp[i] = -1;
        root[i] = pred[i] = NULL;
    }
    for (size_t start = 0; start < n; start++) {
        if (comp[start] >= 0 || (absent && absent[start]))
            continue;
        /* Collect the component by BFS (members doubles as the queue). */
        size_t cnt = 0, head = 0;
        comp[start] = (int)components;
        members[cnt++] = (int)start;
        while (head < cnt) {
            int u = members[head++];
            for (int k = g.off[u]; k < g.off[u + 1]; k++) {
                int v = g.to[k];
                if (comp[v] < 0 && !(absent && absent[v])) {
                    comp[v] = (int)components;
                    members[cnt++] = v;
                }
            }
        }
        components++;
        for (size_t i = 0; i < cnt; i++)
            order[i] = (keyed){pc_sim_key(s, members[i]), members[i]};
        qsort(order, cnt, sizeof *order, by_key);
        for (size_t i = 0; i < cnt; i++) {
            root[order[i].node] = order[cnt - 1].key;
            pred[order[i].node] = i ? order[i - 1].key : NULL;
        }
    }
    adj_free(&g);
    free(comp);
    free(members);
    free(order);
    return components;
}

unsigned pcsim_node_wrong(pc_sim *s, int node, const uint8_t *root, const uint8_t *pred)
{
    pc_router *r = pc_sim_router(s, node);
    uint8_t key[PC_KEY_LEN];
    uint64_t seq;
    pc_router_root(r, key, &seq);
    unsigned wrong = memcmp(key, root, PC_KEY_LEN) != 0 ? PCSIM_WRONG_ROOT : 0;
    pc_path_status d;
    bool has = pc_router_descending(r, &d);
    if (!pred ? has : !has || memcmp(d.key, pred, PC_KEY_LEN) != 0)
        wrong |= PCSIM_WRONG_DESC;
    return wrong;
}

bool pc_sim_check_convergence(pc_sim *s, const bool *absent, pc_sim_convergence *out)
{
    size_t n = pc_sim_node_count(s);
    pc_sim_convergence c = {0};
    const uint8_t **root = malloc((n + 1) * sizeof *root), **pred = malloc((n + 1) * sizeof *pred);
    long comps = root && pred ? pcsim_expectations(s, absent, root, pred) : -1;
    if (comps < 0) {
        c.wrong_root = n;
    } else {
        c.components = (size_t)comps;
        for (size_t i = 0; i < n; i++) {
            if (!root[i])
                continue;
            unsigned w = pcsim_node_wrong(s, (int)i, root[i], pred[i]);
            c.wrong_root += (w & PCSIM_WRONG_ROOT) != 0;
            c.wrong_descending += (w & PCSIM_WRONG_DESC) != 0;
        }
    }
    free(root);
    free(pred);
    if (out)
        *out = c;
    return comps >= 0 && c.wrong_root == 0 && c.wrong_descending == 0;
}
