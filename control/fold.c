/*
 * fold.c - the full build of a live delta's text on a thread of its own (see fold.h for why).
 *
 * One request slot and one result slot under a mutex: a new request replaces one not started
 * (only the latest text is worth folding) and makes a build in progress give up at its next
 * rte_acl context (one rte_acl build cannot be cut short; a full build makes up to 48); a
 * result, given up or not, waits in the result slot until the owner takes it. The owner (the
 * Redis control thread, or file mode's main lcore) alone publishes, so a fold never races an
 * activation: it checks fold_current first and drops a stale result.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "control/fold.h"
#include "rules/engine.h"

struct cw_folder {
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	int nice; /* for the thread, worked out by its starter */
	void (*wake)(void *arg);
	void *wake_arg;
	/* request (under mu) */
	char *req_text;
	size_t req_len;
	uint32_t req_version;
	/* the build in progress (under mu; NULL when none) and the word to give it up */
	const char *cur_text;
	size_t cur_len;
	uint32_t cur_version;
	atomic_bool stop;
	/* result (under mu) */
	bool has_result;
	struct cw_fold_result res;
};

static void result_free(struct cw_fold_result *r)
{
	cw_snapshot_free(r->snap);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

static void *fold_main(void *arg)
{
	struct cw_folder *f = arg;
	/* this thread only (on Linux a thread is a task with a nice value of its own) */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), f->nice);
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->quit && !f->req_text)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->quit)
			break;
		struct cw_fold_result r = {
		    .text = f->req_text, .len = f->req_len, .version = f->req_version};
		f->req_text = NULL;
		f->cur_text = r.text;
		f->cur_len = r.len;
		f->cur_version = r.version;
		atomic_store(&f->stop, false);
		pthread_mutex_unlock(&f->mu);
		r.snap = cw_compile_text_full_unless(r.text, r.len, r.version, &f->stop, &r.times,
						     r.err, sizeof(r.err));
		pthread_mutex_lock(&f->mu);
		f->cur_text = NULL;
		r.given_up = !r.snap && atomic_load(&f->stop);
		if (r.given_up && f->has_result) { /* the result waiting says more */
			result_free(&r);
			continue;
		}
		if (f->has_result) /* the owner never took the last one: this one supersedes it */
			result_free(&f->res);
		f->res = r;
		f->has_result = true;
		if (f->wake)
			f->wake(f->wake_arg);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

struct cw_folder *cw_folder_start(int nice_up, void (*wake)(void *arg), void *arg, char *err,
				  size_t errlen)
{
	struct cw_folder *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	errno = 0;
	int now = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	f->nice = errno ? 0 : now + nice_up > 19 ? 19 : now + nice_up;
	f->wake = wake;
	f->wake_arg = arg;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	int rc = pthread_create(&f->thr, NULL, fold_main, f);
	if (rc) {
		snprintf(err, errlen, "cannot start the fold thread: %s", strerror(rc));
		pthread_mutex_destroy(&f->mu);
		pthread_cond_destroy(&f->cv);
		free(f);
		return NULL;
	}
	pthread_setname_np(f->thr, "cw-fold");
	return f;
}

void cw_folder_stop(struct cw_folder *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thr, NULL);
	free(f->req_text);
	if (f->has_result)
		result_free(&f->res);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

/* Building this very text, and not about to give it up. */
static bool building(const struct cw_folder *f, const char *text, size_t len, uint32_t version)
{
	return f->cur_text && !atomic_load(&f->stop) && f->cur_version == version &&
	       f->cur_len == len && memcmp(f->cur_text, text, len) == 0;
}

/* Under mu: the request not started is dropped, the build in progress told to give up. */
static void give_up_locked(struct cw_folder *f)
{
	free(f->req_text);
	f->req_text = NULL;
	if (f->cur_text)
		atomic_store(&f->stop, true);
}

void cw_folder_request(struct cw_folder *f, char *text, size_t len, uint32_t version)
{
	pthread_mutex_lock(&f->mu);
	if (building(f, text, len, version)) {
		free(f->req_text); /* not started: only the latest text is worth a build */
		f->req_text = NULL;
		free(text); /* already under way */
	} else {
		give_up_locked(f);
		f->req_text = text;
		f->req_len = len;
		f->req_version = version;
		pthread_cond_signal(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

bool cw_folder_building(struct cw_folder *f, uint32_t *version)
{
	pthread_mutex_lock(&f->mu);
	bool busy = f->cur_text != NULL;
	if (busy && version)
		*version = f->cur_version;
	pthread_mutex_unlock(&f->mu);
	return busy;
}

void cw_folder_cancel(struct cw_folder *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	give_up_locked(f);
	pthread_mutex_unlock(&f->mu);
}

bool cw_folder_take(struct cw_folder *f, struct cw_fold_result *out)
{
	pthread_mutex_lock(&f->mu);
	bool has = f->has_result;
	if (has) {
		*out = f->res;
		memset(&f->res, 0, sizeof(f->res));
		f->has_result = false;
	}
	pthread_mutex_unlock(&f->mu);
	return has;
}

static bool fold_current(const struct cw_live_rules *live, const struct cw_fold_result *r)
{
	return live->active && cw_snapshot_is_delta(live->active) && live->text &&
	       cw_snapshot_ruleset(live->active)->version == r->version && live->len == r->len &&
	       memcmp(live->text, r->text, r->len) == 0;
}

enum cw_fold_outcome cw_fold_apply(struct cw_live_rules *live, struct cw_engine *e,
				   struct cw_fold_result *r)
{
	enum cw_fold_outcome out = r->given_up		    ? CW_FOLD_GIVEN_UP
				   : !r->snap		    ? CW_FOLD_FAILED
				   : !fold_current(live, r) ? CW_FOLD_STALE
							    : CW_FOLD_PUBLISHED;
	if (out == CW_FOLD_PUBLISHED)
		cw_live_publish(live, e, r->snap, r->text, r->len, NULL);
	else
		cw_live_retire(live, r->snap, r->text);
	r->snap = NULL;
	r->text = NULL;
	return out;
}
