/* pc_http_msg: one HTTP/1.1 message reader for a byte stream (a QUIC stream here), on
 * http-parser, sans-I/O. It collects the request line or status, the headers and the
 * (de-chunked) body of one message at a time, under limits, and stops after each message
 * so the owner can answer it before the next one on the same stream (keep-alive, as
 * Dendrite's client uses).
 *
 * Trailers after a chunked body are counted against the header limit but dropped.
 *
 * Limits: max_header_bytes covers the request target plus every header name and value;
 * max_body the decoded body. Exceeding one is an error with a status to answer (431 or
 * 413); malformed input is 400. After an error the reader accepts nothing more. */
#ifndef PC_HTTP_MSG_H
#define PC_HTTP_MSG_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PC_HTTP_MAX_HEADERS 128

typedef struct pc_http_header {
    const char *name;
    const char *value;
} pc_http_header;

typedef struct pc_http_limits {
    size_t max_header_bytes;
    size_t max_body;
} pc_http_limits;

/* A complete message. Strings are NUL-terminated; everything lives in the message's own
 * storage (free with pc_http_msg_free). */
typedef struct pc_http_msg {
    const char *method;          /* requests: "GET", ... (static) */
    const char *target;          /* requests: the raw request target */
    int status;                  /* responses */
    bool keep_alive;             /* the sender allows another message on this stream */
    pc_http_header *headers;
    size_t n_headers;
    uint8_t *body;               /* NULL when empty */
    size_t body_len;
    /* storage */
    char *txt;
    size_t txt_len, txt_cap;
    size_t (*hoff)[2];           /* offsets of name and value in txt */
    size_t body_cap;
} pc_http_msg;

typedef struct pc_http_reader {
    http_parser p;
    pc_http_limits lim;
    pc_http_msg msg;
    size_t url_off, header_bytes;
    bool in_value, url_started, headers_done, done, failed, no_body;
    int error_status;            /* 400, 413 or 431 after an error */
} pc_http_reader;

/* Starts a reader for requests (true) or responses (false). */
void pc_http_reader_init(pc_http_reader *r, bool request, const pc_http_limits *lim);

/* Frees what the reader holds. */
void pc_http_reader_free(pc_http_reader *r);

/* Feeds bytes. Sets *used to the bytes consumed (it stops right after a completed
 * message) and *done when a message is complete (take it, then feed the rest). Returns 0,
 * or PC_ERR_HTTP (malformed: error_status 400) / PC_ERR_LIMIT (431 or 413). */
int pc_http_reader_feed(pc_http_reader *r, const uint8_t *data, size_t len, size_t *used, bool *done);

/* The stream ended. A response without length completes here (*done). Returns 0, or
 * PC_ERR_HTTP when a message was cut off in the middle. */
int pc_http_reader_eof(pc_http_reader *r, bool *done);

/* True when some bytes of a next message were already read (so EOF would cut it). */
bool pc_http_reader_partial(const pc_http_reader *r);

/* A response to HEAD: expect no body whatever the headers say. */
void pc_http_reader_no_body(pc_http_reader *r);

/* Moves the completed message into *out (caller frees with pc_http_msg_free) and gets
 * ready for the next message on the stream. */
void pc_http_reader_take(pc_http_reader *r, pc_http_msg *out);

/* Case-insensitive header lookup; NULL when absent. */
const char *pc_http_msg_header(const pc_http_msg *m, const char *name);

void pc_http_msg_free(pc_http_msg *m);

#endif
