/* pc_ws: HTTP upgrade parsing/building and wslay-driven framing for WebSocket peerings.
 * The upgrade head is parsed in place (no copies beyond the key); every header line is
 * bounded by the head limit. wslay is fed through a recv callback reading from the
 * caller's buffer and returning WOULDBLOCK when it is used up; received binary payload is
 * gathered and handed over after wslay_event_recv returns, so callers can send from the
 * payload callback without re-entering wslay. */
#include "pinecone/pc_ws.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wslay/wslay.h>

#include "pinecone/pc_err.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

static bool valid_key(const char *key, size_t len)
{
    if (len != PC_WS_KEY_LEN || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key[i]) || key[i] == '=')
            return false;
    return true;
}

int pc_ws_accept_key(const char *key, char out[PC_WS_ACCEPT_LEN + 1])
{
    if (!key || !valid_key(key, strlen(key)))
        return PC_ERR_INVALID;
    char cat[PC_WS_KEY_LEN + sizeof ws_guid];
    memcpy(cat, key, PC_WS_KEY_LEN);
    memcpy(cat + PC_WS_KEY_LEN, ws_guid, sizeof ws_guid - 1);
    uint8_t digest[20];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, PC_WS_KEY_LEN + sizeof ws_guid - 1, digest) != 0)
        return PC_ERR_INVALID;
    sodium_bin2base64(out, PC_WS_ACCEPT_LEN + 1, digest, sizeof digest,
                      sodium_base64_VARIANT_ORIGINAL);
    return PC_OK;
}

void pc_ws_new_key(char out[PC_WS_KEY_LEN + 1])
{
    uint8_t nonce[16];
    randombytes_buf(nonce, sizeof nonce);
    sodium_bin2base64(out, PC_WS_KEY_LEN + 1, nonce, sizeof nonce,
                      sodium_base64_VARIANT_ORIGINAL);
}

/* ---- HTTP head parsing ---------------------------------------------------------- */

/* Finds the end of the head ("\r\n\r\n"); returns its length including the blank line,
 * or a pc_err code (TRUNCATED / TOO_LONG). */
