/* hs_http: request/response helpers and the router. Routing works on the raw path:
 * literal pattern segments are compared with the raw segments (so "%2F" inside an ID
 * never splits it) and only captured parameters are percent-decoded. Decoded values
 * containing NUL are refused, because every consumer is C strings. */
#include "server-core/hs_http.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- percent-decoding ----------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes [s, s+n) into a new string; '+' becomes a space when plus_is_space (query
 * strings, as clients and Synapse treat them). NULL on bad escape, NUL or no memory. */
static char *pct_decode(const char *s, size_t n, bool plus_is_space)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n) goto bad;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0) goto bad;
            c = (char)(h * 16 + l);
            if (c == '\0') goto bad;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* ---- request --------------------------------------------------------------------- */

int hs_request_parse_target(hs_request *req, const char *target)
{
    req->target = target;
    req->path = NULL;
    req->n_query = 0;
    size_t len = strlen(target);
    if (len == 0 || len > HS_HTTP_MAX_TARGET || target[0] != '/') return -1;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : len;
    req->path = strndup(target, plen);
    if (!req->path) return -1;
    if (!q) return 0;
    const char *p = q + 1;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg > 0) {
            if (req->n_query == HS_HTTP_MAX_QUERY) goto bad;
            const char *eq = memchr(p, '=', seg);
            size_t klen = eq ? (size_t)(eq - p) : seg;
            hs_kv *kv = &req->query[req->n_query];
            kv->name = pct_decode(p, klen, true);
            kv->value = eq ? pct_decode(eq + 1, seg - klen - 1, true) : strdup("");
            req->n_query++;
            if (!kv->name || !kv->value) goto bad;
        }
        p += seg + (amp ? 1 : 0);
    }
    return 0;
bad:
    hs_request_clear(req);
    return -1;
}

void hs_request_clear(hs_request *req)
{
    free(req->path);
    req->path = NULL;
    for (size_t i = 0; i < req->n_query; i++) {
        free(req->query[i].name);
        free(req->query[i].value);
    }
    req->n_query = 0;
    for (size_t i = 0; i < req->n_params; i++) {
        free(req->params[i].name);
        free(req->params[i].value);
    }
    req->n_params = 0;
}

const char *hs_request_header(const hs_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0) return req->headers[i].value;
    return NULL;
}

const char *hs_request_query(const hs_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->query[i].name, name) == 0) return req->query[i].value;
    return NULL;
}

const char *hs_request_param(const hs_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->params[i].name, name) == 0) return req->params[i].value;
    return NULL;
}

json_t *hs_request_json(const hs_request *req, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "request body is not valid JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- response ------------------------------------------------------------------------ */

void hs_response_header(hs_response *resp, const char *name, const char *value)
{
    assert(resp->n_headers < HS_HTTP_MAX_RESP_HEADERS);
    if (resp->n_headers >= HS_HTTP_MAX_RESP_HEADERS) return;
    hs_kv *kv = &resp->headers[resp->n_headers];
    kv->name = strdup(name);
    kv->value = strdup(value);
    if (!kv->name || !kv->value) {
        free(kv->name);
        free(kv->value);
        return;
    }
    resp->n_headers++;
}

static void drop_file(hs_response *resp)
{
    if (resp->has_body_file) close(resp->body_fd);
    resp->has_body_file = false;
}

static void set_body(hs_response *resp, char *body, size_t len)
{
    drop_file(resp);
    free(resp->body);
    resp->body = body;
    resp->body_len = len;
}

void hs_response_json(hs_response *resp, int status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        status = 500;
        s = strdup("{\"errcode\":\"M_UNKNOWN\",\"error\":\"could not encode the response\"}");
    }
    resp->status = status;
    set_body(resp, s, s ? strlen(s) : 0);
    hs_response_header(resp, "Content-Type", "application/json");
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    unsigned cp = c & (0xFF >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

void hs_response_error(hs_response *resp, int status, const char *errcode, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages quote client input (paths, IDs) and vsnprintf may cut a character in
     * half; JSON needs UTF-8, so anything else becomes '?' rather than a failed answer. */
    for (unsigned char *p = (unsigned char *)msg; *p;) {
        size_t n = utf8_seq_len(p);
        if (n == 0) *p++ = '?';
        else p += n;
    }
    hs_response_json(resp, status, json_pack("{s:s, s:s}", "errcode", errcode, "error", msg));
}

void hs_response_bytes(hs_response *resp, int status, const char *content_type, const void *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        hs_response_error(resp, 500, "M_UNKNOWN", "out of memory");
        return;
    }
    memcpy(copy, data, len);
    resp->status = status;
    set_body(resp, copy, len);
    hs_response_header(resp, "Content-Type", content_type);
}

void hs_response_file(hs_response *resp, int status, int fd, uint64_t len)
{
    set_body(resp, NULL, 0);
    resp->status = status;
    resp->has_body_file = true;
    resp->body_fd = fd;
    resp->body_file_len = len;
}

void hs_response_clear(hs_response *resp)
{
    drop_file(resp);
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->body);
    if (resp->deferral.release) resp->deferral.release(resp->deferral.state);
    memset(resp, 0, sizeof *resp);
}

