/*
 * telemetry.c - the gateway's rte_telemetry commands (usable with dpdk-telemetry.py):
 *   /clearway/stats    merged counters: packets, verdicts, rejects, drops by cause, TX
 *   /clearway/latency  RX->TX latency quantiles in ns
 *   /clearway/ruleset  the active rule set and the loader's record
 *   /clearway/stores   occupancy of the engine's stores and of the journal ring
 *
 * Why this file exists: operators watch a running gateway without stopping it (DESIGN §7).
 * Callbacks run on DPDK's telemetry thread, so they only read: counters with relaxed loads
 * (gw_totals_collect), the rule-set record under its lock. Dictionaries are flat ("drops/header")
 * because DPDK 22.11 nests only arrays.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_telemetry.h>

#include "dataplane/gateway.h"

static void put(struct rte_tel_data *d, const char *prefix, const char *name, uint64_t v)
{
	char key[RTE_TEL_MAX_STRING_LEN];
	snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "/" : "", name);
	/* telemetry names allow only [A-Za-z0-9_/] */
	for (char *k = key; *k; k++)
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		      (*k >= '0' && *k <= '9') || *k == '/'))
			*k = '_';
	rte_tel_data_add_dict_u64(d, key, v);
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct gw_totals *t = malloc(sizeof(*t));
	if (!t)
		return -1;
	gw_totals_collect(t);
	const struct cw_counters *e = &t->eng;
	rte_tel_data_start_dict(d);
	put(d, "", "workers", t->workers);
	put(d, "", "rx_packets", t->dp.rx_packets);
	put(d, "", "rx_bursts", t->dp.rx_bursts);
	put(d, "", "rx_full_bursts", t->dp.rx_full_bursts);
	put(d, "", "busy_cycles", t->dp.busy_cycles);
	put(d, "", "datagrams", e->datagrams);
	put(d, "", "answered_datagrams", e->answered_datagrams);
	put(d, "", "messages", e->messages);
	double active = gw_totals_active_seconds(t);
	put(d, "", "msgs_per_s", active > 0 ? (uint64_t)((double)e->messages / active) : 0);
	put(d, "", "duplicates", e->duplicates);
	put(d, "", "green", e->green);
	for (unsigned i = 0; i < 3; i++)
		put(d, "status", cwp_status_name((uint8_t)i), e->by_status[i]);
	for (unsigned i = 0; i < CWP_NUM_MODES; i++)
		put(d, "mode", cwp_mode_name((uint8_t)i), e->by_mode[i]);
	for (unsigned i = 1; i < CWP_NUM_REJECTS; i++)
		put(d, "reject", cwp_reject_name((uint16_t)i), e->rejects[i]);
	for (unsigned i = 1; i < 10; i++)
		put(d, "reason", cwp_reason_name((uint16_t)i), e->reasons[i]);
	put(d, "type", "unknown", e->by_type[0]);
	for (unsigned i = 1; i <= 6; i++)
		put(d, "type", cwp_type_name((uint8_t)i), e->by_type[i]);
	put(d, "drops", "header", e->drops[CW_DROP_HEADER]);
	put(d, "drops", "unknown_sender", e->drops[CW_DROP_UNKNOWN_SENDER]);
	put(d, "drops", "source", e->drops[CW_DROP_SOURCE]);
	for (unsigned i = 1; i < CWP_DG_NUM_ERRS; i++)
		put(d, "drops/header", cwp_dgram_err_name((enum cwp_dgram_err)i),
		    e->header_errs[i]);
	for (unsigned i = 1; i < FRAME_DROP_NUM; i++)
		put(d, "drops/frame", frame_drop_name((enum frame_drop)i), t->dp.frame_drops[i]);
	put(d, "drops/frame", "too_long", t->dp.rx_too_long);
	put(d, "tx", "frames", t->dp.resp_frames);
	put(d, "tx", "sent", t->dp.tx_packets);
	put(d, "tx", "bytes", t->dp.tx_bytes);
	put(d, "tx", "in_place", t->dp.resp_inplace);
	put(d, "tx", "fresh", t->dp.resp_fresh);
	put(d, "tx", "drop_queue_full", t->dp.tx_full);
	put(d, "tx", "drop_no_mbuf", t->dp.tx_nombuf);
	put(d, "tx", "drop_build", t->dp.tx_build);
	put(d, "journal", "queued", t->dp.journal_enq);
	put(d, "journal", "overflow", t->dp.journal_overflow);
	put(d, "journal", "skipped", t->dp.journal_skipped);
	free(t);
	return 0;
}

