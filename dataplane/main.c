/*
 * main.c - `clearway`: EAL, loading (files or Redis), ports, workers, and the main lcore's loop.
 *
 * Why this file exists: it ties the parts together in the order that matters (tables loaded
 * before any worker exists, so the first publish needs no grace period; ports started before the
 * workers poll them) and keeps the main lcore off the packet path: it sleeps, reloads the rule
 * file on SIGHUP, prints progress, watches for idleness and, at the end, prints the summary.
 * In Redis mode (--redis) the control thread of dataplane/redis.c loads and follows instead of
 * the files; SIGHUP then only logs that Redis is the source (changes go through `cwctl`).
 *
 * Exit codes: 0 clean stop, 1 the counters did not add up, 2 usage, 3 environment (EAL, ports,
 * files).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "control/load.h"
#include "dataplane/gateway.h"
#include "dataplane/redis.h"

struct gw gw;

static volatile sig_atomic_t sig_stop, sig_hup;
static volatile uint64_t sig_hup_ns; /* when the last SIGHUP came (mono_ns) */

/* The clock of cw_mono_ns (CLOCK_MONOTONIC, ns), which gw_load_rules_file reports in;
 * async-signal-safe (clock_gettime is). */
static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		sig_hup_ns = mono_ns();
		sig_hup = 1;
	} else
		sig_stop = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Registry, senders and rules from files; before any worker context exists. */
static int load_files(void)
{
	char err[512];
	const struct gw_options *o = &gw.opt;
	if (o->registry) {
		long n = cw_registry_load_csv(gw.engine, o->registry, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "clearway: registry: %s\n", err);
			return -1;
		}
		fprintf(stderr, "clearway: %ld enterprises from %s\n", n, o->registry);
	}
	if (o->senders) {
		long n = cw_senders_load_csv(gw.engine, o->senders, err, sizeof(err));
		if (n < 0) {
			fprintf(stderr, "clearway: senders: %s\n", err);
			return -1;
		}
		fprintf(stderr, "clearway: %ld senders from %s\n", n, o->senders);
	} else {
		fprintf(stderr, "clearway: no --senders: every datagram will be dropped as from an "
				"unknown sender\n");
	}
	if (o->rules) {
		long v = gw_load_rules_file(o->rules, err, sizeof(err), NULL);
		if (v < 0) {
			fprintf(stderr, "clearway: rules: %s\n", err);
			return -1;
		}
		struct gw_ruleset_info ri;
		gw_ruleset_info(&ri);
		fprintf(stderr, "clearway: rule set version %ld from %s: %u rules, %u profiles\n",
			v, o->rules, ri.n_rules, ri.n_profiles);
	} else {
		fprintf(stderr, "clearway: no --rules: DECL and LIST are rejected NO_RULESET\n");
	}
	return 0;
}

/* Worker contexts start offline for RCU: a control thread may publish a rule set before the
 * workers are launched (or when the ports fail to start and they never are), and a publish
 * waits only for online workers. Each worker goes online itself when it starts. The pointer is
 * stored last (release): the control thread reads gw.workers[] for its counters meanwhile. */
static int create_workers(void)
{
	unsigned lcore, i = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (i == GW_MAX_WORKERS)
			break;
		struct gw_worker *w = gw_worker_create(i, lcore);
		if (!w) {
			fprintf(stderr, "clearway: cannot create worker %u on lcore %u\n", i,
				lcore);
			return -1;
		}
		cw_ctx_offline(gw_worker_ctx(w));
		__atomic_store_n(&gw.workers[i], w, __ATOMIC_RELEASE);
		i++;
	}
	return 0;
}

