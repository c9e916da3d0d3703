/*
 * load.c - full loads from Redis into an engine, and the value checks (see load.h).
 *
 * A bad value in Redis (a USCC of the wrong length, a class name nobody knows, a sender with an
 * unparsable prefix) is counted and skipped: one analyst's typo must not keep a gateway from
 * loading everything else.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/load.h"

bool cw_uscc_valid(const char *s, size_t len)
{
	if (len != 18)
		return false;
	for (size_t i = 0; i < 18; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

static bool parse_u32_pos(const char *s, uint32_t *out)
{
	if (!s || *s < '0' || *s > '9' || strlen(s) > 10)
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

bool cw_sender_id_parse(const char *s, uint32_t *id)
{
	return parse_u32_pos(s, id);
}

bool cw_version_parse(const char *s, uint32_t *v)
{
	return parse_u32_pos(s, v);
}

bool cw_sender_value_split(const char *v, size_t vlen, char *prefixes, size_t pcap, char *name,
			   size_t ncap)
{
	const char *bar = memchr(v, '|', vlen);
	size_t pl = bar ? (size_t)(bar - v) : vlen;
	size_t nl = bar ? vlen - pl - 1 : 0;
	if (pl >= pcap || nl >= ncap || memchr(v, 0, vlen))
		return false;
	memcpy(prefixes, v, pl);
	prefixes[pl] = 0;
	if (bar)
		memcpy(name, bar + 1, nl);
	name[nl] = 0;
	return true;
}

struct reg_load {
	struct cw_engine *e;
	struct cw_regmirror *m;
	struct cw_load_counts *n;
};

static bool reg_one(const char *f, size_t flen, const char *v, size_t vlen, void *arg)
{
	struct reg_load *L = arg;
	int cls = cw_class_parse(v, vlen);
	if (!cw_uscc_valid(f, flen) || cls < 0) {
		L->n->ent_bad++;
		return true;
	}
	L->n->ents++;
	if (L->m) {
		int ch = cw_regmirror_set(L->m, f, (uint8_t)cls);
		if (ch == 0)
			return true;
		if (ch < 0) { /* out of memory: the mirror cannot track it, so neither do we */
			L->n->ent_full++;
			return true;
		}
	}
	L->n->ent_changes++;
	if (cw_registry_set(L->e, f, (enum cw_class)cls) != 0) {
		L->n->ent_full++;
		if (L->m)
			cw_regmirror_del(L->m, f);
	}
	return true;
}

static void reg_gone(const char uscc[18], void *arg)
{
	struct reg_load *L = arg;
	cw_registry_del(L->e, uscc);
	L->n->ent_removed++;
}

int cw_load_registry(redisContext *c, struct cw_engine *e, struct cw_regmirror *m,
		     struct cw_load_counts *n, char *err, size_t errlen)
{
	struct reg_load L = {e, m, n};
	if (m)
		cw_regmirror_begin(m);
	if (cw_redis_hscan(c, CW_K_ENT, 10000, reg_one, &L, err, errlen))
		return -1; /* no sweep: a partial scan must not delete anything */
	if (m)
		cw_regmirror_sweep(m, reg_gone, &L);
	return 0;
}

struct ids {
	uint32_t *v;
	size_t n, cap;
};

static bool ids_push(struct ids *s, uint32_t id)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		uint32_t *nv = realloc(s->v, nc * sizeof(*nv));
		if (!nv)
			return false;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = id;
	return true;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct cur_sender {
	uint32_t id;
	char *prefixes, *name;
};

struct snd_load {
	struct cw_engine *e;
	struct cw_load_counts *n;
	struct ids seen, gone;
	struct cur_sender
	    *cur; /* what the engine has, by id: unchanged senders are not rewritten */
	size_t ncur, capcur;
	bool oom;
};

static int cmp_cur(const void *a, const void *b)
{
	uint32_t x = ((const struct cur_sender *)a)->id, y = ((const struct cur_sender *)b)->id;
	return x < y ? -1 : x > y;
}

