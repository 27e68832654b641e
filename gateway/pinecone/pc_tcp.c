/* pc_tcp: sockets, handshakes, de-framing, bounded write buffers and static-peer
 * redialling for one pc_router. See pc_tcp.h for the rules; the notes here are about
 * mechanics. Links are never freed inside a router callback: a failing link is marked
 * dead and reaped by reap(), which is the only place that calls pc_router_peer_down.
 * A wss:// link runs GnuTLS over its socket: link_recv/link_xmit are the only places
 * that touch the socket's bytes, so everything above them is the same as for ws://. */
#include "pinecone/pc_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pinecone/pc_deframer.h"
#include "pinecone/pc_handshake.h"
#include "pinecone/pc_ws.h"

#define READ_CHUNK 16384
#define ACCEPT_BURST 16

/* L_TLS only on wss:// links (the TLS handshake), L_UPGRADE only on WebSocket links: the
 * HTTP upgrade before the Pinecone handshake. */
typedef enum tlink_state { L_CONNECTING, L_TLS, L_UPGRADE, L_HANDSHAKE, L_UP } tlink_state;

typedef enum tlink_kind { K_TCP, K_WS_CLIENT, K_WS_SERVER } tlink_kind;

typedef struct tlink {
    int fd;
    tlink_state state;
    bool outbound;
    tlink_kind kind;
    bool discovered;             /* dialled after a multicast beacon */
    bool have_want;              /* discovered: the key the beacon advertised */
    uint8_t want_key[PC_KEY_LEN];
    pc_ws *ws;                   /* WebSocket framing once upgraded */
    gnutls_session_t tls;        /* wss:// only */
    bool tls_retry;              /* the last record send said AGAIN: resume it */
    uint8_t *hbuf;               /* WebSocket: upgrade head received so far */
    size_t hlen;
    char ws_key[PC_WS_KEY_LEN + 1];
    char ws_host[PC_TCP_URI_MAX], ws_path[PC_WS_PATH_MAX];
    int static_idx;              /* index into statics, -1 for accepted streams */
    int port;                    /* router port while up, else 0 */
    uint8_t key[PC_KEY_LEN];     /* after the handshake */
    pc_deframer df;
    uint8_t *wbuf;               /* PC_TCP_WBUF_MAX bytes; data at [whead, whead+wlen) */
    size_t whead, wlen;
    bool blocked;                /* the router holds frames until peer_writable */
    bool dead;
    uint64_t deadline;           /* dial / handshake deadline while not up */
    uint64_t stalled_since;      /* when the socket last refused bytes we had; 0 = not stalled */
    uint64_t traffic_frames;
    char uri[PC_TCP_URI_MAX];
    int pfd;                     /* index in the last pollfd array, -1 if none */
    void (*release)(void *ctx);  /* adopted links: hands the socket back instead of close */
    void *release_ctx;
} tlink;

typedef struct static_peer {
    char uri[PC_TCP_URI_MAX];    /* as configured: "host:port" or "ws://host:port/path" */
    char hostport[PC_TCP_URI_MAX];
    char path[PC_WS_PATH_MAX];
    char host[256];              /* wss: the name the certificate must carry */
    bool ws, tls;
    double attempts;
    uint64_t next;               /* earliest next dial */
    bool have_key;
    uint8_t key[PC_KEY_LEN];
    tlink *l;                     /* the stream dialled for it, if open */
} static_peer;

struct pc_tcp {
    pc_router *r;
    uint8_t sk[PC_SECRET_KEY_LEN];
    uint8_t hs[PC_HANDSHAKE_LEN];
    int listen_fd, listen_pfd;
    int ws_listen_fd, ws_listen_pfd;
    tlink *links[PC_TCP_MAX_LINKS];
    size_t n_links;
    tlink *by_port[PC_MAX_PORT + 1];
    static_peer statics[PC_TCP_MAX_STATIC];
    size_t n_statics;
    uint64_t next_worker;
    pc_tcp_link_cb link_cb;
    void *ud;
    gnutls_certificate_credentials_t tls_creds; /* made at the first wss:// peer */
    char *ca_file;
};

static const uint8_t *our_key(const pc_tcp *t) { return t->sk + PC_SEED_LEN; }

typedef struct feed_ctx {
    pc_tcp *t;
    tlink *l;
    uint64_t now;
} feed_ctx;

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Splits "host:port" or "[v6]:port" into parts. */
static bool split_hostport(const char *in, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(in, ':');
    if (!colon || colon == in || !colon[1] || strlen(colon + 1) >= pcap)
        return false;
    const char *h = in;
    size_t hl = (size_t)(colon - in);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hcap)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static struct addrinfo *resolve(const char *hostport, bool passive)
{
    char host[256], port[8];
    if (!split_hostport(hostport, host, sizeof host, port, sizeof port))
        return NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return NULL;
    return res;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(out, cap, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%u", ip, port);
    } else {
        snprintf(out, cap, "?");
    }
}

