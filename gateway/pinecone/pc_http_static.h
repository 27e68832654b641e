/* pc_http_static: serve the files of one directory over pc_http (the standalone node's
 * `--http-serve DIR`, for testing sessions by hand and in CI). GET and HEAD only; the
 * query string is ignored; percent-escapes are decoded; a path that leaves the directory
 * (through `..` or a symlink) is 404; a directory serves its index.html. Files are read
 * whole, synchronously (fine for a test tool, not for a busy server). */
#ifndef PC_HTTP_STATIC_H
#define PC_HTTP_STATIC_H

#include "pinecone/pc_http.h"

#define PC_HTTP_STATIC_MAX_FILE (256u * 1024u * 1024u)

/* Answers `req` from the files under `root` (must exist; resolved with realpath). */
void pc_http_static_serve(const char *root, pc_http_exchange *ex, const pc_http_incoming *req);

#endif
