/* hs_httpd: the libmicrohttpd shell. The raw request target is taken from the URI log
 * callback (the only place MHD shows it before decoding), because X-Matrix signs the
 * target exactly as sent and the router must split the path before decoding it.
 * A request's state lives in one `pending` allocated there and freed in the completion
 * callback, which also records metrics and the in-flight count.
 *
 * Deferred answers (hs_http.h) use libmicrohttpd's suspend/resume: a parked connection
 * holds no worker thread; hs_wake_fire resumes it and libmicrohttpd calls the access
 * handler again, which then asks the deferral for its answer. libmicrohttpd forbids
 * stopping a daemon with suspended connections, so whoever parks requests must have
 * them all fired before hs_httpd_stop (hs_server_close stops /sync first).
 *
 * Upgrades (hs_httpd_set_upgrade): the hook is read under upgrade_mu, which is also held
 * while its callbacks run, so removing it waits for callbacks in progress and no callback
 * starts afterwards. An upgraded connection leaves the in-flight count when its 101 is
 * queued: it lives on outside HTTP and must not hold the shutdown grace period. */
#include "server-core/hs_httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_log.h"

#define MAX_HEADERS 100

struct hs_httpd {
    hs_httpd_config cfg;
    struct MHD_Daemon *daemon;
    int port;
    _Atomic int64_t in_flight;
    _Atomic int64_t parked;
    pthread_mutex_t upgrade_mu;
    bool has_upgrade;
    hs_httpd_upgrade upgrade;    /* valid while has_upgrade */
};

typedef struct pending {
    hs_httpd *h;
    char *target;
    struct timespec start;
    bool started;
    bool too_large;
    int64_t max_body;  /* this request's body limit (see hs_httpd_config.upload_prefix) */
    uint8_t *body;
    size_t body_len, body_cap;
    hs_kv headers[MAX_HEADERS];
    size_t n_headers;
    const char *route;
    int status;
    hs_wake *wake;               /* created before dispatch; resumes this connection */
    hs_deferral deferral;        /* taken from a handler that deferred its answer */
} pending;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)c;
    pending *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->h = cls;
    p->target = strdup(uri ? uri : "");
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    return p;
}

static void free_pending(pending *p)
{
    if (p->deferral.release) p->deferral.release(p->deferral.state);
    hs_wake_free(p->wake);
    free(p->target);
    free(p->body);
    for (size_t i = 0; i < p->n_headers; i++) {
        free(p->headers[i].name);
        free(p->headers[i].value);
    }
    free(p);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    hs_httpd *h = cls;
    pending *p = *con_cls;
    if (!p) return;
    if (p->started) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - p->start.tv_sec) + (double)(now.tv_nsec - p->start.tv_nsec) / 1e9;
        if (h->cfg.metrics && p->route) hs_metrics_observe(h->cfg.metrics, h->cfg.name, p->route, p->status, secs);
        atomic_fetch_sub(&h->in_flight, 1);
    }
    free_pending(p);
    *con_cls = NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    pending *p = cls;
    if (p->n_headers == MAX_HEADERS) return MHD_NO;
    hs_kv *kv = &p->headers[p->n_headers];
    kv->name = strdup(key);
    kv->value = strdup(value ? value : "");
    if (!kv->name || !kv->value) {
        free(kv->name);
        free(kv->value);
        return MHD_NO;
    }
    p->n_headers++;
    return MHD_YES;
}

static enum MHD_Result queue(struct MHD_Connection *c, pending *p, hs_response *resp)
{
    struct MHD_Response *r;
    if (resp->has_body_file) {
        /* libmicrohttpd reads the file as it sends (sendfile on plain HTTP), with
         * Content-Length from the size, and closes the descriptor with the response. */
        r = MHD_create_response_from_fd64(resp->body_file_len, resp->body_fd);
        if (!r) return MHD_NO;
        resp->has_body_file = false; /* now owned by MHD */
    } else {
        r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (void *)"",
                                            resp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        resp->body = NULL; /* now owned by MHD */
    }
    for (size_t i = 0; i < resp->n_headers; i++) MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    p->status = resp->status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, pending *p, int status, const char *code,
                                     const char *msg)
{
    hs_response resp = {0};
    hs_response_error(&resp, status, code, "%s", msg);
    enum MHD_Result ret = queue(c, p, &resp);
    hs_response_clear(&resp);
    return ret;
}

