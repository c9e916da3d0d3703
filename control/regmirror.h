/*
 * regmirror.h - the control thread's own copy of the enterprise registry (USCC -> class).
 *
 * Why this file exists: a full reload (start, `resync`, a trimmed stream) must delete the
 * enterprises that disappeared from `cw:ent` without ever emptying the live registry (workers
 * keep deciding meanwhile), and must not rewrite the thousands of entries that did not change.
 * The engine's registry cannot be enumerated, so the control thread keeps this mirror: a mark
 * (generation) per entry, set while scanning Redis, then a sweep of the unmarked ones. Only the
 * control thread touches it. Open addressing with linear probing, no DPDK.
 */
#ifndef CW_CONTROL_REGMIRROR_H
#define CW_CONTROL_REGMIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cw_regmirror_ent {
	char uscc[18]; /* uscc[0] == 0: free slot (USCCs are [0-9A-Z]) */
	uint8_t cls;
	uint8_t gen;
};

struct cw_regmirror {
	struct cw_regmirror_ent *t;
	uint32_t cap; /* power of two */
	uint32_t n;
	uint8_t gen; /* the current mark */
};

void cw_regmirror_init(struct cw_regmirror *m);
void cw_regmirror_free(struct cw_regmirror *m);
void cw_regmirror_clear(struct cw_regmirror *m);

/* The class of uscc, or -1. */
int cw_regmirror_get(const struct cw_regmirror *m, const char uscc[18]);
/* Sets uscc to cls and marks it with the current generation. Returns 1 when the class is new or
 * changed (the engine must be told), 0 when it was already so, -1 out of memory. */
int cw_regmirror_set(struct cw_regmirror *m, const char uscc[18], uint8_t cls);
/* Removes uscc; true if it was there. */
bool cw_regmirror_del(struct cw_regmirror *m, const char uscc[18]);

/* Starts a mark phase: returns the new generation. */
uint8_t cw_regmirror_begin(struct cw_regmirror *m);
/* Removes every entry not marked since cw_regmirror_begin, calling fn for each before removal. */
void cw_regmirror_sweep(struct cw_regmirror *m, void (*fn)(const char uscc[18], void *arg),
			void *arg);

#endif
