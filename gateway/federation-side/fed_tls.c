/* fed_tls: OpenSSL 3 EVP/X509 APIs. ECDSA P-256 rather than Ed25519 for the TLS
 * certificate, because TLS 1.2 peers and older Synapse/Twisted stacks do not accept
 * Ed25519 certificates; the server's Matrix signing key is separate and stays ed25519. */
#include "federation-side/fed_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PEM_BYTES (256 * 1024)

static void ssl_reason(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, e ? buf : "unknown OpenSSL error");
    ERR_clear_error();
}

static void host_of(const char *server_name, char *out, size_t len)
{
    const char *s = server_name;
    if (s[0] == '[') { /* [v6]:port */
        const char *end = strchr(s, ']');
        snprintf(out, len, "%.*s", end ? (int)(end - s - 1) : (int)strlen(s + 1), s + 1);
        return;
    }
    snprintf(out, len, "%s", s);
    char *colon = strchr(out, ':');
    if (colon && !strchr(colon + 1, ':')) *colon = '\0';
}

static int write_file(const char *path, mode_t mode, const char *data, size_t n, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int ok = write(fd, data, n) == (ssize_t)n && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        unlink(path);
        snprintf(err, errlen, "%s: write failed", path);
        return -1;
    }
    return 0;
}

/* PEM-encodes with a memory BIO; returns a malloc'd string. */
static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!out) return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

int fed_tls_generate_self_signed(const char *server_name, int days, const char *cert_path, const char *key_path,
                                 char *err, size_t errlen)
{
    int rc = -1;
    char host[256];
    host_of(server_name, host, sizeof host);
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
    char *key_pem = NULL, *cert_pem = NULL;
    if (!pkey || !x || !kb || !cb) {
        ssl_reason(err, errlen, "cannot create the TLS key");
        goto out;
    }
    /* A random serial: clients cache certificates by issuer+serial, and regenerated
     * test certificates must not collide. */
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (RAND_bytes(serial, sizeof serial) != 1 || !(bn = BN_bin2bn(serial, sizeof serial, NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
        BN_free(bn);
        ssl_reason(err, errlen, "cannot make a certificate serial");
        goto out;
    }
    BN_free(bn);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)host, -1, -1, 0);
    X509_set_issuer_name(x, name);
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    char san[300];
    snprintf(san, sizeof san, "%s:%s", is_ip ? "IP" : "DNS", host);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    if (!ext || !X509_add_ext(x, ext, -1)) {
        X509_EXTENSION_free(ext);
        ssl_reason(err, errlen, "cannot add subjectAltName");
        goto out;
    }
    X509_EXTENSION_free(ext);
    if (!X509_sign(x, pkey, EVP_sha256())) {
        ssl_reason(err, errlen, "cannot sign the certificate");
        goto out;
    }
    if (!PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) || !PEM_write_bio_X509(cb, x) ||
        !(key_pem = bio_string(kb)) || !(cert_pem = bio_string(cb))) {
        ssl_reason(err, errlen, "cannot encode the certificate");
        goto out;
    }
    if (write_file(key_path, 0600, key_pem, strlen(key_pem), err, errlen) != 0) goto out;
    if (write_file(cert_path, 0644, cert_pem, strlen(cert_pem), err, errlen) != 0) {
        unlink(key_path);
        goto out;
    }
    rc = 0;
out:
    if (key_pem) OPENSSL_cleanse(key_pem, strlen(key_pem));
    free(key_pem);
    free(cert_pem);
    BIO_free(kb);
    BIO_free(cb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_PEM_BYTES + 1);
    size_t n = buf ? fread(buf, 1, MAX_PEM_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || n > MAX_PEM_BYTES || n == 0) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, n == 0 ? "empty file" : "larger than 256 KiB; not a PEM file");
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int fed_tls_load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem, char *err,
                 size_t errlen)
{
    *cert_pem = *key_pem = NULL;
    char *cp = read_pem(cert_path, err, errlen);
    if (!cp) return -1;
    char *kp = read_pem(key_path, err, errlen);
    if (!kp) {
        free(cp);
        return -1;
    }
    int rc = -1;
    BIO *cb = BIO_new_mem_buf(cp, -1), *kb = BIO_new_mem_buf(kp, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *pkey = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    char what[4200];
    if (!x) {
        snprintf(what, sizeof what, "%s: not a PEM certificate", cert_path);
        ssl_reason(err, errlen, what);
    } else if (!pkey) {
        snprintf(what, sizeof what, "%s: not a PEM private key", key_path);
        ssl_reason(err, errlen, what);
    } else if (X509_check_private_key(x, pkey) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s does not belong to the certificate in %s", key_path, cert_path);
    } else {
        rc = 0;
        if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
            snprintf(err, errlen, "the certificate in %s has expired; peers that check certificates will refuse it",
                     cert_path);
            rc = 1;
        }
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    BIO_free(cb);
    BIO_free(kb);
    if (rc < 0) {
        OPENSSL_cleanse(kp, strlen(kp));
        free(kp);
        free(cp);
        return -1;
    }
    *cert_pem = cp;
    *key_pem = kp;
    return rc;
}
