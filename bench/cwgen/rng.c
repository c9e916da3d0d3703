/*
 * rng.c - the random numbers of cwgen.
 *
 * Why this file exists: a workload must be reproducible byte for byte from its seed, on any
 * libc, so cwgen never calls rand(): xoshiro256** seeded through splitmix64, with independent
 * streams per concern, and distributions built from integer and plain floating-point arithmetic
 * (the only libm call is exp() for log-normal values).
 */
#include <math.h>

#include "bench/cwgen/cwgen.h"

uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = mix64(seed) ^ mix64(stream * 0xD1B54A32D192ED03ull + 1);
	for (int i = 0; i < 4; i++) {
		x += 0x9E3779B97F4A7C15ull;
		r->s[i] = mix64(x);
	}
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
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

/* Lemire's multiply-and-reject: unbiased without a division in the common case. */
uint64_t rng_below(struct rng *r, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t t = -n % n;
		while (lo < t) {
			m = (unsigned __int128)rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	if (hi - lo == UINT64_MAX)
		return rng_next(r);
	return lo + rng_below(r, hi - lo + 1);
}

double rng_unit(struct rng *r)
{
	return unit_of(rng_next(r));
}

bool rng_chance(struct rng *r, double p)
{
	return rng_unit(r) < p;
}

/* Irwin-Hall: the sum of 4 uniforms, centred and scaled to variance 1. The tails end at +-3.46,
 * which is what a workload wants (no absurd outliers), and it costs 4 draws. */
double rng_normal(struct rng *r)
{
	double s = 0; /* one draw per statement: the order of calls is then defined */
	for (int i = 0; i < 4; i++)
		s += rng_unit(r);
	return (s - 2.0) * 1.7320508075688772;
}

double rng_lognormal(struct rng *r, double median, double sigma)
{
	return median * exp(sigma * rng_normal(r));
}

unsigned rng_geometric(struct rng *r, double mean, unsigned max)
{
	double q = mean <= 1 ? 0 : 1.0 - 1.0 / mean;
	unsigned n = 1;
	while (n < max && rng_unit(r) < q)
		n++;
	return n;
}

unsigned rng_pick_cum(struct rng *r, const uint32_t *cum, unsigned n)
{
	uint64_t x = rng_below(r, cum[n - 1]);
	unsigned lo = 0, hi = n - 1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (x < cum[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void rand_chars(struct rng *r, char *out, unsigned n, const char *alphabet)
{
	unsigned k = 0;
	while (alphabet[k])
		k++;
	for (unsigned i = 0; i < n; i++)
		out[i] = alphabet[rng_below(r, k)];
}
