/* pc_sim_rng: the simulator's PRNG, xoshiro256** (Blackman and Vigna) seeded through
 * splitmix64 so that any 64-bit seed, including 0, gives a good state. Not for
 * cryptography: it only has to be fast and exactly reproducible across runs and
 * compilers (pure integer arithmetic, no platform dependence). */
#include "pinecone/pc_sim.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

void pc_sim_rng_seed(pc_sim_rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&seed);
}

uint64_t pc_sim_rng_next(pc_sim_rng *g)
{
    uint64_t *s = g->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t pc_sim_rng_below(pc_sim_rng *g, uint64_t n)
{
    /* Rejection sampling: draws below `limit` map evenly onto [0, n). */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = pc_sim_rng_next(g);
    while (v >= limit);
    return v % n;
}

double pc_sim_rng_unit(pc_sim_rng *g)
{
    return (double)(pc_sim_rng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}
