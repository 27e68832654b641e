/* pc_node: the poll loop of a standalone node. Order of work per turn: run the ping
 * schedule, send queued pongs, feed queued datagrams to the QUIC endpoint and run its and
 * the HTTP layer's timers and the --http-get schedule, flush the endpoint, flush the
 * transport, sleep in poll() until the earliest deadline, then serve the manhole, the
 * transport, and the router's timers. Router callbacks only queue or print; everything
 * that re-enters the router (sending pongs and QUIC datagrams, peer_down,
 * peer_writable) happens in the loop, never inside a callback. */
#include "pinecone/pc_node.h"

#include <errno.h>
#include <sodium.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pinecone/pc_handshake.h"
#include "pinecone/pc_http.h"
#include "pinecone/pc_http_static.h"
#include "pinecone/pc_manhole.h"
#include "pinecone/pc_multicast.h"
#include "pinecone/pc_router.h"
#include "pinecone/pc_session.h"
#include "pinecone/pc_tcp.h"
#include "pinecone/pc_ws.h"

#define MANHOLE_MAX_CLIENTS 8
#define MANHOLE_TIMEOUT 10000 /* ms a manhole client may take for its request/response */
#define POLL_MAX (3 + MANHOLE_MAX_CLIENTS + PC_TCP_MAX_LINKS + 3)

static const uint8_t ping_magic[8] = {'p', 'g', 'p', 'i', 'n', 'g', 0, 0};

typedef struct mh_client {
    int fd;
    char in[PC_MANHOLE_REQ_MAX];
    size_t inlen;
    char *out;
    size_t outlen, outoff;
    uint64_t deadline;
    int pfd;
} mh_client;

typedef struct queued_dgram {
    uint8_t src[PC_KEY_LEN];
    size_t len;
    uint8_t data[PC_MAX_DATAGRAM];
} queued_dgram;

typedef struct http_get_req {
    struct pc_node *n;
    unsigned idx;
    uint64_t start_us;
} http_get_req;

typedef struct adopted {
    int fd;
    uint8_t *extra;
    size_t len;
    char remote[PC_TCP_URI_MAX];
    void (*release)(void *ctx);
    void *ctx;
} adopted;

typedef struct pending_pong {
    uint8_t dest[PC_KEY_LEN];
    uint8_t payload[PC_PING_LEN];
} pending_pong;

struct pc_node {
    pc_router *r;
    pc_tcp *tcp;
    pc_mcast *mcast;
    FILE *out;
    uint64_t unix0_ms, mono0_us;

    int mh_fd;
    mh_client mh[MANHOLE_MAX_CLIENTS];
    size_t n_mh;

    pending_pong pongs[PC_NODE_MAX_PONGS];
    size_t n_pongs;

    bool ping;
    uint8_t ping_key[PC_KEY_LEN];
    unsigned ping_count, ping_sent, ping_recv;
    bool *ping_answered;
    uint64_t ping_next, ping_end;     /* 0: not scheduled yet */
    double rtt_min, rtt_max, rtt_sum;
    bool ping_done;

    pc_session *sess;
    pc_http *http;
    char *serve_root;
    queued_dgram *dq;
    size_t dq_head, dq_len;
    uint64_t dq_dropped;
    uint64_t sent_dgrams, unrouted_dgrams; /* QUIC datagrams out, and those with no route */

    bool hg;                          /* --http-get run */
    uint8_t hg_key[PC_KEY_LEN];
    char *hg_path;
    unsigned hg_count, hg_conc, hg_interval, hg_started, hg_inflight, hg_done, hg_ok;
    uint64_t hg_next;                 /* ms; 0: not scheduled yet */
    uint64_t hg_t0_us, hg_bytes;
    bool hg_finished;
    FILE *body_out;

