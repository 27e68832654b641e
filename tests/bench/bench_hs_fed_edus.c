/* bench_hs_fed_edus: what inbound m.presence costs and what pruning the device list
 * change stream costs, on a real server with a scratch store (release build).
 *   - checks: hs_fed_edu_presence_check on an EDU of HS_FED_EDU_PRESENCE_MAX entries
 *     (the most one EDU may carry);
 *   - apply: hs_fed_edu_apply of that EDU from another server whose users share no
 *     room here - the cost a peer can impose per EDU (a check and one EXISTS query per
 *     entry, nothing stored);
 *   - prune: 150,000 device_list_changes rows written in one transaction, then
 *     hs_store_e2ee_changes_prune (keep HS_STORE_E2EE_CHANGES_KEEP) called until it has
 *     nothing left to do, as the federation sender's scan would over its wakes. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_support.h"
#include "server-core/hs_fed_e2ee.h"
#include "server-core/hs_fed_edu.h"
#include "server-core/hs_store_e2ee.h"
#include "server-core/hs_store_internal.h"

#define ROWS 150000

static json_t *presence_edu(void)
{
    json_t *push = json_array();
    for (int i = 0; i < HS_FED_EDU_PRESENCE_MAX; i++) {
        char user[64];
        snprintf(user, sizeof user, "@user%d:other.test", i);
        json_array_append_new(push, json_pack("{s:s, s:s, s:i, s:b, s:s}", "user_id", user, "presence", "online",
                                              "last_active_ago", 1000 + i, "currently_active", 1, "status_msg",
                                              "working"));
    }
    return json_pack("{s:s, s:{s:o}}", "edu_type", "m.presence", "content", "push", push);
}

static int fill_rows(sqlite3 *db, void *arg)
{
    (void)arg;
    sqlite3_stmt *s = hs_store_prep(db, "INSERT INTO device_list_changes (user_id) VALUES (?1)");
    if (!s) return -1;
    for (int i = 0; i < ROWS; i++) {
        char user[64];
        snprintf(user, sizeof user, "@user%d:bench.test", i % 5000);
        sqlite3_bind_text(s, 1, user, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite3_finalize(s);
            return -1;
        }
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/bench_fed_edus_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    hs_server srv;
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;

    json_t *edu = presence_edu();
    static hs_fed_edu_presence v[HS_FED_EDU_PRESENCE_MAX];
    hs_err err;
    int n = 200;
    double t0 = bs_now_s();
    for (int i = 0; i < n; i++)
        if (hs_fed_edu_presence_check(json_object_get(edu, "content"), "other.test", v, HS_FED_EDU_PRESENCE_MAX,
                                      &err) != HS_FED_EDU_PRESENCE_MAX) {
            fprintf(stderr, "check: %s\n", err.msg);
            return 1;
        }
    double took = bs_now_s() - t0;
    printf("m.presence check: %d EDUs of %d entries in %.3f s = %.0f EDUs/s (%.2f M entries/s)\n", n,
           HS_FED_EDU_PRESENCE_MAX, took, n / took, n * (double)HS_FED_EDU_PRESENCE_MAX / took / 1e6);

    n = 20;
    t0 = bs_now_s();
    for (int i = 0; i < n; i++) {
        int resyncs = HS_FED_RESYNCS_PER_TXN;
        hs_fed_edu_apply(&srv, "other.test", edu, &resyncs);
    }
    took = bs_now_s() - t0;
    printf("m.presence apply (users sharing no room): %d EDUs of %d entries in %.3f s = %.1f ms per EDU\n", n,
           HS_FED_EDU_PRESENCE_MAX, took, took * 1000 / n);
    json_decref(edu);

    t0 = bs_now_s();
    if (hs_store_transact(srv.store, fill_rows, NULL) != 0) {
        fprintf(stderr, "fill failed\n");
        return 1;
    }
    printf("device_list_changes: %d rows written in %.3f s\n", ROWS, bs_now_s() - t0);
    int64_t max = 0;
    hs_store_e2ee_device_lists_max(srv.store, &max);
    long removed = 0, calls = 0, r;
    double worst = 0;
    t0 = bs_now_s();
    do {
        double c0 = bs_now_s();
        r = hs_store_e2ee_changes_prune(srv.store, max, HS_STORE_E2EE_CHANGES_KEEP);
        double c = bs_now_s() - c0;
        if (c > worst) worst = c;
        if (r < 0) {
            fprintf(stderr, "prune failed\n");
            return 1;
        }
        removed += r;
        calls++;
    } while (r > 0);
    took = bs_now_s() - t0;
    printf("prune: %ld rows removed in %ld calls, %.3f s (%.0f rows/s; slowest call %.1f ms, at most %d rows)\n",
           removed, calls, took, removed / took, worst * 1000, HS_STORE_E2EE_PRUNE_BATCH);
    return bs_server_close(&srv, dir);
}
