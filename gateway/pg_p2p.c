/* pg_p2p: runs a pc_node on its own thread inside `serve` (see pg_p2p.h).
 *
 * Threads: the node's loop runs on the one thread started here; it is the only thread
 * that touches the node, except pc_node_adopt_ws (thread-safe), which the client
 * listener's workers call from the upgrade hook. Stopping: the hook is removed first
 * (hs_httpd_set_upgrade waits for hook calls in progress), then an eventfd ends the
 * loop, the thread is joined, and pc_node_free releases adopted connections back to the
 * listener while it still runs. */
#include "pg_p2p.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pg_p2p_key.h"
#include "pinecone/pc_node.h"
#include "pinecone/pc_tcp.h"
#include "pinecone/pc_ws.h"
#include "server-core/hs_log.h"

#define LOG_LINE_MAX 512

struct pg_p2p {
    pc_node *node;
    hs_httpd *client;
    bool hooked;
    pthread_t thread;
    bool running;
    int stop_fd;
    FILE *log;                       /* the node's progress lines, into hs_log */
    char line[LOG_LINE_MAX];         /* a progress line being assembled */
    size_t line_len;
    char name[2 * PG_P2P_KEY_LEN + 1];
};

/* ---- the node's output as log lines -------------------------------------------------- */

static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
    pg_p2p *p = cookie;
    for (size_t i = 0; i < size; i++) {
        if (buf[i] == '\n' || p->line_len == sizeof p->line - 1) {
            p->line[p->line_len] = '\0';
            if (p->line_len) hs_info("p2p", "%s", p->line);
            p->line_len = 0;
            if (buf[i] == '\n') continue;
        }
        p->line[p->line_len++] = buf[i];
    }
    return (ssize_t)size;
}

/* ---- GET /ws ----------------------------------------------------------------------------- */

/* True when the comma-separated header value lists token (case-insensitive). */
static bool has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    for (const char *s = value; *s;) {
        while (*s == ' ' || *s == '\t' || *s == ',') s++;
        const char *e = s;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - s) == tl && strncasecmp(s, token, tl) == 0) return true;
        s = e;
    }
    return false;
}

static void ws_check(void *ud, const hs_request *req, hs_response *resp)
{
    (void)ud;
    const char *up = hs_request_header(req, "Upgrade");
    const char *conn = hs_request_header(req, "Connection");
    const char *ver = hs_request_header(req, "Sec-WebSocket-Version");
    const char *key = hs_request_header(req, "Sec-WebSocket-Key");
    char accept[PC_WS_ACCEPT_LEN + 1];
    if (!up || strcasecmp(up, "websocket") != 0 || !conn || !has_token(conn, "upgrade")) {
        hs_response_error(resp, 400, "M_UNRECOGNIZED", "/ws accepts only WebSocket upgrades (Pinecone peering)");
        return;
    }
    if (!ver || strcmp(ver, "13") != 0) {
        hs_response_error(resp, 426, "M_UNRECOGNIZED", "only WebSocket version 13 is supported");
        hs_response_header(resp, "Sec-WebSocket-Version", "13");
        return;
    }
    if (!key || pc_ws_accept_key(key, accept) != 0) {
        hs_response_error(resp, 400, "M_UNRECOGNIZED", "Sec-WebSocket-Key must be 16 bytes in base64");
        return;
    }
    resp->status = 101;
    hs_response_header(resp, "Upgrade", "websocket");
    hs_response_header(resp, "Sec-WebSocket-Accept", accept);
}

static void release_upgraded(void *ctx) { hs_httpd_upgraded_close(ctx); }

static void ws_adopt(void *ud, hs_upgraded *conn, int fd, const uint8_t *extra, size_t extra_len,
                     const char *remote)
{
    pg_p2p *p = ud;
    char uri[PC_TCP_URI_MAX];
    snprintf(uri, sizeof uri, "%s via GET /ws", remote);
    if (pc_node_adopt_ws(p->node, fd, extra, extra_len, uri, release_upgraded, conn) != 0)
        hs_warn("p2p", "WebSocket peer from %s refused: too many waiting", remote);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void *node_thread(void *arg)
{
    pg_p2p *p = arg;
    if (pc_node_run(p->node, p->stop_fd) != 0) hs_error("p2p", "the Pinecone node stopped: its poll loop failed");
    return NULL;
}

pg_p2p *pg_p2p_start(const hs_config *cfg, hs_httpd *client, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    pg_p2p *p = calloc(1, sizeof *p);
    char *peers_buf = strdup(cfg->p2p_static_peers);
    if (!p || !peers_buf) {
        free(p);
        free(peers_buf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->stop_fd = -1;
    p->client = client;
    pc_node_config nc = {.multicast = cfg->p2p_multicast, .alpn = cfg->p2p_alpn};
    const char *peers[PC_TCP_MAX_STATIC];
    size_t np = 0;
    char *save = NULL;
    for (char *tok = strtok_r(peers_buf, ",", &save); tok && np < PC_TCP_MAX_STATIC; tok = strtok_r(NULL, ",", &save))
        peers[np++] = tok;
    nc.connect = peers;
    nc.n_connect = np;
    if (cfg->p2p_listen[0]) nc.listen = cfg->p2p_listen;
    if (cfg->p2p_multicast_interfaces[0]) nc.multicast_if = cfg->p2p_multicast_interfaces;

    cookie_io_functions_t io = {.write = log_write};
    if (pg_p2p_key_load(cfg->p2p_private_key_path, nc.seed, err, errlen) != 0) goto fail;
    pg_p2p_key_public_hex(nc.seed, p->name);
    p->log = fopencookie(p, "w", io);
    p->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!p->log || p->stop_fd < 0) {
        snprintf(err, errlen, "cannot set up the Pinecone node's log and stop signal");
        goto fail;
    }
    setvbuf(p->log, NULL, _IOLBF, 0);
    nc.out = p->log;
    char nerr[256];
    if (pc_node_new(&p->node, &nc, nerr, sizeof nerr) != 0) {
        snprintf(err, errlen, "p2p: %s", nerr);
        goto fail;
    }
    sodium_memzero(nc.seed, sizeof nc.seed);
    if (pthread_create(&p->thread, NULL, node_thread, p) != 0) {
        snprintf(err, errlen, "p2p: cannot start the Pinecone node's thread");
        goto fail;
    }
    p->running = true;
    if (cfg->p2p_websocket_path_enabled) {
        hs_httpd_upgrade u = {.path = "/ws", .check = ws_check, .adopt = ws_adopt, .ud = p};
        hs_httpd_set_upgrade(client, &u);
        p->hooked = true;
    }
    free(peers_buf);
    return p;
fail:
    sodium_memzero(nc.seed, sizeof nc.seed);
    free(peers_buf);
    pg_p2p_stop(p);
    return NULL;
}

const char *pg_p2p_server_name(const pg_p2p *p) { return p->name; }

void pg_p2p_stop(pg_p2p *p)
{
    if (!p) return;
    if (p->hooked) hs_httpd_set_upgrade(p->client, NULL);
    if (p->running) {
        uint64_t one = 1;
        ssize_t w = write(p->stop_fd, &one, sizeof one);
        (void)w; /* an eventfd write of 1 only fails near overflow, when it is readable anyway */
        pthread_join(p->thread, NULL);
    }
    pc_node_free(p->node);
    if (p->log) fclose(p->log);
    if (p->stop_fd >= 0) close(p->stop_fd);
    free(p);
}
