/* pc_http_msg: http-parser callbacks that copy one message into its own storage under
 * the reader's limits (see pc_http_msg.h). Header names, values and the target are kept
 * NUL-terminated in one text buffer by offset, because it grows while pieces arrive;
 * pointers are made only when the message is taken. */
#include "pinecone/pc_http_msg.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pinecone/pc_err.h"

static int fail(pc_http_reader *r, int status)
{
    r->error_status = status;
    return -1;
}

static bool txt_append(pc_http_msg *m, const char *at, size_t len)
{
    if (m->txt_len + len + 1 > m->txt_cap) {
        size_t cap = m->txt_cap ? m->txt_cap : 256;
        while (cap < m->txt_len + len + 1)
            cap *= 2;
        char *t = realloc(m->txt, cap);
        if (!t)
            return false;
        m->txt = t;
        m->txt_cap = cap;
    }
    memcpy(m->txt + m->txt_len, at, len);
    m->txt_len += len;
    return true;
}

static int add_text(pc_http_reader *r, const char *at, size_t len)
{
    r->header_bytes += len;
    if (r->header_bytes > r->lim.max_header_bytes)
        return fail(r, 431);
    return txt_append(&r->msg, at, len) ? 0 : fail(r, 500);
}

static int close_text(pc_http_reader *r) { return txt_append(&r->msg, "", 1) ? 0 : fail(r, 500); }

/* field_open: receiving a header name; in_value: receiving its value. */
static bool field_open(const pc_http_reader *r)
{
    return r->msg.n_headers > 0 && r->msg.hoff[r->msg.n_headers - 1][1] == SIZE_MAX;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    pc_http_reader *r = p->data;
    if (!r->url_started) {
        r->url_started = true;
        r->url_off = r->msg.txt_len;
    }
    return add_text(r, at, len);
}

static int close_current(pc_http_reader *r)
{
    if (field_open(r)) { /* a name without value pieces: the value is empty */
        if (close_text(r))
            return -1;
        r->msg.hoff[r->msg.n_headers - 1][1] = r->msg.txt_len;
        return close_text(r);
    }
    if (r->in_value || (r->url_started && r->msg.n_headers == 0))
        return close_text(r);
    return 0;
}

/* Trailers of a chunked body: limited like headers, not kept (nothing here needs them,
 * and they would otherwise arrive after the header text was closed). */
static int on_trailer(pc_http_reader *r, size_t len)
{
    r->header_bytes += len;
    return r->header_bytes > r->lim.max_header_bytes ? fail(r, 431) : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    pc_http_reader *r = p->data;
    pc_http_msg *m = &r->msg;
    if (r->headers_done)
        return on_trailer(r, len);
    if (!field_open(r)) {
        if (close_current(r))
            return -1;
        if (m->n_headers == PC_HTTP_MAX_HEADERS)
            return fail(r, 431);
        if (!m->hoff) {
            m->hoff = malloc(PC_HTTP_MAX_HEADERS * sizeof *m->hoff);
            if (!m->hoff)
                return fail(r, 500);
        }
        m->hoff[m->n_headers][0] = m->txt_len;
        m->hoff[m->n_headers][1] = SIZE_MAX;
        m->n_headers++;
        r->in_value = false;
    }
    return add_text(r, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    pc_http_reader *r = p->data;
    if (r->headers_done)
        return on_trailer(r, len);
    if (field_open(r)) {
        if (close_text(r))
            return -1;
        r->msg.hoff[r->msg.n_headers - 1][1] = r->msg.txt_len;
        r->in_value = true;
    }
    return add_text(r, at, len);
}

static int on_headers_complete(http_parser *p)
{
    pc_http_reader *r = p->data;
    if (close_current(r))
        return -1;
    r->in_value = false;
    r->headers_done = true;
    if (p->type == HTTP_REQUEST) {
        if (!r->url_started)
            return fail(r, 400);
        r->msg.method = http_method_str((enum http_method)p->method);
    } else {
        r->msg.status = p->status_code;
    }
    if (p->content_length != (uint64_t)ULLONG_MAX && p->content_length > r->lim.max_body)
        return fail(r, 413);
    return r->no_body ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    pc_http_reader *r = p->data;
    pc_http_msg *m = &r->msg;
    if (m->body_len + len > r->lim.max_body)
        return fail(r, 413);
    if (m->body_len + len > m->body_cap) {
        size_t cap = m->body_cap ? m->body_cap : 4096;
        while (cap < m->body_len + len)
            cap *= 2;
        if (cap > r->lim.max_body)
            cap = r->lim.max_body;
        uint8_t *b = realloc(m->body, cap);
        if (!b)
            return fail(r, 500);
        m->body = b;
        m->body_cap = cap;
    }
    memcpy(m->body + m->body_len, at, len);
    m->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    pc_http_reader *r = p->data;
    r->msg.keep_alive = http_should_keep_alive(p) != 0;
    r->done = true;
    http_parser_pause(p, 1); /* one message at a time: the owner answers it first */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void pc_http_reader_init(pc_http_reader *r, bool request, const pc_http_limits *lim)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->p, request ? HTTP_REQUEST : HTTP_RESPONSE);
    r->p.data = r;
    r->lim = *lim;
}

