/*
 * cmd_simulate.c - `cwctl simulate`: the decision engine offline, on a capture.
 *
 * Why this file exists: analysts replay real traffic against a rule set before it goes live,
 * and tests compare the gateway with this single-threaded, deterministic twin: OUT.pcap holds
 * exactly the response frames a gateway would send (DESIGN §3.3). With --diff R2 the same traffic
 * is decided under a second rule set and every change is reported (the backtest).
 *
 * With --redis the inputs come from the control plane instead of files (control/sync.h
 * cw_sync_load_all): the active rule set (or --version V), cw:ent and cw:senders, loaded exactly
 * as a gateway's full load does, so the answers are those of a gateway that follows that Redis.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_log.h>

#include "control/cmds.h"
#include "control/load.h"
#include "control/redisx.h"
#include "control/sync.h"
#include "dataplane/wire/cwp.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"
#include "rules/engine.h"

#define BURST 32

struct sim_opts {
	const char *rules, *registry, *senders, *in, *out, *diff;
	const char *redis;     /* --redis: rules, registry and senders from there */
	uint32_t version;      /* --version with --redis, 0: the active one */
	uint32_t diff_version; /* --diff V with --redis: a stored version, 0: --diff is a file */
	char label_a[64], label_b[64];
	uint32_t replay_window;
	unsigned mtu;
	uint16_t udp_port;
	bool json;
	bool linear;		/* reference evaluation, no ACL */
	bool huge;		/* --huge: hugepages */
	const char *delta_from; /* --delta-from R0: the rules as a delta on R0's full build */
	/* --*-capacity, 0: the engine's default (the registry's: sized to the data) */
	uint32_t registry_cap, manifest_cap, ecom_cap, buyer_cap;
	uint32_t part_mb; /* --part-mb: the capture is read and replayed this much at a time */
};

/* One message's outcome, kept for --diff. */
struct outcome {
	uint32_t sender;
	uint64_t seq;
	uint8_t type, status, mode;
	uint16_t reject;
	char ref[CWP_REF_LEN];
};

struct run {
	struct cw_engine *e;
	struct cw_ctx *ctx;
	struct cw_counters cnt;
	uint64_t frames_dropped[FRAME_DROP_NUM];
	uint64_t frames, responses;
	uint64_t bytes; /* of the frames replayed */
	double seconds;
	struct outcome *out;
	size_t n_out, cap_out;
	struct {
		uint32_t id;
		uint64_t hits;
	} * hits;
	size_t n_hits, cap_hits;
	struct cw_snapshot *delta_base; /* --delta-from: the full build the rules' delta is on */
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cwctl simulate --rules R --registry E [--senders S] --in IN.pcap\n"
	    "                      --out OUT.pcap [--replay-window N] [--mtu N] [--udp-port N]\n"
	    "                      [--json] [--diff R2] [--linear] [--huge]\n"
	    "                      [--registry-capacity N] [--manifest-capacity N]\n"
	    "                      [--ecom-capacity N] [--buyer-capacity N] [--part-mb N]\n"
	    "                      [--delta-from R0]\n"
	    "       cwctl simulate --redis HOST:PORT|unix:PATH [--version V] --in IN.pcap\n"
	    "                      --out OUT.pcap [...] [--diff R2|V2]\n"
	    "\n"
	    "Decides the requests of IN.pcap with the same engine as the gateway, offline and\n"
	    "single-threaded, and writes the response frames the gateway would send to OUT.pcap.\n"
	    "Without --senders every sender id is accepted from any address.\n"
	    "--redis    rules (the active version, or --version V), registry (cw:ent) and senders\n"
	    "           (cw:senders) from Redis, as a gateway on that Redis loads them.\n"
	    "--diff R2  decide the same traffic under R2 too and report what changes: a mode\n"
	    "           transition matrix, rule hits under both, example declarations. With\n"
	    "           --redis a number names a stored version (cw:ruleset:V2).\n"
	    "--linear   evaluate every rule in turn instead of the rte_acl tables: the slow\n"
	    "           reference the tables are checked against (same answers, or a bug).\n"
	    "           Not with --redis (rules from Redis are built as a gateway builds them).\n"
	    "--huge     2 MB hugepages instead of ordinary pages (they must be free; as root):\n"
	    "           fewer TLB misses on the big tables, ~1.3x faster on 1 M enterprises.\n"
	    "--*-capacity  the stores' sizes, as the gateway's options of the same names (give "
	    "the\n"
	    "           production gateway's to replay its STORE_FULL answers); the registry is\n"
	    "           otherwise sized to the registry file or to cw:ent.\n"
	    "--part-mb  the capture is read and replayed N MB at a time (default 1024): a capture\n"
	    "           bigger than memory replays in one run, --diff included.\n"
	    "--delta-from R0  decide with the rules built as a delta on R0's full build, as a\n"
	    "           gateway runs a small change until its fold (same answers; for measuring\n"
	    "           that path). More than 1024 rules apart: a full build, and it says so.\n"
	    "Exit codes: 0 ok, 1 bad input (rules, registry, capture), 2 usage, 3 environment.\n");
}

