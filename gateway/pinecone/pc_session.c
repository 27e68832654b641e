/* pc_session: the QUIC endpoint over Pinecone datagrams (see pc_session.h for the rules).
 *
 * Invariants:
 *   - every pc_stream is on exactly one list: the session's `unbound` list (no QUIC
 *     stream yet: its connection is not up or has no stream credit) or its connection's
 *     list (sid >= 0);
 *   - ngtcp2 never holds a pointer into memory we move: stream send data lives in
 *     fixed-size chunks that are freed only once acknowledged;
 *   - connections are deleted only in flush (dead ones are marked first), so callbacks
 *     never see a connection vanish under them;
 *   - ngtcp2 is fed the same dummy path for every connection: demultiplexing is ours
 *     (CID + source key), addresses mean nothing on Pinecone. */
#include "pinecone/pc_session.h"

#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"
#include "pinecone/pc_quic_hdr.h"
#include "pinecone/pc_tls.h"

#define CHUNK_CAP 16384
#define MAX_CIDS 16
#define MAX_PKTS_PER_FLUSH 64   /* per connection; the rest goes on the next turn */
#define MS ((uint64_t)NGTCP2_MILLISECONDS)

typedef struct chunk {
    struct chunk *next;
    size_t len;
    uint8_t data[CHUNK_CAP];
} chunk;

typedef struct conn conn;

struct pc_stream {
    pc_session *s;
    conn *c;                 /* NULL while unbound */
    int64_t sid;             /* -1 until the QUIC stream exists */
    pc_stream *prev, *next;
    uint8_t peer[PC_KEY_LEN];
    char alpn[PC_SESSION_ALPN_MAX_LEN + 1];
    bool local;
    void *user;
    chunk *head, *tail;
    uint64_t head_off;       /* stream offset of head->data[0] */
    uint64_t written, sent, acked;
    bool fin_wanted, fin_sent, abort_wanted, abort_sent, blocked;
    uint64_t abort_code;
};

struct conn {
    pc_session *s;
    ngtcp2_conn *qc;
    gnutls_session_t tls;
    ngtcp2_crypto_conn_ref ref;
    ngtcp2_path_storage ps;
    uint8_t peer[PC_KEY_LEN];
    char alpn[PC_SESSION_ALPN_MAX_LEN + 1];   /* asked for (client) or negotiated */
    bool client, handshake_done, established, key_rejected;
    bool dead, send_close;
    int dead_err;
    ngtcp2_connection_close_error ccerr;
    uint64_t created_at;
    ngtcp2_cid cids[MAX_CIDS];
    size_t n_cids;
    ngtcp2_cid odcid;        /* server: the client's first DCID, still used by its Initials */
    bool has_odcid;
    pc_stream *streams;
    conn *next;
};

struct pc_session {
    pc_session_callbacks cb;
    void *ud;
    pc_tls_identity *id;
    uint8_t key[PC_KEY_LEN];
    uint8_t reset_secret[32];
    char alpn[PC_SESSION_MAX_ALPN][PC_SESSION_ALPN_MAX_LEN + 1];
    gnutls_datum_t alpn_d[PC_SESSION_MAX_ALPN];
    size_t n_alpn;
    uint64_t idle_ns;
    conn *conns;
    size_t n_conns;
    pc_stream *unbound;
    bool again;              /* a flush stopped early or left dead connections */
};

static const uint8_t reset_label[] = "pinegate quic stateless reset v1";

/* ---- lists ----------------------------------------------------------------------- */

static void list_push(pc_stream **head, pc_stream *st)
{
    st->prev = NULL;
    st->next = *head;
    if (*head)
        (*head)->prev = st;
    *head = st;
}

static void list_del(pc_stream **head, pc_stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        *head = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
}

static pc_stream *stream_new(pc_session *s, const uint8_t peer[PC_KEY_LEN], const char *alpn, bool local)
{
    pc_stream *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->s = s;
    st->sid = -1;
    memcpy(st->peer, peer, PC_KEY_LEN);
    snprintf(st->alpn, sizeof st->alpn, "%s", alpn);
    st->local = local;
    return st;
}

/* Removes the stream from its list, tells the application, frees it. */
static void stream_finish(pc_stream *st, int err)
{
    pc_session *s = st->s;
    if (st->c)
        list_del(&st->c->streams, st);
    else
        list_del(&s->unbound, st);
    if (st->c && st->sid >= 0)
        ngtcp2_conn_set_stream_user_data(st->c->qc, st->sid, NULL);
    s->cb.stream_closed(st, err, s->ud);
    for (chunk *k = st->head, *n; k; k = n) {
        n = k->next;
        free(k);
    }
    free(st);
}

