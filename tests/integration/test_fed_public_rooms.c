/* The public room directory across two real pinegate processes over loopback HTTPS:
 * alice on A publishes two rooms (one named to match a search term) and keeps a third
 * room out of the directory; bob on B lists A's directory through his own server
 * (/publicRooms?server=A: GET, POST with a generic_search_term, limit+since paging both
 * ways) and sees exactly A's published rooms with their fields. A's federation
 * endpoint answers a request signed by B and refuses an unsigned one (401); asking a
 * server that does not answer gives bob a 502. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/pgt.h"
#include "support/pgt_fed.h"
#include "support/pgt_matrix.h"

PGT_FED_SUITE_AB(fed_public_rooms, 120);

/* The room IDs of a /publicRooms answer's chunk, sorted, joined by spaces. */
static char *ids(const json_t *answer)
{
    static char out[4][1024];
    static int next;
    char *o = out[next++ % 4];
    o[0] = '\0';
    const char *v[16];
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(json_object_get(answer, "chunk"), i, e) {
        if (n < 16) v[n++] = json_string_value(json_object_get(e, "room_id"));
    }
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (strcmp(v[b], v[a]) < 0) {
                const char *t = v[a];
                v[a] = v[b];
                v[b] = t;
            }
    for (size_t k = 0; k < n; k++) {
        strcat(o, k ? " " : "");
        strcat(o, v[k]);
    }
    return o;
}

static const char *pair(const char *x, const char *y)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s %s", strcmp(x, y) < 0 ? x : y, strcmp(x, y) < 0 ? y : x);
    return buf;
}

Test(fed_public_rooms, b_lists_exactly_a_published_rooms)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char *garden = pgt_mx_create_room(
        A.base, &alice, "{\"preset\":\"public_chat\",\"visibility\":\"public\",\"name\":\"Gardening club\","
                        "\"topic\":\"tomatoes\",\"room_alias_name\":\"garden\"}");
    char *chess = pgt_mx_create_room(A.base, &alice,
                                     "{\"preset\":\"public_chat\",\"visibility\":\"public\",\"name\":\"Chess\"}");
    char *hidden = pgt_mx_create_room(A.base, &alice,
                                      "{\"preset\":\"public_chat\",\"visibility\":\"private\",\"name\":\"Garden shed\"}");
    char *mine = pgt_mx_create_room(B.base, &bob, "{\"preset\":\"public_chat\",\"visibility\":\"public\",\"name\":\"B's\"}");
    const char *both = pair(garden, chess);
    char both_ids[1024];
    snprintf(both_ids, sizeof both_ids, "%s", both);

    /* GET: the whole directory of A, with the fields a client shows. */
    long st;
    json_t *j = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=%s",
                             pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 200, "%s", json_string_value(json_object_get(j, "error")));
    cr_assert_str_eq(ids(j), both_ids);
    cr_assert_eq(json_integer_value(json_object_get(j, "total_room_count_estimate")), 2);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(j, "chunk"), i, e) {
        const char *id = json_string_value(json_object_get(e, "room_id"));
        cr_assert_eq(json_integer_value(json_object_get(e, "num_joined_members")), 1);
        cr_assert(json_is_boolean(json_object_get(e, "world_readable")));
        cr_assert(json_is_false(json_object_get(e, "guest_can_join")));
        cr_assert_str_eq(json_string_value(json_object_get(e, "join_rule")), "public");
        if (strcmp(id, garden) == 0) {
            cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "Gardening club");
            cr_assert_str_eq(json_string_value(json_object_get(e, "topic")), "tomatoes");
            char alias[300];
            snprintf(alias, sizeof alias, "#garden:%s", A.name);
            cr_assert_str_eq(json_string_value(json_object_get(e, "canonical_alias")), alias);
        } else {
            cr_assert_str_eq(json_string_value(json_object_get(e, "name")), "Chess");
        }
    }
    json_decref(j);

    /* POST with a search term: A filters; only the gardening club (the shed is not published). */
    j = pgt_mx_callf(B.base, "POST", bob.token, &st, "{\"filter\":{\"generic_search_term\":\"GARDEN\"}}",
                     "/_matrix/client/v3/publicRooms?server=%s", pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(ids(j), garden);
    json_decref(j);

    /* Paging with limit and since, POST then GET: one room per page, both seen once. */
    j = pgt_mx_callf(B.base, "POST", bob.token, &st, "{\"limit\":1}", "/_matrix/client/v3/publicRooms?server=%s",
                     pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    char first[300], next[300];
    snprintf(first, sizeof first, "%s", ids(j));
    const char *nb = json_string_value(json_object_get(j, "next_batch"));
    cr_assert_not_null(nb, "a first page of one of two rooms has a next_batch");
    snprintf(next, sizeof next, "%s", nb);
    json_decref(j);
    j = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=%s&limit=1&since=%s",
                     pgt_mx_enc_tmp(A.name), pgt_mx_enc_tmp(next));
    cr_assert_eq(st, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 1);
    cr_assert_str_eq(pair(first, ids(j)), both_ids);
    cr_assert_null(json_object_get(j, "next_batch"), "the second page is the last");
    const char *pb = json_string_value(json_object_get(j, "prev_batch"));
    cr_assert_not_null(pb);
    char prev_body[400];
    snprintf(prev_body, sizeof prev_body, "{\"limit\":1,\"since\":\"%s\"}", pb);
    json_decref(j);
    j = pgt_mx_callf(B.base, "POST", bob.token, &st, prev_body, "/_matrix/client/v3/publicRooms?server=%s",
                     pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 200);
    cr_assert_str_eq(ids(j), first, "prev_batch leads back to the first page");
    json_decref(j);

    /* B's own directory is still its own. */
    j = pgt_mx_callf(B.base, "GET", NULL, &st, NULL, "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(ids(j), mine);
    json_decref(j);
    free(garden);
    free(chess);
    free(hidden);
    free(mine);
}

Test(fed_public_rooms, a_endpoint_needs_a_signature)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    char *room = pgt_mx_create_room(A.base, &alice, "{\"preset\":\"public_chat\",\"visibility\":\"public\"}");
    json_t *j;
    cr_assert_eq(pgt_fed_call_as(&B, &A, false, "GET", "/_matrix/federation/v1/publicRooms", NULL, &j), 401);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNAUTHORIZED");
    json_decref(j);
    cr_assert_eq(pgt_fed_call_as(&B, &A, false, "POST", "/_matrix/federation/v1/publicRooms", "{}", &j), 401);
    json_decref(j);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", "/_matrix/federation/v1/publicRooms?limit=5", NULL, &j), 200);
    cr_assert_str_eq(ids(j), room);
    json_decref(j);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "POST", "/_matrix/federation/v1/publicRooms",
                                 "{\"filter\":{\"generic_search_term\":\"nothing like it\"}}", &j),
                 200);
    cr_assert_eq(json_array_size(json_object_get(j, "chunk")), 0);
    json_decref(j);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", "/_matrix/federation/v1/publicRooms?since=garbage", NULL, &j),
                 400);
    json_decref(j);
    free(room);
}

