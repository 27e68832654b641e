/* What a local client hears when every resident it could join (or knock) through says
 * no: scripted residents (two.test and three.test named by ?via=, one.test the room ID's
 * server) answer make_join / make_knock through server-core's transport seam. The most
 * telling refusal is relayed with its status and errcode - 403 over
 * M_INCOMPATIBLE_ROOM_VERSION (with the room's version) over M_UNABLE_TO_GRANT_JOIN over
 * M_UNABLE_TO_AUTHORISE_JOIN over not found - whatever order the servers answered in;
 * servers that are down, answer 5xx, answer without an errcode or with 401 (which would
 * read as the client's own token failing) give 502 M_UNKNOWN. Every candidate is asked
 * when none lets us in. The two-process version is fed_restricted_join. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_fed.h"
#include "support/pgt.h"
#include "support/pgt_hs.h"
#include "support/pgt_matrix.h"

#define ROOM "!r:one.test"

static pgt_hs h;
static pgt_mx_login bob;
/* The answer of one.test, two.test, three.test: "down", "<status>" or "<status> <errcode>". */
static const char *script[3];
static int asked[3];

static int server_index(const char *name)
{
    static const char *const names[] = {"one.test", "two.test", "three.test"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

static int fake_request(void *ctx, const hs_fed_out *req, hs_fed_reply *reply, hs_err *err)
{
    (void)ctx;
    memset(reply, 0, sizeof *reply);
    int i = server_index(req->destination);
    cr_assert(i >= 0, "asked %s", req->destination);
    cr_assert(strncmp(req->target, "/_matrix/federation/v1/make_join/", 33) == 0 ||
                  strncmp(req->target, "/_matrix/federation/v1/make_knock/", 34) == 0,
              "%s", req->target);
    asked[i]++;
    if (strcmp(script[i], "down") == 0) return hs_err_set(err, "connection refused");
    char code[64] = "";
    long status = 0;
    cr_assert(sscanf(script[i], "%ld %63s", &status, code) >= 1);
    json_t *body = code[0] ? json_pack("{ss ss}", "errcode", code, "error", "scripted refusal") : json_object();
    if (strcmp(code, "M_INCOMPATIBLE_ROOM_VERSION") == 0) json_object_set_new(body, "room_version", json_string("99"));
    reply->status = status;
    reply->body = json_dumps(body, JSON_COMPACT);
    reply->body_len = strlen(reply->body);
    json_decref(body);
    return 0;
}

static void start(void)
{
    pgt_hs_start(&h, "self.test", NULL);
    hs_fed_transport t = {.request = fake_request};
    hs_fed_set_transport(&h.srv, &t);
    bob = pgt_mx_must_register(h.base, "bob", "pw-bob-1");
}

static void stop(void)
{
    pgt_hs_stop(&h);
}

TestSuite(hs_fed_join_refusals, .init = start, .fini = stop, .timeout = 60);

/* bob's join (or knock) of ROOM via two.test and three.test; *status gets the HTTP
 * status, the answer is returned (caller decrefs). */
static json_t *attempt(const char *what, long *status)
{
    char path[300];
    snprintf(path, sizeof path, "/_matrix/client/v3/%s/%s?via=two.test&via=three.test", what,
             pgt_mx_enc(ROOM, (char[100]){0}, 100));
    memset(asked, 0, sizeof asked);
    return pgt_mx_call(h.base, "POST", path, bob.token, "{}", status);
}

static const char *errcode_of(const json_t *j)
{
    const char *c = json_string_value(json_object_get(j, "errcode"));
    return c ? c : "";
}

Test(hs_fed_join_refusals, the_most_telling_refusal_reaches_the_client)
{
    static const struct {
        const char *one, *two, *three;
        long status;
        const char *errcode;
    } cases[] = {
        {"400 M_UNABLE_TO_AUTHORISE_JOIN", "400 M_UNABLE_TO_AUTHORISE_JOIN", "400 M_UNABLE_TO_AUTHORISE_JOIN", 400,
         "M_UNABLE_TO_AUTHORISE_JOIN"},
        {"down", "400 M_UNABLE_TO_AUTHORISE_JOIN", "400 M_UNABLE_TO_GRANT_JOIN", 400, "M_UNABLE_TO_GRANT_JOIN"},
        {"400 M_UNABLE_TO_AUTHORISE_JOIN", "400 M_UNABLE_TO_GRANT_JOIN", "down", 400, "M_UNABLE_TO_GRANT_JOIN"},
        {"500 M_UNKNOWN", "400 M_INCOMPATIBLE_ROOM_VERSION", "400 M_UNABLE_TO_GRANT_JOIN", 400,
         "M_INCOMPATIBLE_ROOM_VERSION"},
        {"404 M_NOT_FOUND", "403 M_FORBIDDEN", "400 M_UNABLE_TO_AUTHORISE_JOIN", 403, "M_FORBIDDEN"},
        {"404 M_NOT_FOUND", "down", "400 M_UNABLE_TO_AUTHORISE_JOIN", 400, "M_UNABLE_TO_AUTHORISE_JOIN"},
        {"401 M_UNAUTHORIZED", "down", "401 M_UNAUTHORIZED", 502, "M_UNKNOWN"},
        {"400", "500 M_UNKNOWN", "down", 502, "M_UNKNOWN"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        script[0] = cases[i].one;
        script[1] = cases[i].two;
        script[2] = cases[i].three;
        long st;
        json_t *r = attempt("join", &st);
        cr_expect_eq(st, cases[i].status, "case %zu: %ld %s", i, st, json_dumps(r, 0));
        cr_expect_str_eq(errcode_of(r), cases[i].errcode, "case %zu: %s", i, json_dumps(r, 0));
        if (strcmp(cases[i].errcode, "M_INCOMPATIBLE_ROOM_VERSION") == 0)
            cr_expect_str_eq(json_string_value(json_object_get(r, "room_version")), "99", "case %zu", i);
        for (int k = 0; k < 3; k++) cr_expect_eq(asked[k], 1, "case %zu: server %d asked %d times", i, k, asked[k]);
        json_decref(r);
    }
}

Test(hs_fed_join_refusals, a_knock_hears_the_residents_errcode_too)
{
    script[0] = "down";
    script[1] = "400 M_INCOMPATIBLE_ROOM_VERSION";
    script[2] = "500 M_UNKNOWN";
    long st;
    json_t *r = attempt("knock", &st);
    cr_expect_eq(st, 400, "%ld %s", st, json_dumps(r, 0));
    cr_expect_str_eq(errcode_of(r), "M_INCOMPATIBLE_ROOM_VERSION");
    cr_expect_str_eq(json_string_value(json_object_get(r, "room_version")), "99");
    json_decref(r);
}
