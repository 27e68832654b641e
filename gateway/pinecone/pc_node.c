/* pc_node: the poll loop of a standalone node. Order of work per turn: run the ping
 * schedule, send queued pongs, flush the transport, sleep in poll() until the earliest
 * deadline, then serve the manhole, the transport, and the router's timers. Router
 * callbacks only queue or print; everything that re-enters the router (sending pongs,
 * peer_down, peer_writable) happens in the loop, never inside a callback. */
#include "pinecone/pc_node.h"

#include <errno.h>
#include <sodium.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pinecone/pc_handshake.h"
#include "pinecone/pc_manhole.h"
#include "pinecone/pc_multicast.h"
#include "pinecone/pc_router.h"
#include "pinecone/pc_tcp.h"

#define MANHOLE_MAX_CLIENTS 8
#define MANHOLE_TIMEOUT 10000 /* ms a manhole client may take for its request/response */
#define POLL_MAX (2 + MANHOLE_MAX_CLIENTS + PC_TCP_MAX_LINKS + 3)

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
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t node_now(const pc_node *n) { return n->unix0_ms + (mono_us() - n->mono0_us) / 1000u; }

static void hex(const uint8_t *k, char out[2 * PC_KEY_LEN + 1])
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < PC_KEY_LEN; i++) {
        out[2 * i] = d[k[i] >> 4];
        out[2 * i + 1] = d[k[i] & 15];
    }
    out[2 * PC_KEY_LEN] = '\0';
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
    if (!pc_ping_decode(payload, len, &is_pong, &seq, &usec))
        return;
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
    const char *listen = cfg->listen ? cfg->listen : cfg->multicast ? "0.0.0.0:0" : NULL;
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
    for (size_t i = 0; i < cfg->n_connect; i++) {
        if (pc_tcp_add_static(n->tcp, cfg->connect[i], now) != PC_OK) {
            snprintf(err, errlen,
                     "bad --connect address '%s' (want HOST:PORT or ws://HOST:PORT/PATH, at most %d)",
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

void pc_node_free(pc_node *n)
{
    if (!n)
        return;
    while (n->n_mh)
        mh_close(n, n->n_mh - 1);
    if (n->mh_fd >= 0)
        close(n->mh_fd);
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
        pc_tcp_flush(n->tcp, now);
        fflush(n->out);

        uint64_t deadline = pc_router_next_deadline(n->r);
        uint64_t d = pc_tcp_next_deadline(n->tcp);
        if (d < deadline)
            deadline = d;
        d = ping_deadline(n);
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
        if (n->mcast)
            pc_mcast_process(n->mcast, fds + mc0, tcp0 - mc0, now);
        pc_tcp_process(n->tcp, fds + tcp0, nf - tcp0, now);
        if (pc_router_next_deadline(n->r) <= now)
            pc_router_handle_timeout(n->r, now);
    }
    return n->ping_recv > 0 ? 0 : 1;
}
