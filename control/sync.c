/*
 * sync.c - the gateway's control thread (see sync.h for the contract, docs/control-plane.md for
 * the behaviour operators see).
 *
 * Shape of the thread: one poll() loop over
 *   - the "events" connection, which after each read leaves an `XREAD BLOCK` outstanding (the
 *     reply only says "something arrived"; the entries themselves are then read together with
 *     XINFO STREAM inside MULTI/EXEC, so trimming can be detected exactly, see read_events),
 *   - an eventfd the compile thread writes when a rule set is built (or the stopper writes),
 *   - timers for the journal drain and the heartbeat.
 * Writes (node status, stats, journal) go through a second connection so they never wait behind
 * a blocked read. Either connection may fail at any time; each is re-opened with exponential
 * backoff, and the events position (last id and its ordinal) survives, so the thread catches up
 * where it left off.
 *
 * Rule sets are compiled by a separate thread: a full 100 k-rule build takes seconds, and
 * registry changes must stay visible within milliseconds meanwhile. Only the latest requested
 * version matters: a result that was overtaken by a newer request is dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "control/fold.h"
#include "control/journal.h"
#include "control/load.h"
#include "control/sync.h"

#define BACKOFF_MIN_MS 100
#define OWED_MAX       16 /* runs of replies owed on the write connection */

struct compiler {
	pthread_t thr;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	/* job: set by the control thread, taken by the compile thread */
	bool has_job;
	uint64_t job_req;
	uint32_t job_version;
	const char *job_text; /* owned by the control thread (inflight) */
	size_t job_len;
	const struct cw_snapshot *job_base;
	/* the active rule set and its text, for the incremental parse; they stay alive while the
	 * job runs (only a result of this thread replaces them) */
	struct cw_compile_prev job_prev;
	bool job_has_prev;
	/* result */
	bool has_result;
	uint64_t res_req;
	struct cw_snapshot *res_snap;
	struct cw_compile_times res_times;
	uint64_t res_start, res_done; /* cw_mono_ns when the compile began and ended */
	char res_err[512];
	/* Memory for the next activation, written while this thread is idle (see warm_step): the
	 * parse's arrays (this thread's alone) and a buffer for the next text read (handed to the
	 * control thread through text_ready, under mu). */
	struct cw_parse_spare *spare;
	bool spare_done;
	size_t text_want; /* bytes the next text buffer should hold, 0 none */
	char *text_warm;  /* being written */
	size_t text_warm_done;
	char *text_ready; /* under mu */
	size_t text_ready_cap;
	/* what the engine no longer uses, freed by this thread when idle (under mu; in order) */
	struct trash *trash, **trash_end;
};

struct trash {
	struct cw_snapshot *snap;
	char *text;
	struct trash *next;
};

struct rules_req {
	uint64_t req; /* 0: none */
	uint32_t version;
	char *text;
	size_t len;
	uint64_t fetch_start, fetch_ns; /* reading the text from Redis (the log splits the time) */
	uint64_t fetch_faults;		/* page faults while reading it */
	uint64_t event_ms;		/* Redis time of the event that asked for it, 0 none */
};

struct cw_sync {
	struct cw_engine *e;
	struct cw_sync_config cfg;
	struct cw_redis_addr addr;
	char addr_str[300];
	char node[128];
	char node_key[160], stats_key[160];

	redisContext *ev, *wr;
	uint64_t ev_retry_at, wr_retry_at;
	unsigned ev_backoff, wr_backoff;
	bool ev_down_logged, wr_down_logged;
	bool block_out; /* an XREAD BLOCK is outstanding on ev */
	uint64_t block_deadline;

	/* position in cw:events */
	struct cw_stream_id pos;
	uint64_t ordinal; /* entries-added count that pos corresponds to */
	bool loaded;
	bool reload; /* a full load is due */

	/* rule sets */
	struct cw_live_rules live; /* last full build, active snapshot, its text */
	uint32_t version;
	uint64_t next_req, want_req;
	uint64_t event_ms; /* Redis time (stream id) of the event being applied, 0 none */
	struct rules_req inflight, pending;
	struct compiler comp;
	struct cw_folder *folder; /* full builds of live deltas (fold_later) */
	uint64_t applied_ms;

	struct cw_regmirror reg;

	/* status */
	bool error;
	char error_text[512];
	bool dirty;	  /* node status changed: write it now */
	bool empty_error; /* the error says Redis came back empty */
	const char *state;
	uint64_t started_ms;
	uint64_t next_beat, next_journal;

	/* journal */
	struct cw_journal_rec *jbuf;
	/* Replies owed on wr, oldest first: runs of journal XADDs (counted written or lost as
	 * they come) and of status and stats commands. Nothing on wr is waited for; the replies
	 * are read as they arrive (wr_collect). */
	struct owed {
		bool journal;
		unsigned n;
	} owed[OWED_MAX];
	unsigned owed_head, owed_runs, owed_total;
	bool journal_out;	 /* a journal batch is among them (one at a time) */
	uint64_t wr_progress_ms; /* last reply read, or first owed: a silent Redis is dropped */
	uint64_t tsc_hz, tsc_ref, wall_ref;

	/* threads */
	pthread_t thr;
	bool running;
	atomic_int stop;
	int wake_fd;

	/* counters: written by the control thread, read under stats_mu */
	pthread_mutex_t stats_mu;
	struct cw_sync_stats st;
};

/* ---- small things ---- */

static void logf_(struct cw_sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct cw_sync *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (s->cfg.log)
		s->cfg.log(s->cfg.cb_arg, line);
	else
		fprintf(stderr, "clearway control: %s\n", line);
}

#define BUMP(s, field)                                                                             \
	do {                                                                                       \
		pthread_mutex_lock(&(s)->stats_mu);                                                \
		(s)->st.field++;                                                                   \
		pthread_mutex_unlock(&(s)->stats_mu);                                              \
	} while (0)

static void wake(struct cw_sync *s)
{
	uint64_t one = 1;
	ssize_t w = write(s->wake_fd, &one, sizeof(one));
	(void)w;
}

void cw_sync_config_defaults(struct cw_sync_config *c)
{
	memset(c, 0, sizeof(*c));
	c->heartbeat_ms = 1000;
	c->journal_ms = 10;
	c->journal_cap = 1000000;
	c->journal_batch = 512;
	c->block_ms = 1000;
	c->timeout_ms = 2000;
	c->backoff_max_ms = 5000;
	c->read_count = 512;
}

const char *cw_sync_node(const struct cw_sync *s)
{
	return s->node;
}

void cw_sync_get_stats(struct cw_sync *s, struct cw_sync_stats *st)
{
	pthread_mutex_lock(&s->stats_mu);
	*st = s->st;
	pthread_mutex_unlock(&s->stats_mu);
}

static void set_error(struct cw_sync *s, const char *msg)
{
	s->error = msg != NULL;
	snprintf(s->error_text, sizeof(s->error_text), "%s", msg ? msg : "");
	s->dirty = true;
	pthread_mutex_lock(&s->stats_mu);
	s->st.error = s->error;
	snprintf(s->st.error_text, sizeof(s->st.error_text), "%s", s->error_text);
	pthread_mutex_unlock(&s->stats_mu);
}

/* ---- connections ---- */

static void ev_drop(struct cw_sync *s, const char *why)
{
	if (s->ev) {
		logf_(s, "redis %s: events connection lost (%s); reconnecting", s->addr_str, why);
		redisFree(s->ev);
		s->ev = NULL;
		BUMP(s, redis_errors);
	}
	s->block_out = false;
	s->ev_retry_at = cw_mono_ms() + s->ev_backoff;
	s->ev_backoff =
	    s->ev_backoff * 2 > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms : s->ev_backoff * 2;
}

static void wr_drop(struct cw_sync *s, const char *why)
{
	if (s->wr) {
		logf_(s, "redis %s: write connection lost (%s)", s->addr_str, why);
		redisFree(s->wr);
		s->wr = NULL;
		BUMP(s, redis_errors);
	}
	uint64_t unknown = 0; /* journal records whose fate is unknown: counted lost */
	for (unsigned i = 0; i < s->owed_runs; i++) {
		const struct owed *o = &s->owed[(s->owed_head + i) % OWED_MAX];
		if (o->journal)
			unknown += o->n;
	}
	s->owed_head = s->owed_runs = s->owed_total = 0;
	s->journal_out = false;
	if (unknown) {
		pthread_mutex_lock(&s->stats_mu);
		s->st.journal_lost += unknown;
		pthread_mutex_unlock(&s->stats_mu);
	}
	s->wr_retry_at = cw_mono_ms() + s->wr_backoff;
	s->wr_backoff =
	    s->wr_backoff * 2 > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms : s->wr_backoff * 2;
}

