/* hs_config: a schema table drives parsing, defaults documentation and rendering, so a
 * key cannot be parsed without being documented or documented without being parsed.
 * Parsing loads the whole YAML document with libyaml (the file is capped at 1 MiB), then
 * walks it against the table: every mapping key must be known, every value must have the
 * expected shape, numbers are range-checked. Errors carry the 1-based line number. */
#include "server-core/hs_config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "server-core/hs_pdu.h"
#include "server-core/hs_strbuf.h"

typedef enum {
    F_SECTION, F_STRING, F_PATH, F_INT, F_INT64, F_BOOL, F_LOGLEVEL, F_LOGFORMAT, F_DOUBLE,
    F_HOSTPORT, /* a string: "host:port" or empty */
    F_PEERS,    /* a string: comma-separated Pinecone peer URIs */
} ftype;

typedef struct field {
    const char *key;
    ftype type;
    size_t offset;
    size_t size;         /* capacity of string fields */
    int64_t min, max;    /* numeric range */
    bool required;
    const struct field *children; /* F_SECTION: NULL-key terminated */
    const char *doc;     /* rendered as comment lines; '\n' separates lines */
} field;

#define OFF(m) offsetof(hs_config, m)
#define STR(k, m, req, d) {k, F_STRING, OFF(m), sizeof(((hs_config *)0)->m), 0, 0, req, NULL, d}
#define PATHF(k, m, d) {k, F_PATH, OFF(m), sizeof(((hs_config *)0)->m), 0, 0, false, NULL, d}
#define INTF(k, m, lo, hi, d) {k, F_INT, OFF(m), 0, lo, hi, false, NULL, d}
#define INT64F(k, m, lo, hi, d) {k, F_INT64, OFF(m), 0, lo, hi, false, NULL, d}
#define BOOLF(k, m, d) {k, F_BOOL, OFF(m), 0, 0, 0, false, NULL, d}
#define DOUBLEF(k, m, lo, hi, d) {k, F_DOUBLE, OFF(m), 0, lo, hi, false, NULL, d}
#define SECTION(k, ch, d) {k, F_SECTION, 0, 0, 0, 0, false, ch, d}
#define END {NULL, F_SECTION, 0, 0, 0, 0, false, NULL, NULL}

static const field client_fields[] = {
    STR("bind_address", client.bind_address, false,
        "Address to listen on for the Client-Server API (plain HTTP; put a TLS proxy in front\n"
        "for public deployments). 0.0.0.0 or :: for all interfaces."),
    INTF("port", client.port, 0, 65535, "TCP port of the client listener (0 picks a free port)."),
    END,
};

static const field federation_fields[] = {
    STR("bind_address", federation.bind_address, false,
        "Address to listen on for the Server-Server API (HTTPS: Synapse only federates over TLS)."),
    INTF("port", federation.port, 0, 65535,
         "TCP port of the federation listener; normally the port in server_name (8448)."),
    PATHF("tls_certificate", federation.tls_certificate,
          "PEM certificate (chain) served on the federation listener. `generate-config` writes a\n"
          "self-signed one; peers accept it only with certificate checks off (test setups)."),
    PATHF("tls_private_key", federation.tls_private_key, "PEM private key of that certificate."),
    END,
};

static const field database_fields[] = {
    PATHF("path", database_path, "SQLite database file (WAL mode). Created and migrated on start."),
    END,
};

static const field log_fields[] = {
    {"level", F_LOGLEVEL, OFF(log_level), 0, 0, 0, false, NULL, "One of debug, info, warn, error."},
    {"format", F_LOGFORMAT, OFF(log_format), 0, 0, 0, false, NULL,
     "human (one readable line per message) or json (one JSON object per line)."},
    END,
};

static const field limits_fields[] = {
    INT64F("max_request_body_bytes", max_request_body_bytes, 1024, INT64_C(1) << 34,
           "Largest request body accepted on any listener; bigger requests get 413 M_TOO_LARGE."),
    INTF("max_connections", max_connections, 1, 1000000,
         "Most simultaneous connections per listener; further connections are refused."),
    INTF("shutdown_grace_seconds", shutdown_grace_seconds, 0, 3600,
         "On SIGINT/SIGTERM, how long in-flight requests may take to finish before the\n"
         "listeners are closed."),
    INTF("sync_max_timeline_events", sync_max_timeline_events, 1, 1000,
         "Most timeline events one room has in a /sync response, whatever the filter's\n"
         "limit asks (older ones: limited, paged with /messages)."),
    INTF("sync_max_events", sync_max_events, 100, 10000000,
         "Most timeline and state events one /sync response carries over all its rooms;\n"
         "rooms after the budget is spent get an empty, limited timeline. State is always\n"
         "sent whole, so rooms with large state can still exceed it."),
    INTF("max_devices_per_user", max_devices_per_user, 1, 100000,
         "Most devices (sessions) one account may have; a login that would add one more\n"
         "gets 403 ORG_MATRIX_MSC4342_M_TOO_MANY_DEVICES (MSC4342 proposes 30 at most).\n"
         "Logging in again on an existing device ID is always allowed."),
    INTF("max_long_polls", max_long_polls, 0, 100000,
         "On transports that cannot park a request (the HTTP listeners park long-polling\n"
         "/sync requests without holding a thread), how many /sync requests may block a\n"
         "worker thread while they wait for news. The effective limit is\n"
         "min(this, threads - 1); a /sync beyond it answers at once with what it has."),
    END,
};

