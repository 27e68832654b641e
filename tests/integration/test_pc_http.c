/* HTTP over QUIC sessions between real `pinegate pinecone` processes on loopback TCP,
 * with the fixture seeds (A = 01x32, B = 02x32, C = 03x32). A and C serve a directory
 * (--http-serve), B is a plain relay; fetchers are extra one-shot nodes (--http-get)
 * whose body goes to a file. Checked: a direct GET and a 404 exit status; GETs across
 * the relay in both directions (A's files from C's side and C's from A's side); 100
 * sequential and 10 concurrent requests on one session; a 1 MiB body byte for byte; the
 * same across a WebSocket link (A dials ws://B/ws); and a served node killed and
 * restarted mid-run is reached again by the same fetcher. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/pgt.h"

#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
#define KEY_C "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
#define BIG (1024 * 1024)

typedef struct node {
    pgt_proc p;
    int port;
    bool running;
} node;

static node nodes[3]; /* A, B, C */
static char *dir_a, *dir_c, *tmp;

static void write_bytes(const char *path, const unsigned char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void setup(void)
{
    tmp = pgt_tmpdir();
    cr_assert_not_null(tmp);
    dir_a = malloc(strlen(tmp) + 8);
    dir_c = malloc(strlen(tmp) + 8);
    sprintf(dir_a, "%s/a", tmp);
    sprintf(dir_c, "%s/c", tmp);
    mkdir(dir_a, 0700);
    mkdir(dir_c, 0700);
    char path[512];
    snprintf(path, sizeof path, "%s/hello.txt", dir_a);
    pgt_write_file(path, "hello from A\n");
    snprintf(path, sizeof path, "%s/hello.txt", dir_c);
    pgt_write_file(path, "hello from C\n");
    unsigned char *big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (unsigned char)((i * 2654435761u) >> 13);
    snprintf(path, sizeof path, "%s/big.bin", dir_a);
    write_bytes(path, big, BIG);
    free(big);
}

static void teardown(void)
{
    for (int i = 0; i < 3; i++)
        if (nodes[i].running)
            pgt_stop(&nodes[i].p, SIGKILL, 5000);
    memset(nodes, 0, sizeof nodes);
    pgt_rmtree(tmp);
    free(tmp);
    free(dir_a);
    free(dir_c);
}

TestSuite(pc_http_cli, .init = setup, .fini = teardown, .timeout = 120);

static void seed_hex(int seed, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", seed);
}

/* Starts node i (seed i+1) listening on its port, dialling `connect_port` if non-zero,
 * serving `dir` if non-NULL; waits for its listener. */
static void start(int i, int connect_port, const char *dir)
{
    node *n = &nodes[i];
    if (!n->port)
        n->port = pgt_free_port();
    char sk[65], listen[32], conn[32];
    seed_hex(i + 1, sk);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", n->port);
    snprintf(conn, sizeof conn, "127.0.0.1:%d", connect_port);
    char *argv[12];
    int k = 0;
    argv[k++] = (char *)pgt_pinegate();
    argv[k++] = "pinecone";
    argv[k++] = "--listen";
    argv[k++] = listen;
    argv[k++] = "--secret-key";
    argv[k++] = sk;
    if (connect_port) {
        argv[k++] = "--connect";
        argv[k++] = conn;
    }
    if (dir) {
        argv[k++] = "--http-serve";
        argv[k++] = (char *)dir;
    }
    argv[k] = NULL;
    cr_assert_eq(pgt_spawn(&n->p, argv), 0);
    n->running = true;
    cr_assert(pgt_wait_line(&n->p, "listening on", 15000, NULL, 0), "node did not start:\n%s", n->p.buf);
}

/* B in the middle, A and C dialling it; A and C serve their directories. */
static void line3(void)
{
    start(1, 0, NULL);
    start(0, nodes[1].port, dir_a);
    start(2, nodes[1].port, dir_c);
}

/* Runs a fetcher node dialling `via_port`; returns its exit status, its stderr+stdout
 * lines in *log and the body (stdout) in *body (both malloc'd). */
static int fetch(int via_port, const char *key, const char *path, const char *extra, char **log, char **body,
                 size_t *body_len)
{
    char out[512], cmd[2048];
    snprintf(out, sizeof out, "%s/body-%d", tmp, (int)pgt_now_ms());
    snprintf(cmd, sizeof cmd, "exec '%s' pinecone --connect 127.0.0.1:%d --http-get %s '%s' %s > '%s'",
             pgt_pinegate(), via_port, key, path, extra ? extra : "", out);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int rc = pgt_run(argv, log);
    FILE *f = fopen(out, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *body = malloc((size_t)n + 1);
    cr_assert_eq(fread(*body, 1, (size_t)n, f), (size_t)n);
    (*body)[n] = '\0';
    *body_len = (size_t)n;
    fclose(f);
    unlink(out);
    return rc;
}

Test(pc_http_cli, direct_get_and_404)
{
    start(0, 0, dir_a);
    char *log, *body;
    size_t len;
    int rc = fetch(nodes[0].port, KEY_A, "/hello.txt", NULL, &log, &body, &len);
    cr_assert_eq(rc, 0, "fetch failed:\n%s", log);
    cr_assert_str_eq(body, "hello from A\n");
    cr_assert(strstr(log, "session up: " KEY_A " (matrix, dialled)"), "%s", log);
    free(log);
    free(body);

    rc = fetch(nodes[0].port, KEY_A, "/nope.txt", NULL, &log, &body, &len);
    cr_assert_eq(rc, 1, "a 404 must fail the command:\n%s", log);
    cr_assert(strstr(log, "get 1: 404"), "%s", log);
    free(log);
    free(body);
}

Test(pc_http_cli, get_across_relay_both_directions)
{
    line3();
    char *log, *body;
    size_t len;
    /* fetcher beside C asks A: C and B relay */
    int rc = fetch(nodes[2].port, KEY_A, "/hello.txt", NULL, &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert_str_eq(body, "hello from A\n");
    free(log);
    free(body);
    /* fetcher beside A asks C */
    rc = fetch(nodes[0].port, KEY_C, "/hello.txt", NULL, &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert_str_eq(body, "hello from C\n");
    free(log);
    free(body);
}

Test(pc_http_cli, hundred_sequential_and_ten_concurrent)
{
    line3();
    char *log, *body;
    size_t len;
    int rc = fetch(nodes[2].port, KEY_A, "/hello.txt", "--http-count 100", &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert(strstr(log, "--- http-get: 100 requests, 100 ok, 0 failed"), "%s", log);
    /* one session carried them all */
    const char *first = strstr(log, "session up:");
    cr_assert(first && !strstr(first + 1, "session up:"), "more than one session:\n%s", log);
    free(log);
    free(body);

    rc = fetch(nodes[0].port, KEY_C, "/hello.txt", "--http-count 10 --http-concurrency 10", &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert(strstr(log, "--- http-get: 10 requests, 10 ok, 0 failed"), "%s", log);
    free(log);
    free(body);
}

Test(pc_http_cli, megabyte_body_across_relay)
{
    line3();
    char *log, *body;
    size_t len;
    int rc = fetch(nodes[2].port, KEY_A, "/big.bin", NULL, &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert_eq(len, BIG);
    for (size_t i = 0; i < BIG; i++)
        if ((unsigned char)body[i] != (unsigned char)((i * 2654435761u) >> 13))
            cr_assert_fail("byte %zu differs", i);
    free(log);
    free(body);
}

Test(pc_http_cli, get_across_websocket_link)
{
    /* B listens for WebSocket peers; A reaches it over ws://, C over TCP */
    node *b = &nodes[1];
    b->port = pgt_free_port();
    int ws_port = pgt_free_port();
    char sk[65], listen[32], lws[32], wsurl[64];
    seed_hex(2, sk);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", b->port);
    snprintf(lws, sizeof lws, "127.0.0.1:%d", ws_port);
    char *argv[] = {(char *)pgt_pinegate(), "pinecone", "--listen", listen, "--listen-ws", lws, "--secret-key", sk,
                    NULL};
    cr_assert_eq(pgt_spawn(&b->p, argv), 0);
    b->running = true;
    cr_assert(pgt_wait_line(&b->p, "listening for websocket", 15000, NULL, 0), "%s", b->p.buf);
    seed_hex(1, sk);
    snprintf(wsurl, sizeof wsurl, "ws://127.0.0.1:%d/ws", ws_port);
    char *argv_a[] = {(char *)pgt_pinegate(), "pinecone", "--connect", wsurl, "--secret-key", sk, "--http-serve",
                      dir_a, NULL};
    cr_assert_eq(pgt_spawn(&nodes[0].p, argv_a), 0);
    nodes[0].running = true;
    cr_assert(pgt_wait_line(&nodes[0].p, "peer up", 15000, NULL, 0), "%s", nodes[0].p.buf);
    char *log, *body;
    size_t len;
    int rc = fetch(b->port, KEY_A, "/big.bin", "--http-count 2", &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert(strstr(log, "--- http-get: 2 requests, 2 ok"), "%s", log);
    free(log);
    free(body);
    rc = fetch(b->port, KEY_A, "/hello.txt", NULL, &log, &body, &len);
    cr_assert_eq(rc, 0, "%s", log);
    cr_assert_str_eq(body, "hello from A\n");
    free(log);
    free(body);
}

Test(pc_http_cli, served_node_restart_mid_session_recovers)
{
    line3();
    char out[512], cmd[2048];
    snprintf(out, sizeof out, "%s/restart-body", tmp);
    snprintf(cmd, sizeof cmd,
             "exec '%s' pinecone --connect 127.0.0.1:%d --http-get %s /hello.txt --http-count 40 "
             "--http-interval 250 --http-concurrency 4 --http-timeout 4000 > '%s'",
             pgt_pinegate(), nodes[2].port, KEY_A, out);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pgt_proc f;
    cr_assert_eq(pgt_spawn(&f, argv), 0);
    cr_assert(pgt_wait_line(&f, "get 4: 200", 30000, NULL, 0), "no early success:\n%s", f.buf);
    pgt_stop(&nodes[0].p, SIGKILL, 5000);
    nodes[0].running = false;
    usleep(500000);
    start(0, nodes[1].port, dir_a);
    cr_assert(pgt_wait_line(&f, "--- http-get: 40 requests", 60000, NULL, 0), "run did not end:\n%s", f.buf);
    pgt_stop(&f, SIGKILL, 5000);
    /* the fetcher kept its node and session machinery: the last ten requests are answered */
    for (int i = 31; i <= 40; i++) {
        char want[32];
        snprintf(want, sizeof want, "get %d: 200", i);
        cr_assert(strstr(f.buf, want), "request %d failed after the restart:\n%s", i, f.buf);
    }
}
