/* pinegate as a user runs it: generate-config, then serve as a real process, answer on
 * both listeners (HTTPS verified against the generated certificate), stop on SIGTERM
 * with exit 0, restart on the same data, refuse to overwrite, and explain bad input. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/pgt.h"

static char *dir;
static int cport, fport;
static char cfgpath[1024];

static void setup(void)
{
    dir = pgt_tmpdir();
    cport = pgt_free_port();
    fport = pgt_free_port();
    snprintf(cfgpath, sizeof cfgpath, "%s/config.yaml", dir);
}

static void teardown(void)
{
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(serve, .init = setup, .fini = teardown, .timeout = 120);

static int generate(char **out)
{
    char cp[16], fp[16], name[64];
    snprintf(cp, sizeof cp, "%d", cport);
    snprintf(fp, sizeof fp, "%d", fport);
    snprintf(name, sizeof name, "localhost:%d", fport);
    char *argv[] = {(char *)pgt_pinegate(), "generate-config", "--dev", "--data-dir", dir, "--server-name", name,
                    "--client-port", cp, "--federation-port", fp, NULL};
    return pgt_run(argv, out);
}

static void start(pgt_proc *p)
{
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", cfgpath, NULL};
    cr_assert_eq(pgt_spawn(p, argv), 0);
    cr_assert(pgt_wait_line(p, "federation API:", 30000, NULL, 0), "server did not start:\n%s", p->buf);
}

static void check_serving(void)
{
    char url[256], ca[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_matrix/client/versions", cport);
    pgt_http r = pgt_http_do(url, NULL);
    cr_assert_eq(r.status, 200, "client versions: %ld %s", r.status, r.error);
    cr_assert(strstr(r.body, "\"versions\""));
    pgt_http_free(&r);

    snprintf(url, sizeof url, "https://localhost:%d/_matrix/federation/v1/version", fport);
    snprintf(ca, sizeof ca, "%s/tls.crt", dir);
    pgt_req opt = {.ca_file = ca};
    r = pgt_http_do(url, &opt);
    cr_assert_eq(r.status, 200, "federation version over verified TLS: %ld %s", r.status, r.error);
    cr_assert(strstr(r.body, "\"pinegate\""), "%s", r.body);
    pgt_http_free(&r);
}

Test(serve, generate_then_serve_then_stop_and_restart)
{
    char *out = NULL;
    cr_assert_eq(generate(&out), 0, "generate-config failed:\n%s", out);
    cr_assert(strstr(out, "wrote signing key"), "%s", out);
    free(out);
    struct stat sb;
    char p[1200];
    const char *files[] = {"config.yaml", "signing.key", "tls.crt", "tls.key"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        cr_assert_eq(stat(p, &sb), 0, "%s missing", files[i]);
    }
    snprintf(p, sizeof p, "%s/signing.key", dir);
    stat(p, &sb);
    cr_assert_eq(sb.st_mode & 077, 0, "the signing key must not be readable by others");

    pgt_proc proc;
    start(&proc);
    cr_assert(strstr(proc.buf, "client API:     http://127.0.0.1:"), "prints where it listens:\n%s", proc.buf);
    check_serving();
    int rc = pgt_stop(&proc, SIGTERM, 15000);
    cr_assert_eq(rc, 0, "SIGTERM must stop cleanly with 0, got %d:\n%s", rc, proc.buf);
    cr_assert(strstr(proc.buf, "stopped cleanly"), "%s", proc.buf);
    snprintf(p, sizeof p, "%s/homeserver.db", dir);
    cr_assert_eq(stat(p, &sb), 0, "database created");

    /* Same data directory again: migrations are a no-op, identity unchanged. */
    start(&proc);
    check_serving();
    cr_assert_eq(pgt_stop(&proc, SIGINT, 15000), 0, "SIGINT too:\n%s", proc.buf);
}

Test(serve, generate_config_refuses_to_overwrite)
{
    char *out = NULL;
    cr_assert_eq(generate(&out), 0, "%s", out);
    free(out);
    cr_assert_eq(generate(&out), 1);
    cr_assert(strstr(out, "already exists; not overwriting it"), "%s", out);
    free(out);
}

