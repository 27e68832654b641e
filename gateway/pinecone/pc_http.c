/* pc_http: request/response exchange over pc_session streams (see pc_http.h).
 *
 * Each stream this layer handles has a `hstream` as its pc_stream user pointer; client
 * requests have a `creq` that outlives a failed stream so it can be retried once on a
 * new one. Invariants: a creq is on h->reqs until its `done` ran (exactly once); a
 * server hstream has at most one exchange outstanding, and input that arrives meanwhile
 * waits, unparsed, in `pend` (bounded by the request limits). */
#include "pinecone/pc_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "pinecone/pc_err.h"

#define MS 1000000ull

typedef struct creq creq;
typedef struct hstream hstream;

struct hstream {
    pc_http *h;
    pc_stream *st;
    bool client;
    pc_http_reader rd;
    hstream *prev, *next;
    /* server */
    pc_http_exchange *ex;
    uint8_t *pend;
    size_t pend_len, pend_cap;
    size_t held;             /* bytes received and not yet answered (counted in h->buffered) */
    bool peer_fin, shut, pumping;
    /* client */
    creq *req;
};

struct creq {
    pc_http *h;
    uint8_t key[PC_KEY_LEN];
    uint8_t *wire;
    size_t wire_len;
    bool head, got_bytes, retried;
    uint64_t deadline;
    pc_http_done done;
    void *ud;
    hstream *hs;
    creq *prev, *next;
};

struct pc_http_exchange {
    hstream *hs;             /* NULL once the stream is gone */
    pc_http_msg msg;
    bool close;              /* end the stream after the response */
};

struct pc_http {
    pc_session *session;
    char alpn[PC_SESSION_ALPN_MAX_LEN + 1];
    pc_http_handler handler;
    void *handler_data;
    pc_http_limits req_lim, resp_lim;
    uint64_t timeout_ns;
    hstream *streams;
    creq *reqs;
    size_t n_active;
    /* Server-side request bytes held over all streams. Each stream's own limit bounds one
     * request, but credit goes back to the peer as soon as data arrives, so without this
     * many streams from many peers could each hold a full body at once. */
    size_t buffered, max_buffered;
};

const char *pc_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* ---- growable byte buffer for outgoing heads ------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void buf_add(buf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + len)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void buf_fmt(buf *b, const char *fmt, const char *a, const char *c)
{
    char tmp[512];
    int n = snprintf(tmp, sizeof tmp, fmt, a, c);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->oom = true;
        return;
    }
    buf_add(b, tmp, (size_t)n);
}

static bool token_ok(const char *s, bool allow_space)
{
    if (!s)
        return false;
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || (!allow_space && *s == ' '))
            return false;
    return true;
}