static const field p2p_fields[] = {
    BOOLF("enabled", p2p_enabled,
          "Run a Pinecone overlay node inside `serve`, with its own identity: the ed25519 key\n"
          "below, whose hex public key is the P2P server name."),
    {"listen", F_HOSTPORT, OFF(p2p_listen), sizeof(((hs_config *)0)->p2p_listen), 0, 0, false, NULL,
     "TCP address (host:port) that accepts Pinecone peerings; empty: none."},
    {"static_peers", F_PEERS, OFF(p2p_static_peers), sizeof(((hs_config *)0)->p2p_static_peers), 0, 0, false,
     NULL,
     "Peers to dial and keep dialled, comma separated: host:port (TCP), ws://host:port/path\n"
     "(WebSocket, e.g. a Dendrite's /ws) or wss://host[:port]/path (WebSocket over TLS, the\n"
     "certificate checked for host). At most 16. Empty: none."},
    BOOLF("multicast", p2p_multicast,
          "Announce this node on the LAN (UDP multicast 224.0.0.114 / ff02::114, port 60606)\n"
          "and peer with the nodes that announce themselves (over TCP: without `listen` a\n"
          "listener on a free port of every address is opened for them)."),
    STR("multicast_interfaces", p2p_multicast_interfaces, false,
        "The network interface multicast uses (one name, e.g. eth0); empty: every usable one."),
    BOOLF("websocket_path_enabled", p2p_websocket_path_enabled,
          "Accept Pinecone peers as WebSocket connections on GET /ws of the client listener\n"
          "(binary messages carry the Pinecone stream), as Dendrite does."),
    PATHF("private_key_path", p2p_private_key_path,
          "The P2P identity's ed25519 key: its 32-byte seed in hex (the format of\n"
          "`pinegate pinecone --secret-key`). `generate-config` writes one. Never share it."),
    STR("alpn", p2p_alpn, false, "ALPN protocol of the QUIC sessions over Pinecone (Dendrite uses matrix)."),
    END,
};
static const field bridge_fields[] = {
    BOOLF("enabled", bridge_enabled,
          "The bridge between the DNS and P2P identities. Not available yet: must stay false."),
    END,
};
static const field relay_fields[] = {
    BOOLF("enabled", relay_enabled,
          "Store-and-forward relay for offline P2P peers. Not available yet: must stay false."),
    END,
};

static const field registration_fields[] = {
    BOOLF("enabled", registration_enabled,
          "Let anyone create an account with POST /_matrix/client/v3/register (the m.login.dummy\n"
          "flow, no captcha or email). Keep false on a public server."),
    STR("registration_shared_secret", registration_shared_secret, false,
        "When set, admins can create accounts with Synapse's shared-secret API\n"
        "(POST /_synapse/admin/v1/register, HMAC-SHA1 with this secret), even with\n"
        "registration disabled. Empty: that API is off."),
    END,
};

static const field rate_limit_fields[] = {
    BOOLF("enabled", rate_limits_enabled, "Token-bucket rate limits per client address (429 M_LIMIT_EXCEEDED)."),
    DOUBLEF("login_per_second", login_per_second, 0, 1000000, "Login attempts regained per second per address."),
    INTF("login_burst", login_burst, 1, 1000000, "Login attempts an address may make at once."),
    DOUBLEF("register_per_second", register_per_second, 0, 1000000,
            "Registration requests regained per second per address."),
    INTF("register_burst", register_burst, 1, 1000000, "Registration requests an address may make at once."),
    INTF("max_tracked_keys", rate_limit_max_keys, 16, 10000000,
         "Addresses each limiter remembers; beyond that the fullest buckets are forgotten."),
    END,
};