Test(fed_public_rooms, an_unreachable_server_is_a_502)
{
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    char name[64];
    snprintf(name, sizeof name, "localhost:%d", pgt_free_port());
    long st;
    json_t *j = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=%s",
                             pgt_mx_enc_tmp(name));
    cr_assert_eq(st, 502);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_UNKNOWN");
    json_decref(j);
}

/* An operator who keeps the directory to local users (federation.public_rooms: false):
 * B's signed requests and bob's ?server=A get 403 M_FORBIDDEN, alice still lists it. */
Test(fed_public_rooms, an_operator_can_keep_the_list_local)
{
    pgt_mx_login alice = pgt_mx_must_register(A.base, "alice", "pw-alice-1");
    char *room = pgt_mx_create_room(A.base, &alice, "{\"preset\":\"public_chat\",\"visibility\":\"public\"}");
    pgt_stop(&A.proc, SIGTERM, 10000);
    FILE *f = fopen(A.cfg, "r");
    cr_assert(f);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *on = strstr(text, "public_rooms: true");
    cr_assert(on, "the rendered config names federation.public_rooms");
    static char edited[sizeof text + 1];
    snprintf(edited, sizeof edited, "%.*spublic_rooms: false%s", (int)(on - text), text, on + strlen("public_rooms: true"));
    cr_assert_eq(pgt_write_file(A.cfg, edited), 0);
    pgt_fed_serve(&A);
    json_t *j;
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "GET", "/_matrix/federation/v1/publicRooms", NULL, &j), 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    json_decref(j);
    cr_assert_eq(pgt_fed_call_as(&B, &A, true, "POST", "/_matrix/federation/v1/publicRooms", "{}", &j), 403);
    json_decref(j);
    pgt_mx_login bob = pgt_mx_must_register(B.base, "bob", "pw-bob-1");
    long st;
    j = pgt_mx_callf(B.base, "GET", bob.token, &st, NULL, "/_matrix/client/v3/publicRooms?server=%s",
                     pgt_mx_enc_tmp(A.name));
    cr_assert_eq(st, 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "errcode")), "M_FORBIDDEN");
    json_decref(j);
    j = pgt_mx_callf(A.base, "GET", alice.token, &st, NULL, "/_matrix/client/v3/publicRooms");
    cr_assert_eq(st, 200);
    cr_assert_str_eq(ids(j), room);
    json_decref(j);
    free(room);
}
