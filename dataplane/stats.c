/*
 * stats.c - merging the workers' counters, checking that they add up, and printing them: the
 * progress line (--stats), the final summary and its JSON twin (--summary-json).
 *
 * Why this file exists: an operator must be able to tell, for every packet that came in, what
 * became of it (DESIGN §3.4: drops are counted, never silent). The totals are merged on demand
 * from per-worker counters so the packet path never shares a cache line; the accounting check
 * here is what the tests and the summary rely on.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "dataplane/gateway.h"

#define ENG_NFIELDS (sizeof(struct cw_counters) / sizeof(uint64_t))
_Static_assert(sizeof(struct cw_counters) % sizeof(uint64_t) == 0, "counters are u64");
_Static_assert(sizeof(struct gw_dp_counters) % sizeof(uint64_t) == 0, "counters are u64");

void gw_totals_collect(struct gw_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->workers = gw.n_workers;
	for (unsigned w = 0; w < gw.n_workers; w++) {
		/* NULL while main creates the workers (a control thread may already ask) */
		const struct gw_worker *wk = __atomic_load_n(&gw.workers[w], __ATOMIC_ACQUIRE);
		if (!wk)
			continue;
		uint64_t first, last;
		gw_worker_read(wk, &t->dp, &t->lat, &first, &last);
		if (first && (!t->first_rx_tsc || first < t->first_rx_tsc))
			t->first_rx_tsc = first;
		if (last > t->last_tsc)
			t->last_tsc = last;
		const uint64_t *src = (const uint64_t *)cw_ctx_counters(gw_worker_ctx(wk));
		uint64_t *dst = (uint64_t *)&t->eng;
		for (size_t i = 0; i < ENG_NFIELDS; i++)
			dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	}
}

double gw_totals_active_seconds(const struct gw_totals *t)
{
	if (!t->first_rx_tsc || t->last_tsc <= t->first_rx_tsc)
		return 0;
	return (double)(t->last_tsc - t->first_rx_tsc) / (double)rte_get_tsc_hz();
}

/* Drop groups of the summary (§3 and the list). */
static uint64_t drops_l2l4(const struct gw_totals *t)
{
	const uint64_t *f = t->dp.frame_drops;
	return f[FRAME_DROP_L2] + f[FRAME_DROP_L3] + f[FRAME_DROP_NOT_UDP] + f[FRAME_DROP_L4] +
	       f[FRAME_DROP_PORT] + t->dp.rx_too_long;
}
static uint64_t drops_checksum(const struct gw_totals *t)
{
	return t->dp.frame_drops[FRAME_DROP_IP_CSUM] + t->dp.frame_drops[FRAME_DROP_UDP_CSUM];
}
static uint64_t drops_tx(const struct gw_totals *t)
{
	return t->dp.tx_full + t->dp.tx_nombuf + t->dp.tx_build;
}
static uint64_t sum(const uint64_t *v, size_t from, size_t to)
{
	uint64_t s = 0;
	for (size_t i = from; i < to; i++)
		s += v[i];
	return s;
}

