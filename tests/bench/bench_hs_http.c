/* bench_hs_http: requests/s and latency of the HTTP layer, with the real server in this
 * process on loopback and N libcurl client threads on keep-alive connections. Prints
 * figures for the client listener (plain HTTP) and the federation listener (TLS). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "federation-side/fed_tls.h"
#include "server-core/hs_server.h"

#define THREADS 4
#define PER_THREAD 5000

typedef struct job {
    char url[256];
    double lat[PER_THREAD];
    int failures;
} job;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static void *client(void *arg)
{
    job *j = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (int i = 0; i < PER_THREAD; i++) {
        double t0 = now_s();
        long code = 0;
        if (curl_easy_perform(c) != CURLE_OK || (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code), code != 200))
            j->failures++;
        j->lat[i] = now_s() - t0;
    }
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *label, const char *url)
{
    static job jobs[THREADS];
    pthread_t t[THREADS];
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++) {
        snprintf(jobs[i].url, sizeof jobs[i].url, "%s", url);
        jobs[i].failures = 0;
        pthread_create(&t[i], NULL, client, &jobs[i]);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += jobs[i].failures;
    }
    double secs = now_s() - t0;
    static double all[THREADS * PER_THREAD];
    for (int i = 0; i < THREADS; i++) memcpy(all + i * PER_THREAD, jobs[i].lat, sizeof jobs[i].lat);
    qsort(all, THREADS * PER_THREAD, sizeof all[0], cmp);
    int n = THREADS * PER_THREAD;
    printf("%-44s %8.0f req/s   p50 %6.3f ms   p99 %6.3f ms   (%d requests, %d clients, %d failed)\n", label,
           n / secs, all[n / 2] * 1e3, all[n * 99 / 100] * 1e3, n, THREADS, failures);
}

int main(void)
{
    char dir[] = "/tmp/pinegate-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    hs_config_defaults(&cfg);
    cfg.client.port = 0;
    cfg.federation.port = 0;
    snprintf(cfg.federation.bind_address, sizeof cfg.federation.bind_address, "127.0.0.1");
    snprintf(cfg.database_path, sizeof cfg.database_path, "%s/hs.db", dir);
    snprintf(cfg.signing_key_path, sizeof cfg.signing_key_path, "%s/signing.key", dir);
    snprintf(cfg.federation.tls_certificate, sizeof cfg.federation.tls_certificate, "%s/tls.crt", dir);
    snprintf(cfg.federation.tls_private_key, sizeof cfg.federation.tls_private_key, "%s/tls.key", dir);
    char err[1024], *cert, *key;
    hs_signing_key sk;
    hs_server srv;
    if (hs_signing_key_generate(&sk) || hs_signing_key_save(cfg.signing_key_path, &sk, err, sizeof err) ||
        fed_tls_generate_self_signed(cfg.server_name, 1, cfg.federation.tls_certificate, cfg.federation.tls_private_key,
                                     err, sizeof err) ||
        fed_tls_load(cfg.federation.tls_certificate, cfg.federation.tls_private_key, &cert, &key, err, sizeof err) ||
        hs_server_open(&srv, &cfg, err, sizeof err) || hs_server_listen(&srv, cert, key, err, sizeof err)) {
        fprintf(stderr, "bench_hs_http: %s\n", err);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_ALL);
    printf("HTTP layer, server threads per listener: %d\n", cfg.threads);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/_matrix/client/versions", hs_httpd_port(srv.client));
    run("GET /_matrix/client/versions (HTTP)", url);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/_matrix/federation/v1/version", hs_httpd_port(srv.federation));
    run("GET /_matrix/federation/v1/version (HTTPS)", url);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/health", hs_httpd_port(srv.client));
    run("GET /health (HTTP, one SQLite query)", url);
    hs_server_close(&srv);
    free(cert);
    free(key);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return 0;
}
