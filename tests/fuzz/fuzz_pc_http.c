/* libFuzzer target: the HTTP-over-stream reader (pc_http_msg) as pc_http drives it.
 * Byte 0 picks requests (even) or responses (odd; bit 1: a HEAD response); byte 1 is
 * the size of the first piece, so messages are also split across two feeds; the rest is
 * the stream, followed by EOF. Every complete message is taken and checked (headers,
 * target and body within the limits and readable), as many messages as the stream
 * holds; every input ends in a message, more input, or a clean error with a status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_http_msg.h"

static const pc_http_limits lim = {4096, 65536};

static void touch(const void *p, size_t n)
{
    volatile uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= ((const uint8_t *)p)[i]; /* ASan catches a bad pointer */
    (void)x;
}

static void check(const pc_http_msg *m, bool request)
{
    if (m->body_len > lim.max_body)
        abort();
    touch(m->body, m->body_len);
    size_t hbytes = 0;
    for (size_t i = 0; i < m->n_headers; i++) {
        hbytes += strlen(m->headers[i].name) + strlen(m->headers[i].value);
        touch(m->headers[i].name, strlen(m->headers[i].name));
    }
    if (request) {
        if (!m->method || !m->target)
            abort();
        hbytes += strlen(m->target);
    }
    if (hbytes > lim.max_header_bytes || m->n_headers > PC_HTTP_MAX_HEADERS)
        abort();
}

/* Feeds one piece; returns false once the reader failed. */
static bool feed(pc_http_reader *r, const uint8_t *d, size_t len, bool request)
{
    while (len) {
        size_t used;
        bool done;
        int rc = pc_http_reader_feed(r, d, len, &used, &done);
        if (rc != PC_OK) {
            if (r->error_status != 400 && r->error_status != 413 && r->error_status != 431 &&
                r->error_status != 500)
                abort();
            return false;
        }
        if (used > len)
            abort();
        d += used;
        len -= used;
        if (!done) {
            if (len)
                abort(); /* stopped early without a message or an error */
            break;
        }
        pc_http_msg m;
        pc_http_reader_take(r, &m);
        check(&m, request);
        pc_http_msg_free(&m);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool request = (data[0] & 1) == 0;
    size_t first = data[1];
    data += 2;
    size -= 2;
    if (first > size)
        first = size;
    pc_http_reader r;
    pc_http_reader_init(&r, request, &lim);
    if (!request && (data[-2] & 2))
        pc_http_reader_no_body(&r);
    if (feed(&r, data, first, request) && feed(&r, data + first, size - first, request)) {
        bool done;
        if (pc_http_reader_eof(&r, &done) == PC_OK && done) {
            pc_http_msg m;
            pc_http_reader_take(&r, &m);
            check(&m, request);
            pc_http_msg_free(&m);
        }
    }
    pc_http_reader_free(&r);
    return 0;
}