int pc_tcp_new(pc_tcp **out, const uint8_t sk[PC_SECRET_KEY_LEN], pc_tcp_link_cb link_cb,
               void *ud)
{
    pc_tcp *t = calloc(1, sizeof *t);
    if (!t)
        return PC_ERR_NOMEM;
    memcpy(t->sk, sk, PC_SECRET_KEY_LEN);
    pc_handshake_encode(t->sk, t->hs);
    t->listen_fd = -1;
    t->listen_pfd = -1;
    t->ws_listen_fd = -1;
    t->ws_listen_pfd = -1;
    t->link_cb = link_cb;
    t->ud = ud;
    *out = t;
    return PC_OK;
}

void pc_tcp_attach(pc_tcp *t, pc_router *r) { t->r = r; }

static void link_free(tlink *l)
{
    if (l->tls)
        gnutls_deinit(l->tls);
    if (l->release)
        l->release(l->release_ctx);
    else if (l->fd >= 0)
        close(l->fd);
    pc_deframer_free(&l->df);
    pc_ws_free(l->ws);
    free(l->hbuf);
    free(l->wbuf);
    free(l);
}

void pc_tcp_free(pc_tcp *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_links; i++)
        link_free(t->links[i]);
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    if (t->ws_listen_fd >= 0)
        close(t->ws_listen_fd);
    if (t->tls_creds)
        gnutls_certificate_free_credentials(t->tls_creds);
    free(t->ca_file);
    free(t);
}

int pc_tcp_set_ca_file(pc_tcp *t, const char *path)
{
    char *p = path ? strdup(path) : NULL;
    if (path && !p)
        return PC_ERR_NOMEM;
    free(t->ca_file);
    t->ca_file = p;
    return PC_OK;
}

/* ---- TLS for wss:// ---------------------------------------------------------------- */

static int tls_creds(pc_tcp *t)
{
    if (t->tls_creds)
        return PC_OK;
    if (gnutls_certificate_allocate_credentials(&t->tls_creds) < 0) {
        t->tls_creds = NULL;
        return PC_ERR_NOMEM;
    }
    int n = t->ca_file ? gnutls_certificate_set_x509_trust_file(t->tls_creds, t->ca_file, GNUTLS_X509_FMT_PEM)
                       : gnutls_certificate_set_x509_system_trust(t->tls_creds);
    if (n <= 0) { /* no trust anchor: every server would be refused anyway */
        gnutls_certificate_free_credentials(t->tls_creds);
        t->tls_creds = NULL;
        return PC_ERR_TLS;
    }
    return PC_OK;
}

/* A client session on the link's socket that checks the certificate against `host`. */
static int tls_start(pc_tcp *t, tlink *l, const char *host)
{
    if (tls_creds(t) != PC_OK || gnutls_init(&l->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) < 0) {
        l->tls = NULL;
        return PC_ERR_TLS;
    }
    bool is_ip = strspn(host, "0123456789.") == strlen(host) || strchr(host, ':');
    if (gnutls_set_default_priority(l->tls) < 0 ||
        gnutls_credentials_set(l->tls, GNUTLS_CRD_CERTIFICATE, t->tls_creds) < 0 ||
        (!is_ip && gnutls_server_name_set(l->tls, GNUTLS_NAME_DNS, host, strlen(host)) < 0))
        return PC_ERR_TLS;
    gnutls_session_set_verify_cert(l->tls, host, 0);
    gnutls_transport_set_int(l->tls, l->fd);
    return PC_OK;
}

/* Reads from the socket, through TLS on wss. Returns bytes, 0 at EOF, -1 on error, or
 * -2 when nothing can be read now. */
static ssize_t link_recv(tlink *l, uint8_t *buf, size_t cap)
{
    if (!l->tls) {
        ssize_t n = read(l->fd, buf, cap);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return -2;
        return n < 0 ? -1 : n;
    }
    ssize_t n = gnutls_record_recv(l->tls, buf, cap);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        return -2;
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    return n < 0 ? -1 : n;
}

/* Writes to the socket, through TLS on wss. Same returns as link_recv. A TLS record
 * that could not go out is resumed by the next call (GnuTLS keeps it encrypted). */
