/* pgt: helpers shared by pinegate's tests - temporary directories, HTTP(S) requests with
 * libcurl, and child processes whose output the test reads. Test code only. */
#ifndef PGT_H
#define PGT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Makes a fresh directory under $TMPDIR (or /tmp) and returns its malloc'd path. */
char *pgt_tmpdir(void);

/* Removes a directory tree made by pgt_tmpdir. */
void pgt_rmtree(const char *path);

/* An HTTP exchange's result. */
typedef struct pgt_http {
    long status;         /* 0 when the request failed at the transport */
    char *body;          /* NUL-terminated */
    size_t body_len;
    char *headers;       /* raw response header block */
    char error[256];     /* curl's message when status == 0 */
} pgt_http;

/* Options for one request; zero-initialise and set what you need. */
typedef struct pgt_req {
    const char *method;  /* default GET */
    const char *body;    /* sent as-is */
    size_t body_len;
    bool chunked;        /* send the body with Transfer-Encoding: chunked */
    const char *ca_file; /* verify HTTPS against this certificate; NULL = don't verify */
    const char *const *headers; /* NULL-terminated "Name: value" list */
    long timeout_ms;     /* default 10000 */
} pgt_req;

/* Performs a request. Always returns a result; free with pgt_http_free. */
pgt_http pgt_http_do(const char *url, const pgt_req *opt);
void pgt_http_free(pgt_http *r);

/* Case-insensitive lookup of a header in r->headers; malloc'd value or NULL. */
char *pgt_header(const pgt_http *r, const char *name);

/* Milliseconds on the monotonic clock, for test deadlines. */
long pgt_now_ms(void);

/* A TCP port that was free a moment ago on 127.0.0.1. */
int pgt_free_port(void);

/* A TCP socket listening on 127.0.0.1 at an ephemeral port (SO_REUSEADDR, `backlog`),
 * for tests that play a peer - or one that completes handshakes in the kernel and never
 * answers. Returns the socket (caller closes) and its port in *port, or -1. */
int pgt_listen_loopback(int backlog, int *port);

/* A child process with its stdout (and stderr merged) readable line by line. */
typedef struct pgt_proc {
    pid_t pid;
    int out_fd;
    char buf[65536];
    size_t len;
} pgt_proc;

/* Starts argv[0] with argv (NULL-terminated). Returns 0 or -1. */
int pgt_spawn(pgt_proc *p, char *const argv[]);

/* Reads until a line containing `needle` appears or timeout_ms passes; copies that
 * line into `line` (if non-NULL). Returns true if found. All output read so far stays
 * in p->buf for diagnostics. */
bool pgt_wait_line(pgt_proc *p, const char *needle, int timeout_ms, char *line, size_t linelen);

/* Sends `sig` and waits up to timeout_ms for exit. Returns the exit status (0-255),
 * 128+signal if killed by a signal, or -1 on timeout (the child is then SIGKILLed). */
int pgt_stop(pgt_proc *p, int sig, int timeout_ms);

/* Runs a command to completion, capturing its output (malloc'd, NUL-terminated) into
 * *out when non-NULL. Returns the exit status or -1. */
int pgt_run(char *const argv[], char **out);

/* Runs `$PINEGATE_BIN <args>` through /bin/sh with `input` on stdin; stdout and stderr
 * go to *out (malloc'd). `args` is shell text (quote paths with spaces). Returns the
 * exit status, or -1 if it did not exit normally. */
int pgt_pinegate_stdin(const char *args, const char *input, char **out);

/* Reads a whole file into a malloc'd NUL-terminated string; NULL if unreadable. */
char *pgt_slurp(const char *path);

/* Writes `text` to `path` (truncating). Returns 0 or -1. */
int pgt_write_file(const char *path, const char *text);

/* Every line of a .jsonl file parsed with jansson (NUL escapes allowed), as a new JSON
 * array; NULL if the file cannot be read or a line is not JSON (why: in err). */
struct json_t;
struct json_t *pgt_load_jsonl(const char *path, char *err, size_t errlen);

/* The pinegate binary under test ($PINEGATE_BIN). */
const char *pgt_pinegate(void);

/* Runs scenario(msg, cap, ctx) in a forked child (so it may unshare namespaces without
 * touching the test process or Criterion's IPC), then cleanup(ctx) in the child, and
 * returns the child's exit status: scenario's return value (0 passed, 1 failed, 2 cannot
 * run here), or 1 if the child died. The child's message (up to cap-1 bytes) is copied
 * into out. */
int pgt_in_child(int (*scenario)(char *msg, size_t cap, void *ctx), void (*cleanup)(void *ctx), void *ctx,
                 char *out, size_t cap);

#endif
