/* pc_tls: the TLS identity of a node for QUIC sessions and the peer-key check.
 *
 * Identity (spec §8.3): a self-signed X.509 v3 certificate whose subject key is the node's
 * Pinecone Ed25519 key, signed with that key; serial 1; subject and issuer CN and DNS SAN =
 * the 64-hex public key; valid for one year. The private key is built from the 32-byte
 * seed through an unencrypted PKCS#8 blob (GnuTLS 3.7's raw Ed25519 import crashes or
 * derives a wrong public half; see quic-over-pinecone-notes.md pitfall 2).
 *
 * Peer check: a peer is accepted only if it presented exactly one certificate that
 * carries an Ed25519 key equal to the Pinecone key the connection is with. Chains, dates,
 * names and the certificate's own signature are deliberately not checked, as Go's
 * pinecone does not check them either: the key equality is the whole trust decision.
 *
 * No sockets or QUIC here; pc_session wires these into its GnuTLS sessions. */
#ifndef PC_TLS_H
#define PC_TLS_H

#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>

#include "pinecone/pc_wire.h"

/* TLS 1.3 only (quic-go refuses a client offering less); ngtcp2's example priority. */
#define PC_TLS_PRIORITY                                                                    \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:" \
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"         \
    "%DISABLE_TLS13_COMPAT_MODE"

typedef struct pc_tls_identity pc_tls_identity;

/* Builds the identity for `seed`: key, certificate (validity from now_unix - 1 day to
 * now_unix + 365 days) and a GnuTLS credentials object holding both. Returns PC_OK and
 * *out (free with pc_tls_identity_free), PC_ERR_TLS when GnuTLS refuses a step, or
 * PC_ERR_NOMEM. */
int pc_tls_identity_new(pc_tls_identity **out, const uint8_t seed[PC_SEED_LEN], int64_t now_unix);

/* Frees the identity. NULL is allowed. Sessions using its credentials must be gone. */
void pc_tls_identity_free(pc_tls_identity *id);

/* The credentials to put on a GnuTLS session (owned by the identity). */
gnutls_certificate_credentials_t pc_tls_identity_creds(const pc_tls_identity *id);

/* The public key the identity was made for (owned by the identity). */
const uint8_t *pc_tls_identity_key(const pc_tls_identity *id);

/* The DER of the identity's certificate (owned by the identity; *len set). */
const uint8_t *pc_tls_identity_cert_der(const pc_tls_identity *id, size_t *len);

/* Pure check of one DER certificate: PC_OK when it parses and its subject key is Ed25519
 * and equals `key`; PC_ERR_PEER_KEY when it is a different key or another algorithm;
 * PC_ERR_TLS when the DER does not parse. */
int pc_tls_cert_key_check(const uint8_t *der, size_t len, const uint8_t key[PC_KEY_LEN]);

/* The check on a live session after (or during) the handshake: exactly one certificate
 * presented, passing pc_tls_cert_key_check. Same return codes (PC_ERR_PEER_KEY also for
 * zero or several certificates). */
int pc_tls_session_check(gnutls_session_t s, const uint8_t key[PC_KEY_LEN]);

#endif
