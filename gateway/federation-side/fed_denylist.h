/* fed_denylist: the address ranges outbound federation must never connect to
 * (federation.ip_range_denylist). Checked on the address actually being connected to,
 * after DNS, SRV and .well-known, so no name - however it resolves - can point the
 * server at loopback or the operator's private network. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are checked as the IPv4 address they carry. */
#ifndef FED_DENYLIST_H
#define FED_DENYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "server-core/hs_canonical_json.h"

#define FED_DENYLIST_MAX 128          /* ranges */
#define FED_DENYLIST_MAX_TEXT 8192    /* bytes of the configured list */

typedef struct fed_denylist fed_denylist;

/* Parses a comma-separated list of CIDR ranges ("10.0.0.0/8,fc00::/7"; a bare address
 * is a /32 or /128; spaces around entries are ignored; "" is an empty list). Host bits
 * below the prefix must be zero. Returns a new list (free with fed_denylist_free), or
 * NULL with err naming the bad entry. */
fed_denylist *fed_denylist_parse(const char *text, hs_err *err);

/* Frees the list. NULL is allowed. */
void fed_denylist_free(fed_denylist *d);

/* Whether `sa` (AF_INET or AF_INET6) falls in a listed range. Other families are
 * denied (federation only speaks IP). */
bool fed_denylist_denies(const fed_denylist *d, const struct sockaddr *sa);

/* Number of ranges in the list. */
size_t fed_denylist_count(const fed_denylist *d);

#endif
