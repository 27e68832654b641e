/* Key lookup and inbound authentication through server-core's transport seam (the
 * function table federation-side fills in a real process): keys fetched once and then
 * answered from the SQLite cache, even after a restart; expired key responses refused;
 * a notary used only when the server itself cannot be reached, and only when its answer
 * is co-signed with the notary's own key; and hs_fed_authenticate on a real loopback
 * listener accepting a correctly signed request and refusing a stale or forged one. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "server-core/hs_keys.h"
#include "server-core/hs_server.h"
#include "server-core/hs_signing.h"
#include "server-core/hs_xmatrix.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"

/* ---- a scripted set of remote servers -------------------------------------------- */

typedef struct remote {
    const char *name;
    hs_signing_key key;
    bool reachable;
    int64_t valid_until;
} remote;

static remote remotes[3];      /* remote.test, notary.test, other.test */
static atomic_int calls;
static bool notary_cosigns = true;
/* A hostile notary: each server it relays comes back `notary_copies` times, each signed
 * "by the notary" with `notary_bogus_sigs` key IDs it never published. */
static int notary_copies = 1, notary_bogus_sigs;

static remote *find_remote(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(remotes[i].name, name) == 0) return &remotes[i];
    return NULL;
}

static json_t *key_doc(remote *r)
{
    hs_err err;
    json_t *d = hs_keys_own_response(r->name, &r->key, r->valid_until, NULL, &err);
    cr_assert_not_null(d, "%s", err.msg);
    return d;
}

static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    atomic_fetch_add(&calls, 1);
    memset(reply, 0, sizeof *reply);
    remote *r = find_remote(req->destination);
    if (!r || !r->reachable) return hs_err_set(err, "connection refused");
    json_t *out = NULL;
    if (strcmp(req->target, "/_matrix/key/v2/server") == 0) {
        out = key_doc(r);
    } else if (strcmp(req->target, "/_matrix/key/v2/query") == 0) {
        /* The notary answers for every server it is asked about, from its own view. */
        out = json_pack("{s:[]}", "server_keys");
        const char *server;
        json_t *v;
        json_object_foreach(json_object_get(req->content, "server_keys"), server, v) {
            remote *s = find_remote(server);
            if (!s) continue;
            for (int c = 0; c < notary_copies; c++) {
                json_t *d = key_doc(s);
                if (notary_cosigns) hs_sign_json(d, r->name, &r->key, err);
                json_t *sigs = json_object_get(json_object_get(d, "signatures"), s->name);
                for (int b = 0; b < notary_bogus_sigs; b++) {
                    char id[32];
                    snprintf(id, sizeof id, "ed25519:bogus%d", b);
                    if (!json_object_get(json_object_get(d, "signatures"), r->name))
                        json_object_set_new(json_object_get(d, "signatures"), r->name, json_object());
                    json_object_set(json_object_get(json_object_get(d, "signatures"), r->name), id,
                                    json_object_get(sigs, s->key.key_id));
                }
                json_array_append_new(json_object_get(out, "server_keys"), d);
            }
        }
    } else {
        reply->status = 404;
        reply->body = strdup("{}");
        reply->body_len = 2;
        return 0;
    }
    reply->status = 200;
    reply->body = json_dumps(out, JSON_COMPACT);
    reply->body_len = strlen(reply->body);
    json_decref(out);
    return 0;
}

static char *dir;
static hs_server srv;
static hs_config cfg;

static void open_server(void)
{
    char err[512];
    cr_assert_eq(hs_server_open(&srv, &cfg, err, sizeof err), 0, "%s", err);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&srv, &t);
}

static void start(void)
{
    dir = pgt_tmpdir();
    hs_config_defaults(&cfg);
    snprintf(cfg.server_name, sizeof cfg.server_name, "self.test");
    snprintf(cfg.trusted_key_servers, sizeof cfg.trusted_key_servers, "notary.test");
    cfg.threads = 2;
    pgt_hs_config_files(&cfg, dir);
    const char *names[] = {"remote.test", "notary.test", "other.test"};
    for (int i = 0; i < 3; i++) {
        remotes[i].name = names[i];
        cr_assert_eq(hs_signing_key_generate(&remotes[i].key), 0);
        remotes[i].reachable = true;
        remotes[i].valid_until = hs_fed_now_ms() + 3600 * 1000;
    }
    notary_cosigns = true;
    notary_copies = 1;
    notary_bogus_sigs = 0;
    atomic_store(&calls, 0);
    open_server();
}

