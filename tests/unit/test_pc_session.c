/* pc_session + pc_http between in-memory nodes: datagrams go straight from one endpoint's
 * send callback into a queue the test delivers in order, under a virtual nanosecond
 * clock that jumps to the next deadline when nothing is in flight. Checks what a user of
 * sessions would notice: requests answered in both directions over ONE connection per
 * pair, stream credit returned (250 requests > the 100-stream limit), a 1 MiB body, no
 * datagram over 1200 bytes, an impostor answering for a key is rejected, a restarted
 * peer is reached again (stateless reset from the seed-derived secret plus one retry),
 * simultaneous dials settle on one connection, a request whose connections never came
 * up (no route for 11 s) is sent again on new ones, limits give 413/431, timeouts
 * fire. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_handshake.h"
#include "pinecone/pc_http.h"
#include "pinecone/pc_session.h"

#define NNODES 3
#define QMAX 20000

typedef struct tnode {
    pc_session *s;
    pc_http *h;
    uint8_t seed[32], key[32];
    bool up;
    size_t served;
    bool defer;                       /* keep exchanges pending instead of answering */
    pc_http_exchange *pending[4];
    size_t n_pending;
} tnode;

typedef struct dgram {
    int to;
    uint8_t src[32];
    size_t len;
    uint8_t data[PC_SESSION_MAX_RX];
} dgram;

static tnode nodes[NNODES];
static dgram *q;
static size_t q_head, q_len;
static uint64_t now_ns = 1000000000ull;
static size_t max_sent;
static int redirect_from = -1, redirect_to = -1; /* datagrams for node X go to node Y */
static uint64_t drop_until;                      /* every datagram is lost before this time */
static uint8_t *big;
#define BIG_LEN (1024 * 1024)

static int node_by_key(const uint8_t *k)
{
    for (int i = 0; i < NNODES; i++)
        if (nodes[i].up && memcmp(nodes[i].key, k, 32) == 0)
            return i;
    for (int i = 0; i < NNODES; i++)
        if (memcmp(nodes[i].key, k, 32) == 0)
            return i;
    return -1;
}

static void send_dg(const uint8_t dest[32], const uint8_t *data, size_t len, void *ud)
{
    tnode *from = ud;
    if (len > max_sent)
        max_sent = len;
    if (now_ns < drop_until)
        return; /* as a node that just joined has no route yet */
    int to = node_by_key(dest);
    if (to == redirect_from)
        to = redirect_to;
    if (to < 0 || !nodes[to].up || q_len == QMAX)
        return;
    dgram *d = &q[(q_head + q_len++) % QMAX];
    d->to = to;
    /* Pinecone does not authenticate traffic sources: the impostor forges B's key */
    bool forged = redirect_to >= 0 && from == &nodes[redirect_to];
    memcpy(d->src, forged ? nodes[redirect_from].key : from->key, 32);
    d->len = len;
    memcpy(d->data, data, len);
}

static void on_open(pc_stream *st, void *ud) { pc_http_stream_opened(((tnode *)ud)->h, st); }
static void on_data(pc_stream *st, const uint8_t *d, size_t l, bool fin, void *ud)
{
    pc_http_stream_data(((tnode *)ud)->h, st, d, l, fin);
}
static void on_closed(pc_stream *st, int err, void *ud) { pc_http_stream_closed(((tnode *)ud)->h, st, err); }

static void handler(pc_http_exchange *ex, const pc_http_incoming *req, void *ud)
{
    tnode *n = ud;
    n->served++;
    if (n->defer && n->n_pending < 4) {
        n->pending[n->n_pending++] = ex;
        return;
    }
    if (strcmp(req->msg->target, "/big") == 0) {
        pc_http_respond(ex, 200, NULL, 0, big, BIG_LEN);
        return;
    }
    if (strcmp(req->msg->method, "POST") == 0) {
        pc_http_respond(ex, 201, NULL, 0, req->msg->body, req->msg->body_len);
        return;
    }
    char body[256];
    const char *host = pc_http_msg_header(req->msg, "host");
    int len = snprintf(body, sizeof body, "%s %s host=%s", req->msg->method, req->msg->target, host ? host : "-");
    pc_http_header h[] = {{"Content-Type", "text/plain"}};
    pc_http_respond(ex, 200, h, 1, (const uint8_t *)body, (size_t)len);
}