static ssize_t link_xmit(tlink *l, const uint8_t *data, size_t len)
{
    if (!l->tls) {
        ssize_t n = send(l->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return -2;
        return n < 0 ? -1 : n;
    }
    ssize_t n = l->tls_retry ? gnutls_record_send(l->tls, NULL, 0) : gnutls_record_send(l->tls, data, len);
    l->tls_retry = n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED;
    if (l->tls_retry)
        return -2;
    return n < 0 ? -1 : n;
}

int pc_tcp_listen_socket(const char *hostport, char *bound, size_t cap)
{
    struct addrinfo *res = resolve(hostport, true);
    if (!res) {
        errno = EINVAL;
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0 &&
            set_nonblock(fd) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (bound)
        format_addr((struct sockaddr *)&ss, bound, cap);
    return fd;
}

int pc_tcp_listen(pc_tcp *t, const char *hostport, char *bound, size_t cap)
{
    int fd = pc_tcp_listen_socket(hostport, bound, cap);
    if (fd < 0)
        return PC_ERR_INVALID;
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    t->listen_fd = fd;
    return PC_OK;
}

int pc_tcp_listen_ws(pc_tcp *t, const char *hostport, char *bound, size_t cap)
{
    int fd = pc_tcp_listen_socket(hostport, bound, cap);
    if (fd < 0)
        return PC_ERR_INVALID;
    if (t->ws_listen_fd >= 0)
        close(t->ws_listen_fd);
    t->ws_listen_fd = fd;
    return PC_OK;
}

static tlink *link_new(pc_tcp *t, int fd, tlink_kind kind, bool outbound, int static_idx,
                       const char *uri)
{
    if (t->n_links >= PC_TCP_MAX_LINKS)
        return NULL;
    tlink *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->wbuf = malloc(PC_TCP_WBUF_MAX);
    if (!l->wbuf || pc_deframer_init(&l->df, true) != PC_OK) {
        free(l->wbuf);
        free(l);
        return NULL;
    }
    if (kind != K_TCP && !(l->hbuf = malloc(PC_WS_HTTP_MAX))) {
        pc_deframer_free(&l->df);
        free(l->wbuf);
        free(l);
        return NULL;
    }
    l->fd = fd;
    l->kind = kind;
    l->outbound = outbound;
    l->static_idx = static_idx;
    l->pfd = -1;
    snprintf(l->uri, sizeof l->uri, "%s", uri);
    t->links[t->n_links++] = l;
    return l;
}

/* Appends up to len raw bytes to the write buffer; returns how many fit. */
static size_t wbuf_put(tlink *l, const uint8_t *data, size_t len)
{
    size_t room = PC_TCP_WBUF_MAX - l->wlen;
    if (len > room)
        len = room;
    if (l->whead + l->wlen + len > PC_TCP_WBUF_MAX) {
        memmove(l->wbuf, l->wbuf + l->whead, l->wlen);
        l->whead = 0;
    }
    memcpy(l->wbuf + l->whead + l->wlen, data, len);
    l->wlen += len;
    return len;
}

static size_t ws_write_cb(const uint8_t *data, size_t len, void *ud)
{
    return wbuf_put(((feed_ctx *)ud)->l, data, len);
}

static int ws_data_cb(const uint8_t *data, size_t len, void *ud);

static pc_ws_io ws_io(feed_ctx *c) { return (pc_ws_io){ws_write_cb, ws_data_cb, c}; }

/* Queues Pinecone stream bytes: raw on TCP, one binary message on WebSocket. The caller
 * has checked the room (len, plus PC_WS_FRAME_OVERHEAD on WebSocket). */
static int link_send(pc_tcp *t, tlink *l, const uint8_t *data, size_t len, uint64_t now)
{
    if (!l->ws) {
        wbuf_put(l, data, len);
        return PC_OK;
    }
    feed_ctx c = {t, l, now};
    pc_ws_io io = ws_io(&c);
    return pc_ws_send(l->ws, data, len, &io);
}

/* The stream is open (and upgraded, on WebSocket): both sides send their handshake
 * straight away. */
static void start_handshake(pc_tcp *t, tlink *l, uint64_t now)
{
    l->state = L_HANDSHAKE;
    l->deadline = now + PC_TCP_HANDSHAKE_TIMEOUT;
    if (link_send(t, l, t->hs, PC_HANDSHAKE_LEN, now) != PC_OK)
        l->dead = true;
}

static void stream_open(pc_tcp *t, tlink *l, uint64_t now);

/* Drives the TLS handshake of a wss:// link; once done the upgrade starts. */
static void tls_step(pc_tcp *t, tlink *l, uint64_t now)
{
    int rc = gnutls_handshake(l->tls);
    if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
        return;
    if (rc < 0) {
        l->dead = true; /* includes a certificate that does not verify for the host */
        return;
    }
    stream_open(t, l, now);
}

/* The TCP connection is up: TCP links hand over to the handshake, WebSocket clients
 * send their upgrade request (after TLS on wss://) and servers wait for one. */
static void stream_open(pc_tcp *t, tlink *l, uint64_t now)
{
    int one = 1;
    setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (l->tls && l->state != L_TLS) {
        l->state = L_TLS;
        l->deadline = now + PC_TCP_HANDSHAKE_TIMEOUT;
        tls_step(t, l, now);
        return;
    }
    if (l->kind == K_TCP) {
        start_handshake(t, l, now);
        return;
    }
    l->state = L_UPGRADE;
    l->deadline = now + PC_TCP_HANDSHAKE_TIMEOUT;
    if (l->kind == K_WS_CLIENT) {
        char req[1024];
        pc_ws_new_key(l->ws_key);
        size_t n = pc_ws_build_request(req, sizeof req, l->ws_host, l->ws_path, l->ws_key);
        if (!n)
            l->dead = true;
        else
            wbuf_put(l, (const uint8_t *)req, n);
    }
}

static void static_failed(pc_tcp *t, static_peer *sp, uint64_t now)
{
    (void)t;
    sp->attempts++;
    double wait = 1000.0;
    for (int i = 0; i < (int)sp->attempts && wait < PC_TCP_BACKOFF_MAX; i++)
        wait *= 2;
    if (wait > PC_TCP_BACKOFF_MAX)
        wait = PC_TCP_BACKOFF_MAX;
    sp->next = now + (uint64_t)wait;
}

/* Starts a non-blocking connect; returns the fd or -1. *connected: done at once. */
static int connect_to(const char *hostport, bool *connected)
{
    struct addrinfo *res = resolve(hostport, false);
    int fd = -1;
    *connected = false;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (set_nonblock(fd) != 0) {
            close(fd);
            fd = -1;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            *connected = true;
        } else if (errno != EINPROGRESS) {
            close(fd);
            fd = -1;
        }
    }
    if (res)
        freeaddrinfo(res);
    return fd;
}

static void begin(pc_tcp *t, tlink *l, bool connected, uint64_t now)
{
    if (connected) {
        stream_open(t, l, now);
    } else {
        l->state = L_CONNECTING;
        l->deadline = now + PC_TCP_DIAL_TIMEOUT;
    }
}

static void dial(pc_tcp *t, int idx, uint64_t now)
{
    static_peer *sp = &t->statics[idx];
    bool connected;
    int fd = connect_to(sp->hostport, &connected);
    tlink *l = fd >= 0 ? link_new(t, fd, sp->ws ? K_WS_CLIENT : K_TCP, true, idx, sp->uri) : NULL;
    if (!l) {
        if (fd >= 0)
            close(fd);
        static_failed(t, sp, now);
        return;
    }
    if (sp->ws) {
        snprintf(l->ws_host, sizeof l->ws_host, "%s", sp->hostport);
        snprintf(l->ws_path, sizeof l->ws_path, "%s", sp->path);
    }
    sp->l = l;
    if (sp->tls && tls_start(t, l, sp->host) != PC_OK) {
        l->dead = true;
        return;
    }
    begin(t, l, connected, now);
}

int pc_tcp_add_static(pc_tcp *t, const char *uri, uint64_t now)
{
    char host[256], port[8], hostport[PC_TCP_URI_MAX], path[PC_WS_PATH_MAX] = "";
    bool tls = strncmp(uri, "wss://", 6) == 0;
    bool ws = tls || strncmp(uri, "ws://", 5) == 0;
    if (t->n_statics >= PC_TCP_MAX_STATIC || strlen(uri) >= PC_TCP_URI_MAX)
        return PC_ERR_INVALID;
    if (tls) {
        /* same shape as ws://, port 443 when none is given (as Go dials the public peer) */
        const char *h = uri + 6;
        size_t hl = strcspn(h, "/");
        bool has_port = memchr(h, ':', hl) != NULL && h[0] != '[';
        char as_ws[PC_TCP_URI_MAX + 16];
        snprintf(as_ws, sizeof as_ws, "ws://%.*s%s%s", (int)hl, h, has_port ? "" : ":443", h + hl);
        if (!pc_ws_split_uri(as_ws, hostport, sizeof hostport, path, sizeof path))
            return PC_ERR_INVALID;
    } else if (ws) {
        if (!pc_ws_split_uri(uri, hostport, sizeof hostport, path, sizeof path))
            return PC_ERR_INVALID;
    } else {
        snprintf(hostport, sizeof hostport, "%s", uri);
    }
    if (!split_hostport(hostport, host, sizeof host, port, sizeof port))
        return PC_ERR_INVALID;
    for (size_t i = 0; i < t->n_statics; i++)
        if (strcmp(t->statics[i].uri, uri) == 0)
            return PC_OK;
    static_peer *sp = &t->statics[t->n_statics++];
    memset(sp, 0, sizeof *sp);
    snprintf(sp->uri, sizeof sp->uri, "%s", uri);
    snprintf(sp->hostport, sizeof sp->hostport, "%s", hostport);
    snprintf(sp->path, sizeof sp->path, "%s", path);
    snprintf(sp->host, sizeof sp->host, "%s", host);
    sp->ws = ws;
    sp->tls = tls;
    sp->next = now;
    if (!t->next_worker)
        t->next_worker = now + PC_TCP_WORKER_INTERVAL;
    dial(t, (int)(t->n_statics - 1), now);
    return PC_OK;
}

static tlink *up_link_with_key(const pc_tcp *t, const uint8_t key[PC_KEY_LEN], const tlink *except);

int pc_tcp_dial_discovered(pc_tcp *t, const uint8_t key[PC_KEY_LEN], const char *hostport,
                           uint64_t now)
{
    char host[256], port[8];
    if (strlen(hostport) >= PC_TCP_URI_MAX ||
        !split_hostport(hostport, host, sizeof host, port, sizeof port))
        return PC_ERR_INVALID;
    if (memcmp(key, our_key(t), PC_KEY_LEN) == 0 || up_link_with_key(t, key, NULL))
        return PC_ERR_PORT_IN_USE;
    for (size_t i = 0; i < t->n_links; i++) {
        const tlink *l = t->links[i];
        if (!l->dead && l->have_want && memcmp(l->want_key, key, PC_KEY_LEN) == 0)
            return PC_ERR_PORT_IN_USE; /* a dial for that key is under way */
    }
    bool connected;
    int fd = connect_to(hostport, &connected);
    tlink *l = fd >= 0 ? link_new(t, fd, K_TCP, true, -1, hostport) : NULL;
    if (!l) {
        if (fd >= 0)
            close(fd);
        return PC_ERR_INVALID;
    }
    l->discovered = true;
    l->have_want = true;
    memcpy(l->want_key, key, PC_KEY_LEN);
    begin(t, l, connected, now);
    return PC_OK;
}

static tlink *up_link_with_key(const pc_tcp *t, const uint8_t key[PC_KEY_LEN], const tlink *except)
{
    for (size_t i = 0; i < t->n_links; i++) {
        tlink *l = t->links[i];
        if (l != except && l->state == L_UP && !l->dead && l->port &&
            memcmp(l->key, key, PC_KEY_LEN) == 0)
            return l;
    }
    return NULL;
}

int pc_tcp_send_frame(pc_tcp *t, int port, const uint8_t *frame, size_t len)
{
    tlink *l = port > 0 && port <= PC_MAX_PORT ? t->by_port[port] : NULL;
    if (!l || l->dead)
        return PC_OK; /* the link is going away: nothing more will be written */
    size_t need = len + (l->ws ? PC_WS_FRAME_OVERHEAD : 0);
    if (l->wlen + need > PC_TCP_WBUF_MAX || (l->ws && pc_ws_want_write(l->ws))) {
        l->blocked = true;
        return PC_ERR_WOULDBLOCK;
    }
    /* a WebSocket that cannot queue is closing: the link dies, the frame with it */
    if (link_send(t, l, frame, len, 0) != PC_OK)
        l->dead = true;
    if (len > 5 && frame[5] == PC_FRAME_TRAFFIC)
        l->traffic_frames++;
    return PC_OK;
}

void pc_tcp_peer_closed(pc_tcp *t, int port, int reason)
{
    (void)reason;
    tlink *l = port > 0 && port <= PC_MAX_PORT ? t->by_port[port] : NULL;
    if (!l)
        return;
    /* The router already forgot the port: reap() must not call peer_down for it. */
    t->by_port[port] = NULL;
    if (t->link_cb)
        t->link_cb(t->ud, port, l->key, l->uri, false);
    l->port = 0;
    l->dead = true;
}

/* Second stream to a key already peered: both ends keep the stream dialled by the
 * higher key, so they close the same one. Returns the link to close. */
static tlink *duplicate_loser(const pc_tcp *t, tlink *fresh, tlink *old)
{
    if (fresh->outbound == old->outbound)
        return fresh;
    bool we_are_higher = pc_key_cmp(our_key(t), fresh->key) > 0;
    tlink *keep = we_are_higher == fresh->outbound ? fresh : old;
    return keep == fresh ? old : fresh;
}

static int on_handshake(pc_tcp *t, tlink *l, const uint8_t *data, size_t len, uint64_t now)
{
    int rc = pc_handshake_decode(data, len, l->key);
    if (rc != PC_OK)
        return rc;
    if (memcmp(l->key, our_key(t), PC_KEY_LEN) == 0)
        return PC_ERR_INVALID; /* dialled ourselves */
    static_peer *sp = l->static_idx >= 0 ? &t->statics[l->static_idx] : NULL;
    tlink *old = up_link_with_key(t, l->key, l);
    if (old && duplicate_loser(t, l, old) == l) {
        if (sp) {
            sp->attempts = 0;
            sp->have_key = true;
            memcpy(sp->key, l->key, PC_KEY_LEN);
        }
        return PC_ERR_PORT_IN_USE;
    }
    int port = pc_router_free_port(t->r);
    if (port == 0)
        return PC_ERR_PORT_IN_USE;
    l->state = L_UP;
    l->port = port;
    t->by_port[port] = l;
    if (sp) {
        sp->attempts = 0;
        sp->next = now;
        sp->have_key = true;
        memcpy(sp->key, l->key, PC_KEY_LEN);
    }
    if (t->link_cb)
        t->link_cb(t->ud, port, l->key, l->uri, true);
    rc = pc_router_peer_up(t->r, port, l->key, now);
    if (rc != PC_OK) {
        t->by_port[port] = NULL;
        l->port = 0;
        return rc;
    }
    if (old) {
        /* The new stream wins. It is up before the old one goes down, so the node is
         * never left without peers (that would restart its tree with a new sequence);
         * the price is that the peering moves to another port. */
        int oport = old->port;
        t->by_port[oport] = NULL;
        old->port = 0;
        old->dead = true;
        if (t->link_cb)
            t->link_cb(t->ud, oport, old->key, old->uri, false);
        pc_router_peer_down(t->r, oport, now);
    }
    return PC_OK;
}

static int feed_cb(bool is_handshake, const uint8_t *data, size_t len, void *ud)
{
    feed_ctx *c = ud;
    tlink *l = c->l;
    if (is_handshake)
        return on_handshake(c->t, l, data, len, c->now);
    if (l->state != L_UP || !l->port)
        return PC_ERR_NO_PEER;
    int rc = pc_router_recv(c->t->r, l->port, data, len, c->now);
    if (rc < 0)
        return rc; /* fatal for the peering; the router closed it already */
    return l->dead ? PC_ERR_NO_PEER : 0;
}

static int ws_data_cb(const uint8_t *data, size_t len, void *ud)
{
    feed_ctx *c = ud;
    return pc_deframer_feed(&c->l->df, data, len, feed_cb, c);
}

/* Refuses an upgrade with an HTTP error, best effort: the link is closed right after. */
static void refuse_upgrade(tlink *l, const char *status)
{
    char resp[256];
    size_t n = pc_ws_build_error(resp, sizeof resp, status);
    if (n && send(l->fd, resp, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        l->dead = true;
    l->dead = true;
}

/* Upgrade bytes arrived (at most PC_WS_HTTP_MAX are kept). On success the framing
 * starts, the handshake goes out, and whatever followed the head is fed as frames. */
static void on_upgrade_bytes(pc_tcp *t, tlink *l, const uint8_t *in, size_t n, uint64_t now)
{
    size_t take = PC_WS_HTTP_MAX - l->hlen < n ? PC_WS_HTTP_MAX - l->hlen : n;
    memcpy(l->hbuf + l->hlen, in, take);
    l->hlen += take;
    size_t used = 0;
    int rc;
    if (l->kind == K_WS_SERVER) {
        char key[PC_WS_KEY_LEN + 1];
        rc = pc_ws_parse_request(l->hbuf, l->hlen, &used, key);
        if (rc == PC_ERR_TRUNCATED)
            return;
        if (rc != PC_OK) {
            refuse_upgrade(l, rc == PC_ERR_NO_PEER ? "404 Not Found"
                              : rc == PC_ERR_TOO_LONG ? "431 Request Header Fields Too Large"
                                                      : "400 Bad Request");
            return;
        }
        char resp[256];
        size_t rl = pc_ws_build_response(resp, sizeof resp, key);
        wbuf_put(l, (const uint8_t *)resp, rl);
    } else {
        rc = pc_ws_parse_response(l->hbuf, l->hlen, &used, l->ws_key);
        if (rc == PC_ERR_TRUNCATED)
            return;
        if (rc != PC_OK) {
            l->dead = true;
            return;
        }
    }
    if (pc_ws_new(&l->ws, l->kind == K_WS_CLIENT) != PC_OK) {
        l->dead = true;
        return;
    }
    start_handshake(t, l, now);
    /* bytes after the head: from the buffered part, then from what did not fit in it */
    feed_ctx c = {t, l, now};
    pc_ws_io io = ws_io(&c);
    size_t rest = l->hlen - used;
    if (!l->dead && rest && pc_ws_feed(l->ws, l->hbuf + used, rest, &io) != PC_OK)
        l->dead = true;
    if (!l->dead && take < n && pc_ws_feed(l->ws, in + take, n - take, &io) != PC_OK)
        l->dead = true;
    free(l->hbuf);
    l->hbuf = NULL;
    l->hlen = 0;
}

static void on_bytes(pc_tcp *t, tlink *l, uint8_t *buf, ssize_t n, uint64_t now);

static void on_readable(pc_tcp *t, tlink *l, uint64_t now)
{
    uint8_t buf[READ_CHUNK];
    /* TLS may hold decrypted bytes the socket no longer signals: drain them */
    do {
        ssize_t n = link_recv(l, buf, sizeof buf);
        if (n == -2)
            return;
        if (n <= 0) {
            l->dead = true;
            return;
        }
        on_bytes(t, l, buf, n, now);
    } while (!l->dead && l->tls && gnutls_record_check_pending(l->tls) > 0);
}

static void on_bytes(pc_tcp *t, tlink *l, uint8_t *buf, ssize_t n, uint64_t now)
{
    feed_ctx c = {t, l, now};
    if (l->state == L_UPGRADE) {
        on_upgrade_bytes(t, l, buf, (size_t)n, now);
    } else if (l->ws) {
        pc_ws_io io = ws_io(&c);
        if (pc_ws_feed(l->ws, buf, (size_t)n, &io) != PC_OK)
            l->dead = true;
    } else if (pc_deframer_feed(&l->df, buf, (size_t)n, feed_cb, &c) != PC_OK) {
        l->dead = true;
    }
}

int pc_tcp_adopt_ws(pc_tcp *t, int fd, const uint8_t *extra, size_t len, const char *uri,
                    void (*release)(void *ctx), void *ctx, uint64_t now)
{
    tlink *l = set_nonblock(fd) == 0 ? link_new(t, fd, K_WS_SERVER, false, -1, uri) : NULL;
    if (!l) {
        if (release)
            release(ctx);
        else
            close(fd);
        return PC_ERR_NOMEM;
    }
    l->release = release;
    l->release_ctx = ctx;
    free(l->hbuf); /* the upgrade already happened elsewhere */
    l->hbuf = NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (pc_ws_new(&l->ws, false) != PC_OK) {
        l->dead = true; /* reaped (and released) like any failed link */
        return PC_OK;
    }
    start_handshake(t, l, now);
    feed_ctx c = {t, l, now};
    pc_ws_io io = ws_io(&c);
    if (!l->dead && len && pc_ws_feed(l->ws, extra, len, &io) != PC_OK)
        l->dead = true;
    return PC_OK;
}

static void on_connected(pc_tcp *t, tlink *l, uint64_t now)
{
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        l->dead = true;
        return;
    }
    stream_open(t, l, now);
}

static void accept_new(pc_tcp *t, int lfd, tlink_kind kind, uint64_t now)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        char uri[PC_TCP_URI_MAX];
        format_addr((struct sockaddr *)&ss, uri, sizeof uri);
        tlink *l = link_new(t, fd, kind, false, -1, uri);
        if (!l) {
            close(fd); /* at the link limit: refuse rather than grow */
            continue;
        }
        stream_open(t, l, now);
    }
}

