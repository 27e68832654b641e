/* hs_config: the homeserver configuration. One YAML file (libyaml) checked against a
 * schema table: unknown keys, wrong types, out-of-range numbers and missing required
 * keys are errors that name the file, line and key. Relative paths in the file are
 * resolved against the file's own directory, so a data directory can be moved whole.
 * The same schema renders the documented file (`generate-config`, config.yaml.example). */
#ifndef HS_CONFIG_H
#define HS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server-core/hs_log.h"

#define HS_CONFIG_MAX_BYTES (1024 * 1024)
#define HS_PATH_MAX 4096

typedef struct hs_listener_config {
    char bind_address[256];
    int port;                       /* 0 = ephemeral (tests) */
    char tls_certificate[HS_PATH_MAX]; /* federation listener only */
    char tls_private_key[HS_PATH_MAX];
} hs_listener_config;

typedef struct hs_config {
    char server_name[256];
    char public_baseurl[512];       /* what /.well-known/matrix/client advertises */
    char well_known_server[256];    /* what /.well-known/matrix/server delegates to */
    hs_listener_config client;
    hs_listener_config federation;
    char database_path[HS_PATH_MAX];
    char signing_key_path[HS_PATH_MAX];
    hs_log_level log_level;
    hs_log_format log_format;
    int threads;                    /* worker threads per listener */
    int64_t max_request_body_bytes;
    int max_connections;            /* per listener */
    int shutdown_grace_seconds;     /* how long in-flight requests may finish */
    int max_long_polls;             /* limits.max_long_polls: /sync requests allowed to wait at once */
    int max_devices_per_user;       /* limits.max_devices_per_user: a login past it is refused */
    int sync_max_timeline_events;   /* limits.sync_max_timeline_events: per room in one /sync */
    int sync_max_events;            /* limits.sync_max_events: timeline + state events per /sync */
    bool p2p_enabled;
    char p2p_listen[256];           /* p2p.listen: TCP "host:port" for Pinecone peers; "" = none */
    char p2p_static_peers[2048];    /* p2p.static_peers: "host:port,ws://h:p/ws,wss://h/ws" */
    bool p2p_multicast;             /* p2p.multicast: LAN beacons and auto-peering */
    char p2p_multicast_interfaces[256]; /* p2p.multicast_interfaces: "" = every usable one */
    bool p2p_websocket_path_enabled; /* p2p.websocket_path_enabled: GET /ws on the client listener */
    char p2p_private_key_path[HS_PATH_MAX]; /* p2p.private_key_path: ed25519 seed (hex) of the P2P identity */
    char p2p_alpn[64];              /* p2p.alpn: ALPN of the QUIC sessions */
    bool bridge_enabled;
    bool relay_enabled;
    bool registration_enabled;      /* open registration (m.login.dummy) for anyone */
    char registration_shared_secret[256]; /* Synapse-style admin registration; "" = off */
    bool rate_limits_enabled;
    double login_per_second;        /* token bucket refill per remote address */
    int login_burst;
    double register_per_second;
    int register_burst;
    int rate_limit_max_keys;        /* addresses tracked per limiter (bounded memory) */
    char default_room_version[16];  /* rooms.default_room_version: createRoom without room_version */
    char media_path[HS_PATH_MAX];   /* media.path: uploaded files live here (created on first upload) */
    int64_t media_max_upload_bytes; /* media.max_upload_bytes: larger uploads get 413 M_TOO_LARGE */
    bool media_unauthenticated_download; /* media.unauthenticated_download: serve /_matrix/media/v3 downloads */
    int64_t media_max_remote_cache_bytes; /* media.max_remote_cache_bytes: other servers' media kept on disk */
    int media_max_concurrent_remote_fetches; /* media.max_concurrent_remote_fetches: fetches at once */
    char turn_uris[2048];           /* voip.turn_uris: TURN URIs for GET /voip/turnServer ("a,b"); "" = none */
    char turn_shared_secret[256];   /* voip.turn_shared_secret: the TURN server's REST API secret */
    int turn_user_lifetime_seconds; /* voip.turn_user_lifetime_seconds: validity of the credentials */
    int key_validity_hours;         /* federation.*: how long our key response says it is valid */
    char trusted_key_servers[1024]; /* notaries asked when a server's own key server fails ("a,b") */
    char ip_range_denylist[2048];   /* CIDR ranges outbound federation must not connect to ("a/n,b/m") */
    bool verify_certificates;       /* check peers' TLS certificates (chain and host name) */
    bool federation_public_rooms;   /* federation.public_rooms: serve our directory to other servers */
    int request_timeout_seconds;    /* whole outbound federation request, connect included */
    int notary_max_servers;         /* federation.notary_max_servers: servers named in one key query */
    int notary_time_budget_seconds; /* federation.notary_time_budget_seconds: a key query's wait for fetches */
    int64_t max_response_bytes;     /* outbound federation responses larger than this are dropped */
    int federation_max_concurrent_requests; /* federation.max_concurrent_requests: batch wave size */
    int federation_max_idle_connections; /* federation.max_idle_connections: per pooled connection cache */
} hs_config;

/* Fills `cfg` with the built-in defaults (server name "localhost:8448", ports 8008/8448,
 * files named relative to the config directory). Never fails. */
void hs_config_defaults(hs_config *cfg);

/* Parses YAML text `yaml` (NUL-terminated) named `source` in messages, on top of the
 * defaults. Relative paths are resolved against `base_dir` (NULL = keep as written).
 * Returns 0, or -1 with a message "source:LINE: ..." in err. */
int hs_config_parse(const char *yaml, const char *source, const char *base_dir, hs_config *cfg,
                    char *err, size_t errlen);

/* Reads and parses the file at `path` (at most HS_CONFIG_MAX_BYTES). Returns 0, or -1
 * with a message in err (missing file, too large, parse errors as above). */
int hs_config_load(const char *path, hs_config *cfg, char *err, size_t errlen);

/* Renders `cfg` as a documented YAML file: every key with a comment explaining it.
 * Paths are written as given (callers pass relative names). Returns a malloc'd string
 * the caller frees, or NULL on allocation failure. */
char *hs_config_render(const hs_config *cfg);

/* Checks cross-field rules the schema cannot (placeholder sections not enabled yet,
 * listener addresses present). Returns 0, or -1 with a message in err. */
int hs_config_validate(const hs_config *cfg, char *err, size_t errlen);

#endif
