/*
 * test_stores.c - the stores messages write (rules/stores.c) through their own interface: the
 * key hash the engine computes once per message, lookups with it, a store full at exactly its
 * capacity, the ledger's limit, and the same with several threads writing at once.
 *
 * Why this file exists: test_decide reaches the stores only through whole messages, one thread,
 * tiny capacities; the hash-taking calls, keys at any alignment and racing writers are checked
 * here directly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <rte_hash_crc.h>

#include "rules/stores.h"
#include "tests/unit/testutil.h"

/* A 20-byte key from a number, as order numbers and transport documents are. */
static void key20(char k[CW_KEY20], unsigned n)
{
	char tmp[CW_KEY20 + 1];
	snprintf(tmp, sizeof(tmp), "K%019u", n);
	memcpy(k, tmp, CW_KEY20);
}

START_TEST(hash_key_is_rte_hash_crc_at_any_alignment)
{
	uint8_t buf[64 + 8];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 37 + 11);
	for (uint32_t len = 1; len <= 64; len++)
		for (unsigned off = 0; off < 8; off++) {
			uint64_t aligned[8];
			memcpy(aligned, buf + off, len);
			ck_assert_uint_eq(cw_hash_key(buf + off, len, 7),
					  rte_hash_crc(aligned, len, 7));
		}
}
END_TEST

START_TEST(store_hash_depends_on_the_key_only)
{
	struct cw_store *s = cw_store_create("t_hash", 16, CW_KEY20, 8, 0);
	ck_assert_ptr_nonnull(s);
	char a[CW_KEY20 + 3], b[CW_KEY20];
	key20(a + 3, 42); /* unaligned */
	key20(b, 42);
	ck_assert_uint_eq(cw_store_hash(s, a + 3), cw_store_hash(s, b));
	ck_assert_uint_ne(cw_store_hash(s, b) & 1, 0); /* never 0 */
	key20(b, 43);
	ck_assert_uint_ne(cw_store_hash(s, a + 3), cw_store_hash(s, b));
	cw_store_free(s);
}
END_TEST

START_TEST(put_then_get_with_the_hash)
{
	struct cw_store *s = cw_store_create("t_get", 1000, CW_KEY20, 120, 0);
	ck_assert_ptr_nonnull(s);
	char k[CW_KEY20];
	uint8_t v[120], got[120];
	for (unsigned n = 0; n < 1000; n++) {
		key20(k, n);
		memset(v, (int)n, sizeof(v));
		cw_store_prefetch(s, cw_store_hash(s, k));
		ck_assert_int_eq(cw_store_put(s, k, cw_store_hash(s, k), v), 0);
	}
	ck_assert_uint_eq(cw_store_count(s), 1000);
	for (unsigned n = 0; n < 1000; n++) {
		key20(k, n);
		ck_assert(cw_store_get(s, k, cw_store_hash(s, k), got));
		memset(v, (int)n, sizeof(v));
		ck_assert_mem_eq(got, v, sizeof(v));
	}
	key20(k, 1000);
	ck_assert(!cw_store_get(s, k, cw_store_hash(s, k), got));
	cw_store_free(s);
}
END_TEST

/* Keys and values of sizes the engine does not use: the layout is not only for 20 and 8. */
START_TEST(odd_sizes)
{
	struct cw_store *s = cw_store_create("t_odd", 300, 3, 13, 0);
	ck_assert_ptr_nonnull(s);
	uint8_t k[3], v[13], got[13];
	for (unsigned n = 0; n < 300; n++) {
		memcpy(k, &n, 3);
		memset(v, (int)(n ^ 0x5a), sizeof(v));
		ck_assert_int_eq(cw_store_put(s, k, cw_store_hash(s, k), v), 0);
	}
	for (unsigned n = 0; n < 300; n++) {
		memcpy(k, &n, 3);
		ck_assert(cw_store_get(s, k, cw_store_hash(s, k), got));
		memset(v, (int)(n ^ 0x5a), sizeof(v));
		ck_assert_mem_eq(got, v, sizeof(v));
	}
	ck_assert_int_eq(cw_store_put(s, "zzz", cw_store_hash(s, "zzz"), v), -ENOSPC);
	cw_store_free(s);
}
END_TEST

START_TEST(full_at_exactly_its_capacity)
{
	struct cw_store *s =
	    cw_store_create("t_full", 100, CW_KEY20, sizeof(struct cw_ecom_rec), 0);
	ck_assert_ptr_nonnull(s);
	char k[CW_KEY20];
	for (unsigned n = 0; n < 100; n++) {
		key20(k, n);
		ck_assert_int_eq(cw_ecom_set_order(s, k, cw_store_hash(s, k), n, 10), 0);
	}
	key20(k, 100);
	ck_assert_int_eq(cw_ecom_set_payment(s, k, cw_store_hash(s, k), 1, 10), -ENOSPC);
	key20(k, 7); /* a part of an order already stored still fits */
	ck_assert_int_eq(cw_ecom_set_waybill(s, k, cw_store_hash(s, k), "W7                  "), 0);
	ck_assert_uint_eq(cw_store_count(s), 100);
	struct cw_ecom_rec r;
	ck_assert(cw_store_get(s, k, cw_store_hash(s, k), &r));
	ck_assert_uint_eq(r.parts, CW_ECOM_ORDER | CW_ECOM_WAYBILL);
	ck_assert_uint_eq(r.order_buyer, 7);
	ck_assert_mem_eq(r.waybill_no, "W7", 2);
	cw_store_free(s);
}
END_TEST

