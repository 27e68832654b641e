/* fuzz_server: a real hs_server for endpoint fuzz targets - store and signing key in a
 * scratch directory, no listeners (requests go straight to the routers). Header-only,
 * included by one fuzz target each. */
#ifndef FUZZ_SERVER_H
#define FUZZ_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "server-core/hs_server.h"

static hs_server srv;
static char fz_dir[64];

/* libFuzzer exits through exit(), so atexit is where the scratch database goes. */
static void fz_cleanup(void)
{
    static const char *const files[] = {"hs.db", "hs.db-wal", "hs.db-shm", "signing.key"};
    char path[128];
    hs_server_close(&srv);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fz_dir, files[i]);
        unlink(path);
    }
    rmdir(fz_dir);
}

/* Opens `srv` with `cfg` (its defaults tuned by the caller) on a fresh scratch store;
 * aborts with a message if that is impossible. */
static void fz_server_open(const char *name, hs_config *cfg)
{
    char err[1024];
    snprintf(fz_dir, sizeof fz_dir, "/tmp/%s.XXXXXX", name);
    if (!mkdtemp(fz_dir)) abort();
    atexit(fz_cleanup);
    snprintf(cfg->database_path, sizeof cfg->database_path, "%s/hs.db", fz_dir);
    snprintf(cfg->signing_key_path, sizeof cfg->signing_key_path, "%s/signing.key", fz_dir);
    hs_signing_key key;
    if (hs_signing_key_generate(&key) != 0 || hs_signing_key_save(cfg->signing_key_path, &key, err, sizeof err) != 0 ||
        hs_server_open(&srv, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s setup: %s\n", name, err);
        abort();
    }
}

#endif
