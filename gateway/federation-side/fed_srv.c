/* fed_srv: a DNS message is a 12-byte header, the question section (name, type,
 * class) and resource records (name, type, class, TTL, rdlength, rdata). We skip the
 * questions and read only SRV answers; every offset is checked against the message
 * length before it is read. Weighted random selection among equal priorities (RFC
 * 2782) is replaced by "heaviest first": deterministic, and good enough for the one
 * target we try. */
#include "federation-side/fed_srv.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static int cmp_records(const void *a, const void *b)
{
    const fed_srv_record *x = a, *y = b;
    if (x->priority != y->priority) return x->priority < y->priority ? -1 : 1;
    if (x->weight != y->weight) return x->weight > y->weight ? -1 : 1;
    return strcmp(x->target, y->target);
}

int fed_srv_parse(const uint8_t *msg, size_t len, fed_srv_record *out, size_t max, hs_err *err)
{
    if (len < 12) return hs_err_set(err, "DNS answer shorter than its header");
    if (len > FED_SRV_MAX_MSG) return hs_err_set(err, "DNS answer longer than %d bytes", FED_SRV_MAX_MSG);
    const uint8_t *end = msg + len;
    unsigned qd = get16(msg + 4), an = get16(msg + 6);
    const uint8_t *p = msg + 12;
    for (unsigned i = 0; i < qd; i++) {
        int n = dn_skipname(p, end);
        if (n < 0 || end - p < n + 4) return hs_err_set(err, "DNS answer: truncated question %u", i);
        p += n + 4;
    }
    size_t count = 0;
    for (unsigned i = 0; i < an; i++) {
        int n = dn_skipname(p, end);
        if (n < 0 || end - p < n + 10) return hs_err_set(err, "DNS answer: truncated record %u", i);
        p += n;
        uint16_t type = get16(p), klass = get16(p + 2), rdlen = get16(p + 8);
        p += 10;
        if (end - p < rdlen) return hs_err_set(err, "DNS answer: record %u runs past the message", i);
        const uint8_t *rdata = p;
        p += rdlen;
        if (type != 33 || klass != 1) continue; /* CNAMEs and others: the resolver already followed them */
        if (rdlen < 7) return hs_err_set(err, "DNS answer: SRV record %u too short", i);
        fed_srv_record r;
        memset(&r, 0, sizeof r);
        r.priority = get16(rdata);
        r.weight = get16(rdata + 2);
        r.port = get16(rdata + 4);
        char name[NS_MAXDNAME];
        /* dn_expand may follow compression pointers anywhere in the message, but the
         * name itself must start inside this record's rdata. */
        int m = dn_expand(msg, end, rdata + 6, name, sizeof name);
        if (m < 0 || m > rdlen - 6) return hs_err_set(err, "DNS answer: bad SRV target in record %u", i);
        if (name[0] == '\0' || strcmp(name, ".") == 0) continue;
        if (strlen(name) >= sizeof r.target) return hs_err_set(err, "DNS answer: SRV target too long");
        snprintf(r.target, sizeof r.target, "%s", name);
        size_t tl = strlen(r.target);
        if (tl > 0 && r.target[tl - 1] == '.') r.target[tl - 1] = '\0';
        if (count < max) out[count++] = r;
    }
    qsort(out, count, sizeof *out, cmp_records);
    return (int)count;
}

int fed_srv_lookup(const char *name, fed_srv_record *out, size_t max, hs_err *err)
{
    uint8_t *answer = malloc(FED_SRV_MAX_MSG);
    if (!answer) return hs_err_set(err, "out of memory");
    int n = res_query(name, 1 /* IN */, 33 /* SRV */, answer, FED_SRV_MAX_MSG);
    int rc;
    if (n < 0) {
        /* NXDOMAIN and NODATA both mean "no SRV records": discovery moves on. Only a
         * resolver that cannot answer at all is an error. */
        rc = (h_errno == HOST_NOT_FOUND || h_errno == NO_DATA) ? 0 : hs_err_set(err, "SRV lookup of %.200s failed", name);
    } else {
        rc = fed_srv_parse(answer, (size_t)n, out, max, err);
    }
    free(answer);
    return rc;
}