static bool ev_connect(struct cw_sync *s)
{
	char err[512];
	s->ev = cw_redis_connect(&s->addr, (int)s->cfg.timeout_ms, err, sizeof(err));
	if (!s->ev) {
		if (!s->ev_down_logged)
			logf_(s, "%s; retrying (backoff up to %u ms)", err, s->cfg.backoff_max_ms);
		s->ev_down_logged = true;
		s->ev_retry_at = cw_mono_ms() + s->ev_backoff;
		s->ev_backoff = s->ev_backoff * 2 > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms
									  : s->ev_backoff * 2;
		return false;
	}
	if (s->ev_down_logged || s->st.reconnects || s->loaded) {
		logf_(s, "redis %s: connected", s->addr_str);
		BUMP(s, reconnects);
	}
	s->ev_down_logged = false;
	s->ev_backoff = BACKOFF_MIN_MS;
	return true;
}

static bool wr_ready(struct cw_sync *s)
{
	if (s->wr)
		return true;
	if (cw_mono_ms() < s->wr_retry_at)
		return false;
	char err[512];
	s->wr = cw_redis_connect(&s->addr, (int)s->cfg.timeout_ms, err, sizeof(err));
	if (!s->wr) {
		if (!s->wr_down_logged)
			logf_(s, "%s (status, stats and journal wait)", err);
		s->wr_down_logged = true;
		s->wr_retry_at = cw_mono_ms() + s->wr_backoff;
		s->wr_backoff = s->wr_backoff * 2 > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms
									  : s->wr_backoff * 2;
		return false;
	}
	s->wr_down_logged = false;
	s->wr_backoff = BACKOFF_MIN_MS;
	s->dirty = true;
	return true;
}

/* ---- rule sets ---- */

