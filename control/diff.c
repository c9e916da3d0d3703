/*
 * diff.c - Myers' line diff with the "middle snake" bisection (see diff.h).
 *
 * Lines are first interned to integers (equal text, equal number), so the inner loops compare
 * integers. The common prefix and suffix are taken off before each bisection.
 */
#include <stdlib.h>
#include <string.h>

#include "control/diff.h"

#define WORK_BUDGET 200000000ull /* snake steps before giving up on a minimal script */

int cw_lines_split(const char *text, size_t len, struct cw_lines *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			n++;
	if (len && text[len - 1] != '\n')
		n++;
	out->n = 0;
	out->p = malloc((n ? n : 1) * sizeof(*out->p));
	out->len = malloc((n ? n : 1) * sizeof(*out->len));
	if (!out->p || !out->len) {
		cw_lines_free(out);
		return -1;
	}
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len ? i > start : text[i] == '\n') {
			out->p[out->n] = text + start;
			out->len[out->n++] = i - start;
			start = i + 1;
		}
	}
	return 0;
}

void cw_lines_free(struct cw_lines *l)
{
	free(l->p);
	free(l->len);
	memset(l, 0, sizeof(*l));
}

struct ctx {
	const int *a, *b;
	struct cw_diff_op *ops;
	size_t n, cap;
	int *v1, *v2; /* scratch of the bisection, sized for the whole input */
	unsigned long long work;
	int oom;
};

static void emit(struct ctx *c, char op, int a, int b)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		struct cw_diff_op *no = realloc(c->ops, nc * sizeof(*no));
		if (!no) {
			c->oom = 1;
			return;
		}
		c->ops = no;
		c->cap = nc;
	}
	c->ops[c->n++] = (struct cw_diff_op){op, (uint32_t)a, (uint32_t)b};
}

static void diff_range(struct ctx *c, int alo, int ahi, int blo, int bhi);

/* Finds a point on an optimal path through a[alo..ahi) x b[blo..bhi) and recurses on both
 * sides; without one (budget spent) the block is removed then added. */
static void bisect(struct ctx *c, int alo, int ahi, int blo, int bhi)
{
	const int *a = c->a + alo, *b = c->b + blo;
	int n = ahi - alo, m = bhi - blo;
	int maxd = (n + m + 1) / 2, off = maxd, vlen = 2 * maxd + 2;
	int *v1 = c->v1, *v2 = c->v2;
	for (int i = 0; i < vlen; i++)
		v1[i] = v2[i] = -1;
	v1[off + 1] = 0;
	v2[off + 1] = 0;
	int delta = n - m;
	int front = delta % 2 != 0;
	int k1s = 0, k1e = 0, k2s = 0, k2e = 0;
	for (int d = 0; d < maxd && c->work < WORK_BUDGET; d++) {
		for (int k1 = -d + k1s; k1 <= d - k1e; k1 += 2) {
			int i1 = off + k1, x1;
			if (k1 == -d || (k1 != d && v1[i1 - 1] < v1[i1 + 1]))
				x1 = v1[i1 + 1];
			else
				x1 = v1[i1 - 1] + 1;
			int y1 = x1 - k1;
			while (x1 < n && y1 < m && a[x1] == b[y1]) {
				x1++;
				y1++;
			}
			c->work++;
			v1[i1] = x1;
			if (x1 > n)
				k1e += 2;
			else if (y1 > m)
				k1s += 2;
			else if (front) {
				int i2 = off + delta - k1;
				if (i2 >= 0 && i2 < vlen && v2[i2] != -1 && x1 >= n - v2[i2]) {
					diff_range(c, alo, alo + x1, blo, blo + y1);
					diff_range(c, alo + x1, ahi, blo + y1, bhi);
					return;
				}
			}
		}
		for (int k2 = -d + k2s; k2 <= d - k2e; k2 += 2) {
			int i2 = off + k2, x2;
			if (k2 == -d || (k2 != d && v2[i2 - 1] < v2[i2 + 1]))
				x2 = v2[i2 + 1];
			else
				x2 = v2[i2 - 1] + 1;
			int y2 = x2 - k2;
			while (x2 < n && y2 < m && a[n - x2 - 1] == b[m - y2 - 1]) {
				x2++;
				y2++;
			}
			c->work++;
			v2[i2] = x2;
			if (x2 > n)
				k2e += 2;
			else if (y2 > m)
				k2s += 2;
			else if (!front) {
				int i1 = off + delta - k2;
				if (i1 >= 0 && i1 < vlen && v1[i1] != -1) {
					int x1 = v1[i1], y1 = off + x1 - i1;
					if (x1 >= n - x2) {
						diff_range(c, alo, alo + x1, blo, blo + y1);
						diff_range(c, alo + x1, ahi, blo + y1, bhi);
						return;
					}
				}
			}
		}
		c->work += (unsigned)(2 * d + 2);
	}
	for (int i = alo; i < ahi; i++)
		emit(c, '-', i, blo);
	for (int j = blo; j < bhi; j++)
		emit(c, '+', ahi, j);
}