/* Adds the caller's headers, minus the framing ones this layer sets itself. */
static bool add_headers(buf *b, const pc_http_header *hd, size_t n, bool skip_host)
{
    for (size_t i = 0; i < n; i++) {
        if (!token_ok(hd[i].name, false) || !token_ok(hd[i].value, true) || !*hd[i].name)
            return false;
        if (strcasecmp(hd[i].name, "content-length") == 0 || strcasecmp(hd[i].name, "connection") == 0 ||
            strcasecmp(hd[i].name, "transfer-encoding") == 0 ||
            (skip_host && strcasecmp(hd[i].name, "host") == 0))
            continue;
        if (strlen(hd[i].name) + strlen(hd[i].value) > 400)
            return false;
        buf_fmt(b, "%s: %s\r\n", hd[i].name, hd[i].value);
    }
    return true;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

int pc_http_new(pc_http **out, const pc_http_config *cfg)
{
    if (!cfg || !cfg->session || !cfg->alpn || !*cfg->alpn || strlen(cfg->alpn) > PC_SESSION_ALPN_MAX_LEN)
        return PC_ERR_INVALID;
    pc_http *h = calloc(1, sizeof *h);
    if (!h)
        return PC_ERR_NOMEM;
    h->session = cfg->session;
    snprintf(h->alpn, sizeof h->alpn, "%s", cfg->alpn);
    h->handler = cfg->handler;
    h->handler_data = cfg->handler_data;
    size_t mh = cfg->max_header_bytes ? cfg->max_header_bytes : PC_HTTP_DEFAULT_MAX_HEADER;
    h->req_lim = (pc_http_limits){mh, cfg->max_request_body ? cfg->max_request_body
                                                            : PC_HTTP_DEFAULT_MAX_REQUEST_BODY};
    h->resp_lim = (pc_http_limits){mh, cfg->max_response_body ? cfg->max_response_body
                                                              : PC_HTTP_DEFAULT_MAX_RESPONSE_BODY};
    h->timeout_ns = (cfg->request_timeout_ms ? cfg->request_timeout_ms : PC_HTTP_DEFAULT_TIMEOUT_MS) * MS;
    h->max_buffered = cfg->max_buffered ? cfg->max_buffered : PC_HTTP_DEFAULT_MAX_BUFFERED;
    *out = h;
    return PC_OK;
}

static hstream *hs_new(pc_http *h, pc_stream *st, bool client)
{
    hstream *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->h = h;
    hs->st = st;
    hs->client = client;
    pc_http_reader_init(&hs->rd, !client, client ? &h->resp_lim : &h->req_lim);
    hs->next = h->streams;
    if (h->streams)
        h->streams->prev = hs;
    h->streams = hs;
    pc_stream_set_user(st, hs);
    h->n_active++;
    return hs;
}

static void hs_free(hstream *hs)
{
    pc_http *h = hs->h;
    if (hs->prev)
        hs->prev->next = hs->next;
    else
        h->streams = hs->next;
    if (hs->next)
        hs->next->prev = hs->prev;
    if (hs->ex)
        hs->ex->hs = NULL;
    if (hs->req)
        hs->req->hs = NULL;
    if (hs->st)
        pc_stream_set_user(hs->st, NULL);
    pc_http_reader_free(&hs->rd);
    free(hs->pend);
    h->buffered -= hs->held;
    free(hs);
    h->n_active--;
}

static void req_finish(creq *r, int err, const pc_http_msg *msg)
{
    pc_http *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->hs)
        r->hs->req = NULL;
    r->done(err, err == PC_OK ? msg : NULL, r->ud);
    free(r->wire);
    free(r);
}

void pc_http_free(pc_http *h)
{
    if (!h)
        return;
    while (h->reqs) {
        creq *r = h->reqs;
        if (r->hs && r->hs->st)
            pc_stream_abort(r->hs->st, 0);
        req_finish(r, PC_ERR_CLOSED, NULL);
    }
    while (h->streams)
        hs_free(h->streams);
    free(h);
}

size_t pc_http_active(const pc_http *h) { return h->n_active; }

size_t pc_http_buffered(const pc_http *h) { return h->buffered; }

/* ---- server -------------------------------------------------------------------------- */

static void hs_shut(hstream *hs)
{
    if (!hs->shut && hs->st) {
        pc_stream_shutdown(hs->st);
        hs->shut = true;
    }
    hs->pend_len = 0;
}

static void send_response(hstream *hs, int status, const pc_http_header *hd, size_t n, const uint8_t *body,
                          size_t len, bool close)
{
    buf b = {0};
    char line[96];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, pc_http_reason(status));
    buf_add(&b, line, strlen(line));
    if (!add_headers(&b, hd, n, false)) {
        free(b.p);
        send_response(hs, 500, NULL, 0, NULL, 0, close);
        return;
    }
    snprintf(line, sizeof line, "Content-Length: %zu\r\n%s\r\n", len, close ? "Connection: close\r\n" : "");
    buf_add(&b, line, strlen(line));
    if (b.oom || pc_stream_write(hs->st, (const uint8_t *)b.p, b.len) != PC_OK ||
        (len && pc_stream_write(hs->st, body, len) != PC_OK))
        pc_stream_abort(hs->st, 0);
    free(b.p);
    if (close)
        hs_shut(hs);
}

static void serve_pump(hstream *hs)
{
    pc_http *h = hs->h;
    hs->pumping = true;
    while (!hs->ex && !hs->shut && hs->pend_len > 0) {
        size_t used;
        bool done;
        int rc = pc_http_reader_feed(&hs->rd, hs->pend, hs->pend_len, &used, &done);
        if (rc != PC_OK) {
            static const char msg[] = "bad request\n";
            send_response(hs, hs->rd.error_status, NULL, 0, (const uint8_t *)msg, sizeof msg - 1, true);
            break;
        }
        memmove(hs->pend, hs->pend + used, hs->pend_len - used);
        hs->pend_len -= used;
        if (!done)
            break;
        pc_http_exchange *ex = calloc(1, sizeof *ex);
        if (!ex) {
            send_response(hs, 500, NULL, 0, NULL, 0, true);
            break;
        }
        ex->hs = hs;
        pc_http_reader_take(&hs->rd, &ex->msg);
        ex->close = !ex->msg.keep_alive;
        hs->ex = ex;
        pc_http_incoming req = {pc_stream_peer(hs->st), pc_stream_alpn(hs->st), &ex->msg};
        h->handler(ex, &req, h->handler_data);
    }
    /* the peer finished sending and nothing is left to answer: finish our side too */
    if (!hs->ex && !hs->shut && hs->peer_fin && hs->pend_len == 0) {
        bool done;
        if (pc_http_reader_eof(&hs->rd, &done) != PC_OK && hs->rd.error_status)
            send_response(hs, 400, NULL, 0, NULL, 0, true);
        hs_shut(hs);
    }
    hs->pumping = false;
}