/* ---- ngtcp2 callbacks --------------------------------------------------------------- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref) { return ((conn *)ref->user_data)->qc; }

static void cb_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    randombytes_buf(dest, len);
}

static bool cid_add(conn *c, const ngtcp2_cid *cid)
{
    if (c->n_cids == MAX_CIDS)
        return false;
    c->cids[c->n_cids++] = *cid;
    return true;
}

static int cb_new_cid(ngtcp2_conn *qc, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
    (void)qc;
    conn *c = ud;
    uint8_t b[NGTCP2_MAX_CIDLEN];
    randombytes_buf(b, cidlen);
    ngtcp2_cid_init(cid, b, cidlen);
    if (ngtcp2_crypto_generate_stateless_reset_token(token, c->s->reset_secret,
                                                     sizeof c->s->reset_secret, cid) != 0 ||
        !cid_add(c, cid))
        return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static int cb_remove_cid(ngtcp2_conn *qc, const ngtcp2_cid *cid, void *ud)
{
    (void)qc;
    conn *c = ud;
    for (size_t i = 0; i < c->n_cids; i++)
        if (ngtcp2_cid_eq(&c->cids[i], cid)) {
            c->cids[i] = c->cids[--c->n_cids];
            break;
        }
    return 0;
}

static int cb_handshake_completed(ngtcp2_conn *qc, void *ud)
{
    (void)qc;
    conn *c = ud;
    if (pc_tls_session_check(c->tls, c->peer) != PC_OK) {
        c->key_rejected = true;
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    gnutls_datum_t p;
    if (gnutls_alpn_get_selected_protocol(c->tls, &p) != 0 || p.size == 0 ||
        p.size > PC_SESSION_ALPN_MAX_LEN)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    if (c->client && (strlen(c->alpn) != p.size || memcmp(c->alpn, p.data, p.size) != 0))
        return NGTCP2_ERR_CALLBACK_FAILURE;
    memcpy(c->alpn, p.data, p.size);
    c->alpn[p.size] = '\0';
    c->handshake_done = true;
    return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *qc, uint32_t flags, int64_t sid, uint64_t off,
                               const uint8_t *data, size_t len, void *ud, void *sud)
{
    (void)off;
    conn *c = ud;
    pc_stream *st = sud;
    if (st && !st->abort_wanted)
        c->s->cb.stream_data(st, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0, c->s->ud);
    /* everything is handed over at once, so the peer may send as much again */
    ngtcp2_conn_extend_max_stream_offset(qc, sid, len);
    ngtcp2_conn_extend_max_offset(qc, len);
    return 0;
}

static int cb_acked(ngtcp2_conn *qc, int64_t sid, uint64_t off, uint64_t len, void *ud, void *sud)
{
    (void)qc, (void)sid, (void)ud;
    pc_stream *st = sud;
    if (!st)
        return 0;
    if (off + len > st->acked)
        st->acked = off + len;
    while (st->head && st->head_off + st->head->len <= st->acked && st->head_off + st->head->len <= st->sent) {
        chunk *k = st->head;
        st->head_off += k->len;
        st->head = k->next;
        if (st->tail == k)
            st->tail = NULL;
        free(k);
    }
    return 0;
}

static int cb_stream_open(ngtcp2_conn *qc, int64_t sid, void *ud)
{
    conn *c = ud;
    if (!ngtcp2_is_bidi_stream(sid))
        return 0;
    pc_stream *st = stream_new(c->s, c->peer, c->alpn, false);
    if (!st)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    st->sid = sid;
    st->c = c;
    list_push(&c->streams, st);
    ngtcp2_conn_set_stream_user_data(qc, sid, st);
    c->s->cb.stream_opened(st, c->s->ud);
    return 0;
}

static int cb_stream_close(ngtcp2_conn *qc, uint32_t flags, int64_t sid, uint64_t code, void *ud,
                           void *sud)
{
    (void)ud;
    /* return the peer's stream credit, or a Go peer stalls at its 100th stream */
    if (!ngtcp2_conn_is_local_stream(qc, sid) && ngtcp2_is_bidi_stream(sid))
        ngtcp2_conn_extend_max_streams_bidi(qc, 1);
    pc_stream *st = sud;
    if (st) {
        bool reset = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) && code != 0;
        stream_finish(st, reset || st->abort_wanted ? PC_ERR_CLOSED : PC_OK);
    }
    return 0;
}

static int cb_extend_streams(ngtcp2_conn *qc, uint64_t max, void *ud)
{
    (void)qc, (void)max;
    ((conn *)ud)->s->again = true; /* unbound streams may open now */
    return 0;
}

