/* hs_cmd_json: the `pinegate json` command, and the bounded stream reader the hs_ event
 * commands share. These are the I/O shell around the sans-I/O canonical JSON core. */
#ifndef HS_CMD_JSON_H
#define HS_CMD_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "server-core/hs_canonical_json.h"

/* `pinegate json canonical [--max-bytes N] < in.json`: prints the canonical form. */
int pg_cmd_json(int argc, char **argv);

/* Reads all of `f`, refusing more than `max` bytes. Returns a malloc'd NUL-terminated
 * buffer (caller frees) and its length in *len, or NULL with err set. */
char *hs_cmd_read_all(FILE *f, size_t max, size_t *len, hs_err *err);

#endif