static void resume_connection(void *ctx)
{
    MHD_resume_connection(ctx);
}

/* Parks the connection until its wake fires (at once if it fired already). */
static enum MHD_Result park(struct MHD_Connection *c, hs_httpd *h, pending *p)
{
    MHD_suspend_connection(c);
    atomic_fetch_add(&h->parked, 1);
    if (hs_wake_arm(p->wake)) MHD_resume_connection(c);
    return MHD_YES;
}

/* A parked request was resumed: its deferral answers, or asks to be parked again. */
static enum MHD_Result answer_deferred(struct MHD_Connection *c, hs_httpd *h, pending *p)
{
    atomic_fetch_sub(&h->parked, 1);
    hs_response resp = {0};
    p->deferral.answer(p->deferral.state, &resp);
    if (resp.status == 0) {
        hs_response_clear(&resp);
        return park(c, h, p);
    }
    enum MHD_Result ret = queue(c, p, &resp);
    hs_response_clear(&resp);
    return ret;
}

static void client_address(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, len, "unknown");
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)len);
}

/* MHD's upgrade callback: the 101 is out; the hook (if still installed) takes the socket. */
static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)con_cls;
    hs_httpd *h = cls;
    char addr[INET6_ADDRSTRLEN + 2];
    client_address(c, addr, sizeof addr);
    pthread_mutex_lock(&h->upgrade_mu);
    if (h->has_upgrade)
        h->upgrade.adopt(h->upgrade.ud, (hs_upgraded *)urh, sock, (const uint8_t *)extra_in, extra_in_size, addr);
    else
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    pthread_mutex_unlock(&h->upgrade_mu);
}

void hs_httpd_upgraded_close(hs_upgraded *conn)
{
    MHD_upgrade_action((struct MHD_UpgradeResponseHandle *)conn, MHD_UPGRADE_ACTION_CLOSE);
}

/* Asks the upgrade hook about a request for its path. Returns false when there is no
 * hook or the request is not for it; otherwise resp holds the hook's answer. */
static bool try_upgrade(hs_httpd *h, const hs_request *req, hs_response *resp)
{
    bool taken = false;
    pthread_mutex_lock(&h->upgrade_mu);
    if (h->has_upgrade && strcmp(req->method, "GET") == 0 && strcmp(req->path, h->upgrade.path) == 0) {
        h->upgrade.check(h->upgrade.ud, req, resp);
        taken = true;
    }
    pthread_mutex_unlock(&h->upgrade_mu);
    return taken;
}

static enum MHD_Result queue_upgrade(struct MHD_Connection *c, hs_httpd *h, pending *p, hs_response *resp)
{
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgraded, h);
    if (!r) return MHD_NO;
    for (size_t i = 0; i < resp->n_headers; i++) MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    p->status = 101;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES && p->started) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double secs = (double)(now.tv_sec - p->start.tv_sec) + (double)(now.tv_nsec - p->start.tv_nsec) / 1e9;
        if (h->cfg.metrics) hs_metrics_observe(h->cfg.metrics, h->cfg.name, p->route, 101, secs);
        atomic_fetch_sub(&h->in_flight, 1);
        p->started = false;
    }
    return ret;
}

