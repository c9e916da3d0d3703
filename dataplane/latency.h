/*
 * latency.h - RX-to-TX latency histograms, one per worker, merged on demand.
 *
 * Why this file exists: the summary and telemetry report p50/p99/p99.9/max of the time from the
 * RX burst to the TX of the answer (DESIGN §8: p99 <= 5 us). Recording must cost a few cycles on
 * the packet path and never allocate, so each worker owns a fixed log-linear histogram (the HDR
 * histogram layout: 2^SUB_BITS linear sub-buckets per power of two, relative error under 1/64) of
 * TSC cycles; readers merge copies with relaxed loads. No DPDK in here, so it is unit-tested.
 */
#ifndef CW_DATAPLANE_LATENCY_H
#define CW_DATAPLANE_LATENCY_H

#include <stdint.h>

#define GW_LAT_SUB_BITS 6
#define GW_LAT_SUB	(1u << GW_LAT_SUB_BITS)
#define GW_LAT_MAX_BITS 40 /* values are clamped below 2^40 cycles (minutes) */
#define GW_LAT_BUCKETS	((GW_LAT_MAX_BITS + 2 - GW_LAT_SUB_BITS) << GW_LAT_SUB_BITS)

struct gw_latency {
	uint64_t count; /* samples */
	uint64_t sum;	/* cycles, for the mean */
	uint64_t max;
	uint64_t b[GW_LAT_BUCKETS];
};

static inline unsigned gw_lat_index(uint64_t v)
{
	if (v >= (1ull << GW_LAT_MAX_BITS))
		v = (1ull << GW_LAT_MAX_BITS) - 1;
	if (v < 2 * GW_LAT_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - GW_LAT_SUB_BITS;
	return shift * GW_LAT_SUB + (unsigned)(v >> shift);
}

/* Smallest value that falls in bucket i, and the bucket's width. */
static inline uint64_t gw_lat_bucket_low(unsigned i)
{
	if (i < 2 * GW_LAT_SUB)
		return i;
	unsigned shift = i / GW_LAT_SUB - 1;
	return (uint64_t)(i % GW_LAT_SUB + GW_LAT_SUB) << shift;
}
static inline uint64_t gw_lat_bucket_width(unsigned i)
{
	return i < 2 * GW_LAT_SUB ? 1 : 1ull << (i / GW_LAT_SUB - 1);
}

/* n samples of `cycles` each (one per answered datagram of a burst). Owner thread only: the
 * stores are relaxed atomics so that readers on other threads see whole values. */
static inline void gw_lat_record(struct gw_latency *h, uint64_t cycles, uint64_t n)
{
	unsigned i = gw_lat_index(cycles);
	__atomic_store_n(&h->b[i], h->b[i] + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->count, h->count + n, __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum, h->sum + cycles * n, __ATOMIC_RELAXED);
	if (cycles > h->max)
		__atomic_store_n(&h->max, cycles, __ATOMIC_RELAXED);
}

/* dst += src, reading src with relaxed loads (src may be written concurrently). */
void gw_lat_merge(struct gw_latency *dst, const struct gw_latency *src);
/* The value at quantile q (0..1) in cycles: the midpoint of its bucket, never above max. 0 when
 * empty. */
uint64_t gw_lat_quantile(const struct gw_latency *h, double q);

#endif
