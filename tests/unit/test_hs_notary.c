/* The notary's time budget (hs_notary, hs_keys_server.c): a key query naming servers
 * that never answer - real loopback sockets that accept the TCP connection and then say
 * nothing, reached through the real outbound client (fed_client) - is answered within
 * federation.notary_time_budget_seconds, with what the cache has (a stale response of
 * one of them), although each fetch only gives up at the client's own timeout and there
 * are three of them. Closing the server afterwards waits for the fetch threads still
 * running (ASan would see them use the freed server otherwise). A query naming more
 * silent servers than HS_NOTARY_MAX_FETCHES starts exactly that many fetches, and a
 * server whose fetch is still running is not fetched a second time. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "federation-side/fed_client.h"
#include "server-core/hs_fed.h"
#include "server-core/hs_httpd.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_notary.h"
#include "server-core/hs_server.h"
#include "server-core/hs_store_federation.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

#define HANGING 3
#define CLIENT_TIMEOUT_S 4 /* each fetch gives up after this */
#define BUDGET_S 1         /* the notary answers after at most this */

static char *dir;
static hs_server srv;
static fed_client *client;
static char base[128];
static int silent[HANGING];
static char names[HANGING][64];

/* A loopback socket that completes TCP handshakes (the kernel does, from the backlog)
 * and never reads or writes: a peer that hangs. Returns the socket; *port gets its port. */
static int hanging_listener(int *port)
{
    int s = pgt_listen_loopback(16, port);
    cr_assert_geq(s, 0);
    return s;
}

static void start(void)
{
    dir = pgt_tmpdir();
    hs_config cfg;
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "notary.test");
    cfg.threads = 2;
    cfg.notary_time_budget_seconds = BUDGET_S;
    cfg.notary_max_servers = HS_NOTARY_MAX_FETCHES + 10;
    pgt_hs_config_files(&cfg, dir);
    char err[512];
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    pgt_hs_listen_federation(&srv, base, sizeof base);

    /* The real outbound client; loopback allowed, so the peers below are reachable. */
    hs_err e;
    fed_client_config fc = {.server_name = "notary.test", .key = &srv.signing_key, .ip_range_denylist = "",
                            .verify_certificates = false, .timeout_seconds = CLIENT_TIMEOUT_S,
                            .max_response_bytes = 1 << 20};
    client = fed_client_new(&fc, NULL, &e);
    cr_assert_not_null(client, "%s", e.msg);
    fed_client_install(client, &srv);
    for (int i = 0; i < HANGING; i++) {
        int port;
        silent[i] = hanging_listener(&port);
        snprintf(names[i], sizeof names[i], "127.0.0.1:%d", port);
    }
}

static void stop(void)
{
    hs_server_close(&srv); /* joins the fetch threads still waiting on the silent peers */
    fed_client_free(client);
    for (int i = 0; i < HANGING; i++) close(silent[i]);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_notary, .init = start, .fini = stop, .timeout = 60);

/* POSTs a key query for `servers` (count of them); asserts a 200. Returns the answer
 * (caller decrefs) and how long it took in *took_ms. */
static json_t *query_answer(const char *const *servers, size_t count, long *took_ms)
{
    json_t *keys = json_object();
    for (size_t i = 0; i < count; i++) json_object_set_new(keys, servers[i], json_object());
    json_t *q = json_pack("{s:o}", "server_keys", keys);
    char *body = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    char url[256];
    snprintf(url, sizeof url, "%s/_matrix/key/v2/query", base);
    pgt_req r = {.method = "POST", .body = body, .body_len = strlen(body)};
    long t0 = pgt_now_ms();
    pgt_http h = pgt_http_do(url, &r);
    *took_ms = pgt_now_ms() - t0;
    free(body);
    cr_assert_eq(h.status, 200, "%ld: %.*s", h.status, (int)h.body_len, h.body ? h.body : "");
    json_t *answer = json_loadb(h.body, h.body_len, 0, NULL);
    pgt_http_free(&h);
    return answer;
}

/* query_answer's server_keys count. */
static size_t query(const char *const *servers, size_t count, long *took_ms)
{
    json_t *answer = query_answer(servers, count, took_ms);
    size_t n = json_array_size(json_object_get(answer, "server_keys"));
    json_decref(answer);
    return n;
}