void pc_http_reader_free(pc_http_reader *r) { pc_http_msg_free(&r->msg); }

void pc_http_reader_no_body(pc_http_reader *r) { r->no_body = true; }

static int error_code(pc_http_reader *r)
{
    r->failed = true;
    if (!r->error_status)
        r->error_status = 400;
    return r->error_status == 413 || r->error_status == 431 ? PC_ERR_LIMIT : PC_ERR_HTTP;
}

int pc_http_reader_feed(pc_http_reader *r, const uint8_t *data, size_t len, size_t *used, bool *done)
{
    *used = 0;
    *done = false;
    if (r->failed)
        return error_code(r);
    if (r->done) { /* not taken yet */
        *done = true;
        return 0;
    }
    if (len == 0)
        return 0;
    size_t n = http_parser_execute(&r->p, &settings, (const char *)data, len);
    *used = n;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (e != HPE_OK && e != HPE_PAUSED)
        return error_code(r);
    if (r->p.upgrade)
        return error_code(r); /* no protocol switch inside a QUIC stream */
    *done = r->done;
    return 0;
}

int pc_http_reader_eof(pc_http_reader *r, bool *done)
{
    *done = false;
    if (r->failed)
        return error_code(r);
    if (r->done) {
        *done = true;
        return 0;
    }
    http_parser_execute(&r->p, &settings, NULL, 0);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (e != HPE_OK && e != HPE_PAUSED)
        return error_code(r);
    *done = r->done;
    if (!r->done && pc_http_reader_partial(r))
        return error_code(r);
    return 0;
}

bool pc_http_reader_partial(const pc_http_reader *r)
{
    return r->url_started || r->msg.n_headers > 0 || r->msg.body_len > 0 || r->header_bytes > 0 ||
           r->p.nread > 0;
}

void pc_http_reader_take(pc_http_reader *r, pc_http_msg *out)
{
    pc_http_msg *m = &r->msg;
    *out = *m;
    if (r->p.type == HTTP_REQUEST)
        out->target = out->txt ? out->txt + r->url_off : "";
    out->headers = out->n_headers ? calloc(out->n_headers, sizeof *out->headers) : NULL;
    if (out->n_headers && !out->headers)
        out->n_headers = 0;
    for (size_t i = 0; i < out->n_headers; i++) {
        out->headers[i].name = out->txt + out->hoff[i][0];
        out->headers[i].value = out->txt + out->hoff[i][1];
    }
    memset(m, 0, sizeof *m);
    r->url_off = 0;
    r->header_bytes = 0;
    r->in_value = r->url_started = r->headers_done = r->done = r->no_body = false;
    http_parser_pause(&r->p, 0);
}

const char *pc_http_msg_header(const pc_http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (strcasecmp(m->headers[i].name, name) == 0)
            return m->headers[i].value;
    return NULL;
}

void pc_http_msg_free(pc_http_msg *m)
{
    free(m->txt);
    free(m->hoff);
    free(m->headers);
    free(m->body);
    memset(m, 0, sizeof *m);
}