int pc_http_respond(pc_http_exchange *ex, int status, const pc_http_header *headers, size_t n_headers,
                    const uint8_t *body, size_t body_len)
{
    hstream *hs = ex->hs;
    int rc = PC_ERR_CLOSED;
    if (hs && hs->st) {
        if (status < 100 || status > 999)
            status = 500;
        send_response(hs, status, headers, n_headers, body, body_len, ex->close);
        hs->ex = NULL;
        /* the answered request's bytes are released; what is still pending belongs to the
         * next one (the reader takes nothing more while a request waits for its answer) */
        hs->h->buffered -= hs->held - hs->pend_len;
        hs->held = hs->pend_len;
        rc = PC_OK;
    }
    pc_http_msg_free(&ex->msg);
    free(ex);
    if (hs && hs->st && !hs->pumping)
        serve_pump(hs);
    return rc;
}

void pc_http_stream_opened(pc_http *h, pc_stream *st)
{
    if (!h || !h->handler || !hs_new(h, st, false))
        pc_stream_abort(st, 0);
}

static void server_data(hstream *hs, const uint8_t *data, size_t len, bool fin)
{
    pc_http *h = hs->h;
    if (fin)
        hs->peer_fin = true;
    if (hs->shut)
        return;
    size_t limit = h->req_lim.max_header_bytes + h->req_lim.max_body + 65536;
    if (hs->pend_len + len > limit || h->buffered + len > h->max_buffered) {
        pc_stream_abort(hs->st, 0);
        return;
    }
    if (hs->pend_len + len > hs->pend_cap) {
        size_t cap = hs->pend_cap ? hs->pend_cap : 4096;
        while (cap < hs->pend_len + len)
            cap *= 2;
        uint8_t *p = realloc(hs->pend, cap);
        if (!p) {
            pc_stream_abort(hs->st, 0);
            return;
        }
        hs->pend = p;
        hs->pend_cap = cap;
    }
    if (len)
        memcpy(hs->pend + hs->pend_len, data, len);
    hs->pend_len += len;
    hs->held += len;
    h->buffered += len;
    if (!hs->pumping)
        serve_pump(hs);
}

/* ---- client -------------------------------------------------------------------------- */

static int req_start(creq *r)
{
    pc_http *h = r->h;
    pc_stream *st;
    int rc = pc_session_open_stream(h->session, h->alpn, r->key, &st);
    if (rc != PC_OK)
        return rc;
    hstream *hs = hs_new(h, st, true);
    if (!hs) {
        pc_stream_abort(st, 0);
        return PC_ERR_NOMEM;
    }
    hs->req = r;
    r->hs = hs;
    if (r->head)
        pc_http_reader_no_body(&hs->rd);
    if (pc_stream_write(st, r->wire, r->wire_len) != PC_OK) {
        pc_stream_abort(st, 0);
        return PC_ERR_NOMEM;
    }
    return PC_OK;
}

