/* pgt_hs: a real hs_server inside the test process — fresh data directory (database,
 * signing key and media files inside it), the client listener on an ephemeral loopback
 * port with media uploads allowed up to cfg.media_max_upload_bytes as `serve` does,
 * registration open and rate limits off — for endpoint tests that talk to it over HTTP with pgt_mx_call; and a
 * bare store on a fresh data directory for storage tests, with a remote join stored into
 * it as federation stores one. Helpers fail the current
 * Criterion test on error instead of returning one. */
#ifndef PGT_HS_H
#define PGT_HS_H

#include "server-core/hs_server.h"
#include "server-core/hs_store_fed_rooms.h"

typedef struct pgt_hs {
    char *dir;          /* data directory (removed by pgt_hs_stop) */
    hs_config cfg;
    hs_server srv;
    char base[128];     /* "http://127.0.0.1:PORT" of the client listener */
    /* The client listener's body limit; 0 (a zeroed pgt_hs) means the server's own
     * cfg.max_request_body_bytes. Set it before pgt_hs_start; kept across restarts. */
    int64_t listener_max_body;
} pgt_hs;

/* Points cfg's database (hs.db) and signing key (signing.key) into `dir` and writes a
 * freshly generated signing key there, as generate-config does, so that hs_server_open
 * can open cfg. Fails the current test when the key cannot be written. */
void pgt_hs_config_files(hs_config *cfg, const char *dir);

/* Serves srv's federation router (an hs_server opened by the test) on an ephemeral
 * loopback port - 2 workers, 16 connections, 1 MiB bodies - as srv->federation, which
 * hs_server_close stops. Writes "http://127.0.0.1:PORT" into base (cap bytes) unless
 * base is NULL. Fails the current test when the listener does not start. */
void pgt_hs_listen_federation(hs_server *srv, char *base, size_t cap);

/* Opens and starts a server with server_name `server_name`; `tweak` (may be NULL) may
 * change the configuration before it opens. The client listener runs cfg.threads
 * workers (2 unless `tweak` changes it). Fails the current test on error. */
void pgt_hs_start(pgt_hs *h, const char *server_name, void (*tweak)(hs_config *cfg));

/* Opens the server again on the same data after the caller closed h->srv with
 * hs_server_close (for tests that look at something while it is down); the port changes. */
void pgt_hs_reopen(pgt_hs *h);

/* Closes the server and opens it again on the same data (a restart); the port changes. */
void pgt_hs_restart(pgt_hs *h);

/* Closes the server and removes its data directory. */
void pgt_hs_stop(pgt_hs *h);

/* Opens a store with every migration applied in a fresh data directory, as the file
 * `file` there; *dir gets the directory (caller frees it through pgt_store_close). */
hs_store *pgt_store_open(char **dir, const char *file);

/* Closes the store and removes and frees the directory pgt_store_open made. */
void pgt_store_close(hs_store *st, char *dir);

/* Stores a remote join into `room_id` (version `room_version`, made by `creator`) as a
 * join over federation does (hs_store_fed_join_persist): the n events of `state` as
 * outliers that are the room's state at the join, and `join` on top. Returns the join's
 * stream position; fails the current test unless it is stored anew at a position > 0. */
int64_t pgt_store_remote_join(hs_store *st, const char *room_id, const char *room_version, const char *creator,
                              const hs_store_new_event *state, size_t n, const hs_store_new_event *join);

#endif