static int verify_peer(gnutls_session_t tls)
{
    ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(tls);
    conn *c = ref->user_data;
    if (pc_tls_session_check(tls, c->peer) != PC_OK) {
        c->key_rejected = true;
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    return 0;
}

static void set_callbacks(ngtcp2_callbacks *cb, bool client)
{
    memset(cb, 0, sizeof *cb);
    if (client) {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    } else {
        cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->handshake_completed = cb_handshake_completed;
    cb->recv_stream_data = cb_recv_stream_data;
    cb->acked_stream_data_offset = cb_acked;
    cb->stream_open = cb_stream_open;
    cb->stream_close = cb_stream_close;
    cb->rand = cb_rand;
    cb->get_new_connection_id = cb_new_cid;
    cb->remove_connection_id = cb_remove_cid;
    cb->extend_max_local_streams_bidi = cb_extend_streams;
}

/* ---- connections ------------------------------------------------------------------- */

static void settings_params(const pc_session *s, ngtcp2_settings *st, ngtcp2_transport_params *p,
                            uint64_t now)
{
    ngtcp2_settings_default(st);
    st->initial_ts = now;
    st->max_tx_udp_payload_size = PC_SESSION_MAX_TX;
    st->no_pmtud = 1; /* with PMTUD ngtcp2 grows packets past 1200 (spec §8.1) */
    st->handshake_timeout = PC_SESSION_HANDSHAKE_MS * MS;
    /* quic-go's initial RTT guess (ngtcp2's is 333 ms): the first PTO comes after ~300 ms
     * instead of 1 s, which matters while a freshly joined node has no route yet and its
     * first Initials are dropped */
    st->initial_rtt = 100 * MS;
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_bidi_local = PC_SESSION_STREAM_WINDOW;
    p->initial_max_stream_data_bidi_remote = PC_SESSION_STREAM_WINDOW;
    p->initial_max_stream_data_uni = 0;
    p->initial_max_data = PC_SESSION_CONN_WINDOW;
    p->initial_max_streams_bidi = PC_SESSION_MAX_STREAMS;
    p->initial_max_streams_uni = 0;
    p->max_idle_timeout = s->idle_ns;
    p->max_udp_payload_size = PC_SESSION_MAX_RX;
    p->active_connection_id_limit = 4;
}

static int tls_setup(conn *c)
{
    pc_session *s = c->s;
    unsigned flags = c->client ? GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA
                               : GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA;
    if (gnutls_init(&c->tls, flags) < 0) {
        c->tls = NULL;
        return PC_ERR_TLS;
    }
    int rc = gnutls_priority_set_direct(c->tls, PC_TLS_PRIORITY, NULL);
    if (rc >= 0)
        rc = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, pc_tls_identity_creds(s->id));
    if (rc >= 0)
        rc = c->client ? ngtcp2_crypto_gnutls_configure_client_session(c->tls)
                       : ngtcp2_crypto_gnutls_configure_server_session(c->tls);
    if (rc >= 0) {
        if (c->client) {
            gnutls_datum_t d = {(unsigned char *)c->alpn, (unsigned)strlen(c->alpn)};
            rc = gnutls_alpn_set_protocols(c->tls, &d, 1, GNUTLS_ALPN_MANDATORY);
        } else {
            gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUIRE);
            rc = gnutls_alpn_set_protocols(c->tls, s->alpn_d, (unsigned)s->n_alpn,
                                           GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE);
        }
    }
    if (rc < 0)
        return PC_ERR_TLS;
    c->ref.get_conn = get_conn;
    c->ref.user_data = c;
    gnutls_session_set_ptr(c->tls, &c->ref);
    return PC_OK;
}

static conn *conn_alloc(pc_session *s, const uint8_t peer[PC_KEY_LEN], bool client, uint64_t now)
{
    if (s->n_conns >= PC_SESSION_MAX_CONNS)
        return NULL;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->s = s;
    c->client = client;
    c->created_at = now;
    memcpy(c->peer, peer, PC_KEY_LEN);
    struct sockaddr_in6 local = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
    struct sockaddr_in6 remote = {.sin6_family = AF_INET6, .sin6_port = htons(2)};
    ngtcp2_path_storage_init(&c->ps, (ngtcp2_sockaddr *)&local, sizeof local,
                             (ngtcp2_sockaddr *)&remote, sizeof remote, NULL);
    return c;
}

static void conn_destroy(conn *c)
{
    if (c->qc)
        ngtcp2_conn_del(c->qc);
    if (c->tls)
        gnutls_deinit(c->tls);
    free(c);
}