static size_t node_max_buffered; /* 0: the default */

static void node_start(int i, uint8_t seed_byte)
{
    tnode *n = &nodes[i];
    memset(n->seed, seed_byte, 32);
    uint8_t sk[64];
    pc_keypair_from_seed(n->seed, n->key, sk);
    pc_session_config cfg = {.alpn = {"matrix"}};
    pc_session_callbacks cb = {send_dg, on_open, on_data, on_closed, NULL};
    cr_assert_eq(pc_session_new(&n->s, n->seed, &cfg, &cb, n, 1700000000), PC_OK);
    pc_http_config hc = {.session = n->s, .alpn = "matrix", .handler = handler, .handler_data = n,
                         .max_request_body = 2 * 1024 * 1024, .max_header_bytes = 8192,
                         .max_buffered = node_max_buffered, .request_timeout_ms = 20000};
    cr_assert_eq(pc_http_new(&n->h, &hc), PC_OK);
    n->up = true;
    n->served = 0;
}

static void node_stop(int i)
{
    tnode *n = &nodes[i];
    if (!n->up)
        return;
    n->up = false; /* the close datagrams go nowhere: like a crash */
    pc_http_free(n->h);
    pc_session_free(n->s, now_ns);
    n->h = NULL;
    n->s = NULL;
}

static void setup(void)
{
    q = calloc(QMAX, sizeof *q);
    big = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 11));
    q_head = q_len = 0;
    max_sent = 0;
    redirect_from = redirect_to = -1;
    drop_until = 0;
    node_start(0, 1);
    node_start(1, 2);
}

static void teardown(void)
{
    for (int i = 0; i < NNODES; i++)
        node_stop(i);
    for (int i = 0; i < NNODES; i++)
        for (size_t j = 0; j < nodes[i].n_pending; j++)
            cr_assert_eq(pc_http_respond(nodes[i].pending[j], 200, NULL, 0, NULL, 0), PC_ERR_CLOSED);
    memset(nodes, 0, sizeof nodes);
    node_max_buffered = 0;
    free(q);
    free(big);
}

TestSuite(pc_quic, .init = setup, .fini = teardown, .timeout = 60);

/* Delivers datagrams and timers until cond() holds or virtual time runs out. */
static bool run_until(bool (*cond)(void), uint64_t max_virtual_ms)
{
    uint64_t end = now_ns + max_virtual_ms * 1000000ull;
    for (int i = 0; i < NNODES; i++)
        if (nodes[i].up)
            pc_session_flush(nodes[i].s, now_ns);
    while (now_ns < end) {
        if (cond())
            return true;
        if (q_len) {
            dgram d = q[q_head];
            q_head = (q_head + 1) % QMAX;
            q_len--;
            tnode *n = &nodes[d.to];
            if (n->up) {
                pc_session_recv(n->s, d.src, d.data, d.len, now_ns);
                pc_session_flush(n->s, now_ns);
            }
            now_ns += 1000; /* 1 us per datagram */
            continue;
        }
        uint64_t next = UINT64_MAX;
        for (int i = 0; i < NNODES; i++) {
            if (!nodes[i].up)
                continue;
            uint64_t d = pc_session_next_deadline(nodes[i].s);
            uint64_t e = pc_http_next_deadline(nodes[i].h);
            if (e < d)
                d = e;
            if (d < next)
                next = d;
        }
        if (next == UINT64_MAX)
            return cond();
        if (next > now_ns)
            now_ns = next;
        for (int i = 0; i < NNODES; i++)
            if (nodes[i].up) {
                pc_http_handle_timeout(nodes[i].h, now_ns);
                pc_session_handle_timeout(nodes[i].s, now_ns);
            }
    }
    return cond();
}

/* ---- request bookkeeping ---- */

typedef struct result {
    bool done;
    int err, status;
    size_t body_len;
    char body[256];
    bool body_ok;
} result;

static result res[300];
static size_t n_expected;