static const field rooms_fields[] = {
    STR("default_room_version", default_room_version, false,
        "Room version of new rooms when createRoom names none (3 to 12)."),
    END,
};

static const field federation_settings_fields[] = {
    INTF("key_validity_hours", key_validity_hours, 1, 24 * 365,
         "How long other servers may cache our signing key (valid_until_ts of\n"
         "GET /_matrix/key/v2/server)."),
    STR("trusted_key_servers", trusted_key_servers, false,
        "Comma-separated notary server names asked for a server's keys when that server\n"
        "cannot be reached directly (POST /_matrix/key/v2/query). Empty: none."),
    STR("ip_range_denylist", ip_range_denylist, false,
        "Comma-separated CIDR ranges outbound federation never connects to, checked on the\n"
        "resolved address. The default denies loopback, private, link-local and other\n"
        "special-purpose ranges; `generate-config --dev` empties it for local test setups."),
    BOOLF("verify_certificates", verify_certificates,
          "Verify peers' TLS certificates (chain and host name). Only test setups with\n"
          "self-signed certificates turn this off."),
    INTF("request_timeout_seconds", request_timeout_seconds, 1, 3600,
         "Longest time one outbound federation request may take, connecting included."),
    INTF("notary_max_servers", notary_max_servers, 1, 1000,
         "Most servers one notary query (POST /_matrix/key/v2/query) may name; more get\n"
         "400. Each server whose keys are not cached costs an outbound fetch."),
    INTF("notary_time_budget_seconds", notary_time_budget_seconds, 1, 3600,
         "Longest a notary query waits for the key fetches it starts (all run at once);\n"
         "then it answers with the keys it has, and late fetches still fill the cache."),
    INT64F("max_response_bytes", max_response_bytes, 1024, INT64_C(1) << 32,
           "Largest outbound federation response read; larger ones fail the request."),
    BOOLF("public_rooms", federation_public_rooms,
          "Answer other servers' /_matrix/federation/v1/publicRooms with the rooms our\n"
          "users published (off: 403 M_FORBIDDEN, as Synapse's default\n"
          "allow_public_rooms_over_federation: false does). Our own clients always see it."),
    INTF("max_concurrent_requests", federation_max_concurrent_requests, 1, 1024,
         "Most outbound federation requests one batch has in flight at once (the\n"
         "transaction sender sends to that many servers concurrently; larger batches go\n"
         "in waves)."),
    INTF("max_idle_connections", federation_max_idle_connections, 1, 1024,
         "Most idle outbound federation connections kept open for reuse by each of the\n"
         "client's pooled connection caches (it keeps 4): later requests to the same\n"
         "server skip the TCP and TLS handshakes."),
    END,
};

static const field media_fields[] = {
    PATHF("path", media_path,
          "Directory of the media repository (uploaded files). Created on the first upload."),
    INT64F("max_upload_bytes", media_max_upload_bytes, 1024, INT64_C(1) << 34,
           "Largest file a user may upload (413 M_TOO_LARGE above it); advertised as\n"
           "m.upload.size. Uploads may exceed limits.max_request_body_bytes up to this size."),
    INT64F("max_remote_cache_bytes", media_max_remote_cache_bytes, INT64_C(1) << 20, INT64_C(1) << 44,
           "Most bytes of other servers' media kept on disk (fetched when a local user\n"
           "downloads it); past it the oldest cached files are removed and fetched again\n"
           "when asked for."),
    INTF("max_concurrent_remote_fetches", media_max_concurrent_remote_fetches, 1, 256,
         "Most fetches of other servers' media in progress at once (each may hold up\n"
         "to max_upload_bytes in memory while it arrives). They run on one background\n"
         "thread; downloads wait for them without holding a worker, all downloads of a\n"
         "file sharing its one fetch. A download that would start one more fetch gets\n"
         "429 M_LIMIT_EXCEEDED (retry after 1 s)."),
    BOOLF("unauthenticated_download", media_unauthenticated_download,
          "Also serve downloads and thumbnails on the legacy unauthenticated\n"
          "/_matrix/media/v3 paths (clients that predate authenticated media need them).\n"
          "false: only /_matrix/client/v1/media with an access token."),
    END,
};

static const field voip_fields[] = {
    STR("turn_uris", turn_uris, false,
        "TURN servers handed to clients for calls (GET /voip/turnServer), comma separated:\n"
        "\"turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349\". Empty: none\n"
        "(clients then use STUN/host candidates only)."),
    STR("turn_shared_secret", turn_shared_secret, false,
        "The TURN server's REST API shared secret (coturn: static-auth-secret). Clients get\n"
        "time-limited credentials derived from it (HMAC-SHA1); needed when turn_uris is set."),
    INTF("turn_user_lifetime_seconds", turn_user_lifetime_seconds, 60, 7 * 86400,
         "How long the credentials handed out stay valid."),
    END,
};

