/* Device list updates chained by prev_id between two real pinegate processes (set up as
 * in test_fed_edus.c: alice on A, bob on B in one room). Once B's copy of alice's list
 * knows where A's chain of updates stands, each further update A sends names the one
 * before it, and B applies it as it comes: B does not fetch the whole list back from A
 * (A's /metrics counts the user/devices requests it answered). The first update after
 * bob's keys/query (a list without a chain position) is the one that fetches it, which
 * shows the counter counts. With A stopped, bob's keys/query on B - answered from B's
 * cache - has every device. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_signing_key.h"
#include "support/pgt.h"
#include "support/pgt_e2ee.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

typedef pgt_fed_node node;

PGT_FED_SUITE_AB(fed_device_chain, 240);

#define PASSWORD "pw-alice-1"

/* user/devices requests `n` answered with a 2xx since it started. */
static long user_devices_answered(const node *n)
{
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", n->base);
    pgt_http r = pgt_http_do(url, &(pgt_req){0});
    cr_assert_eq(r.status, 200, "metrics on %s: %ld %s", n->name, r.status, r.error);
    const char *needle = "pinegate_http_requests_total{listener=\"federation\","
                         "route=\"/_matrix/federation/v1/user/devices/{userId}\",code=\"2xx\"} ";
    const char *at = strstr(r.body, needle);
    long count = at ? strtol(at + strlen(needle), NULL, 10) : 0;
    pgt_http_free(&r);
    return count;
}

/* A new device of alice on A with keys, seen changed on B by bob. */
static pgt_mx_login new_device(const pgt_mx_login *alice, const pgt_mx_login *bob)
{
    json_t *l = pgt_fed_req(&A, NULL, "POST",
                            json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "m.login.password", "identifier", "type",
                                      "m.id.user", "user", "alice", "password", PASSWORD),
                            200, "/_matrix/client/v3/login");
    pgt_mx_login d = *alice;
    snprintf(d.token, sizeof d.token, "%s", json_string_value(json_object_get(l, "access_token")));
    snprintf(d.device_id, sizeof d.device_id, "%s", json_string_value(json_object_get(l, "device_id")));
    json_decref(l);
    char since[256];
    pgt_fed_sync_token(&B, bob, since, sizeof since);
    hs_signing_key k;
    json_decref(pgt_fed_req(&A, &d, "POST", json_pack("{s:o}", "device_keys", pgt_e2ee_new_device_keys(&d, &k)), 200,
                            "/_matrix/client/v3/keys/upload"));
    cr_assert(pgt_fed_sync_until(&B, bob, since, NULL, pgt_fed_sync_lists_changed, alice->user_id, 20000),
              "alice's device %s reached B", d.device_id);
    return d;
}

static json_t *query(const pgt_mx_login *bob, const char *of)
{
    return pgt_fed_req(&B, bob, "POST", json_pack("{s:{s:[]}}", "device_keys", of), 200,
                       "/_matrix/client/v3/keys/query");
}

Test(fed_device_chain, updates_that_follow_the_cache_are_applied_without_a_resync)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", PASSWORD);
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    free(pgt_fed_join_by_alias(&A, &alice, "chain", &B, &bob));
    pgt_mx_login d1 = new_device(&alice, &bob);
    /* bob's query: B caches alice's list, without knowing where A's chain stands. */
    json_t *q = query(&bob, alice.user_id);
    cr_assert_eq(json_object_size(json_object_get(json_object_get(q, "device_keys"), alice.user_id)), 1, "%s",
                 json_dumps(q, 0));
    json_decref(q);

    pgt_mx_login d2 = new_device(&alice, &bob);
    long fetched = user_devices_answered(&A);
    cr_assert_geq(fetched, 1, "B never fetched alice's list to learn A's chain position");

    pgt_mx_login d3 = new_device(&alice, &bob);
    pgt_mx_login d4 = new_device(&alice, &bob);
    cr_assert_eq(user_devices_answered(&A), fetched, "B fetched alice's whole list again for chained updates");

    pgt_stop(&A.proc, SIGTERM, 20000);
    q = query(&bob, alice.user_id);
    json_t *devs = json_object_get(json_object_get(q, "device_keys"), alice.user_id);
    cr_assert(json_object_get(json_object_get(q, "failures"), A.name), "A is down: %s", json_dumps(q, 0));
    const pgt_mx_login *all[] = {&d1, &d2, &d3, &d4};
    for (size_t i = 0; i < 4; i++)
        cr_assert(json_object_get(devs, all[i]->device_id), "device %zu in B's cache: %s", i + 1, json_dumps(q, 0));
    json_decref(q);
}