static void snd_cur(uint32_t id, const char *prefixes, const char *name, void *arg)
{
	struct snd_load *L = arg;
	if (L->ncur == L->capcur) {
		size_t nc = L->capcur ? L->capcur * 2 : 64;
		struct cur_sender *nv = realloc(L->cur, nc * sizeof(*nv));
		if (!nv) {
			L->oom = true;
			return;
		}
		L->cur = nv;
		L->capcur = nc;
	}
	struct cur_sender *c = &L->cur[L->ncur];
	c->id = id;
	c->prefixes = strdup(prefixes);
	c->name = strdup(name);
	if (!c->prefixes || !c->name) {
		free(c->prefixes);
		free(c->name);
		L->oom = true;
		return;
	}
	L->ncur++;
}

static bool snd_unchanged(const struct snd_load *L, uint32_t id, const char *prefixes,
			  const char *name)
{
	struct cur_sender key = {.id = id};
	const struct cur_sender *c =
	    L->ncur ? bsearch(&key, L->cur, L->ncur, sizeof(key), cmp_cur) : NULL;
	return c && !strcmp(c->prefixes, prefixes) && !strcmp(c->name, name);
}

static bool snd_one(const char *f, size_t flen, const char *v, size_t vlen, void *arg)
{
	struct snd_load *L = arg;
	char idbuf[16], prefixes[4096], name[512], err[160];
	uint32_t id;
	if (flen >= sizeof(idbuf)) {
		L->n->sender_bad++;
		return true;
	}
	memcpy(idbuf, f, flen);
	idbuf[flen] = 0;
	if (!cw_sender_id_parse(idbuf, &id) ||
	    !cw_sender_value_split(v, vlen, prefixes, sizeof(prefixes), name, sizeof(name)) ||
	    (!snd_unchanged(L, id, prefixes, name) &&
	     cw_sender_set(L->e, id, prefixes, name, err, sizeof(err)) != 0)) {
		L->n->sender_bad++;
		return true;
	}
	L->n->senders++;
	if (!ids_push(&L->seen, id))
		L->oom = true;
	return true;
}

static void snd_check(uint32_t id, const char *prefixes, const char *name, void *arg)
{
	struct snd_load *L = arg;
	(void)prefixes;
	(void)name;
	if (!bsearch(&id, L->seen.v, L->seen.n, sizeof(uint32_t), cmp_u32) &&
	    !ids_push(&L->gone, id))
		L->oom = true;
}

int cw_load_senders(redisContext *c, struct cw_engine *e, struct cw_load_counts *n, char *err,
		    size_t errlen)
{
	struct snd_load L = {.e = e, .n = n};
	cw_sender_foreach(e, snd_cur, &L);
	if (L.ncur)
		qsort(L.cur, L.ncur, sizeof(*L.cur), cmp_cur);
	int rc = L.oom ? 0 : cw_redis_hscan(c, CW_K_SENDERS, 1000, snd_one, &L, err, errlen);
	if (!rc && !L.oom) {
		if (L.seen.n)
			qsort(L.seen.v, L.seen.n, sizeof(uint32_t), cmp_u32);
		cw_sender_foreach(e, snd_check, &L);
		for (size_t i = 0; !L.oom && i < L.gone.n; i++) {
			cw_sender_del(e, L.gone.v[i]);
			n->sender_removed++;
		}
	}
	if (!rc && L.oom) {
		snprintf(err, errlen, "out of memory loading senders");
		rc = -1;
	}
	free(L.seen.v);
	free(L.gone.v);
	for (size_t i = 0; i < L.ncur; i++) {
		free(L.cur[i].prefixes);
		free(L.cur[i].name);
	}
	free(L.cur);
	return rc;
}

static int load_text(redisContext *c, uint32_t *version, char **text, size_t *len, char **spare,
		     size_t spare_cap, char *err, size_t errlen)
{
	*text = NULL;
	*len = 0;
	if (!*version) {
		redisReply *r = cw_redis_cmdv(c, err, errlen, "GET", CW_K_ACTIVE, NULL);
		if (!r)
			return -1;
		if (r->type == REDIS_REPLY_NIL) {
			freeReplyObject(r);
			return 0;
		}
		const char *s = cw_reply_str(r);
		bool ok = s && r->type == REDIS_REPLY_STRING && cw_version_parse(s, version);
		if (!ok)
			snprintf(err, errlen, "%s holds '%.40s', not a version", CW_K_ACTIVE,
				 s ? s : (r->type == REDIS_REPLY_ERROR ? r->str : "?"));
		freeReplyObject(r);
		if (!ok)
			return -1;
	}
	char key[64];
	snprintf(key, sizeof(key), CW_K_RULESET_PREFIX "%" PRIu32, *version);
	char *buf = *spare;
	size_t cap = buf ? spare_cap : 0;
	*spare = NULL;
	int rc = cw_redis_get_big(c, key, &buf, &cap, len, err, errlen);
	if (rc == 1) {
		*text = buf;
		return 1;
	}
	free(buf);
	if (rc == 0)
		snprintf(err, errlen, "v%" PRIu32 ": %s does not exist", *version, key);
	else if (rc == -2) { /* an error reply (such as WRONGTYPE), or out of memory */
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "v%" PRIu32 ": %s", *version, why);
	}
	return -1;
}

