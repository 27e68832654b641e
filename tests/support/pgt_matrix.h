/* pgt_matrix: Client-Server API helpers for tests that talk to a real pinegate server
 * over loopback: one JSON request with an optional access token, and account
 * registration through the m.login.dummy flow. Test code only; no Criterion inside, so
 * callers assert on the results themselves. */
#ifndef PGT_MATRIX_H
#define PGT_MATRIX_H

#include <jansson.h>

/* A logged-in user. */
typedef struct pgt_mx_login {
    char user_id[256];
    char token[256];
    char device_id[128];
} pgt_mx_login;

/* Sends `method` `base``path` with `body` (JSON text, or NULL for none) and the Bearer
 * `token` (NULL for none). Returns the parsed JSON answer (caller decrefs) and the HTTP
 * status in *status; NULL with *status 0 on a transport failure, or with the status
 * when the answer is not JSON. */
json_t *pgt_mx_call(const char *base, const char *method, const char *path, const char *token, const char *body,
                    long *status);

/* Registers `user` with `password` on a server with open registration (two requests:
 * the UIA challenge, then m.login.dummy). Returns 0 and fills *out, or -1. */
int pgt_mx_register(const char *base, const char *user, const char *password, pgt_mx_login *out);

#endif
