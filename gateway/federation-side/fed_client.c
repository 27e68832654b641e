/* fed_client: libcurl easy handles, one per request; a batch (fed_batch) runs its
 * handles together on one multi handle, each with the same options, limits and checks
 * as a single request. A single request runs on a multi handle too, alone.
 *
 * Connections are reused: a multi handle keeps the connections its finished requests
 * leave open (at most max_idle_connections, CURLMOPT_MAXCONNECTS), and the client keeps
 * up to FED_CLIENT_IDLE_MULTIS multi handles between uses - a batch or single request
 * takes one (the one used last first) and gives it back when done - so the next
 * requests to a destination find a connection to it open instead of paying TCP and
 * TLS handshakes again. A multi handle is used by one thread at a time (libcurl's
 * rule); the pool hands it from thread to thread under a mutex. libcurl matches a
 * reused connection on the URL's host (the TLS name), the CONNECT_TO target and the
 * TLS options, and checks it is still alive first; the deny-list was checked when it
 * was opened. The URL carries the TLS name
 * (so SNI and certificate checks use the server or delegated name, as the spec wants)
 * and CURLOPT_CONNECT_TO sends the connection to the discovered host and port. Proxies
 * from the environment are ignored: federation traffic must go where discovery says.
 * Only https is allowed, for requests and for well-known redirects. */
#include "federation-side/fed_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "federation-side/fed_denylist.h"
#include "server-core/hs_clock.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_log.h"
#include "server-core/hs_server.h"
#include "server-core/hs_xmatrix.h"

#define CONNECT_TIMEOUT_SECONDS 10
#define FED_CLIENT_IDLE_MULTIS 4
#define FED_CLIENT_IDLE_CONNECTIONS_DEFAULT 16

struct fed_client {
    char server_name[256];
    const hs_signing_key *key;
    fed_denylist *deny;
    bool verify;
    int timeout_seconds;
    int64_t max_bytes;
    fed_discovery *disc;
    long max_idle;                        /* per multi handle */
    pthread_mutex_t pool_mu;              /* guards idle, n_idle */
    CURLM *idle[FED_CLIENT_IDLE_MULTIS];  /* multi handles not in use, last given back last */
    int n_idle;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the system resolver -------------------------------------------------------- */

static int system_srv(void *ctx, const char *name, fed_srv_record *out, size_t max)
{
    (void)ctx;
    hs_err err;
    int n = fed_srv_lookup(name, out, max, &err);
    if (n < 0) hs_debug("fed", "%s", err.msg);
    return n;
}

static int system_well_known(void *ctx, const char *hostname, fed_wk_http *out)
{
    hs_err err;
    int rc = fed_client_fetch_well_known(ctx, hostname, 443, out, &err);
    if (rc != 0) hs_debug("fed", "well-known of %s: %s", hostname, err.msg);
    return rc;
}

/* ---- lifecycle ------------------------------------------------------------------ */

fed_client *fed_client_new(const fed_client_config *cfg, const fed_resolver *resolver, hs_err *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        hs_err_set(err, "libcurl: %s", curl_easy_strerror(curl_init_rc));
        return NULL;
    }
    fed_client *c = calloc(1, sizeof *c);
    if (!c) {
        hs_err_set(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->pool_mu, NULL);
    snprintf(c->server_name, sizeof c->server_name, "%s", cfg->server_name);
    c->key = cfg->key;
    c->max_idle = cfg->max_idle_connections > 0 ? cfg->max_idle_connections : FED_CLIENT_IDLE_CONNECTIONS_DEFAULT;
    c->verify = cfg->verify_certificates;
    c->timeout_seconds = cfg->timeout_seconds > 0 ? cfg->timeout_seconds : 60;
    c->max_bytes = cfg->max_response_bytes > 0 ? cfg->max_response_bytes : 50 * 1024 * 1024;
    c->deny = fed_denylist_parse(cfg->ip_range_denylist ? cfg->ip_range_denylist : "", err);
    fed_resolver sys = {.srv = system_srv, .well_known = system_well_known, .ctx = c};
    c->disc = c->deny ? fed_discovery_new(resolver ? resolver : &sys) : NULL;
    if (!c->disc) {
        if (c->deny) hs_err_set(err, "out of memory");
        fed_client_free(c);
        return NULL;
    }
    return c;
}

fed_client *fed_client_from_config(const hs_config *cfg, const hs_signing_key *key, hs_err *err)
{
    fed_client_config fc = {
        .server_name = cfg->server_name,
        .key = key,
        .ip_range_denylist = cfg->ip_range_denylist,
        .verify_certificates = cfg->verify_certificates,
        .timeout_seconds = cfg->request_timeout_seconds,
        .max_response_bytes = cfg->max_response_bytes,
        .max_idle_connections = cfg->federation_max_idle_connections,
    };
    return fed_client_new(&fc, NULL, err);
}

void fed_client_free(fed_client *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_idle; i++) curl_multi_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->pool_mu);
    fed_discovery_free(c->disc);
    fed_denylist_free(c->deny);
    free(c);
}