int cw_load_ruleset_text(redisContext *c, uint32_t *version, char **text, size_t *len, char *err,
			 size_t errlen)
{
	return cw_load_ruleset_text_into(c, version, text, len, NULL, 0, err, errlen);
}

int cw_load_ruleset_text_into(redisContext *c, uint32_t *version, char **text, size_t *len,
			      char *spare, size_t spare_cap, char *err, size_t errlen)
{
	int rc = load_text(c, version, text, len, &spare, spare_cap, err, errlen);
	free(spare); /* not used */
	return rc;
}

/* How compile parses and builds (see load.h for each public form): incrementally against prev
 * or, without prev, a full parse that keeps what the next incremental one needs; into the
 * spare's arrays when there is one; its times noted when asked; a full build that gives up
 * when *stop is set. Every pointer may be NULL. */
struct compile_how {
	bool incremental;
	const struct cw_compile_prev *prev;
	struct cw_parse_spare **spare;
	struct cw_compile_times *times;
	const atomic_bool *stop;
};

static struct cw_snapshot *compile(const char *text, size_t len, uint32_t version,
				   const struct cw_snapshot *base, const struct compile_how *how,
				   char *err, size_t errlen)
{
	const struct cw_compile_prev *prev = how->prev;
	struct cw_compile_times *times = how->times;
	struct cw_parse_error ev[4];
	struct cw_parse_errors errs = {.v = ev, .cap = 4};
	char vtag[24] = "";
	if (version)
		snprintf(vtag, sizeof(vtag), "v%" PRIu32 ": ", version);
	uint64_t f0 = cw_thread_faults(), t0 = cw_mono_ns();
	struct cw_ruleset *rs =
	    !how->incremental
		? cw_ruleset_parse(text, len, &errs)
		: cw_ruleset_parse_delta_spare(text, len, prev ? prev->rs : NULL,
					       prev ? prev->text : NULL, prev ? prev->len : 0,
					       how->spare, &errs);
	uint64_t t1 = cw_mono_ns(), f1 = cw_thread_faults();
	if (times)
		*times = (struct cw_compile_times){t1 - t0, 0, f1 - f0, 0};
	if (!rs) {
		char first[200] = "unknown error";
		if (errs.n)
			cw_parse_error_format(&errs.v[0], first, sizeof(first));
		if (errs.total > 1)
			snprintf(err, errlen, "%s%s (and %" PRIu32 " more)", vtag, first,
				 errs.total - 1);
		else
			snprintf(err, errlen, "%s%s", vtag, first);
		return NULL;
	}
	if (version && rs->version != version) {
		snprintf(err, errlen,
			 "%s" CW_K_RULESET_PREFIX "%" PRIu32 " says `version %" PRIu32 "`", vtag,
			 version, rs->version);
		cw_ruleset_free(rs);
		return NULL;
	}
	char berr[256] = "";
	struct cw_snapshot *s = base ? cw_snapshot_build_delta(base, rs, berr, sizeof(berr))
				     : cw_snapshot_build_unless(rs, how->stop, berr, sizeof(berr));
	if (times) {
		times->build_ns = cw_mono_ns() - t1;
		times->build_faults = cw_thread_faults() - f1;
	}
	if (!s)
		snprintf(err, errlen, "%s%s", vtag, berr[0] ? berr : "build failed");
	return s;
}

struct cw_snapshot *cw_compile_text(const char *text, size_t len, uint32_t version,
				    const struct cw_snapshot *base, char *err, size_t errlen)
{
	const struct compile_how how = {.incremental = false};
	return compile(text, len, version, base, &how, err, errlen);
}

