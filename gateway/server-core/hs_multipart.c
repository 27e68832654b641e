/* hs_multipart: see hs_multipart.h. The body is split at "\r\n--<boundary>" (RFC
 * 2046: the CRLF before a delimiter belongs to the delimiter, so a file's bytes are
 * exactly what lies between its header block and the next delimiter). A preamble before
 * the first delimiter and an epilogue after the closing one are ignored, as RFC 2046
 * asks; everything else out of place is an error rather than a guess. */
#include "server-core/hs_multipart.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The boundary parameter of a multipart/mixed Content-Type into out ("--" + boundary).
 * Returns its length, or -1. */
static int boundary_of(const char *ct, char out[HS_MULTIPART_BOUNDARY_MAX + 3])
{
    static const char type[] = "multipart/mixed";
    if (!ct || strncasecmp(ct, type, sizeof type - 1) != 0) return -1;
    const char *p = ct + sizeof type - 1;
    while (*p) {
        if (*p != ';') {
            if (*p == ' ' || *p == '\t') {
                p++;
                continue;
            }
            return -1;
        }
        p++;
        while (*p == ' ' || *p == '\t') p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';') p++;
        if (*p != '=') continue;
        size_t nlen = (size_t)(p - name);
        p++;
        const char *v = p;
        size_t vlen;
        if (*v == '"') {
            v++;
            const char *q = strchr(v, '"');
            if (!q) return -1;
            vlen = (size_t)(q - v);
            p = q + 1;
        } else {
            while (*p && *p != ';' && *p != ' ' && *p != '\t') p++;
            vlen = (size_t)(p - v);
        }
        if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
            if (vlen == 0 || vlen > HS_MULTIPART_BOUNDARY_MAX) return -1;
            out[0] = out[1] = '-';
            memcpy(out + 2, v, vlen);
            out[vlen + 2] = '\0';
            return (int)vlen + 2;
        }
    }
    return -1;
}

/* Copies the value of header `name` from a header block (lines separated by CRLF) into
 * out (HS_MULTIPART_HEADER_MAX bytes), "" when absent. Returns 0, or -1 when the value
 * is too long or a line has no colon. */
static int header_of(const char *h, size_t hlen, const char *name, char *out)
{
    out[0] = '\0';
    size_t nlen = strlen(name);
    const char *end = h + hlen;
    while (h < end) {
        const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
        if (!eol) eol = end;
        const char *colon = memchr(h, ':', (size_t)(eol - h));
        if (!colon) return -1;
        if ((size_t)(colon - h) == nlen && strncasecmp(h, name, nlen) == 0) {
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vlen = (size_t)(ve - v);
            if (vlen >= HS_MULTIPART_HEADER_MAX || memchr(v, '\0', vlen)) return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
        }
        h = eol + 2;
    }
    return 0;
}

int hs_multipart_parse(const char *content_type, const char *body, size_t len, size_t max_data,
                       hs_multipart_media *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char delim[HS_MULTIPART_BOUNDARY_MAX + 5];
    delim[0] = '\r';
    delim[1] = '\n';
    int blen = boundary_of(content_type, delim + 2);
    if (blen < 0) return fail(err, errlen, "not multipart/mixed with a valid boundary");
    /* The first delimiter may open the body (no CRLF before it) or follow a preamble. */
    const char *p;
    if (len >= (size_t)blen && memcmp(body, delim + 2, (size_t)blen) == 0) {
        p = body + blen;
    } else {
        const char *d = memmem(body, len, delim, (size_t)blen + 2);
        if (!d) return fail(err, errlen, "no boundary delimiter in the body");
        p = d + blen + 2;
    }
    const char *end = body + len;
    const char *part_body[2] = {NULL, NULL};
    size_t part_len[2] = {0, 0};
    const char *part_head[2] = {NULL, NULL};
    size_t head_len[2] = {0, 0};
    int n = 0;
    for (;;) {
        /* p is just past a delimiter: "--" closes, else transport padding and CRLF. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return fail(err, errlen, "truncated after a delimiter");
        p += 2;
        if (n == 2) return fail(err, errlen, "more than two parts");
        const char *hend;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p; /* no headers */
        } else {
            hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
            if (!hend) return fail(err, errlen, "truncated part headers");
        }
        part_head[n] = p;
        head_len[n] = (size_t)(hend - p);
        const char *b = hend + (hend == p ? 2 : 4);
        const char *d = memmem(b, (size_t)(end - b), delim, (size_t)blen + 2);
        if (!d) return fail(err, errlen, "truncated: part %d has no closing delimiter", n + 1);
        part_body[n] = b;
        part_len[n] = (size_t)(d - b);
        n++;
        p = d + blen + 2;
    }
    if (n != 2) return fail(err, errlen, "%d part(s); a media answer has two", n);
    if (part_len[1] > max_data)
        return fail(err, errlen, "file part is %zu bytes; the limit is %zu", part_len[1], max_data);
    if (header_of(part_head[1], head_len[1], "Content-Type", out->content_type) != 0 ||
        header_of(part_head[1], head_len[1], "Content-Disposition", out->disposition) != 0 ||
        header_of(part_head[1], head_len[1], "Location", out->location) != 0)
        return fail(err, errlen, "malformed or overlong header in the file part");
    char json_type[HS_MULTIPART_HEADER_MAX];
    if (header_of(part_head[0], head_len[0], "Content-Type", json_type) != 0)
        return fail(err, errlen, "malformed header in the metadata part");
    out->json = part_body[0];
    out->json_len = part_len[0];
    out->data = part_body[1];
    out->data_len = part_len[1];
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The value of parameter `name` (with its '=') in a Content-Disposition, or NULL. */
static const char *param(const char *d, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = strchr(d, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t') q++;
        if (strncasecmp(q, name, nlen) == 0) return q + nlen;
    }
    return NULL;
}

int hs_multipart_disposition_name(const char *disposition, char *out, size_t cap)
{
    if (!disposition || cap == 0) return -1;
    const char *v = param(disposition, "filename*=");
    size_t o = 0;
    if (v) {
        static const char utf8[] = "utf-8''";
        if (strncasecmp(v, utf8, sizeof utf8 - 1) != 0) return -1;
        for (v += sizeof utf8 - 1; *v && *v != ';' && *v != ' '; v++) {
            char c = *v;
            if (c == '%') {
                int hi = hexval(v[1]), lo = hi < 0 ? -1 : hexval(v[2]);
                if (lo < 0) return -1;
                c = (char)(hi * 16 + lo);
                if (c == '\0') return -1;
                v += 2;
            }
            if (o + 1 >= cap) return -1;
            out[o++] = c;
        }
    } else if ((v = param(disposition, "filename="))) {
        bool quoted = *v == '"';
        if (quoted) v++;
        for (; *v && (quoted ? *v != '"' : (*v != ';' && *v != ' ')); v++) {
            if (quoted && *v == '\\' && v[1]) v++;
            if (o + 1 >= cap) return -1;
            out[o++] = *v;
        }
        if (quoted && *v != '"') return -1;
    } else {
        return -1;
    }
    out[o] = '\0';
    return o ? 0 : -1;
}
