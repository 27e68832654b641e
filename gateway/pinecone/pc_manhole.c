/* pc_manhole: builds the Go-format manhole JSON from the router's read-only status
 * getters with jansson, and classifies manhole HTTP request heads. Keys are lowercase
 * hex, coordinates are Go's "[1 2]" strings, peers are grouped by public key and sorted
 * by announcement receive order, SNEK paths are sorted by key, as router/manhole.go
 * does. A missing parent or descending entry is JSON null, as in Go. */
#include "pinecone/pc_manhole.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void hex_key(const uint8_t *k, char out[2 * PC_KEY_LEN + 1])
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < PC_KEY_LEN; i++) {
        out[2 * i] = d[k[i] >> 4];
        out[2 * i + 1] = d[k[i] & 15];
    }
    out[2 * PC_KEY_LEN] = '\0';
}

char *pc_manhole_time(uint64_t unix_ms, char *out, size_t cap)
{
    time_t secs = (time_t)(unix_ms / 1000);
    unsigned ms = (unsigned)(unix_ms % 1000);
    struct tm tm;
    char base[32], frac[8] = "";
    gmtime_r(&secs, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (ms) {
        snprintf(frac, sizeof frac, ".%03u", ms);
        size_t n = strlen(frac);
        while (frac[n - 1] == '0')
            frac[--n] = '\0';
    }
    snprintf(out, cap, "%s%sZ", base, frac);
    return out;
}

static json_t *jkey(const uint8_t *k)
{
    char hex[2 * PC_KEY_LEN + 1];
    hex_key(k, hex);
    return json_string(hex);
}

static json_t *jcoords(const pc_coords *c)
{
    /* 128 ports of at most 20 digits each plus separators */
    char buf[PC_MAX_DEPTH * 21 + 3];
    return json_string(pc_coords_format(c, buf, sizeof buf));
}

static json_t *jroot(const uint8_t *key, uint64_t seq)
{
    return json_pack("{s:o,s:I}", "root_public_key", jkey(key), "root_sequence", (json_int_t)seq);
}

/* Go's peer JSON {port, public_key}: the local router is port 0 with our own key. */
static json_t *jpeer(const pc_router *r, int port)
{
    if (port == 0)
        return json_pack("{s:i,s:o}", "port", 0, "public_key", jkey(pc_router_public_key(r)));
    pc_peer_status ps;
    if (pc_router_peer_status(r, port, &ps) != PC_OK)
        return json_null();
    return json_pack("{s:i,s:o}", "port", port, "public_key", jkey(ps.key));
}

static json_t *jpath(const pc_router *r, const pc_path_status *p)
{
    char when[48];
    return json_pack("{s:o,s:o,s:o,s:s,s:o,s:{s:o,s:I}}",
                     "public_key", jkey(p->key),
                     "source", jpeer(r, p->src_port),
                     /* dst 0 means the bootstrap ended here: Go has no peer there */
                     "destination", p->dst_port ? jpeer(r, p->dst_port) : json_null(),
                     "last_seen", pc_manhole_time(p->last_seen, when, sizeof when),
                     "root", jroot(p->root_key, p->root_seq),
                     "watermark", "public_key", jkey(p->watermark.key), "sequence",
                     (json_int_t)p->watermark.seq);
}

static int path_cmp(const void *a, const void *b)
{
    return pc_key_cmp(((const pc_path_status *)a)->key, ((const pc_path_status *)b)->key);
}

static json_t *jsnek(const pc_router *r)
{
    pc_path_status d;
    json_t *desc = pc_router_descending(r, &d) ? jpath(r, &d) : json_null();
    size_t n = pc_router_paths(r, NULL, 0);
    pc_path_status *ps = n ? calloc(n, sizeof *ps) : NULL;
    json_t *paths = json_array();
    if (n && !ps) {
        json_decref(desc);
        json_decref(paths);
        return NULL;
    }
    if (n) {
        n = pc_router_paths(r, ps, n);
        qsort(ps, n, sizeof *ps, path_cmp);
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(paths, jpath(r, &ps[i]));
    free(ps);
    /* Go encodes an empty slice that was never appended to as null */
    if (!n) {
        json_decref(paths);
        paths = json_null();
    }
    return json_pack("{s:o,s:o}", "descending", desc, "paths", paths);
}

static json_t *jpeer_entry(const pc_peer_status *ps, const pc_manhole_link *l)
{
    uint64_t total = l->traffic_frames + ps->traffic_dropped + ps->traffic_queued;
    json_t *e = json_pack(
        "{s:i,s:I,s:I,s:I,s:I,s:{s:I,s:i},s:{s:I,s:i,s:{},s:I,s:I}}", "port", ps->port,
        "rx_proto_bytes", (json_int_t)ps->rx_proto_bytes, "tx_proto_bytes",
        (json_int_t)ps->tx_proto_bytes, "rx_traffic_bytes", (json_int_t)ps->rx_traffic_bytes,
        "tx_traffic_bytes", (json_int_t)ps->tx_traffic_bytes, "proto_queue", "count",
        (json_int_t)ps->proto_queued, "size", PC_PROTO_QUEUE_MAX, "traffic_queue", "count",
        (json_int_t)ps->traffic_queued, "size", PC_TRAFFIC_QUEUE_MAX, "queues", "packets_total",
        (json_int_t)total, "packets_dropped", (json_int_t)ps->traffic_dropped);
    if (!e)
        return NULL;
    /* omitempty in Go: no coords/order before the first announcement, no type/zone/uri
     * when unknown */
    if (ps->has_announcement) {
        json_object_set_new(e, "coords", jcoords(&ps->coords));
        if (ps->order)
            json_object_set_new(e, "order", json_integer((json_int_t)ps->order));
    }
    if (l->type)
        json_object_set_new(e, "type", json_integer(l->type));
    if (l->zone)
        json_object_set_new(e, "zone", json_string(l->zone));
    if (l->uri)
        json_object_set_new(e, "uri", json_string(l->uri));
    return e;
}

/* Inserts e into peers[key] keeping the list sorted by "order" (stable). */
static void add_peer(json_t *peers, const char *key, json_t *e)
{
    json_t *list = json_object_get(peers, key);
    if (!list) {
        list = json_array();
        json_object_set_new(peers, key, list);
    }
    json_int_t order = json_integer_value(json_object_get(e, "order"));
    size_t i = json_array_size(list);
    while (i > 0 && json_integer_value(json_object_get(json_array_get(list, i - 1), "order")) > order)
        i--;
    json_array_insert_new(list, i, e);
}

static json_t *jpeers(const pc_router *r, pc_manhole_link_fn link, void *ud)
{
    json_t *peers = json_object();
    char hex[2 * PC_KEY_LEN + 1];
    hex_key(pc_router_public_key(r), hex);
    add_peer(peers, hex,
             json_pack("{s:i,s:n,s:I,s:I,s:I,s:I,s:n,s:s}", "port", 0, "proto_queue",
                       "rx_proto_bytes", (json_int_t)0, "rx_traffic_bytes", (json_int_t)0,
                       "tx_proto_bytes", (json_int_t)0, "tx_traffic_bytes", (json_int_t)0,
                       "traffic_queue", "zone", "local"));
    for (int port = 1; port <= PC_MAX_PORT; port++) {
        pc_peer_status ps;
        if (pc_router_peer_status(r, port, &ps) != PC_OK)
            continue;
        pc_manhole_link l = {0};
        if (link && !link(port, &l, ud))
            memset(&l, 0, sizeof l);
        json_t *e = jpeer_entry(&ps, &l);
        if (!e)
            continue;
        hex_key(ps.key, hex);
        add_peer(peers, hex, e);
    }
    return peers;
}

static json_t *jcache(const pc_router *r, uint64_t now)
{
    json_t *cache = json_object();
    size_t n = pc_router_coords_cache(r, NULL, 0);
    pc_cache_status *cs = n ? calloc(n, sizeof *cs) : NULL;
    if (n && !cs)
        return cache;
    if (n)
        n = pc_router_coords_cache(r, cs, n);
    for (size_t i = 0; i < n; i++) {
        if (now > cs[i].last_seen && now - cs[i].last_seen > PC_COORDS_CACHE_LIFETIME)
            continue;
        char hex[2 * PC_KEY_LEN + 1];
        hex_key(cs[i].key, hex);
        json_object_set_new(cache, hex, jcoords(&cs[i].coords));
    }
    free(cs);
    return cache;
}

char *pc_manhole_render(const pc_router *r, uint64_t now, pc_manhole_link_fn link, void *ud)
{
    uint8_t root[PC_KEY_LEN];
    uint64_t seq;
    pc_coords c;
    pc_router_root(r, root, &seq);
    pc_router_coords(r, &c);
    int parent = pc_router_parent(r);
    json_t *m = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "public_key",
                          jkey(pc_router_public_key(r)), "coords", jcoords(&c), "root",
                          jroot(root, seq), "parent", parent ? jpeer(r, parent) : json_null(),
                          "peers", jpeers(r, link, ud), "snek", jsnek(r), "coords_cache",
                          jcache(r, now));
    if (!m)
        return NULL;
    char *out = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(m);
    return out;
}

static bool is_token_char(char ch) { return ch > ' ' && ch < 127; }

pc_manhole_req pc_manhole_parse_request(const char *buf, size_t len)
{
    size_t cap = len < PC_MANHOLE_REQ_MAX ? len : PC_MANHOLE_REQ_MAX;
    size_t end = 0;
    bool complete = false;
    for (size_t i = 0; i + 1 < cap; i++) {
        if (buf[i] == '\n' && (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < cap &&
                                                      buf[i + 2] == '\n'))) {
            end = i;
            complete = true;
            break;
        }
    }
    if (!complete)
        return len >= PC_MANHOLE_REQ_MAX ? PC_MANHOLE_REQ_TOO_LARGE : PC_MANHOLE_REQ_INCOMPLETE;

    /* request line: METHOD SP TARGET SP HTTP/1.x */
    size_t line = 0;
    while (line < end && buf[line] != '\r' && buf[line] != '\n')
        line++;
    size_t i = 0, m0 = 0;
    while (i < line && is_token_char(buf[i]))
        i++;
    size_t mlen = i - m0;
    if (!mlen || i >= line || buf[i] != ' ')
        return PC_MANHOLE_REQ_BAD;
    size_t t0 = ++i;
    while (i < line && is_token_char(buf[i]))
        i++;
    size_t tlen = i - t0;
    if (!tlen || i >= line || buf[i] != ' ')
        return PC_MANHOLE_REQ_BAD;
    i++;
    if (line - i != 8 || memcmp(buf + i, "HTTP/1.", 7) != 0 || (buf[i + 7] != '0' && buf[i + 7] != '1'))
        return PC_MANHOLE_REQ_BAD;
    if (mlen != 3 || memcmp(buf, "GET", 3) != 0)
        return PC_MANHOLE_REQ_BAD_METHOD;
    static const char path[] = "/manhole";
    size_t plen = sizeof path - 1;
    if (tlen >= plen && memcmp(buf + t0, path, plen) == 0 && (tlen == plen || buf[t0 + plen] == '?'))
        return PC_MANHOLE_REQ_OK;
    return PC_MANHOLE_REQ_NOT_FOUND;
}
