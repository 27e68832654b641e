/* fed_denylist: ranges are kept as 16-byte addresses with a prefix length; IPv4 ranges
 * are stored in their IPv4-mapped form (::ffff:0:0/96 + prefix), so one comparison
 * covers both families and a mapped address cannot slip past an IPv4 range. */
#include "federation-side/fed_denylist.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct range {
    uint8_t addr[16];
    int prefix; /* 0..128, counted on the 16-byte form */
} range;

struct fed_denylist {
    range r[FED_DENYLIST_MAX];
    size_t n;
};

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void to_mapped(const uint8_t v4[4], uint8_t out[16])
{
    memcpy(out, v4_mapped_prefix, 12);
    memcpy(out + 12, v4, 4);
}

static bool prefix_match(const uint8_t a[16], const uint8_t b[16], int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, (size_t)full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

static int parse_entry(const char *s, size_t n, range *out, hs_err *err)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf) return hs_err_set(err, "ip_range_denylist: bad entry '%.*s'", (int)(n > 60 ? 60 : n), s);
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        prefix = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || prefix < 0)
            return hs_err_set(err, "ip_range_denylist: bad prefix length in '%.*s'", (int)n, s);
    }
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        if (prefix > 32) return hs_err_set(err, "ip_range_denylist: '%.*s': an IPv4 prefix is at most 32", (int)n, s);
        to_mapped(v4, out->addr);
        out->prefix = 96 + (int)(prefix < 0 ? 32 : prefix);
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        if (prefix > 128) return hs_err_set(err, "ip_range_denylist: '%.*s': an IPv6 prefix is at most 128", (int)n, s);
        out->prefix = (int)(prefix < 0 ? 128 : prefix);
    } else {
        return hs_err_set(err, "ip_range_denylist: '%.*s' is not an IP address or CIDR range", (int)n, s);
    }
    /* Host bits set usually mean a typo ("10.0.0.1/8"); refuse rather than guess. */
    uint8_t masked[16];
    memcpy(masked, out->addr, 16);
    for (int bit = out->prefix; bit < 128; bit++) masked[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
    if (memcmp(masked, out->addr, 16) != 0)
        return hs_err_set(err, "ip_range_denylist: '%.*s' has host bits set below the prefix", (int)n, s);
    return 0;
}

fed_denylist *fed_denylist_parse(const char *text, hs_err *err)
{
    if (strlen(text) > FED_DENYLIST_MAX_TEXT) {
        hs_err_set(err, "ip_range_denylist is longer than %d bytes", FED_DENYLIST_MAX_TEXT);
        return NULL;
    }
    fed_denylist *d = calloc(1, sizeof *d);
    if (!d) {
        hs_err_set(err, "out of memory");
        return NULL;
    }
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t')) m--;
        if (m > 0) {
            if (d->n == FED_DENYLIST_MAX) {
                hs_err_set(err, "ip_range_denylist has more than %d ranges", FED_DENYLIST_MAX);
                free(d);
                return NULL;
            }
            if (parse_entry(p, m, &d->r[d->n], err) != 0) {
                free(d);
                return NULL;
            }
            d->n++;
        }
        p += n;
        if (*p == ',') p++;
    }
    return d;
}

void fed_denylist_free(fed_denylist *d)
{
    free(d);
}

size_t fed_denylist_count(const fed_denylist *d)
{
    return d ? d->n : 0;
}

bool fed_denylist_denies(const fed_denylist *d, const struct sockaddr *sa)
{
    uint8_t a[16];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        to_mapped((const uint8_t *)&in->sin_addr, a);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(a, &in6->sin6_addr, 16);
    } else {
        return true;
    }
    for (size_t i = 0; d && i < d->n; i++)
        if (prefix_match(a, d->r[i].addr, d->r[i].prefix)) return true;
    return false;
}
