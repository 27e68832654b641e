/* hs_search: the request side of POST /search (Client-Server API v1.12, "Server Side
 * Search"), without I/O: the body's room_events category checked and turned into an
 * hs_search_request, the search term turned into a safe FTS5 expression, and the opaque
 * next_batch token. Only the room_events category exists in the spec; other categories
 * are refused. What the store does with the request is hs_store_search; the endpoint is
 * hs_api_search.
 *
 * Limits: the body is parsed by the HTTP layer (hs_request_json); here the search term is
 * at most HS_SEARCH_TERM_MAX bytes and HS_SEARCH_WORDS_MAX words (more words are
 * ignored), each filter list at most HS_SEARCH_LIST_MAX entries, limit 1..50, context
 * 0..20 events each side. */
#ifndef HS_SEARCH_H
#define HS_SEARCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_SEARCH_TERM_MAX 1024
#define HS_SEARCH_WORDS_MAX 32
#define HS_SEARCH_LIST_MAX 500
#define HS_SEARCH_LIMIT_DEFAULT 10
#define HS_SEARCH_LIMIT_MAX 50
#define HS_SEARCH_CONTEXT_MAX 20

enum { HS_SEARCH_KEY_BODY = 1, HS_SEARCH_KEY_NAME = 2, HS_SEARCH_KEY_TOPIC = 4 };

typedef struct hs_search_request {
    const char *search_term;      /* borrowed from the body */
    unsigned keys;                /* HS_SEARCH_KEY_* bits; all three by default */
    bool by_rank;                 /* order_by "rank" (the default) or "recent" */
    /* Filter lists: borrowed JSON arrays of strings from the body, NULL when absent. */
    const json_t *rooms, *not_rooms, *senders, *not_senders;
    long limit;
    bool context;                 /* event_context given */
    long before_limit, after_limit;
    bool include_profile;
    bool include_state;
    bool group_by_room, group_by_sender;
} hs_search_request;

/* Checks the body and fills *out (borrowing from body, which must outlive it). Returns 0,
 * or -1 with a message for a 400 M_BAD_JSON / M_INVALID_PARAM in err; *errcode points to
 * the errcode (static). */
int hs_search_parse(const json_t *body, hs_search_request *out, const char **errcode, char *err, size_t errlen);

/* The FTS5 expression for a search term: each word (a run of letters, digits or non-ASCII
 * bytes) as a quoted prefix term, all of them required ("cat dog" -> "cat"* "dog"*), and
 * the words (ASCII lower-cased) appended to `highlights` when non-NULL. Returns a malloc'd
 * string, "" when the term has no word, NULL on allocation failure. */
char *hs_search_match(const char *term, json_t *highlights);

/* The next_batch token: "r<offset>" for rank order, "t<stream>" for recent order (the
 * stream ordering is below zero for backfilled history). */
void hs_search_token_format(bool by_rank, int64_t value, char *out, size_t cap);

/* Parses a next_batch token of the given order into *value (>= 0 for rank order, any
 * sign for recent order). Returns 0, or -1 for a token that is not one of ours or
 * belongs to the other order. */
int hs_search_token_parse(const char *token, bool by_rank, int64_t *value);

#endif