    pthread_mutex_t adopt_mu;         /* guards adopt[] and n_adopt */
    adopted adopt[PC_NODE_MAX_ADOPT];
    size_t n_adopt;
    int adopt_fd;                     /* eventfd: adoptions are waiting */
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t node_now(const pc_node *n) { return n->unix0_ms + (mono_us() - n->mono0_us) / 1000u; }

/* The QUIC endpoint's clock: monotonic nanoseconds. */
static uint64_t sess_now(void) { return mono_us() * 1000u; }

static void hex(const uint8_t *k, char out[2 * PC_KEY_LEN + 1])
{
    sodium_bin2hex(out, 2 * PC_KEY_LEN + 1, k, PC_KEY_LEN);
}

void pc_ping_encode(uint8_t out[PC_PING_LEN], bool pong, uint32_t seq, uint64_t usec)
{
    memcpy(out, ping_magic, 8);
    out[8] = pong ? 1 : 0;
    for (int i = 0; i < 4; i++)
        out[9 + i] = (uint8_t)(seq >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        out[13 + i] = (uint8_t)(usec >> (56 - 8 * i));
}

bool pc_ping_decode(const uint8_t *in, size_t len, bool *pong, uint32_t *seq, uint64_t *usec)
{
    if (len != PC_PING_LEN || memcmp(in, ping_magic, 8) != 0 || in[8] > 1)
        return false;
    *pong = in[8] == 1;
    *seq = 0;
    for (int i = 0; i < 4; i++)
        *seq = *seq << 8 | in[9 + i];
    *usec = 0;
    for (int i = 0; i < 8; i++)
        *usec = *usec << 8 | in[13 + i];
    return true;
}

/* ---- router callbacks --------------------------------------------------------- */

static int cb_send(pc_router *r, int port, const uint8_t *frame, size_t len, void *ud)
{
    (void)r;
    return pc_tcp_send_frame(((pc_node *)ud)->tcp, port, frame, len);
}

static void on_pong(pc_node *n, const uint8_t src[PC_KEY_LEN], uint32_t seq, uint64_t usec)
{
    if (!n->ping || memcmp(src, n->ping_key, PC_KEY_LEN) != 0 || seq == 0 ||
        seq > n->ping_sent || n->ping_answered[seq - 1])
        return;
    n->ping_answered[seq - 1] = true;
    double ms = (double)(mono_us() - usec) / 1000.0;
    if (!n->ping_recv || ms < n->rtt_min)
        n->rtt_min = ms;
    if (ms > n->rtt_max)
        n->rtt_max = ms;
    n->rtt_sum += ms;
    n->ping_recv++;
    char h[2 * PC_KEY_LEN + 1];
    hex(src, h);
    fprintf(n->out, "reply from %s: seq=%u time=%.3f ms\n", h, seq, ms);
}

static void cb_deliver(pc_router *r, const uint8_t src[PC_KEY_LEN], const uint8_t *payload,
                       size_t len, void *ud)
{
    (void)r;
    pc_node *n = ud;
    bool is_pong;
    uint32_t seq;
    uint64_t usec;
    if (!pc_ping_decode(payload, len, &is_pong, &seq, &usec)) {
        /* a QUIC datagram: fed to the endpoint from the loop, like pongs */
        if (n->dq_len == PC_NODE_MAX_DATAGRAMS || len > PC_MAX_DATAGRAM) {
            n->dq_dropped++;
            return;
        }
        queued_dgram *d = &n->dq[(n->dq_head + n->dq_len++) % PC_NODE_MAX_DATAGRAMS];
        memcpy(d->src, src, PC_KEY_LEN);
        d->len = len;
        memcpy(d->data, payload, len);
        return;
    }
    if (is_pong) {
        on_pong(n, src, seq, usec);
        return;
    }
    /* answered from the loop: the router must not be re-entered from its callback */
    if (n->n_pongs == PC_NODE_MAX_PONGS)
        return;
    pending_pong *p = &n->pongs[n->n_pongs++];
    memcpy(p->dest, src, PC_KEY_LEN);
    pc_ping_encode(p->payload, true, seq, usec);
}

static void cb_closed(pc_router *r, int port, int reason, void *ud)
{
    (void)r;
    pc_tcp_peer_closed(((pc_node *)ud)->tcp, port, reason);
}

static void on_link(void *ud, int port, const uint8_t key[PC_KEY_LEN], const char *uri, bool up)
{
    pc_node *n = ud;
    char h[2 * PC_KEY_LEN + 1];
    hex(key, h);
    fprintf(n->out, "peer %s: port %d key %s (%s)\n", up ? "up" : "down", port, h, uri);
    if (up && n->ping && !n->ping_next)
        n->ping_next = node_now(n) + PC_PING_INTERVAL;
    if (up && n->hg && !n->hg_next)
        n->hg_next = node_now(n) + PC_PING_INTERVAL;
}

/* ---- sessions ------------------------------------------------------------------ */

static void sess_send(const uint8_t dest[PC_KEY_LEN], const uint8_t *data, size_t len, void *ud)
{
    pc_node *n = ud;
    n->sent_dgrams++;
    if (pc_router_send_traffic(n->r, dest, data, len, node_now(n)) == PC_ERR_NO_ROUTE)
        n->unrouted_dgrams++;
}

static void sess_opened(pc_stream *st, void *ud) { pc_http_stream_opened(((pc_node *)ud)->http, st); }

static void sess_data(pc_stream *st, const uint8_t *d, size_t len, bool fin, void *ud)
{
    pc_http_stream_data(((pc_node *)ud)->http, st, d, len, fin);
}

static void sess_closed(pc_stream *st, int err, void *ud) { pc_http_stream_closed(((pc_node *)ud)->http, st, err); }

static void sess_event(const uint8_t key[PC_KEY_LEN], const char *alpn, bool client, bool up, int err, void *ud)
{
    pc_node *n = ud;
    char h[2 * PC_KEY_LEN + 1];
    hex(key, h);
    if (up)
        fprintf(n->out, "session up: %s (%s, %s)\n", h, alpn, client ? "dialled" : "accepted");
    else
        fprintf(n->out, "session down: %s (%s): %s\n", h, alpn, pc_strerror(err));
}

static void http_handler(pc_http_exchange *ex, const pc_http_incoming *req, void *ud)
{
    pc_node *n = ud;
    if (n->serve_root) {
        pc_http_static_serve(n->serve_root, ex, req);
        return;
    }
    static const char body[] = "404 nothing is served on this node\n";
    pc_http_respond(ex, 404, NULL, 0, (const uint8_t *)body, sizeof body - 1);
}

static void hg_done(int err, const pc_http_msg *m, void *ud)
{
    http_get_req *rq = ud;
    pc_node *n = rq->n;
    double ms = (double)(mono_us() - rq->start_us) / 1000.0;
    n->hg_inflight--;
    n->hg_done++;
    bool ok = err == PC_OK && m->status >= 200 && m->status < 300;
    if (ok)
        n->hg_ok++;
    if (m)
        n->hg_bytes += m->body_len;
    if (n->hg_count == 1 && m && m->body_len)
        fwrite(m->body, 1, m->body_len, n->body_out);
    if (err != PC_OK)
        fprintf(n->out, "get %u: failed: %s (%.3f ms)\n", rq->idx, pc_strerror(err), ms);
    else
        fprintf(n->out, "get %u: %d, %zu bytes, %.3f ms\n", rq->idx, m->status, m->body_len, ms);
    free(rq);
    if (n->hg_done == n->hg_count && n->hg_count) {
        double secs = (double)(mono_us() - n->hg_t0_us) / 1e6;
        fprintf(n->out,
                "--- http-get: %u requests, %u ok, %u failed, %.3f s, %.1f req/s, %.3f MiB/s "
                "(%llu datagrams sent, %llu had no route, %llu received dropped)\n",
                n->hg_count, n->hg_ok, n->hg_count - n->hg_ok, secs, secs > 0 ? n->hg_count / secs : 0.0,
                secs > 0 ? (double)n->hg_bytes / (1024.0 * 1024.0) / secs : 0.0,
                (unsigned long long)n->sent_dgrams, (unsigned long long)n->unrouted_dgrams,
                (unsigned long long)n->dq_dropped);
        n->hg_finished = true;
    }
}

static void hg_tick(pc_node *n, uint64_t now)
{
    if (!n->hg || !n->hg_next)
        return;
    while (n->hg_started < n->hg_count && n->hg_inflight < n->hg_conc && now >= n->hg_next) {
        http_get_req *rq = calloc(1, sizeof *rq);
        if (!rq)
            return;
        rq->n = n;
        rq->idx = ++n->hg_started;
        rq->start_us = mono_us();
        if (rq->idx == 1)
            n->hg_t0_us = rq->start_us;
        n->hg_inflight++;
        if (pc_http_request(n->http, n->hg_key, "GET", n->hg_path, NULL, 0, NULL, 0, sess_now(), hg_done, rq) !=
            PC_OK) {
            n->hg_inflight--;
            n->hg_done++;
            fprintf(n->out, "get %u: cannot send\n", rq->idx);
            free(rq);
            if (n->hg_done == n->hg_count)
                n->hg_finished = true;
        }
        n->hg_next = now + n->hg_interval;
    }
}

/* Feeds queued datagrams, runs timers, sends what the endpoint has. */
static void sess_tick(pc_node *n, uint64_t now_ms)
{
    while (n->dq_len) {
        queued_dgram *d = &n->dq[n->dq_head];
        n->dq_head = (n->dq_head + 1) % PC_NODE_MAX_DATAGRAMS;
        n->dq_len--;
        pc_session_recv(n->sess, d->src, d->data, d->len, sess_now());
    }
    uint64_t t = sess_now();
    if (pc_http_next_deadline(n->http) <= t)
        pc_http_handle_timeout(n->http, t);
    hg_tick(n, now_ms);
    if (pc_session_next_deadline(n->sess) <= t)
        pc_session_handle_timeout(n->sess, t);
    else
        pc_session_flush(n->sess, t);
}

/* The earliest session/HTTP/--http-get deadline, in node milliseconds. */
static uint64_t sess_deadline(const pc_node *n, uint64_t now_ms)
{
    uint64_t t = sess_now();
    uint64_t d = pc_session_next_deadline(n->sess);
    uint64_t e = pc_http_next_deadline(n->http);
    if (e < d)
        d = e;
    uint64_t ms = d == UINT64_MAX ? UINT64_MAX : d <= t ? now_ms : now_ms + (d - t + 999999) / 1000000;
    if (n->hg && n->hg_next && n->hg_started < n->hg_count && n->hg_inflight < n->hg_conc && n->hg_next < ms)
        ms = n->hg_next;
    return n->dq_len ? now_ms : ms;
}

static int sess_setup(pc_node *n, const pc_node_config *cfg, char *err, size_t errlen)
{
    const char *alpn = cfg->alpn ? cfg->alpn : PC_NODE_DEFAULT_ALPN;
    n->dq = malloc(PC_NODE_MAX_DATAGRAMS * sizeof *n->dq);
    if (!n->dq) {
        snprintf(err, errlen, "out of memory");
        return PC_ERR_NOMEM;
    }
    pc_session_config sc = {.alpn = {alpn}};
    pc_session_callbacks cb = {sess_send, sess_opened, sess_data, sess_closed, sess_event};
    int rc = pc_session_new(&n->sess, cfg->seed, &sc, &cb, n, (int64_t)(n->unix0_ms / 1000));
    if (rc != PC_OK) {
        snprintf(err, errlen, "cannot start QUIC sessions (ALPN '%s'): %s", alpn, pc_strerror(rc));
        return rc;
    }
    if (cfg->http_serve) {
        n->serve_root = realpath(cfg->http_serve, NULL);
        if (!n->serve_root) {
            snprintf(err, errlen, "cannot serve %s: %s", cfg->http_serve, strerror(errno));
            return PC_ERR_INVALID;
        }
    }
    pc_http_config hc = {.session = n->sess, .alpn = alpn, .handler = http_handler, .handler_data = n,
                         .request_timeout_ms = cfg->http_timeout_ms ? cfg->http_timeout_ms : PC_NODE_HTTP_TIMEOUT};
    rc = pc_http_new(&n->http, &hc);
    if (rc != PC_OK) {
        snprintf(err, errlen, "cannot start HTTP over sessions: %s", pc_strerror(rc));
        return rc;
    }
    if (cfg->http_get) {
        if (!cfg->http_get_path || cfg->http_get_path[0] != '/' || cfg->http_count > PC_NODE_HTTP_MAX_COUNT) {
            snprintf(err, errlen, "--http-get wants KEY /PATH (and --http-count at most %u)", PC_NODE_HTTP_MAX_COUNT);
            return PC_ERR_INVALID;
        }
        n->hg = true;
        memcpy(n->hg_key, cfg->http_get_key, PC_KEY_LEN);
        n->hg_path = strdup(cfg->http_get_path);
        n->hg_count = cfg->http_count ? cfg->http_count : 1;
        n->hg_conc = cfg->http_concurrency ? cfg->http_concurrency : 1;
        n->hg_interval = cfg->http_interval_ms;
        n->body_out = cfg->body_out ? cfg->body_out : stdout;
        if (!n->hg_path) {
            snprintf(err, errlen, "out of memory");
            return PC_ERR_NOMEM;
        }
    }
    if (n->serve_root)
        fprintf(n->out, "serving %s over sessions (ALPN %s)\n", n->serve_root, alpn);
    return PC_OK;
}

static void on_beacon(void *ud, const uint8_t key[PC_KEY_LEN], const char *hostport, uint64_t now)
{
    pc_node *n = ud;
    if (pc_tcp_dial_discovered(n->tcp, key, hostport, now) == PC_OK) {
        char h[2 * PC_KEY_LEN + 1];
        hex(key, h);
        fprintf(n->out, "multicast: dialling %s at %s\n", h, hostport);
    }
}

/* ---- manhole listener --------------------------------------------------------- */

static void mh_close(pc_node *n, size_t i)
{
    close(n->mh[i].fd);
    free(n->mh[i].out);
    n->mh[i] = n->mh[--n->n_mh];
}

static void mh_respond(pc_node *n, mh_client *c, pc_manhole_req kind, uint64_t now)
{
    const char *status = "400 Bad Request";
    char *body = NULL;
    const char *ctype = "text/plain; charset=utf-8";
    switch (kind) {
    case PC_MANHOLE_REQ_OK:
        body = pc_manhole_render(n->r, now, pc_tcp_link_info, n->tcp);
        status = body ? "200 OK" : "500 Internal Server Error";
        ctype = "application/json";
        break;
    case PC_MANHOLE_REQ_NOT_FOUND: status = "404 Not Found"; break;
    case PC_MANHOLE_REQ_BAD_METHOD: status = "405 Method Not Allowed"; break;
    case PC_MANHOLE_REQ_TOO_LARGE: status = "431 Request Header Fields Too Large"; break;
    default: break;
    }
    if (!body) {
        body = malloc(64);
        if (body)
            snprintf(body, 64, "%s\n", status);
    }
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + 256;
    c->out = malloc(cap);
    if (!c->out) {
        free(body);
        return;
    }
    int hl = snprintf(c->out, cap,
                      "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", status, ctype, blen);
    memcpy(c->out + hl, body, blen);
    c->outlen = (size_t)hl + blen;
    c->outoff = 0;
    free(body);
}

static void mh_accept(pc_node *n, uint64_t now)
{
    for (;;) {
        int fd = accept4(n->mh_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (n->n_mh == MANHOLE_MAX_CLIENTS) {
            close(fd); /* bounded: busy clients must retry */
            continue;
        }
        mh_client *c = &n->mh[n->n_mh++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->pfd = -1;
        c->deadline = now + MANHOLE_TIMEOUT;
    }
}

/* Returns false when the client is finished (close it). */
static bool mh_serve(pc_node *n, mh_client *c, short re, uint64_t now)
{
    if (!c->out && (re & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t got = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (got <= 0)
            return false;
        c->inlen += (size_t)got;
        pc_manhole_req kind = pc_manhole_parse_request(c->in, c->inlen);
        if (kind == PC_MANHOLE_REQ_INCOMPLETE)
            return true;
        mh_respond(n, c, kind, now);
        if (!c->out)
            return false;
    }
    if (c->out) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        if (w <= 0)
            return false;
        c->outoff += (size_t)w;
        return c->outoff < c->outlen;
    }
    return true;
}

/* ---- ping --------------------------------------------------------------------- */

static void ping_summary(pc_node *n)
{
    char h[2 * PC_KEY_LEN + 1];
    hex(n->ping_key, h);
    unsigned loss = n->ping_sent ? 100u * (n->ping_sent - n->ping_recv) / n->ping_sent : 0;
    fprintf(n->out, "--- %s ping statistics ---\n%u sent, %u received, %u%% loss", h,
            n->ping_sent, n->ping_recv, loss);
    if (n->ping_recv)
        fprintf(n->out, ", rtt min/avg/max = %.3f/%.3f/%.3f ms", n->rtt_min,
                n->rtt_sum / n->ping_recv, n->rtt_max);
    fprintf(n->out, "\n");
    n->ping_done = true;
}

static void ping_tick(pc_node *n, uint64_t now)
{
    if (!n->ping || n->ping_done || !n->ping_next)
        return;
    if (n->ping_sent == n->ping_count) {
        if (now >= n->ping_end || n->ping_recv == n->ping_sent)
            ping_summary(n);
        return;
    }
    if (now < n->ping_next)
        return;
    uint8_t payload[PC_PING_LEN];
    uint32_t seq = ++n->ping_sent;
    pc_ping_encode(payload, false, seq, mono_us());
    int rc = pc_router_send_traffic(n->r, n->ping_key, payload, sizeof payload, now);
    if (rc != PC_OK) {
        char h[2 * PC_KEY_LEN + 1];
        hex(n->ping_key, h);
        fprintf(n->out, "seq=%u: not sent to %s: %s\n", seq, h, pc_strerror(rc));
    }
    n->ping_next = now + PC_PING_INTERVAL;
    if (n->ping_sent == n->ping_count)
        n->ping_end = now + PC_PING_LINGER;
}

static uint64_t ping_deadline(const pc_node *n)
{
    if (!n->ping || n->ping_done || !n->ping_next)
        return UINT64_MAX;
    return n->ping_sent == n->ping_count ? n->ping_end : n->ping_next;
}

/* ---- lifecycle ------------------------------------------------------------------ */

int pc_node_new(pc_node **out, const pc_node_config *cfg, char *err, size_t errlen)
{
    pc_node *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return PC_ERR_NOMEM;
    }
    n->out = cfg->out ? cfg->out : stdout;
    n->mh_fd = -1;
    pthread_mutex_init(&n->adopt_mu, NULL);
    n->adopt_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->adopt_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        pc_node_free(n);
        return PC_ERR_INVALID;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    n->unix0_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    n->mono0_us = mono_us();
    uint64_t now = node_now(n);

    uint8_t pk[PC_KEY_LEN], sk[PC_SECRET_KEY_LEN];
    int rc = pc_keypair_from_seed(cfg->seed, pk, sk);
    if (rc == PC_OK)
        rc = pc_tcp_new(&n->tcp, sk, on_link, n);
    if (rc == PC_OK) {
        pc_router_callbacks cb = {.send_frame = cb_send, .deliver = cb_deliver,
                                  .peer_closed = cb_closed};
        rc = pc_router_new(&n->r, cfg->seed, NULL, &cb, n, now);
    }
    if (rc != PC_OK) {
        snprintf(err, errlen, "cannot create the router: %s", pc_strerror(rc));
        pc_node_free(n);
        return rc;
    }
    pc_tcp_attach(n->tcp, n->r);
    char h[2 * PC_KEY_LEN + 1];
    hex(pk, h);
    fprintf(n->out, "public key: %s\n", h);
    rc = sess_setup(n, cfg, err, errlen);
    if (rc != PC_OK) {
        pc_node_free(n);
        return rc;
    }

    if (cfg->ping) {
        if (cfg->ping_count == 0 || cfg->ping_count > PC_PING_MAX_COUNT) {
            snprintf(err, errlen, "--count must be 1..%u", PC_PING_MAX_COUNT);
            pc_node_free(n);
            return PC_ERR_INVALID;
        }
        n->ping = true;
        memcpy(n->ping_key, cfg->ping_key, PC_KEY_LEN);
        n->ping_count = cfg->ping_count;
        n->ping_answered = calloc(cfg->ping_count, sizeof *n->ping_answered);
        if (!n->ping_answered) {
            snprintf(err, errlen, "out of memory");
            pc_node_free(n);
            return PC_ERR_NOMEM;
        }
    }

    char bound[PC_TCP_URI_MAX];
    /* dual stack, so both IPv4 and link-local IPv6 beacons lead somewhere */
    const char *listen = cfg->listen ? cfg->listen : cfg->multicast ? "[::]:0" : NULL;
    if (listen) {
        if (pc_tcp_listen(n->tcp, listen, bound, sizeof bound) != PC_OK) {
            snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(errno));
            pc_node_free(n);
            return PC_ERR_INVALID;
        }
        fprintf(n->out, "listening on %s\n", bound);
    }
    if (cfg->multicast) {
        const char *colon = strrchr(bound, ':');
        unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
        if (port == 0 || port > 65535 ||
            pc_mcast_new(&n->mcast, pk, (uint16_t)port, cfg->multicast_if, on_beacon, n) != PC_OK) {
            snprintf(err, errlen, "cannot start multicast discovery: %s", strerror(errno));
            pc_node_free(n);
            return PC_ERR_INVALID;
        }
        fprintf(n->out, "multicast discovery on port %lu\n", port);
    }
    if (cfg->listen_ws) {
        if (pc_tcp_listen_ws(n->tcp, cfg->listen_ws, bound, sizeof bound) != PC_OK) {
            snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen_ws, strerror(errno));
            pc_node_free(n);
            return PC_ERR_INVALID;
        }
        fprintf(n->out, "listening for websocket on ws://%s/\n", bound);
    }
    if (cfg->manhole) {
        n->mh_fd = pc_tcp_listen_socket(cfg->manhole, bound, sizeof bound);
        if (n->mh_fd < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", cfg->manhole, strerror(errno));
            pc_node_free(n);
            return PC_ERR_INVALID;
        }
        fprintf(n->out, "manhole on http://%s/manhole\n", bound);
    }
    if (cfg->ca_file && pc_tcp_set_ca_file(n->tcp, cfg->ca_file) != PC_OK) {
        snprintf(err, errlen, "out of memory");
        pc_node_free(n);
        return PC_ERR_NOMEM;
    }
    for (size_t i = 0; i < cfg->n_connect; i++) {
        if (pc_tcp_add_static(n->tcp, cfg->connect[i], now) != PC_OK) {
            snprintf(err, errlen,
                     "bad --connect address '%s' (want HOST:PORT, ws://HOST:PORT/PATH or "
                     "wss://HOST[:PORT]/PATH, at most %d)",
                     cfg->connect[i], PC_TCP_MAX_STATIC);
            pc_node_free(n);
            return PC_ERR_INVALID;
        }
    }
    if (cfg->ping) {
        char t[2 * PC_KEY_LEN + 1];
        hex(n->ping_key, t);
        fprintf(n->out, "PING %s: %u pings of %d bytes (pinegate test traffic)\n", t,
                n->ping_count, PC_PING_LEN);
    }
    fflush(n->out);
    sodium_memzero(sk, sizeof sk);
    *out = n;
    return PC_OK;
}

int pc_node_adopt_ws(pc_node *n, int fd, const uint8_t *extra, size_t len, const char *remote,
                     void (*release)(void *ctx), void *ctx)
{
    uint8_t *copy = NULL;
    if (len > PC_WS_MSG_MAX + PC_WS_FRAME_OVERHEAD || (len && !(copy = malloc(len)))) {
        release(ctx);
        return len > PC_WS_MSG_MAX + PC_WS_FRAME_OVERHEAD ? PC_ERR_INVALID : PC_ERR_NOMEM;
    }
    if (len)
        memcpy(copy, extra, len);
    pthread_mutex_lock(&n->adopt_mu);
    if (n->n_adopt == PC_NODE_MAX_ADOPT) {
        pthread_mutex_unlock(&n->adopt_mu);
        free(copy);
        release(ctx);
        return PC_ERR_INVALID;
    }
    adopted *a = &n->adopt[n->n_adopt++];
    *a = (adopted){.fd = fd, .extra = copy, .len = len, .release = release, .ctx = ctx};
    snprintf(a->remote, sizeof a->remote, "%s", remote ? remote : "websocket");
    pthread_mutex_unlock(&n->adopt_mu);
    uint64_t one = 1;
    /* can only fail when the counter is about to overflow: the loop is woken anyway */
    ssize_t w = write(n->adopt_fd, &one, sizeof one);
    (void)w;
    return PC_OK;
}

/* Turns queued connections into links; runs on the loop's thread. */
static void adopt_pending(pc_node *n, uint64_t now)
{
    uint64_t v;
    if (read(n->adopt_fd, &v, sizeof v) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&n->adopt_mu);
    adopted q[PC_NODE_MAX_ADOPT];
    size_t nq = n->n_adopt;
    memcpy(q, n->adopt, nq * sizeof q[0]);
    n->n_adopt = 0;
    pthread_mutex_unlock(&n->adopt_mu);
    for (size_t i = 0; i < nq; i++) {
        if (pc_tcp_adopt_ws(n->tcp, q[i].fd, q[i].extra, q[i].len, q[i].remote, q[i].release, q[i].ctx, now) ==
            PC_OK)
            fprintf(n->out, "websocket peer from %s adopted\n", q[i].remote);
        else
            fprintf(n->out, "websocket peer from %s refused: too many links\n", q[i].remote);
        free(q[i].extra);
    }
}

void pc_node_free(pc_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_adopt; i++) {
        n->adopt[i].release(n->adopt[i].ctx);
        free(n->adopt[i].extra);
    }
    if (n->adopt_fd >= 0)
        close(n->adopt_fd);
    pthread_mutex_destroy(&n->adopt_mu);
    while (n->n_mh)
        mh_close(n, n->n_mh - 1);
    if (n->mh_fd >= 0)
        close(n->mh_fd);
    pc_http_free(n->http);
    n->http = NULL; /* stream callbacks during the session's shutdown find no HTTP layer */
    if (n->sess) {
        pc_session_free(n->sess, sess_now());
        pc_tcp_flush(n->tcp, node_now(n)); /* let peers see the CONNECTION_CLOSEs */
    }
    free(n->dq);
    free(n->serve_root);
    free(n->hg_path);
    pc_mcast_free(n->mcast);
    pc_tcp_free(n->tcp);
    pc_router_free(n->r);
    free(n->ping_answered);
    free(n);
}

