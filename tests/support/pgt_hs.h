/* pgt_hs: a real hs_server inside the test process — fresh data directory, generated
 * signing key, the client listener on an ephemeral loopback port, registration open and
 * rate limits off — for endpoint tests that talk to it over HTTP with pgt_mx_call. */
#ifndef PGT_HS_H
#define PGT_HS_H

#include "server-core/hs_server.h"

typedef struct pgt_hs {
    char *dir;          /* data directory (removed by pgt_hs_stop) */
    hs_config cfg;
    hs_server srv;
    char base[128];     /* "http://127.0.0.1:PORT" of the client listener */
} pgt_hs;

/* Opens and starts a server with server_name `server_name`; `tweak` (may be NULL) may
 * change the configuration before it opens. Fails the current test on error. */
void pgt_hs_start(pgt_hs *h, const char *server_name, void (*tweak)(hs_config *cfg));

/* Closes the server and opens it again on the same data (a restart); the port changes. */
void pgt_hs_restart(pgt_hs *h);

/* Closes the server and removes its data directory. */
void pgt_hs_stop(pgt_hs *h);

#endif
