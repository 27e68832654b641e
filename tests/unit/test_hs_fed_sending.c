/* hs_fed_sending, the concurrent transaction sender, through a scripted concurrent
 * transport (hs_fed_transport's batch_* functions) whose peers answer at once
 * ("fast"), never until the test says so ("slow"), or with an error: a slow
 * destination holds only its own slot while another's transactions keep going; never
 * two transactions in flight to one destination; a failed transaction is backed off
 * and retried with the same ID and rows; no more than federation.max_concurrent_requests
 * in flight; announcements go to known destinations without a transaction of their
 * own in flight. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_fed_queue.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_fed_queue.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

/* ---- the scripted transport ---------------------------------------------------------- */

typedef struct fake_req {
    uint64_t tag;
    char dest[64];
    char target[128];
    size_t n_edus;
    bool finished, returned;
    long status; /* 0: no answer */
} fake_req;

static fake_req reqs[128];
static int n_reqs, in_flight, max_in_flight;

static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    (void)req;
    (void)reply;
    return hs_err_set(err, "the sender must use the batch");
}

static void *fake_open(void *ctx)
{
    return ctx;
}

static int fake_start(void *b, const hs_fed_out *req, uint64_t tag, hs_err *err)
{
    (void)b;
    if (n_reqs == 128) return hs_err_set(err, "full");
    fake_req *r = &reqs[n_reqs++];
    memset(r, 0, sizeof *r);
    r->tag = tag;
    snprintf(r->dest, sizeof r->dest, "%s", req->destination);
    snprintf(r->target, sizeof r->target, "%s", req->target);
    r->n_edus = json_array_size(json_object_get(req->content, "edus"));
    if (strncmp(req->destination, "fast", 4) == 0) {
        r->finished = true;
        r->status = 200;
    }
    if (++in_flight > max_in_flight) max_in_flight = in_flight;
    return 0;
}

static int fake_next(void *b, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err)
{
    (void)b;
    (void)timeout_ms;
    memset(reply, 0, sizeof *reply);
    err->msg[0] = '\0';
    for (int i = 0; i < n_reqs; i++) {
        fake_req *r = &reqs[i];
        if (!r->finished || r->returned) continue;
        r->returned = true;
        in_flight--;
        *tag = r->tag;
        if (r->status) {
            reply->status = r->status;
            reply->body = strdup("{}");
            reply->body_len = 2;
        } else {
            hs_err_set(err, "timed out");
        }
        return 1;
    }
    return in_flight ? 0 : -1;
}

static void fake_wake(void *b)
{
    (void)b;
}

static void fake_close(void *b)
{
    (void)b;
}

/* Lets the request in flight to `dest` finish with `status` (0: no answer). */
static void release(const char *dest, long status)
{
    for (int i = 0; i < n_reqs; i++) {
        if (strcmp(reqs[i].dest, dest) == 0 && !reqs[i].finished) {
            reqs[i].finished = true;
            reqs[i].status = status;
            return;
        }
    }
    cr_assert_fail("nothing in flight to %s", dest);
}

/* The last request started to `dest`, or NULL. */
static const fake_req *last_to(const char *dest)
{
    for (int i = n_reqs - 1; i >= 0; i--)
        if (strcmp(reqs[i].dest, dest) == 0) return &reqs[i];
    return NULL;
}

static int started_to(const char *dest)
{
    int k = 0;
    for (int i = 0; i < n_reqs; i++) k += strcmp(reqs[i].dest, dest) == 0;
    return k;
}

/* ---- a server with that transport ----------------------------------------------------- */

static char *dir;
static hs_server srv;
static hs_config cfg;
static int marker;

static void open_server(int max_concurrent)
{
    dir = pgt_tmpdir();
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "self.test");
    cfg.threads = 1;
    cfg.federation_max_concurrent_requests = max_concurrent;
    pgt_hs_config_files(&cfg, dir);
    char err[512];
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    hs_fed_transport t = {.request = fake_request,
                          .batch_open = fake_open,
                          .batch_start = fake_start,
                          .batch_next = fake_next,
                          .batch_wake = fake_wake,
                          .batch_close = fake_close,
                          .ctx = &marker};
    hs_fed_set_transport(&srv, &t);
    n_reqs = in_flight = max_in_flight = 0;
}

static void close_server(void)
{
    hs_server_close(&srv);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_fed_sending, .fini = close_server, .timeout = 60);

static void queue_edu(const char *dest)
{
    hs_store_fed_item it = {dest, "edu", "{\"edu_type\":\"m.test\",\"content\":{}}"};
    cr_assert_eq(hs_store_fed_enqueue(srv.store, &it, 1, NULL, 0, 1000), 0);
}

