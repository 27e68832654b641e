/* Benchmark: HTTP/1.1 over QUIC sessions over Pinecone between real `pinegate pinecone`
 * processes on loopback TCP ($PINEGATE_BIN, release build). Topology: server A (serves a
 * 1 KiB and a 10 MiB file) dialling relay B, relay C dialling B; a fetcher node F dials
 * A directly (1 hop), B (2 hops: F-B-A) or C (3 hops: F-C-B-A). Each figure comes from one fetcher
 * process's own summary line (`--- http-get: ...`); the first request of each run also
 * carries the QUIC handshake, the later ones reuse the session.
 * Prints: first-request time (handshake + request), requests/s sequential and with 16 in
 * flight, and MiB/s for a 10 MiB body, over 1, 2 and 3 hops. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEED_A "0101010101010101010101010101010101010101010101010101010101010101"
#define SEED_B "0202020202020202020202020202020202020202020202020202020202020202"
#define SEED_C "0303030303030303030303030303030303030303030303030303030303030303"
#define KEY_A "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"

static const char *bin;
static char dir[256];

static pid_t spawn(const char *cmd)
{
    pid_t p = fork();
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return p;
}

/* Runs one fetcher; prints the figure named `what` from its summary and first request. */
static int run(const char *what, int port, const char *path, const char *extra)
{
    char cmd[1024], log[512];
    snprintf(log, sizeof log, "%s/fetch.log", dir);
    snprintf(cmd, sizeof cmd, "%s pinecone --connect 127.0.0.1:%d --http-get %s %s %s >/dev/null 2>%s", bin, port,
             KEY_A, path, extra, log);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_pc_http: %s failed:\n", what);
        snprintf(cmd, sizeof cmd, "grep -v ': 200,' %s | tail -5 >&2", log);
        if (system(cmd) != 0)
            fprintf(stderr, "(no log)\n");
        return 1;
    }
    FILE *f = fopen(log, "r");
    char line[512], first[512] = "", summary[512] = "";
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "get 1:", 6) == 0)
            snprintf(first, sizeof first, "%s", line);
        if (strncmp(line, "--- http-get:", 13) == 0)
            snprintf(summary, sizeof summary, "%s", line);
    }
    if (f)
        fclose(f);
    const char *ms = strrchr(first, ',');
    first[strcspn(first, "\n")] = '\0';
    summary[strcspn(summary, "\n")] = '\0';
    printf("%-34s %s | first request%s\n", what, summary + 14, ms ? ms + 1 : " ?");
    fflush(stdout);
    return 0;
}

int main(void)
{
    bin = getenv("PINEGATE_BIN");
    if (!bin) {
        fprintf(stderr, "bench_pc_http: set PINEGATE_BIN\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "/tmp/bench_pc_http.%d", (int)getpid());
    mkdir(dir, 0700);
    char path[512];
    snprintf(path, sizeof path, "%s/small.txt", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 1024; i++)
        fputc('a' + i % 26, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/big.bin", dir);
    f = fopen(path, "wb");
    for (long i = 0; i < 10L * 1024 * 1024; i++)
        fputc((int)((i * 2654435761u) >> 13) & 0xff, f);
    fclose(f);

    int pa = 20000 + getpid() % 20000, pb = pa + 1, pc = pa + 2;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s pinecone --listen 127.0.0.1:%d --secret-key %s >/dev/null 2>&1", bin, pb,
             SEED_B);
    pid_t b = spawn(cmd);
    usleep(300000);
    snprintf(cmd, sizeof cmd,
             "exec %s pinecone --listen 127.0.0.1:%d --connect 127.0.0.1:%d --secret-key %s --http-serve %s "
             ">/dev/null 2>&1",
             bin, pa, pb, SEED_A, dir);
    pid_t a = spawn(cmd);
    snprintf(cmd, sizeof cmd, "exec %s pinecone --listen 127.0.0.1:%d --connect 127.0.0.1:%d --secret-key %s "
             ">/dev/null 2>&1", bin, pc, pb, SEED_C);
    pid_t c = spawn(cmd);
    sleep(3);

    int rc = 0;
    printf("HTTP over QUIC sessions over Pinecone, loopback TCP, release build\n");
    rc |= run("1 hop, 1 KiB x 1000 sequential", pa, "/small.txt", "--http-count 1000");
    rc |= run("1 hop, 1 KiB x 2000, 16 in flight", pa, "/small.txt", "--http-count 2000 --http-concurrency 16");
    rc |= run("1 hop, 10 MiB x 3", pa, "/big.bin", "--http-count 3 --http-timeout 60000");
    rc |= run("2 hops, 1 KiB x 1000 sequential", pb, "/small.txt", "--http-count 1000");
    rc |= run("2 hops, 1 KiB x 2000, 16 in flight", pb, "/small.txt", "--http-count 2000 --http-concurrency 16");
    rc |= run("2 hops, 10 MiB x 3", pb, "/big.bin", "--http-count 3 --http-timeout 60000");
    rc |= run("3 hops, 1 KiB x 1000 sequential", pc, "/small.txt", "--http-count 1000");
    rc |= run("3 hops, 10 MiB x 3", pc, "/big.bin", "--http-count 3 --http-timeout 60000");

    kill(a, SIGTERM);
    kill(b, SIGTERM);
    kill(c, SIGTERM);
    waitpid(a, NULL, 0);
    waitpid(b, NULL, 0);
    waitpid(c, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
