/* pgt_hs: see the header. */
#include "support/pgt_hs.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "server-core/hs_api_media.h"
#include "support/pgt.h"

static void boot(pgt_hs *h)
{
    char err[1024];
    cr_assert_eq(hs_server_open(&h->srv, &h->cfg, err, sizeof err), 0, "%s", err);
    hs_httpd_config c = {
        .name = "client", .bind_address = "127.0.0.1", .port = 0, .threads = h->cfg.threads, .max_connections = 64,
        .max_body_bytes = h->listener_max_body ? h->listener_max_body : h->cfg.max_request_body_bytes,
        .upload_prefix = HS_MEDIA_UPLOAD_PREFIX, .upload_max_body_bytes = h->cfg.media_max_upload_bytes,
        .router = h->srv.client_router, .metrics = h->srv.metrics,
    };
    h->srv.client = hs_httpd_start(&c, err, sizeof err);
    cr_assert_not_null(h->srv.client, "%s", err);
    snprintf(h->base, sizeof h->base, "http://127.0.0.1:%d", hs_httpd_port(h->srv.client));
}

void pgt_hs_config_files(hs_config *cfg, const char *dir)
{
    snprintf(cfg->database_path, sizeof cfg->database_path, "%s/hs.db", dir);
    snprintf(cfg->signing_key_path, sizeof cfg->signing_key_path, "%s/signing.key", dir);
    hs_signing_key key;
    char err[512];
    cr_assert_eq(hs_signing_key_generate(&key), 0);
    cr_assert_eq(hs_signing_key_save(cfg->signing_key_path, &key, err, sizeof err), 0, "%s", err);
}

void pgt_hs_listen_federation(hs_server *srv, char *base, size_t cap)
{
    char err[512];
    hs_httpd_config c = {
        .name = "federation", .bind_address = "127.0.0.1", .port = 0, .threads = 2, .max_connections = 16,
        .max_body_bytes = 1 << 20, .router = srv->federation_router, .metrics = srv->metrics,
    };
    srv->federation = hs_httpd_start(&c, err, sizeof err);
    cr_assert_not_null(srv->federation, "%s", err);
    if (base) snprintf(base, cap, "http://127.0.0.1:%d", hs_httpd_port(srv->federation));
}

void pgt_hs_start(pgt_hs *h, const char *server_name, void (*tweak)(hs_config *cfg))
{
    h->dir = pgt_tmpdir();
    hs_config_defaults(&h->cfg);
    snprintf(h->cfg.server_name, sizeof h->cfg.server_name, "%s", server_name);
    h->cfg.threads = 2;
    h->cfg.shutdown_grace_seconds = 5;
    h->cfg.registration_enabled = true;
    h->cfg.rate_limits_enabled = false;
    pgt_hs_config_files(&h->cfg, h->dir);
    snprintf(h->cfg.media_path, sizeof h->cfg.media_path, "%s/media", h->dir);
    if (tweak) tweak(&h->cfg);
    boot(h);
}

void pgt_hs_reopen(pgt_hs *h)
{
    boot(h);
}

void pgt_hs_restart(pgt_hs *h)
{
    hs_server_close(&h->srv);
    boot(h);
}

void pgt_hs_stop(pgt_hs *h)
{
    hs_server_close(&h->srv);
    pgt_rmtree(h->dir);
    free(h->dir);
    h->dir = NULL;
}

hs_store *pgt_store_open(char **dir, const char *file)
{
    *dir = pgt_tmpdir();
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", *dir, file);
    size_t n;
    const hs_migration *m = hs_store_migrations(&n);
    hs_store *st = NULL;
    cr_assert_eq(hs_store_open(path, m, n, &st, err, sizeof err), 0, "%s", err);
    return st;
}

void pgt_store_close(hs_store *st, char *dir)
{
    hs_store_close(st);
    pgt_rmtree(dir);
    free(dir);
}

int64_t pgt_store_remote_join(hs_store *st, const char *room_id, const char *room_version, const char *creator,
                              const hs_store_new_event *state, size_t n, const hs_store_new_event *join)
{
    hs_state_map *map = hs_state_map_new();
    for (size_t i = 0; i < n; i++) hs_state_map_set(map, state[i].type, state[i].state_key, state[i].event_id);
    int64_t stream = 0;
    cr_assert_eq(hs_store_fed_join_persist(st, room_id, room_version, creator, state, n, map, join, &stream), 0,
                 "remote join %s into %s", join->event_id, room_id);
    cr_assert_gt(stream, 0);
    hs_state_map_free(map);
    return stream;
}