static void reload(void)
{
	char err[512];
	if (gw.opt.redis) {
		fprintf(stderr, "clearway: SIGHUP ignored: rules, registry and senders come from "
				"Redis (cwctl activate; `redis-cli XADD cw:events '*' kind resync` "
				"reloads everything)\n");
		return;
	}
	if (!gw.opt.rules) {
		fprintf(stderr, "clearway: SIGHUP: no --rules file to read again\n");
		return;
	}
	const uint64_t signalled = sig_hup_ns, t0 = mono_ns();
	struct gw_load_times t;
	long v = gw_load_rules_file(gw.opt.rules, err, sizeof(err), &t);
	if (v < 0) {
		fprintf(stderr, "clearway: SIGHUP: %s; keeping version %u\n", err,
			cw_engine_version(gw.engine));
		gw_fold_rules(); /* a live delta's fold, which the failed set cancelled */
		return;
	}
	/* counted from the signal, as DESIGN §8 counts from the event; then step by step */
	const double ms = 1e6;
	fprintf(stderr,
		"clearway: SIGHUP: rule set version %ld live after %.1f ms (%s); steps: start "
		"%.2f, read %.2f, parse %.2f (%" PRIu64 " page faults), build %.2f (%" PRIu64
		") ms; live, then grace %.2f ms\n",
		v, (double)(t.live_ns - signalled) / ms,
		cw_snapshot_is_delta(cw_engine_active(gw.engine)) ? "delta on the last full build"
								  : "full build",
		(double)(t0 - signalled) / ms, (double)t.read_ns / ms, (double)t.parse_ns / ms,
		t.parse_faults, (double)t.build_ns / ms, t.build_faults, (double)t.grace_ns / ms);
	gw_fold_rules();
}

static uint64_t rx_total(void)
{
	uint64_t n = 0;
	for (unsigned w = 0; w < gw.n_workers; w++)
		n += gw_worker_rx_packets(gw.workers[w]);
	return n;
}

/* The main lcore's loop: signals, progress, idle exit. Returns when it is time to stop. */
static void supervise(void)
{
	const uint64_t hz = rte_get_tsc_hz();
	uint64_t last_rx = 0, last_change = rte_rdtsc();
	uint64_t next_stats = last_change + gw.opt.stats_secs * hz;
	double last_stats_s = now_s();
	struct gw_totals *prev = calloc(1, sizeof(*prev));

	while (!sig_stop) {
		/* 5 ms, or until a signal comes (nanosleep returns early; rte_delay_us_sleep
		 * would sleep on): a SIGHUP starts its reload at once */
		struct timespec nap = {0, 5000000};
		nanosleep(&nap, NULL);
		if (sig_hup) {
			sig_hup = 0;
			reload();
		}
		gw_fold_poll();
		uint64_t now = rte_rdtsc();
		if (gw.opt.stats_secs && prev && now >= next_stats) {
			double t = now_s();
			gw_print_progress(prev, t - last_stats_s);
			last_stats_s = t;
			next_stats = now + gw.opt.stats_secs * hz;
		}
		if (gw.opt.max_packets && rx_total() >= gw.opt.max_packets) {
			fprintf(stderr, "clearway: %lu packets received, stopping\n",
				(unsigned long)gw.opt.max_packets);
			break;
		}
		if (gw.opt.idle_exit_ms) {
			uint64_t rx = rx_total();
			if (rx != last_rx) {
				last_rx = rx;
				last_change = now;
			} else if (now - last_change >= gw.opt.idle_exit_ms * hz / 1000) {
				fprintf(stderr, "clearway: idle for %lu ms, stopping\n",
					(unsigned long)gw.opt.idle_exit_ms);
				break;
			}
		}
	}
	if (sig_stop)
		fprintf(stderr, "clearway: signal received, stopping\n");
	free(prev);
}

static int finish(double started)
{
	struct gw_totals *t = calloc(1, sizeof(*t));
	if (!t)
		return 3;
	gw_totals_collect(t);
	double wall = now_s() - started;
	bool ok = gw_print_summary(stdout, t, wall);
	fflush(stdout);
	if (gw.opt.summary_json && gw_write_summary_json(gw.opt.summary_json, t, wall))
		fprintf(stderr, "clearway: cannot write %s\n", gw.opt.summary_json);
	free(t);
	return ok ? 0 : 1;
}

static void teardown(void)
{
	gw_redis_stop(); /* no-op unless still running (a failed start) */
	gw_ports_stop();
	for (unsigned w = 0; w < gw.n_workers; w++)
		gw_worker_destroy(gw.workers[w]);
	if (gw.journal)
		rte_ring_free(gw.journal);
	if (gw.engine) {
		gw_rules_release();
		cw_engine_destroy(gw.engine);
	}
	for (unsigned s = 0; s < RTE_DIM(gw.pool); s++)
		rte_mempool_free(gw.pool[s]);
	rte_eal_cleanup();
}

