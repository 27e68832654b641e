/* pc_tls: node certificate from the Pinecone seed, and the "exactly this key" peer check.
 * Everything goes through GnuTLS's X.509 and abstract-key APIs; the check compares raw
 * Ed25519 public keys and nothing else (see pc_tls.h for why). */
#include "pinecone/pc_tls.h"

#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pinecone/pc_err.h"

/* RFC 8410 PrivateKeyInfo for Ed25519, up to the 32 seed bytes. */
static const uint8_t pkcs8_ed25519_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                                 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};

struct pc_tls_identity {
    gnutls_certificate_credentials_t creds;
    uint8_t key[PC_KEY_LEN];
    uint8_t *der;
    size_t der_len;
};

static int make_cert(gnutls_x509_crt_t crt, gnutls_privkey_t priv, const char *hex, int64_t now)
{
    gnutls_pubkey_t pub;
    if (gnutls_pubkey_init(&pub) < 0)
        return -1;
    static const uint8_t serial = 1;
    int rc = gnutls_pubkey_import_privkey(pub, priv, 0, 0);
    if (rc >= 0) rc = gnutls_x509_crt_set_version(crt, 3);
    if (rc >= 0) rc = gnutls_x509_crt_set_serial(crt, &serial, 1);
    if (rc >= 0) rc = gnutls_x509_crt_set_activation_time(crt, (time_t)(now - 86400));
    if (rc >= 0) rc = gnutls_x509_crt_set_expiration_time(crt, (time_t)(now + 365 * 86400));
    if (rc >= 0) rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, hex, 64);
    if (rc >= 0) rc = gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, hex, 64);
    if (rc >= 0) rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, hex, 64, GNUTLS_FSAN_SET);
    if (rc >= 0) rc = gnutls_x509_crt_set_pubkey(crt, pub);
    /* digest 0: the key's own (Ed25519 is pure, no separate hash) */
    if (rc >= 0) rc = gnutls_x509_crt_privkey_sign(crt, crt, priv, 0, 0);
    gnutls_pubkey_deinit(pub);
    return rc;
}

int pc_tls_identity_new(pc_tls_identity **out, const uint8_t seed[PC_SEED_LEN], int64_t now_unix)
{
    pc_tls_identity *id = calloc(1, sizeof *id);
    if (!id)
        return PC_ERR_NOMEM;
    uint8_t blob[sizeof pkcs8_ed25519_prefix + PC_SEED_LEN];
    memcpy(blob, pkcs8_ed25519_prefix, sizeof pkcs8_ed25519_prefix);
    memcpy(blob + sizeof pkcs8_ed25519_prefix, seed, PC_SEED_LEN);
    gnutls_datum_t kd = {blob, sizeof blob};

    gnutls_x509_privkey_t xkey = NULL;
    gnutls_privkey_t priv = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t der = {NULL, 0};
    gnutls_datum_t x = {NULL, 0};
    int rc = gnutls_x509_privkey_init(&xkey);
    if (rc >= 0) rc = gnutls_x509_privkey_import_pkcs8(xkey, &kd, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN);
    if (rc >= 0) rc = gnutls_privkey_init(&priv);
    if (rc >= 0) rc = gnutls_privkey_import_x509(priv, xkey, GNUTLS_PRIVKEY_IMPORT_COPY);
    if (rc >= 0) rc = gnutls_privkey_export_ecc_raw2(priv, NULL, &x, NULL, NULL, 0);
    if (rc >= 0 && x.size != PC_KEY_LEN)
        rc = -1;
    if (rc >= 0) {
        memcpy(id->key, x.data, PC_KEY_LEN);
        char hex[2 * PC_KEY_LEN + 1];
        sodium_bin2hex(hex, sizeof hex, id->key, PC_KEY_LEN);
        rc = gnutls_x509_crt_init(&crt);
        if (rc >= 0) rc = make_cert(crt, priv, hex, now_unix);
    }
    if (rc >= 0) rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
    if (rc >= 0) rc = gnutls_certificate_allocate_credentials(&id->creds);
    /* copies the certificate and key into the credentials */
    if (rc >= 0) rc = gnutls_certificate_set_x509_key(id->creds, &crt, 1, xkey);
    if (rc >= 0) {
        id->der = malloc(der.size);
        if (!id->der)
            rc = GNUTLS_E_MEMORY_ERROR;
        else {
            memcpy(id->der, der.data, der.size);
            id->der_len = der.size;
        }
    }
    sodium_memzero(blob, sizeof blob);
    gnutls_free(x.data);
    gnutls_free(der.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (priv)
        gnutls_privkey_deinit(priv);
    if (xkey)
        gnutls_x509_privkey_deinit(xkey);
    if (rc < 0) {
        pc_tls_identity_free(id);
        return rc == GNUTLS_E_MEMORY_ERROR ? PC_ERR_NOMEM : PC_ERR_TLS;
    }
    *out = id;
    return PC_OK;
}

void pc_tls_identity_free(pc_tls_identity *id)
{
    if (!id)
        return;
    if (id->creds)
        gnutls_certificate_free_credentials(id->creds);
    free(id->der);
    free(id);
}

gnutls_certificate_credentials_t pc_tls_identity_creds(const pc_tls_identity *id) { return id->creds; }

const uint8_t *pc_tls_identity_key(const pc_tls_identity *id) { return id->key; }

const uint8_t *pc_tls_identity_cert_der(const pc_tls_identity *id, size_t *len)
{
    *len = id->der_len;
    return id->der;
}

int pc_tls_cert_key_check(const uint8_t *der, size_t len, const uint8_t key[PC_KEY_LEN])
{
    if (!der || len == 0 || len > 65535)
        return PC_ERR_TLS;
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return PC_ERR_NOMEM;
    gnutls_datum_t d = {(unsigned char *)der, (unsigned)len};
    int result = PC_ERR_TLS;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0) {
        result = PC_ERR_PEER_KEY;
        if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) == GNUTLS_PK_EDDSA_ED25519) {
            gnutls_datum_t x = {NULL, 0};
            if (gnutls_x509_crt_get_pk_ecc_raw(crt, NULL, &x, NULL) >= 0 && x.size == PC_KEY_LEN &&
                sodium_memcmp(x.data, key, PC_KEY_LEN) == 0)
                result = PC_OK;
            gnutls_free(x.data);
        }
    }
    gnutls_x509_crt_deinit(crt);
    return result;
}

int pc_tls_session_check(gnutls_session_t s, const uint8_t key[PC_KEY_LEN])
{
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    if (!certs || n != 1)
        return PC_ERR_PEER_KEY;
    return pc_tls_cert_key_check(certs[0].data, certs[0].size, key);
}