struct cw_snapshot *cw_compile_file(const char *path, char *err, size_t errlen)
{
	size_t len;
	char *text = cw_read_file(path, &len);
	if (!text) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return NULL;
	}
	struct cw_snapshot *s = cw_compile_text(text, len, 0, NULL, err, errlen);
	free(text);
	return s;
}

struct cw_snapshot *cw_compile_text_delta(const char *text, size_t len, uint32_t version,
					  const struct cw_snapshot *base,
					  const struct cw_compile_prev *prev, char *err,
					  size_t errlen)
{
	const struct compile_how how = {.incremental = true, .prev = prev};
	return compile(text, len, version, base, &how, err, errlen);
}

struct cw_snapshot *cw_compile_text_spare(const char *text, size_t len, uint32_t version,
					  const struct cw_snapshot *base,
					  const struct cw_compile_prev *prev,
					  struct cw_parse_spare **spare,
					  struct cw_compile_times *times, char *err, size_t errlen)
{
	const struct compile_how how = {
	    .incremental = true, .prev = prev, .spare = spare, .times = times};
	return compile(text, len, version, base, &how, err, errlen);
}

struct cw_snapshot *cw_compile_text_full_unless(const char *text, size_t len, uint32_t version,
						const atomic_bool *stop,
						struct cw_compile_times *times, char *err,
						size_t errlen)
{
	const struct compile_how how = {.incremental = true, .times = times, .stop = stop};
	return compile(text, len, version, NULL, &how, err, errlen);
}

bool cw_live_prev(const struct cw_live_rules *l, struct cw_compile_prev *prev)
{
	if (!l->active || !l->text)
		return false;
	*prev = (struct cw_compile_prev){cw_snapshot_ruleset(l->active), l->text, l->len};
	return true;
}

void cw_live_retire(const struct cw_live_rules *l, struct cw_snapshot *snap, char *text)
{
	if (!snap && !text)
		return;
	if (l->retire) {
		l->retire(l->retire_arg, snap, text);
		return;
	}
	cw_snapshot_free(snap);
	free(text);
}

void cw_live_publish(struct cw_live_rules *l, struct cw_engine *e, struct cw_snapshot *snap,
		     char *text, size_t len, uint64_t *swap_ns)
{
	uint64_t t0 = cw_mono_ns();
	struct cw_snapshot *old = cw_engine_publish(e, snap, true);
	if (swap_ns)
		*swap_ns = cw_mono_ns() - t0;
	if (old && old != l->base && old != snap)
		cw_live_retire(l, old, NULL); /* a delta replaced */
	if (!cw_snapshot_is_delta(snap)) {
		if (l->base && l->base != snap)
			cw_live_retire(l, l->base, NULL); /* nothing refers to it any more */
		l->base = snap;
	}
	l->active = snap;
	cw_live_retire(l, NULL, l->text);
	l->text = text;
	l->len = len;
}

void cw_live_release(struct cw_live_rules *l, struct cw_engine *e)
{
	if (l->active && l->active != l->base) {
		struct cw_snapshot *old = cw_engine_publish(e, l->base, true);
		if (old && old != l->base)
			cw_snapshot_free(old);
	}
	free(l->text);
	l->base = l->active = NULL;
	l->text = NULL;
	l->len = 0;
}

uint32_t cw_registry_capacity_redis(const char *addr, uint32_t floor)
{
	struct cw_redis_addr a;
	char err[256];
	redisContext *c = cw_redis_addr_parse(addr, &a, err, sizeof(err)) == 0
			      ? cw_redis_connect(&a, 1000, err, sizeof(err))
			      : NULL;
	redisReply *r = c ? cw_redis_cmdv(c, err, sizeof(err), "HLEN", CW_K_ENT, NULL) : NULL;
	uint64_t n =
	    r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 ? (uint64_t)r->integer : 0;
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return cw_registry_room(n, floor);
}

char *cw_live_text_copy(const struct cw_live_rules *l)
{
	char *copy = l->text ? malloc(l->len + 1) : NULL;
	if (copy) {
		memcpy(copy, l->text, l->len);
		copy[l->len] = 0;
	}
	return copy;
}
