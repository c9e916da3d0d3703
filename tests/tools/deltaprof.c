/*
 * deltaprof.c - times the steps of a small rule-set change at scale (profiling aid, not a test).
 *
 * Why this file exists: DESIGN §8 wants a rule set that differs from the active one by a few
 * rules live in <= 20 ms with 100 k rules loaded. The gateway's path is control/sync.c: parse
 * the new text (incrementally, against the active text), then cw_snapshot_build_delta on the
 * active full snapshot. This tool runs the same steps on one machine-independent input so the
 * cost of each can be seen, and so callgrind can count instructions of the delta step alone:
 *
 *   deltaprof [--gen N | FILE] [--changed K] [--full-parse] [--parse-only] [--no-spare]
 *             [--repeat R] [--rebuilds B] [--huge] [--give-back]
 *   valgrind --tool=callgrind --toggle-collect=delta_step build/tests/tools/deltaprof ...
 *
 * --gen N makes test_sync's 100 k-rule text (N rules, no profiles); FILE is any rule set (such
 * as cwgen's rules.cw). The changed text bumps the version and changes the mode of K rules
 * spread over the file. --full-parse parses the changed text from scratch (the old path);
 * --parse-only leaves out the snapshots (and EAL): the parse alone, quick under callgrind.
 * Like the gateway's compile thread, each step parses into a spare (cw_parse_spare) written
 * before the clock starts; --no-spare parses into fresh memory instead. Each step prints its
 * page faults: this process often gets memory back from malloc that an earlier step freed (no
 * faults), while the gateway's compile thread, without a spare, faulted in ~6 000 pages at
 * 100 k rules (control/sync.c logs them per activation).
 *
 * --rebuilds B times B more full builds of the same text after the first: what a full rebuild
 * costs in a gateway that has already built once (its allocator has memory to reuse), next to
 * the first build of a fresh process. --huge runs EAL on 2 MB hugepages, as the gateway does.
 * Like the gateway, the process keeps the memory builds free (cw_engine_keep_build_memory);
 * --give-back leaves glibc's default (freed blocks unmapped, faulted in again next time).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>

#include "rules/engine.h"
#include "rules/ruleset.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *gen_rules(unsigned n, size_t *len)
{
	static const char *cc[] = {"DE", "FR", "US", "BR", "AR", "JP", "KR", "VN"};
	size_t cap = (size_t)n * 96 + 4096;
	char *t = malloc(cap);
	size_t off = (size_t)snprintf(t, cap,
				      "version 1\nsalt 00112233445566778899aabbccddeeff\n"
				      "class good mode declare\nclass serious mode supervise\n"
				      "class unknown mode verify\n");
	for (unsigned i = 0; i < n; i++)
		off +=
		    (size_t)snprintf(t + off, cap - off,
				     "rule %u priority %u mode verify when hs %06u and origin %s\n",
				     10000 + i, i % 100, 100000 + (i * 7919u) % 800000, cc[i % 8]);
	*len = off;
	return t;
}

/* The base text with its version bumped and the mode of k rule statements changed. */
static char *make_changed(const char *base, size_t len, unsigned k, size_t *out_len)
{
	char *t = malloc(len + 64 + (size_t)k * 16);
	size_t o = 0, i = 0, n_rules = 0;
	for (const char *p = base; (p = strstr(p, "\nrule ")); p++)
		n_rules++;
	size_t step = k ? (n_rules / k ? n_rules / k : 1) : 0, seen = 0;
	unsigned done = 0;
	while (i < len) {
		const char *nl = memchr(base + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - base) + 1 : len;
		const char *line = base + i;
		size_t ll = e - i;
		if (!strncmp(line, "version ", 8)) {
			o += (size_t)sprintf(t + o, "version %lu\n",
					     strtoul(line + 8, NULL, 10) + 1);
		} else if (!strncmp(line, "rule ", 5) && done < k && seen++ % step == step / 2) {
			const char *m = strstr(line, " mode ");
			size_t mo = m && (size_t)(m - line) < ll ? (size_t)(m - line) + 6 : 0;
			size_t w = mo;
			while (mo && w < ll && line[w] >= 'a' && line[w] <= 'z')
				w++;
			const char *nm =
			    mo && !strncmp(line + mo, "supervise", 9) ? "verify" : "supervise";
			memcpy(t + o, line, mo);
			o += mo;
			o += (size_t)sprintf(t + o, "%s", nm);
			memcpy(t + o, line + w, ll - w);
			o += ll - w;
			done++;
		} else {
			memcpy(t + o, line, ll);
			o += ll;
		}
		i = e;
	}
	t[o] = 0;
	*out_len = o;
	fprintf(stderr, "changed %u of %zu rules\n", done, n_rules + (base[0] == 'r'));
	return t;
}

