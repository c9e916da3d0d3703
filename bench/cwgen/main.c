/*
 * main.c - cwgen, Clearway's workload generator: options, the run, the summary.
 *
 * Why this file exists: demos, tests, fuzzing seeds and benchmarks all need the same kind of
 * input: a capture of sender traffic (requests.pcap) with the registry, the senders table and a
 * rule set that go with it, reproducible from a seed. docs/workload.md describes what is
 * generated and from which distributions.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench/cwgen/cwgen.h"

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: cwgen --seed N --messages M --out DIR [options]\n"
	       "\n"
	       "Writes DIR/requests.pcap, DIR/registry.csv, DIR/senders.csv and DIR/rules.cw:\n"
	       "a realistic CWP/1 workload, the same bytes for the same arguments and corpus.\n"
	       "\n"
	       "  --seed N          seed of every random choice (required)\n"
	       "  --messages M      messages to generate (required)\n"
	       "  --out DIR         output directory, created if missing (required)\n"
	       "  --enterprises K   enterprises in the registry (default 10000)\n"
	       "  --rules R         targeting rules in rules.cw (default 200)\n"
	       "  --profiles P      commodity profiles in rules.cw (default 300)\n"
	       "  --batch B         mean messages per datagram, 1..64 (default 8)\n"
	       "  --bad F           fraction of broken messages, 0..1 (default 0); F/4 of the\n"
	       "                    datagrams are also made to be dropped, F/16 are stale and F/8\n"
	       "                    are retransmitted\n"
	       "  --ipv6 F          fraction of datagrams over IPv6 (default 0.1)\n"
	       "  --vlan F          fraction of datagrams with an 802.1Q tag (default 0.1)\n"
	       "  --senders S       senders, 1..10000 (default 4)\n"
	       "  --corpus DIR      corpus directory (default $CW_CORPUS, else ../shared/corpus)\n"
	       "  --version V       version statement of rules.cw, 1..4294967295 (default 1)\n"
	       "  --items-mean X    mean items per declaration, 1..50 (default 3)\n"
	       "  --help            this text\n");
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_frac(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	if (!s || !*s)
		return false;
	double v = strtod(s, &end);
	if (errno || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv, struct cwgen_opts *o)
{
	static const struct option longopts[] = {
	    {"seed", required_argument, 0, 's'},    {"messages", required_argument, 0, 'm'},
	    {"out", required_argument, 0, 'o'},	    {"enterprises", required_argument, 0, 'e'},
	    {"rules", required_argument, 0, 'r'},   {"profiles", required_argument, 0, 'p'},
	    {"batch", required_argument, 0, 'b'},   {"bad", required_argument, 0, 'x'},
	    {"ipv6", required_argument, 0, '6'},    {"vlan", required_argument, 0, 'v'},
	    {"senders", required_argument, 0, 'S'}, {"corpus", required_argument, 0, 'c'},
	    {"version", required_argument, 0, 'V'}, {"items-mean", required_argument, 0, 'i'},
	    {"help", no_argument, 0, 'h'},	    {0, 0, 0, 0},
	};
	bool have_seed = false, have_msgs = false;
	uint64_t v;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		bool ok = true;
		switch (c) {
		case 's':
			ok = parse_u64(optarg, 0, UINT64_MAX, &o->seed);
			have_seed = ok;
			break;
		case 'm':
			ok = parse_u64(optarg, 0, 1ull << 40, &o->messages);
			have_msgs = ok;
			break;
		case 'o':
			o->out_dir = optarg;
			break;
		case 'e':
			ok = parse_u64(optarg, 1, 1ull << 32, &o->enterprises);
			break;
		case 'r':
			ok = parse_u64(optarg, 0, 10000000, &o->rules);
			break;
		case 'p':
			ok = parse_u64(optarg, 0, 1000000, &o->profiles);
			break;
		case 'b':
			ok = parse_frac(optarg, 1, 64, &o->batch);
			break;
		case 'x':
			ok = parse_frac(optarg, 0, 1, &o->bad);
			break;
		case '6':
			ok = parse_frac(optarg, 0, 1, &o->ipv6);
			break;
		case 'v':
			ok = parse_frac(optarg, 0, 1, &o->vlan);
			break;
		case 'S':
			ok = parse_u64(optarg, 1, 10000, &v);
			o->senders = (unsigned)v;
			break;
		case 'c':
			o->corpus = optarg;
			break;
		case 'V':
			ok = parse_u64(optarg, 1, UINT32_MAX, &v);
			o->version = (uint32_t)v;
			break;
		case 'i':
			ok = parse_frac(optarg, 1, 50, &o->items_mean);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "cwgen: unknown option %s\n", argv[optind - 1]);
			return -1;
		}
		if (!ok) {
			fprintf(stderr, "cwgen: bad value for %s: %s\n", argv[optind - 1],
				optarg ? optarg : "");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cwgen: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (!have_seed || !have_msgs || !o->out_dir) {
		fprintf(stderr, "cwgen: --seed, --messages and --out are required\n");
		return -1;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void out_path(char *buf, size_t cap, const char *dir, const char *name)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

static int generate(const struct cwgen_opts *o, const struct corpus *c,
		    const struct population *pop, struct senders *snd)
{
	char path[4096];
	out_path(path, sizeof(path), o->out_dir, "requests.pcap");
	struct traffic *t = traffic_new(o, c, pop, snd);
	struct emitter *e = t ? emit_new(o, snd, t, path) : NULL;
	if (!e) {
		traffic_free(t);
		return -1;
	}
	struct bad_state *bs = emit_bad_state(e);
	struct rng r;
	rng_seed(&r, o->seed, 0xBAD);
	uint64_t bad[BM_NUM] = {0}, nbad = 0;
	static struct msg m;
	for (uint64_t i = 0; i < o->messages; i++) {
		traffic_next(t, &m);
		if (o->bad > 0 && rng_chance(&r, o->bad)) {
			bad[bad_break_msg(bs, t, &r, &m)]++;
			nbad++;
		}
		emit_msg(e, &m);
	}
	int rc = emit_finish(e);
	fprintf(stderr, "cwgen: %llu messages\n", (unsigned long long)o->messages);
	traffic_summary(t, stderr);
	emit_summary(e, stderr);
	if (nbad) {
		fprintf(stderr, "  broken messages %llu:", (unsigned long long)nbad);
		for (int k = 0; k < BM_NUM; k++)
			if (bad[k])
				fprintf(stderr, " %s %llu;", bad_msg_name((enum bad_msg_kind)k),
					(unsigned long long)bad[k]);
		fprintf(stderr, "\n");
	}
	emit_free(e);
	traffic_free(t);
	if (rc)
		fprintf(stderr, "cwgen: %s: write failed\n", path);
	return rc;
}

int main(int argc, char **argv)
{
	struct cwgen_opts o = {
	    .enterprises = 10000,
	    .rules = 200,
	    .profiles = 300,
	    .batch = 8,
	    .ipv6 = 0.1,
	    .vlan = 0.1,
	    .senders = 4,
	    .version = 1,
	    .items_mean = 3,
	};
	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (!o.corpus)
		o.corpus = getenv("CW_CORPUS");
	if (!o.corpus || !*o.corpus)
		o.corpus = "../shared/corpus";
	if (mkdir(o.out_dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "cwgen: %s: %s\n", o.out_dir, strerror(errno));
		return 3;
	}
	double t0 = now_s();
	struct corpus c;
	corpus_load(&c, o.corpus, false);
	struct population pop;
	pop_init(&pop, o.seed, o.enterprises);
	struct senders snd;
	senders_init(&snd, o.senders, o.seed);
	double t1 = now_s();

	char path[4096];
	int rc = 0;
	uint64_t counts[5];
	out_path(path, sizeof(path), o.out_dir, "registry.csv");
	if (pop_write_registry(&pop, path, counts) != 0) {
		fprintf(stderr, "cwgen: %s: write failed\n", path);
		rc = 3;
	}
	double t2 = now_s();
	out_path(path, sizeof(path), o.out_dir, "senders.csv");
	if (!rc && senders_write(&snd, path) != 0) {
		fprintf(stderr, "cwgen: %s: write failed\n", path);
		rc = 3;
	}
	out_path(path, sizeof(path), o.out_dir, "rules.cw");
	if (!rc && rules_write(path, &o, &c, &pop) != 0) {
		fprintf(stderr, "cwgen: %s: write failed\n", path);
		rc = 3;
	}
	double t3 = now_s();
	if (!rc && generate(&o, &c, &pop, &snd) != 0)
		rc = 3;
	double t4 = now_s();
	if (!rc) {
		fprintf(stderr,
			"  registry %llu enterprises (aeo %llu, good %llu, warning %llu, dishonest "
			"%llu, serious %llu), %u senders, %llu profiles, %llu rules\n",
			(unsigned long long)o.enterprises, (unsigned long long)counts[0],
			(unsigned long long)counts[1], (unsigned long long)counts[2],
			(unsigned long long)counts[3], (unsigned long long)counts[4], o.senders,
			(unsigned long long)o.profiles, (unsigned long long)o.rules);
		fprintf(stderr,
			"  time: corpus %.2fs, registry %.2fs, rules %.2fs, traffic %.2fs, total "
			"%.2fs\n",
			t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0);
	}
	senders_free(&snd);
	corpus_free(&c);
	return rc;
}