/* simulate's memory budget without hugepages; with them DPDK takes what it needs. */
#define SIM_MEMORY_MB 2048

/* With --huge, 2 MB hugepages (random lookups in the stores and tables then miss the TLB far
 * less); by default ordinary pages, which work anywhere: no free hugepages needed, and no huge
 * virtual address reservation (DPDK reserves tens of GB of address space for hugepage memory,
 * which a `ulimit -v` refuses). */
static int eal_start(bool huge)
{
	char prefix[64], mem[16];
	snprintf(prefix, sizeof(prefix), "--file-prefix=cwsim%d", (int)getpid());
	snprintf(mem, sizeof(mem), "%d", SIM_MEMORY_MB);
	char *args[16] = {
	    "cwctl",	      "--no-shconf", "--no-pci", "-l", "0", "--log-level=lib.*:error",
	    "--no-telemetry", prefix};
	int argc = 8;
	if (huge) {
		args[argc++] = "--in-memory";
	} else {
		args[argc++] = "--no-huge";
		args[argc++] = "-m";
		args[argc++] = mem;
	}
	return rte_eal_init(argc, args) < 0 ? -1 : 0;
}

static struct cw_ruleset *parse_rules(const char *path)
{
	size_t len;
	char *text = cw_read_file(path, &len);
	if (!text) {
		fprintf(stderr, "cwctl simulate: %s: cannot read\n", path);
		return NULL;
	}
	struct cw_parse_error ev[20];
	struct cw_parse_errors errs = {.v = ev, .cap = 20};
	struct cw_ruleset *rs = cw_ruleset_parse(text, len, &errs);
	free(text);
	if (!rs)
		for (uint32_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s:%u:%u: %s\n", path, ev[i].line, ev[i].column,
				ev[i].msg);
	return rs;
}

static struct cw_snapshot *compile_rules(const char *path, bool linear)
{
	struct cw_ruleset *rs = parse_rules(path);
	if (!rs)
		return NULL;
	char err[256];
	struct cw_snapshot *s = linear ? cw_snapshot_build_linear(rs, err, sizeof(err))
				       : cw_snapshot_build(rs, err, sizeof(err));
	if (!s)
		fprintf(stderr, "cwctl simulate: %s: %s\n", path, err);
	return s;
}

/* --delta-from: the rules as the gateway runs them right after a small change, an overlay on
 * the full build of the rules before it (*base, which the run frees after its engine). */
static struct cw_snapshot *compile_delta(const char *path, const char *from,
					 struct cw_snapshot **base)
{
	*base = compile_rules(from, false);
	struct cw_ruleset *rs = *base ? parse_rules(path) : NULL;
	if (!rs)
		return NULL;
	char err[256];
	struct cw_snapshot *s = cw_snapshot_build_delta(*base, rs, err, sizeof(err));
	if (!s)
		fprintf(stderr, "cwctl simulate: %s: %s\n", path, err);
	else if (!cw_snapshot_is_delta(s))
		fprintf(stderr,
			"cwctl simulate: %s differs from %s by more than %u rules: a full build, "
			"as a gateway would make\n",
			path, from, CW_DELTA_MAX_CHANGED);
	return s;
}

/* Without a senders file every sender id seen in the capture is accepted from anywhere, all of
 * them before the first frame is decided (a pass over the file of its own: the capture may be
 * replayed a part at a time). */
static int accept_all_senders(struct cw_engine *e, const char *path, uint16_t port)
{
	char err[256];
	struct pcap_in *in = pcapin_open(path, err);
	if (!in) {
		fprintf(stderr, "cwctl simulate: %s\n", err);
		return -1;
	}
	const uint8_t *data;
	size_t len;
	int rc;
	while ((rc = pcapin_next(in, &data, &len, NULL)) == 1) {
		struct frame_info fi;
		struct cwp_dgram_hdr h;
		if (frame_parse(data, len, port, 0, &fi) != FRAME_OK ||
		    cwp_parse_dgram_hdr(fi.payload, fi.payload_len, &h) != CWP_DG_OK)
			continue;
		if (cw_sender_set(e, h.sender_id, "0.0.0.0/0 ::/0", "any", err, sizeof(err)) < 0) {
			fprintf(stderr, "cwctl simulate: %s\n", err);
			break;
		}
	}
	pcapin_close(in);
	return rc == 0 ? 0 : -1;
}