/* Go closes a peering when one frame write takes over 3 s; here: when the socket has
 * taken nothing of what is buffered for that long. */
static void write_link(pc_tcp *t, tlink *l, uint64_t now)
{
    bool progress = false;
    if (l->ws && pc_ws_want_write(l->ws) && l->wlen < PC_TCP_WBUF_MAX / 2) {
        feed_ctx c = {t, l, now};
        pc_ws_io io = ws_io(&c);
        if (pc_ws_flush(l->ws, &io) != PC_OK) {
            l->dead = true;
            return;
        }
    }
    while (l->wlen) {
        ssize_t n = link_xmit(l, l->wbuf + l->whead, l->wlen);
        if (n == -2)
            break;
        if (n < 0) {
            l->dead = true;
            return;
        }
        l->whead += (size_t)n;
        l->wlen -= (size_t)n;
        progress = true;
    }
    if (!l->wlen) {
        l->whead = 0;
        l->stalled_since = 0;
    } else if (progress || !l->stalled_since) {
        l->stalled_since = now;
    }
    /* resume the router once half the buffer is free, so frames flow in batches */
    if (l->blocked && l->port && l->wlen <= PC_TCP_WBUF_MAX / 2 &&
        !(l->ws && pc_ws_want_write(l->ws))) {
        l->blocked = false;
        pc_router_peer_writable(t->r, l->port, now);
    }
}