static void send_pongs(pc_node *n, uint64_t now)
{
    for (size_t i = 0; i < n->n_pongs; i++)
        pc_router_send_traffic(n->r, n->pongs[i].dest, n->pongs[i].payload, PC_PING_LEN, now);
    n->n_pongs = 0;
}

int pc_node_run(pc_node *n, int stop_fd)
{
    struct pollfd fds[POLL_MAX];
    for (;;) {
        uint64_t now = node_now(n);
        ping_tick(n, now);
        if (n->ping_done)
            break;
        send_pongs(n, now);
        sess_tick(n, now);
        if (n->hg_finished)
            break;
        pc_tcp_flush(n->tcp, now);
        fflush(n->out);

        uint64_t deadline = pc_router_next_deadline(n->r);
        uint64_t d = pc_tcp_next_deadline(n->tcp);
        if (d < deadline)
            deadline = d;
        d = ping_deadline(n);
        if (d < deadline)
            deadline = d;
        d = sess_deadline(n, now);
        if (d < deadline)
            deadline = d;
        d = n->mcast ? pc_mcast_next_deadline(n->mcast) : UINT64_MAX;
        if (d < deadline)
            deadline = d;
        for (size_t i = 0; i < n->n_mh; i++)
            if (n->mh[i].deadline < deadline)
                deadline = n->mh[i].deadline;
        now = node_now(n);
        int timeout = deadline <= now ? 0 : deadline - now > 60000 ? 60000 : (int)(deadline - now);

        size_t nf = 0;
        int stop_idx = -1, mh_idx = -1;
        if (stop_fd >= 0) {
            stop_idx = (int)nf;
            fds[nf++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
        }
        if (n->mh_fd >= 0) {
            mh_idx = (int)nf;
            fds[nf++] = (struct pollfd){.fd = n->mh_fd, .events = POLLIN};
        }
        int adopt_idx = (int)nf;
        fds[nf++] = (struct pollfd){.fd = n->adopt_fd, .events = POLLIN};
        for (size_t i = 0; i < n->n_mh; i++) {
            n->mh[i].pfd = (int)nf;
            fds[nf++] = (struct pollfd){.fd = n->mh[i].fd,
                                        .events = n->mh[i].out ? POLLOUT : POLLIN};
        }
        size_t mc0 = nf;
        if (n->mcast)
            nf += pc_mcast_pollfds(n->mcast, fds + mc0, POLL_MAX - mc0);
        size_t tcp0 = nf;
        nf += pc_tcp_pollfds(n->tcp, fds + tcp0, POLL_MAX - tcp0);

        if (poll(fds, nf, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "pinecone: poll: %s\n", strerror(errno));
            return 1;
        }
        now = node_now(n);
        if (stop_idx >= 0 && (fds[stop_idx].revents & POLLIN)) {
            if (n->ping && !n->ping_done && n->ping_sent)
                ping_summary(n); /* interrupted: still say what came back */
            fflush(n->out);
            return 0;
        }
        for (size_t i = n->n_mh; i-- > 0;) {
            mh_client *c = &n->mh[i];
            short re = c->pfd >= 0 ? fds[c->pfd].revents : 0;
            if ((re && !mh_serve(n, c, re, now)) || now >= c->deadline)
                mh_close(n, i);
        }
        if (mh_idx >= 0 && (fds[mh_idx].revents & POLLIN))
            mh_accept(n, now);
        if (fds[adopt_idx].revents & POLLIN)
            adopt_pending(n, now);
        if (n->mcast)
            pc_mcast_process(n->mcast, fds + mc0, tcp0 - mc0, now);
        pc_tcp_process(n->tcp, fds + tcp0, nf - tcp0, now);
        if (pc_router_next_deadline(n->r) <= now)
            pc_router_handle_timeout(n->r, now);
    }
    if (n->hg) {
        pc_tcp_flush(n->tcp, node_now(n));
        fflush(n->body_out);
        return n->hg_finished && n->hg_ok == n->hg_count ? 0 : 1;
    }
    return n->ping_recv > 0 ? 0 : 1;
}