Test(hs_fed_sending, a_slow_destination_holds_only_its_own_slot_and_is_retried_identically)
{
    open_server(16);
    hs_fed_sending *s = hs_fed_sending_new(&srv);
    cr_assert_not_null(s);
    int64_t now = hs_fed_now_ms();
    queue_edu("slow.test");
    queue_edu("fast.test");
    int64_t next = INT64_MAX;
    cr_assert_eq(hs_fed_sending_start(s, now, &next), 2);
    cr_assert_eq(hs_fed_sending_in_flight(s), 2);
    cr_assert_eq(hs_fed_sending_collect(s, 100), 1, "fast answered, slow still pending");
    char slow_target[128];
    snprintf(slow_target, sizeof slow_target, "%s", last_to("slow.test")->target);

    /* More for both while slow hangs: fast gets a new transaction, slow none. */
    for (int round = 0; round < 3; round++) {
        queue_edu("fast.test");
        queue_edu("slow.test");
        char before[128];
        snprintf(before, sizeof before, "%s", last_to("fast.test")->target);
        cr_assert_eq(hs_fed_sending_start(s, now, &next), 1);
        cr_assert_str_neq(last_to("fast.test")->target, before, "a new transaction ID");
        cr_assert_eq(hs_fed_sending_collect(s, 100), 1);
    }
    cr_assert_eq(started_to("slow.test"), 1, "never two transactions in flight to one destination");
    cr_assert_eq(started_to("fast.test"), 4);

    /* slow fails: backed off, then the same transaction (ID and rows) again. */
    release("slow.test", 0);
    cr_assert_eq(hs_fed_sending_collect(s, 100), 0);
    cr_assert_eq(hs_fed_sending_in_flight(s), 0);
    next = INT64_MAX;
    cr_assert_eq(hs_fed_sending_start(s, now, &next), 0, "backed off");
    cr_assert_geq(next, now + HS_FED_BACKOFF_BASE_MS);
    cr_assert_eq(hs_fed_sending_start(s, next, &next), 1);
    cr_assert_str_eq(last_to("slow.test")->target, slow_target);
    cr_assert_eq(last_to("slow.test")->n_edus, 1, "the rows queued later are not added to it");
    release("slow.test", 200);
    cr_assert_eq(hs_fed_sending_collect(s, 100), 1);
    cr_assert_eq(hs_fed_sending_start(s, next, &next), 1);
    cr_assert_str_neq(last_to("slow.test")->target, slow_target);
    cr_assert_eq(last_to("slow.test")->n_edus, 3, "the rest goes in the next transaction");
    hs_fed_sending_free(s);

    /* Abandoned in flight (a stop): a new sender resends the same transaction. */
    char pending[128];
    snprintf(pending, sizeof pending, "%s", last_to("slow.test")->target);
    s = hs_fed_sending_new(&srv);
    in_flight = 0;
    cr_assert_eq(hs_fed_sending_start(s, next, &next), 1);
    cr_assert_str_eq(last_to("slow.test")->target, pending);
    hs_fed_sending_free(s);
}

Test(hs_fed_sending, no_more_than_max_concurrent_requests_in_flight)
{
    open_server(2);
    hs_fed_sending *s = hs_fed_sending_new(&srv);
    int64_t now = hs_fed_now_ms();
    const char *dests[] = {"slow1.test", "slow2.test", "slow3.test", "slow4.test", "slow5.test"};
    for (int i = 0; i < 5; i++) queue_edu(dests[i]);
    int64_t next = INT64_MAX;
    cr_assert_eq(hs_fed_sending_start(s, now, &next), 2);
    cr_assert_eq(hs_fed_sending_start(s, now, &next), 0, "no free slot");
    int done = 0;
    while (done < 5) {
        const fake_req *r = NULL;
        for (int i = 0; i < n_reqs && !r; i++)
            if (!reqs[i].finished) r = &reqs[i];
        cr_assert_not_null(r);
        release(r->dest, 200);
        cr_assert_eq(hs_fed_sending_collect(s, 100), 1);
        done++;
        hs_fed_sending_start(s, now, &next);
    }
    cr_assert_eq(n_reqs, 5);
    cr_assert_eq(max_in_flight, 2);
    hs_fed_sending_free(s);
}

Test(hs_fed_sending, announcements_skip_destinations_with_a_transaction_in_flight)
{
    open_server(16);
    hs_fed_sending *s = hs_fed_sending_new(&srv);
    int64_t now = hs_fed_now_ms();
    queue_edu("fast-old.test");
    queue_edu("slow.test");
    int64_t next = INT64_MAX;
    cr_assert_eq(hs_fed_sending_start(s, now, &next), 2);
    cr_assert_eq(hs_fed_sending_collect(s, 100), 1);
    /* Known: fast-old (answered) and slow (in flight). */
    cr_assert_eq(hs_fed_sending_announce(s), 0);
    cr_assert_eq(hs_fed_sending_start(s, now, &next), 1);
    const fake_req *ping = last_to("fast-old.test");
    cr_assert(strncmp(ping->target, "/_matrix/federation/v1/send/ping", 32) == 0, "%s", ping->target);
    cr_assert_eq(ping->n_edus, 0);
    cr_assert_eq(started_to("slow.test"), 1);
    cr_assert_eq(hs_fed_sending_collect(s, 100), 0, "a ping is not a transaction");
    hs_fed_sending_free(s);
}