static const field root_fields[] = {
    STR("server_name", server_name, true,
        "The DNS identity of this homeserver: user IDs are @name:<server_name>. It is\n"
        "written into the database on first start and cannot change afterwards.\n"
        "Include the port (\"example.org:8448\") when peers should dial it directly."),
    STR("public_baseurl", public_baseurl, false,
        "The URL clients use to reach the client listener; served in\n"
        "/.well-known/matrix/client. Empty: derived from server_name and the client port."),
    STR("well_known_server", well_known_server, false,
        "host:port that other servers should dial for federation; served in\n"
        "/.well-known/matrix/server. Empty: server_name's host with the federation port."),
    SECTION("client_listener", client_fields, "Client-Server API listener."),
    SECTION("federation_listener", federation_fields, "Server-Server API listener (HTTPS)."),
    SECTION("database", database_fields, "Storage."),
    PATHF("signing_key_path", signing_key_path,
          "ed25519 signing key of the DNS identity, in Synapse's format\n"
          "(\"ed25519 <key-version> <unpadded base64 seed>\"). Never share it."),
    SECTION("log", log_fields, "Logging to stderr."),
    INTF("threads", threads, 1, 256,
         "Worker threads per listener (the process runs 1 main thread + 2 x threads)."),
    SECTION("limits", limits_fields, "Resource limits."),
    SECTION("registration", registration_fields, "Account registration."),
    SECTION("rate_limits", rate_limit_fields, "Rate limits on the Client-Server API."),
    SECTION("rooms", rooms_fields, "Rooms."),
    SECTION("media", media_fields, "Media repository."),
    SECTION("voip", voip_fields, "Voice and video calls."),
    SECTION("federation", federation_settings_fields, "Server-Server API: keys, outbound requests."),
    SECTION("p2p", p2p_fields, "Pinecone overlay and P2P homeserver identity."),
    SECTION("bridge", bridge_fields, "Translating bridge between the two identities."),
    SECTION("relay", relay_fields, "Store-and-forward relay."),
    END,
};

void hs_config_defaults(hs_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->server_name, sizeof cfg->server_name, "localhost:8448");
    snprintf(cfg->client.bind_address, sizeof cfg->client.bind_address, "127.0.0.1");
    cfg->client.port = 8008;
    snprintf(cfg->federation.bind_address, sizeof cfg->federation.bind_address, "0.0.0.0");
    cfg->federation.port = 8448;
    snprintf(cfg->federation.tls_certificate, sizeof cfg->federation.tls_certificate, "tls.crt");
    snprintf(cfg->federation.tls_private_key, sizeof cfg->federation.tls_private_key, "tls.key");
    snprintf(cfg->database_path, sizeof cfg->database_path, "homeserver.db");
    snprintf(cfg->signing_key_path, sizeof cfg->signing_key_path, "signing.key");
    cfg->log_level = HS_LOG_INFO;
    cfg->log_format = HS_LOG_HUMAN;
    cfg->threads = 4;
    cfg->max_request_body_bytes = 50 * 1024 * 1024;
    cfg->max_connections = 1024;
    cfg->shutdown_grace_seconds = 10;
    cfg->max_long_polls = 3;
    cfg->max_devices_per_user = 100;
    cfg->sync_max_timeline_events = 1000;
    cfg->sync_max_events = 100000;
    /* Synapse's rc_login / rc_registration defaults. */
    cfg->rate_limits_enabled = true;
    cfg->login_per_second = 0.17;
    cfg->login_burst = 3;
    cfg->register_per_second = 0.17;
    cfg->register_burst = 3;
    cfg->rate_limit_max_keys = 10000;
    snprintf(cfg->default_room_version, sizeof cfg->default_room_version, "10");
    snprintf(cfg->media_path, sizeof cfg->media_path, "media");
    cfg->media_max_upload_bytes = 50 * 1024 * 1024;
    cfg->media_max_remote_cache_bytes = INT64_C(1) << 30;
    cfg->media_max_concurrent_remote_fetches = 8;
    cfg->media_unauthenticated_download = true;
    cfg->turn_user_lifetime_seconds = 86400;
    cfg->p2p_websocket_path_enabled = true;
    snprintf(cfg->p2p_private_key_path, sizeof cfg->p2p_private_key_path, "p2p.key");
    snprintf(cfg->p2p_alpn, sizeof cfg->p2p_alpn, "matrix");
    cfg->key_validity_hours = 24;
    /* Synapse's default ip_range_blacklist, so a name pointing at internal hosts cannot
     * turn federation into a probe of the operator's network. */
    snprintf(cfg->ip_range_denylist, sizeof cfg->ip_range_denylist, "%s",
             "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,192.0.0.0/24,"
             "169.254.0.0/16,192.88.99.0/24,198.18.0.0/15,192.0.2.0/24,198.51.100.0/24,"
             "203.0.113.0/24,224.0.0.0/4,0.0.0.0/8,240.0.0.0/4,::1/128,::/128,fe80::/10,fc00::/7,"
             "2001:db8::/32,ff00::/8,fec0::/10");
    cfg->verify_certificates = true;
    cfg->federation_public_rooms = true;
    cfg->request_timeout_seconds = 60;
    cfg->notary_max_servers = 20;
    cfg->notary_time_budget_seconds = 10;
    cfg->max_response_bytes = 50 * 1024 * 1024;
    cfg->federation_max_concurrent_requests = 16;
    cfg->federation_max_idle_connections = 16;
}

