/*
 * latency.c - merging and reading the latency histograms (see latency.h); off the packet path.
 */
#include "dataplane/latency.h"

void gw_lat_merge(struct gw_latency *dst, const struct gw_latency *src)
{
	uint64_t count = 0;
	for (unsigned i = 0; i < GW_LAT_BUCKETS; i++) {
		uint64_t v = __atomic_load_n(&src->b[i], __ATOMIC_RELAXED);
		dst->b[i] += v;
		count += v;
	}
	/* The buckets are the truth: a reader racing the owner may see count lag its buckets. */
	dst->count += count;
	dst->sum += __atomic_load_n(&src->sum, __ATOMIC_RELAXED);
	uint64_t m = __atomic_load_n(&src->max, __ATOMIC_RELAXED);
	if (m > dst->max)
		dst->max = m;
}

uint64_t gw_lat_quantile(const struct gw_latency *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	/* rank of the wanted sample, 1-based: ceil(q * count), at least 1 */
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < GW_LAT_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = gw_lat_bucket_low(i) + (gw_lat_bucket_width(i) - 1) / 2;
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}