static void req_free(struct rules_req *r)
{
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static bool same_text(const char *a, size_t al, const char *b, size_t bl)
{
	return a && b && al == bl && !memcmp(a, b, al);
}

/* A delta answers exactly as a full build of its text, and one is made right after it so that
 * the next delta starts from a small overlay again (docs/engine.md): on the fold thread, not
 * the compile thread, so that a change that comes meanwhile is not held up by it (at 100 000
 * rules the build takes seconds; control/fold.h). take_fold publishes it if still current.
 * Asked for whenever the live set is a delta and no compile is under way: after a delta goes
 * live, and after a new rule set that cancelled the fold (submit) came to nothing. */
static void fold_later(struct cw_sync *s)
{
	if (!s->live.active || !cw_snapshot_is_delta(s->live.active))
		return;
	char *copy = s->folder ? cw_live_text_copy(&s->live) : NULL;
	if (copy)
		cw_folder_request(s->folder, copy, s->live.len, s->version);
	/* else the delta stays (correct, and the next full build replaces it) */
}

static void fold_wake(void *arg)
{
	wake(arg);
}

/* A finished fold: published when the live rule set is still the delta of its text. */
static void take_fold(struct cw_sync *s)
{
	struct cw_fold_result r;
	if (!s->folder || !cw_folder_take(s->folder, &r))
		return;
	const double ms = (double)(r.times.parse_ns + r.times.build_ns) / 1e6;
	switch (cw_fold_apply(&s->live, s->e, &r)) {
	case CW_FOLD_GIVEN_UP: /* a new rule set was asked for (submit) */
		logf_(s,
		      "rule set v%" PRIu32 " not folded: a new rule set came while its full build "
		      "ran (given up after %.1f ms)",
		      r.version, ms);
		break;
	case CW_FOLD_FAILED:
		logf_(s, "rule set v%" PRIu32 " not folded into a full build: %s", r.version,
		      r.err);
		break;
	case CW_FOLD_STALE: /* another rule set went live meanwhile */
		logf_(s,
		      "rule set v%" PRIu32 " not folded: v%" PRIu32
		      " went live while its full build (%.1f ms) ran",
		      r.version, s->version, ms);
		break;
	case CW_FOLD_PUBLISHED:
		BUMP(s, folds);
		s->dirty = true;
		logf_(s,
		      "rule set v%" PRIu32 " folded into a full build (%.1f ms, in the background)",
		      r.version, ms);
		break;
	}
}

/* Makes snap (compiled from r's text, taken over) the active rule set. */
static void publish(struct cw_sync *s, struct cw_snapshot *snap, struct rules_req *r,
		    const struct cw_compile_times *ct, uint64_t compile_start,
		    uint64_t compile_done)
{
	uint32_t version = r->version;
	bool delta = cw_snapshot_is_delta(snap);
	uint64_t build_ns = ct->parse_ns + ct->build_ns;
	/* live from the pointer swap, the first thing cw_live_publish does: every burst a worker
	 * starts after it decides with the new set; the grace period that follows only waits for
	 * bursts begun before (received before) to end, so that the old set can be freed */
	struct timespec swapped;
	clock_gettime(CLOCK_REALTIME, &swapped);
	uint64_t grace_ns, t0 = cw_mono_ns();
	cw_live_publish(&s->live, s->e, snap, r->text, r->len, &grace_ns);
	uint64_t t1 = cw_mono_ns();
	s->version = version;
	s->applied_ms = cw_wall_ms();
	s->empty_error = false;
	set_error(s, NULL);
	pthread_mutex_lock(&s->stats_mu);
	s->st.version = version;
	s->st.activations++;
	if (delta)
		s->st.delta_activations++;
	s->st.last_build_ns = build_ns;
	pthread_mutex_unlock(&s->stats_mu);
	/* the whole path from the read to the swap, step by step: read, waiting for the compile
	 * thread, parse, build, handing the result back; then, after it is live, the grace period
	 * (RCU) and freeing what the new set replaced; and, for an activation event, the time
	 * from its stream entry to the swap (DESIGN §8 counts from the event), which adds noticing
	 * the event to the read: Redis's clock in whole ms against ours, so it may read up to 1 ms
	 * long, and means little when Redis runs on another host with another clock */
	double ms = 1e6;
	char since_event[64] = "";
	if (r->event_ms) {
		double at_ms = (double)swapped.tv_sec * 1e3 + (double)swapped.tv_nsec / ms;
		snprintf(since_event, sizeof(since_event), ", %.1f ms after its event",
			 at_ms - (double)r->event_ms);
	}
	logf_(s,
	      "rule set v%" PRIu32 " active (%s build %.1f ms; read %.1f ms, publish %.1f ms, "
	      "%.1f ms since the read began%s; "
	      "steps: read %.2f (%" PRIu64 " page faults), queue %.2f, parse %.2f (%" PRIu64 "), "
	      "build %.2f (%" PRIu64 "), handover %.2f ms; live, then grace %.2f and free %.2f ms)",
	      version, delta ? "delta" : "full", (double)build_ns / ms, (double)r->fetch_ns / ms,
	      (double)grace_ns / ms, (double)(t0 - r->fetch_start) / ms, since_event,
	      (double)r->fetch_ns / ms, r->fetch_faults,
	      (double)(compile_start - r->fetch_start - r->fetch_ns) / ms,
	      (double)ct->parse_ns / ms, ct->parse_faults, (double)ct->build_ns / ms,
	      ct->build_faults, (double)(t0 - compile_done) / ms, (double)grace_ns / ms,
	      (double)(t1 - t0 - grace_ns) / ms);
	if (s->cfg.on_ruleset) {
		char src[64];
		snprintf(src, sizeof(src), "redis " CW_K_RULESET_PREFIX "%" PRIu32, version);
		s->cfg.on_ruleset(s->cfg.cb_arg, cw_snapshot_ruleset(snap), src);
	}
}

static void refuse(struct cw_sync *s, const char *msg)
{
	logf_(s, "rule set refused, v%" PRIu32 " stays active: %s", s->version, msg);
	set_error(s, msg);
	BUMP(s, ruleset_errors);
	if (s->cfg.on_ruleset_error)
		s->cfg.on_ruleset_error(s->cfg.cb_arg, msg);
}

static void set_pending_stat(struct cw_sync *s)
{
	pthread_mutex_lock(&s->stats_mu);
	s->st.pending = s->inflight.req == s->want_req ? s->inflight.version
			: s->pending.req	       ? s->pending.version
						       : 0;
	pthread_mutex_unlock(&s->stats_mu);
	s->dirty = true;
}

static void submit(struct cw_sync *s)
{
	if (!s->pending.req || s->inflight.req)
		return;
	s->inflight = s->pending;
	memset(&s->pending, 0, sizeof(s->pending));
	pthread_mutex_lock(&s->comp.mu);
	s->comp.has_job = true;
	s->comp.job_req = s->inflight.req;
	s->comp.job_version = s->inflight.version;
	s->comp.job_text = s->inflight.text;
	s->comp.job_len = s->inflight.len;
	s->comp.job_base = s->live.active; /* a delta is built on its full base */
	s->comp.job_has_prev = cw_live_prev(&s->live, &s->comp.job_prev);
	pthread_cond_signal(&s->comp.cv);
	pthread_mutex_unlock(&s->comp.mu);
	/* the live set's fold is pointless if this goes live, and a full build beside it would
	 * need the memory of two: it gives up now, and is asked for again if this fails */
	cw_folder_cancel(s->folder);
	set_pending_stat(s);
}

/* The latest word on which rule set to run: version with text (taken over). `sync_build`
 * compiles in this thread (the initial load, before the compile thread exists). */
static void request_rules(struct cw_sync *s, uint32_t version, char *text, size_t len,
			  uint64_t fetch_start, uint64_t faults_before, bool sync_build)
{
	if (version == s->version && same_text(text, len, s->live.text, s->live.len)) {
		free(text);
		s->want_req = ++s->next_req; /* overtakes anything being compiled */
		req_free(&s->pending);
		if (s->error)
			set_error(s, NULL);
		set_pending_stat(s);
		return;
	}
	if (s->inflight.req && version == s->inflight.version &&
	    same_text(text, len, s->inflight.text, s->inflight.len)) {
		free(text);
		s->want_req = s->inflight.req;
		req_free(&s->pending);
		set_pending_stat(s);
		return;
	}
	req_free(&s->pending);
	s->pending = (struct rules_req){++s->next_req,
					version,
					text,
					len,
					fetch_start,
					cw_mono_ns() - fetch_start,
					cw_thread_faults() - faults_before,
					s->event_ms};
	s->want_req = s->pending.req;
	if (sync_build) {
		struct rules_req r = s->pending;
		memset(&s->pending, 0, sizeof(s->pending));
		char err[512];
		uint64_t t0 = cw_mono_ns();
		struct cw_compile_prev prev;
		struct cw_compile_times ct;
		bool has_prev = cw_live_prev(&s->live, &prev);
		struct cw_snapshot *snap =
		    cw_compile_text_spare(r.text, r.len, r.version, s->live.active,
					  has_prev ? &prev : NULL, NULL, &ct, err, sizeof(err));
		if (snap)
			publish(s, snap, &r, &ct, t0, cw_mono_ns());
		else {
			refuse(s, err);
			free(r.text);
		}
		return;
	}
	submit(s);
	set_pending_stat(s);
}

/* cw_live_rules' retire hook (control thread): queued for the compile thread. */
static void retire_later(void *arg, struct cw_snapshot *snap, char *text)
{
	struct cw_sync *s = arg;
	struct compiler *c = &s->comp;
	struct trash *t = c->started ? malloc(sizeof(*t)) : NULL;
	if (!t) { /* no thread to hand it to, or no memory: here and now */
		cw_snapshot_free(snap);
		free(text);
		return;
	}
	*t = (struct trash){snap, text, NULL};
	pthread_mutex_lock(&c->mu);
	if (!c->trash)
		c->trash_end = &c->trash;
	*c->trash_end = t;
	c->trash_end = &t->next;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* Frees a list taken off the queue (compile thread, mu not held; or after it stopped). */
static void empty_trash(struct trash *t)
{
	while (t) {
		struct trash *next = t->next;
		cw_snapshot_free(t->snap);
		free(t->text);
		free(t);
		t = next;
	}
}

static void take_result(struct cw_sync *s)
{
	pthread_mutex_lock(&s->comp.mu);
	if (!s->comp.has_result) {
		pthread_mutex_unlock(&s->comp.mu);
		return;
	}
	uint64_t req = s->comp.res_req;
	struct cw_snapshot *snap = s->comp.res_snap;
	struct cw_compile_times ct = s->comp.res_times;
	uint64_t start = s->comp.res_start, done = s->comp.res_done;
	char err[512];
	snprintf(err, sizeof(err), "%s", s->comp.res_err);
	s->comp.has_result = false;
	s->comp.res_snap = NULL;
	pthread_mutex_unlock(&s->comp.mu);

	struct rules_req r = s->inflight;
	memset(&s->inflight, 0, sizeof(s->inflight));
	if (req != r.req || req != s->want_req) { /* overtaken */
		retire_later(s, snap, r.text);
	} else if (snap) {
		publish(s, snap, &r, &ct, start, done);
	} else {
		refuse(s, err);
		free(r.text);
	}
	submit(s);
	if (!s->inflight.req)
		fold_later(s); /* a new delta's; or the live one's again, if submit cancelled it */
	set_pending_stat(s);
}

/* Bytes written per step of the warm-up: a new job waits at most for one step (~0.3 ms). */
#define WARM_STEP (1u << 20)

/* What the next activation will need, sized like the rule set it will start from and the text
 * just read: a spare for the parse and a text buffer (compile thread, or before it starts). */
static void plan_warm(struct compiler *c, const struct cw_ruleset *like, size_t text_len)
{
	cw_parse_spare_free(c->spare);
	c->spare = like ? cw_parse_spare_new(like) : NULL;
	c->spare_done = false;
	free(c->text_warm); /* a buffer an earlier plan began: its size may not do */
	c->text_warm = NULL;
	c->text_warm_done = 0;
	c->text_want = text_len ? text_len + text_len / 4 + 65536 : 0; /* room to grow */
}

static bool warm_pending(const struct compiler *c)
{
	return (c->spare && !c->spare_done) || c->text_want;
}

/* One step of writing the memory plan_warm asked for (compile thread, mu not held). Why: fresh
 * memory is faulted in page by page on its first write, and at 100 k rules the next delta's
 * parse arrays and text buffer are ~30 MB: written here, while nothing waits, instead of on
 * the activation path. */
static void warm_step(struct cw_sync *s)
{
	struct compiler *c = &s->comp;
	if (c->spare && !c->spare_done) {
		c->spare_done = cw_parse_spare_touch(c->spare, WARM_STEP);
		return;
	}
	pthread_mutex_lock(&c->mu);
	bool have = c->text_ready && c->text_ready_cap >= c->text_want;
	pthread_mutex_unlock(&c->mu);
	if (have || (!c->text_warm && !(c->text_warm = malloc(c->text_want)))) {
		c->text_want = 0; /* enough already, or no memory: reads allocate as before */
		return;
	}
	size_t end = c->text_want - c->text_warm_done > WARM_STEP ? c->text_warm_done + WARM_STEP
								  : c->text_want;
	for (size_t o = c->text_warm_done; o < end; o += 4096)
		c->text_warm[o] = 0;
	c->text_warm_done = end;
	if (end < c->text_want)
		return;
	pthread_mutex_lock(&c->mu);
	free(c->text_ready);
	c->text_ready = c->text_warm;
	c->text_ready_cap = c->text_want;
	pthread_mutex_unlock(&c->mu);
	c->text_warm = NULL;
	c->text_warm_done = 0;
	c->text_want = 0;
}

/* The text buffer the compile thread prepared, if any (control thread). */
static char *take_text_spare(struct cw_sync *s, size_t *cap)
{
	pthread_mutex_lock(&s->comp.mu);
	char *t = s->comp.text_ready;
	*cap = s->comp.text_ready_cap;
	s->comp.text_ready = NULL;
	s->comp.text_ready_cap = 0;
	pthread_mutex_unlock(&s->comp.mu);
	return t;
}

static void *compile_main(void *arg)
{
	struct cw_sync *s = arg;
	struct compiler *c = &s->comp;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->quit && !c->has_job) {
			if (c->trash) { /* first: it may give back memory the warm-up wants */
				struct trash *t = c->trash;
				c->trash = NULL;
				pthread_mutex_unlock(&c->mu);
				empty_trash(t);
				pthread_mutex_lock(&c->mu);
				continue;
			}
			if (!warm_pending(c)) {
				pthread_cond_wait(&c->cv, &c->mu);
				continue;
			}
			pthread_mutex_unlock(&c->mu);
			warm_step(s);
			pthread_mutex_lock(&c->mu);
		}
		if (c->quit)
			break;
		c->has_job = false;
		uint64_t req = c->job_req;
		uint32_t version = c->job_version;
		const char *text = c->job_text;
		size_t len = c->job_len;
		const struct cw_snapshot *base = c->job_base;
		struct cw_compile_prev prev = c->job_prev;
		bool has_prev = c->job_has_prev;
		pthread_mutex_unlock(&c->mu);

		char err[512] = "";
		struct cw_compile_times ct;
		uint64_t t0 = cw_mono_ns();
		struct cw_snapshot *snap =
		    cw_compile_text_spare(text, len, version, base, has_prev ? &prev : NULL,
					  &c->spare, &ct, err, sizeof(err));
		uint64_t t1 = cw_mono_ns();
		/* the next parse starts from this result (or, refused, from prev): both are alive
		 * until the result is handed over */
		plan_warm(c, snap ? cw_snapshot_ruleset(snap) : has_prev ? prev.rs : NULL, len);

		pthread_mutex_lock(&c->mu);
		c->has_result = true;
		c->res_req = req;
		c->res_snap = snap;
		c->res_times = ct;
		c->res_start = t0;
		c->res_done = t1;
		snprintf(c->res_err, sizeof(c->res_err), "%s", err);
		wake(s);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- full load ---- */

static int note_position(struct cw_sync *s, redisContext *c, struct cw_stream_id *pos,
			 uint64_t *ordinal, char *err, size_t errlen)
{
	redisReply *r = cw_redis_cmdv(c, err, errlen, "XINFO", "STREAM", CW_K_EVENTS, NULL);
	if (!r)
		return -1;
	struct cw_stream_info si;
	bool ok = cw_stream_info_parse(r, &si);
	if (!ok)
		snprintf(err, errlen, "XINFO STREAM %s: %s", CW_K_EVENTS,
			 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	if (!ok)
		return -1;
	(void)s;
	*pos = si.exists ? si.last_generated : (struct cw_stream_id){0, 0};
	*ordinal = si.exists ? si.entries_added : 0;
	return 0;
}

static void update_counts_stat(struct cw_sync *s)
{
	s->dirty = true;
}

/* 1 when none of the state keys exists, 0 when one does, -1 on error. */
static int redis_is_empty(struct cw_sync *s, char *err, size_t errlen)
{
	redisReply *r =
	    cw_redis_cmdv(s->ev, err, errlen, "EXISTS", CW_K_ENT, CW_K_SENDERS, CW_K_ACTIVE, NULL);
	if (!r)
		return -1;
	int rc = r->type == REDIS_REPLY_INTEGER ? r->integer == 0 : -1;
	if (rc < 0)
		snprintf(err, errlen, "EXISTS: unexpected reply");
	freeReplyObject(r);
	return rc;
}

/* DESIGN §6: note the stream's end, load registry, senders and the active rule set. */
static int full_load(struct cw_sync *s, bool sync_build)
{
	char err[512];
	struct cw_stream_id pos;
	uint64_t ordinal;
	struct cw_load_counts n = {0};
	uint64_t t0 = cw_mono_ns();

	int empty = note_position(s, s->ev, &pos, &ordinal, err, sizeof(err))
			? -1
			: redis_is_empty(s, err, sizeof(err));
	if (empty > 0 && (s->version || s->reg.n)) {
		/* A Redis that lost everything (restarted without persistence, flushed) must not
		 * empty a running gateway: keep deciding with what we have, say so, and follow
		 * the new stream from here; the next full state written will be applied. */
		s->pos = pos;
		s->ordinal = ordinal;
		s->reload = false;
		set_error(s, "Redis holds no Clearway state (cw:ent, cw:senders and "
			     "cw:ruleset:active are all missing); keeping the current state");
		s->empty_error = true;
		logf_(s, "%s", s->error_text);
		BUMP(s, full_loads);
		return 0;
	}
	if (empty < 0 || cw_load_registry(s->ev, s->e, &s->reg, &n, err, sizeof(err)) ||
	    cw_load_senders(s->ev, s->e, &n, err, sizeof(err))) {
		logf_(s, "full load failed: %s", err);
		return -1;
	}
	uint32_t version = 0;
	char *text;
	size_t len;
	uint64_t fetch_start = cw_mono_ns(), faults = cw_thread_faults();
	int rc = cw_load_ruleset_text(s->ev, &version, &text, &len, err, sizeof(err));
	if (rc < 0 && !s->ev->err) {
		/* the active version names a text that is not there: refuse, keep going */
		refuse(s, err);
	} else if (rc < 0) {
		logf_(s, "full load failed: %s", err);
		return -1;
	} else if (rc == 0 && s->version) {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s is not set; v%" PRIu32 " stays active", CW_K_ACTIVE,
			 s->version);
		refuse(s, msg);
	}
	if (s->empty_error) { /* the state is back */
		s->empty_error = false;
		set_error(s, NULL);
	}
	s->pos = pos;
	s->ordinal = ordinal;
	s->loaded = true;
	s->reload = false;
	pthread_mutex_lock(&s->stats_mu);
	s->st.full_loads++;
	s->st.loaded = true;
	s->st.registry_errors += n.ent_full;
	s->st.bad_values += n.ent_bad + n.sender_bad;
	cw_stream_id_format(pos, s->st.last_event, sizeof(s->st.last_event));
	pthread_mutex_unlock(&s->stats_mu);
	logf_(s,
	      "full load: %" PRIu64 " enterprises (%" PRIu64 " changed, %" PRIu64
	      " removed, %" PRIu64 " bad), %" PRIu64 " senders (%" PRIu64 " removed, %" PRIu64
	      " bad), active rule set %s%" PRIu32 ", %.1f ms",
	      n.ents, n.ent_changes, n.ent_removed, n.ent_bad, n.senders, n.sender_removed,
	      n.sender_bad, version ? "v" : "none ", version, (double)(cw_mono_ns() - t0) / 1e6);
	if (rc > 0)
		request_rules(s, version, text, len, fetch_start, faults, sync_build);
	update_counts_stat(s);
	return 0;
}

/* ---- events ---- */

enum apply_result { APPLIED, MALFORMED, RELOAD };

static enum apply_result apply_ent(struct cw_sync *s, const redisReply *f)
{
	const char *op = cw_entry_field(f, "op"), *u = cw_entry_field(f, "uscc");
	if (!op || !u || !cw_uscc_valid(u, strlen(u)))
		return MALFORMED;
	if (!strcmp(op, "set")) {
		const char *c = cw_entry_field(f, "class");
		int cls = c ? cw_class_parse(c, strlen(c)) : -1;
		if (cls < 0)
			return MALFORMED;
		int ch = cw_regmirror_set(&s->reg, u, (uint8_t)cls);
		if (ch > 0 && cw_registry_set(s->e, u, (enum cw_class)cls) != 0) {
			cw_regmirror_del(&s->reg, u);
			BUMP(s, registry_errors);
		}
		return APPLIED;
	}
	if (!strcmp(op, "del")) {
		cw_regmirror_del(&s->reg, u);
		cw_registry_del(s->e, u);
		return APPLIED;
	}
	return MALFORMED;
}

static enum apply_result apply_sender(struct cw_sync *s, const redisReply *f)
{
	const char *op = cw_entry_field(f, "op"), *ids = cw_entry_field(f, "id");
	uint32_t id;
	if (!op || !ids || !cw_sender_id_parse(ids, &id))
		return MALFORMED;
	if (!strcmp(op, "set")) {
		const char *p = cw_entry_field(f, "prefixes"), *name = cw_entry_field(f, "name");
		char err[160];
		if (!p)
			return MALFORMED;
		if (cw_sender_set(s->e, id, p, name ? name : "", err, sizeof(err)) != 0) {
			logf_(s, "sender %" PRIu32 " refused: %s", id, err);
			BUMP(s, sender_errors);
			return MALFORMED;
		}
		return APPLIED;
	}
	if (!strcmp(op, "del")) {
		cw_sender_del(s->e, id);
		return APPLIED;
	}
	return MALFORMED;
}

static enum apply_result apply_ruleset(struct cw_sync *s, const redisReply *f)
{
	const char *vs = cw_entry_field(f, "version");
	uint32_t version;
	if (!vs || !cw_version_parse(vs, &version))
		return MALFORMED;
	char err[512], *text;
	size_t len, cap;
	uint64_t t0 = cw_mono_ns(), faults = cw_thread_faults();
	char *spare = take_text_spare(s, &cap);
	int rc =
	    cw_load_ruleset_text_into(s->ev, &version, &text, &len, spare, cap, err, sizeof(err));
	if (rc < 0) {
		if (s->ev->err)
			return RELOAD; /* connection trouble: handled by the caller */
		refuse(s, err);
		return APPLIED;
	}
	request_rules(s, version, text, len, t0, faults, false);
	return APPLIED;
}

static enum apply_result apply_event(struct cw_sync *s, const redisReply *fields)
{
	const char *kind = cw_entry_field(fields, "kind");
	if (!kind)
		return MALFORMED;
	if (!strcmp(kind, "ent"))
		return apply_ent(s, fields);
	if (!strcmp(kind, "sender"))
		return apply_sender(s, fields);
	if (!strcmp(kind, "ruleset"))
		return apply_ruleset(s, fields);
	if (!strcmp(kind, "resync"))
		return RELOAD;
	return MALFORMED;
}

/* Processes one XREAD reply's entries. Returns the number of entries, or -1 when the caller
 * must drop the connection. */
static long process_entries(struct cw_sync *s, const redisReply *xr)
{
	if (xr->type == REDIS_REPLY_NIL)
		return 0;
	if (xr->type != REDIS_REPLY_ARRAY || xr->elements != 1 ||
	    xr->element[0]->type != REDIS_REPLY_ARRAY || xr->element[0]->elements != 2 ||
	    xr->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
		return -1;
	const redisReply *ents = xr->element[0]->element[1];
	long n = 0;
	for (size_t i = 0; i < ents->elements; i++) {
		const redisReply *en = ents->element[i];
		struct cw_stream_id id;
		if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
		    !cw_stream_id_parse(cw_reply_str(en->element[0]), &id))
			return -1;
		if (cw_stream_id_cmp(id, s->pos) <= 0)
			continue;
		s->event_ms = id.ms;
		enum apply_result r = en->element[1]->type == REDIS_REPLY_ARRAY
					  ? apply_event(s, en->element[1])
					  : MALFORMED;
		s->event_ms = 0;
		if (r == RELOAD && s->ev->err)
			return -1; /* not applied: read again after reconnecting */
		s->pos = id;
		s->ordinal++;
		n++;
		pthread_mutex_lock(&s->stats_mu);
		s->st.events++;
		if (r == APPLIED)
			s->st.events_applied++;
		else if (r == MALFORMED)
			s->st.events_malformed++;
		snprintf(s->st.last_event, sizeof(s->st.last_event), "%s", en->element[0]->str);
		pthread_mutex_unlock(&s->stats_mu);
		if (r == MALFORMED)
			logf_(s, "event %s malformed, skipped", en->element[0]->str);
		s->dirty = true;
		if (r == RELOAD) {
			s->reload = true;
			return n;
		}
	}
	return n;
}

/*
 * Reads what follows our position, atomically with the stream's bookkeeping:
 *   MULTI; XINFO STREAM cw:events; XREAD COUNT n STREAMS cw:events <pos>; EXEC
 * Redis 7 trimming does not move max-deleted-entry-id, so trimming is found by ordinals:
 * entries-added - length + 1 is the ordinal of the first entry still there; if it is past our
 * ordinal + 1, entries we never saw were trimmed. XDEL of an entry after us moves
 * max-deleted-entry-id past our position. A stream that vanished, was recreated (fewer
 * entries added than we have seen) or restored from an older copy (it ends before our
 * position) means the same. All of these call for a full load.
 * Returns 1 when there may be more to read, 0 when caught up, -1 on a connection error.
 */
static int read_events(struct cw_sync *s)
{
	char posbuf[48], cnt[16];
	cw_stream_id_format(s->pos, posbuf, sizeof(posbuf));
	snprintf(cnt, sizeof(cnt), "%u", s->cfg.read_count);
	const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
	const char *info[] = {"XINFO", "STREAM", CW_K_EVENTS};
	const char *xr[] = {"XREAD", "COUNT", cnt, "STREAMS", CW_K_EVENTS, posbuf};
	redisAppendCommandArgv(s->ev, 1, multi, NULL);
	redisAppendCommandArgv(s->ev, 3, info, NULL);
	redisAppendCommandArgv(s->ev, 6, xr, NULL);
	redisAppendCommandArgv(s->ev, 1, exec, NULL);
	redisReply *rep[4] = {0};
	for (int i = 0; i < 4; i++)
		if (redisGetReply(s->ev, (void **)&rep[i]) != REDIS_OK) {
			for (int j = 0; j < i; j++)
				freeReplyObject(rep[j]);
			ev_drop(s, s->ev->errstr);
			return -1;
		}
	redisReply *ex = rep[3];
	int ret = 0;
	if (ex->type != REDIS_REPLY_ARRAY || ex->elements != 2) {
		/* the first error says why (e.g. LOADING while a restarted Redis reads its AOF) */
		const char *why = "unexpected reply";
		for (int i = 3; i >= 0; i--)
			if (rep[i]->type == REDIS_REPLY_ERROR)
				why = rep[i]->str;
		logf_(s, "MULTI/EXEC read of %s: %s", CW_K_EVENTS, why);
		ev_drop(s, why);
		ret = -1;
		goto out;
	}
	struct cw_stream_info si;
	if (!cw_stream_info_parse(ex->element[0], &si)) {
		ev_drop(s, "unexpected XINFO reply");
		ret = -1;
		goto out;
	}
	bool lost;
	if (!si.exists)
		lost = s->ordinal > 0 || s->pos.ms || s->pos.seq;
	else
		lost = cw_stream_id_cmp(si.max_deleted, s->pos) > 0 ||
		       cw_stream_id_cmp(si.last_generated, s->pos) < 0 || /* an older copy */
		       si.entries_added < s->ordinal ||
		       (si.length > 0 && si.entries_added - si.length + 1 > s->ordinal + 1);
	if (lost) {
		char m[48];
		cw_stream_id_format(si.max_deleted, m, sizeof(m));
		logf_(s, "%s: entries after our position %s are gone (%s); full reload",
		      CW_K_EVENTS, posbuf, si.exists ? "trimmed or deleted" : "stream deleted");
		BUMP(s, trims);
		s->reload = true;
		goto out;
	}
	long n = process_entries(s, ex->element[1]);
	if (n < 0) {
		if (s->ev)
			ev_drop(s, s->ev->err ? s->ev->errstr : "unexpected XREAD reply");
		ret = -1;
	} else
		ret = !s->reload && n >= (long)s->cfg.read_count;
out:
	for (int i = 0; i < 4; i++)
		freeReplyObject(rep[i]);
	return ret;
}

static int send_block(struct cw_sync *s)
{
	char posbuf[48], ms[16];
	cw_stream_id_format(s->pos, posbuf, sizeof(posbuf));
	snprintf(ms, sizeof(ms), "%u", s->cfg.block_ms);
	const char *xr[] = {"XREAD", "COUNT", "1", "BLOCK", ms, "STREAMS", CW_K_EVENTS, posbuf};
	if (redisAppendCommandArgv(s->ev, 8, xr, NULL) != REDIS_OK)
		return -1;
	int done = 0;
	while (!done)
		if (redisBufferWrite(s->ev, &done) != REDIS_OK)
			return -1;
	s->block_out = true;
	s->block_deadline = cw_mono_ms() + s->cfg.block_ms + s->cfg.timeout_ms + 1000;
	return 0;
}

/* Called when poll says the events connection is readable. */
static void block_readable(struct cw_sync *s)
{
	if (redisBufferRead(s->ev) != REDIS_OK) {
		ev_drop(s, s->ev->errstr);
		return;
	}
	void *r = NULL;
	if (redisGetReplyFromReader(s->ev, &r) != REDIS_OK) {
		ev_drop(s, s->ev->errstr);
		return;
	}
	if (r) {
		s->block_out = false;
		freeReplyObject(r);
	}
}

/* Everything the events connection has to do now: connect, load, catch up, then block. */
static void events_step(struct cw_sync *s)
{
	if (!s->ev) {
		if (cw_mono_ms() < s->ev_retry_at || !ev_connect(s))
			return;
	}
	if (s->block_out)
		return;
	for (int rounds = 0; s->ev && rounds < 64 && !atomic_load(&s->stop); rounds++) {
		if (!s->loaded || s->reload) {
			if (full_load(s, false)) {
				ev_drop(s, "full load failed");
				return;
			}
			continue;
		}
		int more = read_events(s);
		if (more < 0)
			return;
		if (!more && !s->reload)
			break;
	}
	if (s->ev && !s->reload && send_block(s))
		ev_drop(s, s->ev->errstr);
}

/* ---- status, stats, journal ---- */

struct fields {
	const char **argv;
	size_t *lens;
	size_t n, cap;
	char *arena;
	size_t used, acap;
	bool oom;
};

static void fields_reset(struct fields *f)
{
	f->n = 0;
	f->used = 0;
}

static bool fields_grow(struct fields *f, size_t need_args, size_t need_bytes)
{
	if (f->n + need_args > f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 256;
		while (nc < f->n + need_args)
			nc *= 2;
		const char **a = realloc(f->argv, nc * sizeof(*a));
		size_t *l = a ? realloc(f->lens, nc * sizeof(*l)) : NULL;
		if (!a || !l) {
			if (a)
				f->argv = a;
			f->oom = true;
			return false;
		}
		f->argv = a;
		f->lens = l;
		f->cap = nc;
	}
	if (f->used + need_bytes > f->acap) {
		/* pointers into the arena are offsets until the end, see fields_fix */
		size_t nc = f->acap ? f->acap * 2 : 16384;
		while (nc < f->used + need_bytes)
			nc *= 2;
		char *na = realloc(f->arena, nc);
		if (!na) {
			f->oom = true;
			return false;
		}
		f->arena = na;
		f->acap = nc;
	}
	return true;
}

/* Adds a string copied into the arena; argv holds the offset until fields_fix. */
static void fields_add(struct fields *f, const char *s, size_t len)
{
	if (!fields_grow(f, 1, len + 1))
		return;
	memcpy(f->arena + f->used, s, len);
	f->arena[f->used + len] = 0;
	f->argv[f->n] = (const char *)(uintptr_t)f->used;
	f->lens[f->n++] = len;
	f->used += len + 1;
}

static void fields_kv(struct fields *f, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fields_kv(struct fields *f, const char *k, const char *fmt, ...)
{
	char v[600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(v))
		n = sizeof(v) - 1;
	fields_add(f, k, strlen(k));
	fields_add(f, v, (size_t)n);
}

static void fields_fix(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		f->argv[i] = f->arena + (uintptr_t)f->argv[i];
}

static void emit_counter(void *arg, const char *name, uint64_t v)
{
	fields_kv(arg, name, "%" PRIu64, v);
}

static void emit_hit(uint32_t id, uint64_t hits, void *arg)
{
	char k[32];
	snprintf(k, sizeof(k), "rule:%" PRIu32, id);
	fields_kv(arg, k, "%" PRIu64, hits);
}

static bool readable(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	return poll(&pf, 1, 0) > 0;
}

/* Notes n replies owed on wr for what was just appended. */
static void wr_owe(struct cw_sync *s, bool journal, unsigned n)
{
	if (!s->owed_total)
		s->wr_progress_ms = cw_mono_ms();
	s->owed[(s->owed_head + s->owed_runs) % OWED_MAX] = (struct owed){journal, n};
	s->owed_runs++;
	s->owed_total += n;
	if (journal)
		s->journal_out = true;
}

/* Sends what was appended on wr (a blocking write: a few KB, or one journal batch). */
static bool wr_flush(struct cw_sync *s)
{
	for (int done = 0; !done;)
		if (redisBufferWrite(s->wr, &done) != REDIS_OK) {
			wr_drop(s, s->wr->errstr);
			return false;
		}
	return true;
}

/* Reads the replies owed on wr: with wait, all of them (at the thread's end); without, only
 * those that have arrived, so that the thread never waits for Redis to get through a batch. */
static void wr_collect(struct cw_sync *s, bool wait)
{
	uint64_t written = 0, lost = 0;
	while (s->owed_total && s->wr) {
		void *r = NULL;
		if (redisReaderGetReply(s->wr->reader, &r) != REDIS_OK) {
			wr_drop(s, "unreadable reply");
			break;
		}
		if (!r) {
			if (!wait && !readable(s->wr->fd))
				break;
			if (redisBufferRead(s->wr) != REDIS_OK) {
				wr_drop(s, s->wr->errstr);
				break;
			}
			continue;
		}
		struct owed *o = &s->owed[s->owed_head];
		if (o->journal) {
			if (((redisReply *)r)->type == REDIS_REPLY_ERROR)
				lost++;
			else
				written++;
		}
		freeReplyObject(r);
		s->wr_progress_ms = cw_mono_ms();
		s->owed_total--;
		if (--o->n == 0) {
			if (o->journal)
				s->journal_out = false;
			s->owed_head = (s->owed_head + 1) % OWED_MAX;
			s->owed_runs--;
		}
	}
	if (written || lost) {
		pthread_mutex_lock(&s->stats_mu);
		s->st.journal_written += written;
		s->st.journal_lost += lost;
		pthread_mutex_unlock(&s->stats_mu);
	}
}

/* Whether one more run of replies can be owed on wr now. */
static bool wr_can_owe(const struct cw_sync *s)
{
	return s->wr && s->owed_runs < OWED_MAX;
}

static void write_node(struct cw_sync *s, struct fields *f)
{
	if (!wr_ready(s) || !wr_can_owe(s))
		return;
	char pos[48];
	cw_stream_id_format(s->pos, pos, sizeof(pos));
	struct cw_sync_stats st;
	cw_sync_get_stats(s, &st);
	fields_reset(f);
	fields_add(f, "HSET", 4);
	fields_add(f, s->node_key, strlen(s->node_key));
	fields_kv(f, "version", "%" PRIu32, s->version);
	fields_kv(f, "status", "%s", s->error ? "error" : "ok");
	fields_kv(f, "error", "%s", s->error_text);
	fields_kv(f, "applied_ms", "%" PRIu64, s->applied_ms);
	fields_kv(f, "ent_count", "%" PRIu32, cw_registry_count(s->e));
	fields_kv(f, "sender_count", "%" PRIu32, cw_sender_count(s->e));
	fields_kv(f, "last_event", "%s", s->loaded ? pos : "");
	fields_kv(f, "updated_ms", "%" PRIu64, cw_wall_ms());
	fields_kv(f, "state", "%s", s->state);
	fields_kv(f, "pending", "%" PRIu32, st.pending);
	fields_kv(f, "delta", "%d", s->live.active && s->live.active != s->live.base);
	fields_kv(f, "build_ms", "%.1f", (double)st.last_build_ns / 1e6);
	fields_kv(f, "started_ms", "%" PRIu64, s->started_ms);
	fields_kv(f, "pid", "%d", (int)getpid());
	if (f->oom)
		return;
	fields_fix(f);
	redisAppendCommandArgv(s->wr, (int)f->n, f->argv, f->lens);
	wr_owe(s, false, 1);
	if (wr_flush(s))
		s->dirty = false; /* a new connection writes it again (wr_ready) */
}

static void write_stats(struct cw_sync *s, struct fields *f)
{
	if (!wr_ready(s) || !wr_can_owe(s))
		return;
	struct cw_sync_stats st;
	cw_sync_get_stats(s, &st);
	fields_reset(f);
	fields_kv(f, "updated_ms", "%" PRIu64, cw_wall_ms());
	fields_kv(f, "version", "%" PRIu32, s->version);
	if (s->cfg.counters)
		s->cfg.counters(s->cfg.cb_arg, emit_counter, f);
	struct cw_store_stats ss;
	cw_engine_store_stats(s->e, &ss);
	emit_counter(f, "store_manifests", ss.manifests);
	emit_counter(f, "store_orders", ss.orders);
	emit_counter(f, "store_buyers", ss.buyers);
	emit_counter(f, "store_registry", ss.registry);
	emit_counter(f, "store_senders", ss.senders);
#define C(name) emit_counter(f, "control_" #name, st.name)
	C(events);
	C(events_applied);
	C(events_malformed);
	C(bad_values);
	C(full_loads);
	C(trims);
	C(reconnects);
	C(redis_errors);
	C(activations);
	C(delta_activations);
	C(folds);
	C(ruleset_errors);
	C(registry_errors);
	C(sender_errors);
	C(journal_written);
	C(journal_lost);
#undef C
	if (s->cfg.rule_hits)
		s->cfg.rule_hits(s->cfg.cb_arg, emit_hit, f);
	if (f->oom)
		return;
	fields_fix(f);
	/* Replace the whole hash atomically: rule hits of an old rule set disappear with it. */
	const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
	const char *del[] = {"DEL", s->stats_key};
	redisAppendCommandArgv(s->wr, 1, multi, NULL);
	redisAppendCommandArgv(s->wr, 2, del, NULL);
	unsigned cmds = 2; /* MULTI, DEL */
	const char *argv[2 + 2 * 512];
	size_t lens[2 + 2 * 512];
	for (size_t i = 0; i < f->n; i += 2 * 512) {
		size_t k = f->n - i < 2 * 512 ? f->n - i : 2 * 512;
		argv[0] = "HSET";
		lens[0] = 4;
		argv[1] = s->stats_key;
		lens[1] = strlen(s->stats_key);
		memcpy(argv + 2, f->argv + i, k * sizeof(*argv));
		memcpy(lens + 2, f->lens + i, k * sizeof(*lens));
		redisAppendCommandArgv(s->wr, (int)(k + 2), argv, lens);
		cmds++;
	}
	redisAppendCommandArgv(s->wr, 1, exec, NULL);
	wr_owe(s, false, cmds + 1);
	wr_flush(s);
}

static uint64_t rec_ms(const struct cw_sync *s, const struct cw_journal_rec *r)
{
	if (!r->tsc || !s->tsc_hz)
		return cw_wall_ms();
	int64_t d = (int64_t)(r->tsc - s->tsc_ref);
	return (uint64_t)((int64_t)s->wall_ref +
			  (int64_t)((__int128)d * 1000 / (int64_t)s->tsc_hz));
}

/* Sends the next batch of the ring to cw:journal as pipelined XADDs, once the replies of the
 * one before are in (wr_collect, from the poll loop). The thread does not wait for Redis
 * to get through a batch: at 90 % load a batch of 512 records took Redis milliseconds on a CPU
 * it shares, and an event, or a built rule set to swap in, waited behind it (8 and 6 ms in the
 * bench). Returns true when records are left for the next round. */
static bool drain_journal(struct cw_sync *s)
{
	if (!s->cfg.journal || !wr_ready(s))
		return false;
	wr_collect(s, false);
	if (s->journal_out || !wr_can_owe(s))
		return false;
	unsigned n = cw_journal_dequeue(s->cfg.journal, s->jbuf, s->cfg.journal_batch);
	if (!n)
		return false;
	char cap[24];
	snprintf(cap, sizeof(cap), "%u", s->cfg.journal_cap);
	for (unsigned i = 0; i < n; i++) {
		const char *argv[6 + CW_JOURNAL_MAX_ARGS];
		size_t lens[6 + CW_JOURNAL_MAX_ARGS];
		char buf[CW_JOURNAL_BUF];
		argv[0] = "XADD";
		argv[1] = CW_K_JOURNAL;
		argv[2] = "MAXLEN";
		argv[3] = "~";
		argv[4] = cap;
		argv[5] = "*";
		for (int k = 0; k < 6; k++)
			lens[k] = strlen(argv[k]);
		unsigned a = cw_journal_format(&s->jbuf[i], s->node, rec_ms(s, &s->jbuf[i]), buf,
					       argv + 6, lens + 6);
		redisAppendCommandArgv(s->wr, (int)(6 + a), argv, lens);
	}
	wr_owe(s, true, n);
	if (!wr_flush(s))
		return false;
	return rte_ring_count(s->cfg.journal) > 0;
}

/* ---- the thread ---- */

static void periodic(struct cw_sync *s, struct fields *f)
{
	uint64_t now = cw_mono_ms();
	if (s->owed_total && s->wr)
		wr_collect(s, false);
	if (now >= s->next_journal && !s->journal_out) {
		bool more = drain_journal(s);
		/* a backlog is drained on the next turn of the loop, after the events, once this
		 * batch's replies are in */
		s->next_journal = more ? 0 : cw_mono_ms() + s->cfg.journal_ms;
	}
	if (now >= s->next_beat) {
		write_node(s, f);
		write_stats(s, f);
		s->next_beat = cw_mono_ms() + s->cfg.heartbeat_ms;
	} else if (s->dirty) {
		write_node(s, f);
	}
}

static void *sync_main(void *arg)
{
	struct cw_sync *s = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct fields f = {0};
	s->state = "running";
	s->dirty = true;
	while (!atomic_load(&s->stop)) {
		events_step(s);
		periodic(s, &f);

		uint64_t now = cw_mono_ms();
		/* a journal batch out: its replies, not a timer, bring the next one */
		const bool batch_out = s->journal_out && s->wr;
		uint64_t until = s->next_beat;
		if (!batch_out && s->next_journal < until)
			until = s->next_journal;
		if (!s->ev && s->ev_retry_at < until)
			until = s->ev_retry_at;
		if (s->block_out && s->block_deadline < until)
			until = s->block_deadline;
		if (s->dirty && wr_can_owe(s))
			until = now;
		else if (s->dirty && !s->wr && s->wr_retry_at < until)
			until = s->wr_retry_at;
		const uint64_t wr_deadline = s->wr_progress_ms + s->cfg.timeout_ms;
		if (s->owed_total && s->wr && wr_deadline < until)
			until = wr_deadline;
		int timeout = until > now ? (int)(until - now) : 0;
		struct pollfd pf[3] = {
		    {.fd = s->wake_fd, .events = POLLIN}, {.fd = -1}, {.fd = -1}};
		if (s->ev && s->block_out) {
			pf[1].fd = s->ev->fd;
			pf[1].events = POLLIN;
		}
		if (s->owed_total && s->wr) {
			pf[2].fd = s->wr->fd;
			pf[2].events = POLLIN;
		}
		int pr = poll(pf, 3, timeout);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr > 0 && (pf[0].revents & POLLIN)) {
			uint64_t v;
			ssize_t r = read(s->wake_fd, &v, sizeof(v));
			(void)r;
			take_result(s);
			take_fold(s);
		}
		if (pr > 0 && pf[1].fd >= 0 && pf[1].revents)
			block_readable(s);
		if (pr > 0 && pf[2].fd >= 0 && pf[2].revents && s->wr)
			wr_collect(s, false);
		if (s->wr && s->owed_total && cw_mono_ms() > wr_deadline)
			wr_drop(s, "no reply");
		if (s->ev && s->block_out && cw_mono_ms() > s->block_deadline)
			ev_drop(s, "no answer to a blocking read");
	}
	/* last words: what the workers journaled before they stopped, the final counters */
	s->state = "stopped";
	for (int i = 0; i < 100 && s->cfg.journal && rte_ring_count(s->cfg.journal) && s->wr; i++) {
		drain_journal(s);
		wr_collect(s, true);
	}
	write_stats(s, &f);
	write_node(s, &f);
	if (s->wr)
		wr_collect(s, true);
	free(f.argv);
	free(f.lens);
	free(f.arena);
	return NULL;
}

/* ---- public ---- */

struct cw_sync *cw_sync_create(struct cw_engine *e, const struct cw_sync_config *c, char *err,
			       size_t errlen)
{
	struct cw_sync *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct cw_sync_config d;
	cw_sync_config_defaults(&d);
	s->cfg = *c;
#define DEF(x)                                                                                     \
	if (!s->cfg.x)                                                                             \
	s->cfg.x = d.x
	DEF(heartbeat_ms);
	DEF(journal_ms);
	DEF(journal_cap);
	DEF(journal_batch);
	DEF(block_ms);
	DEF(timeout_ms);
	DEF(backoff_max_ms);
	DEF(read_count);
#undef DEF
	const char *addr = c->redis ? c->redis : getenv("CW_REDIS");
	if (cw_redis_addr_parse(addr, &s->addr, err, errlen)) {
		free(s);
		return NULL;
	}
	cw_redis_addr_format(&s->addr, s->addr_str, sizeof(s->addr_str));
	s->cfg.redis = s->addr_str;
	if (c->node && *c->node)
		snprintf(s->node, sizeof(s->node), "%s", c->node);
	else if (gethostname(s->node, sizeof(s->node) - 1) || !s->node[0])
		snprintf(s->node, sizeof(s->node), "gateway");
	s->cfg.node = s->node;
	snprintf(s->node_key, sizeof(s->node_key), CW_K_NODE_PREFIX "%s", s->node);
	snprintf(s->stats_key, sizeof(s->stats_key), CW_K_STATS_PREFIX "%s", s->node);
	s->e = e;
	s->live.retire = retire_later;
	s->live.retire_arg = s;
	s->ev_backoff = s->wr_backoff = BACKOFF_MIN_MS;
	s->state = "loading";
	s->started_ms = cw_wall_ms();
	s->tsc_hz = rte_get_tsc_hz();
	s->tsc_ref = rte_rdtsc();
	s->wall_ref = cw_wall_ms();
	cw_regmirror_init(&s->reg);
	pthread_mutex_init(&s->stats_mu, NULL);
	pthread_mutex_init(&s->comp.mu, NULL);
	pthread_cond_init(&s->comp.cv, NULL);
	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->jbuf = calloc(s->cfg.journal_batch, sizeof(*s->jbuf));
	if (s->wake_fd < 0 || !s->jbuf) {
		snprintf(err, errlen, "control thread setup: %s", strerror(errno));
		cw_sync_destroy(s);
		return NULL;
	}
	return s;
}

int cw_sync_initial_load(struct cw_sync *s, const volatile int *quit)
{
	while (!(quit && *quit)) {
		if (s->ev || ev_connect(s)) {
			if (!full_load(s, true))
				break;
			ev_drop(s, "full load failed");
		}
		uint64_t wait = s->ev_retry_at > cw_mono_ms() ? s->ev_retry_at - cw_mono_ms() : 0;
		while (wait > 0 && !(quit && *quit)) {
			unsigned step = wait > 50 ? 50 : (unsigned)wait;
			usleep(step * 1000);
			wait -= step;
		}
	}
	if (!s->loaded)
		return -1;
	struct fields f = {0};
	write_node(s, &f);
	free(f.argv);
	free(f.lens);
	free(f.arena);
	return 0;
}

int cw_sync_start(struct cw_sync *s)
{
	if (s->running)
		return 0;
	atomic_store(&s->stop, 0); /* a stopped sync may be started again */
	s->comp.quit = false;
	if (s->live.active && !s->comp.spare) /* the first change after the initial load */
		plan_warm(&s->comp, cw_snapshot_ruleset(s->live.active), s->live.len);
	int rc = pthread_create(&s->comp.thr, NULL, compile_main, s);
	if (rc) {
		errno = rc;
		return -1;
	}
	s->comp.started = true;
	pthread_setname_np(s->comp.thr, "cw-compile");
	/* ten nice steps below the control threads: an activation always comes first */
	char ferr[128];
	s->folder = cw_folder_start(10, fold_wake, s, ferr, sizeof(ferr));
	if (!s->folder)
		logf_(s, "%s: live deltas will not be folded into full builds", ferr);
	rc = pthread_create(&s->thr, NULL, sync_main, s);
	if (rc) {
		errno = rc;
		return -1;
	}
	pthread_setname_np(s->thr, "cw-control");
	s->running = true;
	return 0;
}

void cw_sync_stop(struct cw_sync *s)
{
	if (!s)
		return;
	if (s->running) {
		atomic_store(&s->stop, 1);
		wake(s);
		pthread_join(s->thr, NULL);
		s->running = false;
	}
	cw_folder_stop(s->folder); /* its thread may be building; a result not taken is freed */
	s->folder = NULL;
	if (s->comp.started) {
		pthread_mutex_lock(&s->comp.mu);
		s->comp.quit = true;
		pthread_cond_signal(&s->comp.cv);
		pthread_mutex_unlock(&s->comp.mu);
		pthread_join(s->comp.thr, NULL);
		s->comp.started = false;
		if (s->comp.res_snap)
			cw_snapshot_free(s->comp.res_snap);
		s->comp.res_snap = NULL;
		s->comp.has_result = false;
	}
	empty_trash(s->comp.trash); /* the thread is gone: nothing else touches it */
	s->comp.trash = NULL;
	cw_parse_spare_free(s->comp.spare);
	s->comp.spare = NULL;
	free(s->comp.text_warm);
	s->comp.text_warm = NULL;
	s->comp.text_warm_done = 0;
	s->comp.text_want = 0;
	free(s->comp.text_ready);
	s->comp.text_ready = NULL;
}

void cw_sync_destroy(struct cw_sync *s)
{
	if (!s)
		return;
	cw_sync_stop(s);
	cw_live_release(&s->live, s->e); /* the engine frees the full build it is left with */
	if (s->ev)
		redisFree(s->ev);
	if (s->wr)
		redisFree(s->wr);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	req_free(&s->inflight);
	req_free(&s->pending);
	free(s->jbuf);
	cw_regmirror_free(&s->reg);
	pthread_mutex_destroy(&s->stats_mu);
	pthread_mutex_destroy(&s->comp.mu);
	pthread_cond_destroy(&s->comp.cv);
	free(s);
}

/* ---- one-shot loads ---- */

long cw_sync_load_all(struct cw_engine *e, const char *redis, uint32_t version, char *err,
		      size_t errlen)
{
	struct cw_redis_addr a;
	if (cw_redis_addr_parse(redis ? redis : getenv("CW_REDIS"), &a, err, errlen))
		return -1;
	redisContext *c = cw_redis_connect(&a, 5000, err, errlen);
	if (!c)
		return -1;
	struct cw_load_counts n = {0};
	long rc = -1;
	char *text = NULL;
	size_t len;
	if (cw_load_registry(c, e, NULL, &n, err, errlen) || cw_load_senders(c, e, &n, err, errlen))
		goto out;
	int r = cw_load_ruleset_text(c, &version, &text, &len, err, errlen);
	if (r < 0)
		goto out;
	if (r == 0) {
		rc = 0;
		goto out;
	}
	struct cw_snapshot *snap = cw_compile_text(text, len, version, NULL, err, errlen);
	if (!snap)
		goto out;
	struct cw_snapshot *old = cw_engine_publish(e, snap, true);
	if (old)
		cw_snapshot_free(old);
	rc = version;
out:
	free(text);
	redisFree(c);
	return rc;
}

char *cw_sync_fetch_rules(const char *redis, uint32_t version, size_t *len, uint32_t *got,
			  char *err, size_t errlen)
{
	struct cw_redis_addr a;
	if (cw_redis_addr_parse(redis ? redis : getenv("CW_REDIS"), &a, err, errlen))
		return NULL;
	redisContext *c = cw_redis_connect(&a, 5000, err, errlen);
	if (!c)
		return NULL;
	char *text = NULL;
	int r = cw_load_ruleset_text(c, &version, &text, len, err, errlen);
	if (r == 0)
		snprintf(err, errlen, "%s is not set", CW_K_ACTIVE);
	redisFree(c);
	if (got)
		*got = version;
	return r > 0 ? text : NULL;
}

/* ---- counter names ---- */

void cw_counters_emit(const struct cw_counters *c, cw_stat_emit_fn emit, void *a)
{
	static const char *drops[CW_DROP_NUM] = {"", "drop_header", "drop_unknown_sender",
						 "drop_source"};
	static const char *types[8] = {"type_unknown", "type_decl",    "type_manifest",
				       "type_order",   "type_payment", "type_waybill",
				       "type_list",    "type_7"};
	static const char *status[3] = {"status_decided", "status_accepted", "status_rejected"};
	static const char *reasons[10] = {"",
					  "reason_class",
					  "reason_profile",
					  "reason_doc_verify",
					  "reason_doc_missing",
					  "reason_target",
					  "reason_random",
					  "reason_no_manifest",
					  "reason_manifest_mismatch",
					  "reason_ecom_mismatch"};
	char name[64];
	emit(a, "datagrams", c->datagrams);
	emit(a, "answered_datagrams", c->answered_datagrams);
	for (int i = 1; i < CW_DROP_NUM; i++)
		emit(a, drops[i], c->drops[i]);
	for (int i = 1; i < CWP_DG_NUM_ERRS; i++) {
		snprintf(name, sizeof(name), "header_%s",
			 cwp_dgram_err_name((enum cwp_dgram_err)i));
		for (char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		emit(a, name, c->header_errs[i]);
	}
	emit(a, "messages", c->messages);
	for (int i = 0; i < 7; i++)
		emit(a, types[i], c->by_type[i]);
	for (int i = 0; i < 3; i++)
		emit(a, status[i], c->by_status[i]);
	for (int i = 0; i < CWP_NUM_MODES; i++) {
		snprintf(name, sizeof(name), "mode_%s", cwp_mode_name((uint8_t)i));
		emit(a, name, c->by_mode[i]);
	}
	for (int i = 1; i < CWP_NUM_REJECTS; i++) {
		snprintf(name, sizeof(name), "reject_%s", cwp_reject_name((uint16_t)i));
		for (char *p = name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		emit(a, name, c->rejects[i]);
	}
	emit(a, "duplicates", c->duplicates);
	emit(a, "green", c->green);
	for (int i = 1; i < 10; i++)
		emit(a, reasons[i], c->reasons[i]);
}
