/* pgt: test helpers. Nothing here is part of pinegate. */
#include "support/pgt.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *pgt_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/pinegate-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void pgt_rmtree(const char *path)
{
    if (path) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct growbuf {
    char *d;
    size_t n;
} growbuf;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    growbuf *b = ud;
    size_t n = size * nmemb;
    char *d = realloc(b->d, b->n + n + 1);
    if (!d) return 0;
    memcpy(d + b->n, ptr, n);
    b->d = d;
    b->n += n;
    b->d[b->n] = '\0';
    return n;
}

typedef struct upload {
    const char *data;
    size_t len, off;
} upload;

static size_t feed(char *buf, size_t size, size_t nitems, void *ud)
{
    upload *u = ud;
    size_t n = size * nitems;
    if (n > u->len - u->off) n = u->len - u->off;
    memcpy(buf, u->data + u->off, n);
    u->off += n;
    return n;
}

pgt_http pgt_http_do(const char *url, const pgt_req *opt)
{
    pgt_req none = {0};
    if (!opt) opt = &none;
    pgt_http r = {0};
    growbuf body = {0}, hdrs = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    upload up = {opt->body, opt->body_len, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opt->timeout_ms ? opt->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (opt->method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, opt->method);
    if (opt->method && strcmp(opt->method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (opt->body) {
        if (opt->chunked) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
            curl_easy_setopt(c, CURLOPT_READDATA, &up);
            hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
            if (!opt->method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, opt->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opt->body_len);
        }
        hl = curl_slist_append(hl, "Content-Type: application/json");
    }
    for (const char *const *h = opt->headers; h && *h; h++) hl = curl_slist_append(hl, *h);
    if (hl) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (strncmp(url, "https:", 6) == 0) {
        if (opt->ca_file) {
            curl_easy_setopt(c, CURLOPT_CAINFO, opt->ca_file);
        } else {
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    else snprintf(r.error, sizeof r.error, "%s", errbuf);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    r.body = body.d ? body.d : strdup("");
    r.body_len = body.n;
    r.headers = hdrs.d ? hdrs.d : strdup("");
    return r;
}

void pgt_http_free(pgt_http *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

char *pgt_header(const pgt_http *r, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol) break;
        if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ') v++;
            return strndup(v, (size_t)(eol - v));
        }
        line = eol + 2;
    }
    return NULL;
}

int pgt_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

int pgt_listen_loopback(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int pgt_spawn(pgt_proc *p, char *const argv[])
{
    int fds[2];
    memset(p, 0, sizeof *p);
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    p->pid = pid;
    p->out_fd = fds[0];
    return 0;
}

long pgt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

bool pgt_wait_line(pgt_proc *p, const char *needle, int timeout_ms, char *line, size_t linelen)
{
    long deadline = pgt_now_ms() + timeout_ms;
    while (1) {
        char *hit = strstr(p->buf, needle);
        if (hit) {
            char *start = hit;
            while (start > p->buf && start[-1] != '\n') start--;
            char *end = strchr(hit, '\n');
            if (end || !line) {
                if (line) snprintf(line, linelen, "%.*s", (int)(end - start), start);
                return true;
            }
        }
        long left = deadline - pgt_now_ms();
        if (left <= 0 || p->len + 1 >= sizeof p->buf) return false;
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)left) <= 0) return false;
        ssize_t n = read(p->out_fd, p->buf + p->len, sizeof p->buf - 1 - p->len);
        if (n <= 0) return false;
        p->len += (size_t)n;
        p->buf[p->len] = '\0';
    }
}

int pgt_stop(pgt_proc *p, int sig, int timeout_ms)
{
    if (p->pid <= 0) return -1;
    if (sig) kill(p->pid, sig);
    long deadline = pgt_now_ms() + timeout_ms;
    int status = 0;
    while (1) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) break;
        if (pgt_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            close(p->out_fd);
            p->pid = 0;
            return -1;
        }
        usleep(10000);
    }
    /* Keep what it printed last, for diagnostics. */
    ssize_t n;
    while (p->len + 1 < sizeof p->buf && (n = read(p->out_fd, p->buf + p->len, sizeof p->buf - 1 - p->len)) > 0) {
        p->len += (size_t)n;
        p->buf[p->len] = '\0';
    }
    close(p->out_fd);
    p->pid = 0;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

int pgt_run(char *const argv[], char **out)
{
    pgt_proc p;
    if (pgt_spawn(&p, argv) != 0) return -1;
    /* Read everything (not just what fits p.buf) so a chatty child never blocks. */
    growbuf all = {0};
    char chunk[65536];
    ssize_t n;
    while ((n = read(p.out_fd, chunk, sizeof chunk)) > 0) collect(chunk, 1, (size_t)n, &all);
    int rc = pgt_stop(&p, 0, 60000);
    if (out) *out = all.d ? all.d : strdup("");
    else free(all.d);
    return rc;
}

const char *pgt_pinegate(void)
{
    const char *b = getenv("PINEGATE_BIN");
    return b && *b ? b : PG_SOURCE_DIR "/build/test/pinegate";
}

char *pgt_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 65536 + 1 > cap) {
            cap = (cap ? cap * 2 : 65536) + 65536 + 1;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        n = fread(buf + len, 1, 65536, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int pgt_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int pgt_pinegate_stdin(const char *args, const char *input, char **out)
{
    char *dir = pgt_tmpdir();
    if (!dir) return -1;
    char in_path[600], cmd[8192];
    snprintf(in_path, sizeof in_path, "%s/stdin", dir);
    int rc = -1;
    if (pgt_write_file(in_path, input) == 0) {
        snprintf(cmd, sizeof cmd, "exec '%s' %s < '%s'", pgt_pinegate(), args, in_path);
        char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        rc = pgt_run(argv, out);
    }
    pgt_rmtree(dir);
    free(dir);
    return rc;
}

json_t *pgt_load_jsonl(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t e;
        json_t *v = json_loads(line, JSON_ALLOW_NUL, &e);
        if (!v) {
            snprintf(err, errlen, "%s:%ld: %s", path, lineno, e.text);
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_array_append_new(arr, v);
    }
    free(line);
    fclose(f);
    return arr;
}

int pgt_in_child(int (*scenario)(char *msg, size_t cap, void *ctx), void (*cleanup)(void *ctx), void *ctx,
                 char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) return 1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        /* nothing here may report through Criterion: its IPC may be namespaced away */
        close(fds[0]);
        char *msg = calloc(1, cap);
        int rc = msg ? scenario(msg, cap, ctx) : 1;
        if (cleanup) cleanup(ctx);
        if (msg && write(fds[1], msg, strlen(msg)) < 0) rc = 1;
        close(fds[1]);
        _exit(rc);
    }
    close(fds[1]);
    size_t len = 0;
    for (ssize_t r; len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0;)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