void hs_httpd_set_upgrade(hs_httpd *h, const hs_httpd_upgrade *u)
{
    pthread_mutex_lock(&h->upgrade_mu);
    h->has_upgrade = u != NULL;
    if (u) h->upgrade = *u;
    pthread_mutex_unlock(&h->upgrade_mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)url;
    (void)version;
    hs_httpd *h = cls;
    pending *p = *con_cls;
    if (!p) return MHD_NO; /* allocation failed in on_uri: drop the connection */
    if (p->deferral.answer) return answer_deferred(c, h, p);

    if (!p->started) {
        p->started = true;
        atomic_fetch_add(&h->in_flight, 1);
        p->route = "rejected";
        p->max_body = h->cfg.max_body_bytes;
        const char *up = h->cfg.upload_prefix;
        if (up && strncmp(p->target, up, strlen(up)) == 0 && h->cfg.upload_max_body_bytes > p->max_body)
            p->max_body = h->cfg.upload_max_body_bytes;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoll(cl, NULL, 10) > p->max_body)
            return respond_error(c, p, 413, "M_TOO_LARGE", "request body is larger than the server accepts");
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (p->too_large) return MHD_YES;
        if ((int64_t)(p->body_len + n) > p->max_body) {
            p->too_large = true; /* chunked body grew past the limit: keep draining, answer 413 */
            return MHD_YES;
        }
        if (p->body_len + n > p->body_cap) {
            size_t cap = p->body_cap ? p->body_cap : 4096;
            while (cap < p->body_len + n) cap *= 2;
            uint8_t *b = realloc(p->body, cap);
            if (!b) return MHD_NO;
            p->body = b;
            p->body_cap = cap;
        }
        memcpy(p->body + p->body_len, upload_data, n);
        p->body_len += n;
        return MHD_YES;
    }
    if (p->too_large) return respond_error(c, p, 413, "M_TOO_LARGE", "request body is larger than the server accepts");

    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, p);
    char addr[INET6_ADDRSTRLEN + 2];
    client_address(c, addr, sizeof addr);
    hs_request req = {.method = method, .headers = p->headers, .n_headers = p->n_headers,
                      .body = p->body ? p->body : (const uint8_t *)"", .body_len = p->body_len, .remote_addr = addr};
    if (!p->wake) p->wake = hs_wake_new(resume_connection, c);
    req.wake = p->wake;
    hs_response resp = {0};
    if (hs_request_parse_target(&req, p->target) != 0) {
        p->route = "bad-target";
        hs_response_error(&resp, 400, "M_UNRECOGNIZED", "malformed request target");
    } else if (try_upgrade(h, &req, &resp)) {
        p->route = "upgrade";
        if (resp.status == 101) {
            enum MHD_Result ret = queue_upgrade(c, h, p, &resp);
            hs_response_clear(&resp);
            hs_request_clear(&req);
            return ret;
        }
    } else {
        hs_router_dispatch(h->cfg.router, &req, &resp);
        p->route = req.route;
    }
    if (resp.status == 0 && resp.deferral.answer && p->wake) {
        p->deferral = resp.deferral;
        resp.deferral = (hs_deferral){0};
        hs_response_clear(&resp);
        hs_request_clear(&req);
        return park(c, h, p);
    }
    if (resp.status == 0) {
        hs_response_clear(&resp);
        hs_response_error(&resp, 500, "M_UNKNOWN", "handler produced no response");
    }
    enum MHD_Result ret = queue(c, p, &resp);
    hs_response_clear(&resp);
    hs_request_clear(&req);
    return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    hs_httpd *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    hs_debug(h->cfg.name, "libmicrohttpd: %s", msg);
}

hs_httpd *hs_httpd_start(const hs_httpd_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->bind_address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)cfg->port);
    } else if (inet_pton(AF_INET6, cfg->bind_address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)cfg->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "%s listener: bind_address '%s' is not a numeric IPv4 or IPv6 address", cfg->name,
                 cfg->bind_address);
        return NULL;
    }
    bool tls = cfg->tls_cert_pem && cfg->tls_key_pem;
    if (tls) flags |= MHD_USE_TLS;
    else flags |= MHD_ALLOW_UPGRADE; /* hs_httpd_set_upgrade serves plain HTTP listeners only */

    hs_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    pthread_mutex_init(&h->upgrade_mu, NULL);
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &ss},
        {MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)(void *)on_uri, h},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)(void *)on_completed, h},
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)(void *)on_mhd_log, h},
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cfg->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)cfg->tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL},
    };
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "%s listener: cannot listen on %s port %d (address in use, no permission, or "
                              "TLS certificate/key rejected)",
                 cfg->name, cfg->bind_address, cfg->port);
        pthread_mutex_destroy(&h->upgrade_mu);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    return h;
}

int hs_httpd_port(const hs_httpd *h)
{
    return h->port;
}

int64_t hs_httpd_in_flight(const hs_httpd *h)
{
    return atomic_load(&((hs_httpd *)h)->in_flight);
}

void hs_httpd_quiesce(hs_httpd *h)
{
    MHD_socket s = MHD_quiesce_daemon(h->daemon);
    if (s != MHD_INVALID_SOCKET) close(s);
}

void hs_httpd_stop(hs_httpd *h)
{
    if (!h) return;
    if (atomic_load(&h->parked) > 0)
        hs_error(h->cfg.name, "stopping with %lld parked requests (their deferrals were never fired)",
                 (long long)atomic_load(&h->parked));
    MHD_stop_daemon(h->daemon);
    pthread_mutex_destroy(&h->upgrade_mu);
    free(h);
}
