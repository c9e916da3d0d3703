/*
 * redis.c - Redis mode of `clearway`: the control thread (control/sync.c) wired to the gateway's
 * counters, per-rule hits, journal ring and rule-set bookkeeping (see redis.h for the order main
 * must follow). Workers and the control thread share control/journal.h's record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "control/journal.h"
#include "control/sync.h"
#include "dataplane/gateway.h"
#include "dataplane/redis.h"

static struct cw_sync *sync_;

static void emit_counters(void *arg, cw_stat_emit_fn emit, void *ea)
{
	(void)arg;
	struct gw_totals *t = malloc(sizeof(*t));
	if (!t)
		return;
	gw_totals_collect(t);
	cw_counters_emit(&t->eng, emit, ea);
	const struct gw_dp_counters *d = &t->dp;
	char name[64];
	emit(ea, "rx_packets", d->rx_packets);
	emit(ea, "rx_bursts", d->rx_bursts);
	emit(ea, "rx_full_bursts", d->rx_full_bursts);
	emit(ea, "busy_cycles", d->busy_cycles);
	for (int i = 1; i < FRAME_DROP_NUM; i++) {
		snprintf(name, sizeof(name), "frame_drop_%s", frame_drop_name((enum frame_drop)i));
		emit(ea, name, d->frame_drops[i]);
	}
	emit(ea, "rx_too_long", d->rx_too_long);
	emit(ea, "resp_frames", d->resp_frames);
	emit(ea, "tx_packets", d->tx_packets);
	emit(ea, "tx_bytes", d->tx_bytes);
	emit(ea, "tx_full", d->tx_full);
	emit(ea, "tx_nombuf", d->tx_nombuf);
	emit(ea, "tx_build", d->tx_build);
	emit(ea, "journal_enq", d->journal_enq);
	emit(ea, "journal_overflow", d->journal_overflow);
	emit(ea, "journal_skipped", d->journal_skipped);
	const double ns = 1e9 / (double)rte_get_tsc_hz();
	emit(ea, "latency_samples", t->lat.count);
	emit(ea, "latency_p50_ns", (uint64_t)((double)gw_lat_quantile(&t->lat, 0.5) * ns));
	emit(ea, "latency_p99_ns", (uint64_t)((double)gw_lat_quantile(&t->lat, 0.99) * ns));
	emit(ea, "latency_max_ns", (uint64_t)((double)t->lat.max * ns));
	emit(ea, "workers", t->workers);
	free(t);
}

static void emit_hits(void *arg, void (*fn)(uint32_t, uint64_t, void *), void *a)
{
	(void)arg;
	gw_rule_hits(fn, a);
}

static void on_rules(void *arg, const struct cw_ruleset *rs, const char *source)
{
	(void)arg;
	gw_note_ruleset(rs, source);
}

static void on_rules_error(void *arg, const char *err)
{
	(void)arg;
	gw_note_ruleset_error(err);
}

static void log_line(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "clearway: %s\n", line);
}

int gw_redis_start(const char *redis, const char *node, bool no_wait, const volatile int *quit)
{
	struct cw_sync_config c;
	cw_sync_config_defaults(&c);
	c.redis = redis;
	c.node = node;
	c.no_wait = no_wait;
	c.journal = gw_journal_ring();
	c.counters = emit_counters;
	c.rule_hits = emit_hits;
	c.on_ruleset = on_rules;
	c.on_ruleset_error = on_rules_error;
	c.log = log_line;
	char err[256];
	sync_ = cw_sync_create(gw_engine(), &c, err, sizeof(err));
	if (!sync_) {
		fprintf(stderr, "clearway: --redis: %s\n", err);
		return -1;
	}
	fprintf(stderr, "clearway: Redis %s as node %s%s\n", redis ? redis : "(default)",
		cw_sync_node(sync_), no_wait ? ", not waiting for the first load" : "");
	if (!no_wait && cw_sync_initial_load(sync_, quit)) {
		gw_redis_stop();
		return -1;
	}
	if (c.journal)
		gw_journal_attach(true);
	if (cw_sync_start(sync_)) {
		fprintf(stderr, "clearway: control thread: %s\n", strerror(errno));
		gw_redis_stop();
		return -1;
	}
	return 0;
}

void gw_redis_stop(void)
{
	if (!sync_)
		return;
	cw_sync_stop(sync_);
	gw_journal_attach(false);
	cw_sync_destroy(sync_);
	sync_ = NULL;
}