/* ---- parsing ------------------------------------------------------------------------ */

typedef struct parse_ctx {
    yaml_document_t *doc;
    const char *source;
    const char *base_dir;
    hs_config *cfg;
    char *err;
    size_t errlen;
} parse_ctx;

static int fail(parse_ctx *p, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(parse_ctx *p, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (node)
        snprintf(p->err, p->errlen, "%s:%lu: %s", p->source, (unsigned long)node->start_mark.line + 1, msg);
    else
        snprintf(p->err, p->errlen, "%s: %s", p->source, msg);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
    if (!is_plain(n)) return false;
    const char *s = scalar(n);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0;
}

static int set_path(parse_ctx *p, const yaml_node_t *node, const field *f, const char *v)
{
    char *dst = (char *)p->cfg + f->offset;
    int n;
    if (v[0] != '/' && v[0] != '\0' && p->base_dir)
        n = snprintf(dst, f->size, "%s/%s", p->base_dir, v);
    else
        n = snprintf(dst, f->size, "%s", v);
    if (n < 0 || (size_t)n >= f->size) return fail(p, node, "'%s' is too long", f->key);
    return 0;
}

static int parse_int(parse_ctx *p, const yaml_node_t *node, const field *f, int64_t *out)
{
    const char *s = scalar(node);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!is_plain(node) || s[0] == '\0' || *end != '\0' || errno == ERANGE || v < f->min || v > f->max)
        return fail(p, node, "'%s' must be an integer from %" PRId64 " to %" PRId64 ", got '%s'", f->key,
                    f->min, f->max, s);
    *out = v;
    return 0;
}

static int parse_mapping(parse_ctx *p, const yaml_node_t *map, const field *fields, const char *where);

/* "host:port" or "[v6]:port" with a decimal port 0..65535 (host any non-empty name
 * without separators). NULL when valid, else what is wrong. */
static const char *check_hostport(const char *s, size_t len)
{
    const char *colon;
    if (len && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close == s + 1 || close + 1 >= s + len || close[1] != ':') return "want [ipv6]:port";
        colon = close + 1;
    } else {
        colon = NULL;
        for (const char *c = s; c < s + len; c++)
            if (*c == ':') colon = c;
        if (!colon || colon == s) return "want host:port";
        for (const char *c = s; c < colon; c++)
            if (*c == ':' || *c == '/' || *c == ' ' || *c == '@') return "want host:port (IPv6 in brackets)";
    }
    size_t plen = (size_t)(s + len - colon - 1);
    if (plen == 0 || plen > 5) return "the port must be a number from 0 to 65535";
    long port = 0;
    for (const char *c = colon + 1; c < s + len; c++) {
        if (*c < '0' || *c > '9') return "the port must be a number from 0 to 65535";
        port = port * 10 + (*c - '0');
    }
    return port > 65535 ? "the port must be a number from 0 to 65535" : NULL;
}

/* One static peer as the Pinecone transport dials it: host:port, ws://host:port[/path] or
 * wss://host[:port][/path]; at most 127 bytes, paths at most 63. */
