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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

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
 * the active one (unchanged statements are reused) and built as a delta on the last full build
 * when it differs by a few rules, so a small edit goes live in milliseconds; the tables of the
 * full build stay shared until a bigger change makes a new full build. */
static struct {
	struct cw_snapshot *base;   /* last full build; the active one or the base of a delta */
	struct cw_snapshot *active; /* what the engine holds */
	char *text;		    /* the active rule set's text, as parsed */
	size_t len;
} files;

long gw_publish_rules(const char *text, size_t len, const char *source, char *err, size_t n)
{
	char *copy = malloc(len + 1);
	if (!copy) {
		snprintf(err, n, "%s: out of memory", source);
		gw_note_ruleset_error(err);
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = 0;
	struct cw_compile_prev prev = {files.active ? cw_snapshot_ruleset(files.active) : NULL,
				       files.text, files.len};
	char cerr[300] = "";
	struct cw_snapshot *s = cw_compile_text_delta(copy, len, 0, files.base,
						      prev.rs ? &prev : NULL, cerr, sizeof(cerr));
	if (!s) {
		snprintf(err, n, "%s: %s", source, cerr);
		gw_note_ruleset_error(err);
		free(copy);
		return -1;
	}
	/* Returns once no worker can still see the old snapshot. */
	struct cw_snapshot *old = cw_engine_publish(gw.engine, s, true);
	if (old && old != files.base)
		cw_snapshot_free(old); /* a delta replaced */
	if (!cw_snapshot_is_delta(s)) {
		if (files.base && files.base != s)
			cw_snapshot_free(files.base); /* nothing refers to it any more */
		files.base = s;
	}
	files.active = s;
	free(files.text);
	files.text = copy;
	files.len = len;
	gw_note_ruleset(cw_snapshot_ruleset(s), source);
	return cw_snapshot_ruleset(s)->version;
}

void gw_rules_release(void)
{
	if (files.active && files.active != files.base) {
		/* the engine frees what it holds: leave it the full build, not a delta on it */
		struct cw_snapshot *old = cw_engine_publish(gw.engine, files.base, true);
		if (old && old != files.base)
			cw_snapshot_free(old);
	}
	free(files.text);
	memset(&files, 0, sizeof(files));
}

long gw_load_rules_file(const char *path, char *err, size_t n)
{
	size_t len;
	char *text = cw_read_file(path, &len);
	if (!text) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		gw_note_ruleset_error(err);
		return -1;
	}
	long v = gw_publish_rules(text, len, path, err, n);
	free(text);
	return v;
}

int gw_journal_create(unsigned size)
{
	gw.journal = rte_ring_create_elem("cw_journal", sizeof(struct gw_journal_rec), size,
					  SOCKET_ID_ANY, RING_F_SC_DEQ);
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
