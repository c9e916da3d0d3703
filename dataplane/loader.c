/*
 * loader.c - file mode: rule sets from a file (at start and on SIGHUP), and the bookkeeping of
 * what is active, the journal ring and per-rule hits that a control thread shares.
 *
 * Why this file exists: publishing a rule set is the same act whether the text comes from
 * --rules, from SIGHUP or (later) from Redis: parse, compile off the packet path, publish
 * through the engine's RCU swap while the workers keep running. Keeping it here lets the control
 * thread call the same code.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "control/fold.h"
#include "control/load.h"
#include "dataplane/gateway.h"

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void gw_note_ruleset(const struct cw_ruleset *rs, const char *source)
{
	rte_spinlock_lock(&gw.info_lock);
	gw.rules.version = rs ? rs->version : 0;
	gw.rules.n_rules = rs ? rs->n_rules : 0;
	gw.rules.n_profiles = rs ? rs->n_profiles : 0;
	gw.rules.n_expanded = rs ? rs->n_expanded : 0;
	gw.rules.loads++;
	gw.rules.loaded_unix_ms = unix_ms();
	snprintf(gw.rules.source, sizeof(gw.rules.source), "%s", source ? source : "");
	rte_spinlock_unlock(&gw.info_lock);
}

void gw_note_ruleset_error(const char *err)
{
	rte_spinlock_lock(&gw.info_lock);
	gw.rules.load_failures++;
	snprintf(gw.rules.last_error, sizeof(gw.rules.last_error), "%s", err);
	rte_spinlock_unlock(&gw.info_lock);
}

void gw_ruleset_info(struct gw_ruleset_info *out)
{
	rte_spinlock_lock(&gw.info_lock);
	*out = gw.rules;
	rte_spinlock_unlock(&gw.info_lock);
}

/* File mode's rule sets (the main lcore only: start and SIGHUP). A new text is parsed against
 * the active one (unchanged statements are reused) and built as a delta on the active snapshot
 * when it differs from the last full build by a few rules, so a small edit goes live in
 * milliseconds (and a second edit in a row reuses the first's work, as in Redis mode); the
 * tables of the full build stay shared until a bigger change makes a new full build. */
static struct cw_live_rules files;
/* A live delta answers exactly as a full build of its text, and one is made so that the next
 * delta starts from a small overlay again (docs/engine.md): on a thread of its own
 * (control/fold.h), so that a SIGHUP that comes meanwhile is not held up by it; the main lcore
 * publishes it (gw_fold_poll) if the rules have not moved on. A new rule set makes the fold in
 * progress give up (gw_publish_rules); gw_fold_rules asks again if that set fails. */
static struct cw_folder *folder;
/* Memory for the next reload, written after each publish (off the reload's clock): the parse's
 * arrays, and a buffer a quarter larger than the text for reading the file. Fresh memory faults
 * in page by page (~10 us a page on the bench VM): a parse into it took 7 ms of a 10 000-rule
 * SIGHUP delta under load (3 ms with the spare); the first reload after start read the 1.8 MB
 * file in 6.3 ms quiet (2.7 ms into the buffer; later reloads find freed memory either way,
 * 0.2 ms). */
static struct cw_parse_spare *spare;
static char *text_spare;
static size_t text_spare_cap;

static void warm_spare(const struct cw_ruleset *like, size_t text_len)
{
	if (!spare)
		spare = cw_parse_spare_new(like);
	if (spare)
		cw_parse_spare_touch(spare, SIZE_MAX);
	size_t want = text_len + text_len / 4 + 4096;
	if (!text_spare || text_spare_cap < want) {
		free(text_spare);
		text_spare = malloc(want);
		text_spare_cap = text_spare ? want : 0;
		if (text_spare)
			memset(text_spare, 0, want);
	}
}

long gw_publish_rules(char *text, size_t len, const char *source, char *err, size_t n,
		      struct gw_load_times *t)
{
	cw_folder_cancel(folder); /* pointless if this goes live; its memory is wanted now */
	struct cw_compile_prev prev;
	bool has_prev = cw_live_prev(&files, &prev);
	char cerr[300] = "";
	struct cw_compile_times ct;
	struct cw_snapshot *s = cw_compile_text_spare(
	    text, len, 0, files.active, has_prev ? &prev : NULL, &spare, &ct, cerr, sizeof(cerr));
	if (!s) {
		snprintf(err, n, "%s: %s", source, cerr);
		gw_note_ruleset_error(err);
		free(text);
		return -1;
	}
	/* live at the pointer swap, the first thing cw_live_publish does (see control/sync.c) */
	uint64_t grace_ns, live = cw_mono_ns();
	cw_live_publish(&files, gw.engine, s, text, len, &grace_ns);
	warm_spare(cw_snapshot_ruleset(s), len);
	if (t) {
		t->parse_ns = ct.parse_ns;
		t->build_ns = ct.build_ns;
		t->parse_faults = ct.parse_faults;
		t->build_faults = ct.build_faults;
		t->grace_ns = grace_ns;
		t->live_ns = live;
	}
	gw_note_ruleset(cw_snapshot_ruleset(s), source);
	return cw_snapshot_ruleset(s)->version;
}