static void stop(void)
{
    hs_server_close(&srv);
    pgt_rmtree(dir);
    free(dir);
}

TestSuite(hs_fed, .init = start, .fini = stop, .timeout = 60);

static int lookup(const char *server, const hs_signing_key *expect, hs_err *err)
{
    uint8_t pk[32];
    int64_t now = hs_fed_now_ms();
    int rc = hs_fed_get_verify_key(&srv, server, expect->key_id, now, now, pk, err);
    if (rc == 0) cr_expect_eq(memcmp(pk, expect->public_key, 32), 0, "wrong key for %s", server);
    return rc;
}

Test(hs_fed, direct_fetch_then_cache_survives_restart)
{
    hs_err err;
    cr_assert_eq(lookup("remote.test", &remotes[0].key, &err), 0, "%s", err.msg);
    cr_expect_eq(atomic_load(&calls), 1);
    cr_assert_eq(lookup("remote.test", &remotes[0].key, &err), 0, "%s", err.msg);
    cr_expect_eq(atomic_load(&calls), 1, "cached key fetched again");
    hs_server_close(&srv);
    open_server();
    remotes[0].reachable = false;
    cr_expect_eq(lookup("remote.test", &remotes[0].key, &err), 0, "cache lost on restart: %s", err.msg);
    cr_expect_eq(atomic_load(&calls), 1);
    /* Our own key needs nobody. */
    cr_expect_eq(lookup("self.test", &srv.signing_key, &err), 0, "%s", err.msg);
    cr_expect_eq(atomic_load(&calls), 1);
}

Test(hs_fed, expired_responses_are_refused)
{
    remotes[0].valid_until = hs_fed_now_ms() - 1000;
    remotes[1].valid_until = hs_fed_now_ms() - 1000; /* the notary's copy is as old */
    hs_err err;
    cr_expect_neq(lookup("remote.test", &remotes[0].key, &err), 0, "an expired key was accepted");
    cr_expect(strstr(err.msg, "expired") != NULL, "%s", err.msg);
}

Test(hs_fed, notary_used_only_when_direct_fails_and_must_cosign)
{
    hs_err err;
    /* other.test is down and the notary does not sign what it relays: refused. */
    remotes[2].reachable = false;
    notary_cosigns = false;
    cr_expect_neq(lookup("other.test", &remotes[2].key, &err), 0, "notary answer without its signature accepted");
    /* remote.test is down, the notary co-signs: accepted, and cached. */
    notary_cosigns = true;
    remotes[0].reachable = false;
    cr_assert_eq(lookup("remote.test", &remotes[0].key, &err), 0, "%s", err.msg);
    int after = atomic_load(&calls);
    cr_assert_eq(lookup("remote.test", &remotes[0].key, &err), 0);
    cr_expect_eq(atomic_load(&calls), after, "notary-provided key not cached");
    /* A key ID the server's document does not list is not found through the notary
     * either: the notary can only relay what the server itself signed. */
    hs_signing_key other;
    cr_assert_eq(hs_signing_key_generate(&other), 0);
    cr_expect_neq(lookup("remote.test", &other, &err), 0);
}

Test(hs_fed, failed_lookups_back_off)
{
    hs_err err;
    remotes[0].reachable = false;
    remotes[1].reachable = false;
    cr_expect_neq(lookup("remote.test", &remotes[0].key, &err), 0);
    int after = atomic_load(&calls);
    cr_expect_gt(after, 0);
    /* Back up, but asked again within the back-off: no request goes out. */
    remotes[0].reachable = true;
    for (int i = 0; i < 5; i++) cr_expect_neq(lookup("remote.test", &remotes[0].key, &err), 0);
    cr_expect_eq(atomic_load(&calls), after, "a failed server was asked again at once");
    cr_expect(strstr(err.msg, "less than") != NULL, "%s", err.msg);
    /* Other servers are unaffected. */
    cr_expect_eq(lookup("other.test", &remotes[2].key, &err), 0, "%s", err.msg);
}

