/* hs_sync_token: the position a client has seen in every stream /sync serves, written
 * as one opaque token. Format: "s<events>_<account_data>_<receipts>_<to_device>_
 * <device_lists>_<typing>_<presence>", every field a decimal integer >= 0. It begins
 * with "s<events>", the same spelling as a /messages pagination token, so a sync
 * token's events part can be used wherever a pagination token is accepted, and a bare
 * "s<N>" parses as a sync token with every other stream at 0.
 *
 * A pagination token (/messages from, to and end) may have a negative events position
 * ("s-42"): events fetched from other servers as history (backfill, hs_fed_history.h)
 * get stream orderings below zero so they sort before everything stored earlier, and a
 * page must be able to point among them. A /sync token never does (its positions are
 * what the client has seen of each stream), so /sync parses with the strict form.
 *
 * Each stream position is the highest stream_id of that stream the client has seen
 * (events: stream_ordering; typing: the in-memory typing serial). */
#ifndef HS_SYNC_TOKEN_H
#define HS_SYNC_TOKEN_H

#include <stdint.h>

typedef struct hs_sync_pos {
    int64_t events;
    int64_t account_data;
    int64_t receipts;
    int64_t to_device;
    int64_t device_lists;
    int64_t typing;
    int64_t presence;
} hs_sync_pos;

/* Longest token hs_sync_token_format writes, with its NUL. */
#define HS_SYNC_TOKEN_MAX 160

/* Parses `token` into *pos. Returns 0, or -1 if it is not a token of this format
 * (then *pos is zeroed). */
int hs_sync_token_parse(const char *token, hs_sync_pos *pos);

/* hs_sync_token_parse for a pagination token: the same, but the events position may
 * be negative ("-" then a non-zero number; "-0" is refused, so a position has one
 * spelling). */
int hs_sync_token_parse_paging(const char *token, hs_sync_pos *pos);

/* Writes the token for *pos into out (HS_SYNC_TOKEN_MAX bytes); a negative events
 * position is written with its sign. */
void hs_sync_token_format(const hs_sync_pos *pos, char out[HS_SYNC_TOKEN_MAX]);

#endif