static const char *check_peer(const char *s, size_t len)
{
    if (len == 0) return "an empty entry";
    if (len > 127) return "longer than 127 bytes";
    bool wss = len > 6 && strncmp(s, "wss://", 6) == 0, ws = !wss && len > 5 && strncmp(s, "ws://", 5) == 0;
    if (!ws && !wss) {
        if (memchr(s, '/', len)) return "want host:port, ws://host:port/path or wss://host[:port]/path";
        return check_hostport(s, len);
    }
    const char *h = s + (wss ? 6 : 5);
    const char *slash = memchr(h, '/', (size_t)(s + len - h));
    size_t hl = slash ? (size_t)(slash - h) : (size_t)(s + len - h);
    if (slash && (size_t)(s + len - slash) > 63) return "the path is longer than 63 bytes";
    if (hl == 0) return "no host";
    if (wss && (h[hl - 1] == ']' || !memchr(h, ':', hl))) return NULL; /* no port: 443 */
    return check_hostport(h, hl);
}

static int check_value(parse_ctx *p, const yaml_node_t *val, const field *f, const char *s)
{
    const char *why = NULL;
    if (f->type == F_HOSTPORT) {
        if (s[0]) why = check_hostport(s, strlen(s));
        if (why) return fail(p, val, "'%s': '%s': %s", f->key, s, why);
        return 0;
    }
    size_t n = 0;
    for (const char *item = s; *s;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        if (++n > 16) return fail(p, val, "'%s': at most 16 peers", f->key);
        if ((why = check_peer(item, len)))
            return fail(p, val, "'%s': peer %zu '%.*s': %s", f->key, n, (int)(len > 127 ? 127 : len), item, why);
        if (!comma) break;
        item = comma + 1;
    }
    return 0;
}

static int parse_value(parse_ctx *p, const yaml_node_t *key, const yaml_node_t *val, const field *f)
{
    char *base = (char *)p->cfg;
    if (f->type == F_SECTION) {
        if (is_null(val)) return 0; /* "p2p:" with nothing under it */
        if (val->type != YAML_MAPPING_NODE) return fail(p, val, "'%s' must be a mapping of keys", f->key);
        return parse_mapping(p, val, f->children, f->key);
    }
    if (val->type != YAML_SCALAR_NODE)
        return fail(p, val, "'%s' must be a single value, not a %s", f->key,
                    val->type == YAML_MAPPING_NODE ? "mapping" : "list");
    const char *s = scalar(val);
    int64_t n;
    switch (f->type) {
    case F_STRING:
    case F_HOSTPORT:
    case F_PEERS:
        if (is_null(val)) return fail(p, val, "'%s' must be a string", f->key);
        if (strlen(s) >= f->size) return fail(p, val, "'%s' is too long (at most %zu bytes)", f->key, f->size - 1);
        if (f->type != F_STRING && check_value(p, val, f, s) != 0) return -1;
        memcpy(base + f->offset, s, strlen(s) + 1);
        return 0;
    case F_PATH:
        if (is_null(val)) return fail(p, val, "'%s' must be a file path", f->key);
        return set_path(p, val, f, s);
    case F_INT:
        if (parse_int(p, val, f, &n) != 0) return -1;
        *(int *)(void *)(base + f->offset) = (int)n;
        return 0;
    case F_INT64:
        if (parse_int(p, val, f, &n) != 0) return -1;
        *(int64_t *)(void *)(base + f->offset) = n;
        return 0;
    case F_BOOL:
        if (is_plain(val) && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0))
            *(bool *)(base + f->offset) = true;
        else if (is_plain(val) && (strcmp(s, "false") == 0 || strcmp(s, "False") == 0))
            *(bool *)(base + f->offset) = false;
        else
            return fail(p, val, "'%s' must be true or false, got '%s'", f->key, s);
        return 0;
    case F_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(s, &end);
        if (!is_plain(val) || s[0] == '\0' || *end != '\0' || errno == ERANGE || !(d >= (double)f->min) ||
            !(d <= (double)f->max))
            return fail(p, val, "'%s' must be a number from %" PRId64 " to %" PRId64 ", got '%s'", f->key, f->min,
                        f->max, s);
        *(double *)(void *)(base + f->offset) = d;
        return 0;
    }
    case F_LOGLEVEL:
        if (hs_log_level_parse(s, (hs_log_level *)(void *)(base + f->offset)) != 0)
            return fail(p, val, "'%s' must be one of debug, info, warn, error; got '%s'", f->key, s);
        return 0;
    case F_LOGFORMAT:
        if (hs_log_format_parse(s, (hs_log_format *)(void *)(base + f->offset)) != 0)
            return fail(p, val, "'%s' must be human or json, got '%s'", f->key, s);
        return 0;
    case F_SECTION:
        break;
    }
    (void)key;
    return fail(p, val, "internal: unhandled field type for '%s'", f->key);
}