static void on_done(int err, const pc_http_msg *m, void *ud)
{
    result *r = ud;
    cr_assert(!r->done, "done called twice");
    r->done = true;
    r->err = err;
    if (m) {
        r->status = m->status;
        r->body_len = m->body_len;
        size_t n = m->body_len < sizeof r->body - 1 ? m->body_len : sizeof r->body - 1;
        if (n)
            memcpy(r->body, m->body, n);
        r->body[n] = '\0';
        r->body_ok = m->body_len == BIG_LEN && memcmp(m->body, big, BIG_LEN) == 0;
    }
}

static bool all_done(void)
{
    for (size_t i = 0; i < n_expected; i++)
        if (!res[i].done)
            return false;
    return true;
}

static bool all_idle(void)
{
    return all_done() && pc_http_active(nodes[0].h) == 0 && pc_http_active(nodes[1].h) == 0;
}

static void get(int from, int to, const char *path, size_t slot)
{
    memset(&res[slot], 0, sizeof res[slot]);
    cr_assert_eq(pc_http_request(nodes[from].h, nodes[to].key, "GET", path, NULL, 0, NULL, 0, now_ns, on_done,
                                 &res[slot]),
                 PC_OK);
}

static void hexkey(const uint8_t *k, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", k[i]);
}

Test(pc_quic, get_both_directions_on_one_connection)
{
    get(0, 1, "/hello?x=1", 0);
    n_expected = 1;
    cr_assert(run_until(all_done, 5000));
    cr_assert_eq(res[0].err, PC_OK, "%s", pc_strerror(res[0].err));
    cr_assert_eq(res[0].status, 200);
    char want[256], hex[65];
    hexkey(nodes[1].key, hex);
    snprintf(want, sizeof want, "GET /hello?x=1 host=%s", hex);
    cr_assert_str_eq(res[0].body, want);

    /* B now asks A: it must reuse the connection A dialled (streams both ways) */
    get(1, 0, "/back", 1);
    n_expected = 2;
    cr_assert(run_until(all_done, 5000));
    cr_assert_eq(res[1].err, PC_OK);
    cr_assert_eq(res[1].status, 200);
    cr_assert_eq(pc_session_conn_count(nodes[0].s), 1);
    cr_assert_eq(pc_session_conn_count(nodes[1].s), 1);
    cr_assert_leq(max_sent, 1200);
}

Test(pc_quic, many_sequential_requests_return_stream_credit)
{
    for (size_t i = 0; i < 250; i++) {
        get(i % 2, (i + 1) % 2, "/seq", i);
        n_expected = i + 1;
        cr_assert(run_until(all_done, 5000), "request %zu did not finish", i);
        cr_assert_eq(res[i].err, PC_OK, "request %zu: %s", i, pc_strerror(res[i].err));
        cr_assert_eq(res[i].status, 200);
    }
    cr_assert_eq(nodes[0].served + nodes[1].served, 250);
    cr_assert_eq(pc_session_conn_count(nodes[0].s), 1);
    /* every stream finishes on both sides: nothing left open */
    cr_assert(run_until(all_idle, 1000));
    cr_assert_eq(pc_http_active(nodes[0].h), 0);
    cr_assert_eq(pc_http_active(nodes[1].h), 0);
}

Test(pc_quic, concurrent_requests_and_megabyte_body)
{
    for (size_t i = 0; i < 10; i++)
        get(0, 1, i == 3 ? "/big" : "/c", i);
    n_expected = 10;
    cr_assert(run_until(all_done, 20000));
    for (size_t i = 0; i < 10; i++) {
        cr_assert_eq(res[i].err, PC_OK, "%zu: %s", i, pc_strerror(res[i].err));
        cr_assert_eq(res[i].status, 200);
    }
    cr_assert_eq(res[3].body_len, BIG_LEN);
    cr_assert(res[3].body_ok, "1 MiB body differs");
    cr_assert_leq(max_sent, 1200);

    /* and a 1 MiB request body the other way */
    memset(&res[10], 0, sizeof res[10]);
    cr_assert_eq(pc_http_request(nodes[1].h, nodes[0].key, "POST", "/echo", NULL, 0, big, BIG_LEN, now_ns,
                                 on_done, &res[10]),
                 PC_OK);
    n_expected = 11;
    cr_assert(run_until(all_done, 20000));
    cr_assert_eq(res[10].status, 201);
    cr_assert(res[10].body_ok);
}