static long head_length(const uint8_t *buf, size_t len)
{
    size_t lim = len < PC_WS_HTTP_MAX ? len : PC_WS_HTTP_MAX;
    for (size_t i = 0; i + 3 < lim; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return (long)(i + 4);
    return len >= PC_WS_HTTP_MAX ? PC_ERR_TOO_LONG : PC_ERR_TRUNCATED;
}

typedef struct head {
    const char *line;            /* start line */
    size_t line_len;
    bool upgrade_ws, conn_upgrade, version13, has_ext, has_proto;
    const char *key, *accept;
    size_t key_len, accept_len;
    bool bad;                    /* a malformed header line or a NUL byte */
} head;

static void trim(const char **v, size_t *n)
{
    while (*n && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

/* Case-insensitive search for a token inside a comma list value. */
static bool list_has(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        const char *e = v + i;
        size_t el = j - i;
        trim(&e, &el);
        if (el == tl && strncasecmp(e, tok, tl) == 0)
            return true;
        i = j + 1;
    }
    return false;
}

static bool name_is(const char *n, size_t nl, const char *want)
{
    return nl == strlen(want) && strncasecmp(n, want, nl) == 0;
}

static void parse_head(const char *p, size_t hl, head *h)
{
    memset(h, 0, sizeof *h);
    if (memchr(p, '\0', hl)) {
        h->bad = true;
        return;
    }
    const char *end = p + hl - 2; /* the final CRLF ends the head */
    /* the input is not NUL-terminated: search within the head only */
    const char *eol = p;
    while (!(eol[0] == '\r' && eol[1] == '\n'))
        eol++;
    h->line = p;
    h->line_len = (size_t)(eol - p);
    for (const char *l = eol + 2; l < end;) {
        const char *le = l;
        while (le < end && !(le[0] == '\r' && le[1] == '\n'))
            le++;
        const char *colon = memchr(l, ':', (size_t)(le - l));
        if (!colon || colon == l) {
            h->bad = true;
            return;
        }
        size_t nl = (size_t)(colon - l);
        const char *v = colon + 1;
        size_t vl = (size_t)(le - v);
        trim(&v, &vl);
        if (name_is(l, nl, "Upgrade"))
            h->upgrade_ws = list_has(v, vl, "websocket");
        else if (name_is(l, nl, "Connection"))
            h->conn_upgrade = list_has(v, vl, "upgrade");
        else if (name_is(l, nl, "Sec-WebSocket-Version"))
            h->version13 = vl == 2 && memcmp(v, "13", 2) == 0;
        else if (name_is(l, nl, "Sec-WebSocket-Key")) {
            h->key = v;
            h->key_len = vl;
        } else if (name_is(l, nl, "Sec-WebSocket-Accept")) {
            h->accept = v;
            h->accept_len = vl;
        } else if (name_is(l, nl, "Sec-WebSocket-Extensions"))
            h->has_ext = true;
        else if (name_is(l, nl, "Sec-WebSocket-Protocol"))
            h->has_proto = true;
        l = le + 2;
    }
}

int pc_ws_parse_request(const uint8_t *buf, size_t len, size_t *used,
                        char key[PC_WS_KEY_LEN + 1])
{
    long hl = head_length(buf, len);
    if (hl < 0)
        return (int)hl;
    head h;
    parse_head((const char *)buf, (size_t)hl, &h);
    if (h.bad)
        return PC_ERR_INVALID;
    /* "GET <path> HTTP/1.1" */
    const char *s = h.line;
    size_t n = h.line_len;
    if (n < 14 || memcmp(s, "GET ", 4) != 0 || memcmp(s + n - 9, " HTTP/1.1", 9) != 0)
        return PC_ERR_INVALID;
    const char *path = s + 4;
    size_t pl = n - 13;
    const char *q = memchr(path, '?', pl);
    if (q)
        pl = (size_t)(q - path);
    if (memchr(path, ' ', pl))
        return PC_ERR_INVALID;
    if (!h.upgrade_ws || !h.conn_upgrade || !h.version13 || !h.key || !valid_key(h.key, h.key_len))
        return PC_ERR_INVALID;
    if (!(pl == 1 && path[0] == '/') && !(pl == 3 && memcmp(path, "/ws", 3) == 0))
        return PC_ERR_NO_PEER;
    memcpy(key, h.key, PC_WS_KEY_LEN);
    key[PC_WS_KEY_LEN] = '\0';
    *used = (size_t)hl;
    return PC_OK;
}

int pc_ws_parse_response(const uint8_t *buf, size_t len, size_t *used, const char *key)
{
    long hl = head_length(buf, len);
    if (hl < 0)
        return (int)hl;
    head h;
    parse_head((const char *)buf, (size_t)hl, &h);
    if (h.bad || h.line_len < 12 || memcmp(h.line, "HTTP/1.1 101", 12) != 0 ||
        (h.line_len > 12 && h.line[12] != ' '))
        return PC_ERR_INVALID;
    char want[PC_WS_ACCEPT_LEN + 1];
    if (!h.upgrade_ws || !h.conn_upgrade || h.has_ext || h.has_proto || !h.accept ||
        pc_ws_accept_key(key, want) != PC_OK || h.accept_len != PC_WS_ACCEPT_LEN ||
        memcmp(h.accept, want, PC_WS_ACCEPT_LEN) != 0)
        return PC_ERR_INVALID;
    *used = (size_t)hl;
    return PC_OK;
}

size_t pc_ws_build_request(char *out, size_t cap, const char *host, const char *path,
                           const char *key)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pinegate\r\n"
                     "Connection: Upgrade\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
                     path, host, key);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t pc_ws_build_response(char *out, size_t cap, const char *key)
{
    char acc[PC_WS_ACCEPT_LEN + 1];
    if (pc_ws_accept_key(key, acc) != PC_OK)
        return 0;
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

size_t pc_ws_build_error(char *out, size_t cap, const char *status)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", status);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

bool pc_ws_split_uri(const char *uri, char *hostport, size_t hcap, char *path, size_t pcap)
{
    if (strncmp(uri, "ws://", 5) != 0)
        return false;
    const char *h = uri + 5;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *p = slash ? slash : "/";
    const char *colon = NULL;
    for (size_t i = 0; i < hl; i++)
        if (h[i] == ':')
            colon = h + i;
    if (hl == 0 || hl >= hcap || !colon || colon == h + hl - 1 || strlen(p) >= pcap)
        return false;
    for (const char *c = p; *c; c++)
        if (*c <= ' ' || *c == 127)
            return false;
    memcpy(hostport, h, hl);
    hostport[hl] = '\0';
    strcpy(path, p);
    return true;
}

/* ---- framing (wslay) ------------------------------------------------------------ */

struct pc_ws {
    wslay_event_context_ptr ctx;
    const uint8_t *in;            /* input of the current pc_ws_feed */
    size_t in_len, in_off;
    const pc_ws_io *io;           /* io of the current call */
    uint8_t *got;                 /* binary payload gathered during one wslay_event_recv */
    size_t got_len, got_cap;
    bool fail;                    /* text message, close, or allocation failure */
    bool nomem;
};

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    pc_ws *w = ud;
    size_t n = w->in_len - w->in_off;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, w->in + w->in_off, n);
    w->in_off += n;
    return (ssize_t)n;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    pc_ws *w = ud;
    size_t n = w->io ? w->io->write(data, len, w->io->ud) : 0;
    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return (ssize_t)n;
}

