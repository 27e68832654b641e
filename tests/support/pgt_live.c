/* pgt_live: see pgt_live.h. */
#include "support/pgt_live.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_canonical_json.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_store_federation.h"

json_t *pgt_live_load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, PG_SOURCE_DIR "/tests/fixtures/synapse-live/%s", name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    cr_assert_not_null(j, "%s: %s", path, je.text);
    return j;
}

void pgt_live_cache_keys(hs_store *st, const char *file, const char *server)
{
    json_t *doc = pgt_live_load(file);
    hs_keys_doc kd;
    hs_err err = {{0}};
    cr_assert_eq(hs_keys_validate(doc, server, 0, &kd, &err), 0, "%s: %s", file, err.msg);
    const char *ids[HS_KEYS_MAX_KEYS];
    hs_store_fed_key rows[HS_KEYS_MAX_KEYS];
    for (size_t i = 0; i < kd.n_keys; i++) {
        ids[i] = kd.keys[i].key_id;
        memset(&rows[i], 0, sizeof rows[i]);
        snprintf(rows[i].key_b64, sizeof rows[i].key_b64, "%s", kd.keys[i].key_b64);
        rows[i].valid_until_ts = kd.valid_until_ts;
        rows[i].expired_ts = kd.keys[i].expired_ts;
    }
    char *text = hs_cjson_encode(doc, 0, NULL, &err);
    cr_assert_not_null(text);
    cr_assert_eq(hs_store_fed_keys_put(st, kd.server_name, text, kd.valid_until_ts, ids, rows, kd.n_keys,
                                       kd.valid_until_ts),
                 0);
    free(text);
    json_decref(doc);
}
