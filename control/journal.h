/*
 * journal.h - the audit journal's record: what a worker hands to the control thread for every
 * verdict that analysts must be able to see afterwards (DESIGN §6 `cw:journal`).
 *
 * Why this file exists: workers and the control thread meet only through an rte_ring of these
 * fixed-size records (multi-producer, single consumer). A worker never waits: when the ring is
 * full, cw_journal_enqueue returns fewer than it was given and the worker counts the rest as
 * overflow (a counter of its own, reported in `cw:stats:<node>`). The control thread drains the
 * ring and writes the records to Redis in pipelined batches into a capped stream; the node name
 * is added there, so it is not in the record, and the TSC stamp becomes wall-clock time there
 * (workers make no system calls). The gateway's workers fill them with cw_journal_fill.
 *
 * What is journaled (cw_journal_wanted): every REJECTED verdict and every DECIDED verdict whose
 * mode is not `declare`. Verdicts answered again from the replay cache (DUPLICATE) are not: the
 * first answer was journaled already.
 */
#ifndef CW_CONTROL_JOURNAL_H
#define CW_CONTROL_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane/wire/cwp.h"

struct cw_journal_rec {
	uint64_t seq;		  /* the answered message's seq */
	uint64_t tsc;		  /* rte_rdtsc() at the answer; 0: stamped when drained */
	uint32_t sender;	  /* sender_id */
	uint32_t ruleset_version; /* of the verdict (0: none active) */
	uint8_t type;		  /* msg_type */
	uint8_t status;		  /* enum cwp_status */
	uint8_t mode;		  /* enum cwp_mode, 255 unless DECIDED */
	uint8_t flags;		  /* verdict flags (GREEN) */
	uint16_t reject_code;	  /* 0 unless REJECTED */
	uint8_t reason_count;
	uint8_t worker; /* which worker decided (diagnostics) */
	char ref[CWP_REF_LEN];
	struct cwp_reason reasons[CWP_MAX_REASONS];
};
_Static_assert(sizeof(struct cw_journal_rec) % 8 == 0, "ring elements are whole words");

/* Whether a verdict goes to the journal. */
static inline bool cw_journal_wanted(const struct cwp_verdict *v)
{
	if (v->flags & CWP_VFLAG_DUPLICATE)
		return false;
	return v->status == CWP_REJECTED ||
	       (v->status == CWP_DECIDED && v->mode != CWP_MODE_DECLARE);
}

static inline void cw_journal_fill(struct cw_journal_rec *r, uint32_t sender,
				   const struct cwp_verdict *v, uint64_t tsc, uint8_t worker)
{
	r->seq = v->msg_seq;
	r->tsc = tsc;
	r->sender = sender;
	r->ruleset_version = v->ruleset_version;
	r->type = v->msg_type;
	r->status = v->status;
	r->mode = v->mode;
	r->flags = v->flags;
	r->reject_code = v->reject_code;
	r->reason_count = v->reason_count > CWP_MAX_REASONS ? CWP_MAX_REASONS : v->reason_count;
	r->worker = worker;
	memcpy(r->ref, v->ref, CWP_REF_LEN);
	memcpy(r->reasons, v->reasons, sizeof(r->reasons));
}

/* A ring for journal records (count: a power of two). Multi-producer enqueue, single-consumer
 * dequeue. NULL with rte_errno set on failure. */
struct rte_ring *cw_journal_ring_create(const char *name, unsigned count, int socket_id);

/* Worker side: enqueues up to n records without waiting; returns how many went in. */
static inline unsigned cw_journal_enqueue(struct rte_ring *r, const struct cw_journal_rec *recs,
					  unsigned n)
{
	return rte_ring_mp_enqueue_burst_elem(r, recs, sizeof(*recs), n, NULL);
}

/* Control side: dequeues up to max records. */
static inline unsigned cw_journal_dequeue(struct rte_ring *r, struct cw_journal_rec *out,
					  unsigned max)
{
	return rte_ring_sc_dequeue_burst_elem(r, out, sizeof(*out), max, NULL);
}

/* The stream entry of a record: field names and values as XADD arguments (after the id), into
 * caller storage `buf` (at least CW_JOURNAL_BUF bytes); ts_ms is the record's wall-clock time.
 * Returns the number of arguments written to argv/lens (at most CW_JOURNAL_MAX_ARGS). */
#define CW_JOURNAL_MAX_ARGS 26
#define CW_JOURNAL_BUF	    512
unsigned cw_journal_format(const struct cw_journal_rec *r, const char *node, uint64_t ts_ms,
			   char *buf, const char **argv, size_t *lens);

#endif
