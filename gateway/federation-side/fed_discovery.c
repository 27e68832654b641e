/* fed_discovery: the resolution steps are one straight function (resolve_host) used
 * twice - for the server name itself and for a delegated name - with the well-known
 * step only on the first pass, which is exactly the spec's shape. The well-known cache
 * is a fixed array under a mutex; the network fetch runs without the lock, so two
 * threads may fetch the same name at once (harmless: the later answer wins). */
#include "federation-side/fed_discovery.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_pdu.h"

typedef struct wk_entry {
    char name[256];
    int64_t expires_ms;
    bool ok;
    char delegated[256];
} wk_entry;

struct fed_discovery {
    fed_resolver r;
    pthread_mutex_t lock;
    wk_entry cache[FED_DISCOVERY_CACHE_MAX];
    size_t n;
};

fed_discovery *fed_discovery_new(const fed_resolver *r)
{
    fed_discovery *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->r = *r;
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

void fed_discovery_free(fed_discovery *d)
{
    if (!d) return;
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int fed_split_server_name(const char *server_name, char *host, size_t cap, int *port, bool *ip_literal)
{
    if (!hs_is_valid_server_name(server_name)) return -1;
    const char *s = server_name, *port_part = NULL;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close) return -1;
        hl = (size_t)(close - s - 1);
        s++;
        if (close[1] == ':') port_part = close + 2;
    } else {
        const char *colon = strchr(s, ':');
        hl = colon ? (size_t)(colon - s) : strlen(s);
        if (colon) port_part = colon + 1;
    }
    if (hl == 0 || hl >= cap) return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = -1;
    if (port_part) {
        char *end;
        long p = strtol(port_part, &end, 10);
        if (*port_part == '\0' || *end != '\0' || p < 1 || p > 65535) return -1;
        *port = (int)p;
    }
    unsigned char buf[16];
    *ip_literal = inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
    return 0;
}

int fed_well_known_parse(const char *body, size_t len, char *out, size_t cap, hs_err *err)
{
    json_t *j = hs_cjson_parse(body, len, FED_WELL_KNOWN_MAX_BYTES, HS_CJSON_LAX_INTS, err);
    if (!j) return -1;
    const char *s = json_string_value(json_object_get(j, "m.server"));
    int rc = 0;
    if (!s) rc = hs_err_set(err, "well-known has no m.server string");
    else if (!hs_is_valid_server_name(s)) rc = hs_err_set(err, "well-known m.server '%.100s' is not a server name", s);
    else if (strlen(s) >= cap) rc = hs_err_set(err, "well-known m.server is too long");
    else snprintf(out, cap, "%s", s);
    json_decref(j);
    return rc;
}

static void set_target(fed_target *out, const char *connect_host, int port, const char *host_header,
                       const char *tls_name, bool ip)
{
    memset(out, 0, sizeof *out);
    snprintf(out->connect_host, sizeof out->connect_host, "%s", connect_host);
    out->port = port;
    snprintf(out->host_header, sizeof out->host_header, "%s", host_header);
    snprintf(out->tls_name, sizeof out->tls_name, "%s", tls_name);
    out->ip_literal = ip;
}

/* The SRV steps for `host`: _matrix-fed._tcp, then the deprecated _matrix._tcp. */
static bool try_srv(fed_discovery *d, const char *host, const char *host_header, fed_target *out)
{
    static const char *const prefixes[] = {"_matrix-fed._tcp.", "_matrix._tcp."};
    for (size_t i = 0; i < 2; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s%s", prefixes[i], host);
        fed_srv_record recs[FED_SRV_MAX_RECORDS];
        int n = d->r.srv ? d->r.srv(d->r.ctx, name, recs, FED_SRV_MAX_RECORDS) : 0;
        if (n > 0) {
            set_target(out, recs[0].target, recs[0].port, host_header, host, false);
            return true;
        }
    }
    return false;
}

/* Looks up (and, when stale, refreshes) the well-known delegation of `host`. Returns
 * true with the delegated server name in `delegated`. */
static bool well_known(fed_discovery *d, const char *host, int64_t now_ms, char *delegated, size_t cap)
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->n; i++) {
        wk_entry *e = &d->cache[i];
        if (strcmp(e->name, host) == 0 && e->expires_ms > now_ms) {
            bool ok = e->ok;
            if (ok) snprintf(delegated, cap, "%s", e->delegated);
            pthread_mutex_unlock(&d->lock);
            return ok;
        }
    }
    pthread_mutex_unlock(&d->lock);

    fed_wk_http h = {0};
    h.max_age_ms = -1;
    bool ok = false;
    char result[256] = "";
    if (d->r.well_known && d->r.well_known(d->r.ctx, host, &h) == 0 && h.status == 200 && h.body) {
        hs_err err;
        ok = fed_well_known_parse(h.body, h.body_len, result, sizeof result, &err) == 0;
    }
    int64_t ttl;
    if (!ok) ttl = FED_WELL_KNOWN_ERROR_TTL_MS;
    else if (h.max_age_ms < 0) ttl = FED_WELL_KNOWN_DEFAULT_TTL_MS;
    else ttl = h.max_age_ms > FED_WELL_KNOWN_MAX_TTL_MS ? FED_WELL_KNOWN_MAX_TTL_MS : h.max_age_ms;
    free(h.body);

    pthread_mutex_lock(&d->lock);
    wk_entry *slot = NULL;
    for (size_t i = 0; i < d->n && !slot; i++)
        if (strcmp(d->cache[i].name, host) == 0) slot = &d->cache[i];
    if (!slot && d->n < FED_DISCOVERY_CACHE_MAX) slot = &d->cache[d->n++];
    if (!slot) { /* full: replace the entry that expires first */
        slot = &d->cache[0];
        for (size_t i = 1; i < d->n; i++)
            if (d->cache[i].expires_ms < slot->expires_ms) slot = &d->cache[i];
    }
    snprintf(slot->name, sizeof slot->name, "%s", host);
    slot->expires_ms = now_ms + ttl;
    slot->ok = ok;
    snprintf(slot->delegated, sizeof slot->delegated, "%s", result);
    pthread_mutex_unlock(&d->lock);
    if (ok) snprintf(delegated, cap, "%s", result);
    return ok;
}

int fed_discover(fed_discovery *d, const char *server_name, int64_t now_ms, fed_target *out, hs_err *err)
{
    char host[256];
    int port;
    bool ip;
    if (fed_split_server_name(server_name, host, sizeof host, &port, &ip) != 0)
        return hs_err_set(err, "'%.100s' is not a server name", server_name);
    /* Steps 1 and 2: the name says where to connect. */
    if (ip || port > 0) {
        set_target(out, host, port > 0 ? port : 8448, server_name, host, ip);
        return 0;
    }
    /* Step 3: delegation, resolved with the same rules minus well-known. */
    char delegated[256];
    if (well_known(d, host, now_ms, delegated, sizeof delegated)) {
        char dhost[256];
        int dport;
        bool dip;
        if (fed_split_server_name(delegated, dhost, sizeof dhost, &dport, &dip) == 0) {
            if (dip || dport > 0) {
                set_target(out, dhost, dport > 0 ? dport : 8448, delegated, dhost, dip);
                return 0;
            }
            if (try_srv(d, dhost, dhost, out)) return 0;
            set_target(out, dhost, 8448, dhost, dhost, false);
            return 0;
        }
    }
    /* Steps 4 to 6. */
    if (try_srv(d, host, host, out)) return 0;
    set_target(out, host, 8448, host, host, false);
    return 0;
}
