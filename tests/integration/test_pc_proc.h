/* test_pc_proc: real `pinegate pinecone` processes for the Pinecone integration tests,
 * each started with a seed-derived secret key and a manhole on a free loopback port, and
 * read back through that manhole. Shared by test_pc_node, test_pc_ws_multicast and
 * test_pc_multicast6 so their node start-up cannot drift apart. Not thread-safe. */
#ifndef TEST_PC_PROC_H
#define TEST_PC_PROC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "support/pgt.h"

/* One node process; zero-initialised before its first start. */
typedef struct pct_node {
    pgt_proc p;
    int mport;    /* manhole port, kept across restarts */
    bool running;
} pct_node;

/* The 64-hex secret key made of `seed` repeated 32 times. */
void pct_seed_hex(int seed, char out[65]);

/* Starts `pinegate pinecone --secret-key <seed hex> --manhole 127.0.0.1:<mport> <extra...>`
 * (extra NULL-ended, at most 17 entries) and waits up to 15 s for its "manhole on" line.
 * The manhole port is picked on the first start and kept on restarts. Returns false on
 * failure; the output so far is in n->p.buf. */
bool pct_node_start(pct_node *n, int seed, char *const extra[]);

/* Kills the node (SIGKILL) if it runs. */
void pct_node_kill(pct_node *n);

/* GET /manhole of a node: the parsed JSON (caller json_decref's it) or NULL. */
json_t *pct_manhole(const pct_node *n);

#endif