static int parse_mapping(parse_ctx *p, const yaml_node_t *map, const field *fields, const char *where)
{
    uint64_t seen = 0;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(p->doc, pair->key);
        yaml_node_t *val = yaml_document_get_node(p->doc, pair->value);
        if (!key || !val) return fail(p, map, "malformed document");
        if (key->type != YAML_SCALAR_NODE) return fail(p, key, "keys must be plain names");
        const field *f = NULL;
        int idx = 0;
        for (const field *c = fields; c->key; c++, idx++) {
            if (strcmp(c->key, scalar(key)) == 0) {
                f = c;
                break;
            }
        }
        if (!f) {
            if (where) return fail(p, key, "unknown key '%s' in '%s'", scalar(key), where);
            return fail(p, key, "unknown key '%s'", scalar(key));
        }
        if (seen & (UINT64_C(1) << idx)) return fail(p, key, "key '%s' appears twice", f->key);
        seen |= UINT64_C(1) << idx;
        if (parse_value(p, key, val, f) != 0) return -1;
    }
    int idx = 0;
    for (const field *c = fields; c->key; c++, idx++)
        if (c->required && !(seen & (UINT64_C(1) << idx)))
            return fail(p, map, "required key '%s' is missing%s%s", c->key, where ? " in " : "", where ? where : "");
    return 0;
}

/* Default file names are relative to the config directory too. */
static void resolve_default_paths(parse_ctx *p, const field *fields)
{
    for (const field *f = fields; f->key; f++) {
        if (f->type == F_SECTION) {
            resolve_default_paths(p, f->children);
        } else if (f->type == F_PATH) {
            char tmp[HS_PATH_MAX];
            snprintf(tmp, sizeof tmp, "%s", (char *)p->cfg + f->offset);
            set_path(p, NULL, f, tmp);
        }
    }
}

int hs_config_parse(const char *yaml, const char *source, const char *base_dir, hs_config *cfg, char *err,
                    size_t errlen)
{
    parse_ctx p = {.source = source, .base_dir = base_dir, .cfg = cfg, .err = err, .errlen = errlen};
    size_t len = strlen(yaml);
    if (len > HS_CONFIG_MAX_BYTES) return fail(&p, NULL, "file is larger than %d bytes", HS_CONFIG_MAX_BYTES);

    hs_config_defaults(cfg);
    resolve_default_paths(&p, root_fields);

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return fail(&p, NULL, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s", source, (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown");
        yaml_parser_delete(&parser);
        return -1;
    }
    p.doc = &doc;
    int rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        rc = fail(&p, NULL, "the file is empty; it needs at least server_name");
    else if (root->type != YAML_MAPPING_NODE)
        rc = fail(&p, root, "the top level must be a mapping of keys");
    else
        rc = parse_mapping(&p, root, root_fields, NULL);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc == 0) rc = hs_config_validate(cfg, err, errlen);
    return rc;
}

int hs_config_load(const char *path, hs_config *cfg, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(HS_CONFIG_MAX_BYTES + 2);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = fread(buf, 1, HS_CONFIG_MAX_BYTES + 1, f);
    fclose(f);
    if (n > HS_CONFIG_MAX_BYTES) {
        free(buf);
        snprintf(err, errlen, "%s: file is larger than %d bytes", path, HS_CONFIG_MAX_BYTES);
        return -1;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        snprintf(err, errlen, "%s: file contains a NUL byte; not a YAML text file", path);
        return -1;
    }
    char dir[HS_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int rc = hs_config_parse(buf, path, dir, cfg, err, errlen);
    free(buf);
    return rc;
}

int hs_config_validate(const hs_config *cfg, char *err, size_t errlen)
{
    if (!hs_is_valid_server_name(cfg->server_name)) {
        snprintf(err, errlen, "server_name '%s' is not a valid Matrix server name (host or host:port)",
                 cfg->server_name);
        return -1;
    }
    if (cfg->turn_uris[0] && !cfg->turn_shared_secret[0]) {
        snprintf(err, errlen, "voip.turn_uris is set but voip.turn_shared_secret is empty");
        return -1;
    }
    if (cfg->federation.tls_certificate[0] == '\0' || cfg->federation.tls_private_key[0] == '\0') {
        snprintf(err, errlen, "federation_listener needs tls_certificate and tls_private_key (federation is HTTPS only)");
        return -1;
    }
    /* Same rule as hs_room_version_for_new_room: local rooms use v3 event IDs or later. */
    const hs_room_version *rv = hs_room_version_get(cfg->default_room_version);
    if (!rv || rv->event_id_format == HS_EVENT_ID_V1) {
        snprintf(err, errlen, "rooms.default_room_version '%s' is not a room version new rooms can use (3 to 12)",
                 cfg->default_room_version);
        return -1;
    }
    if (cfg->p2p_enabled) {
        if (!cfg->p2p_listen[0] && !cfg->p2p_static_peers[0] && !cfg->p2p_multicast &&
            !cfg->p2p_websocket_path_enabled) {
            snprintf(err, errlen, "p2p.enabled: true needs a way to peer: p2p.listen, p2p.static_peers, "
                                  "p2p.multicast or p2p.websocket_path_enabled");
            return -1;
        }
        if (!cfg->p2p_alpn[0] || strlen(cfg->p2p_alpn) > 32) {
            snprintf(err, errlen, "p2p.alpn must be 1 to 32 bytes");
            return -1;
        }
        if (!cfg->p2p_private_key_path[0]) {
            snprintf(err, errlen, "p2p.enabled: true needs p2p.private_key_path");
            return -1;
        }
        if (strpbrk(cfg->p2p_multicast_interfaces, ", ")) {
            snprintf(err, errlen, "p2p.multicast_interfaces: only one interface name is supported, got '%s'",
                     cfg->p2p_multicast_interfaces);
            return -1;
        }
    }
    const struct { bool on; const char *name; } later[] = {
        {cfg->bridge_enabled, "bridge"}, {cfg->relay_enabled, "relay"}};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        if (later[i].on) {
            snprintf(err, errlen, "%s.enabled: true is not supported by this build yet; set it to false",
                     later[i].name);
            return -1;
        }
    }
    return 0;
}