/* Redis mode: registry, senders and the rule set `version` (0: active) as a gateway loads them;
 * then, if `rules` is a file, that file's rule set instead (the --diff candidate). */
static int setup_from_redis(struct run *r, const struct sim_opts *o, uint32_t version,
			    const char *rules, char *label, size_t labellen)
{
	char err[512];
	long v = cw_sync_load_all(r->e, o->redis, version, err, sizeof(err));
	if (v < 0) {
		fprintf(stderr, "cwctl simulate: %s: %s\n", o->redis, err);
		/* Redis itself failing is the environment; a missing or broken rule set is input */
		return strncmp(err, "redis", 5) ? CWCTL_BAD : CWCTL_ENV;
	}
	struct cw_store_stats st;
	cw_engine_store_stats(r->e, &st);
	if (rules) {
		struct cw_snapshot *s = compile_rules(rules, false);
		if (!s)
			return CWCTL_BAD;
		struct cw_snapshot *old = cw_engine_publish(r->e, s, true);
		if (old)
			cw_snapshot_free(old);
		snprintf(label, labellen, "%s", rules);
	} else {
		snprintf(label, labellen, v ? CW_K_RULESET_PREFIX "%ld" : "(no rule set)", v);
		if (!v)
			fprintf(stderr,
				"cwctl simulate: %s is not set: DECL and LIST are rejected "
				"NO_RULESET, as a gateway would\n",
				CW_K_ACTIVE);
	}
	fprintf(stderr, "cwctl simulate: from %s: %s, %u enterprises, %u senders\n", o->redis,
		label, st.registry, st.senders);
	if (!st.senders)
		fprintf(stderr,
			"cwctl simulate: %s is empty: every datagram is dropped as from an "
			"unknown sender, as a gateway would\n",
			CW_K_SENDERS);
	return CWCTL_OK;
}

/* rules: a rule file; or with --redis, NULL for the stored `version` (0: active). */
static int setup_engine(struct run *r, const struct sim_opts *o, const char *rules,
			uint32_t version, char *label, size_t labellen)
{
	struct cw_engine_config cfg;
	char err[256];
	cw_engine_config_defaults(&cfg);
	cfg.max_workers = 1;
	/* a national registry has millions: room for all of them, unless told */
	cfg.registry_capacity = o->registry_cap ? o->registry_cap
				: o->redis
				    ? cw_registry_capacity_redis(o->redis, cfg.registry_capacity)
				    : cw_registry_csv_capacity(o->registry, cfg.registry_capacity);
	if (o->manifest_cap)
		cfg.manifest_capacity = o->manifest_cap;
	if (o->ecom_cap)
		cfg.ecom_capacity = o->ecom_cap;
	if (o->buyer_cap)
		cfg.buyer_capacity = o->buyer_cap;
	if (o->replay_window)
		cfg.replay_window = o->replay_window;
	r->e = cw_engine_create(&cfg, err, sizeof(err));
	if (!r->e) {
		fprintf(stderr, "cwctl simulate: %s\n", err);
		return CWCTL_ENV;
	}
	if (o->redis) {
		int rc = setup_from_redis(r, o, version, rules, label, labellen);
		if (rc != CWCTL_OK)
			return rc;
		r->ctx = cw_ctx_create(r->e, 0);
		return r->ctx ? CWCTL_OK : CWCTL_ENV;
	}
	snprintf(label, labellen, "%s", rules);
	struct cw_snapshot *s = o->delta_from && rules == o->rules
				    ? compile_delta(rules, o->delta_from, &r->delta_base)
				    : compile_rules(rules, o->linear);
	if (!s)
		return CWCTL_BAD;
	cw_engine_publish(r->e, s, false);
	if (cw_registry_load_csv(r->e, o->registry, err, sizeof(err)) < 0) {
		fprintf(stderr, "cwctl simulate: %s\n", err);
		return CWCTL_BAD;
	}
	if (o->senders ? cw_senders_load_csv(r->e, o->senders, err, sizeof(err)) < 0
		       : accept_all_senders(r->e, o->in, o->udp_port) < 0) {
		if (o->senders)
			fprintf(stderr, "cwctl simulate: %s\n", err);
		return CWCTL_BAD;
	}
	r->ctx = cw_ctx_create(r->e, 0);
	return r->ctx ? CWCTL_OK : CWCTL_ENV;
}