static uint64_t faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return (uint64_t)(ru.ru_minflt + ru.ru_majflt);
}

/* A spare sized like base and written through, as the compile thread prepares it (or NULL). */
static struct cw_parse_spare *spare_for(const struct cw_ruleset *base, bool want)
{
	struct cw_parse_spare *sp = want && base ? cw_parse_spare_new(base) : NULL;
	if (sp)
		cw_parse_spare_touch(sp, SIZE_MAX);
	return sp;
}

static struct cw_ruleset *parse_or_die(const char *t, size_t n, const struct cw_ruleset *base,
				       const char *bt, size_t bn, struct cw_parse_spare **spare)
{
	struct cw_parse_error ev[4];
	struct cw_parse_errors errs = {.v = ev, .cap = 4};
	struct cw_ruleset *rs = base
				    ? cw_ruleset_parse_delta_spare(t, n, base, bt, bn, spare, &errs)
				    : cw_ruleset_parse(t, n, &errs);
	if (!rs) {
		char b[256];
		cw_parse_error_format(&ev[0], b, sizeof(b));
		fprintf(stderr, "parse: %s\n", b);
		exit(1);
	}
	return rs;
}

/* The parse alone (--parse-only). */
__attribute__((noinline)) static struct cw_ruleset *parse_step(const struct cw_ruleset *base,
							       const char *bt, size_t bn,
							       const char *t, size_t n,
							       struct cw_parse_spare **spare)
{
	return parse_or_die(t, n, base, bt, bn, spare);
}

struct step {
	uint64_t parse_ns, build_ns, parse_faults, build_faults;
};

/* One more full parse and build of text, timed as the gateway's full rebuild. */
static void time_rebuild(const char *text, size_t len)
{
	uint64_t f0 = faults(), t0 = now_ns();
	struct cw_ruleset *rs = parse_or_die(text, len, NULL, NULL, 0, NULL);
	uint64_t f1 = faults(), t1 = now_ns();
	char err[256];
	struct cw_snapshot *s = cw_snapshot_build(rs, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "rebuild: %s\n", err);
		exit(1);
	}
	fprintf(stderr,
		"full rebuild: parse %.1f ms (%" PRIu64 " page faults), build %.1f ms (%" PRIu64
		" page faults)\n",
		(t1 - t0) / 1e6, f1 - f0, (now_ns() - t1) / 1e6, faults() - f1);
	cw_snapshot_free(s);
}

/* The measured step: parse the changed text, build the delta snapshot. */
__attribute__((noinline)) static struct cw_snapshot *
delta_step(const struct cw_snapshot *base, const char *bt, size_t bn, const char *t, size_t n,
	   bool full_parse, struct cw_parse_spare **spare, struct step *st)
{
	uint64_t f0 = faults(), t0 = now_ns();
	struct cw_ruleset *rs =
	    parse_or_die(t, n, full_parse ? NULL : cw_snapshot_ruleset(base), bt, bn, spare);
	uint64_t t1 = now_ns(), f1 = faults();
	char err[256];
	struct cw_snapshot *s = cw_snapshot_build_delta(base, rs, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "build: %s\n", err);
		exit(1);
	}
	st->parse_ns = t1 - t0;
	st->build_ns = now_ns() - t1;
	st->parse_faults = f1 - f0;
	st->build_faults = faults() - f1;
	return s;
}

