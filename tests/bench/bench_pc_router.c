/* Benchmark: one Pinecone router core playing node B of the line3 topology (A on port 1,
 * root C on port 2, its tree state set up by feeding it real signed announcements)
 * forwarding traffic frames that arrive on port 1 out of port 2, SNEK form and tree
 * form; the raw frame decoder; and announcement handling (decode + ed25519 verify).
 * Prints frames per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pinecone/pc_handshake.h"
#include "pinecone/pc_router.h"

static uint64_t sent;

static int on_send(pc_router *r, int port, const uint8_t *f, size_t len, void *ud)
{
    (void)r; (void)port; (void)f; (void)len; (void)ud;
    sent++;
    return 0;
}

static void on_deliver(pc_router *r, const uint8_t *src, const uint8_t *p, size_t len, void *ud)
{
    (void)r; (void)src; (void)p; (void)len; (void)ud;
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void keys(uint8_t b, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, b, 32);
    pc_keypair_from_seed(seed, pk, sk);
}

/* Announcement frame from root C (port 1); with depth 3 re-signed by B and then A (port 1
 * each), as A sends it to B. */
static size_t ann(uint8_t *out, int depth)
{
    uint8_t pk[32], sk[64], payload[1024];
    keys(3, pk, sk);
    size_t n = pc_announcement_root(pk, 1, payload);
    pc_announcement_sign_append(payload, n, 1, sk, payload, sizeof payload, &n);
    if (depth > 1) {
        keys(2, pk, sk);
        pc_announcement_sign_append(payload, n, 1, sk, payload, sizeof payload, &n);
        keys(1, pk, sk);
        pc_announcement_sign_append(payload, n, 1, sk, payload, sizeof payload, &n);
    }
    pc_frame f = {.type = PC_FRAME_TREE_ANNOUNCEMENT, .payload = payload, .payload_len = n};
    size_t len;
    pc_frame_encode(&f, out, 4096, &len);
    return len;
}

int main(void)
{
    uint8_t seed[32], pka[32], pkb[32], pkc[32], sk[64], buf[4096];
    memset(seed, 2, 32);
    keys(1, pka, sk);
    keys(2, pkb, sk);
    keys(3, pkc, sk);
    pc_router_config cfg;
    pc_router_config_default(&cfg);
    cfg.keepalives = false;
    pc_router_callbacks cb = {.send_frame = on_send, .deliver = on_deliver};
    pc_router *r;
    if (pc_router_new(&r, seed, &cfg, &cb, NULL, 1000) != PC_OK)
        return 1;
    pc_router_peer_up(r, 1, pka, 1000);
    pc_router_peer_up(r, 2, pkc, 1000);
    pc_router_recv(r, 2, buf, ann(buf, 1), 1001);  /* C: root, our parent */
    pc_router_recv(r, 1, buf, ann(buf, 3), 1002);  /* A: child of B */

    uint8_t payload[1200];
    memset(payload, 0x5a, sizeof payload);
    pc_frame tree = {.type = PC_FRAME_TRAFFIC, .hop_limit = 10, .dest_coords = {0, {0}},
                     .src_coords = {2, {1, 1}}, .dest_key = pkc, .src_key = pka,
                     .payload = payload, .payload_len = sizeof payload};
    pc_watermark_init(&tree.watermark);
    /* SNEK form towards C's key; tree form towards coordinates [2], a child of C. */
    static uint8_t snek_frame[2048], tree_frame[2048];
    size_t snek_len, tree_len;
    pc_frame_encode(&tree, snek_frame, sizeof snek_frame, &snek_len);
    tree.dest_coords = (pc_coords){1, {2}};
    pc_frame_encode(&tree, tree_frame, sizeof tree_frame, &tree_len);

    const int N = 500000;
    struct { const char *name; const uint8_t *f; size_t len; } cases[] = {
        {"forward SNEK-form traffic (1200 B payload), port 1 -> 2", snek_frame, snek_len},
        {"forward tree-form traffic (1200 B payload), port 1 -> 2", tree_frame, tree_len},
    };
    for (size_t c = 0; c < 2; c++) {
        sent = 0;
        double t0 = secs();
        for (int i = 0; i < N; i++)
            pc_router_recv(r, 1, cases[c].f, cases[c].len, 2000);
        double dt = secs() - t0;
        printf("%-58s %10.0f frames/s  (%llu of %d sent)\n", cases[c].name, N / dt,
               (unsigned long long)sent, N);
    }

    pc_frame f;
    double t0 = secs();
    size_t ok = 0;
    for (int i = 0; i < N; i++)
        ok += pc_frame_decode(tree_frame, tree_len, &f) == PC_OK;
    double dt = secs() - t0;
    printf("%-58s %10.0f frames/s  (%zu ok)\n", "decode tree-form traffic frame", N / dt, ok);

    t0 = secs();
    int M = 2000;
    for (int i = 0; i < M; i++)
        pc_router_recv(r, 2, buf, ann(buf, 1), 3000 + (uint64_t)i);
    dt = secs() - t0;
    printf("%-58s %10.0f frames/s\n", "receive announcement from parent (decode + verify)", M / dt);
    pc_router_free(r);
    return 0;
}