int pc_http_request(pc_http *h, const uint8_t key[PC_KEY_LEN], const char *method, const char *target,
                    const pc_http_header *headers, size_t n_headers, const uint8_t *body, size_t body_len,
                    uint64_t now, pc_http_done done, void *user_data)
{
    if (!done || !token_ok(method, false) || !*method || strlen(method) > 32 || !token_ok(target, false) ||
        target[0] != '/' || strlen(target) > h->req_lim.max_header_bytes)
        return PC_ERR_INVALID;
    creq *r = calloc(1, sizeof *r);
    if (!r)
        return PC_ERR_NOMEM;
    char hex[2 * PC_KEY_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, key, PC_KEY_LEN);
    buf b = {0};
    buf_add(&b, method, strlen(method));
    buf_add(&b, " ", 1);
    buf_add(&b, target, strlen(target));
    buf_fmt(&b, " HTTP/1.1\r\nHost: %s%s\r\n", hex, "");
    bool ok = add_headers(&b, headers, n_headers, true);
    bool wants_len = body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                     strcmp(method, "PATCH") == 0;
    if (wants_len) {
        char line[64];
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len);
        buf_add(&b, line, strlen(line));
    }
    buf_add(&b, "\r\n", 2);
    if (body_len)
        buf_add(&b, body, body_len);
    if (!ok || b.oom) {
        free(b.p);
        free(r);
        return ok ? PC_ERR_NOMEM : PC_ERR_INVALID;
    }
    r->h = h;
    memcpy(r->key, key, PC_KEY_LEN);
    r->wire = (uint8_t *)b.p;
    r->wire_len = b.len;
    r->head = strcmp(method, "HEAD") == 0;
    r->deadline = now + h->timeout_ns;
    r->done = done;
    r->ud = user_data;
    int rc = req_start(r);
    if (rc != PC_OK) {
        if (r->hs)
            r->hs->req = NULL;
        free(r->wire);
        free(r);
        return rc;
    }
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    return PC_OK;
}

static void client_data(hstream *hs, const uint8_t *data, size_t len, bool fin)
{
    creq *r = hs->req;
    if (!r)
        return; /* already answered; the rest of the stream is ignored */
    if (len)
        r->got_bytes = true;
    bool done = false;
    int rc = PC_OK;
    size_t used = 0;
    if (len)
        rc = pc_http_reader_feed(&hs->rd, data, len, &used, &done);
    if (rc == PC_OK && !done && fin)
        rc = pc_http_reader_eof(&hs->rd, &done);
    if (rc == PC_OK && !done && fin)
        rc = PC_ERR_CLOSED;
    if (rc != PC_OK) {
        pc_stream_abort(hs->st, 0);
        req_finish(r, rc, NULL);
        return;
    }
    if (!done)
        return;
    pc_http_msg m;
    pc_http_reader_take(&hs->rd, &m);
    /* response complete: now end our side, so a Go server reads EOF and closes its own */
    pc_stream_shutdown(hs->st);
    req_finish(r, PC_OK, &m);
    pc_http_msg_free(&m);
}

/* ---- stream events -------------------------------------------------------------------- */

void pc_http_stream_data(pc_http *h, pc_stream *st, const uint8_t *data, size_t len, bool fin)
{
    (void)h;
    hstream *hs = pc_stream_user(st);
    if (!hs)
        return;
    if (hs->client)
        client_data(hs, data, len, fin);
    else
        server_data(hs, data, len, fin);
}

void pc_http_stream_closed(pc_http *h, pc_stream *st, int err)
{
    (void)h;
    hstream *hs = pc_stream_user(st);
    if (!hs)
        return;
    bool opened = pc_stream_was_opened(st);
    hs->st = NULL;
    creq *r = hs->req;
    hs_free(hs);
    if (!r)
        return;
    /* No answer and the connection is gone. A request whose connection's handshake timed
     * out never left (a node that just joined may have no route for several seconds):
     * it goes out again on a new connection until its own deadline. Otherwise (reset or
     * replaced connection, a failed handshake) once more; never after an idle timeout,
     * when the peer may be working on it. */
    bool never_left = !opened && err == PC_ERR_TIMEOUT;
    if (!r->got_bytes && (never_left || (!r->retried && err != PC_OK && err != PC_ERR_TIMEOUT))) {
        if (!never_left)
            r->retried = true;
        if (req_start(r) == PC_OK)
            return;
    }
    req_finish(r, err != PC_OK ? err : PC_ERR_CLOSED, NULL);
}

uint64_t pc_http_next_deadline(const pc_http *h)
{
    uint64_t d = UINT64_MAX;
    for (creq *r = h->reqs; r; r = r->next)
        if (r->deadline < d)
            d = r->deadline;
    return d;
}

void pc_http_handle_timeout(pc_http *h, uint64_t now)
{
    for (creq *r = h->reqs, *n; r; r = n) {
        n = r->next;
        if (r->deadline > now)
            continue;
        if (r->hs && r->hs->st)
            pc_stream_abort(r->hs->st, 0);
        req_finish(r, PC_ERR_TIMEOUT, NULL);
    }
}