Test(pc_quic, impostor_key_is_rejected)
{
    /* node 2 (seed 03) answers datagrams addressed to B: its certificate carries C's key */
    node_start(2, 3);
    redirect_from = 1;
    redirect_to = 2;
    get(0, 1, "/who", 0);
    n_expected = 1;
    cr_assert(run_until(all_done, 60000));
    cr_assert(res[0].err == PC_ERR_PEER_KEY || res[0].err == PC_ERR_TLS, "got %s", pc_strerror(res[0].err));
    cr_assert_eq(nodes[2].served, 0);
}

Test(pc_quic, restarted_peer_is_reached_again)
{
    get(0, 1, "/one", 0);
    n_expected = 1;
    cr_assert(run_until(all_done, 5000));
    cr_assert_eq(res[0].status, 200);
    node_stop(1);
    node_start(1, 2);
    uint64_t t0 = now_ns;
    get(0, 1, "/two", 1);
    n_expected = 2;
    cr_assert(run_until(all_done, 20000));
    cr_assert_eq(res[1].err, PC_OK, "%s", pc_strerror(res[1].err));
    cr_assert_eq(res[1].status, 200);
    /* a stateless reset, not the 15 s idle timeout, ended the old connection */
    cr_assert_lt(now_ns - t0, 5000000000ull, "took %llu ms", (unsigned long long)((now_ns - t0) / 1000000));
    /* and the restarted node can call the old one: the replaced connection is gone */
    get(1, 0, "/three", 2);
    n_expected = 3;
    cr_assert(run_until(all_done, 5000));
    cr_assert_eq(res[2].status, 200);
    cr_assert_eq(pc_session_conn_count(nodes[0].s), 1);
}

Test(pc_quic, simultaneous_dials_keep_one_connection)
{
    get(0, 1, "/a", 0);
    get(1, 0, "/b", 1);
    n_expected = 2;
    cr_assert(run_until(all_done, 10000));
    cr_assert_eq(res[0].status, 200, "%s", pc_strerror(res[0].err));
    cr_assert_eq(res[1].status, 200, "%s", pc_strerror(res[1].err));
    cr_assert_eq(pc_session_conn_count(nodes[0].s), 1);
    cr_assert_eq(pc_session_conn_count(nodes[1].s), 1);
}

