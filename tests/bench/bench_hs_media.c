/* bench_hs_media: what the media repository and push rules cost. A real server listens
 * on loopback (client listener, 4 workers); libcurl uploads and downloads files of 64 KiB,
 * 1 MiB and 16 MiB (each upload is written with fsync before it is answered) and every
 * download is compared with what was uploaded. Then GET /pushrules/ (the whole ruleset
 * built from defaults + 20 user rules) and hs_push_evaluate of the default ruleset on a
 * plain message and on one that walks every rule (a /sync unread count needs one
 * evaluation per event per member), and the worst case a user's own rules can make of
 * one evaluation (HS_PUSH_EVAL_BUDGET). Prints MB/s and per-call times. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server-core/hs_api_media.h"
#include "server-core/hs_push.h"
#include "server-core/hs_push_eval.h"
#include "server-core/hs_server.h"
#include "bench/bench_support.h"

static hs_server srv;
static char base[128];
static char auth[300];

typedef struct buf {
    char *d;
    size_t n;
} buf;

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    char *g = realloc(b->d, b->n + size * n + 1);
    if (!g) abort();
    memcpy(g + b->n, p, size * n);
    b->n += size * n;
    b->d = g;
    return size * n;
}

/* One request; returns the body (caller frees b.d) and checks the status. */
static buf request(const char *method, const char *path, const char *type, const void *body, size_t len)
{
    char url[512], ct[128];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", type ? type : "application/json");
    buf b = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(curl_slist_append(NULL, auth), ct);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (status != 200) {
        fprintf(stderr, "%s %s: status %ld %.*s\n", method, path, status, (int)(b.n > 300 ? 300 : b.n), b.d);
        exit(1);
    }
    return b;
}

static void bench_files(size_t size, int rounds)
{
    char *data = malloc(size);
    for (size_t i = 0; i < size; i++) data[i] = (char)(i * 2654435761u >> 13);
    char (*ids)[64] = calloc((size_t)rounds, 64);
    double t0 = bs_now_s();
    for (int r = 0; r < rounds; r++) {
        buf b = request("POST", "/_matrix/media/v3/upload?filename=bench.bin", "application/octet-stream", data, size);
        json_t *j = json_loadb(b.d, b.n, 0, NULL);
        const char *uri = json_string_value(json_object_get(j, "content_uri"));
        if (!uri || strlen(uri) > 60) abort();
        snprintf(ids[r], 64, "%s", strrchr(uri, '/') + 1);
        json_decref(j);
        free(b.d);
    }
    double up = bs_now_s() - t0;
    t0 = bs_now_s();
    for (int r = 0; r < rounds; r++) {
        char path[256];
        snprintf(path, sizeof path, "/_matrix/client/v1/media/download/%s/%s", srv.cfg.server_name, ids[r]);
        buf b = request("GET", path, NULL, NULL, 0);
        if (b.n != size || memcmp(b.d, data, size) != 0) {
            fprintf(stderr, "download %d differs\n", r);
            exit(1);
        }
        free(b.d);
    }
    double down = bs_now_s() - t0;
    double mb = (double)size * rounds / (1024.0 * 1024.0);
    printf("media %6zu KiB x %3d: upload %7.1f MB/s (%6.2f ms each), download %7.1f MB/s (%6.2f ms each)\n",
           size / 1024, rounds, mb / up, up * 1000 / rounds, mb / down, down * 1000 / rounds);
    free(ids);
    free(data);
}

static void bench_push(const char *user_id)
{
    for (int i = 0; i < 20; i++) {
        char path[128];
        snprintf(path, sizeof path, "/_matrix/client/v3/pushrules/global/override/rule%02d", i);
        static const char rule[] = "{\"conditions\":[{\"kind\":\"event_match\",\"key\":\"content.body\","
                                   "\"pattern\":\"x*y\"}],\"actions\":[\"notify\"]}";
        buf b = request("PUT", path, NULL, rule, strlen(rule));
        free(b.d);
    }
    int rounds = 200;
    double t0 = bs_now_s();
    for (int r = 0; r < rounds; r++) free(request("GET", "/_matrix/client/v3/pushrules/", NULL, NULL, 0).d);
    printf("GET /pushrules/ (defaults + 20 user rules): %.3f ms each\n", (bs_now_s() - t0) * 1000 / rounds);

    json_t *all = hs_push_rules_for_user(srv.store, user_id);
    json_t *set = json_object_get(all, "global");
    const char *events[] = {
        "{\"type\":\"m.room.message\",\"sender\":\"@bob:bench.test\",\"room_id\":\"!r:bench.test\","
        "\"content\":{\"msgtype\":\"m.text\",\"body\":\"hello there, how is the weather today?\"}}",
        "{\"type\":\"org.example.unknown\",\"sender\":\"@bob:bench.test\",\"room_id\":\"!r:bench.test\","
        "\"content\":{\"body\":\"a longer text that no rule matches, so every rule and every pattern is tried on it\"}}",
    };
    const char *labels[] = {"m.room.message (matches .m.rule.message)", "unknown type (no rule matches)"};
    hs_push_ctx ctx = {.user_id = user_id, .display_name = "Bench User", .member_count = 10, .sender_power = 0};
    for (int e = 0; e < 2; e++) {
        json_t *ev = json_loads(events[e], 0, NULL);
        int n = 20000;
        hs_push_result res;
        t0 = bs_now_s();
        for (int i = 0; i < n; i++) hs_push_evaluate(set, ev, &ctx, &res);
        double us = (bs_now_s() - t0) * 1e6 / n;
        printf("hs_push_evaluate, %s: %.2f us each (%.0f/s)\n", labels[e], us, 1e6 / us);
        json_decref(ev);
    }
    json_decref(all);
}