/* Closes dead links; the only place that tells the router a port went down. */
static void reap(pc_tcp *t, uint64_t now)
{
    for (size_t i = 0; i < t->n_links;) {
        tlink *l = t->links[i];
        if (!l->dead) {
            i++;
            continue;
        }
        if (l->port) {
            int port = l->port;
            t->by_port[port] = NULL;
            l->port = 0;
            if (t->link_cb)
                t->link_cb(t->ud, port, l->key, l->uri, false);
            pc_router_peer_down(t->r, port, now);
        }
        if (l->static_idx >= 0) {
            static_peer *sp = &t->statics[l->static_idx];
            if (sp->l == l) {
                sp->l = NULL;
                /* failed before the handshake completed: back off */
                if (l->state != L_UP)
                    static_failed(t, sp, now);
            }
        }
        link_free(l);
        t->links[i] = t->links[--t->n_links];
    }
}

void pc_tcp_flush(pc_tcp *t, uint64_t now)
{
    /* peer_writable may queue more frames on other links; a second pass writes them */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < t->n_links; i++) {
            tlink *l = t->links[i];
            if (!l->dead && l->state != L_CONNECTING && l->state != L_TLS &&
                (l->wlen || l->blocked || (l->ws && pc_ws_want_write(l->ws))))
                write_link(t, l, now);
        }
    reap(t, now);
}

