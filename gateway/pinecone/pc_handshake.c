/* pc_handshake: builds and checks the 104-byte Pinecone handshake (see pc_handshake.h).
 * Bytes 1..3 are ignored on receipt, as Go does. */
#include "pinecone/pc_handshake.h"

#include <sodium.h>
#include <string.h>

int pc_keypair_from_seed(const uint8_t seed[PC_SEED_LEN], uint8_t pk[PC_KEY_LEN],
                         uint8_t sk[PC_SECRET_KEY_LEN])
{
    if (sodium_init() < 0)
        return PC_ERR_NOMEM;
    crypto_sign_seed_keypair(pk, sk, seed);
    return PC_OK;
}

void pc_handshake_encode(const uint8_t sk[PC_SECRET_KEY_LEN], uint8_t out[PC_HANDSHAKE_LEN])
{
    memset(out, 0, 8);
    out[0] = PC_PROTOCOL_VERSION;
    out[7] = (uint8_t)PC_CAPABILITIES;
    memcpy(out + 8, sk + PC_SEED_LEN, PC_KEY_LEN);
    crypto_sign_detached(out + 40, NULL, out, 40, sk);
}

int pc_handshake_decode(const uint8_t *in, size_t len, uint8_t peer_key[PC_KEY_LEN])
{
    if (len != PC_HANDSHAKE_LEN)
        return PC_ERR_TRUNCATED;
    if (in[0] != PC_PROTOCOL_VERSION)
        return PC_ERR_HS_VERSION;
    uint32_t caps = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 | (uint32_t)in[6] << 8 | in[7];
    if (caps != PC_CAPABILITIES)
        return PC_ERR_HS_CAPS;
    if (crypto_sign_verify_detached(in + 40, in, 40, in + 8) != 0)
        return PC_ERR_SIGNATURE;
    memcpy(peer_key, in + 8, PC_KEY_LEN);
    return PC_OK;
}
