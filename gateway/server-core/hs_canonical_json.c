/* hs_canonical_json: the encoder walks jansson values itself, because jansson's own dumper
 * writes \u escapes in uppercase hex and cannot be told to match the spec's lowercase form.
 * Object keys are collected and sorted with memcmp (UTF-8 byte order equals codepoint
 * order, which is what the spec and Python's sort_keys give). The parser is jansson with
 * duplicate rejection and NUL-in-string allowed, followed by a walk that refuses floats
 * and out-of-range integers. */
#include "server-core/hs_canonical_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hs_err_set(hs_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- checking ------------------------------------------------------------------- */

static int check_value(const json_t *v, unsigned flags, const char *where, hs_err *err)
{
    switch (json_typeof(v)) {
    case JSON_REAL:
        return hs_err_set(err, "floats are not allowed in canonical JSON (at %s)", where);
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (!(flags & HS_CJSON_LAX_INTS) && (i > HS_CJSON_MAX_SAFE_INT || i < -HS_CJSON_MAX_SAFE_INT))
            return hs_err_set(err, "integer %" JSON_INTEGER_FORMAT " at %s is outside the canonical JSON range +-(2^53-1)",
                              i, where);
        return 0;
    }
    case JSON_ARRAY: {
        size_t idx;
        json_t *item;
        json_array_foreach((json_t *)v, idx, item) {
            char sub[128];
            snprintf(sub, sizeof sub, "%.80s[%zu]", where, idx);
            if (check_value(item, flags, sub, err) < 0) return -1;
        }
        return 0;
    }
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *item;
        json_object_keylen_foreach((json_t *)v, key, klen, item) {
            char sub[128];
            if (memchr(key, '\0', klen))
                return hs_err_set(err, "NUL byte in an object key (in %s)", where);
            snprintf(sub, sizeof sub, "%.60s.%.30s", where, key);
            if (check_value(item, flags, sub, err) < 0) return -1;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int hs_cjson_check(const json_t *v, unsigned flags, hs_err *err)
{
    if (!v) return hs_err_set(err, "no JSON value");
    return check_value(v, flags, "$", err);
}

/* ---- parsing -------------------------------------------------------------------- */

json_t *hs_cjson_parse(const char *buf, size_t len, size_t max_bytes, unsigned flags, hs_err *err)
{
    if (len > max_bytes) {
        hs_err_set(err, "JSON document is %zu bytes, over the %zu byte limit", len, max_bytes);
        return NULL;
    }
    json_error_t je;
    size_t jflags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
    if (flags & HS_CJSON_ANY) jflags |= JSON_DECODE_ANY;
    json_t *v = json_loadb(buf, len, jflags, &je);
    if (!v) {
        switch (json_error_code(&je)) {
        case json_error_duplicate_key:
            hs_err_set(err, "duplicate key in JSON object (line %d, column %d): %s", je.line, je.column, je.text);
            break;
        case json_error_numeric_overflow:
            hs_err_set(err, "number too large (line %d, column %d): %s", je.line, je.column, je.text);
            break;
        case json_error_null_byte_in_key:
            hs_err_set(err, "NUL byte in an object key (line %d, column %d)", je.line, je.column);
            break;
        case json_error_invalid_utf8:
            hs_err_set(err, "invalid UTF-8 in JSON (line %d, column %d)", je.line, je.column);
            break;
        default:
            hs_err_set(err, "invalid JSON (line %d, column %d): %s", je.line, je.column, je.text);
        }
        return NULL;
    }
    if (!(flags & HS_CJSON_ANY) && !json_is_object(v)) {
        json_decref(v);
        hs_err_set(err, "JSON document must be an object");
        return NULL;
    }
    if (check_value(v, flags, "$", err) < 0) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- encoding ------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_string(sbuf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    size_t run = 0; /* start of the pending unescaped run */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\b': put(b, "\\b", 2); break;
        case '\t': put(b, "\\t", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\f': put(b, "\\f", 2); break;
        case '\r': put(b, "\\r", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        }
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

typedef struct {
    const char *key;
    size_t len;
    json_t *val;
} member;

static int cmp_member(const void *a, const void *b)
{
    const member *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int encode_value(sbuf *b, const json_t *v, unsigned flags, const char *const *skip, hs_err *err);

static int encode_object(sbuf *b, const json_t *v, unsigned flags, const char *const *skip, hs_err *err)
{
    size_t n = json_object_size(v);
    member *m = n ? calloc(n, sizeof *m) : NULL;
    if (n && !m) return hs_err_set(err, "out of memory");
    size_t k = 0;
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)v, key, klen, val) {
        bool skipped = false;
        for (const char *const *s = skip; s && *s; s++)
            if (strlen(*s) == klen && memcmp(*s, key, klen) == 0) skipped = true;
        if (!skipped) m[k++] = (member){key, klen, val};
    }
    if (k > 1) qsort(m, k, sizeof *m, cmp_member);
    put(b, "{", 1);
    for (size_t i = 0; i < k; i++) {
        if (i) put(b, ",", 1);
        put_string(b, m[i].key, m[i].len);
        put(b, ":", 1);
        if (encode_value(b, m[i].val, flags, NULL, err) < 0) {
            free(m);
            return -1;
        }
    }
    put(b, "}", 1);
    free(m);
    return 0;
}

static int encode_value(sbuf *b, const json_t *v, unsigned flags, const char *const *skip, hs_err *err)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return encode_object(b, v, flags, skip, err);
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) put(b, ",", 1);
            if (encode_value(b, json_array_get(v, i), flags, NULL, err) < 0) return -1;
        }
        put(b, "]", 1);
        return 0;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (!(flags & HS_CJSON_LAX_INTS) && (i > HS_CJSON_MAX_SAFE_INT || i < -HS_CJSON_MAX_SAFE_INT))
            return hs_err_set(err, "integer %" JSON_INTEGER_FORMAT " is outside the canonical JSON range +-(2^53-1)", i);
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, i);
        put(b, num, (size_t)n);
        return 0;
    }
    case JSON_REAL:
        return hs_err_set(err, "floats are not allowed in canonical JSON");
    case JSON_TRUE:
        put(b, "true", 4);
        return 0;
    case JSON_FALSE:
        put(b, "false", 5);
        return 0;
    case JSON_NULL:
        put(b, "null", 4);
        return 0;
    }
    return hs_err_set(err, "unknown JSON value type");
}

char *hs_cjson_encode_without(const json_t *obj, const char *const *skip, unsigned flags,
                              size_t *len_out, hs_err *err)
{
    if (!obj) {
        hs_err_set(err, "no JSON value");
        return NULL;
    }
    sbuf b = {0};
    if (encode_value(&b, obj, flags, json_is_object(obj) ? skip : NULL, err) < 0) {
        free(b.p);
        return NULL;
    }
    if (b.oom) {
        free(b.p);
        hs_err_set(err, "out of memory");
        return NULL;
    }
    if (len_out) *len_out = b.len;
    return b.p;
}

char *hs_cjson_encode(const json_t *v, unsigned flags, size_t *len_out, hs_err *err)
{
    return hs_cjson_encode_without(v, NULL, flags, len_out, err);
}