size_t pc_tcp_pollfds(pc_tcp *t, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    t->listen_pfd = -1;
    if (t->listen_fd >= 0 && n < cap) {
        t->listen_pfd = (int)n;
        fds[n++] = (struct pollfd){.fd = t->listen_fd, .events = POLLIN};
    }
    t->ws_listen_pfd = -1;
    if (t->ws_listen_fd >= 0 && n < cap) {
        t->ws_listen_pfd = (int)n;
        fds[n++] = (struct pollfd){.fd = t->ws_listen_fd, .events = POLLIN};
    }
    for (size_t i = 0; i < t->n_links; i++) {
        tlink *l = t->links[i];
        l->pfd = -1;
        if (l->dead || n >= cap)
            continue;
        short ev = l->state == L_CONNECTING ? POLLOUT : POLLIN;
        if (l->state == L_TLS)
            ev = gnutls_record_get_direction(l->tls) ? POLLOUT : POLLIN;
        else if (l->state != L_CONNECTING && (l->wlen || (l->ws && pc_ws_want_write(l->ws))))
            ev |= POLLOUT;
        l->pfd = (int)n;
        fds[n++] = (struct pollfd){.fd = l->fd, .events = ev};
    }
    return n;
}

static static_peer *static_connected(pc_tcp *t, static_peer *sp)
{
    if (sp->l)
        return sp;
    if (sp->have_key && up_link_with_key(t, sp->key, NULL))
        return sp;
    return NULL;
}