/* ---- rendering ------------------------------------------------------------------------- */

static void render_doc(hs_strbuf *b, const char *doc, int indent)
{
    const char *s = doc;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        hs_strbuf_printf(b, "%*s# %.*s\n", indent, "", (int)n, s);
        s += n + (nl ? 1 : 0);
    }
}

/* YAML double-quoted scalar: control characters must be escaped, or the parser folds
 * line breaks into spaces and the value would not survive a round trip. */
static void render_quoted(hs_strbuf *b, const char *s)
{
    hs_strbuf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') hs_strbuf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) hs_strbuf_printf(b, "\\x%02x", c);
        else hs_strbuf_printf(b, "%c", c);
    }
    hs_strbuf_printf(b, "\"");
}

/* The shortest decimal that parses back to the same double, so 0.17 stays "0.17". */
static void render_double(hs_strbuf *b, double d)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    hs_strbuf_printf(b, " %s\n", tmp);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void render_fields(hs_strbuf *b, const hs_config *cfg, const field *fields, int indent)
{
    const char *base = (const char *)cfg;
    for (const field *f = fields; f->key; f++) {
        if (indent == 0 && f != fields) hs_strbuf_printf(b, "\n");
        render_doc(b, f->doc, indent);
        hs_strbuf_printf(b, "%*s%s:", indent, "", f->key);
        switch (f->type) {
        case F_SECTION:
            hs_strbuf_printf(b, "\n");
            render_fields(b, cfg, f->children, indent + 2);
            break;
        case F_STRING:
        case F_PATH:
        case F_HOSTPORT:
        case F_PEERS:
            hs_strbuf_printf(b, " ");
            render_quoted(b, base + f->offset);
            hs_strbuf_printf(b, "\n");
            break;
        case F_INT:
            hs_strbuf_printf(b, " %d\n", *(const int *)(const void *)(base + f->offset));
            break;
        case F_INT64:
            hs_strbuf_printf(b, " %" PRId64 "\n", *(const int64_t *)(const void *)(base + f->offset));
            break;
        case F_BOOL:
            hs_strbuf_printf(b, " %s\n", *(const bool *)(base + f->offset) ? "true" : "false");
            break;
        case F_DOUBLE:
            render_double(b, *(const double *)(const void *)(base + f->offset));
            break;
        case F_LOGLEVEL:
            hs_strbuf_printf(b, " %s\n", level_names[*(const hs_log_level *)(const void *)(base + f->offset)]);
            break;
        case F_LOGFORMAT:
            hs_strbuf_printf(b, " %s\n",
                      *(const hs_log_format *)(const void *)(base + f->offset) == HS_LOG_JSON ? "json" : "human");
            break;
        }
    }
}

char *hs_config_render(const hs_config *cfg)
{
    hs_strbuf b = HS_STRBUF_INIT;
    hs_strbuf_printf(&b, "# pinegate configuration. Relative paths are relative to this file's directory.\n"
                  "# Every key is optional except server_name; omitted keys take the values shown\n"
                  "# in config.yaml.example.\n\n");
    render_fields(&b, cfg, root_fields, 0);
    return hs_strbuf_take(&b);
}