static void keep_outcomes(struct run *r, uint32_t sender, const struct cwp_verdict *v, unsigned n)
{
	if (r->n_out + n > r->cap_out) {
		r->cap_out = (r->cap_out + n) * 2;
		r->out = realloc(r->out, r->cap_out * sizeof(*r->out));
	}
	for (unsigned i = 0; i < n; i++) {
		struct outcome *o = &r->out[r->n_out++];
		o->sender = sender;
		o->seq = v[i].msg_seq;
		o->type = v[i].msg_type;
		o->status = v[i].status;
		o->mode = v[i].mode;
		o->reject = v[i].reject_code;
		memcpy(o->ref, v[i].ref, CWP_REF_LEN);
	}
}

struct slot {
	struct frame_info fi;
	struct cwp_verdict v[CWP_MAX_MSGS];
	uint16_t n;
	uint32_t sender;
	bool answered;
	uint64_t ts;
};

/* Writes the answers of one request frame: as many datagrams as the MTU needs. */
static void write_answers(struct pcap_out *out, const struct slot *s, unsigned mtu,
			  uint64_t *responses)
{
	static uint8_t payloads[CWP_MAX_MSGS]
			       [CWP_DGRAM_HDR_LEN + CWP_MAX_MSGS * CWP_VERDICT_MSG_LEN];
	static uint8_t frame[16384];
	uint16_t lens[CWP_MAX_MSGS];
	unsigned per = cwp_verdicts_per_dgram(mtu, s->fi.ipv6 ? 40 : 20);
	unsigned nd = cw_encode_responses(s->v, s->n, s->sender, per ? per : 1, payloads[0],
					  sizeof(payloads[0]), lens);
	for (unsigned d = 0; d < nd; d++) {
		size_t flen = frame_build_reply(frame, sizeof(frame), &s->fi, payloads[d], lens[d]);
		if (out && flen)
			pcapout_write(out, frame, flen, s->ts);
		(*responses)++;
	}
}

static int run_traffic(struct run *r, const struct sim_opts *o, const struct pcap_mem *cap,
		       struct pcap_out *out, bool keep)
{
	static struct slot slots[BURST];
	const uint64_t t0 = cw_mono_ns();
	r->bytes += cap->bytes;
	for (size_t base = 0; base < cap->n; base += BURST) {
		size_t m = cap->n - base < BURST ? cap->n - base : BURST;
		cw_burst_begin(r->ctx);
		for (size_t i = 0; i < m; i++) {
			struct slot *s = &slots[i];
			const struct pcap_frame *f = &cap->v[base + i];
			s->answered = false;
			s->ts = f->ts_us;
			r->frames++;
			enum frame_drop d = frame_parse(f->data, f->len, o->udp_port, 0, &s->fi);
			if (d != FRAME_OK) {
				r->frames_dropped[d]++;
				continue;
			}
			s->answered =
			    cw_burst_add(r->ctx, s->fi.payload, s->fi.payload_len, s->fi.src_ip,
					 s->fi.ipv6, s->v, &s->n, &s->sender) == CW_DROP_NONE;
		}
		cw_burst_end(r->ctx);
		for (size_t i = 0; i < m; i++) {
			if (!slots[i].answered)
				continue;
			write_answers(out, &slots[i], o->mtu, &r->responses);
			if (keep)
				keep_outcomes(r, slots[i].sender, slots[i].v, slots[i].n);
		}
		cw_ctx_quiescent(r->ctx);
	}
	r->seconds += (double)(cw_mono_ns() - t0) / 1e9;
	r->cnt = *cw_ctx_counters(r->ctx);
	return 0;
}

static void collect_hit(uint32_t id, uint64_t hits, void *arg)
{
	struct run *r = arg;
	if (r->n_hits == r->cap_hits) {
		r->cap_hits = r->cap_hits ? r->cap_hits * 2 : 64;
		r->hits = realloc(r->hits, r->cap_hits * sizeof(*r->hits));
	}
	r->hits[r->n_hits].id = id;
	r->hits[r->n_hits++].hits = hits;
}

static int by_hits(const void *a, const void *b)
{
	const uint64_t ha = *(const uint64_t *)((const char *)a + 8);
	const uint64_t hb = *(const uint64_t *)((const char *)b + 8);
	uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
	if (ha != hb)
		return ha < hb ? 1 : -1;
	return ia < ib ? -1 : ia > ib;
}

static void sort_hits(struct run *r)
{
	cw_ctx_rule_hits(r->ctx, collect_hit, r);
	qsort(r->hits, r->n_hits, sizeof(*r->hits), by_hits);
}

