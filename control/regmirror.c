/*
 * regmirror.c - the control thread's copy of the registry (see regmirror.h).
 *
 * Linear probing with backward-shift deletion keeps lookups short without tombstones, which a
 * sweep of many deletions would otherwise pile up.
 */
#include <stdlib.h>
#include <string.h>

#include "control/regmirror.h"

static uint64_t key_hash(const char k[18])
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < 18; i++) {
		h ^= (uint8_t)k[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

void cw_regmirror_init(struct cw_regmirror *m)
{
	memset(m, 0, sizeof(*m));
}

void cw_regmirror_free(struct cw_regmirror *m)
{
	free(m->t);
	memset(m, 0, sizeof(*m));
}

void cw_regmirror_clear(struct cw_regmirror *m)
{
	if (m->t)
		memset(m->t, 0, (size_t)m->cap * sizeof(*m->t));
	m->n = 0;
}

static uint32_t find(const struct cw_regmirror *m, const char k[18])
{
	uint32_t mask = m->cap - 1, i = (uint32_t)key_hash(k) & mask;
	while (m->t[i].uscc[0] && memcmp(m->t[i].uscc, k, 18))
		i = (i + 1) & mask;
	return i;
}

static int grow(struct cw_regmirror *m)
{
	uint32_t ncap = m->cap ? m->cap * 2 : 1024;
	struct cw_regmirror_ent *old = m->t, *t = calloc(ncap, sizeof(*t));
	if (!t)
		return -1;
	uint32_t ocap = m->cap;
	m->t = t;
	m->cap = ncap;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i].uscc[0])
			m->t[find(m, old[i].uscc)] = old[i];
	free(old);
	return 0;
}

int cw_regmirror_get(const struct cw_regmirror *m, const char uscc[18])
{
	if (!m->cap)
		return -1;
	uint32_t i = find(m, uscc);
	return m->t[i].uscc[0] ? m->t[i].cls : -1;
}

int cw_regmirror_set(struct cw_regmirror *m, const char uscc[18], uint8_t cls)
{
	if ((m->n + 1) * 10 > m->cap * 7 && grow(m))
		return -1;
	uint32_t i = find(m, uscc);
	struct cw_regmirror_ent *e = &m->t[i];
	e->gen = m->gen;
	if (e->uscc[0]) {
		if (e->cls == cls)
			return 0;
		e->cls = cls;
		return 1;
	}
	memcpy(e->uscc, uscc, 18);
	e->cls = cls;
	m->n++;
	return 1;
}

static void remove_at(struct cw_regmirror *m, uint32_t i)
{
	uint32_t mask = m->cap - 1, j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!m->t[j].uscc[0])
			break;
		uint32_t home = (uint32_t)key_hash(m->t[j].uscc) & mask;
		/* move j back into the hole at i unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			m->t[i] = m->t[j];
			i = j;
		}
	}
	memset(&m->t[i], 0, sizeof(m->t[i]));
	m->n--;
}

bool cw_regmirror_del(struct cw_regmirror *m, const char uscc[18])
{
	if (!m->cap)
		return false;
	uint32_t i = find(m, uscc);
	if (!m->t[i].uscc[0])
		return false;
	remove_at(m, i);
	return true;
}

uint8_t cw_regmirror_begin(struct cw_regmirror *m)
{
	return ++m->gen;
}

void cw_regmirror_sweep(struct cw_regmirror *m, void (*fn)(const char uscc[18], void *arg),
			void *arg)
{
	/* Backward shifts can move a not-yet-visited entry into the slot just cleared, so revisit
	 * the same slot after each removal. An entry shifted from index 0 across the wrap into
	 * the end of the table has been visited already (it is marked or it would be gone). */
	for (uint32_t i = 0; i < m->cap;) {
		struct cw_regmirror_ent *e = &m->t[i];
		if (e->uscc[0] && e->gen != m->gen) {
			if (fn)
				fn(e->uscc, arg);
			remove_at(m, i);
			continue;
		}
		i++;
	}
}