/* A notary answer of many copies, each "co-signed" only with key IDs the notary never
 * published, is refused at the cost of one fetch of the notary's keys - not one per
 * copy and key ID. */
Test(hs_fed, hostile_notary_answer_costs_one_key_fetch)
{
    hs_err err;
    remotes[2].reachable = false;
    notary_cosigns = false;
    notary_copies = 50;
    notary_bogus_sigs = 5;
    cr_expect_neq(lookup("other.test", &remotes[2].key, &err), 0, "unsigned notary answer accepted");
    /* other.test directly, the notary's /query, the notary's own keys. */
    cr_expect_eq(atomic_load(&calls), 3, "%d requests for one lookup", atomic_load(&calls));
}

/* ---- hs_fed_authenticate on a real listener -------------------------------------- */

Test(hs_fed, authenticate_accepts_signed_and_refuses_forged)
{
    pgt_hs_listen_federation(&srv, NULL, 0);
    const char *uri = "/_matrix/federation/v1/query/profile?user_id=%40nobody%3Aself.test";
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", hs_httpd_port(srv.federation), uri);
    hs_signing_key forged;
    cr_assert_eq(hs_signing_key_generate(&forged), 0);
    memcpy(forged.key_id, remotes[0].key.key_id, sizeof forged.key_id);
    struct {
        const hs_signing_key *key;
        const char *dest;
        long want;
    } cases[] = {
        {&remotes[0].key, "self.test", 404}, /* authenticated; the user does not exist */
        {&forged, "self.test", 401},
        {&remotes[0].key, "elsewhere.test", 401},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char auth[HS_XMATRIX_MAX_HEADER], line[HS_XMATRIX_MAX_HEADER + 32];
        hs_err e;
        cr_assert_eq(hs_xmatrix_sign("GET", uri, "remote.test", cases[i].dest, NULL, cases[i].key, auth, sizeof auth,
                                     &e),
                     0);
        snprintf(line, sizeof line, "Authorization: %s", auth);
        const char *headers[] = {line, NULL};
        pgt_req opt = {.headers = headers};
        pgt_http r = pgt_http_do(url, &opt);
        cr_expect_eq(r.status, cases[i].want, "case %zu: %ld %s", i, r.status, r.body);
        pgt_http_free(&r);
    }
    /* Many credentials from origins whose keys cannot be fetched: only the first 4 are
     * tried (each costs a direct fetch and a notary query), so the valid one after
     * them is not reached either. */
    static char lines[11][HS_XMATRIX_MAX_HEADER + 32];
    const char *many[12] = {0};
    for (int i = 0; i < 11; i++) {
        char origin[32], auth[HS_XMATRIX_MAX_HEADER];
        snprintf(origin, sizeof origin, i < 10 ? "gone%d.test" : "remote.test", i);
        hs_err e;
        cr_assert_eq(hs_xmatrix_sign("GET", uri, origin, "self.test", NULL, &remotes[0].key, auth, sizeof auth, &e), 0);
        snprintf(lines[i], sizeof lines[i], "Authorization: %s", auth);
        many[i] = lines[i];
    }
    int before = atomic_load(&calls);
    pgt_req many_opt = {.headers = many};
    pgt_http mr = pgt_http_do(url, &many_opt);
    cr_expect_eq(mr.status, 401, "%ld %s", mr.status, mr.body);
    cr_expect_eq(atomic_load(&calls) - before, 8, "%d key requests for one inbound request",
                 atomic_load(&calls) - before);
    pgt_http_free(&mr);

    /* A body that is not JSON is refused as such, before any key lookup. */
    pgt_req opt = {.method = "GET", .body = "{oops", .body_len = 5};
    pgt_http r = pgt_http_do(url, &opt);
    cr_expect_eq(r.status, 400);
    pgt_http_free(&r);
}