static int cmd_latency(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct gw_totals *t = malloc(sizeof(*t));
	if (!t)
		return -1;
	gw_totals_collect(t);
	const struct gw_latency *l = &t->lat;
	const double hz = (double)rte_get_tsc_hz();
#define NS(c) ((uint64_t)((double)(c)*1e9 / hz))
	rte_tel_data_start_dict(d);
	put(d, "", "samples", l->count);
	put(d, "", "p50_ns", NS(gw_lat_quantile(l, 0.50)));
	put(d, "", "p90_ns", NS(gw_lat_quantile(l, 0.90)));
	put(d, "", "p99_ns", NS(gw_lat_quantile(l, 0.99)));
	put(d, "", "p999_ns", NS(gw_lat_quantile(l, 0.999)));
	put(d, "", "max_ns", NS(l->max));
	put(d, "", "mean_ns", l->count ? NS(l->sum / l->count) : 0);
	put(d, "", "tsc_hz", (uint64_t)hz);
#undef NS
	free(t);
	return 0;
}

static int cmd_ruleset(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct gw_ruleset_info ri;
	gw_ruleset_info(&ri);
	rte_tel_data_start_dict(d);
	put(d, "", "version", ri.version);
	put(d, "", "rules", ri.n_rules);
	put(d, "", "profiles", ri.n_profiles);
	put(d, "", "acl_rules", ri.n_expanded);
	put(d, "", "loads", ri.loads);
	put(d, "", "load_failures", ri.load_failures);
	put(d, "", "loaded_unix_ms", ri.loaded_unix_ms);
	rte_tel_data_add_dict_string(d, "source", ri.source);
	rte_tel_data_add_dict_string(d, "last_error", ri.last_error);
	return 0;
}

static int cmd_stores(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd;
	(void)params;
	struct cw_store_stats st;
	cw_engine_store_stats(gw.engine, &st);
	rte_tel_data_start_dict(d);
	put(d, "", "registry", st.registry);
	put(d, "", "registry_capacity", st.registry_capacity);
	put(d, "", "senders", st.senders);
	put(d, "", "manifests", st.manifests);
	put(d, "", "manifest_capacity", st.manifest_capacity);
	put(d, "", "orders", st.orders);
	put(d, "", "ecom_capacity", st.ecom_capacity);
	put(d, "", "buyers", st.buyers);
	put(d, "", "buyer_capacity", st.buyer_capacity);
	if (gw.journal) {
		put(d, "", "journal_used", rte_ring_count(gw.journal));
		put(d, "", "journal_capacity", rte_ring_get_capacity(gw.journal));
	}
	return 0;
}

void gw_telemetry_register(void)
{
	rte_telemetry_register_cmd(
	    "/clearway/stats", cmd_stats,
	    "Counters of all workers: packets, verdicts, rejects, drops, TX");
	rte_telemetry_register_cmd("/clearway/latency", cmd_latency,
				   "RX-to-TX latency quantiles in ns, all workers");
	rte_telemetry_register_cmd("/clearway/ruleset", cmd_ruleset,
				   "The active rule set and the last load");
	rte_telemetry_register_cmd("/clearway/stores", cmd_stores,
				   "Occupancy of the registry, senders, stores and journal ring");
}