static void conn_link(pc_session *s, conn *c)
{
    c->next = s->conns;
    s->conns = c;
    s->n_conns++;
}

/* The ngtcp2 side of c is made: add TLS and list it (or free it on failure). */
static conn *conn_start(pc_session *s, conn *c)
{
    if (tls_setup(c) != PC_OK) {
        conn_destroy(c);
        return NULL;
    }
    ngtcp2_conn_set_tls_native_handle(c->qc, c->tls);
    conn_link(s, c);
    return c;
}

static conn *conn_dial(pc_session *s, const char *alpn, const uint8_t peer[PC_KEY_LEN], uint64_t now)
{
    conn *c = conn_alloc(s, peer, true, now);
    if (!c)
        return NULL;
    snprintf(c->alpn, sizeof c->alpn, "%s", alpn);
    uint8_t d[16], sc[PC_SESSION_CID_LEN];
    randombytes_buf(d, sizeof d);
    randombytes_buf(sc, sizeof sc);
    ngtcp2_cid dcid, scid;
    ngtcp2_cid_init(&dcid, d, sizeof d);
    ngtcp2_cid_init(&scid, sc, sizeof sc);
    cid_add(c, &scid);
    ngtcp2_callbacks cb;
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    set_callbacks(&cb, true);
    settings_params(s, &st, &p, now);
    if (ngtcp2_conn_client_new(&c->qc, &dcid, &scid, &c->ps.path, NGTCP2_PROTO_VER_V1, &cb, &st, &p,
                               NULL, c) != 0) {
        c->qc = NULL;
        conn_destroy(c);
        return NULL;
    }
    return conn_start(s, c);
}

static size_t conns_with(const pc_session *s, const uint8_t peer[PC_KEY_LEN])
{
    size_t n = 0;
    for (const conn *c = s->conns; c; c = c->next)
        n += !c->dead && memcmp(c->peer, peer, PC_KEY_LEN) == 0;
    return n;
}

static conn *conn_accept(pc_session *s, const uint8_t peer[PC_KEY_LEN], const uint8_t *data, size_t len,
                         uint64_t now)
{
    ngtcp2_pkt_hd hd;
    if (conns_with(s, peer) >= PC_SESSION_MAX_CONNS_PER_PEER || ngtcp2_accept(&hd, data, len) != 0)
        return NULL;
    conn *c = conn_alloc(s, peer, false, now);
    if (!c)
        return NULL;
    uint8_t sc[PC_SESSION_CID_LEN];
    randombytes_buf(sc, sizeof sc);
    ngtcp2_cid scid;
    ngtcp2_cid_init(&scid, sc, sizeof sc);
    cid_add(c, &scid);
    c->odcid = hd.dcid;
    c->has_odcid = true;
    ngtcp2_callbacks cb;
    ngtcp2_settings st;
    ngtcp2_transport_params p;
    set_callbacks(&cb, false);
    settings_params(s, &st, &p, now);
    p.original_dcid = hd.dcid;
    p.stateless_reset_token_present = 1;
    if (ngtcp2_crypto_generate_stateless_reset_token(p.stateless_reset_token, s->reset_secret,
                                                     sizeof s->reset_secret, &scid) != 0 ||
        ngtcp2_conn_server_new(&c->qc, &hd.scid, &scid, &c->ps.path, hd.version, &cb, &st, &p, NULL,
                               c) != 0) {
        c->qc = NULL;
        conn_destroy(c);
        return NULL;
    }
    return conn_start(s, c);
}

/* Marks the connection dead; flush sends the close (if asked), fails its streams, frees. */
static void conn_kill(conn *c, int err, bool send_close, uint64_t app_code, const char *reason)
{
    if (c->dead)
        return;
    c->dead = true;
    c->dead_err = err;
    c->send_close = send_close;
    ngtcp2_connection_close_error_set_application_error(&c->ccerr, app_code, (const uint8_t *)reason,
                                                        reason ? strlen(reason) : 0);
    c->s->again = true;
}

