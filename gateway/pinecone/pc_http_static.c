/* pc_http_static: a minimal static-file responder (see pc_http_static.h). Containment is
 * checked on the resolved path, so neither `..` nor symlinks can escape the root. */
#include "pinecone/pc_http_static.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int unhex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes the path part of target into out; false on a bad escape, NUL or overflow. */
static bool decode_path(const char *target, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = target; *p && *p != '?' && *p != '#'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return false;
            c = (char)(hi << 4 | lo);
            p += 2;
        }
        if (n + 1 >= cap)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return n > 0 && out[0] == '/';
}

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot) return "application/octet-stream";
    if (strcmp(dot, ".html") == 0) return "text/html; charset=utf-8";
    if (strcmp(dot, ".txt") == 0) return "text/plain; charset=utf-8";
    if (strcmp(dot, ".json") == 0) return "application/json";
    return "application/octet-stream";
}

static void plain(pc_http_exchange *ex, int status)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, pc_http_reason(status));
    pc_http_header h[] = {{"Content-Type", "text/plain; charset=utf-8"}};
    pc_http_respond(ex, status, h, 1, (const uint8_t *)body, (size_t)n);
}

void pc_http_static_serve(const char *root, pc_http_exchange *ex, const pc_http_incoming *req)
{
    bool head = strcmp(req->msg->method, "HEAD") == 0;
    if (!head && strcmp(req->msg->method, "GET") != 0) {
        plain(ex, 405);
        return;
    }
    char rel[PATH_MAX], want[PATH_MAX * 2 + 16], real_root[PATH_MAX], real[PATH_MAX];
    if (!decode_path(req->msg->target, rel, sizeof rel) || !realpath(root, real_root)) {
        plain(ex, 400);
        return;
    }
    snprintf(want, sizeof want, "%s%s", real_root, rel);
    struct stat stt;
    if (!realpath(want, real) || stat(real, &stt) != 0) {
        plain(ex, 404);
        return;
    }
    size_t rl = strlen(real_root);
    if (strncmp(real, real_root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
        plain(ex, 404);
        return;
    }
    if (S_ISDIR(stt.st_mode)) {
        size_t l = strlen(real);
        if (l + sizeof "/index.html" > sizeof real) {
            plain(ex, 404);
            return;
        }
        memcpy(real + l, "/index.html", sizeof "/index.html");
        if (stat(real, &stt) != 0) {
            plain(ex, 404);
            return;
        }
    }
    if (!S_ISREG(stt.st_mode) || (uint64_t)stt.st_size > PC_HTTP_STATIC_MAX_FILE) {
        plain(ex, S_ISREG(stt.st_mode) ? 500 : 404);
        return;
    }
    FILE *f = fopen(real, "rb");
    size_t len = (size_t)stt.st_size;
    uint8_t *data = len ? malloc(len) : NULL;
    if (!f || (len && (!data || fread(data, 1, len, f) != len))) {
        if (f)
            fclose(f);
        free(data);
        plain(ex, 500);
        return;
    }
    fclose(f);
    pc_http_header h[] = {{"Content-Type", content_type(real)}};
    /* HEAD: same headers, no body (Content-Length then says 0, which clients ignore) */
    pc_http_respond(ex, 200, h, 1, head ? NULL : data, head ? 0 : len);
    free(data);
}