int main(int argc, char **argv)
{
	unsigned gen = 0, changed = 3, repeat = 1, rebuilds = 0;
	bool full_parse = false, parse_only = false, use_spare = true, huge = false;
	bool keep_memory = true;
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--gen") && i + 1 < argc)
			gen = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--changed") && i + 1 < argc)
			changed = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--full-parse"))
			full_parse = true;
		else if (!strcmp(argv[i], "--parse-only"))
			parse_only = true;
		else if (!strcmp(argv[i], "--rebuilds") && i + 1 < argc)
			rebuilds = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--huge"))
			huge = true;
		else if (!strcmp(argv[i], "--give-back"))
			keep_memory = false;
		else if (!strcmp(argv[i], "--no-spare"))
			use_spare = false;
		else if (argv[i][0] != '-')
			file = argv[i];
		else {
			fprintf(stderr, "usage: deltaprof [--gen N | FILE] [--changed K] "
					"[--full-parse] [--parse-only] [--no-spare] [--repeat R] "
					"[--rebuilds B] [--huge] [--give-back]\n");
			return 2;
		}
	}
	size_t bn;
	char *bt = file ? cw_read_file(file, &bn) : gen_rules(gen ? gen : 100000, &bn);
	if (!bt) {
		perror(file);
		return 1;
	}
	size_t n;
	char *t = make_changed(bt, bn, changed, &n);

	if (parse_only) {
		struct cw_ruleset *brs = parse_or_die(bt, bn, NULL, NULL, 0, NULL);
		cw_ruleset_free(brs);
		brs = cw_ruleset_parse_delta(bt, bn, NULL, NULL, 0, NULL);
		for (unsigned r = 0; r < repeat; r++) {
			struct cw_parse_spare *sp = spare_for(brs, use_spare && !full_parse);
			uint64_t f0 = faults(), t0 = now_ns();
			struct cw_ruleset *rs =
			    parse_step(full_parse ? NULL : brs, bt, bn, t, n, &sp);
			fprintf(stderr, "%s parse: %.2f ms (%" PRIu64 " page faults)\n",
				full_parse ? "full" : "incremental", (now_ns() - t0) / 1e6,
				faults() - f0);
			cw_ruleset_free(rs);
		}
		cw_ruleset_free(brs);
		free(t);
		free(bt);
		return 0;
	}
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=deltaprof%d", (int)getpid());
	char *eal[] = {
	    "deltaprof", "--no-pci", "-l",   "0",	    "--log-level=lib.*:error",
	    prefix,	 "-m",	     "2048", "--no-shconf", huge ? "--in-memory" : "--no-huge"};
	if (keep_memory)
		cw_engine_keep_build_memory();
	if (rte_eal_init(10, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	uint64_t t0 = now_ns();
	/* the active rule set as the gateway holds it: parsed with a memo, fully built */
	struct cw_ruleset *brs = parse_or_die(bt, bn, NULL, NULL, 0, NULL);
	cw_ruleset_free(brs);
	uint64_t t1 = now_ns();
	brs = cw_ruleset_parse_delta(bt, bn, NULL, NULL, 0, NULL);
	uint64_t t2 = now_ns();
	char err[256];
	struct cw_snapshot *base = cw_snapshot_build(brs, err, sizeof(err));
	if (!base) {
		fprintf(stderr, "base build: %s\n", err);
		return 1;
	}
	uint64_t t3 = now_ns();
	fprintf(stderr,
		"base: %.1f MB, %u rules, %u profiles: full parse %.1f ms (with memo %.1f ms), "
		"full build %.1f ms\n",
		bn / 1e6, cw_snapshot_ruleset(base)->n_rules, cw_snapshot_ruleset(base)->n_profiles,
		(t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6);
	for (unsigned r = 0; r < rebuilds; r++)
		time_rebuild(bt, bn);
	for (unsigned r = 0; r < repeat; r++) {
		struct step st;
		struct cw_parse_spare *sp =
		    spare_for(cw_snapshot_ruleset(base), use_spare && !full_parse);
		bool had_spare = sp != NULL;
		struct cw_snapshot *s = delta_step(base, bt, bn, t, n, full_parse, &sp, &st);
		fprintf(stderr,
			"delta (%s parse%s): parse %.2f ms (%" PRIu64 " page faults), build %.2f "
			"ms (%s, %" PRIu64 " page faults), total %.2f ms\n",
			full_parse ? "full" : "incremental", had_spare ? ", spare" : "",
			st.parse_ns / 1e6, st.parse_faults, st.build_ns / 1e6,
			cw_snapshot_is_delta(s) ? "delta" : "full", st.build_faults,
			(st.parse_ns + st.build_ns) / 1e6);
		cw_snapshot_free(s);
	}
	cw_snapshot_free(base);
	free(t);
	free(bt);
	rte_eal_cleanup();
	return 0;
}