START_TEST(ledger_keeps_the_limit)
{
	struct cw_store *s = cw_store_create("t_ledger", 2, 8, 8, 0);
	ck_assert_ptr_nonnull(s);
	uint64_t b = 5;
	uint32_t h = cw_store_hash(s, &b);
	ck_assert_int_eq(cw_ledger_charge(s, b, h, 101, 100), 1); /* takes no slot */
	ck_assert_uint_eq(cw_store_count(s), 0);
	ck_assert_int_eq(cw_ledger_charge(s, b, h, 60, 100), 0);
	ck_assert_int_eq(cw_ledger_charge(s, b, h, 41, 100), 1);
	ck_assert_int_eq(cw_ledger_charge(s, b, h, 40, 100), 0);
	ck_assert_uint_eq(cw_ledger_get(s, b, h), 100);
	uint64_t b2 = 6, b3 = 7;
	ck_assert_int_eq(cw_ledger_charge(s, b2, cw_store_hash(s, &b2), 1, 100), 0);
	ck_assert_int_eq(cw_ledger_charge(s, b3, cw_store_hash(s, &b3), 1, 100), -ENOSPC);
	ck_assert_uint_eq(cw_ledger_get(s, b3, cw_store_hash(s, &b3)), 0);
	cw_store_free(s);
}
END_TEST

/* ---------------------------------------------------------------- several writers */

#define THREADS	 4
#define KEYS	 3000
#define CAPACITY 2000

static struct cw_store *shared_manifests, *shared_ledger;
static _Atomic unsigned inserted, charged;

/* Every thread puts the same KEYS keys (in a different order) and charges one buyer 1 unit at a
 * time, many more times than the limit allows. */
static void *writer(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	char k[CW_KEY20];
	uint8_t v[120];
	for (unsigned i = 0; i < KEYS; i++) {
		unsigned n = (i * 7 + t * 1000) % KEYS;
		key20(k, n);
		memset(v, (int)n, sizeof(v));
		if (cw_store_put(shared_manifests, k, cw_store_hash(shared_manifests, k), v) == 0)
			inserted++;
		uint64_t b = 77;
		if (cw_ledger_charge(shared_ledger, b, cw_store_hash(shared_ledger, &b), 1, 1000) ==
		    0)
			charged++;
	}
	return NULL;
}

START_TEST(racing_writers_keep_capacity_values_and_limit)
{
	shared_manifests = cw_store_create("t_race_m", CAPACITY, CW_KEY20, 120, 0);
	shared_ledger = cw_store_create("t_race_l", 4, 8, 8, 0);
	ck_assert_ptr_nonnull(shared_manifests);
	ck_assert_ptr_nonnull(shared_ledger);
	inserted = charged = 0;
	pthread_t th[THREADS];
	for (unsigned t = 0; t < THREADS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, writer, (void *)(uintptr_t)t), 0);
	for (unsigned t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	ck_assert_uint_eq(cw_store_count(shared_manifests), CAPACITY);
	ck_assert_uint_eq(charged, 1000);
	uint64_t b = 77;
	ck_assert_uint_eq(cw_ledger_get(shared_ledger, b, cw_store_hash(shared_ledger, &b)), 1000);
	/* each key stored is there once, with its own value */
	char k[CW_KEY20];
	uint8_t v[120], got[120];
	unsigned present = 0;
	for (unsigned n = 0; n < KEYS; n++) {
		key20(k, n);
		if (!cw_store_get(shared_manifests, k, cw_store_hash(shared_manifests, k), got))
			continue;
		present++;
		memset(v, (int)n, sizeof(v));
		ck_assert_mem_eq(got, v, sizeof(v));
	}
	ck_assert_uint_eq(present, CAPACITY);
	ck_assert_uint_ge(inserted, CAPACITY);
	cw_store_free(shared_manifests);
	cw_store_free(shared_ledger);
}
END_TEST

int main(void)
{
	tu_eal_init();
	Suite *s = suite_create("stores");
	TCase *t = tcase_create("stores");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, hash_key_is_rte_hash_crc_at_any_alignment);
	tcase_add_test(t, store_hash_depends_on_the_key_only);
	tcase_add_test(t, put_then_get_with_the_hash);
	tcase_add_test(t, odd_sizes);
	tcase_add_test(t, full_at_exactly_its_capacity);
	tcase_add_test(t, ledger_keeps_the_limit);
	tcase_add_test(t, racing_writers_keep_capacity_values_and_limit);
	suite_add_tcase(s, t);
	return tu_run(s);
}