static void conn_fail(conn *c, int liberr)
{
    int err = PC_ERR_QUIC;
    if (liberr == NGTCP2_ERR_DRAINING || liberr == NGTCP2_ERR_CLOSING)
        err = PC_ERR_CLOSED;
    else if (liberr == NGTCP2_ERR_IDLE_CLOSE || liberr == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
        err = PC_ERR_TIMEOUT;
    else if (c->key_rejected)
        err = PC_ERR_PEER_KEY;
    else if (liberr == NGTCP2_ERR_CRYPTO || !c->established)
        err = PC_ERR_TLS;
    bool send = err != PC_ERR_CLOSED && err != PC_ERR_TIMEOUT && liberr != NGTCP2_ERR_DROP_CONN;
    conn_kill(c, err, send, 0, NULL);
    if (liberr == NGTCP2_ERR_CRYPTO)
        ngtcp2_connection_close_error_set_transport_error_tls_alert(
            &c->ccerr, ngtcp2_conn_get_tls_alert(c->qc), NULL, 0);
    else if (send)
        ngtcp2_connection_close_error_set_transport_error_liberr(&c->ccerr, liberr, NULL, 0);
}

static bool conn_live(const conn *c) { return !c->dead; }

/* A handshake just completed: keep one connection per (ALPN, peer), then announce it. */
static void conn_established(pc_session *s, conn *c, uint64_t now)
{
    c->established = true;
    for (conn *o = s->conns; o; o = o->next) {
        if (o == c || !conn_live(o) || memcmp(o->peer, c->peer, PC_KEY_LEN) != 0 ||
            (o->established && strcmp(o->alpn, c->alpn) != 0))
            continue;
        if (!o->established && !o->client)
            continue; /* an accepted one still handshaking: its ALPN is unknown yet */
        if (!o->established && strcmp(o->alpn, c->alpn) != 0)
            continue;
        bool race = o->client != c->client && now - o->created_at < PC_SESSION_RACE_MS * MS;
        conn *loser = o;
        if (race) {
            /* both sides dialled at once: the connection dialled by the lower key wins
             * on both nodes, so exactly one survives */
            bool we_lower = memcmp(s->key, c->peer, PC_KEY_LEN) < 0;
            conn *ours = c->client ? c : o;
            loser = we_lower ? (ours == c ? o : c) : ours;
        }
        conn_kill(loser, PC_ERR_CLOSED, true, 0, "connection replaced");
        if (loser == c)
            return;
    }
    if (s->cb.conn_event)
        s->cb.conn_event(c->peer, c->alpn, c->client, true, PC_OK, s->ud);
}

static conn *conn_by_cid(pc_session *s, const uint8_t *cid, size_t len)
{
    for (conn *c = s->conns; c; c = c->next) {
        if (!conn_live(c))
            continue;
        for (size_t i = 0; i < c->n_cids; i++)
            if (c->cids[i].datalen == len && memcmp(c->cids[i].data, cid, len) == 0)
                return c;
        if (c->has_odcid && c->odcid.datalen == len && memcmp(c->odcid.data, cid, len) == 0)
            return c;
    }
    return NULL;
}

static void send_stateless_reset(pc_session *s, const uint8_t dest[PC_KEY_LEN], const pc_quic_hdr *h,
                                 size_t len)
{
    /* strictly shorter than what triggered it, so two nodes cannot loop forever */
    if (len < 41 || h->dcid_len != PC_SESSION_CID_LEN)
        return;
    ngtcp2_cid cid;
    ngtcp2_cid_init(&cid, h->dcid, h->dcid_len);
    uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rnd[40], out[64];
    if (ngtcp2_crypto_generate_stateless_reset_token(token, s->reset_secret, sizeof s->reset_secret,
                                                     &cid) != 0)
        return;
    size_t rlen = len - 18 < sizeof rnd ? len - 18 : sizeof rnd;
    randombytes_buf(rnd, rlen);
    ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(out, sizeof out, token, rnd, rlen);
    if (n > 0)
        s->cb.send_datagram(dest, out, (size_t)n, s->ud);
}

/* A client started with a version we do not speak (e.g. QUIC v2): tell it we speak v1.
 * Only for datagrams of a client's first-flight size, so it cannot amplify. */
static void send_version_negotiation(pc_session *s, const uint8_t dest[PC_KEY_LEN], const pc_quic_hdr *h,
                                     size_t len)
{
    if (!h->long_header || len < PC_SESSION_MAX_TX)
        return;
    static const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
    uint8_t out[256], rnd;
    randombytes_buf(&rnd, 1);
    ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(out, sizeof out, rnd, h->scid, h->scid_len, h->dcid,
                                                          h->dcid_len, versions, 1);
    if (n > 0)
        s->cb.send_datagram(dest, out, (size_t)n, s->ud);
}

/* ---- public: lifecycle ---------------------------------------------------------------- */

int pc_session_new(pc_session **out, const uint8_t seed[PC_SEED_LEN], const pc_session_config *cfg,
                   const pc_session_callbacks *cb, void *user_data, int64_t now_unix)
{
    if (!cfg || !cfg->alpn[0] || !cb || !cb->send_datagram || !cb->stream_opened || !cb->stream_data ||
        !cb->stream_closed)
        return PC_ERR_INVALID;
    pc_session *s = calloc(1, sizeof *s);
    if (!s)
        return PC_ERR_NOMEM;
    s->cb = *cb;
    s->ud = user_data;
    for (size_t i = 0; i < PC_SESSION_MAX_ALPN && cfg->alpn[i]; i++) {
        size_t l = strlen(cfg->alpn[i]);
        if (l == 0 || l > PC_SESSION_ALPN_MAX_LEN) {
            free(s);
            return PC_ERR_INVALID;
        }
        memcpy(s->alpn[i], cfg->alpn[i], l + 1);
        s->alpn_d[i] = (gnutls_datum_t){(unsigned char *)s->alpn[i], (unsigned)l};
        s->n_alpn++;
    }
    s->idle_ns = (cfg->idle_timeout_ms ? cfg->idle_timeout_ms : PC_SESSION_IDLE_MS) * MS;
    int rc = pc_tls_identity_new(&s->id, seed, now_unix);
    if (rc != PC_OK) {
        free(s);
        return rc;
    }
    memcpy(s->key, pc_tls_identity_key(s->id), PC_KEY_LEN);
    /* derived from the seed so that a restarted node can reset its old connections */
    crypto_generichash(s->reset_secret, sizeof s->reset_secret, seed, PC_SEED_LEN, reset_label,
                       sizeof reset_label - 1);
    gnutls_certificate_set_verify_function(pc_tls_identity_creds(s->id), verify_peer);
    *out = s;
    return PC_OK;
}

static void flush_dead(pc_session *s, uint64_t now);

void pc_session_free(pc_session *s, uint64_t now_ns)
{
    if (!s)
        return;
    for (conn *c = s->conns; c; c = c->next)
        conn_kill(c, PC_ERR_CLOSED, true, 0, "shutting down");
    flush_dead(s, now_ns);
    while (s->unbound)
        stream_finish(s->unbound, PC_ERR_CLOSED);
    pc_tls_identity_free(s->id);
    sodium_memzero(s->reset_secret, sizeof s->reset_secret);
    free(s);
}

const uint8_t *pc_session_public_key(const pc_session *s) { return s->key; }

size_t pc_session_conn_count(const pc_session *s) { return s->n_conns; }

/* ---- input ---------------------------------------------------------------------------- */

void pc_session_recv(pc_session *s, const uint8_t src[PC_KEY_LEN], const uint8_t *data, size_t len,
                     uint64_t now)
{
    if (len == 0 || len > PC_SESSION_MAX_RX || memcmp(src, s->key, PC_KEY_LEN) == 0)
        return;
    pc_quic_hdr h;
    int hrc = pc_quic_hdr_parse(data, len, PC_SESSION_CID_LEN, &h);
    if (hrc == PC_ERR_QUIC) {
        send_version_negotiation(s, src, &h, len);
        return;
    }
    if (hrc != PC_OK)
        return;
    conn *c = conn_by_cid(s, h.dcid, h.dcid_len);
    if (c && memcmp(c->peer, src, PC_KEY_LEN) != 0)
        return; /* a CID of another peer's connection: not this sender's to use */
    if (!c) {
        if (h.type == PC_QUIC_INITIAL)
            c = conn_accept(s, src, data, len, now);
        else if (h.type == PC_QUIC_SHORT)
            send_stateless_reset(s, src, &h, len);
        if (!c)
            return;
    }
    ngtcp2_pkt_info pi = {0};
    int rc = ngtcp2_conn_read_pkt(c->qc, &c->ps.path, &pi, data, len, now);
    if (rc != 0) {
        conn_fail(c, rc);
        return;
    }
    if (c->handshake_done && !c->established)
        conn_established(s, c, now);
}

/* ---- output ----------------------------------------------------------------------------- */

static bool stream_sendable(const pc_stream *st)
{
    return st->sid >= 0 && !st->blocked && !st->abort_wanted &&
           (st->sent < st->written || (st->fin_wanted && !st->fin_sent));
}

/* The contiguous unsent bytes starting at st->sent. */
static void stream_pending(const pc_stream *st, ngtcp2_vec *v)
{
    v->base = NULL;
    v->len = 0;
    uint64_t off = st->head_off;
    for (chunk *k = st->head; k; k = k->next) {
        if (st->sent < off + k->len) {
            v->base = k->data + (st->sent - off);
            v->len = (size_t)(off + k->len - st->sent);
            return;
        }
        off += k->len;
    }
}

static void stream_advance(pc_stream *st, ngtcp2_ssize n, bool fin)
{
    if (n > 0)
        st->sent += (uint64_t)n;
    if (fin && st->sent == st->written)
        st->fin_sent = true;
}

static int conn_write(pc_session *s, conn *c, uint64_t now)
{
    uint8_t buf[PC_SESSION_MAX_TX];
    for (pc_stream *st = c->streams; st; st = st->next)
        st->blocked = false;
    int pkts = 0;
    for (int guard = 0; guard < 4 * MAX_PKTS_PER_FLUSH + 64; guard++) {
        if (pkts == MAX_PKTS_PER_FLUSH) {
            s->again = true;
            break;
        }
        pc_stream *st = c->streams;
        while (st && !stream_sendable(st))
            st = st->next;
        ngtcp2_vec v = {0};
        uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
        int64_t sid = -1;
        if (st) {
            sid = st->sid;
            stream_pending(st, &v);
            if (st->fin_wanted && st->sent + v.len == st->written)
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize ndatalen = -1;
        ngtcp2_pkt_info pi = {0};
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->qc, &c->ps.path, &pi, buf, sizeof buf, &ndatalen,
                                                   flags, sid, v.len ? &v : NULL, v.len ? 1 : 0, now);
        if (n < 0) {
            if (n == NGTCP2_ERR_WRITE_MORE) {
                if (st && ndatalen > 0)
                    stream_advance(st, ndatalen, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
                else if (st && ndatalen == 0 && !(flags & NGTCP2_WRITE_STREAM_FLAG_FIN))
                    st->blocked = true;
                else if (st)
                    stream_advance(st, 0, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
                continue;
            }
            if (st && (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
                       n == NGTCP2_ERR_STREAM_NOT_FOUND)) {
                st->blocked = true;
                continue;
            }
            return (int)n;
        }
        if (st && ndatalen >= 0)
            stream_advance(st, ndatalen, flags & NGTCP2_WRITE_STREAM_FLAG_FIN);
        if (n == 0)
            break;
        s->cb.send_datagram(c->peer, buf, (size_t)n, s->ud);
        pkts++;
    }
    return 0;
}

static void flush_dead(pc_session *s, uint64_t now)
{
    for (conn **pp = &s->conns; *pp;) {
        conn *c = *pp;
        if (!c->dead) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        s->n_conns--;
        if (c->send_close && c->qc && !ngtcp2_conn_is_in_draining_period(c->qc) &&
            !ngtcp2_conn_is_in_closing_period(c->qc)) {
            uint8_t buf[PC_SESSION_MAX_TX];
            ngtcp2_pkt_info pi = {0};
            ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->qc, &c->ps.path, &pi, buf, sizeof buf,
                                                                &c->ccerr, now);
            if (n > 0)
                s->cb.send_datagram(c->peer, buf, (size_t)n, s->ud);
        }
        while (c->streams)
            stream_finish(c->streams, c->dead_err);
        /* streams still waiting for this pair fail too, unless another connection lives */
        bool other = false;
        for (conn *o = s->conns; o; o = o->next)
            if (conn_live(o) && memcmp(o->peer, c->peer, PC_KEY_LEN) == 0 &&
                (strcmp(o->alpn, c->alpn) == 0 || (!o->client && !o->established)))
                other = true;
        if (!other && !c->established)
            for (pc_stream *st = s->unbound, *n; st; st = n) {
                n = st->next;
                if (memcmp(st->peer, c->peer, PC_KEY_LEN) == 0 && strcmp(st->alpn, c->alpn) == 0)
                    stream_finish(st, c->dead_err);
            }
        if (s->cb.conn_event && (c->established || c->client))
            s->cb.conn_event(c->peer, c->alpn, c->client, false, c->dead_err, s->ud);
        conn_destroy(c);
    }
}

static conn *conn_for(pc_session *s, const char *alpn, const uint8_t peer[PC_KEY_LEN])
{
    conn *pending = NULL;
    for (conn *c = s->conns; c; c = c->next) {
        if (!conn_live(c) || memcmp(c->peer, peer, PC_KEY_LEN) != 0 || strcmp(c->alpn, alpn) != 0)
            continue;
        if (c->established)
            return c;
        pending = c;
    }
    return pending;
}

static void bind_streams(pc_session *s, uint64_t now)
{
    for (pc_stream *st = s->unbound, *next; st; st = next) {
        next = st->next;
        if (st->abort_wanted) {
            stream_finish(st, PC_ERR_CLOSED);
            continue;
        }
        conn *c = conn_for(s, st->alpn, st->peer);
        if (!c) {
            c = conn_dial(s, st->alpn, st->peer, now);
            if (!c) {
                stream_finish(st, PC_ERR_NOMEM);
                continue;
            }
        }
        if (!c->established)
            continue;
        int64_t sid;
        int rc = ngtcp2_conn_open_bidi_stream(c->qc, &sid, st);
        if (rc == NGTCP2_ERR_STREAM_ID_BLOCKED)
            continue;
        if (rc != 0) {
            stream_finish(st, PC_ERR_QUIC);
            continue;
        }
        list_del(&s->unbound, st);
        st->sid = sid;
        st->c = c;
        list_push(&c->streams, st);
    }
}

static void do_aborts(conn *c)
{
    for (pc_stream *st = c->streams; st; st = st->next)
        if (st->abort_wanted && !st->abort_sent) {
            st->abort_sent = true;
            ngtcp2_conn_shutdown_stream(c->qc, st->sid, st->abort_code);
        }
}

void pc_session_flush(pc_session *s, uint64_t now)
{
    s->again = false;
    flush_dead(s, now);
    bind_streams(s, now);
    for (conn *c = s->conns; c; c = c->next) {
        if (c->dead)
            continue;
        do_aborts(c);
        int rc = conn_write(s, c, now);
        if (rc != 0)
            conn_fail(c, rc);
    }
    if (s->again) {
        bool dead = false;
        for (conn *c = s->conns; c; c = c->next)
            dead |= c->dead;
        if (dead)
            flush_dead(s, now);
    }
}

uint64_t pc_session_next_deadline(const pc_session *s)
{
    if (s->again)
        return 0;
    uint64_t d = UINT64_MAX;
    for (conn *c = s->conns; c; c = c->next) {
        if (c->dead)
            return 0;
        uint64_t e = ngtcp2_conn_get_expiry(c->qc);
        if (e < d)
            d = e;
    }
    return d;
}

void pc_session_handle_timeout(pc_session *s, uint64_t now)
{
    for (conn *c = s->conns; c; c = c->next) {
        if (c->dead || ngtcp2_conn_get_expiry(c->qc) > now)
            continue;
        int rc = ngtcp2_conn_handle_expiry(c->qc, now);
        if (rc != 0)
            conn_fail(c, rc);
    }
    pc_session_flush(s, now);
}

/* ---- streams ------------------------------------------------------------------------------ */

int pc_session_open_stream(pc_session *s, const char *alpn, const uint8_t key[PC_KEY_LEN], pc_stream **out)
{
    if (!alpn || !*alpn || strlen(alpn) > PC_SESSION_ALPN_MAX_LEN || memcmp(key, s->key, PC_KEY_LEN) == 0)
        return PC_ERR_INVALID;
    pc_stream *st = stream_new(s, key, alpn, true);
    if (!st)
        return PC_ERR_NOMEM;
    list_push(&s->unbound, st);
    s->again = true;
    *out = st;
    return PC_OK;
}

int pc_stream_write(pc_stream *st, const uint8_t *data, size_t len)
{
    if (st->fin_wanted || st->abort_wanted)
        return PC_ERR_CLOSED;
    while (len) {
        if (!st->tail || st->tail->len == CHUNK_CAP) {
            chunk *k = malloc(sizeof *k);
            if (!k)
                return PC_ERR_NOMEM;
            k->next = NULL;
            k->len = 0;
            if (st->tail)
                st->tail->next = k;
            else {
                st->head = k;
                st->head_off = st->written;
            }
            st->tail = k;
        }
        size_t n = CHUNK_CAP - st->tail->len;
        if (n > len)
            n = len;
        memcpy(st->tail->data + st->tail->len, data, n);
        st->tail->len += n;
        st->written += n;
        data += n;
        len -= n;
    }
    st->s->again = true;
    return PC_OK;
}

void pc_stream_shutdown(pc_stream *st)
{
    st->fin_wanted = true;
    st->s->again = true;
}

void pc_stream_abort(pc_stream *st, uint64_t code)
{
    if (st->abort_wanted)
        return;
    st->abort_wanted = true;
    st->abort_code = code;
    st->s->again = true;
}

size_t pc_stream_unacked(const pc_stream *st) { return (size_t)(st->written - st->acked); }
void pc_stream_set_user(pc_stream *st, void *p) { st->user = p; }
void *pc_stream_user(const pc_stream *st) { return st->user; }
const uint8_t *pc_stream_peer(const pc_stream *st) { return st->peer; }
const char *pc_stream_alpn(const pc_stream *st) { return st->alpn; }
bool pc_stream_is_local(const pc_stream *st) { return st->local; }
bool pc_stream_was_opened(const pc_stream *st) { return st->sid >= 0; }
