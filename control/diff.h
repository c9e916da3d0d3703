/*
 * diff.h - a line diff (Myers' O(ND) algorithm, linear space) for `cwctl diff V1 V2`.
 *
 * Why this file exists: analysts review what an activation changes before they make it; rule
 * sets are text, so the review is a unified diff of two stored versions, computed here rather
 * than by shelling out. Work is bounded: beyond a budget the remaining differing block is shown
 * as removed then added (still a correct, if longer, diff).
 */
#ifndef CW_CONTROL_DIFF_H
#define CW_CONTROL_DIFF_H

#include <stddef.h>
#include <stdint.h>

struct cw_diff_op {
	char op;       /* ' ' same, '-' only in a, '+' only in b */
	uint32_t a, b; /* line index in a (for ' ' and '-') and in b (for ' ' and '+') */
};

/* Lines of a text (not copied: pointers into it). */
struct cw_lines {
	const char **p;
	size_t *len;
	size_t n;
};
int cw_lines_split(const char *text, size_t len, struct cw_lines *out); /* 0 or -1 (memory) */
void cw_lines_free(struct cw_lines *l);

/* The edit script from a to b, in order. 0 or -1 (memory). */
int cw_diff(const struct cw_lines *a, const struct cw_lines *b, struct cw_diff_op **ops,
	    size_t *nops);

#endif