static int cb_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx;
    (void)ud;
    randombytes_buf(buf, len);
    return 0;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                   void *ud)
{
    (void)ctx;
    pc_ws *w = ud;
    if (arg->opcode == WSLAY_PING || arg->opcode == WSLAY_PONG)
        return; /* wslay answers pings itself */
    if (arg->opcode != WSLAY_BINARY_FRAME) {
        w->fail = true; /* close or text: Pinecone speaks binary only */
        return;
    }
    if (w->got_len + arg->msg_length > w->got_cap) {
        size_t cap = w->got_cap ? w->got_cap : 4096;
        while (cap < w->got_len + arg->msg_length)
            cap *= 2;
        uint8_t *g = realloc(w->got, cap);
        if (!g) {
            w->fail = w->nomem = true;
            return;
        }
        w->got = g;
        w->got_cap = cap;
    }
    memcpy(w->got + w->got_len, arg->msg, arg->msg_length);
    w->got_len += arg->msg_length;
}

int pc_ws_new(pc_ws **out, bool client)
{
    pc_ws *w = calloc(1, sizeof *w);
    if (!w)
        return PC_ERR_NOMEM;
    struct wslay_event_callbacks cb = {.recv_callback = cb_recv, .send_callback = cb_send,
                                       .genmask_callback = cb_genmask,
                                       .on_msg_recv_callback = cb_msg};
    int rc = client ? wslay_event_context_client_init(&w->ctx, &cb, w)
                    : wslay_event_context_server_init(&w->ctx, &cb, w);
    if (rc != 0) {
        free(w);
        return PC_ERR_NOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(w->ctx, PC_WS_MSG_MAX);
    *out = w;
    return PC_OK;
}

void pc_ws_free(pc_ws *w)
{
    if (!w)
        return;
    wslay_event_context_free(w->ctx);
    free(w->got);
    free(w);
}

int pc_ws_flush(pc_ws *w, const pc_ws_io *io)
{
    w->io = io;
    int rc = wslay_event_send(w->ctx);
    w->io = NULL;
    return rc == 0 ? PC_OK : PC_ERR_INVALID;
}

bool pc_ws_want_write(const pc_ws *w) { return wslay_event_want_write(w->ctx) != 0; }

int pc_ws_feed(pc_ws *w, const uint8_t *in, size_t len, const pc_ws_io *io)
{
    w->in = in;
    w->in_len = len;
    w->in_off = 0;
    w->got_len = 0;
    int rc = wslay_event_recv(w->ctx);
    w->in = NULL;
    if (rc != 0)
        return rc == WSLAY_ERR_NOMEM ? PC_ERR_NOMEM : PC_ERR_INVALID;
    if (w->nomem)
        return PC_ERR_NOMEM;
    /* protocol errors make wslay queue a close and stop reading */
    bool closing = w->fail || !wslay_event_want_read(w->ctx);
    if (w->got_len && !closing) {
        int drc = io->data(w->got, w->got_len, io->ud);
        w->got_len = 0;
        if (drc != 0)
            return drc;
    }
    if (pc_ws_flush(w, io) != PC_OK || closing)
        return PC_ERR_INVALID;
    return PC_OK;
}

int pc_ws_send(pc_ws *w, const uint8_t *data, size_t len, const pc_ws_io *io)
{
    struct wslay_event_msg msg = {.opcode = WSLAY_BINARY_FRAME, .msg = data, .msg_length = len};
    int rc = wslay_event_queue_msg(w->ctx, &msg);
    if (rc == WSLAY_ERR_NOMEM)
        return PC_ERR_NOMEM;
    if (rc != 0)
        return PC_ERR_INVALID;
    return pc_ws_flush(w, io);
}