/* ---- the pool of multi handles -------------------------------------------------- */

/* A multi handle for one batch or request: the one given back last (its connections
 * are the most likely to be alive), or a new one. NULL when out of memory. */
static CURLM *multi_take(fed_client *c)
{
    CURLM *m = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_idle > 0) m = c->idle[--c->n_idle];
    pthread_mutex_unlock(&c->pool_mu);
    if (m || !(m = curl_multi_init())) return m;
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, c->max_idle);
    return m;
}

/* Gives back a multi handle with no easy handle on it; its open connections stay for
 * the next user. Beyond the pool's size it is closed, connections and all. */
static void multi_give(fed_client *c, CURLM *m)
{
    pthread_mutex_lock(&c->pool_mu);
    bool kept = c->n_idle < FED_CLIENT_IDLE_MULTIS;
    if (kept) c->idle[c->n_idle++] = m;
    pthread_mutex_unlock(&c->pool_mu);
    if (!kept) curl_multi_cleanup(m);
}

/* ---- one exchange --------------------------------------------------------------- */

typedef struct exchange {
    fed_client *c;
    int64_t max_bytes;    /* the body limit of this exchange */
    char *buf;
    size_t len, cap;
    bool too_big;
    bool denied;
    char denied_addr[64];
    int64_t max_age_ms;   /* Cache-Control; wins over Expires */
    int64_t expires_ms;   /* Expires, as a lifetime from now; -1 when absent */
    char content_type[256]; /* of the final answer; "" when absent or too long */
} exchange;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    exchange *x = userp;
    size_t n = size * nmemb;
    if ((int64_t)(x->len + n) > x->max_bytes) {
        x->too_big = true;
        return 0;
    }
    if (x->len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;
        while (cap < x->len + n + 1) cap *= 2;
        char *nb = realloc(x->buf, cap);
        if (!nb) return 0;
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

/* Cache-Control of the well-known answer: max-age=N, or no-store/no-cache = 0; else
 * Expires (HTTP date) as a lifetime from now; and every answer's Content-Type (media
 * downloads need it). A redirect's headers come first; each new status line resets
 * what was seen, so the final answer's headers count. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    exchange *x = userp;
    size_t n = size * nmemb;
    static const char name[] = "cache-control:";
    static const char expires[] = "expires:";
    static const char ctype[] = "content-type:";
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        x->max_age_ms = -1;
        x->expires_ms = -1;
        x->content_type[0] = '\0';
    } else if (n > sizeof ctype && strncasecmp(data, ctype, sizeof ctype - 1) == 0) {
        const char *v = data + sizeof ctype - 1, *e = data + n;
        while (v < e && (*v == ' ' || *v == '\t')) v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t')) e--;
        size_t vl = (size_t)(e - v);
        if (vl < sizeof x->content_type) {
            memcpy(x->content_type, v, vl);
            x->content_type[vl] = '\0';
        }
    } else if (n > sizeof expires && n < 256 && strncasecmp(data, expires, sizeof expires - 1) == 0) {
        char v[256];
        memcpy(v, data + sizeof expires - 1, n - (sizeof expires - 1));
        v[n - (sizeof expires - 1)] = '\0';
        time_t when = curl_getdate(v, NULL);
        time_t now = time(NULL);
        /* An unparsable or past date means "already expired", as RFC 9111 says. */
        x->expires_ms = when > now ? (int64_t)(when - now) * 1000 : 0;
    } else if (n > sizeof name && strncasecmp(data, name, sizeof name - 1) == 0) {
        char v[256];
        size_t vl = n - (sizeof name - 1) < sizeof v - 1 ? n - (sizeof name - 1) : sizeof v - 1;
        memcpy(v, data + sizeof name - 1, vl);
        v[vl] = '\0';
        for (char *p = v; *p; p++) *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        const char *m = strstr(v, "max-age=");
        if (strstr(v, "no-store") || strstr(v, "no-cache")) x->max_age_ms = 0;
        else if (m) x->max_age_ms = strtoll(m + 8, NULL, 10) * 1000;
    }
    return n;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)purpose;
    exchange *x = clientp;
    if (fed_denylist_denies(x->c->deny, &addr->addr)) {
        x->denied = true;
        char ip[INET6_ADDRSTRLEN] = "?";
        if (addr->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)&addr->addr)->sin_addr, ip, sizeof ip);
        else if (addr->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr, ip, sizeof ip);
        snprintf(x->denied_addr, sizeof x->denied_addr, "%s", ip);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

