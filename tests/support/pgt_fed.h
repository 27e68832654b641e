/* pgt_fed: one real `pinegate serve` process set up for federation tests - a --dev
 * config (self-signed certificate, loopback allowed) generated into a fresh directory,
 * server name localhost:<federation port>, client API on 127.0.0.1:<client port>.
 * Integration tests start two or more of them to federate over loopback HTTPS. Test
 * code only: failures are Criterion assertions. */
#ifndef PGT_FED_H
#define PGT_FED_H

#include "support/pgt.h"

typedef struct pgt_fed_node {
    char *dir;          /* data directory (pgt_tmpdir): config.yaml, signing.key, homeserver.db */
    int cport, fport;   /* client and federation ports */
    char name[64];      /* server name, "localhost:<fport>" */
    char cfg[1024];     /* path of config.yaml */
    char base[128];     /* client API base URL, "http://127.0.0.1:<cport>" */
    pgt_proc proc;
} pgt_fed_node;

/* Picks free ports, runs `pinegate generate-config --dev` into a new directory and
 * starts the server (pgt_fed_serve). Asserts on failure. */
void pgt_fed_make(pgt_fed_node *n);

/* Starts `pinegate serve` on n's config (again, after a pgt_stop, to restart on the same
 * data) and waits for its federation listener. Asserts on failure. */
void pgt_fed_serve(pgt_fed_node *n);

/* Stops the server if it runs and removes its directory. */
void pgt_fed_destroy(pgt_fed_node *n);

#endif