static double share(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_text(const struct run *r, bool huge)
{
	const struct cw_counters *k = &r->cnt;
	uint64_t decided = k->by_status[CWP_DECIDED];
	printf("frames %lu, datagrams answered %lu, response datagrams %lu\n", r->frames,
	       k->answered_datagrams, r->responses);
	printf("messages %lu: decided %lu, accepted %lu, rejected %lu, duplicates %lu\n",
	       k->messages, decided, k->by_status[CWP_ACCEPTED], k->by_status[CWP_REJECTED],
	       k->duplicates);
	printf("release modes:");
	for (unsigned m = 0; m < CWP_NUM_MODES; m++)
		printf(" %s %lu (%.1f%%)", cwp_mode_name((uint8_t)m), k->by_mode[m],
		       share(k->by_mode[m], decided));
	printf(", green channel %lu\n", k->green);
	printf("rejects:");
	for (unsigned c = 1; c < CWP_NUM_REJECTS; c++)
		if (k->rejects[c])
			printf(" %s %lu", cwp_reject_name((uint16_t)c), k->rejects[c]);
	printf("\ndropped frames:");
	for (unsigned d = 1; d < FRAME_DROP_NUM; d++)
		if (r->frames_dropped[d])
			printf(" %s %lu", frame_drop_name((enum frame_drop)d),
			       r->frames_dropped[d]);
	printf(" | datagrams: header %lu, unknown sender %lu, source %lu\n",
	       k->drops[CW_DROP_HEADER], k->drops[CW_DROP_UNKNOWN_SENDER],
	       k->drops[CW_DROP_SOURCE]);
	const struct cw_snapshot *snap = cw_engine_active(r->e);
	if (snap) {
		struct cw_snapshot_stats st;
		cw_snapshot_stats(snap, &st);
		printf("rule tables: %u rules; %u rte_acl contexts holding %u expanded rules; %u "
		       "rules checked one by one%s\n",
		       st.rules, st.acl_contexts, st.acl_rules, st.linear_rules,
		       st.delta ? "; a delta on --delta-from's full build" : "");
	}
	printf("top rules:");
	for (size_t i = 0; i < r->n_hits && i < 10; i++)
		printf(" #%u %lu", r->hits[i].id, r->hits[i].hits);
	printf("\nspeed: %.0f msgs/s (%.3f s for %lu messages, %.1f MB; %s)\n",
	       r->seconds > 0 ? (double)k->messages / r->seconds : 0.0, r->seconds, k->messages,
	       (double)r->bytes / 1e6, huge ? "hugepages" : "4 KB pages");
}

static void print_json(const struct run *r, bool huge)
{
	const struct cw_counters *k = &r->cnt;
	printf("{\"frames\":%lu,\"datagrams\":%lu,\"answered_datagrams\":%lu,"
	       "\"response_datagrams\":%lu,\"messages\":%lu,\"duplicates\":%lu,\"green\":%lu,",
	       r->frames, k->datagrams, k->answered_datagrams, r->responses, k->messages,
	       k->duplicates, k->green);
	printf("\"status\":{\"DECIDED\":%lu,\"ACCEPTED\":%lu,\"REJECTED\":%lu},", k->by_status[0],
	       k->by_status[1], k->by_status[2]);
	printf("\"modes\":{");
	for (unsigned m = 0; m < CWP_NUM_MODES; m++)
		printf("%s\"%s\":%lu", m ? "," : "", cwp_mode_name((uint8_t)m), k->by_mode[m]);
	printf("},\"rejects\":{");
	for (unsigned c = 1; c < CWP_NUM_REJECTS; c++)
		printf("%s\"%s\":%lu", c > 1 ? "," : "", cwp_reject_name((uint16_t)c),
		       k->rejects[c]);
	printf("},\"frame_drops\":{");
	for (unsigned d = 1; d < FRAME_DROP_NUM; d++)
		printf("%s\"%s\":%lu", d > 1 ? "," : "", frame_drop_name((enum frame_drop)d),
		       r->frames_dropped[d]);
	printf("},\"datagram_drops\":{\"header\":%lu,\"unknown_sender\":%lu,\"source\":%lu},",
	       k->drops[CW_DROP_HEADER], k->drops[CW_DROP_UNKNOWN_SENDER],
	       k->drops[CW_DROP_SOURCE]);
	printf("\"top_rules\":[");
	for (size_t i = 0; i < r->n_hits && i < 20; i++)
		printf("%s{\"rule\":%u,\"hits\":%lu}", i ? "," : "", r->hits[i].id,
		       r->hits[i].hits);
	printf("],\"seconds\":%.6f,\"msgs_per_s\":%.0f,\"hugepages\":%s}\n", r->seconds,
	       r->seconds > 0 ? (double)k->messages / r->seconds : 0.0, huge ? "true" : "false");
}

/* ---------------------------------------------------------------- --diff */

/* Outcome class for the transition matrix: a mode, ACCEPTED, or a reject code. */
enum {
	OC_MODES = CWP_NUM_MODES,
	OC_ACCEPTED = OC_MODES,
	OC_REJECT0 = OC_MODES + 1,
	OC_NUM = OC_REJECT0 + CWP_NUM_REJECTS
};

static unsigned outcome_class(const struct outcome *o)
{
	if (o->status == CWP_DECIDED)
		return o->mode;
	if (o->status == CWP_ACCEPTED)
		return OC_ACCEPTED;
	return OC_REJECT0 + (o->reject < CWP_NUM_REJECTS ? o->reject : 0);
}

static const char *class_label(unsigned c)
{
	static char buf[OC_NUM][24];
	if (c < OC_MODES)
		return cwp_mode_name((uint8_t)c);
	if (c == OC_ACCEPTED)
		return "ACCEPTED";
	snprintf(buf[c], sizeof(buf[c]), "REJ:%s", cwp_reject_name((uint16_t)(c - OC_REJECT0)));
	return buf[c];
}

static uint64_t hits_of(const struct run *r, uint32_t id)
{
	for (size_t i = 0; i < r->n_hits; i++)
		if (r->hits[i].id == id)
			return r->hits[i].hits;
	return 0;
}

/* What --diff reports, gathered a part of the capture at a time: each message's outcome under
 * both rule sets, paired in order. */
enum { EXAMPLES = 3 };
struct diff {
	uint64_t matrix[OC_NUM][OC_NUM];
	struct outcome ex[OC_NUM][OC_NUM][EXAMPLES]; /* the first few of each change, under b */
	uint64_t messages, changed;
};

/* Pairs the outcomes both runs kept for the part just replayed, and forgets them. */
static void diff_add(struct diff *d, struct run *a, struct run *b)
{
	size_t n = a->n_out < b->n_out ? a->n_out : b->n_out;
	for (size_t i = 0; i < n; i++) {
		unsigned x = outcome_class(&a->out[i]), y = outcome_class(&b->out[i]);
		uint64_t k = d->matrix[x][y]++;
		if (x != y) {
			d->changed++;
			if (k < EXAMPLES)
				d->ex[x][y][k] = b->out[i];
		}
	}
	d->messages += n;
	a->n_out = b->n_out = 0;
}

static void print_diff(const struct diff *d, const struct run *a, const struct run *b,
		       const char *ra, const char *rb, bool json)
{
	const uint64_t(*matrix)[OC_NUM] = d->matrix;
	const uint64_t n = d->messages, changed = d->changed;
	if (json) {
		printf("{\"diff\":{\"messages\":%lu,\"changed\":%lu,\"transitions\":[", n, changed);
		bool first = true;
		for (unsigned x = 0; x < OC_NUM; x++)
			for (unsigned y = 0; y < OC_NUM; y++) {
				if (!matrix[x][y])
					continue;
				printf(
				    "%s{\"from\":\"%s\",\"to\":\"%s\",\"count\":%lu,\"examples\":[",
				    first ? "" : ",", class_label(x), class_label(y), matrix[x][y]);
				first = false;
				for (unsigned e = 0; x != y && e < EXAMPLES && e < matrix[x][y];
				     e++)
					printf("%s{\"sender\":%u,\"seq\":%lu,\"ref\":\"%.20s\"}",
					       e ? "," : "", d->ex[x][y][e].sender,
					       d->ex[x][y][e].seq, d->ex[x][y][e].ref);
				printf("]}");
			}
		printf("]}}\n");
		return;
	}
	printf("\nbacktest: %s -> %s over %lu messages: %lu change\n", ra, rb, n, changed);
	printf("%-16s", "from \\ to");
	for (unsigned y = 0; y < OC_NUM; y++)
		printf(" %10.10s", class_label(y));
	printf("\n");
	for (unsigned x = 0; x < OC_NUM; x++) {
		uint64_t row = 0;
		for (unsigned y = 0; y < OC_NUM; y++)
			row += matrix[x][y];
		if (!row)
			continue;
		printf("%-16s", class_label(x));
		for (unsigned y = 0; y < OC_NUM; y++)
			printf(" %10lu", matrix[x][y]);
		printf("\n");
	}
	printf("\nexamples of each change:\n");
	for (unsigned x = 0; x < OC_NUM; x++)
		for (unsigned y = 0; y < OC_NUM; y++)
			for (unsigned e = 0; x != y && e < EXAMPLES && e < matrix[x][y]; e++)
				printf("  %-10s -> %-10s sender %u seq %lu %s %.20s\n",
				       class_label(x), class_label(y), d->ex[x][y][e].sender,
				       d->ex[x][y][e].seq, cwp_type_name(d->ex[x][y][e].type),
				       d->ex[x][y][e].ref);
	printf("\nrule hits (items won) %s / %s:\n", ra, rb);
	for (size_t i = 0; i < a->n_hits; i++)
		printf("  #%-10u %10lu %10lu\n", a->hits[i].id, a->hits[i].hits,
		       hits_of(b, a->hits[i].id));
	for (size_t i = 0; i < b->n_hits; i++)
		if (!hits_of(a, b->hits[i].id))
			printf("  #%-10u %10lu %10lu\n", b->hits[i].id, 0ul, b->hits[i].hits);
}

/* ---------------------------------------------------------------- main */

/* A decimal lo..hi into *v; false, said on stderr, otherwise. */
static bool bounded(const char *arg, const char *what, unsigned long lo, unsigned long hi,
		    uint32_t *v)
{
	char *end;
	unsigned long x = strtoul(arg, &end, 10);
	if (!*arg || *end || x < lo || x > hi) {
		fprintf(stderr, "cwctl simulate: %s is %lu..%lu, not '%s'\n", what, lo, hi, arg);
		return false;
	}
	*v = (uint32_t)x;
	return true;
}

static int parse_opts(int argc, char **argv, struct sim_opts *o)
{
	static const struct option lo[] = {{"redis", required_argument, 0, 'R'},
					   {"version", required_argument, 0, 'V'},
					   {"rules", required_argument, 0, 'r'},
					   {"registry", required_argument, 0, 'e'},
					   {"senders", required_argument, 0, 's'},
					   {"in", required_argument, 0, 'i'},
					   {"out", required_argument, 0, 'o'},
					   {"replay-window", required_argument, 0, 'w'},
					   {"mtu", required_argument, 0, 'm'},
					   {"udp-port", required_argument, 0, 'p'},
					   {"json", no_argument, 0, 'j'},
					   {"linear", no_argument, 0, 'L'},
					   {"huge", no_argument, 0, 'H'},
					   {"diff", required_argument, 0, 'd'},
					   {"help", no_argument, 0, 'h'},
					   {"registry-capacity", required_argument, 0, 'C'},
					   {"manifest-capacity", required_argument, 0, 'M'},
					   {"ecom-capacity", required_argument, 0, 'E'},
					   {"buyer-capacity", required_argument, 0, 'B'},
					   {"part-mb", required_argument, 0, 'P'},
					   {"delta-from", required_argument, 0, 'D'},
					   {0, 0, 0, 0}};
	memset(o, 0, sizeof(*o));
	o->mtu = 1500;
	o->part_mb = 1024;
	o->udp_port = CWP_DEFAULT_PORT;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'R':
			o->redis = optarg;
			break;
		case 'V':
			if (!cw_version_parse(optarg, &o->version)) {
				fprintf(stderr,
					"cwctl simulate: --version wants 1..4294967295, not "
					"'%s'\n",
					optarg);
				return CWCTL_USAGE;
			}
			break;
		case 'r':
			o->rules = optarg;
			break;
		case 'e':
			o->registry = optarg;
			break;
		case 's':
			o->senders = optarg;
			break;
		case 'i':
			o->in = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'w':
			o->replay_window = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			o->mtu = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o->udp_port = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'j':
			o->json = true;
			break;
		case 'L':
			o->linear = true;
			break;
		case 'H':
			o->huge = true;
			break;
		case 'd':
			o->diff = optarg;
			break;
		case 'D':
			o->delta_from = optarg;
			break;
		case 'P':
			if (!bounded(optarg, "--part-mb", 1, 1ul << 20, &o->part_mb))
				return CWCTL_USAGE;
			break;
		case 'C':
		case 'M':
		case 'E':
		case 'B':
			if (!bounded(optarg, "a capacity", 16, 1ul << 28,
				     c == 'C'	? &o->registry_cap
				     : c == 'M' ? &o->manifest_cap
				     : c == 'E' ? &o->ecom_cap
						: &o->buyer_cap))
				return CWCTL_USAGE;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return CWCTL_USAGE;
		}
	}
	if (o->redis && (o->rules || o->registry || o->senders)) {
		fprintf(stderr, "cwctl simulate: --redis takes rules, registry and senders from "
				"Redis; drop --rules, --registry and --senders\n");
		return CWCTL_USAGE;
	}
	if (o->redis && o->linear) {
		fprintf(stderr, "cwctl simulate: --linear is for rule files, not --redis\n");
		return CWCTL_USAGE;
	}
	if (o->delta_from && (o->redis || o->linear)) {
		fprintf(stderr,
			"cwctl simulate: --delta-from is for rule files, without --linear\n");
		return CWCTL_USAGE;
	}
	if (o->version && !o->redis) {
		fprintf(stderr, "cwctl simulate: --version needs --redis (a file has its own)\n");
		return CWCTL_USAGE;
	}
	if ((!o->redis && (!o->rules || !o->registry)) || !o->in || !o->out || o->mtu < 200 ||
	    o->mtu > 65535) {
		usage(stderr);
		return CWCTL_USAGE;
	}
	struct cw_redis_addr addr;
	char aerr[300];
	if (o->redis && cw_redis_addr_parse(o->redis, &addr, aerr, sizeof(aerr))) {
		fprintf(stderr, "cwctl simulate: --redis: %s\n", aerr);
		return CWCTL_USAGE;
	}
	/* with --redis, --diff 44 names cw:ruleset:44; anything else is a file */
	if (o->redis && o->diff && o->diff[strspn(o->diff, "0123456789")] == '\0' &&
	    !cw_version_parse(o->diff, &o->diff_version)) {
		fprintf(stderr, "cwctl simulate: --diff %s: not a version\n", o->diff);
		return CWCTL_USAGE;
	}
	return 0;
}