Test(pc_quic, limits_give_413_and_431)
{
    uint8_t *body = calloc(1, 3 * 1024 * 1024);
    memset(&res[0], 0, sizeof res[0]);
    cr_assert_eq(pc_http_request(nodes[0].h, nodes[1].key, "POST", "/x", NULL, 0, body, 3 * 1024 * 1024, now_ns,
                                 on_done, &res[0]),
                 PC_OK);
    char longv[390];
    memset(longv, 'v', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    pc_http_header hd[30];
    for (int i = 0; i < 30; i++)
        hd[i] = (pc_http_header){"X-Filler", longv};
    memset(&res[1], 0, sizeof res[1]);
    cr_assert_eq(pc_http_request(nodes[0].h, nodes[1].key, "GET", "/y", hd, 30, NULL, 0, now_ns, on_done, &res[1]),
                 PC_OK);
    n_expected = 2;
    cr_assert(run_until(all_done, 20000));
    cr_assert_eq(res[0].status, 413, "%d %s", res[0].status, pc_strerror(res[0].err));
    cr_assert_eq(res[1].status, 431);
    cr_assert_eq(nodes[1].served, 0);
    free(body);
}

static size_t uploads_refused(void)
{
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += res[i].done && res[i].err != PC_OK;
    return n;
}

static bool two_held_two_refused(void) { return nodes[1].served >= 2 && uploads_refused() >= 2; }

Test(pc_quic, request_bytes_held_at_once_are_bounded)
{
    /* B holds at most 2.5 MiB of request bytes over all its streams. Four 1 MiB uploads
     * whose answers B keeps waiting: two are held, the others are reset instead of being
     * buffered too; once B answers, the bytes are released and a new upload goes through. */
    node_stop(1);
    node_max_buffered = 2 * 1024 * 1024 + 512 * 1024;
    node_start(1, 2);
    nodes[1].defer = true;
    for (size_t i = 0; i < 4; i++) {
        memset(&res[i], 0, sizeof res[i]);
        cr_assert_eq(pc_http_request(nodes[0].h, nodes[1].key, "POST", "/hold", NULL, 0, big, BIG_LEN, now_ns,
                                     on_done, &res[i]),
                     PC_OK);
    }
    cr_assert(run_until(two_held_two_refused, 20000), "served %zu, refused %zu", nodes[1].served,
              uploads_refused());
    cr_assert_eq(nodes[1].served, 2, "only two uploads fit at once");
    cr_assert_leq(pc_http_buffered(nodes[1].h), node_max_buffered);
    cr_assert_eq(uploads_refused(), 2, "the uploads past the bound were refused");
    for (size_t j = 0; j < nodes[1].n_pending; j++)
        cr_assert_eq(pc_http_respond(nodes[1].pending[j], 200, NULL, 0, NULL, 0), PC_OK);
    nodes[1].n_pending = 0;
    nodes[1].defer = false;
    n_expected = 4;
    cr_assert(run_until(all_done, 20000));
    cr_assert_eq(pc_http_buffered(nodes[1].h), 0, "answered requests release their bytes");
    memset(&res[4], 0, sizeof res[4]);
    cr_assert_eq(pc_http_request(nodes[0].h, nodes[1].key, "POST", "/echo", NULL, 0, big, BIG_LEN, now_ns, on_done,
                                 &res[4]),
                 PC_OK);
    n_expected = 5;
    cr_assert(run_until(all_done, 20000));
    cr_assert_eq(res[4].status, 201);
    cr_assert(res[4].body_ok);
}

Test(pc_quic, unanswered_request_times_out_and_late_respond_is_safe)
{
    nodes[1].defer = true;
    get(0, 1, "/slow", 0);
    n_expected = 1;
    cr_assert(run_until(all_done, 30000));
    cr_assert_eq(res[0].err, PC_ERR_TIMEOUT);
    cr_assert_eq(nodes[1].n_pending, 1);
    /* the server answers after the client gave up: harmless either way */
    int rc = pc_http_respond(nodes[1].pending[0], 200, NULL, 0, NULL, 0);
    nodes[1].n_pending = 0;
    cr_assert(rc == PC_OK || rc == PC_ERR_CLOSED);
    run_until(all_idle, 1000);
}

Test(pc_quic, request_to_unreachable_key_fails)
{
    uint8_t nobody[32];
    memset(nobody, 0x77, sizeof nobody);
    memset(&res[0], 0, sizeof res[0]);
    cr_assert_eq(pc_http_request(nodes[0].h, nobody, "GET", "/", NULL, 0, NULL, 0, now_ns, on_done, &res[0]),
                 PC_OK);
    n_expected = 1;
    cr_assert(run_until(all_done, 60000));
    cr_assert(res[0].err == PC_ERR_TIMEOUT, "%s", pc_strerror(res[0].err));
    cr_assert_eq(pc_http_request(nodes[0].h, nodes[0].key, "GET", "/", NULL, 0, NULL, 0, now_ns, on_done, &res[1]),
                 PC_ERR_INVALID);
    cr_assert_eq(pc_http_request(nodes[0].h, nodes[1].key, "GET", "no-slash", NULL, 0, NULL, 0, now_ns, on_done,
                                 &res[1]),
                 PC_ERR_INVALID);
}

Test(pc_quic, request_survives_a_handshake_that_never_completes)
{
    /* nothing gets through for 11 s: two connections' 5 s handshake timeouts fire; the
     * request never left, so it goes out again on a third connection */
    drop_until = now_ns + 11000000000ull;
    get(0, 1, "/late", 0);
    n_expected = 1;
    cr_assert(run_until(all_done, 20000));
    cr_assert_eq(res[0].err, PC_OK, "%s", pc_strerror(res[0].err));
    cr_assert_eq(res[0].status, 200);
    cr_assert_eq(nodes[1].served, 1);
}
