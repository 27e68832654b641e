/* Router and request model without sockets: path parameters are decoded after
 * splitting, the raw target is kept, errors follow the spec. */
#include <criterion/criterion.h>
#include <string.h>

#include "server-core/hs_http.h"

static void echo(const hs_request *req, hs_response *resp, void *ctx)
{
    (void)ctx;
    json_t *params = json_object();
    for (size_t i = 0; i < req->n_params; i++)
        json_object_set_new(params, req->params[i].name, json_string(req->params[i].value));
    hs_response_json(resp, 200, params);
}

static hs_router *router(bool cors)
{
    hs_router *r = hs_router_new((hs_router_options){.cors = cors});
    cr_assert_eq(hs_router_add(r, "PUT", "/_matrix/client/v3/rooms/{roomId}/send/{type}/{txnId}", echo, NULL), 0);
    cr_assert_eq(hs_router_add(r, "GET", "/_matrix/key/v2/server/{keyId}", echo, NULL), 0);
    cr_assert_eq(hs_router_add(r, "GET", "/_matrix/media/v3/download/{server}/{rest...}", echo, NULL), 0);
    return r;
}

static json_t *run(hs_router *r, const char *method, const char *target, int want)
{
    hs_request req = {.method = method};
    hs_response resp = {0};
    cr_assert_eq(hs_request_parse_target(&req, target), 0, "target %s", target);
    hs_router_dispatch(r, &req, &resp);
    cr_assert_eq(resp.status, want, "%s %s -> %d %s", method, target, resp.status, resp.body ? resp.body : "");
    json_t *j = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    hs_response_clear(&resp);
    hs_request_clear(&req);
    return j;
}

Test(hs_router, params_are_decoded_after_splitting)
{
    hs_router *r = router(false);
    json_t *j = run(r, "PUT", "/_matrix/client/v3/rooms/%21abc%3Aexample.org/send/m.room.message/t%2F1", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "roomId")), "!abc:example.org");
    cr_assert_str_eq(json_string_value(json_object_get(j, "txnId")), "t/1", "an encoded slash stays inside the param");
    json_decref(j);
    j = run(r, "GET", "/_matrix/key/v2/server/ed25519%3Aa_AbCd", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "keyId")), "ed25519:a_AbCd");
    json_decref(j);
    hs_router_free(r);
}

Test(hs_router, rest_capture)
{
    hs_router *r = router(false);
    json_t *j = run(r, "GET", "/_matrix/media/v3/download/example.org/abc/file%20name.png", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "rest")), "abc/file name.png");
    json_decref(j);
    hs_router_free(r);
}

Test(hs_router, not_found_and_method_not_allowed)
{
    hs_router *r = router(false);
    json_t *j = run(r, "GET", "/_matrix/client/v3/rooms/x/send/t", 404);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNRECOGNIZED");
    json_decref(j);
    j = run(r, "POST", "/_matrix/key/v2/server/k", 405);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNRECOGNIZED");
    json_decref(j);
    j = run(r, "GET", "/_matrix/key/v2/server/", 404) /* an empty parameter does not match */;
    json_decref(j);
    hs_router_free(r);
}

Test(hs_router, non_utf8_paths_and_long_messages_still_get_json_errors)
{
    hs_router *r = router(false);
    json_t *j = run(r, "GET", "/_matrix/client/v3/%FF%C3\xff\xc3", 404);
    cr_assert_not_null(j, "the 404 answer is JSON");
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNRECOGNIZED");
    json_decref(j);
    hs_response resp = {0};
    char long_name[600];
    memset(long_name, 0, sizeof long_name);
    for (size_t i = 0; i + 2 < sizeof long_name; i += 2) memcpy(long_name + i, "\xc3\xa9", 2); /* é, cut at 512 */
    hs_response_error(&resp, 400, "M_INVALID_PARAM", "x%s", long_name);
    cr_assert_eq(resp.status, 400);
    j = json_loadb(resp.body, resp.body_len, 0, NULL);
    cr_assert_not_null(j, "a message cut inside a character is still valid JSON");
    json_decref(j);
    hs_response_clear(&resp);
    hs_router_free(r);
}

Test(hs_router, a_trailing_slash_falls_back_to_the_path_without_it)
{
    hs_router *r = hs_router_new((hs_router_options){.cors = false});
    cr_assert_eq(hs_router_add(r, "PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}", echo, NULL), 0);
    cr_assert_eq(hs_router_add(r, "PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}", echo, NULL),
                 0);
    json_t *j = run(r, "PUT", "/_matrix/client/v3/rooms/%21a%3Ab/state/m.room.name/", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "eventType")), "m.room.name");
    cr_assert_null(json_object_get(j, "stateKey"), "the empty state key is the route without one");
    json_decref(j);
    j = run(r, "PUT", "/_matrix/client/v3/rooms/%21a%3Ab/state/m.room.member/%40u%3Ab", 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "stateKey")), "@u:b");
    json_decref(j);
    json_decref(run(r, "GET", "/_matrix/client/v3/rooms/%21a%3Ab/state/m.room.name/", 405));
    json_decref(run(r, "PUT", "/_matrix/client/v3/rooms/%21a%3Ab/state//", 404));
    hs_router_free(r);
}

Test(hs_router, head_is_served_by_get)
{
    hs_router *r = router(false);
    json_decref(run(r, "HEAD", "/_matrix/key/v2/server/k", 200));
    hs_router_free(r);
}

Test(hs_router, options_preflight_only_with_cors)
{
    hs_router *with = router(true), *without = router(false);
    json_decref(run(with, "OPTIONS", "/_matrix/key/v2/server/k", 204));
    json_decref(run(without, "OPTIONS", "/_matrix/key/v2/server/k", 405));
    hs_router_free(with);
    hs_router_free(without);
}

Test(hs_router, bad_escape_in_param_is_400)
{
    hs_router *r = router(false);
    json_t *j = run(r, "GET", "/_matrix/key/v2/server/%zz", 400);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNRECOGNIZED");
    json_decref(j);
    json_decref(run(r, "GET", "/_matrix/key/v2/server/a%00b", 400));
    hs_router_free(r);
}

Test(hs_router, query_is_decoded_in_order_and_target_kept_raw)
{
    hs_request req = {.method = "GET"};
    const char *t = "/_matrix/federation/v1/make_join/%21r%3Aa/%40u%3Ab?ver=1&ver=org.matrix.msc2176&q=a+b%2Bc";
    cr_assert_eq(hs_request_parse_target(&req, t), 0);
    cr_assert_str_eq(req.target, t);
    cr_assert_str_eq(req.path, "/_matrix/federation/v1/make_join/%21r%3Aa/%40u%3Ab");
    cr_assert_eq(req.n_query, 3);
    cr_assert_str_eq(req.query[1].value, "org.matrix.msc2176");
    cr_assert_str_eq(hs_request_query(&req, "ver"), "1");
    cr_assert_str_eq(hs_request_query(&req, "q"), "a b+c");
    hs_request_clear(&req);
}

Test(hs_router, malformed_targets_rejected)
{
    hs_request req = {.method = "GET"};
    cr_assert_eq(hs_request_parse_target(&req, "http://absolute/form"), -1);
    cr_assert_eq(hs_request_parse_target(&req, ""), -1);
    cr_assert_eq(hs_request_parse_target(&req, "/a?x=%4"), -1);
    char big[HS_HTTP_MAX_TARGET + 10];
    memset(big, 'a', sizeof big);
    big[0] = '/';
    big[sizeof big - 1] = '\0';
    cr_assert_eq(hs_request_parse_target(&req, big), -1);
}
