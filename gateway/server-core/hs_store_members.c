/* hs_store_members: SQL over current_state memberships (see hs_store_members.h). The
 * server of a user ID is everything after its first colon, so "ends with :<server>" on
 * a user ID of that server is exact; the suffix is compared with substr rather than
 * LIKE, whose wildcards a server name could contain. */
#include "server-core/hs_store_members.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-core/hs_store_internal.h"
#include "server-core/hs_store_rooms.h"

int hs_store_joined_users_of(hs_store *st, const char *room_id, const char *server_name, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    size_t len = strlen(server_name) + 2;
    char *suffix = malloc(len);
    if (!suffix) return -1;
    snprintf(suffix, len, ":%s", server_name);
    sqlite3_stmt *s = hs_store_stmt(st, "SELECT state_key FROM current_state WHERE room_id = ?1"
                                        " AND type = 'm.room.member' AND membership = 'join'"
                                        " AND substr(state_key, -length(?2)) = ?2 ORDER BY state_key");
    if (!s) {
        free(suffix);
        return -1;
    }
    sqlite3_bind_text(s, 1, room_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, suffix, -1, SQLITE_TRANSIENT);
    size_t cap = 0;
    int rc = SQLITE_DONE;
    bool oom = false;
    while (!oom && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *user = (const char *)sqlite3_column_text(s, 0);
        /* "@a:b:host" ends with ":host" too but belongs to server "b:host". */
        const char *colon = user ? strchr(user, ':') : NULL;
        if (!colon || strcmp(colon + 1, server_name) != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(*ids, cap * sizeof *grown);
            if (!grown) {
                oom = true;
                break;
            }
            *ids = grown;
        }
        if (!((*ids)[*n] = strdup(user))) oom = true;
        else (*n)++;
    }
    sqlite3_finalize(s);
    free(suffix);
    if (oom || rc != SQLITE_DONE) {
        hs_store_free_strings(*ids, *n);
        *ids = NULL;
        *n = 0;
        return -1;
    }
    return 0;
}
