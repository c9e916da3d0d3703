/*
 * stalls.c - `cwkbase stalls`: how often, and for how long, a busy-polling thread on a CPU does
 * not run at all.
 *
 * Why this file exists: DESIGN §8 asks p99 RX->TX latency <= 5 us at half load. A poll-mode
 * worker can only meet that if its CPU is its own: every time the hypervisor, an interrupt or a
 * kernel thread takes the CPU away, a datagram that arrives meanwhile waits, whatever the
 * gateway does. This probe spins on the worker's CPU doing nothing but reading the TSC, and
 * counts the gaps between two reads (the CPU was elsewhere). From them it works out the share of
 * arrival instants that would wait more than 5 us for the CPU: if that is above 1 %, no software
 * on this machine meets a 5 us p99, and the benchmark report says so next to its latency figures.
 *
 *   cwkbase stalls [--core C] [--seconds S] [--json FILE]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>

#include "bench/kbase/kbase.h"

/* A gap shorter than this is the loop itself (and the odd cache miss), not a stall. */
#define STALL_MIN_NS 2000
#define BUDGET_NS    5000 /* DESIGN §8's p99 target */

struct stall_stats {
	double seconds, tsc_hz;
	uint64_t over_2us, over_10us, over_50us, over_100us;
	double stalled_ns;	 /* time in gaps of over STALL_MIN_NS */
	double beyond_budget_ns; /* the part of each gap past its first BUDGET_NS */
	double max_ns;
};

/* TSC ticks per second, against CLOCK_MONOTONIC over 100 ms (no EAL here). */
static double tsc_hz(void)
{
	double t0 = kb_now();
	uint64_t c0 = rte_rdtsc();
	while (kb_now() - t0 < 0.1)
		;
	return (double)(rte_rdtsc() - c0) / (kb_now() - t0);
}

static void probe(double seconds, struct stall_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->tsc_hz = tsc_hz();
	const double ns_per_tick = 1e9 / st->tsc_hz;
	const uint64_t min_ticks = (uint64_t)(STALL_MIN_NS / ns_per_tick);
	uint64_t prev = rte_rdtsc(), start = prev;
	const uint64_t end = start + (uint64_t)(seconds * st->tsc_hz);
	while (prev < end) {
		uint64_t now = rte_rdtsc(), gap = now - prev;
		prev = now;
		if (gap < min_ticks)
			continue;
		double ns = (double)gap * ns_per_tick;
		st->over_2us++;
		st->over_10us += ns > 10000;
		st->over_50us += ns > 50000;
		st->over_100us += ns > 100000;
		st->stalled_ns += ns;
		if (ns > BUDGET_NS)
			st->beyond_budget_ns += ns - BUDGET_NS;
		if (ns > st->max_ns)
			st->max_ns = ns;
	}
	st->seconds = (double)(prev - start) * ns_per_tick / 1e9;
}

static void report(FILE *f, const struct stall_stats *st, unsigned core)
{
	double per_s = 1.0 / st->seconds, total_ns = st->seconds * 1e9;
	fprintf(f,
		"{\"core\": %u, \"seconds\": %.3f, \"tsc_hz\": %.0f, \"stalls_over_2us_per_s\": "
		"%.1f, \"stalls_over_10us_per_s\": %.1f, \"stalls_over_50us_per_s\": %.1f, "
		"\"stalls_over_100us_per_s\": %.1f, \"stalled_pct\": %.3f, "
		"\"wait_over_5us_pct\": %.3f, \"max_us\": %.1f}\n",
		core, st->seconds, st->tsc_hz, st->over_2us * per_s, st->over_10us * per_s,
		st->over_50us * per_s, st->over_100us * per_s, 100 * st->stalled_ns / total_ns,
		100 * st->beyond_budget_ns / total_ns, st->max_ns / 1e3);
}

int kb_stalls(int argc, char **argv)
{
	static const struct option opts[] = {{"core", required_argument, NULL, 'c'},
					     {"seconds", required_argument, NULL, 's'},
					     {"json", required_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	unsigned core = 1;
	double seconds = 5;
	const char *json = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			core = (unsigned)atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'j':
			json = optarg;
			break;
		default:
			return 2;
		}
	}
	if (seconds <= 0 || seconds > 3600) {
		fprintf(stderr, "stalls: --seconds must be in (0, 3600]\n");
		return 2;
	}
	if (kb_pin(core) != 0)
		return 3;
	struct stall_stats st;
	probe(seconds, &st);
	report(stdout, &st, core);
	if (json) {
		FILE *f = fopen(json, "w");
		if (!f) {
			perror(json);
			return 3;
		}
		report(f, &st, core);
		fclose(f);
	}
	return 0;
}