void gw_fold_rules(void)
{
	const struct cw_snapshot *live = cw_engine_active(gw.engine);
	if (!live || !cw_snapshot_is_delta(live) || !files.text)
		return;
	char err[300];
	if (!folder)
		folder = cw_folder_start(10, NULL, NULL, err, sizeof(err));
	char *copy = folder ? cw_live_text_copy(&files) : NULL;
	if (!copy) {
		fprintf(stderr, "clearway: rule set not folded into a full build: %s\n",
			folder ? "out of memory" : err);
		return;
	}
	cw_folder_request(folder, copy, files.len, cw_snapshot_ruleset(live)->version);
}

void gw_fold_poll(void)
{
	struct cw_fold_result r;
	if (!folder || !cw_folder_take(folder, &r))
		return;
	const double ms = (double)(r.times.parse_ns + r.times.build_ns) / 1e6;
	switch (cw_fold_apply(&files, gw.engine, &r)) {
	case CW_FOLD_GIVEN_UP: /* a SIGHUP's rule set came meanwhile */
		fprintf(stderr,
			"clearway: rule set version %u not folded: a new rule set came while its "
			"full build ran (given up after %.1f ms)\n",
			r.version, ms);
		break;
	case CW_FOLD_FAILED:
		fprintf(stderr, "clearway: rule set version %u not folded into a full build: %s\n",
			r.version, r.err);
		break;
	case CW_FOLD_STALE: /* a newer SIGHUP went live meanwhile */
		fprintf(stderr,
			"clearway: rule set version %u not folded: version %u went live while its "
			"full build (%.1f ms) ran\n",
			r.version, cw_snapshot_ruleset(files.active)->version, ms);
		break;
	case CW_FOLD_PUBLISHED:
		fprintf(stderr,
			"clearway: rule set version %u folded into a full build (%.1f ms, in the "
			"background)\n",
			r.version, ms);
		break;
	}
}

void gw_rules_release(void)
{
	cw_folder_stop(folder); /* before the rules it may be building on go */
	folder = NULL;
	cw_parse_spare_free(spare);
	spare = NULL;
	free(text_spare);
	text_spare = NULL;
	text_spare_cap = 0;
	cw_live_release(&files, gw.engine);
}

long gw_load_rules_file(const char *path, char *err, size_t n, struct gw_load_times *t)
{
	size_t len;
	uint64_t t0 = cw_mono_ns();
	char *text = cw_read_file_spare(path, &len, &text_spare, text_spare_cap);
	text_spare_cap = 0;
	if (t)
		t->read_ns = cw_mono_ns() - t0;
	if (!text) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		gw_note_ruleset_error(err);
		return -1;
	}
	return gw_publish_rules(text, len, path, err, n, t);
}

int gw_journal_create(unsigned size)
{
	gw.journal = cw_journal_ring_create("cw_journal", size, SOCKET_ID_ANY);
	if (!gw.journal) {
		fprintf(stderr, "clearway: journal ring of %u records: %s\n", size,
			rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}

/* Per-rule hits are gathered into a growable array, then merged by id (control side only). */
struct hit {
	uint32_t id;
	uint64_t hits;
};
struct hits {
	struct hit *v;
	size_t n, cap;
	bool oom;
};

static void add_hit(uint32_t id, uint64_t hits, void *arg)
{
	struct hits *h = arg;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 256;
		struct hit *v = realloc(h->v, cap * sizeof(*v));
		if (!v) {
			h->oom = true;
			return;
		}
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = (struct hit){id, hits};
}

static int by_id(const void *a, const void *b)
{
	uint32_t x = ((const struct hit *)a)->id, y = ((const struct hit *)b)->id;
	return x < y ? -1 : x > y;
}

size_t gw_rule_hits(void (*fn)(uint32_t rule_id, uint64_t hits, void *arg), void *arg)
{
	struct hits h = {0};
	for (unsigned w = 0; w < gw.n_workers; w++) {
		const struct gw_worker *wk = __atomic_load_n(&gw.workers[w], __ATOMIC_ACQUIRE);
		if (wk) /* NULL while main creates the workers */
			cw_ctx_rule_hits(gw_worker_ctx(wk), add_hit, &h);
	}
	if (h.n)
		qsort(h.v, h.n, sizeof(h.v[0]), by_id);
	size_t out = 0;
	for (size_t i = 0; i < h.n;) {
		struct hit sum = h.v[i++];
		while (i < h.n && h.v[i].id == sum.id)
			sum.hits += h.v[i++].hits;
		fn(sum.id, sum.hits, arg);
		out++;
	}
	free(h.v);
	return out;
}
