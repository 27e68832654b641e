/* pg_p2p: the Pinecone node inside `pinegate serve` (p2p.enabled). It builds a pc_node
 * from the p2p section (TCP listener, static peers, multicast, ALPN, the identity key
 * file), runs it on one thread of its own, and, with p2p.websocket_path_enabled, installs
 * the client listener's upgrade hook so GET /ws hands WebSocket peers to the node (as
 * Dendrite does: binary messages carry the raw Pinecone stream, no subprotocol). The
 * node's progress lines (peer up/down, sessions) go to the log under "p2p".
 *
 * Not done here: serving the homeserver over QUIC sessions (the node answers session
 * HTTP requests with 404 until the P2P side is wired) and the identity bridge. */
#ifndef PG_P2P_H
#define PG_P2P_H

#include <stddef.h>

#include "server-core/hs_config.h"
#include "server-core/hs_httpd.h"

typedef struct pg_p2p pg_p2p;

/* Loads the key, builds the node, starts its thread and (when configured) the GET /ws
 * hook on `client` (a plain-HTTP listener; borrowed, must outlive pg_p2p_stop). Returns
 * the running node, or NULL with a reason in err (bad key file, address in use, ...). */
pg_p2p *pg_p2p_start(const hs_config *cfg, hs_httpd *client, char *err, size_t errlen);

/* The P2P identity's server name: its ed25519 public key in hex (owned by p). */
const char *pg_p2p_server_name(const pg_p2p *p);

/* Removes the GET /ws hook, stops the node's thread, closes every peering (WebSocket
 * peers' connections go back to the listener to be closed) and frees. NULL is allowed.
 * Call before the client listener stops. */
void pg_p2p_stop(pg_p2p *p);

#endif
