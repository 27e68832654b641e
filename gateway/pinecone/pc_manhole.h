/* pc_manhole: the router's status as JSON in the format of the Go node's `/manhole`
 * (router/manhole.go): public_key, coords, root, parent, peers (keyed by public key, a
 * list per key, the local router as port 0 with zone "local"), snek {descending, paths}
 * and coords_cache. Field names and value formats (coordinates as "[1 2]", keys as
 * lowercase hex, times as RFC 3339 UTC) follow the recorded fixtures. The queue "size"
 * fields report pinegate's own bounds (Go reports its slice capacities there), and
 * "packets_total" counts traffic frames handed to the transport plus those dropped.
 *
 * Also the tiny HTTP request-line check of the manhole listener, kept here as a pure
 * function so it can be fuzzed. Reads router state only; never touches sockets. */
#ifndef PC_MANHOLE_H
#define PC_MANHOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_router.h"

/* What the transport knows about the link on a port (the router does not). */
typedef struct pc_manhole_link {
    int type;                /* Go ConnectionPeerType: 3 = remote (TCP); 0 omits the field */
    const char *zone;        /* "static" for configured peers, NULL omits the field */
    const char *uri;         /* the dialled URI or the remote address, NULL omits it */
    uint64_t traffic_frames; /* traffic frames written to this link */
} pc_manhole_link;

/* Fills *out for an up port; returns false to describe the port with zeros/omissions. */
typedef bool (*pc_manhole_link_fn)(int port, pc_manhole_link *out, void *ud);

/* Renders the manhole JSON of r at time `now` (Unix ms, the router's clock; coordinate
 * cache entries older than PC_COORDS_CACHE_LIFETIME are left out, as Go does). link may
 * be NULL. Returns a malloc'd NUL-terminated string (caller frees with free()), or NULL
 * when out of memory. */
char *pc_manhole_render(const pc_router *r, uint64_t now, pc_manhole_link_fn link, void *ud);

/* Formats Unix ms as Go's time.Time JSON (RFC 3339, UTC, fraction without trailing
 * zeros): "2026-11-23T19:29:03.341Z". Writes at most cap bytes incl. NUL; returns out. */
char *pc_manhole_time(uint64_t unix_ms, char *out, size_t cap);

#define PC_MANHOLE_REQ_MAX 4096 /* bytes of request head the listener accepts */

typedef enum pc_manhole_req {
    PC_MANHOLE_REQ_INCOMPLETE = 0, /* no blank line yet: read more */
    PC_MANHOLE_REQ_OK,             /* GET /manhole (query string allowed) */
    PC_MANHOLE_REQ_NOT_FOUND,      /* a well-formed GET for another path */
    PC_MANHOLE_REQ_BAD_METHOD,     /* well-formed, but not GET */
    PC_MANHOLE_REQ_BAD,            /* not an HTTP/1.x request line */
    PC_MANHOLE_REQ_TOO_LARGE,      /* no end of head within PC_MANHOLE_REQ_MAX bytes */
} pc_manhole_req;

/* Classifies the request head received so far (buf[0..len), not NUL-terminated). */
pc_manhole_req pc_manhole_parse_request(const char *buf, size_t len);

#endif