/* ---- wakes ---------------------------------------------------------------------------- */

struct hs_wake {
    pthread_mutex_t mu;
    bool parked;                 /* armed: the next fire resumes */
    bool fired;                  /* fired while not parked: the next arm resumes at once */
    void (*resume)(void *ctx);
    void *ctx;
};

hs_wake *hs_wake_new(void (*resume)(void *ctx), void *ctx)
{
    hs_wake *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    w->resume = resume;
    w->ctx = ctx;
    return w;
}

void hs_wake_free(hs_wake *w)
{
    if (!w) return;
    pthread_mutex_destroy(&w->mu);
    free(w);
}

bool hs_wake_arm(hs_wake *w)
{
    pthread_mutex_lock(&w->mu);
    bool now = w->fired;
    w->fired = false;
    w->parked = !now;
    pthread_mutex_unlock(&w->mu);
    return now;
}

void hs_wake_fire(hs_wake *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->parked) {
        w->parked = false;
        w->resume(w->ctx);
    } else {
        w->fired = true;
    }
    pthread_mutex_unlock(&w->mu);
}

/* ---- router --------------------------------------------------------------------------- */

#define MAX_SEGMENTS 16

typedef struct route {
    char method[12];
    char *pattern;
    char *segs[MAX_SEGMENTS]; /* literal text, or param name for params */
    bool is_param[MAX_SEGMENTS];
    size_t n_segs;
    bool rest;                /* last param captures the remaining path */
    hs_handler fn;
    void *ctx;
} route;

struct hs_router {
    hs_router_options opts;
    route *routes;
    size_t n, cap;
};

hs_router *hs_router_new(hs_router_options opts)
{
    hs_router *r = calloc(1, sizeof *r);
    if (r) r->opts = opts;
    return r;
}

void hs_router_free(hs_router *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->routes[i].pattern);
        for (size_t s = 0; s < r->routes[i].n_segs; s++) free(r->routes[i].segs[s]);
    }
    free(r->routes);
    free(r);
}

int hs_router_add(hs_router *r, const char *method, const char *pattern, hs_handler fn, void *ctx)
{
    if (pattern[0] != '/' || strlen(method) >= sizeof r->routes[0].method) return -1;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        route *nr = realloc(r->routes, cap * sizeof *nr);
        if (!nr) return -1;
        r->routes = nr;
        r->cap = cap;
    }
    route *rt = &r->routes[r->n];
    memset(rt, 0, sizeof *rt);
    snprintf(rt->method, sizeof rt->method, "%s", method);
    rt->fn = fn;
    rt->ctx = ctx;
    if (!(rt->pattern = strdup(pattern))) return -1;
    const char *p = pattern + 1;
    while (1) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (rt->n_segs == MAX_SEGMENTS || rt->rest) goto bad;
        bool param = n >= 2 && p[0] == '{' && p[n - 1] == '}';
        if (param && n > 5 && strncmp(p + n - 4, "...}", 4) == 0) {
            if (slash) goto bad; /* a rest capture must be last */
            rt->rest = true;
            rt->segs[rt->n_segs] = strndup(p + 1, n - 5);
        } else if (param) {
            rt->segs[rt->n_segs] = strndup(p + 1, n - 2);
        } else {
            rt->segs[rt->n_segs] = strndup(p, n);
        }
        rt->is_param[rt->n_segs] = param;
        if (!rt->segs[rt->n_segs++]) goto bad;
        if (!slash) break;
        p = slash + 1;
    }
    r->n++;
    return 0;
bad:
    for (size_t s = 0; s < rt->n_segs; s++) free(rt->segs[s]);
    free(rt->pattern);
    return -1;
}