/* The main lcore, and the control and compile threads it starts (they inherit its nice value),
 * share their CPU with whatever else runs there; the workers poll CPUs of their own, started
 * by the EAL before this. An urgent rule delta or a registry change must not wait behind a
 * busy neighbour's time slices: on the 2-CPU bench, a busy-polling generator on the same CPU
 * stretched a 5 ms delta to 60-120 ms. Without the privilege (CAP_SYS_NICE) it stays as it is. */
static void raise_control_priority(void)
{
	if (gw.opt.control_nice == 0)
		return;
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), gw.opt.control_nice) != 0)
		fprintf(stderr, "clearway: control threads keep their priority (nice %d: %s)\n",
			gw.opt.control_nice, strerror(errno));
}

int main(int argc, char **argv)
{
	int ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "clearway: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 3;
	}
	argc -= ret;
	argv += ret;
	rte_spinlock_init(&gw.info_lock);
	int rc = gw_options_parse(argc, argv, &gw.opt);
	if (rc) {
		rte_eal_cleanup();
		return rc > 0 ? 0 : 2;
	}
	install_signals();
	raise_control_priority();
	cw_engine_keep_build_memory();

	gw.n_workers = RTE_MIN(rte_lcore_count() - 1, (unsigned)GW_MAX_WORKERS);
	if (gw.n_workers == 0) {
		fprintf(stderr, "clearway: no worker lcore: the main lcore does not poll; give at "
				"least two lcores (e.g. -l 0-1)\n");
		rte_eal_cleanup();
		return 2;
	}
	gw.per_dgram_v4 = RTE_MIN(cwp_verdicts_per_dgram(gw.opt.mtu, 20), (unsigned)CWP_MAX_MSGS);
	gw.per_dgram_v6 = RTE_MIN(cwp_verdicts_per_dgram(gw.opt.mtu, 40), (unsigned)CWP_MAX_MSGS);
	gw.opt.engine.max_workers = gw.n_workers;

	/* unless told, room for the registry there is (the default is a floor); --no-wait must
	 * not wait for an answer from Redis */
	uint32_t *reg_cap = &gw.opt.engine.registry_capacity;
	if (!gw.opt.registry_capacity_set && gw.opt.redis && !gw.opt.no_wait)
		*reg_cap = cw_registry_capacity_redis(gw.opt.redis, *reg_cap);
	else if (!gw.opt.registry_capacity_set && gw.opt.registry)
		*reg_cap = cw_registry_csv_capacity(gw.opt.registry, *reg_cap);
	char err[256];
	gw.engine = cw_engine_create(&gw.opt.engine, err, sizeof(err));
	if (!gw.engine) {
		fprintf(stderr, "clearway: engine: %s\n", err);
		rte_eal_cleanup();
		return 3;
	}
	if ((!gw.opt.redis && load_files()) || gw_journal_create(gw.opt.journal_size)) {
		teardown();
		return 3;
	}
	if (gw.opt.redis && gw_redis_start(gw.opt.redis, gw.opt.node, gw.opt.no_wait, &sig_stop)) {
		/* interrupted while waiting for Redis is a clean stop; a setup failure is not */
		rc = sig_stop ? 0 : 3;
		if (sig_stop)
			fprintf(stderr,
				"clearway: signal received before the first load, stopping\n");
		teardown();
		return rc;
	}
	if (create_workers() || gw_ports_start()) {
		teardown();
		return 3;
	}
	gw_telemetry_register();
	fprintf(stderr,
		"clearway: %u worker%s, UDP port %u, MTU %u (%u verdicts per IPv4 answer, "
		"%u per IPv6), replay window %u\n",
		gw.n_workers, gw.n_workers == 1 ? "" : "s", gw.opt.udp_port, gw.opt.mtu,
		gw.per_dgram_v4, gw.per_dgram_v6, gw.opt.engine.replay_window);

	double started = now_s();
	gw.start_tsc = rte_rdtsc();
	for (unsigned w = 0; w < gw.n_workers; w++)
		rte_eal_remote_launch(gw_worker_main, gw.workers[w],
				      gw_worker_lcore(gw.workers[w]));
	supervise();
	__atomic_store_n(&gw.stop, 1, __ATOMIC_RELEASE);
	rte_eal_mp_wait_lcore();

	/* The summary before the control thread goes: gw_redis_stop() may replace a delta rule
	 * set by its base, and the per-rule hits the summary prints refer to the set the workers
	 * last used. The control thread's last words (journal, stats, state stopped) follow. */
	rc = finish(started);
	gw_redis_stop();
	teardown();
	return rc;
}
