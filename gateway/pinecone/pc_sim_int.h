/* pc_sim_int.h: the convergence predicate in pieces, shared by pc_sim_check.c (the full
 * check) and pc_sim.c (the incremental watch behind pc_sim_run_until_converged). Not
 * public API. The predicate is per node once the expected keys are known, and an
 * event changes the state of exactly one router, which is what lets the watch look at
 * one node per event instead of all of them. */
#ifndef PC_SIM_INT_H
#define PC_SIM_INT_H

#include "pinecone/pc_sim.h"

#define PCSIM_WRONG_ROOT 1u
#define PCSIM_WRONG_DESC 2u

/* Fills root[i] with the key node i's root must be (its component's highest key, over
 * up links and present nodes) and pred[i] with the key its SNEK descending node must be
 * (the next lower key of its component; NULL for the lowest). Both are NULL for absent
 * nodes. The keys point into the routers (valid while they live). root and pred hold
 * pc_sim_node_count(s) entries. Returns the number of components, -1 when out of memory. */
long pcsim_expectations(pc_sim *s, const bool *absent, const uint8_t **root, const uint8_t **pred);

/* Which parts of the predicate node fails (PCSIM_WRONG_* bits; 0 = as expected). */
unsigned pcsim_node_wrong(pc_sim *s, int node, const uint8_t *root, const uint8_t *pred);

#endif
