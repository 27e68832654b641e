/* pgt_matrix: Client-Server API helpers for tests that talk to a real pinegate server
 * over loopback: one JSON request with an optional access token, and account
 * registration through the m.login.dummy flow. Test code only; only pgt_mx_expect
 * asserts (with Criterion), the others return results for callers to assert on. */
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

/* Like pgt_mx_call, for tests: fails the current Criterion test unless the answer is
 * JSON with status `want`; returns the answer (caller decrefs). */
json_t *pgt_mx_expect(const char *base, const char *method, const char *path, const char *token, const char *body,
                      long want);

/* pgt_mx_call with the path made from `fmt` (printf-style), for tests: fails the current
 * Criterion test unless the answer is JSON. Returns it (caller decrefs); *status gets
 * the HTTP status. */
json_t *pgt_mx_callf(const char *base, const char *method, const char *token, long *status, const char *body,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Fail the current test unless *status is 200 (pgt_mx_check_ok), or `want` with the
 * Matrix error code `errcode` (pgt_mx_check_error); both decref `j`. The status comes
 * by pointer so that `pgt_mx_check_ok(pgt_mx_callf(..., &st, ...), &st)` reads it
 * after the call has set it. */
void pgt_mx_check_ok(json_t *j, const long *status);
void pgt_mx_check_error(json_t *j, const long *status, long want, const char *errcode);

/* pgt_mx_register for tests: fails the current test if registration fails. */
pgt_mx_login pgt_mx_must_register(const char *base, const char *user, const char *password);

/* POST /createRoom with `body` (JSON text) as `u`; fails the current test unless it
 * answers 200. Returns the new room's ID (caller frees). */
char *pgt_mx_create_room(const char *base, const pgt_mx_login *u, const char *body);

/* Sends an m.text message `text` (put into the JSON as is: no quotes or backslashes)
 * to `room` as `u` with a transaction ID unique in this process; fails the current test
 * unless it answers 200. Returns the event ID (caller frees). */
char *pgt_mx_send_text(const char *base, const pgt_mx_login *u, const char *room, const char *text);

/* Percent-encodes `s` for a path segment or a query value: every byte but the unreserved
 * ones (A-Z a-z 0-9 - . _ ~), with the server's hs_fed_pct_encode. Writes it into `buf`
 * and returns `buf`; fails the current test when it does not fit in `cap` bytes. */
const char *pgt_mx_enc(const char *s, char *buf, size_t cap);

/* pgt_mx_enc into one of four rotating buffers of this thread (up to 511 bytes encoded),
 * so that a request line can encode up to four values inline. The result stays valid
 * until the fourth next call on the same thread; nothing to free. Fails the current
 * test when the encoding does not fit. */
const char *pgt_mx_enc_tmp(const char *s);

/* Registers `user` with `password` on a server with open registration (two requests:
 * the UIA challenge, then m.login.dummy). Returns 0 and fills *out, or -1. */
int pgt_mx_register(const char *base, const char *user, const char *password, pgt_mx_login *out);

#endif
