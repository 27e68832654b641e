/* The simulator's signature memo must be invisible: the same network with the memo and
 * with plain libsodium checks ends in the same state, and a forged signature over bytes
 * whose genuine signature is cached is still refused. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "pinecone/pc_sim.h"

static long plain_calls;

static int plain_verify(void *ctx, const uint8_t sig[PC_SIG_LEN], const uint8_t *msg, size_t len,
                        const uint8_t key[PC_KEY_LEN])
{
    (void)ctx;
    plain_calls++;
    return crypto_sign_verify_detached(sig, msg, len, key);
}

/* A ring of 12 nodes with two chords, run for 40 s of virtual time. */
static pc_sim *build(const pc_router_config *cfg)
{
    pc_sim *s;
    cr_assert_eq(pc_sim_new(&s, 7, UINT64_C(1700000000000)), PC_OK);
    for (int i = 0; i < 12; i++) {
        uint8_t seed[PC_SEED_LEN];
        memset(seed, i + 1, sizeof seed);
        cr_assert_eq(pc_sim_add_node(s, seed, cfg), i);
    }
    for (int i = 0; i < 12; i++) cr_assert_geq(pc_sim_connect(s, i, 0, (i + 1) % 12, 0, 10, 0), 0);
    cr_assert_geq(pc_sim_connect(s, 0, 0, 6, 0, 10, 0), 0);
    cr_assert_geq(pc_sim_connect(s, 3, 0, 9, 0, 10, 0), 0);
    pc_sim_run_until(s, UINT64_C(1700000000000) + 40000);
    return s;
}

Test(pc_sim_memo, same_outcome_as_plain_verification)
{
    pc_router_config plain;
    pc_router_config_default(&plain);
    plain.verifier = (pc_verifier){plain_verify, NULL};
    pc_sim *a = build(&plain);
    pc_sim *b = build(NULL); /* default: the simulator's memo */
    cr_assert_gt(plain_calls, 0, "the plain verifier was really used");
    for (int i = 0; i < 12; i++) {
        uint8_t ka[PC_KEY_LEN], kb[PC_KEY_LEN];
        uint64_t sa, sb;
        pc_router_root(pc_sim_router(a, i), ka, &sa);
        pc_router_root(pc_sim_router(b, i), kb, &sb);
        cr_assert(memcmp(ka, kb, PC_KEY_LEN) == 0 && sa == sb, "node %d root differs", i);
        pc_coords ca, cb;
        pc_router_coords(pc_sim_router(a, i), &ca);
        pc_router_coords(pc_sim_router(b, i), &cb);
        cr_assert(ca.len == cb.len && memcmp(ca.port, cb.port, ca.len * sizeof ca.port[0]) == 0, "node %d coords differ", i);
        pc_path_status da, db;
        bool ha = pc_router_descending(pc_sim_router(a, i), &da);
        bool hb = pc_router_descending(pc_sim_router(b, i), &db);
        cr_assert_eq(ha, hb, "node %d descending presence differs", i);
        if (ha)
            cr_assert(memcmp(da.key, db.key, PC_KEY_LEN) == 0 && da.src_port == db.src_port &&
                          da.dst_port == db.dst_port && da.root_seq == db.root_seq,
                      "node %d descending differs", i);
    }
    pc_sim_free(a);
    pc_sim_free(b);
}

Test(pc_sim_memo, forged_signature_over_cached_bytes_still_fails)
{
    pc_sim *s;
    cr_assert_eq(pc_sim_new(&s, 1, 0), PC_OK);
    pc_verifier v = pc_sim_verifier(s);
    uint8_t pk[PC_KEY_LEN], sk[64], sig[PC_SIG_LEN];
    crypto_sign_keypair(pk, sk);
    const uint8_t msg[] = "bootstrap body";
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    cr_assert_eq(pc_verify(&v, sig, msg, sizeof msg, pk), 0);
    cr_assert_eq(pc_verify(&v, sig, msg, sizeof msg, pk), 0, "a cached hit is still valid");
    uint8_t forged[PC_SIG_LEN];
    memcpy(forged, sig, sizeof forged);
    forged[10] ^= 1;
    cr_assert_neq(pc_verify(&v, forged, msg, sizeof msg, pk), 0);
    uint8_t other[PC_KEY_LEN], osk[64];
    crypto_sign_keypair(other, osk);
    cr_assert_neq(pc_verify(&v, sig, msg, sizeof msg, other), 0, "same signature, other key");
    cr_assert_neq(pc_verify(&v, sig, msg, sizeof msg - 1, pk), 0, "same signature, other bytes");
    pc_sim_free(s);
}
