/*
 * test_ctlparts.c - the control plane's plain parts, no DPDK and no Redis: the registry mirror
 * (backward-shift deletion and mark-and-sweep against a reference model, with random operations),
 * the line diff (the script turns a into b and is as short as the longest common subsequence
 * allows, on random texts), Redis address parsing, stream ids and the journal entry format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/diff.h"
#include "control/journal.h"
#include "control/redisx.h"
#include "control/regmirror.h"
#include "tests/unit/testutil.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

#define KEYS 3000

static void key_of(unsigned i, char k[18])
{
	char buf[19];
	snprintf(buf, sizeof(buf), "9131%014u", i);
	memcpy(k, buf, 18);
}

static void seen_fn(const char uscc[18], void *arg)
{
	int *ref = arg;
	unsigned i = (unsigned)atoi(uscc + 4);
	ck_assert_msg(ref[i] >= 0, "swept a key that is not there");
	ref[i] = -2; /* swept */
}

START_TEST(mirror_matches_a_reference)
{
	struct cw_regmirror m;
	cw_regmirror_init(&m);
	static int ref[KEYS]; /* -1 absent, else class */
	for (int i = 0; i < KEYS; i++)
		ref[i] = -1;
	char k[18];
	for (int round = 0; round < 200000; round++) {
		unsigned i = rnd() % KEYS;
		key_of(i, k);
		unsigned op = rnd() % 3;
		if (op < 2) {
			uint8_t c = (uint8_t)(rnd() % 5);
			int ch = cw_regmirror_set(&m, k, c);
			ck_assert_int_eq(ch, ref[i] != c);
			ref[i] = c;
		} else {
			ck_assert_int_eq(cw_regmirror_del(&m, k), ref[i] >= 0);
			ref[i] = -1;
		}
		if (round % 997 == 0) {
			unsigned n = 0;
			for (int j = 0; j < KEYS; j++) {
				key_of((unsigned)j, k);
				ck_assert_int_eq(cw_regmirror_get(&m, k), ref[j]);
				n += ref[j] >= 0;
			}
			ck_assert_uint_eq(m.n, n);
		}
	}
	/* mark and sweep: keep a random half, the rest must be swept exactly */
	cw_regmirror_begin(&m);
	int kept[KEYS];
	for (int j = 0; j < KEYS; j++) {
		kept[j] = ref[j] >= 0 && rnd() % 2;
		if (kept[j]) {
			key_of((unsigned)j, k);
			ck_assert_int_eq(cw_regmirror_set(&m, k, (uint8_t)ref[j]), 0);
		}
	}
	cw_regmirror_sweep(&m, seen_fn, ref);
	for (int j = 0; j < KEYS; j++) {
		key_of((unsigned)j, k);
		if (kept[j])
			ck_assert_int_ge(cw_regmirror_get(&m, k), 0);
		else {
			ck_assert_int_eq(cw_regmirror_get(&m, k), -1);
			ck_assert(ref[j] == -1 || ref[j] == -2);
		}
	}
	cw_regmirror_free(&m);
}
END_TEST

/* Length of the longest common subsequence (reference for the diff's length). */
static size_t lcs(const int *a, size_t n, const int *b, size_t m)
{
	size_t *row = calloc(m + 1, sizeof(size_t)), *prev = calloc(m + 1, sizeof(size_t));
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++)
			row[j] = a[i - 1] == b[j - 1]	? prev[j - 1] + 1
				 : row[j - 1] > prev[j] ? row[j - 1]
							: prev[j];
		size_t *t = prev;
		prev = row;
		row = t;
	}
	size_t r = prev[m];
	free(row);
	free(prev);
	return r;
}

START_TEST(diff_is_correct_and_minimal)
{
	for (int round = 0; round < 400; round++) {
		int na = (int)(rnd() % 60), nb = (int)(rnd() % 60), alpha = 2 + (int)(rnd() % 6);
		int a[64], b[64];
		char ta[64 * 3 + 1] = "", tb[64 * 3 + 1] = "";
		for (int i = 0; i < na; i++) {
			a[i] = (int)(rnd() % (unsigned)alpha);
			sprintf(ta + strlen(ta), "%c\n", 'a' + a[i]);
		}
		for (int i = 0; i < nb; i++) {
			b[i] = (int)(rnd() % (unsigned)alpha);
			sprintf(tb + strlen(tb), "%c\n", 'a' + b[i]);
		}
		struct cw_lines la, lb;
		ck_assert_int_eq(cw_lines_split(ta, strlen(ta), &la), 0);
		ck_assert_int_eq(cw_lines_split(tb, strlen(tb), &lb), 0);
		ck_assert_uint_eq(la.n, (size_t)na);
		struct cw_diff_op *ops;
		size_t n;
		ck_assert_int_eq(cw_diff(&la, &lb, &ops, &n), 0);
		/* replay: ' ' and '-' walk a in order, ' ' and '+' walk b in order */
		size_t ia = 0, ib = 0, same = 0;
		for (size_t k = 0; k < n; k++) {
			if (ops[k].op != '+') {
				ck_assert_uint_eq(ops[k].a, ia);
				ia++;
			}
			if (ops[k].op != '-') {
				ck_assert_uint_eq(ops[k].b, ib);
				ib++;
			}
			if (ops[k].op == ' ') {
				ck_assert_int_eq(a[ops[k].a], b[ops[k].b]);
				same++;
			}
		}
		ck_assert_uint_eq(ia, (size_t)na);
		ck_assert_uint_eq(ib, (size_t)nb);
		ck_assert_uint_eq(same, lcs(a, (size_t)na, b, (size_t)nb));
		free(ops);
		cw_lines_free(&la);
		cw_lines_free(&lb);
	}
}
END_TEST

