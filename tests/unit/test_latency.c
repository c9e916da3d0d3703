/*
 * test_latency.c - the gateway's latency histogram (dataplane/latency.h): bucket layout,
 * quantiles, weighted samples and merging.
 *
 * dataplane/ is not a library (it is the `clearway` program), so its one DPDK-free file is
 * compiled into this test directly.
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/latency.c"
#include "tests/unit/testutil.h"

static struct gw_latency *hist(void)
{
	struct gw_latency *h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	return h;
}

START_TEST(buckets_cover_values_in_order)
{
	unsigned prev = 0;
	for (uint64_t v = 0; v < (1ull << 22); v += 1 + v / 97) {
		unsigned i = gw_lat_index(v);
		ck_assert_uint_lt(i, GW_LAT_BUCKETS);
		ck_assert_uint_ge(i, prev);
		prev = i;
		uint64_t lo = gw_lat_bucket_low(i), w = gw_lat_bucket_width(i);
		ck_assert_msg(lo <= v && v < lo + w, "v %lu in bucket %u [%lu, +%lu)",
			      (unsigned long)v, i, (unsigned long)lo, (unsigned long)w);
		if (v >= 2 * GW_LAT_SUB)
			ck_assert_uint_le(w * GW_LAT_SUB, lo); /* relative width <= 1/64 */
	}
	/* neighbouring buckets touch */
	for (unsigned i = 0; i + 1 < GW_LAT_BUCKETS; i++)
		ck_assert_uint_eq(gw_lat_bucket_low(i) + gw_lat_bucket_width(i),
				  gw_lat_bucket_low(i + 1));
}
END_TEST

START_TEST(huge_values_are_clamped)
{
	ck_assert_uint_eq(gw_lat_index(UINT64_MAX), GW_LAT_BUCKETS - 1);
	ck_assert_uint_eq(gw_lat_index(1ull << GW_LAT_MAX_BITS), GW_LAT_BUCKETS - 1);
	struct gw_latency *h = hist();
	gw_lat_record(h, UINT64_MAX / 4, 1);
	ck_assert_uint_eq(h->max, UINT64_MAX / 4);
	ck_assert_uint_eq(gw_lat_quantile(h, 0.5),
			  gw_lat_bucket_low(GW_LAT_BUCKETS - 1) +
			      (gw_lat_bucket_width(GW_LAT_BUCKETS - 1) - 1) / 2);
	free(h);
}
END_TEST

START_TEST(quantiles_of_a_uniform_spread)
{
	struct gw_latency *h = hist();
	ck_assert_uint_eq(gw_lat_quantile(h, 0.5), 0);
	for (uint64_t v = 1; v <= 100000; v++)
		gw_lat_record(h, v, 1);
	ck_assert_uint_eq(h->count, 100000);
	ck_assert_uint_eq(h->max, 100000);
	ck_assert_uint_eq(h->sum, 100000ull * 100001 / 2);
	const double qs[] = {0.5, 0.9, 0.99, 0.999};
	for (unsigned k = 0; k < 4; k++) {
		double want = qs[k] * 100000;
		double got = (double)gw_lat_quantile(h, qs[k]);
		ck_assert_msg(got > want * (1 - 1.0 / 64) && got < want * (1 + 1.0 / 64),
			      "q %.3f: %.0f, want about %.0f", qs[k], got, want);
	}
	ck_assert_uint_le(gw_lat_quantile(h, 1.0), 100000);
	ck_assert_uint_le(gw_lat_quantile(h, 0.0), 1);
	free(h);
}
END_TEST

START_TEST(small_values_are_exact)
{
	struct gw_latency *h = hist();
	gw_lat_record(h, 7, 3);
	gw_lat_record(h, 100, 1);
	ck_assert_uint_eq(gw_lat_quantile(h, 0.5), 7);
	ck_assert_uint_eq(gw_lat_quantile(h, 0.75), 7);
	ck_assert_uint_eq(gw_lat_quantile(h, 0.76), 100);
	free(h);
}
END_TEST

START_TEST(weighted_samples_equal_single_ones)
{
	struct gw_latency *a = hist(), *b = hist();
	for (uint64_t v = 10; v < 5000000; v = v * 3 + 1) {
		gw_lat_record(a, v, 5);
		for (int k = 0; k < 5; k++)
			gw_lat_record(b, v, 1);
	}
	ck_assert_int_eq(memcmp(a, b, sizeof(*a)), 0);
	free(a);
	free(b);
}
END_TEST

START_TEST(merge_equals_one_histogram)
{
	struct gw_latency *a = hist(), *b = hist(), *all = hist(), *m = hist();
	for (uint64_t v = 1; v < 200000; v += 37) {
		gw_lat_record((v & 1) ? a : b, v, 1 + v % 3);
		gw_lat_record(all, v, 1 + v % 3);
	}
	gw_lat_merge(m, a);
	gw_lat_merge(m, b);
	ck_assert_int_eq(memcmp(m, all, sizeof(*m)), 0);
	ck_assert_uint_eq(gw_lat_quantile(m, 0.99), gw_lat_quantile(all, 0.99));
	free(a);
	free(b);
	free(all);
	free(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("latency");
	TCase *t = tcase_create("histogram");
	tcase_add_test(t, buckets_cover_values_in_order);
	tcase_add_test(t, huge_values_are_clamped);
	tcase_add_test(t, quantiles_of_a_uniform_spread);
	tcase_add_test(t, small_values_are_exact);
	tcase_add_test(t, weighted_samples_equal_single_ones);
	tcase_add_test(t, merge_equals_one_histogram);
	suite_add_tcase(s, t);
	return tu_run(s);
}
