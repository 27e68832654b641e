/* fed_tls: TLS material for the federation listener. Synapse federates only over
 * HTTPS, so even a test server needs a certificate: this module makes a self-signed
 * one and checks operator-supplied ones before the listener uses them. */
#ifndef FED_TLS_H
#define FED_TLS_H

#include <stddef.h>

/* Writes a new ECDSA P-256 key (mode 0600) and a self-signed certificate for
 * `server_name`'s host (CN and subjectAltName; IP literals become IP SANs), valid for
 * `days`. Refuses to overwrite existing files. Returns 0, or -1 with a reason in err. */
int fed_tls_generate_self_signed(const char *server_name, int days, const char *cert_path, const char *key_path,
                                 char *err, size_t errlen);

/* Reads a PEM certificate chain and key, checks that they parse and that the key
 * belongs to the first certificate, and warns (via err, returning 1) when the
 * certificate has expired. On success *cert_pem and *key_pem are malloc'd strings the
 * caller frees. Returns 0 (ok), 1 (ok but expired: err says so), or -1 with a reason. */
int fed_tls_load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem, char *err,
                 size_t errlen);

#endif
