/*
 * classify.c - Tianjin credit-risk classes from credit facts (see classify.h for the criteria
 * and how their boundaries are read).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "control/classify.h"
#include "control/csv.h"
#include "control/load.h"

#define MAX_OTHER 5
#define MAX_FINES (500000ull * 100) /* fen */

struct why {
	char *p;
	size_t cap, off;
};

static void add(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct why *w, const char *fmt, ...)
{
	if (!w->cap || w->off >= w->cap - 1)
		return;
	if (w->off) {
		int k = snprintf(w->p + w->off, w->cap - w->off, "; ");
		if (k > 0)
			w->off += (size_t)k;
		if (w->off >= w->cap - 1)
			return;
	}
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(w->p + w->off, w->cap - w->off, fmt, ap);
	va_end(ap);
	if (k > 0)
		w->off = w->off + (size_t)k < w->cap ? w->off + (size_t)k : w->cap - 1;
}

static void fmt_yuan(uint64_t fen, char *buf, size_t cap)
{
	snprintf(buf, cap, "%" PRIu64 ".%02" PRIu64, fen / 100, fen % 100);
}

/* The class the facts give by themselves, with its reasons. */
static enum cw_class facts_class(const struct cw_credit_facts *f, struct why *w)
{
	char y[32];
	fmt_yuan(f->fines_fen, y, sizeof(y));
	if (f->serious_list)
		add(w, "on the serious-violation list");
	if (f->other_penalties > MAX_OTHER)
		add(w, "%" PRIu32 " non-warning penalties (more than %d)", f->other_penalties,
		    MAX_OTHER);
	if (f->fines_fen > MAX_FINES)
		add(w, "fines %s yuan (over 500000)", y);
	if (f->suspended_or_revoked)
		add(w, "business suspended or licence revoked");
	if (f->criminal_accident)
		add(w, "criminal liability for a major accident");
	if (w->off)
		return CW_CLS_SERIOUS;

	if (f->abnormal_list)
		add(w, "on the abnormal-operations list");
	if (f->other_penalties > 0)
		add(w,
		    "%" PRIu32 " non-warning penalt%s (at most %d), fines %s yuan (at most 500000)",
		    f->other_penalties, f->other_penalties == 1 ? "y" : "ies", MAX_OTHER, y);
	if (w->off)
		return CW_CLS_DISHONEST;

	if (f->warning_penalties > 0)
		add(w, "only warning penalties (%" PRIu32 ")", f->warning_penalties);
	if (f->bad_performance)
		add(w, "bad performance record");
	if (w->off)
		return CW_CLS_WARNING;

	add(w, "no penalty, on no list, no bad performance record");
	return CW_CLS_GOOD;
}

enum cw_class cw_credit_classify(const struct cw_credit_facts *f, char *why, size_t cap)
{
	struct why w = {why, cap, 0};
	if (cap)
		why[0] = 0;
	enum cw_class c = facts_class(f, &w);
	if (f->other_class >= 0 && f->other_class < CW_NUM_CLASSES &&
	    f->other_class != CW_CLS_UNKNOWN && (enum cw_class)f->other_class > c) {
		c = (enum cw_class)f->other_class;
		add(&w, "other provisions require %s", cw_class_name(c));
	}
	if (f->aeo && c == CW_CLS_GOOD) {
		c = CW_CLS_AEO;
		add(&w, "AEO-certified");
	} else if (f->aeo) {
		add(&w, "AEO certificate ignored for class %s", cw_class_name(c));
	}
	return c;
}

bool cw_parse_yuan(const char *s, uint64_t *fen)
{
	uint64_t y = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9') {
		if (y > (UINT64_MAX / 100 - 9) / 10)
			return false;
		y = y * 10 + (uint64_t)(*p++ - '0');
	}
	uint64_t frac = 0;
	if (*p == '.') {
		p++;
		int d = 0;
		while (*p >= '0' && *p <= '9' && d < 2) {
			frac = frac * 10 + (uint64_t)(*p++ - '0');
			d++;
		}
		if (d == 0)
			return false;
		if (d == 1)
			frac *= 10;
	}
	if (*p)
		return false;
	*fen = y * 100 + frac;
	return true;
}