int hs_router_add_client_routes(hs_router *r, const hs_client_route *routes, size_t n, void *ctx)
{
    static const char *const prefixes[] = {"/_matrix/client/v3", "/_matrix/client/r0"};
    int rc = 0;
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < n; i++) {
            char pattern[256];
            snprintf(pattern, sizeof pattern, "%s%s", prefixes[p], routes[i].path);
            rc |= hs_router_add(r, routes[i].method, pattern, routes[i].fn, ctx);
        }
    }
    return rc ? -1 : 0;
}

size_t hs_router_count(const hs_router *r)
{
    return r->n;
}

const char *hs_router_pattern(const hs_router *r, size_t i)
{
    return i < r->n ? r->routes[i].pattern : NULL;
}

typedef struct seg {
    const char *s;
    size_t n;
} seg;

/* Matches the split path against one route; on success fills req->params. */
static bool match(const route *rt, const seg *segs, size_t n, hs_request *req, bool capture)
{
    if (rt->rest ? n < rt->n_segs : n != rt->n_segs) return false;
    for (size_t i = 0; i < rt->n_segs; i++) {
        if (rt->is_param[i]) {
            if (segs[i].n == 0 && !(rt->rest && i == rt->n_segs - 1)) return false;
        } else if (strlen(rt->segs[i]) != segs[i].n || memcmp(rt->segs[i], segs[i].s, segs[i].n) != 0) {
            return false;
        }
    }
    if (!capture) return true;
    for (size_t i = 0; i < rt->n_segs; i++) {
        if (!rt->is_param[i]) continue;
        size_t len = segs[i].n;
        if (rt->rest && i == rt->n_segs - 1) len = strlen(segs[i].s); /* to end of path */
        char *v = pct_decode(segs[i].s, len, false);
        if (!v || req->n_params == HS_HTTP_MAX_PARAMS) {
            free(v);
            return false;
        }
        req->params[req->n_params].name = strdup(rt->segs[i]);
        req->params[req->n_params].value = v;
        req->n_params++;
    }
    return true;
}

static void add_cors(hs_response *resp)
{
    hs_response_header(resp, "Access-Control-Allow-Origin", "*");
    hs_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    hs_response_header(resp, "Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization, Date");
}

/* The route for `method` on the split path, or NULL; collects the methods the path does
 * answer to in `allow` (for 405). */
static route *find(hs_router *r, const seg *segs, size_t n, hs_request *req, const char *method, char *allow,
                   size_t allow_cap)
{
    for (size_t i = 0; i < r->n; i++) {
        route *rt = &r->routes[i];
        if (!match(rt, segs, n, req, false)) continue;
        if (strcmp(rt->method, method) == 0) return rt;
        if (!strstr(allow, rt->method)) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_cap - used, "%s%s", used ? ", " : "", rt->method);
        }
    }
    return NULL;
}

void hs_router_dispatch(hs_router *r, hs_request *req, hs_response *resp)
{
    seg segs[MAX_SEGMENTS + 1];
    size_t n = 0;
    const char *p = req->path + 1;
    bool too_deep = false;
    while (1) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (n == MAX_SEGMENTS + 1) {
            too_deep = true;
            break;
        }
        segs[n].s = p;
        segs[n].n = len;
        n++;
        if (!slash) break;
        p = slash + 1;
    }
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    char allow[128] = "";
    route *hit = too_deep ? NULL : find(r, segs, n, req, method, allow, sizeof allow);
    /* A trailing slash is an empty last segment. Clients send ".../state/{type}/" for the
     * empty state key (matrix-js-sdk does) and Synapse serves it as the path without the
     * slash; do the same when nothing matches the path as written. */
    if (!hit && !allow[0] && !too_deep && n > 1 && segs[n - 1].n == 0) {
        n--;
        hit = find(r, segs, n, req, method, allow, sizeof allow);
    }
    if (hit) {
        req->route = hit->pattern;
        if (!match(hit, segs, n, req, true))
            hs_response_error(resp, 400, "M_UNRECOGNIZED", "bad percent-encoding in the request path");
        else
            hit->fn(req, resp, hit->ctx);
    } else if (allow[0] && strcmp(req->method, "OPTIONS") == 0 && r->opts.cors) {
        req->route = "OPTIONS";
        resp->status = 204;
    } else if (allow[0]) {
        req->route = "method-not-allowed";
        hs_response_error(resp, 405, "M_UNRECOGNIZED", "method %s is not allowed on this endpoint", req->method);
        hs_response_header(resp, "Allow", allow);
    } else {
        req->route = "unrecognized";
        hs_response_error(resp, 404, "M_UNRECOGNIZED", "unrecognized request: %s", req->path);
    }
    if (r->opts.cors) add_cors(resp);
}