Test(serve, bad_config_is_explained)
{
    FILE *f = fopen(cfgpath, "w");
    fputs("server_name: a.org\nlimits:\n  max_connectons: 4\n", f);
    fclose(f);
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", cfgpath, NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(argv, &out), 1);
    cr_assert(strstr(out, "config.yaml:3: unknown key 'max_connectons' in 'limits'"), "%s", out);
    free(out);

    char missing[1100];
    snprintf(missing, sizeof missing, "%s/nope.yaml", dir);
    char *argv2[] = {(char *)pgt_pinegate(), "serve", "--config", missing, NULL};
    cr_assert_eq(pgt_run(argv2, &out), 1);
    cr_assert(strstr(out, "cannot open config file"), "%s", out);
    free(out);
}

Test(serve, busy_port_is_reported)
{
    char *out = NULL;
    cr_assert_eq(generate(&out), 0, "%s", out);
    free(out);
    pgt_proc first, second;
    start(&first);
    char *argv[] = {(char *)pgt_pinegate(), "serve", "--config", cfgpath, NULL};
    cr_assert_eq(pgt_spawn(&second, argv), 0);
    int rc = pgt_stop(&second, 0, 20000);
    cr_assert_eq(rc, 1, "second server on the same ports must fail, got %d:\n%s", rc, second.buf);
    cr_assert(strstr(second.buf, "cannot listen on"), "%s", second.buf);
    pgt_stop(&first, SIGTERM, 15000);
}

Test(serve, every_command_has_help)
{
    const char *cmds[] = {"serve", "generate-config", "generate-keys", "version"};
    for (size_t i = 0; i < 4; i++) {
        char *argv[] = {(char *)pgt_pinegate(), (char *)cmds[i], "--help", NULL};
        char *out = NULL;
        cr_assert_eq(pgt_run(argv, &out), 0, "%s --help", cmds[i]);
        cr_assert(strstr(out, "usage: pinegate"), "%s --help printed:\n%s", cmds[i], out);
        free(out);
    }
    char *argv[] = {(char *)pgt_pinegate(), "no-such-command", NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(argv, &out), 2);
    cr_assert(strstr(out, "unknown command 'no-such-command'"), "%s", out);
    free(out);
}

Test(serve, generate_keys_prints_a_loadable_key)
{
    char *argv[] = {(char *)pgt_pinegate(), "generate-keys", NULL};
    char *out = NULL;
    cr_assert_eq(pgt_run(argv, &out), 0);
    char alg[16], ver[64], seed[64];
    cr_assert_eq(sscanf(out, "%15s %63s %63s", alg, ver, seed), 3, "%s", out);
    cr_assert_str_eq(alg, "ed25519");
    cr_assert_eq(strncmp(ver, "a_", 2), 0);
    cr_assert_eq(strlen(seed), 43, "32 bytes of unpadded base64");
    free(out);
}

/* Under systemd (Type=notify) the unit becomes active only on READY=1. */
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

Test(serve, notifies_systemd_when_ready_and_logs_json)
{
    char *out = NULL;
    cr_assert_eq(generate(&out), 0, "%s", out);
    free(out);
    /* Switch the generated config to JSON log lines. */
    char *text = NULL;
    {
        FILE *r = fopen(cfgpath, "r");
        fseek(r, 0, SEEK_END);
        long n = ftell(r);
        fseek(r, 0, SEEK_SET);
        text = calloc(1, (size_t)n + 1);
        cr_assert_eq(fread(text, 1, (size_t)n, r), (size_t)n);
        fclose(r);
        char *fmt = strstr(text, "  format: human");
        cr_assert_not_null(fmt);
        memcpy(fmt, "  format: json ", 15);
        FILE *w = fopen(cfgpath, "w");
        fputs(text, w);
        fclose(w);
        free(text);
    }

    char sock[1100];
    snprintf(sock, sizeof sock, "%s/notify.sock", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    setenv("NOTIFY_SOCKET", sock, 1);

    pgt_proc p;
    start(&p);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 10000), 1, "no sd_notify datagram");
    char msg[64] = "";
    ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
    cr_assert_gt(n, 0);
    cr_assert_str_eq(msg, "READY=1");
    char line[1024];
    cr_assert(pgt_wait_line(&p, "\"module\":\"serve\"", 5000, line, sizeof line), "no JSON log line:\n%s", p.buf);
    cr_assert(strstr(line, "{\"ts\":") == line && strstr(line, "\"level\":\"info\""), "%s", line);
    cr_assert_eq(pgt_stop(&p, SIGTERM, 15000), 0);
    n = recv(fd, msg, sizeof msg - 1, MSG_DONTWAIT);
    cr_assert_gt(n, 0, "STOPPING=1 expected on shutdown");
    msg[n] = '\0';
    cr_assert_str_eq(msg, "STOPPING=1");
    close(fd);
}