bool gw_totals_check(const struct gw_totals *t, char *why, size_t n)
{
	const struct cw_counters *e = &t->eng;
	const uint64_t frame = sum(t->dp.frame_drops, 1, FRAME_DROP_NUM) + t->dp.rx_too_long;
	const uint64_t edrops = sum(e->drops, 1, CW_DROP_NUM);
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(why, n, __VA_ARGS__);                                                     \
		return false;                                                                      \
	} while (0)
	if (t->dp.rx_packets != frame + e->datagrams)
		FAIL("packets in %" PRIu64 " != frame drops %" PRIu64 " + CWP datagrams %" PRIu64,
		     t->dp.rx_packets, frame, e->datagrams);
	if (e->datagrams != e->answered_datagrams + edrops)
		FAIL("CWP datagrams %" PRIu64 " != answered %" PRIu64 " + dropped %" PRIu64,
		     e->datagrams, e->answered_datagrams, edrops);
	if (e->drops[CW_DROP_HEADER] != sum(e->header_errs, 1, CWP_DG_NUM_ERRS))
		FAIL("header drops %" PRIu64 " != sum of header errors %" PRIu64,
		     e->drops[CW_DROP_HEADER], sum(e->header_errs, 1, CWP_DG_NUM_ERRS));
	if (e->messages != sum(e->by_status, 0, 3))
		FAIL("verdicts %" PRIu64 " != sum by status %" PRIu64, e->messages,
		     sum(e->by_status, 0, 3));
	if (e->by_status[CWP_DECIDED] != sum(e->by_mode, 0, CWP_NUM_MODES))
		FAIL("DECIDED %" PRIu64 " != sum by mode %" PRIu64, e->by_status[CWP_DECIDED],
		     sum(e->by_mode, 0, CWP_NUM_MODES));
	if (e->by_status[CWP_REJECTED] != sum(e->rejects, 1, CWP_NUM_REJECTS))
		FAIL("REJECTED %" PRIu64 " != sum of reject codes %" PRIu64,
		     e->by_status[CWP_REJECTED], sum(e->rejects, 1, CWP_NUM_REJECTS));
	if (t->dp.resp_frames != t->dp.tx_packets + drops_tx(t))
		FAIL("response frames %" PRIu64 " != sent %" PRIu64 " + TX drops %" PRIu64,
		     t->dp.resp_frames, t->dp.tx_packets, drops_tx(t));
	if (e->answered_datagrams && t->dp.resp_frames < e->answered_datagrams)
		FAIL("fewer response frames (%" PRIu64 ") than answered datagrams (%" PRIu64 ")",
		     t->dp.resp_frames, e->answered_datagrams);
#undef FAIL
	snprintf(why, n,
		 "%" PRIu64 " packets in = %" PRIu64 " answered + %" PRIu64 " dropped; %" PRIu64
		 " response frames = %" PRIu64 " sent + %" PRIu64 " TX drops",
		 t->dp.rx_packets, e->answered_datagrams, frame + edrops, t->dp.resp_frames,
		 t->dp.tx_packets, drops_tx(t));
	return true;
}