static void common_options(CURL *h, exchange *x)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)x->c->timeout_seconds);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
                     (long)(x->c->timeout_seconds < CONNECT_TIMEOUT_SECONDS ? x->c->timeout_seconds
                                                                            : CONNECT_TIMEOUT_SECONDS));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, x->c->verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, x->c->verify ? 2L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "pinegate/" PG_VERSION);
}

/* Turns curl's result into our error, naming the deny-list or size limit when they
 * were the cause. Returns 0 when an HTTP answer came. */
static int finish(CURL *h, CURLcode rc, exchange *x, const char *what, long *status, hs_err *err)
{
    if (x->denied)
        return hs_err_set(err, "%s: address %s is in federation.ip_range_denylist", what, x->denied_addr);
    /* curl refuses up front when Content-Length is over the limit; the body callback
     * when the length was not announced. */
    if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) return hs_err_set(err, "%s: response larger than %lld bytes", what, (long long)x->max_bytes);
    if (rc != CURLE_OK) return hs_err_set(err, "%s: %s", what, curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* "https://host:port" with IPv6 literals bracketed. */
static void base_url(char *out, size_t cap, const char *host, int port)
{
    if (strchr(host, ':')) snprintf(out, cap, "https://[%s]:%d", host, port);
    else snprintf(out, cap, "https://%s:%d", host, port);
}

int fed_client_fetch_well_known(fed_client *c, const char *host, int port, fed_wk_http *out, hs_err *err)
{
    memset(out, 0, sizeof *out);
    out->max_age_ms = -1;
    CURL *h = curl_easy_init();
    if (!h) return hs_err_set(err, "curl_easy_init failed");
    /* A well-known document is a few dozen bytes; reading more than the parser accepts
     * would only hold memory for an answer that is refused anyway. */
    int64_t max = c->max_bytes < FED_WELL_KNOWN_MAX_BYTES ? c->max_bytes : FED_WELL_KNOWN_MAX_BYTES;
    exchange x = {.c = c, .max_bytes = max, .max_age_ms = -1, .expires_ms = -1};
    char url[600];
    base_url(url, sizeof url, host, port);
    strncat(url, "/.well-known/matrix/server", sizeof url - strlen(url) - 1);
    common_options(h, &x);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    int ret = finish(h, rc, &x, "well-known", &status, err);
    curl_easy_cleanup(h);
    if (ret != 0) {
        free(x.buf);
        return -1;
    }
    out->status = status;
    out->body = x.buf;
    out->body_len = x.len;
    out->max_age_ms = x.max_age_ms >= 0 ? x.max_age_ms : x.expires_ms;
    return 0;
}

/* One request made ready to run: the easy handle and everything its options point to.
 * It lives at a fixed address until prepared_free (curl keeps pointers to x). It is
 * built in two halves: prepare_request (what does not depend on where the
 * destination is) and prepare_connection (once discovery has answered). */
typedef struct prepared {
    CURL *h;
    exchange x;
    struct curl_slist *headers, *connect_to;
    char *body;
    size_t body_len;
    char *method, *target, *destination;
    char what[400];
    int timeout_ms;  /* the request's own deadline, 0 for the client's */
    bool done;
} prepared;

static void prepared_free(prepared *p)
{
    if (p->h) curl_easy_cleanup(p->h);
    curl_slist_free_all(p->headers);
    curl_slist_free_all(p->connect_to);
    free(p->body);
    free(p->method);
    free(p->target);
    free(p->destination);
    free(p->x.buf);
    memset(p, 0, sizeof *p);
}

/* Checks, the body and the X-Matrix signature; copies what the second half needs.
 * Returns 0, or -1 with err set and *p freed. */
static int prepare_request(fed_client *c, const hs_fed_out *req, prepared *p, hs_err *err)
{
    memset(p, 0, sizeof *p);
    if (req->target[0] != '/') return hs_err_set(err, "request target must start with '/'");
    /* The signature covers the whole target; a URL we would have to cut must not go out. */
    if (strlen(req->target) > HS_HTTP_MAX_TARGET)
        return hs_err_set(err, "request target longer than %d bytes", HS_HTTP_MAX_TARGET);
    snprintf(p->what, sizeof p->what, "%s %s on %s", req->method, req->target, req->destination);
    if (req->content && !(p->body = hs_cjson_encode(req->content, HS_CJSON_LAX_INTS, &p->body_len, err))) return -1;
    if (p->body) p->headers = curl_slist_append(p->headers, "Content-Type: application/json");
    if (req->sign) {
        char auth[HS_XMATRIX_MAX_HEADER];
        if (hs_xmatrix_sign(req->method, req->target, c->server_name, req->destination, req->content, c->key, auth,
                            sizeof auth, err) != 0) {
            prepared_free(p);
            return -1;
        }
        char line[HS_XMATRIX_MAX_HEADER + 64];
        snprintf(line, sizeof line, "Authorization: %s", auth);
        p->headers = curl_slist_append(p->headers, line);
    }
    /* curl adds "Expect: 100-continue" to larger bodies; federation servers need not
     * support it and it costs a round trip. */
    p->headers = curl_slist_append(p->headers, "Expect:");
    p->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 0;
    p->method = strdup(req->method);
    p->target = strdup(req->target);
    p->destination = strdup(req->destination);
    if (!p->headers || !p->method || !p->target || !p->destination) {
        prepared_free(p);
        return hs_err_set(err, "out of memory preparing %s", req->target);
    }
    return 0;
}

/* Host, URL, where to connect, and the easy handle with every option set. Returns 0,
 * or -1 with err set and *p freed. */
static int prepare_connection(fed_client *c, prepared *p, const fed_target *t, hs_err *err)
{
    char line[600];
    snprintf(line, sizeof line, "Host: %s", t->host_header);
    struct curl_slist *hs = curl_slist_append(p->headers, line);
    if (hs) p->headers = hs;
    char connect_to[600];
    if (strchr(t->connect_host, ':')) snprintf(connect_to, sizeof connect_to, "::[%s]:%d", t->connect_host, t->port);
    else snprintf(connect_to, sizeof connect_to, "::%s:%d", t->connect_host, t->port);
    p->connect_to = curl_slist_append(NULL, connect_to);
    if (!hs || !p->connect_to || !(p->h = curl_easy_init())) {
        hs_err_set(err, "out of memory preparing %s", p->target);
        prepared_free(p);
        return -1;
    }
    /* Key answers are refused above HS_KEYS_MAX_ANSWER_BYTES by their parser, so reading
     * up to max_response_bytes (sized for media and state) would only hold memory. */
    int64_t max = c->max_bytes;
    if (strncmp(p->target, "/_matrix/key/", 13) == 0 && max > HS_KEYS_MAX_ANSWER_BYTES)
        max = HS_KEYS_MAX_ANSWER_BYTES;
    p->x = (exchange){.c = c, .max_bytes = max, .max_age_ms = -1};
    char url[HS_HTTP_MAX_TARGET + 600];
    base_url(url, sizeof url, t->tls_name, t->port);
    size_t ul = strlen(url);
    snprintf(url + ul, sizeof url - ul, "%s", p->target);

    CURL *h = p->h;
    common_options(h, &p->x);
    /* A caller's shorter deadline (a client waiting for keys/query) replaces the
     * configured timeout; a longer one does not: the setting is the operator's bound. */
    if (p->timeout_ms > 0 && (int64_t)p->timeout_ms < (int64_t)c->timeout_seconds * 1000) {
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
        if (p->timeout_ms < CONNECT_TIMEOUT_SECONDS * 1000)
            curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)p->timeout_ms);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, p->connect_to);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &p->x);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, p->method);
    if (p->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body_len);
    } else if (strcmp(p->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    return 0;
}

/* Both halves with discovery in between (which may block: SRV lookup, well-known
 * fetch, unless its answer is cached). Returns 0, or -1 with err set and *p freed. */
static int prepare(fed_client *c, const hs_fed_out *req, prepared *p, hs_err *err)
{
    if (prepare_request(c, req, p, err) != 0) return -1;
    fed_target t;
    if (fed_discover(c->disc, p->destination, hs_fed_now_ms(), &t, err) != 0) {
        prepared_free(p);
        return -1;
    }
    return prepare_connection(c, p, &t, err);
}

/* Turns a finished exchange into the reply (the body moves to it) or err, and frees
 * *p. Returns 0 when an HTTP answer came. */
static int conclude(prepared *p, CURLcode rc, hs_fed_reply *reply, hs_err *err)
{
    long status = 0;
    int ret = finish(p->h, rc, &p->x, p->what, &status, err);
    if (ret == 0) {
        reply->status = status;
        reply->body = p->x.buf ? p->x.buf : calloc(1, 1);
        reply->body_len = p->x.len;
        memcpy(reply->content_type, p->x.content_type, sizeof reply->content_type);
        p->x.buf = NULL;
    }
    prepared_free(p);
    return ret;
}

/* Runs one prepared exchange to its end on a pooled multi handle (so its connection
 * is kept for the next request). The handle's own timeout ends it. */
static CURLcode perform_pooled(fed_client *c, CURL *h)
{
    CURLM *m = multi_take(c);
    if (!m) return CURLE_OUT_OF_MEMORY;
    if (curl_multi_add_handle(m, h) != CURLM_OK) {
        multi_give(c, m);
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode rc = CURLE_OK;
    for (bool done = false; !done;) {
        int running = 0, left;
        CURLMcode mc = curl_multi_perform(m, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            rc = msg->data.result;
            done = true;
        }
        if (!done && mc != CURLM_OK && mc != CURLM_CALL_MULTI_PERFORM) {
            rc = CURLE_OUT_OF_MEMORY;
            done = true;
        }
        if (!done) curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(m, h);
    multi_give(c, m);
    return rc;
}

int fed_client_request(fed_client *c, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    memset(reply, 0, sizeof *reply);
    prepared p;
    if (prepare(c, req, &p, err) != 0) return -1;
    CURLcode rc = perform_pooled(c, p.h);
    return conclude(&p, rc, reply, err);
}

/* A request of a batch: the prepared exchange and the caller's tag. It is on exactly
 * one of the batch's lists until fed_batch_next returns it: `resolving` while its
 * discovery runs on a helper thread, `ready` once that finished, `failed` when it
 * could not start, `flights` while curl runs it. */
typedef struct flight {
    prepared p;
    uint64_t tag;
    struct flight *next;
    fed_batch *b;
    pthread_t thread;  /* the discovery helper, if it had one */
    bool joined;
    int disc_rc;
    fed_target t;
    hs_err err;
} flight;

struct fed_batch {
    CURLM *m;
    fed_client *c;
    flight *flights, *failed;  /* the batch thread's */
    size_t in_flight;
    atomic_bool woken;
    pthread_mutex_t mu;        /* guards resolving, ready, closing */
    flight *resolving, *ready;
    bool closing;
};

fed_batch *fed_batch_open(fed_client *c)
{
    fed_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->c = c;
    atomic_init(&b->woken, false);
    pthread_mutex_init(&b->mu, NULL);
    if (!(b->m = multi_take(c))) {
        pthread_mutex_destroy(&b->mu);
        free(b);
        return NULL;
    }
    return b;
}

/* Puts a prepared flight on the multi handle. Returns 0, or -1 with err (f->p freed). */
static int add_to_multi(fed_batch *b, flight *f, hs_err *err)
{
    curl_easy_setopt(f->p.h, CURLOPT_PRIVATE, f);
    if (curl_multi_add_handle(b->m, f->p.h) != CURLM_OK) {
        hs_err_set(err, "%s: cannot add it to the multi handle", f->p.what);
        prepared_free(&f->p);
        return -1;
    }
    f->next = b->flights;
    b->flights = f;
    return 0;
}

/* The discovery helper: resolves, then hands the flight back to the batch thread. */
static void *resolve(void *arg)
{
    flight *f = arg;
    fed_batch *b = f->b;
    f->disc_rc = fed_discover(b->c->disc, f->p.destination, hs_fed_now_ms(), &f->t, &f->err);
    pthread_mutex_lock(&b->mu);
    for (flight **pp = &b->resolving; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    f->next = b->ready;
    b->ready = f;
    if (!b->closing) curl_multi_wakeup(b->m);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int fed_batch_start(fed_batch *b, const hs_fed_out *req, uint64_t tag, hs_err *err)
{
    flight *f = calloc(1, sizeof *f);
    if (!f) return hs_err_set(err, "out of memory");
    if (prepare_request(b->c, req, &f->p, err) != 0) {
        free(f);
        return -1;
    }
    f->tag = tag;
    f->b = b;
    char host[256];
    int port;
    bool ip;
    if (fed_split_server_name(req->destination, host, sizeof host, &port, &ip) == 0 && !ip && port <= 0) {
        /* Discovery may need the network (SRV, well-known): a helper thread does it, so
         * a name whose lookups hang holds up nobody else. */
        pthread_mutex_lock(&b->mu);
        f->next = b->resolving;
        b->resolving = f;
        int rc = pthread_create(&f->thread, NULL, resolve, f);
        if (rc != 0) b->resolving = f->next;
        pthread_mutex_unlock(&b->mu);
        if (rc != 0) {
            prepared_free(&f->p);
            free(f);
            return hs_err_set(err, "cannot start a discovery thread");
        }
    } else {
        fed_target t;
        if (fed_discover(b->c->disc, req->destination, hs_fed_now_ms(), &t, err) != 0 ||
            prepare_connection(b->c, &f->p, &t, err) != 0 || add_to_multi(b, f, err) != 0) {
            prepared_free(&f->p);
            free(f);
            return -1;
        }
    }
    b->in_flight++;
    return 0;
}

/* Takes f off the multi handle and the batch. */
static void unlink_flight(fed_batch *b, flight *f)
{
    for (flight **pp = &b->flights; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    curl_multi_remove_handle(b->m, f->p.h);
    b->in_flight--;
}

/* Moves the flights whose discovery finished onto the multi handle (or `failed`). */
static void adopt_resolved(fed_batch *b)
{
    pthread_mutex_lock(&b->mu);
    flight *ready = b->ready;
    b->ready = NULL;
    pthread_mutex_unlock(&b->mu);
    while (ready) {
        flight *f = ready;
        ready = f->next;
        pthread_join(f->thread, NULL);
        f->joined = true;
        if (f->disc_rc == 0 && prepare_connection(b->c, &f->p, &f->t, &f->err) == 0 &&
            add_to_multi(b, f, &f->err) == 0)
            continue;
        prepared_free(&f->p);
        f->next = b->failed;
        b->failed = f;
    }
}

int fed_batch_next(fed_batch *b, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err)
{
    memset(reply, 0, sizeof *reply);
    err->msg[0] = '\0';
    int64_t deadline = hs_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        adopt_resolved(b);
        if (b->failed) {
            flight *f = b->failed;
            b->failed = f->next;
            *tag = f->tag;
            *err = f->err;
            free(f);
            b->in_flight--;
            return 1;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(b->m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(b->m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURLcode rc = msg->data.result;
            flight *f = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
            unlink_flight(b, f);
            *tag = f->tag;
            conclude(&f->p, rc, reply, err);
            free(f);
            return 1;
        }
        if (b->in_flight == 0) return -1;
        /* The multi handle itself failed (out of memory): give up on the requests one
         * by one rather than spin. */
        if (mc != CURLM_OK && mc != CURLM_CALL_MULTI_PERFORM && b->flights) {
            flight *f = b->flights;
            unlink_flight(b, f);
            *tag = f->tag;
            hs_err_set(err, "%s: %s", f->p.what, curl_multi_strerror(mc));
            prepared_free(&f->p);
            free(f);
            return 1;
        }
        if (atomic_exchange(&b->woken, false)) return 0;
        int64_t left_ms = deadline - hs_clock_mono_ms();
        if (left_ms <= 0) return 0;
        /* Each handle carries its own CURLOPT_TIMEOUT, so every request ends by itself
         * even if its peer never answers; curl_multi_poll's wait is only for us (and a
         * discovery helper's curl_multi_wakeup ends it early). */
        curl_multi_poll(b->m, NULL, 0, left_ms > 1000 ? 1000 : (int)left_ms, NULL);
    }
}

void fed_batch_wake(fed_batch *b)
{
    atomic_store(&b->woken, true);
    curl_multi_wakeup(b->m);
}

size_t fed_batch_in_flight(const fed_batch *b)
{
    return b->in_flight;
}

void fed_batch_close(fed_batch *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->mu);
    b->closing = true;
    pthread_mutex_unlock(&b->mu);
    /* Discoveries still running end within their own timeouts; each helper moves its
     * flight to `ready` before it returns. */
    for (;;) {
        pthread_mutex_lock(&b->mu);
        flight *f = b->resolving;
        pthread_mutex_unlock(&b->mu);
        if (!f) break;
        pthread_join(f->thread, NULL);
        f->joined = true;
    }
    flight *ready = b->ready;
    b->ready = NULL;
    while (ready) {
        flight *f = ready;
        ready = f->next;
        if (!f->joined) pthread_join(f->thread, NULL);
        prepared_free(&f->p);
        free(f);
    }
    while (b->failed) {
        flight *f = b->failed;
        b->failed = f->next;
        free(f);
    }
    while (b->flights) {
        flight *f = b->flights;
        unlink_flight(b, f);
        prepared_free(&f->p);
        free(f);
    }
    multi_give(b->c, b->m);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

int fed_client_request_many(fed_client *c, const hs_fed_out *reqs, size_t n, hs_fed_reply *replies, hs_err *errs)
{
    for (size_t i = 0; i < n; i++) {
        memset(&replies[i], 0, sizeof replies[i]);
        errs[i].msg[0] = '\0';
    }
    fed_batch *b = fed_batch_open(c);
    for (size_t i = 0; i < n; i++)
        if (!b) hs_err_set(&errs[i], "out of memory starting %zu requests", n);
        else fed_batch_start(b, &reqs[i], i, &errs[i]);
    uint64_t i;
    hs_fed_reply r;
    hs_err e;
    int got;
    while (b && (got = fed_batch_next(b, 1000, &i, &r, &e)) >= 0) {
        if (got == 0) continue;
        replies[i] = r;
        errs[i] = e;
    }
    fed_batch_close(b);
    int answered = 0;
    for (size_t k = 0; k < n; k++) answered += replies[k].status != 0;
    return answered;
}

static int transport_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    return fed_client_request(ctx, req, reply, err);
}

static void *transport_batch_open(void *ctx)
{
    return fed_batch_open(ctx);
}

static int transport_batch_start(void *b, const hs_fed_out *req, uint64_t tag, hs_err *err)
{
    return fed_batch_start(b, req, tag, err);
}

static int transport_batch_next(void *b, int timeout_ms, uint64_t *tag, hs_fed_reply *reply, hs_err *err)
{
    return fed_batch_next(b, timeout_ms, tag, reply, err);
}

static void transport_batch_wake(void *b)
{
    fed_batch_wake(b);
}

static void transport_batch_close(void *b)
{
    fed_batch_close(b);
}

void fed_client_install(fed_client *c, hs_server *srv)
{
    hs_fed_transport t = {.request = transport_request,
                          .batch_open = transport_batch_open,
                          .batch_start = transport_batch_start,
                          .batch_next = transport_batch_next,
                          .batch_wake = transport_batch_wake,
                          .batch_close = transport_batch_close,
                          .ctx = c};
    hs_fed_set_transport(srv, &t);
}