START_TEST(addresses_and_ids)
{
	struct cw_redis_addr a;
	char err[128], buf[300];
	ck_assert_int_eq(cw_redis_addr_parse("10.0.0.5:7000", &a, err, sizeof(err)), 0);
	ck_assert(!a.unix_socket);
	ck_assert_str_eq(a.host, "10.0.0.5");
	ck_assert_int_eq(a.port, 7000);
	ck_assert_int_eq(cw_redis_addr_parse("redis.local", &a, err, sizeof(err)), 0);
	ck_assert_int_eq(a.port, 6379);
	ck_assert_int_eq(cw_redis_addr_parse("[::1]:6380", &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.host, "::1");
	ck_assert_int_eq(a.port, 6380);
	cw_redis_addr_format(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "[::1]:6380");
	ck_assert_int_eq(cw_redis_addr_parse("::1", &a, err, sizeof(err)), 0);
	ck_assert_int_eq(a.port, 6379);
	ck_assert_int_eq(cw_redis_addr_parse("unix:/run/redis.sock", &a, err, sizeof(err)), 0);
	ck_assert(a.unix_socket);
	ck_assert_str_eq(a.host, "/run/redis.sock");
	ck_assert_int_eq(cw_redis_addr_parse(NULL, &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.host, "127.0.0.1");
	const char *bad[] = {"host:0", "host:65536", "host:x", ":6379", "unix:", "[::1", "[::1]x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(cw_redis_addr_parse(bad[i], &a, err, sizeof(err)) == -1, "%s",
			      bad[i]);

	struct cw_stream_id x, y;
	ck_assert(cw_stream_id_parse("1700000000000-5", &x));
	ck_assert(cw_stream_id_parse("1700000000000", &y));
	ck_assert_int_eq(cw_stream_id_cmp(x, y), 1);
	ck_assert(!cw_stream_id_parse("17-", &x));
	ck_assert(!cw_stream_id_parse("-1", &x));
	ck_assert(!cw_stream_id_parse("$", &x));
	ck_assert(!cw_stream_id_parse("99999999999999999999-0", &x));
}
END_TEST

START_TEST(journal_entry_fields)
{
	struct cwp_verdict v;
	memset(&v, 0, sizeof(v));
	v.msg_seq = 77;
	v.msg_type = CWP_LIST;
	v.status = CWP_REJECTED;
	v.mode = CWP_MODE_NONE;
	v.reject_code = CWP_REJ_QUOTA_ANNUAL;
	v.ruleset_version = 4;
	memcpy(v.ref, "L0000000000000000A  ", CWP_REF_LEN);
	struct cw_journal_rec r;
	ck_assert(cw_journal_wanted(&v));
	cw_journal_fill(&r, 12, &v, 0, 3);
	const char *argv[CW_JOURNAL_MAX_ARGS];
	size_t lens[CW_JOURNAL_MAX_ARGS];
	char buf[CW_JOURNAL_BUF];
	unsigned n = cw_journal_format(&r, "gw-1", 1700000000123ull, buf, argv, lens);
	ck_assert_uint_eq(n % 2, 0);
	char flat[1024] = "";
	for (unsigned i = 0; i < n; i++)
		snprintf(flat + strlen(flat), sizeof(flat) - strlen(flat), "%.*s%s", (int)lens[i],
			 argv[i], i % 2 ? ";" : "=");
	ck_assert_str_eq(flat, "node=gw-1;ts=1700000000123;sender=12;seq=77;type=LIST;"
			       "ref=L0000000000000000A;status=REJECTED;mode=-;reject=QUOTA_ANNUAL;"
			       "reasons=;version=4;flags=;");
	v.status = CWP_DECIDED;
	v.mode = CWP_MODE_VERIFY;
	v.reject_code = 0;
	v.flags = CWP_VFLAG_GREEN;
	v.reason_count = 4;
	for (int i = 0; i < 4; i++)
		v.reasons[i] = (struct cwp_reason){CWP_RSN_DOC_VERIFY, (uint16_t)(49 - i), 0};
	v.reasons[3] = (struct cwp_reason){CWP_RSN_TARGET, 0, 4294967295u};
	cw_journal_fill(&r, 12, &v, 0, 3);
	n = cw_journal_format(&r, "gw-1", 1, buf, argv, lens);
	ck_assert_str_eq(argv[18], "reasons");
	ck_assert_int_eq((int)lens[19], (int)strlen("DOC_VERIFY@49 DOC_VERIFY@48 DOC_VERIFY@47 "
						    "TARGET:4294967295@0"));
	ck_assert(!memcmp(argv[19], "DOC_VERIFY@49 DOC_VERIFY@48 DOC_VERIFY@47 TARGET:4294967295@0",
			  lens[19]));
	ck_assert(!memcmp(argv[23], "GREEN", lens[23]));
	v.flags = CWP_VFLAG_DUPLICATE;
	ck_assert(!cw_journal_wanted(&v));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ctlparts");
	TCase *t = tcase_create("plain");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, mirror_matches_a_reference);
	tcase_add_test(t, diff_is_correct_and_minimal);
	tcase_add_test(t, addresses_and_ids);
	tcase_add_test(t, journal_entry_fields);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
