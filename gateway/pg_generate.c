/* pg_generate: `generate-config` and `generate-keys`. A data directory made here is
 * complete: config, signing key, P2P key, TLS certificate; the database is created on first
 * serve. Existing files are never overwritten, so running it twice cannot destroy an
 * identity. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "federation-side/fed_tls.h"
#include "pg_commands.h"
#include "pg_p2p_key.h"
#include "server-core/hs_config.h"
#include "server-core/hs_signing_key.h"

#define TLS_DAYS 3650

static int parse_port(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v > 65535) return -1;
    *out = (int)v;
    return 0;
}

/* Creates whichever of signing key, P2P key and TLS pair is missing. Prints what it made. */
static int make_missing_keys(const hs_config *cfg)
{
    char err[512];
    if (access(cfg->signing_key_path, F_OK) != 0) {
        hs_signing_key key;
        if (hs_signing_key_generate(&key) != 0 || hs_signing_key_save(cfg->signing_key_path, &key, err, sizeof err) != 0) {
            fprintf(stderr, "pinegate: cannot write the signing key: %s\n", err);
            return -1;
        }
        printf("wrote signing key %s (%s)\n", cfg->signing_key_path, key.key_id);
    }
    if (cfg->p2p_private_key_path[0] && access(cfg->p2p_private_key_path, F_OK) != 0) {
        char pk[2 * PG_P2P_KEY_LEN + 1];
        if (pg_p2p_key_generate(cfg->p2p_private_key_path, pk, err, sizeof err) != 0) {
            fprintf(stderr, "pinegate: %s\n", err);
            return -1;
        }
        printf("wrote P2P identity key %s (P2P server name %s)\n", cfg->p2p_private_key_path, pk);
    }
    bool have_cert = access(cfg->federation.tls_certificate, F_OK) == 0;
    bool have_key = access(cfg->federation.tls_private_key, F_OK) == 0;
    if (have_cert != have_key) {
        fprintf(stderr, "pinegate: only one of %s and %s exists; remove it or supply both\n",
                cfg->federation.tls_certificate, cfg->federation.tls_private_key);
        return -1;
    }
    if (!have_cert) {
        if (fed_tls_generate_self_signed(cfg->server_name, TLS_DAYS, cfg->federation.tls_certificate,
                                         cfg->federation.tls_private_key, err, sizeof err) != 0) {
            fprintf(stderr, "pinegate: cannot make the TLS certificate: %s\n", err);
            return -1;
        }
        printf("wrote self-signed TLS certificate %s and key %s\n", cfg->federation.tls_certificate,
               cfg->federation.tls_private_key);
    }
    return 0;
}

static void generate_config_usage(FILE *out)
{
    fprintf(out,
            "usage: pinegate generate-config [--server-name N] [--data-dir D] [--client-port P]\n"
            "                                [--federation-port P] [--dev]\n\n"
            "Writes D/config.yaml (default D = ./data), an ed25519 signing key, the P2P identity's\n"
            "ed25519 key (p2p.key) and a self-signed TLS certificate beside it. Refuses to\n"
            "overwrite an existing config.\n\n"
            "  --server-name N      the DNS identity (default localhost:<federation port>)\n"
            "  --data-dir D         directory for config, keys and database (created if missing)\n"
            "  --client-port P      client API port (default 8008)\n"
            "  --federation-port P  federation API port (default 8448)\n"
            "  --dev                a config for local testing: both listeners on 127.0.0.1, open\n"
            "                       registration, no rate limits, federation with loopback/private\n"
            "                       peers and without certificate checks\n");
}

int pg_cmd_generate_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server-name", required_argument, NULL, 'n'}, {"data-dir", required_argument, NULL, 'd'},
        {"client-port", required_argument, NULL, 'c'}, {"federation-port", required_argument, NULL, 'f'},
        {"dev", no_argument, NULL, 'D'},               {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    hs_config cfg;
    hs_config_defaults(&cfg);
    const char *server_name = NULL, *dir = "./data";
    bool dev = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': server_name = optarg; break;
        case 'd': dir = optarg; break;
        case 'c':
        case 'f':
            if (parse_port(optarg, c == 'c' ? &cfg.client.port : &cfg.federation.port) != 0) {
                fprintf(stderr, "pinegate generate-config: '%s' is not a port number\n", optarg);
                return 2;
            }
            break;
        case 'D': dev = true; break;
        case 'h': generate_config_usage(stdout); return 0;
        default: generate_config_usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        generate_config_usage(stderr);
        return 2;
    }
    if (server_name) snprintf(cfg.server_name, sizeof cfg.server_name, "%s", server_name);
    else snprintf(cfg.server_name, sizeof cfg.server_name, "localhost:%d", cfg.federation.port);
    if (dev) {
        snprintf(cfg.federation.bind_address, sizeof cfg.federation.bind_address, "127.0.0.1");
        /* Test clients register freely and log in in tight loops. */
        cfg.registration_enabled = true;
        cfg.rate_limits_enabled = false;
        /* Local peers (loopback, self-signed certificates) must be reachable. */
        cfg.ip_range_denylist[0] = '\0';
        cfg.verify_certificates = false;
    }

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "pinegate generate-config: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[HS_PATH_MAX];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "pinegate generate-config: %s already exists; not overwriting it\n", path);
        return 1;
    }
    char *text = hs_config_render(&cfg);
    FILE *f = text ? fopen(path, "wx") : NULL;
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "pinegate generate-config: cannot write %s: %s\n", path, strerror(errno));
        free(text);
        return 1;
    }
    free(text);
    printf("wrote %s for %s%s\n", path, cfg.server_name, dev ? " (dev mode)" : "");

    /* Key paths in the file are relative to it; resolve them the way serve will. */
    hs_config loaded;
    char err[1024];
    if (hs_config_load(path, &loaded, err, sizeof err) != 0) {
        fprintf(stderr, "pinegate generate-config: the written config does not load: %s\n", err);
        return 1;
    }
    return make_missing_keys(&loaded) == 0 ? 0 : 1;
}

int pg_cmd_generate_keys(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: pinegate generate-keys [--config FILE]\n\n"
               "Without --config: prints a new ed25519 signing key in Synapse's format to stdout.\n"
               "With --config: creates the signing key and the self-signed TLS certificate/key named in\n"
               "FILE if they do not exist yet (existing files are left alone).\n");
        return 0;
    }
    if (argc == 1) {
        hs_signing_key key;
        char line[256];
        if (hs_signing_key_generate(&key) != 0 || hs_signing_key_format(&key, line, sizeof line) != 0) {
            fprintf(stderr, "pinegate generate-keys: no randomness available\n");
            return 1;
        }
        fputs(line, stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--config") == 0) {
        hs_config cfg;
        char err[1024];
        if (hs_config_load(argv[2], &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "pinegate generate-keys: %s\n", err);
            return 1;
        }
        return make_missing_keys(&cfg) == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: pinegate generate-keys [--config FILE]\n");
    return 2;
}
