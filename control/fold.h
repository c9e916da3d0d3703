/*
 * fold.h - the full build of a live delta's text, on a thread of its own ("folding" the delta).
 *
 * Why this file exists: a delta answers exactly as a full build of its text, and one is made
 * right after it so that the next delta starts from a small overlay again (docs/engine.md). That
 * build takes 0.25 s at 10 000 rules and 2-3 s at 100 000. Made where urgent changes are made
 * (the Redis compile thread, file mode's main lcore), it held the next change up for as long:
 * a second SIGHUP 0.15 s after a first was live 2.3 s later at 100 000 rules, where DESIGN §8
 * asks for 20 ms. Here it runs beside them, below their priority, and its owner publishes the
 * result only if the rules have not moved on meanwhile.
 */
#ifndef CW_CONTROL_FOLD_H
#define CW_CONTROL_FOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/load.h"

struct cw_folder;

/* A thread that builds what it is asked to, `nice_up` nice steps below the thread that starts
 * it (at most 19), calling wake(arg) (may be NULL) when a result is ready. NULL with err set
 * when it cannot start. */
struct cw_folder *cw_folder_start(int nice_up, void (*wake)(void *arg), void *arg, char *err,
				  size_t errlen);
/* Waits for the build in progress, if any, and frees everything not taken. */
void cw_folder_stop(struct cw_folder *f);

/* A full build of text (len bytes, taken over), rule set `version`. It replaces a request the
 * thread has not started, and a build in progress of another text gives up at its next rte_acl
 * context (its result says so); the same text already being built is left to finish (or, if it
 * was cancelled, built again once that build has given up). */
void cw_folder_request(struct cw_folder *f, char *text, size_t len, uint32_t version);
/* Drops the request not started and makes the build in progress give up: for an owner about to
 * build a new rule set, which makes the fold pointless if it goes live (and needs the memory
 * meanwhile). If it does not go live, the owner asks for the fold again. f may be NULL. */
void cw_folder_cancel(struct cw_folder *f);
/* Whether a build is under way, and of which version (version may be NULL). */
bool cw_folder_building(struct cw_folder *f, uint32_t *version);

/* A finished build, if there is one (false: none yet). *snap is NULL when it failed (err says
 * why); the text it was built from is handed back either way. Everything is the caller's. */
struct cw_fold_result {
	struct cw_snapshot *snap;
	char *text;
	size_t len;
	uint32_t version;
	bool given_up; /* cancelled or replaced before it was done (snap NULL) */
	struct cw_compile_times times;
	char err[256];
};
bool cw_folder_take(struct cw_folder *f, struct cw_fold_result *out);

/* What the owner does with a finished fold: publish it when the live snapshot is still a delta
 * of the very text it was built from, else drop it (a newer rule set went live meanwhile).
 * r's snapshot and text are taken (published, or freed through cw_live_retire); its version,
 * times and error stay readable for the log line. */
enum cw_fold_outcome { CW_FOLD_GIVEN_UP, CW_FOLD_FAILED, CW_FOLD_STALE, CW_FOLD_PUBLISHED };
enum cw_fold_outcome cw_fold_apply(struct cw_live_rules *live, struct cw_engine *e,
				   struct cw_fold_result *r);

#endif
