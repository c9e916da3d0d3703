/*
 * gateway.h - the state of one `clearway` process, shared by its parts.
 *
 * Why this file exists: the gateway is split by job (options, ports, the worker loop, counters,
 * latency, telemetry, the rule loader) so that a control thread (Redis sync, DESIGN §6) can be
 * added beside the file-mode loader without touching the packet path. Everything such a thread
 * needs is here: the engine, merged counters, per-rule hits, a publish helper, and the journal
 * ring that workers fill with non-declare verdicts and rejects.
 *
 * Threads: worker lcores write only their own `struct gw_worker`; the main lcore (and a control
 * thread, and the telemetry thread) read it with relaxed atomic loads and never write it.
 */
#ifndef CW_DATAPLANE_GATEWAY_H
#define CW_DATAPLANE_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_spinlock.h>

#include "control/journal.h"
#include "dataplane/latency.h"
#include "dataplane/wire/frame.h"
#include "rules/engine.h"

#define GW_BURST       32
#define GW_MAX_WORKERS 64
#define GW_MAX_PORTS   16
#define GW_MAX_RXQ     64   /* (port, queue) pairs one worker may poll */
#define GW_MAX_FRAME   9728 /* longest request frame read (jumbo); longer ones are dropped */
#define GW_TX_RETRIES  8    /* tx_burst calls in a row that send nothing before giving up */

/* ---- options (dataplane/options.c) ---- */

struct gw_options {
	const char *rules, *registry, *senders; /* file mode */
	const char *redis;	  /* Redis mode (DESIGN §6): HOST:PORT or unix:PATH */
	const char *node;	  /* --node, NULL: the host name */
	bool no_wait;		  /* --no-wait: ports start before the first load */
	const char *summary_json; /* final summary as JSON too */
	uint16_t udp_port;
	unsigned mtu;
	uint64_t idle_exit_ms; /* 0: never */
	uint64_t max_packets;  /* stop after this many received packets; 0: never */
	int control_nice;      /* nice value of the main lcore and the control threads */
	unsigned stats_secs;   /* 0: no progress lines */
	int tx_port;	       /* -1: answer on the port the request came in on */
	unsigned rx_desc, tx_desc;
	unsigned mbufs;	       /* mbufs per pool, 0: computed */
	unsigned journal_size; /* records, power of two */
	struct cw_engine_config engine;
	bool registry_capacity_set; /* --registry-capacity given (else sized to --registry) */
};

/* Parses the arguments after EAL's. 0 ok, 1 exit successfully (--help), -1 usage error. */
int gw_options_parse(int argc, char **argv, struct gw_options *o);

/* ---- counters ---- */

/* Dataplane counters of one worker; all plain sums (merged by adding field by field). */
struct gw_dp_counters {
	uint64_t rx_packets;
	uint64_t rx_bursts;
	uint64_t rx_full_bursts; /* bursts that came back full: a backlog had built up (a stall of
				  * this worker's CPU, or traffic arriving in a clump) */
	uint64_t busy_cycles;	 /* TSC cycles from each RX burst that brought packets to the end
				  * of its answers: per message, the worker's own cost, whatever the
				  * offered load (an idle worker polling empty queues adds none) */
	uint64_t frame_drops[FRAME_DROP_NUM]; /* index enum frame_drop; [0] unused */
	uint64_t rx_too_long;		      /* frames over GW_MAX_FRAME */
	uint64_t resp_frames;		      /* response frames built (or attempted) */
	uint64_t resp_inplace;		      /* built in the request's mbuf */
	uint64_t resp_fresh;		      /* built in a fresh mbuf */
	uint64_t tx_packets;		      /* accepted by tx_burst */
	uint64_t tx_bytes;
	uint64_t tx_full;   /* TX queue full after the retries */
	uint64_t tx_nombuf; /* no mbuf for a response frame */
	uint64_t tx_build;  /* response frame did not fit (should stay 0) */
	uint64_t journal_enq;
	uint64_t journal_overflow; /* ring full */
	uint64_t journal_skipped;  /* no consumer attached (file mode) */
};
#define GW_DP_NFIELDS (sizeof(struct gw_dp_counters) / sizeof(uint64_t))

/* Everything about all workers, merged (gw_totals_collect). */
struct gw_totals {
	struct cw_counters eng;
	struct gw_dp_counters dp;
	struct gw_latency lat;
	uint64_t first_rx_tsc, last_tsc; /* 0 when nothing was received */
	unsigned workers;
};

/* ---- journal ---- */

/* Records are control/journal.h's struct cw_journal_rec, filled by cw_journal_fill. */

/* ---- workers (dataplane/worker.c) ---- */

struct gw_rxq {
	uint16_t port, queue;
};

struct gw_worker; /* private to worker.c */

struct gw_worker *gw_worker_create(unsigned id, unsigned lcore);
void gw_worker_destroy(struct gw_worker *w);
int gw_worker_add_rxq(struct gw_worker *w, struct gw_rxq q);
int gw_worker_main(void *arg); /* lcore entry point */
/* Read side for other threads (relaxed loads). */
void gw_worker_read(const struct gw_worker *w, struct gw_dp_counters *dp, struct gw_latency *lat,
		    uint64_t *first_rx_tsc, uint64_t *last_tsc);
struct cw_ctx *gw_worker_ctx(const struct gw_worker *w);
unsigned gw_worker_lcore(const struct gw_worker *w);
unsigned gw_worker_nrxq(const struct gw_worker *w);
uint64_t gw_worker_rx_packets(const struct gw_worker *w);