/* Everything a run holds, so that the process ends with nothing allocated (ASan builds). */
static void run_free(struct run *r)
{
	if (r->ctx)
		cw_ctx_destroy(r->ctx);
	if (r->e)
		cw_engine_destroy(r->e);
	cw_snapshot_free(r->delta_base); /* after the delta built on it */
	free(r->out);
	free(r->hits);
	memset(r, 0, sizeof(*r));
}

/* Replays the capture under the rule set (and under the --diff candidate, the two runs side by
 * side, a part of the capture at a time), then reports. cap holds the first part. */
static int simulate(struct sim_opts *o, struct pcap_in *in, struct pcap_mem *cap, struct run *a,
		    struct run *b)
{
	int rc = setup_engine(a, o, o->rules, o->version, o->label_a, sizeof(o->label_a));
	if (rc == CWCTL_OK && o->diff) {
		const char *file = o->diff_version ? NULL : o->diff;
		rc = setup_engine(b, o, file, file ? o->version : o->diff_version, o->label_b,
				  sizeof(o->label_b));
	}
	if (rc != CWCTL_OK)
		return rc;
	char err[256];
	struct pcap_out *out = pcapout_open(o->out, err);
	if (!out) {
		fprintf(stderr, "cwctl simulate: %s\n", err);
		return CWCTL_ENV;
	}
	static struct diff d;
	int more = 1;
	while (more > 0) {
		run_traffic(a, o, cap, out, o->diff != NULL);
		if (o->diff) {
			run_traffic(b, o, cap, NULL, true);
			diff_add(&d, a, b);
		}
		more = pcap_load_part(in, cap, (uint64_t)o->part_mb << 20, err);
	}
	pcapout_close(out);
	if (more < 0) {
		fprintf(stderr, "cwctl simulate: %s: %s\n", o->in, err);
		return CWCTL_BAD;
	}
	sort_hits(a);
	if (o->json && !o->diff)
		print_json(a, o->huge);
	else if (!o->json)
		print_text(a, o->huge);
	if (o->diff) {
		sort_hits(b);
		print_diff(&d, a, b, o->label_a, o->label_b, o->json);
	}
	return CWCTL_OK;
}