/* Puts a response of `server` that expired an hour ago into the key cache. */
static void cache_stale_response(const char *server)
{
    hs_signing_key k;
    cr_assert_eq(hs_signing_key_generate(&k), 0);
    snprintf(k.key_id, sizeof k.key_id, "ed25519:old");
    int64_t until = hs_fed_now_ms() - 3600 * 1000;
    hs_err err;
    json_t *doc = hs_keys_own_response(server, &k, until, NULL, &err);
    cr_assert_not_null(doc, "%s", err.msg);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    const char *ids[] = {"ed25519:old"};
    hs_store_fed_key row = {.valid_until_ts = until, .expired_ts = -1};
    hs_signing_key_public_b64(&k, row.key_b64);
    cr_assert_eq(hs_store_fed_keys_put(srv.store, server, text, until, ids, &row, 1, hs_fed_now_ms()), 0);
    free(text);
    json_decref(doc);
}

Test(hs_notary, servers_that_hang_are_answered_within_the_budget)
{
    cache_stale_response(names[2]);
    const char *three[] = {names[0], names[1], names[2]};
    long took;
    json_t *answer = query_answer(three, 3, &took);
    /* One after the other the three fetches would take 3 x CLIENT_TIMEOUT_S; at once but
     * without a budget, CLIENT_TIMEOUT_S. */
    cr_assert_geq(took, BUDGET_S * 1000 - 50, "answered after %ld ms: the fetches were not waited for", took);
    cr_assert_lt(took, BUDGET_S * 1000 + 1500, "answered after %ld ms, budget %d s", took, BUDGET_S);
    json_t *list = json_object_get(answer, "server_keys");
    cr_assert_eq(json_array_size(list), 1, "only the server with a cached response is in the answer");
    json_t *doc = json_array_get(list, 0);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "server_name")), names[2]);
    cr_assert(json_is_object(json_object_get(json_object_get(doc, "signatures"), "notary.test")),
              "the notary co-signs what it serves");
    json_decref(answer);
}

/* More silent servers than fetch threads: exactly HS_NOTARY_MAX_FETCHES of them get a
 * connection (a fetch thread each), the others none, and the answer still comes within
 * the budget. */
Test(hs_notary, fetch_threads_are_capped)
{
    enum { N = HS_NOTARY_MAX_FETCHES + 6 };
    int socks[N];
    char many[N][64];
    const char *ptrs[N];
    for (int i = 0; i < N; i++) {
        int port;
        socks[i] = hanging_listener(&port);
        snprintf(many[i], sizeof many[i], "127.0.0.1:%d", port);
        ptrs[i] = many[i];
    }
    long took;
    cr_assert_eq(query(ptrs, N, &took), 0);
    cr_assert_lt(took, BUDGET_S * 1000 + 1500, "answered after %ld ms, budget %d s", took, BUDGET_S);
    int connected = 0;
    for (int i = 0; i < N; i++) {
        struct pollfd p = {.fd = socks[i], .events = POLLIN};
        connected += poll(&p, 1, 0) == 1;
    }
    cr_assert_eq(connected, HS_NOTARY_MAX_FETCHES, "%d of %d silent servers were contacted", connected, N);
    for (int i = 0; i < N; i++) close(socks[i]); /* their fetches fail now, not at the timeout */
}

/* Connections waiting on a silent listener, taken off it. */
static int pending_connections(int s)
{
    int flags = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, flags | O_NONBLOCK);
    int n = 0, c;
    while ((c = accept(s, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    fcntl(s, F_SETFL, flags);
    return n;
}

/* The first query leaves at the budget with its fetch still waiting on the silent
 * server; a second query for that server starts no second fetch (so it has nothing to
 * wait for either). */
Test(hs_notary, a_server_being_fetched_is_not_fetched_twice)
{
    const char *one[] = {names[0]};
    long took;
    cr_assert_eq(query(one, 1, &took), 0);
    cr_assert_geq(took, BUDGET_S * 1000 - 50, "the first query did not wait for its fetch (%ld ms)", took);
    cr_assert_eq(query(one, 1, &took), 0);
    cr_assert_lt(took, BUDGET_S * 1000 - 100, "the second query waited %ld ms: a second fetch ran", took);
    cr_assert_eq(pending_connections(silent[0]), 1, "the silent server was contacted more than once");
}
