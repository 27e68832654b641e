/* hs_api_backup: the server-side key backup endpoints (/room_keys/version[/{version}],
 * /room_keys/keys[/{roomId}[/{sessionId}]]) on the Client-Server API. Storage and the
 * "keep the better copy" rule live in hs_store_backup. */
#ifndef HS_API_BACKUP_H
#define HS_API_BACKUP_H

struct hs_server;

/* Registers the endpoints on the client router. Returns 0, or -1 on a routing error. */
int hs_api_backup_register(struct hs_server *srv);

#endif