int cmd_simulate(int argc, char **argv)
{
	struct sim_opts o;
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc < 0 ? CWCTL_OK : rc;
	char err[256];
	struct pcap_in *in = pcapin_open(o.in, err);
	struct pcap_mem cap = {0};
	struct stat st;
	uint64_t part = (uint64_t)o.part_mb << 20;
	if (in && stat(o.in, &st) == 0) /* room for the whole file, or for a part */
		pcap_mem_reserve(&cap, (size_t)((uint64_t)st.st_size < part ? (uint64_t)st.st_size
									    : part + (1u << 16)));
	if (!in || pcap_load_part(in, &cap, part, err) < 0) {
		fprintf(stderr, "cwctl simulate: %s%s%s\n", in ? o.in : "", in ? ": " : "", err);
		pcapin_close(in);
		pcap_mem_free(&cap);
		return CWCTL_BAD;
	}
	if (eal_start(o.huge) < 0) {
		fprintf(stderr, "cwctl simulate: EAL init failed%s\n",
			o.huge ? " with hugepages (are enough free? HugePages_Free in "
				 "/proc/meminfo; or leave out --huge)"
			       : "");
		pcapin_close(in);
		pcap_mem_free(&cap);
		return CWCTL_ENV;
	}
	static struct run a, b;
	rc = simulate(&o, in, &cap, &a, &b);
	run_free(&a);
	run_free(&b);
	pcapin_close(in);
	pcap_mem_free(&cap);
	rte_eal_cleanup();
	return rc;
}
