/*
 * journal.c - the journal ring and the stream entry of a journal record (see journal.h).
 *
 * The entry's fields are documented in docs/control-plane.md; analysts' scripts read them, so
 * their names and formats do not change casually.
 */
#include <inttypes.h>
#include <stdio.h>

#include "control/journal.h"

struct rte_ring *cw_journal_ring_create(const char *name, unsigned count, int socket_id)
{
	return rte_ring_create_elem(name, sizeof(struct cw_journal_rec), count, socket_id,
				    RING_F_SC_DEQ);
}

/* Appends "name" and the value printed into buf at *off. */
static void put(const char **argv, size_t *lens, unsigned *n, const char *name, const char *val,
		size_t vlen)
{
	argv[*n] = name;
	lens[*n] = strlen(name);
	argv[*n + 1] = val;
	lens[*n + 1] = vlen;
	*n += 2;
}

static size_t fmt_reasons(const struct cw_journal_rec *r, char *out, size_t cap)
{
	size_t off = 0;
	for (unsigned i = 0; i < r->reason_count && i < CWP_MAX_REASONS; i++) {
		const struct cwp_reason *x = &r->reasons[i];
		char item[8];
		if (x->item == CWP_ITEM_HDR)
			snprintf(item, sizeof(item), "hdr");
		else
			snprintf(item, sizeof(item), "%u", x->item);
		int k;
		if (x->rule_id)
			k = snprintf(out + off, cap - off, "%s%s:%" PRIu32 "@%s", i ? " " : "",
				     cwp_reason_name(x->code), x->rule_id, item);
		else
			k = snprintf(out + off, cap - off, "%s%s@%s", i ? " " : "",
				     cwp_reason_name(x->code), item);
		if (k < 0 || (size_t)k >= cap - off)
			break;
		off += (size_t)k;
	}
	return off;
}

unsigned cw_journal_format(const struct cw_journal_rec *r, const char *node, uint64_t ts_ms,
			   char *buf, const char **argv, size_t *lens)
{
	unsigned n = 0;
	size_t off = 0;
	char *p;
	int k;

	put(argv, lens, &n, "node", node, strlen(node));
#define NUM(name, fmt, v)                                                                          \
	do {                                                                                       \
		p = buf + off;                                                                     \
		k = snprintf(p, CW_JOURNAL_BUF - off, fmt, v);                                     \
		off += (size_t)k + 1;                                                              \
		put(argv, lens, &n, name, p, (size_t)k);                                           \
	} while (0)
	NUM("ts", "%" PRIu64, ts_ms);
	NUM("sender", "%" PRIu32, r->sender);
	NUM("seq", "%" PRIu64, r->seq);
	const char *tn = cwp_type_name(r->type);
	if (tn && *tn)
		put(argv, lens, &n, "type", tn, strlen(tn));
	else
		NUM("type", "0x%02x", r->type);
	size_t rl = CWP_REF_LEN;
	while (rl && r->ref[rl - 1] == ' ')
		rl--;
	put(argv, lens, &n, "ref", r->ref, rl);
	const char *st = cwp_status_name(r->status);
	put(argv, lens, &n, "status", st, strlen(st));
	const char *md = cwp_mode_name(r->mode);
	put(argv, lens, &n, "mode", md, strlen(md));
	const char *rj = r->reject_code ? cwp_reject_name(r->reject_code) : "";
	put(argv, lens, &n, "reject", rj, strlen(rj));
	p = buf + off;
	size_t rs = fmt_reasons(r, p, CW_JOURNAL_BUF - off - 64);
	off += rs + 1;
	put(argv, lens, &n, "reasons", p, rs);
	NUM("version", "%" PRIu32, r->ruleset_version);
	const char *fl = (r->flags & CWP_VFLAG_GREEN) ? "GREEN" : "";
	put(argv, lens, &n, "flags", fl, strlen(fl));
#undef NUM
	return n;
}