static void timers(pc_tcp *t, uint64_t now)
{
    for (size_t i = 0; i < t->n_links; i++) {
        tlink *l = t->links[i];
        if (l->state != L_UP && now >= l->deadline)
            l->dead = true;
        if (l->wlen && l->stalled_since && now - l->stalled_since > PC_TCP_WRITE_TIMEOUT)
            l->dead = true;
    }
    if (t->n_statics && now >= t->next_worker) {
        t->next_worker = now + PC_TCP_WORKER_INTERVAL;
        for (size_t i = 0; i < t->n_statics; i++) {
            static_peer *sp = &t->statics[i];
            if (!static_connected(t, sp) && now >= sp->next)
                dial(t, (int)i, now);
        }
    }
}

void pc_tcp_process(pc_tcp *t, const struct pollfd *fds, size_t n, uint64_t now)
{
    /* links added during this call (accept, dial) have pfd -1 and are skipped */
    size_t count = t->n_links;
    tlink *snapshot[PC_TCP_MAX_LINKS];
    memcpy(snapshot, t->links, count * sizeof *snapshot);
    for (size_t i = 0; i < count; i++) {
        tlink *l = snapshot[i];
        if (l->pfd < 0 || (size_t)l->pfd >= n || l->dead)
            continue;
        short re = fds[l->pfd].revents;
        if (!re)
            continue;
        if (l->state == L_CONNECTING) {
            on_connected(t, l, now);
            continue;
        }
        if (l->state == L_TLS) {
            tls_step(t, l, now);
            continue;
        }
        if (re & (POLLIN | POLLHUP | POLLERR))
            on_readable(t, l, now);
        if (!l->dead && (re & POLLOUT))
            write_link(t, l, now);
    }
    if (t->listen_pfd >= 0 && (size_t)t->listen_pfd < n && (fds[t->listen_pfd].revents & POLLIN))
        accept_new(t, t->listen_fd, K_TCP, now);
    if (t->ws_listen_pfd >= 0 && (size_t)t->ws_listen_pfd < n &&
        (fds[t->ws_listen_pfd].revents & POLLIN))
        accept_new(t, t->ws_listen_fd, K_WS_SERVER, now);
    timers(t, now);
    pc_tcp_flush(t, now);
}