/* The worst a user's rules can make one evaluation cost: their largest pattern
 * (HS_PUSH_STRING_MAX characters) over a 64 KiB body without a budget, then as many
 * conditions as a user may store (HS_PUSH_MAX_USER_RULES x HS_PUSH_MAX_CONDITIONS, all
 * matching, then the long one) within HS_PUSH_EVAL_BUDGET. */
static void bench_push_worst(void)
{
    static char pattern[HS_PUSH_STRING_MAX + 1], body[65537];
    memset(pattern, '*', HS_PUSH_STRING_MAX - 1);
    pattern[HS_PUSH_STRING_MAX - 1] = 'b';
    memset(body, 'a', sizeof body - 1);
    double t0 = bs_now_s();
    bool hit = hs_push_glob(pattern, body, true);
    double glob_ms = (bs_now_s() - t0) * 1000;
    printf("hs_push_glob, %d-character pattern over a 64 KiB body: %.1f ms (%.2f ns a position, %s)\n",
           HS_PUSH_STRING_MAX, glob_ms, glob_ms * 1e6 / ((HS_PUSH_STRING_MAX + 1.0) * sizeof body),
           hit ? "match" : "no match");
    json_t *conds = json_array();
    for (int i = 0; i < HS_PUSH_MAX_USER_RULES * HS_PUSH_MAX_CONDITIONS; i++)
        json_array_append_new(conds, json_pack("{ss ss ss}", "kind", "event_match", "key", "content.body", "pattern", "*"));
    json_array_append_new(conds, json_pack("{ss ss ss}", "kind", "event_match", "key", "content.body", "pattern", pattern));
    json_t *set = json_pack("{s[{ss sb so s[s]}]}", "override", "rule_id", "costly", "enabled", 1, "conditions", conds,
                            "actions", "notify");
    json_t *ev = json_pack("{ss ss s{ss}}", "type", "m.room.message", "sender", "@bob:bench.test", "content", "body", body);
    hs_push_ctx ctx = {.user_id = "@bench:bench.test", .member_count = 10};
    hs_push_result res;
    t0 = bs_now_s();
    hs_push_evaluate(set, ev, &ctx, &res);
    printf("hs_push_evaluate, %d conditions over a 64 KiB body: %.1f ms (budget %lld positions)\n",
           HS_PUSH_MAX_USER_RULES * HS_PUSH_MAX_CONDITIONS + 1, (bs_now_s() - t0) * 1000,
           (long long)HS_PUSH_EVAL_BUDGET);
    json_decref(ev);
    json_decref(set);
}

int main(void)
{
    char dir[] = "/tmp/bench_hs_media.XXXXXX", err[1024];
    if (!mkdtemp(dir)) return 1;
    hs_config cfg;
    bs_config(&cfg);
    cfg.registration_enabled = true;
    snprintf(cfg.media_path, sizeof cfg.media_path, "%s/media", dir);
    if (bs_server_open(&srv, &cfg, dir) != 0) return 1;
    hs_httpd_config c = {.name = "client", .bind_address = "127.0.0.1", .port = 0, .threads = 4, .max_connections = 64,
                         .max_body_bytes = 1 << 20, .upload_prefix = HS_MEDIA_UPLOAD_PREFIX,
                         .upload_max_body_bytes = cfg.media_max_upload_bytes, .router = srv.client_router};
    srv.client = hs_httpd_start(&c, err, sizeof err);
    if (!srv.client) {
        fprintf(stderr, "listen: %s\n", err);
        return 1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", hs_httpd_port(srv.client));
    snprintf(auth, sizeof auth, "Authorization: Bearer none");
    const char *reg = "{\"username\":\"bench\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}";
    buf b = request("POST", "/_matrix/client/v3/register", NULL, reg, strlen(reg));
    json_t *j = json_loadb(b.d, b.n, 0, NULL);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", json_string_value(json_object_get(j, "access_token")));
    char user_id[128];
    snprintf(user_id, sizeof user_id, "%s", json_string_value(json_object_get(j, "user_id")));
    json_decref(j);
    free(b.d);

    bench_files(64 * 1024, 100);
    bench_files(1024 * 1024, 50);
    bench_files(16 * 1024 * 1024, 8);
    bench_push(user_id);
    bench_push_worst();

    return bs_server_close(&srv, dir);
}
