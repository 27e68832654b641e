/* fed_srv: DNS SRV records for server discovery (_matrix-fed._tcp / _matrix._tcp).
 * The lookup uses the system resolver (res_query, in glibc's libc since 2.34); the
 * answer is parsed here with dn_expand rather than libresolv's ns_parserr, so the
 * binary needs no extra library. The parser is pure and bounded: it reads at most
 * FED_SRV_MAX_MSG bytes, follows name compression only through dn_expand (which
 * bounds loops), and never trusts a length field beyond the message. */
#ifndef FED_SRV_H
#define FED_SRV_H

#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_canonical_json.h"

#define FED_SRV_MAX_MSG 65535
#define FED_SRV_MAX_RECORDS 16

typedef struct fed_srv_record {
    uint16_t priority, weight, port;
    char target[256];  /* without the trailing dot */
} fed_srv_record;

/* Parses the SRV answers (class IN, type SRV) of a DNS response message into `out`
 * (up to `max`), sorted by priority ascending then weight descending. Records whose
 * target is "." (service explicitly unavailable) are dropped. Returns the number of
 * records, or -1 with err set when the message is malformed. */
int fed_srv_parse(const uint8_t *msg, size_t len, fed_srv_record *out, size_t max, hs_err *err);

/* Looks up `name` (e.g. "_matrix-fed._tcp.example.org") with the system resolver and
 * parses the answer. Returns the number of records (0 when the name has none or does
 * not exist), or -1 with err on resolver failure. Blocking; thread-safe (res_query
 * uses per-thread resolver state). */
int fed_srv_lookup(const char *name, fed_srv_record *out, size_t max, hs_err *err);

#endif