uint64_t pc_tcp_next_deadline(const pc_tcp *t)
{
    uint64_t d = UINT64_MAX;
    for (size_t i = 0; i < t->n_links; i++) {
        const tlink *l = t->links[i];
        if (l->dead)
            return 0;
        if (l->state != L_UP && l->deadline < d)
            d = l->deadline;
        if (l->wlen && l->stalled_since && l->stalled_since + PC_TCP_WRITE_TIMEOUT + 1 < d)
            d = l->stalled_since + PC_TCP_WRITE_TIMEOUT + 1;
    }
    if (t->n_statics && t->next_worker < d)
        d = t->next_worker;
    return d;
}

size_t pc_tcp_peer_count(const pc_tcp *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_links; i++)
        if (t->links[i]->port)
            n++;
    return n;
}

bool pc_tcp_link_info(int port, pc_manhole_link *out, void *ud)
{
    const pc_tcp *t = ud;
    const tlink *l = port > 0 && port <= PC_MAX_PORT ? t->by_port[port] : NULL;
    if (!l)
        return false;
    out->type = l->discovered ? 1 : 3; /* Go's PeerTypeMulticast / PeerTypeRemote */
    out->zone = l->static_idx >= 0 ? "static" : NULL;
    out->uri = l->uri;
    out->traffic_frames = l->traffic_frames;
    return true;
}