static void diff_range(struct ctx *c, int alo, int ahi, int blo, int bhi)
{
	while (alo < ahi && blo < bhi && c->a[alo] == c->b[blo]) {
		emit(c, ' ', alo, blo);
		alo++;
		blo++;
	}
	int sa = ahi, sb = bhi;
	while (alo < sa && blo < sb && c->a[sa - 1] == c->b[sb - 1]) {
		sa--;
		sb--;
	}
	if (alo == sa)
		for (int j = blo; j < sb; j++)
			emit(c, '+', alo, j);
	else if (blo == sb)
		for (int i = alo; i < sa; i++)
			emit(c, '-', i, blo);
	else
		bisect(c, alo, sa, blo, sb);
	for (; sa < ahi; sa++, sb++)
		emit(c, ' ', sa, sb);
}

/* Interns every line of a and b to an integer id: an open-addressing table of line indexes. */
static int intern(const struct cw_lines *a, const struct cw_lines *b, int *ia, int *ib)
{
	size_t total = a->n + b->n, cap = 16;
	while (cap < total * 2)
		cap *= 2;
	struct slot {
		const char *p;
		size_t len;
		int id;
	} *t = calloc(cap, sizeof(*t));
	if (!t)
		return -1;
	int next = 0;
	for (int side = 0; side < 2; side++) {
		const struct cw_lines *l = side ? b : a;
		int *out = side ? ib : ia;
		for (size_t i = 0; i < l->n; i++) {
			uint64_t h = 1469598103934665603ull;
			for (size_t k = 0; k < l->len[i]; k++)
				h = (h ^ (uint8_t)l->p[i][k]) * 1099511628211ull;
			size_t s = (size_t)(h ^ (h >> 31)) & (cap - 1);
			while (t[s].p &&
			       !(t[s].len == l->len[i] && !memcmp(t[s].p, l->p[i], l->len[i])))
				s = (s + 1) & (cap - 1);
			if (!t[s].p) {
				t[s].p = l->p[i] ? l->p[i] : "";
				t[s].len = l->len[i];
				t[s].id = next++;
			}
			out[i] = t[s].id;
		}
	}
	free(t);
	return 0;
}

int cw_diff(const struct cw_lines *a, const struct cw_lines *b, struct cw_diff_op **ops,
	    size_t *nops)
{
	struct ctx c = {0};
	size_t vl = a->n + b->n + 4;
	int *ia = malloc((a->n + 1) * sizeof(int)), *ib = malloc((b->n + 1) * sizeof(int));
	c.v1 = malloc(vl * sizeof(int));
	c.v2 = malloc(vl * sizeof(int));
	int rc = -1;
	if (!ia || !ib || !c.v1 || !c.v2 || intern(a, b, ia, ib))
		goto out;
	c.a = ia;
	c.b = ib;
	diff_range(&c, 0, (int)a->n, 0, (int)b->n);
	if (!c.oom) {
		*ops = c.ops;
		*nops = c.n;
		c.ops = NULL;
		rc = 0;
	}
out:
	free(c.ops);
	free(ia);
	free(ib);
	free(c.v1);
	free(c.v2);
	return rc;
}