static double ns(uint64_t cycles)
{
	return (double)cycles * 1e9 / (double)rte_get_tsc_hz();
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

void gw_print_progress(struct gw_totals *prev, double elapsed_s)
{
	struct gw_totals *t = malloc(sizeof(*t));
	if (!t)
		return;
	gw_totals_collect(t);
	const struct cw_counters *e = &t->eng;
	const uint64_t dmsgs = e->messages - prev->eng.messages;
	const uint64_t decided = e->by_status[CWP_DECIDED];
	const uint64_t drops = sum(t->dp.frame_drops, 1, FRAME_DROP_NUM) + t->dp.rx_too_long +
			       sum(e->drops, 1, CW_DROP_NUM);
	/* the workers' own cost per message over the interval: what they could take at full load,
	 * next to what they were offered */
	const uint64_t dbusy = t->dp.busy_cycles - prev->dp.busy_cycles;
	/* and how the packets came: a message costs more in a small burst (docs/benchmarks.md) */
	const uint64_t dbursts = t->dp.rx_bursts - prev->dp.rx_bursts,
		       dpkts = t->dp.rx_packets - prev->dp.rx_packets;
	fprintf(stderr,
		"clearway: pkts %" PRIu64 " msgs %" PRIu64 " (%.0f msgs/s) declare %.1f%% verify "
		"%.1f%% sample %.1f%% supervise %.1f%% rejected %" PRIu64 " drops %" PRIu64
		" tx-drops %" PRIu64 " busy %.1f%% cycles/msg %.0f pkts/burst %.1f\n",
		t->dp.rx_packets, e->messages, elapsed_s > 0 ? (double)dmsgs / elapsed_s : 0.0,
		pct(e->by_mode[0], decided), pct(e->by_mode[1], decided),
		pct(e->by_mode[2], decided), pct(e->by_mode[3], decided),
		e->by_status[CWP_REJECTED], drops, drops_tx(t),
		elapsed_s > 0 && t->workers
		    ? 100.0 * (double)dbusy /
			  (elapsed_s * (double)rte_get_tsc_hz() * (double)t->workers)
		    : 0.0,
		dmsgs ? (double)dbusy / (double)dmsgs : 0.0,
		dbursts ? (double)dpkts / (double)dbursts : 0.0);
	*prev = *t;
	free(t);
}

/* ---- top rules, for the summary ---- */

struct top {
	uint32_t id;
	uint64_t hits;
};
#define NTOP 8
struct tops {
	struct top v[NTOP];
	unsigned n;
};

static void keep_top(uint32_t id, uint64_t hits, void *arg)
{
	struct tops *t = arg;
	unsigned i = t->n < NTOP ? t->n++ : NTOP;
	if (i == NTOP) {
		if (hits <= t->v[NTOP - 1].hits)
			return;
		i = NTOP - 1;
	}
	while (i > 0 && t->v[i - 1].hits < hits) {
		t->v[i] = t->v[i - 1];
		i--;
	}
	t->v[i] = (struct top){id, hits};
}

/* The reason text of a rule of the active rule set, "" when unknown. */
static const char *rule_reason(uint32_t id)
{
	const struct cw_snapshot *s = cw_engine_active(gw.engine);
	const struct cw_ruleset *rs = s ? cw_snapshot_ruleset(s) : NULL;
	if (!rs)
		return "";
	for (uint32_t i = 0; i < rs->n_rules; i++)
		if (rs->rules[i].id == id)
			return rs->rules[i].reason == UINT32_MAX
				   ? ""
				   : rs->strings + rs->rules[i].reason;
	return "";
}

static void print_list(FILE *f, const char *title, const uint64_t *v, unsigned from, unsigned to,
		       const char *(*name)(uint16_t), uint64_t whole)
{
	fprintf(f, "  %-18s", title);
	bool any = false;
	for (unsigned i = from; i < to; i++) {
		if (!v[i])
			continue;
		fprintf(f, "%s%s %" PRIu64, any ? ", " : "", name((uint16_t)i), v[i]);
		if (whole)
			fprintf(f, " (%.1f%%)", pct(v[i], whole));
		any = true;
	}
	fprintf(f, "%s\n", any ? "" : "none");
}

static const char *reject_name(uint16_t c)
{
	return cwp_reject_name(c);
}
static const char *reason_name(uint16_t c)
{
	return cwp_reason_name(c);
}
static const char *status_name(uint16_t c)
{
	return cwp_status_name((uint8_t)c);
}
static const char *mode_name(uint16_t c)
{
	return cwp_mode_name((uint8_t)c);
}
static const char *type_name(uint16_t c)
{
	return c == 0 ? "unknown" : cwp_type_name((uint8_t)c);
}
static const char *dg_name(uint16_t c)
{
	return cwp_dgram_err_name((enum cwp_dgram_err)c);
}
static const char *frame_name(uint16_t c)
{
	return frame_drop_name((enum frame_drop)c);
}

static void print_latency(FILE *f, const struct gw_latency *l)
{
	if (!l->count) {
		fprintf(f, "  %-18snone\n", "latency rx->tx");
		return;
	}
	fprintf(f,
		"  %-18sp50 %.2f us, p99 %.2f us, p99.9 %.2f us, max %.2f us, mean %.2f us "
		"(%" PRIu64 " datagrams)\n",
		"latency rx->tx", ns(gw_lat_quantile(l, 0.5)) / 1e3,
		ns(gw_lat_quantile(l, 0.99)) / 1e3, ns(gw_lat_quantile(l, 0.999)) / 1e3,
		ns(l->max) / 1e3, ns(l->sum / l->count) / 1e3, l->count);
}

bool gw_print_summary(FILE *f, const struct gw_totals *t, double wall_s)
{
	const struct cw_counters *e = &t->eng;
	const double active = gw_totals_active_seconds(t);
	const uint64_t decided = e->by_status[CWP_DECIDED];
	struct gw_ruleset_info ri;
	gw_ruleset_info(&ri);

	fprintf(f,
		"clearway summary: %.3f s running, %.3f s with traffic, %u worker%s, rule set "
		"version %u%s%s%s\n",
		wall_s, active, t->workers, t->workers == 1 ? "" : "s", ri.version,
		ri.source[0] ? " (" : "", ri.source, ri.source[0] ? ")" : "");
	fprintf(f, "  %-18s%" PRIu64 "\n", "packets in", t->dp.rx_packets);
	fprintf(f, "  %-18s%" PRIu64 " datagrams, %" PRIu64 " messages, %.0f msgs/s\n", "answered",
		e->answered_datagrams, e->messages,
		active > 0 ? (double)e->messages / active : 0.0);
	print_list(f, "messages by type", e->by_type, 0, 7, type_name, e->messages);
	print_list(f, "verdicts", e->by_status, 0, 3, status_name, e->messages);
	print_list(f, "release modes", e->by_mode, 0, CWP_NUM_MODES, mode_name, decided);
	fprintf(f, "  %-18sgreen %" PRIu64 ", duplicates %" PRIu64 "\n", "flags", e->green,
		e->duplicates);
	print_list(f, "rejects", e->rejects, 1, CWP_NUM_REJECTS, reject_name, 0);
	print_list(f, "reasons", e->reasons, 1, 10, reason_name, 0);

	struct tops top = {.n = 0};
	gw_rule_hits(keep_top, &top);
	fprintf(f, "  %-18s%s\n", "top rules", top.n ? "" : "none");
	for (unsigned i = 0; i < top.n; i++)
		fprintf(f, "    rule %-8u %10" PRIu64 " hits  %s\n", top.v[i].id, top.v[i].hits,
			rule_reason(top.v[i].id));

	const uint64_t *fd = t->dp.frame_drops;
	fprintf(f,
		"  %-18sheader %" PRIu64 ", unknown sender %" PRIu64 ", source %" PRIu64
		", fragment %" PRIu64 ", checksum %" PRIu64 ", not CWP/other L2-L4 %" PRIu64
		", TX %" PRIu64 "\n",
		"drops", e->drops[CW_DROP_HEADER], e->drops[CW_DROP_UNKNOWN_SENDER],
		e->drops[CW_DROP_SOURCE], fd[FRAME_DROP_FRAGMENT], drops_checksum(t), drops_l2l4(t),
		drops_tx(t));
	print_list(f, "  header", e->header_errs, 1, CWP_DG_NUM_ERRS, dg_name, 0);
	print_list(f, "  L2-L4", fd, 1, FRAME_DROP_NUM, frame_name, 0);
	if (t->dp.rx_too_long)
		fprintf(f, "  %-18s%" PRIu64 "\n", "  too long", t->dp.rx_too_long);
	fprintf(f, "  %-18stx queue full %" PRIu64 ", no mbuf %" PRIu64 ", build %" PRIu64 "\n",
		"  TX", t->dp.tx_full, t->dp.tx_nombuf, t->dp.tx_build);
	fprintf(f,
		"  %-18s%" PRIu64 " frames sent (%" PRIu64 " in place, %" PRIu64 " fresh), %" PRIu64
		" bytes\n",
		"responses", t->dp.tx_packets, t->dp.resp_inplace, t->dp.resp_fresh,
		t->dp.tx_bytes);
	fprintf(f,
		"  %-18s%" PRIu64 " queued, %" PRIu64 " ring full, %" PRIu64
		" not queued (no consumer)\n",
		"journal", t->dp.journal_enq, t->dp.journal_overflow, t->dp.journal_skipped);
	print_latency(f, &t->lat);
	char why[320];
	bool ok = gw_totals_check(t, why, sizeof(why));
	fprintf(f, "  %-18s%s: %s\n", "accounting", ok ? "ok" : "MISMATCH", why);
	return ok;
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_map(FILE *f, const char *key, const uint64_t *v, unsigned from, unsigned to,
		     const char *(*name)(uint16_t))
{
	fprintf(f, ",\n  \"%s\": {", key);
	for (unsigned i = from; i < to; i++) {
		fprintf(f, "%s", i > from ? ", " : "");
		json_str(f, name((uint16_t)i));
		fprintf(f, ": %" PRIu64, v[i]);
	}
	fprintf(f, "}");
}

static void json_top(FILE *f, uint32_t id, uint64_t hits)
{
	fprintf(f, "{\"id\": %u, \"hits\": %" PRIu64 ", \"reason\": ", id, hits);
	json_str(f, rule_reason(id));
	fprintf(f, "}");
}

int gw_write_summary_json(const char *path, const struct gw_totals *t, double wall_s)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	const struct cw_counters *e = &t->eng;
	const uint64_t *fd = t->dp.frame_drops;
	const double active = gw_totals_active_seconds(t);
	struct gw_ruleset_info ri;
	gw_ruleset_info(&ri);
	char why[320];
	bool ok = gw_totals_check(t, why, sizeof(why));

	fprintf(
	    f,
	    "{\n  \"wall_s\": %.6f, \"active_s\": %.6f, \"workers\": %u, \"ruleset_version\": %u",
	    wall_s, active, t->workers, ri.version);
	fprintf(f, ", \"ruleset_source\": ");
	json_str(f, ri.source);
	fprintf(f,
		",\n  \"rx_packets\": %" PRIu64 ", \"rx_bursts\": %" PRIu64
		", \"rx_full_bursts\": %" PRIu64 ", \"busy_cycles\": %" PRIu64
		", \"datagrams\": %" PRIu64 ", \"answered_datagrams\": %" PRIu64
		", \"messages\": %" PRIu64 ", \"msgs_per_s\": %.1f, \"duplicates\": %" PRIu64
		", \"green\": %" PRIu64,
		t->dp.rx_packets, t->dp.rx_bursts, t->dp.rx_full_bursts, t->dp.busy_cycles,
		e->datagrams, e->answered_datagrams, e->messages,
		active > 0 ? (double)e->messages / active : 0.0, e->duplicates, e->green);
	json_map(f, "by_type", e->by_type, 0, 7, type_name);
	json_map(f, "by_status", e->by_status, 0, 3, status_name);
	json_map(f, "by_mode", e->by_mode, 0, CWP_NUM_MODES, mode_name);
	json_map(f, "rejects", e->rejects, 1, CWP_NUM_REJECTS, reject_name);
	json_map(f, "reasons", e->reasons, 1, 10, reason_name);
	json_map(f, "header_errors", e->header_errs, 1, CWP_DG_NUM_ERRS, dg_name);
	json_map(f, "frame_drops", fd, 1, FRAME_DROP_NUM, frame_name);
	fprintf(f,
		",\n  \"drops\": {\"header\": %" PRIu64 ", \"unknown_sender\": %" PRIu64
		", \"source\": %" PRIu64 ", \"fragment\": %" PRIu64 ", \"checksum\": %" PRIu64
		", \"l2l4\": %" PRIu64 ", \"too_long\": %" PRIu64 ", \"tx\": %" PRIu64 "}",
		e->drops[CW_DROP_HEADER], e->drops[CW_DROP_UNKNOWN_SENDER],
		e->drops[CW_DROP_SOURCE], fd[FRAME_DROP_FRAGMENT], drops_checksum(t), drops_l2l4(t),
		t->dp.rx_too_long, drops_tx(t));
	fprintf(f,
		",\n  \"tx\": {\"frames\": %" PRIu64 ", \"sent\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"in_place\": %" PRIu64 ", \"fresh\": %" PRIu64 ", \"queue_full\": %" PRIu64
		", \"no_mbuf\": %" PRIu64 ", \"build\": %" PRIu64 "}",
		t->dp.resp_frames, t->dp.tx_packets, t->dp.tx_bytes, t->dp.resp_inplace,
		t->dp.resp_fresh, t->dp.tx_full, t->dp.tx_nombuf, t->dp.tx_build);
	fprintf(f,
		",\n  \"journal\": {\"queued\": %" PRIu64 ", \"overflow\": %" PRIu64
		", \"skipped\": %" PRIu64 "}",
		t->dp.journal_enq, t->dp.journal_overflow, t->dp.journal_skipped);
	const struct gw_latency *l = &t->lat;
	fprintf(f,
		",\n  \"latency_ns\": {\"samples\": %" PRIu64 ", \"p50\": %.0f, \"p99\": %.0f, "
		"\"p999\": %.0f, \"max\": %.0f, \"mean\": %.0f}",
		l->count, ns(gw_lat_quantile(l, 0.5)), ns(gw_lat_quantile(l, 0.99)),
		ns(gw_lat_quantile(l, 0.999)), ns(l->max), l->count ? ns(l->sum / l->count) : 0.0);
	struct tops top = {.n = 0};
	gw_rule_hits(keep_top, &top);
	fprintf(f, ",\n  \"top_rules\": [");
	for (unsigned i = 0; i < top.n; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_top(f, top.v[i].id, top.v[i].hits);
	}
	fprintf(f, "],\n  \"accounting_ok\": %s, \"accounting\": ", ok ? "true" : "false");
	json_str(f, why);
	fprintf(f, "\n}\n");
	return fclose(f) ? -1 : 0;
}