static bool parse_count(const char *s, uint32_t *v)
{
	if (!*s) {
		*v = 0;
		return true;
	}
	if (*s < '0' || *s > '9' || strlen(s) > 9)
		return false;
	char *end;
	unsigned long x = strtoul(s, &end, 10);
	if (*end)
		return false;
	*v = (uint32_t)x;
	return true;
}

static bool parse_flag(const char *s, bool *v)
{
	static const char *yes[] = {"1", "y", "yes", "true", "是"};
	static const char *no[] = {"", "0", "n", "no", "false", "否"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!strcasecmp(s, yes[i])) {
			*v = true;
			return true;
		}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!strcasecmp(s, no[i])) {
			*v = false;
			return true;
		}
	return false;
}

int cw_facts_cols(const struct csv *c, struct cw_facts_cols *k, char *err, size_t errlen)
{
	static const char *req[] = {"uscc",
				    "warning_penalties",
				    "other_penalties",
				    "fines_yuan",
				    "abnormal_list",
				    "serious_list",
				    "bad_performance",
				    "suspended_or_revoked",
				    "criminal_accident"};
	int *dst[] = {&k->uscc,	   &k->warning,	 &k->other,	&k->fines,   &k->abnormal,
		      &k->serious, &k->bad_perf, &k->suspended, &k->criminal};
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		*dst[i] = csv_col(c, req[i]);
		if (*dst[i] < 0) {
			snprintf(err, errlen, "missing column '%s' (columns: %s)", req[i],
				 CW_FACTS_COLUMNS);
			return -1;
		}
	}
	k->aeo = csv_col(c, "aeo");
	k->other_class = csv_col(c, "other_class");
	return 0;
}

int cw_facts_row(const struct csv *c, const struct cw_facts_cols *k, struct cw_credit_facts *f,
		 char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->other_class = -1;
	const char *u = csv_cell(c, k->uscc);
	if (!cw_uscc_valid(u, strlen(u))) {
		snprintf(err, errlen, "uscc '%.40s' is not 18 characters of 0-9 A-Z", u);
		return -1;
	}
	memcpy(f->uscc, u, 19);
	struct {
		int col;
		const char *name;
		uint32_t *cnt;
		bool *flag;
	} cells[] = {
	    {k->warning, "warning_penalties", &f->warning_penalties, NULL},
	    {k->other, "other_penalties", &f->other_penalties, NULL},
	    {k->abnormal, "abnormal_list", NULL, &f->abnormal_list},
	    {k->serious, "serious_list", NULL, &f->serious_list},
	    {k->bad_perf, "bad_performance", NULL, &f->bad_performance},
	    {k->suspended, "suspended_or_revoked", NULL, &f->suspended_or_revoked},
	    {k->criminal, "criminal_accident", NULL, &f->criminal_accident},
	    {k->aeo, "aeo", NULL, &f->aeo},
	};
	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		if (cells[i].col < 0)
			continue;
		const char *v = csv_cell(c, cells[i].col);
		bool ok =
		    cells[i].cnt ? parse_count(v, cells[i].cnt) : parse_flag(v, cells[i].flag);
		if (!ok) {
			snprintf(err, errlen, "%s: '%.40s' is not %s", cells[i].name, v,
				 cells[i].cnt ? "a count"
					      : "a yes/no flag (1/0, yes/no, true/false)");
			return -1;
		}
	}
	const char *fy = csv_cell(c, k->fines);
	if (*fy && !cw_parse_yuan(fy, &f->fines_fen)) {
		snprintf(err, errlen,
			 "fines_yuan: '%.40s' is not an amount (yuan, up to 2 decimals)", fy);
		return -1;
	}
	if (f->fines_fen > 0 && f->other_penalties == 0) {
		snprintf(err, errlen,
			 "fines_yuan is %s but other_penalties is 0: a fine or confiscation is a "
			 "penalty other than a warning",
			 fy);
		return -1;
	}
	if (k->other_class >= 0) {
		const char *oc = csv_cell(c, k->other_class);
		if (*oc) {
			int cls = cw_class_parse(oc, strlen(oc));
			if (cls < 0 || cls == CW_CLS_UNKNOWN || cls == CW_CLS_AEO) {
				snprintf(err, errlen,
					 "other_class: '%.40s' is not good, warning, dishonest or "
					 "serious",
					 oc);
				return -1;
			}
			f->other_class = cls;
		}
	}
	return 0;
}
