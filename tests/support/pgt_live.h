/* pgt_live: the recorded Synapse 1.160 exchanges in tests/fixtures/synapse-live/ (see
 * its README) for tests that run our checkers over them. Test code only: failures are
 * Criterion assertions. */
#ifndef PGT_LIVE_H
#define PGT_LIVE_H

#include <jansson.h>

#include "server-core/hs_store.h"

/* The fixture file `name` of tests/fixtures/synapse-live/, parsed (new reference; the
 * caller decrefs). Fails the test when it is missing or not JSON. */
json_t *pgt_live_load(const char *name);

/* Validates the recorded key document in fixture `file` as `server`'s (its
 * valid_until_ts is not enforced: it was recorded days ago) and puts its keys into the
 * key cache of `st`, so signatures by that server verify offline. */
void pgt_live_cache_keys(hs_store *st, const char *file, const char *server);

#endif
