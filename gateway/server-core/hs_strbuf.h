/* hs_strbuf: a growable string for building text output (rendered config, metrics,
 * JSON-free responses). Allocation failure is sticky: later appends do nothing and
 * hs_strbuf_take returns NULL, so callers check once at the end. */
#ifndef HS_STRBUF_H
#define HS_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hs_strbuf {
    char *data;
    size_t len, cap;
    bool oom;
} hs_strbuf;

#define HS_STRBUF_INIT {NULL, 0, 0, false}

/* Appends formatted text. */
void hs_strbuf_printf(hs_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends `n` bytes. */
void hs_strbuf_append(hs_strbuf *b, const char *s, size_t n);

/* Returns the NUL-terminated text (caller frees; "" for an empty buffer), or NULL if
 * any allocation failed. The buffer is empty afterwards. */
char *hs_strbuf_take(hs_strbuf *b);

#endif