/* ---- ports (dataplane/port.c) ---- */

struct gw_port {
	uint16_t id;
	bool present, started;
	bool rx; /* polled for requests */
	bool rss;
	uint16_t nrxq, ntxq;
	bool tx_shared; /* fewer TX queues than workers: TX takes a lock */
	rte_spinlock_t txlock[GW_MAX_WORKERS];
	char driver[32];
};

/* Configures and starts every port, spreads their RX queues over the workers. 0 or -1. */
int gw_ports_start(void);
void gw_ports_stop(void);

/* ---- the process ---- */

struct gw_ruleset_info {
	uint32_t version, n_rules, n_profiles;
	uint64_t n_expanded;
	uint64_t loads, load_failures;
	uint64_t loaded_unix_ms;
	char source[256];
	char last_error[256];
};

struct gw {
	struct gw_options opt;
	struct cw_engine *engine;
	unsigned n_workers;
	struct gw_worker *workers[GW_MAX_WORKERS];
	unsigned n_ports;
	struct gw_port ports[GW_MAX_PORTS];
	struct rte_mempool *pool[8];	     /* per NUMA socket */
	unsigned per_dgram_v4, per_dgram_v6; /* verdicts per response datagram (§3.3) */
	struct rte_ring *journal;
	int journal_consumer; /* atomic: a control thread drains the ring */
	int stop;	      /* atomic: workers leave their loops */
	uint64_t start_tsc;
	rte_spinlock_t info_lock; /* guards `rules` (main/control vs telemetry thread) */
	struct gw_ruleset_info rules;
};
extern struct gw gw;

static inline bool gw_stopping(void)
{
	return __atomic_load_n(&gw.stop, __ATOMIC_RELAXED) != 0;
}

/* ---- for the main lcore and a control thread ---- */

static inline struct cw_engine *gw_engine(void)
{
	return gw.engine;
}

/* Merges every worker's counters and latency (any thread; relaxed reads). */
void gw_totals_collect(struct gw_totals *t);
/* Seconds between the first received packet and the last activity (0 if none). */
double gw_totals_active_seconds(const struct gw_totals *t);
/* The accounting check: every packet received is answered or dropped under one cause, and
 * every response frame is sent or dropped. true when it adds up; else why in `why`. */
bool gw_totals_check(const struct gw_totals *t, char *why, size_t n);

/* Per-rule hits summed over workers (rules of the snapshot each worker last used). Calls fn
 * once per rule id with hits > 0, in no particular order. Returns the number of rules. */
size_t gw_rule_hits(void (*fn)(uint32_t rule_id, uint64_t hits, void *arg), void *arg);

/* Where the time of a rule-set load went (SIGHUP's log line), in ns. */
struct gw_load_times {
	uint64_t read_ns;		     /* reading the file */
	uint64_t parse_ns, build_ns;	     /* the compile */
	uint64_t parse_faults, build_faults; /* page faults of the compiling thread */
	uint64_t live_ns;  /* when the new set was swapped in (CLOCK_MONOTONIC): every burst after
			    * it decides with it */
	uint64_t grace_ns; /* then: waiting for bursts begun before to end (RCU), before the
			    * replaced set is freed */
};
/* Compiles rule-set text (malloc'd, NUL-terminated, taken over) and publishes it through the
 * engine's RCU path (workers keep running). Returns the new version, or -1 with err filled (the
 * old rule set stays). t (may be NULL) gets the steps' times (not read_ns). */
long gw_publish_rules(char *text, size_t len, const char *source, char *err, size_t n,
		      struct gw_load_times *t);
/* Reads a rule file and publishes it (--rules, SIGHUP). */
long gw_load_rules_file(const char *path, char *err, size_t n, struct gw_load_times *t);
/* Asks for the full build of a live delta's text on the fold thread (file mode, after every
 * SIGHUP: the new set's or, when it failed, the one it cancelled; control/fold.h). Nothing when
 * the live set is a full build or that very build is under way. */
void gw_fold_rules(void);
/* Publishes the fold gw_fold_rules asked for once it is built, if still current (main lcore). */
void gw_fold_poll(void);
/* Before the engine goes: leaves it holding a full snapshot, frees file mode's own state. */
void gw_rules_release(void);
/* Records what is active after someone else published a snapshot (a control thread that
 * builds deltas itself). */
void gw_note_ruleset(const struct cw_ruleset *rs, const char *source);
void gw_note_ruleset_error(const char *err);
void gw_ruleset_info(struct gw_ruleset_info *out);

/* The journal: a multi-producer ring of struct cw_journal_rec. Workers enqueue only while a
 * consumer is attached; otherwise they count the records as skipped. */
int gw_journal_create(unsigned size);
static inline struct rte_ring *gw_journal_ring(void)
{
	return gw.journal;
}
static inline void gw_journal_attach(bool on)
{
	__atomic_store_n(&gw.journal_consumer, on ? 1 : 0, __ATOMIC_RELEASE);
}

/* ---- summary and telemetry (dataplane/stats.c, dataplane/telemetry.c) ---- */

/* One progress line to stderr (--stats); prev holds the previous totals and is updated. */
void gw_print_progress(struct gw_totals *prev, double elapsed_s);
/* The final summary to f; returns false when the accounting check failed. */
bool gw_print_summary(FILE *f, const struct gw_totals *t, double wall_s);
int gw_write_summary_json(const char *path, const struct gw_totals *t, double wall_s);
void gw_telemetry_register(void);

#endif
