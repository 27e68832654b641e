/* hs_cmd_json: `pinegate json canonical` — a filter from any JSON document to its
 * canonical form, refusing what canonical JSON cannot express. Handy for checking
 * hashes by hand and for comparing with other implementations. */
#include "server-core/hs_cmd_json.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BYTES (1u << 20)

char *hs_cmd_read_all(FILE *f, size_t max, size_t *len, hs_err *err)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        hs_err_set(err, "out of memory");
        return NULL;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max + 1) break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                hs_err_set(err, "out of memory");
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) break;
        n += got;
        if (n > max) break;
    }
    if (n > max) {
        free(buf);
        hs_err_set(err, "input is over the %zu byte limit", max);
        return NULL;
    }
    if (ferror(f)) {
        free(buf);
        hs_err_set(err, "error reading input");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: pinegate json canonical [--max-bytes N] < in.json\n"
                 "  Prints the Matrix canonical JSON form of the input and a newline (sorted keys,\n"
                 "  no whitespace, UTF-8 unescaped). Fails (exit 1) on invalid JSON, duplicate keys, floats,\n"
                 "  integers outside +-(2^53-1) or input over N bytes (default %u).\n",
            DEFAULT_MAX_BYTES);
}

int pg_cmd_json(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "canonical") != 0) {
        fprintf(stderr, "pinegate json: unknown subcommand '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    size_t max = DEFAULT_MAX_BYTES;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--max-bytes") == 0 && i + 1 < argc) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || v == 0) {
                fprintf(stderr, "pinegate json: --max-bytes needs a positive number\n");
                return 2;
            }
            max = (size_t)v;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "pinegate json canonical: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    hs_err err = {{0}};
    size_t len;
    char *in = hs_cmd_read_all(stdin, max, &len, &err);
    json_t *v = in ? hs_cjson_parse(in, len, max, HS_CJSON_ANY, &err) : NULL;
    free(in);
    char *out = v ? hs_cjson_encode(v, 0, &len, &err) : NULL;
    json_decref(v);
    if (!out) {
        fprintf(stderr, "pinegate json canonical: %s\n", err.msg);
        return 1;
    }
    fwrite(out, 1, len, stdout);
    fputc('\n', stdout);
    free(out);
    return 0;
}
