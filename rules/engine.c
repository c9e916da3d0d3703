/*
 * engine.c - the engine's shared state and everything the control thread changes in it: the
 * active snapshot (RCU publish), the enterprise registry, the senders and their sessions.
 *
 * Writers here are single (the control thread); workers read lock-free. Memory a worker may
 * still be reading (an old snapshot, a replaced sender, a deleted hash slot) is released only
 * after every registered worker has reported a quiescent state (rte_rcu_qsbr).
 */
/* rte_vect_{get,set}_max_simd_bitwidth are still marked experimental in DPDK 22.11 */
#define ALLOW_EXPERIMENTAL_API

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cpuflags.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_vect.h>

#include "rules/engine_int.h"

static _Atomic uint32_t engine_seq; /* DPDK object names must be unique per process */

void cw_engine_config_defaults(struct cw_engine_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_workers = 16;
	c->replay_window = 4096;
	c->registry_capacity = 1u << 20;
	c->max_senders = 1024;
	c->manifest_capacity = 1u << 18;
	c->ecom_capacity = 1u << 19;
	c->buyer_capacity = 1u << 19;
	c->socket_id = SOCKET_ID_ANY;
}

static struct rte_hash *make_hash(const char *what, uint32_t n, uint32_t entries, uint32_t key_len,
				  struct rte_rcu_qsbr *qs, int socket)
{
	char name[32];
	snprintf(name, sizeof(name), "cw%s%u", what, n);
	struct rte_hash_parameters p = {
	    .name = name,
	    .entries = entries < 16 ? 16 : entries,
	    .key_len = key_len,
	    .hash_func = cw_hash_key,
	    .socket_id = socket,
	    .extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct rte_hash *h = rte_hash_create(&p);
	if (!h)
		return NULL;
	struct rte_hash_rcu_config rc = {.v = qs, .mode = RTE_HASH_QSBR_MODE_DQ};
	if (rte_hash_rcu_qsbr_add(h, &rc) != 0) {
		rte_hash_free(h);
		return NULL;
	}
	return h;
}

/* A full build of 10 k rules allocates and frees some 100 MB in blocks of up to 8 MB (rte_acl's
 * trie pools): above glibc's mmap threshold each block is a fresh mapping whose pages fault in
 * one by one, and each free trims the heap again. On the bench machine that was ~20 000 page
 * faults and a quarter of a rebuild's time, and a rule delta right after a full build took
 * 27 ms instead of 1.3 ms (deltaprof --huge --rebuilds). Blocks up to 32 MB (glibc's ceiling)
 * now come from the heap, and the heap keeps its peak: memory a build freed is there for the
 * next one. One arena for all threads: a thread's own arena lives in 64 MB heaps that glibc
 * unmaps whole once they are empty, whatever the trim threshold, and the gateway builds on its
 * compile thread (Redis mode: 2 079 faults in a delta, 13 911 in a full build, before this).
 * No worker allocates on the packet path, so sharing the arena costs no contention there. The
 * price is the peak of one build staying resident (RSS). */
void cw_engine_keep_build_memory(void)
{
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

/* rte_acl picks its classify method when a context is built, capped by DPDK's SIMD ceiling,
 * which is 256 bits unless raised. With AVX-512 the 32-flow method decides the cwgen mix ~1.2x
 * faster (docs/benchmarks.md), so the engine raises the ceiling on CPUs that have it, unless the
 * command line pinned it (--force-max-simd-bitwidth: the call is then refused, and that is
 * fine). */
static void widen_simd(void)
{
#ifdef RTE_ARCH_X86
	if (rte_vect_get_max_simd_bitwidth() < RTE_VECT_SIMD_512 &&
	    rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F) > 0 &&
	    rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512BW) > 0 &&
	    rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512VL) > 0 &&
	    rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512CD) > 0)
		(void)rte_vect_set_max_simd_bitwidth(RTE_VECT_SIMD_512);
#endif
}

struct cw_engine *cw_engine_create(const struct cw_engine_config *c, char *err, size_t errlen)
{
	widen_simd();
	struct cw_engine *e = rte_zmalloc("cw_engine", sizeof(*e), 64);
	if (!e) {
		snprintf(err, errlen, "no memory for the engine (is EAL initialised?)");
		return NULL;
	}
	e->cfg = *c;
	if (!e->cfg.replay_window)
		e->cfg.replay_window = 4096;
	uint32_t n = atomic_fetch_add(&engine_seq, 1);
	size_t qsz = rte_rcu_qsbr_get_memsize(c->max_workers);
	e->qs = rte_zmalloc("cw_qsbr", qsz, 64);
	if (!e->qs || rte_rcu_qsbr_init(e->qs, c->max_workers) != 0)
		goto fail;
	e->registry = make_hash("reg", n, c->registry_capacity, 18, e->qs, c->socket_id);
	e->senders = make_hash("snd", n, c->max_senders, sizeof(uint32_t), e->qs, c->socket_id);
	char name[32];
	snprintf(name, sizeof(name), "cwman%u", n);
	e->manifests = cw_store_create(name, c->manifest_capacity, CW_KEY20,
				       sizeof(struct cw_manifest_rec), c->socket_id);
	snprintf(name, sizeof(name), "cwecom%u", n);
	e->ecom = cw_store_create(name, c->ecom_capacity, CW_KEY20, sizeof(struct cw_ecom_rec),
				  c->socket_id);
	snprintf(name, sizeof(name), "cwled%u", n);
	e->ledger = cw_store_create(name, c->buyer_capacity, sizeof(uint64_t), sizeof(uint64_t),
				    c->socket_id);
	if (!e->registry || !e->senders || !e->manifests || !e->ecom || !e->ledger)
		goto fail;
	return e;
fail:
	snprintf(err, errlen, "cannot create the engine's tables: %s", rte_strerror(rte_errno));
	cw_engine_destroy(e);
	return NULL;
}

static void free_sender(struct cw_sender *s, bool with_session)
{
	if (!s)
		return;
	if (with_session && s->session) {
		rte_free(s->session->slots);
		rte_free(s->session);
	}
	rte_free(s);
}

void cw_engine_destroy(struct cw_engine *e)
{
	if (!e)
		return;
	if (e->senders) {
		const void *key;
		void *data;
		uint32_t it = 0;
		while (rte_hash_iterate(e->senders, &key, &data, &it) >= 0)
			free_sender(data, true);
	}
	rte_hash_free(e->registry);
	rte_hash_free(e->senders);
	cw_store_free(e->manifests);
	cw_store_free(e->ecom);
	cw_store_free(e->ledger);
	cw_snapshot_free(atomic_load(&e->active));
	rte_free(e->qs);
	rte_free(e);
}

/* Waits until no worker can hold a pointer read before this call. */
static void grace_period(struct cw_engine *e)
{
	rte_rcu_qsbr_synchronize(e->qs, RTE_QSBR_THRID_INVALID);
}

/* ---------------------------------------------------------------- snapshot */

struct cw_snapshot *cw_engine_publish(struct cw_engine *e, struct cw_snapshot *s, bool keep_old)
{
	struct cw_snapshot *old = atomic_exchange_explicit(&e->active, s, memory_order_acq_rel);
	if (!old)
		return NULL;
	grace_period(e);
	if (keep_old)
		return old;
	cw_snapshot_free(old);
	return NULL;
}

const struct cw_snapshot *cw_engine_active(const struct cw_engine *e)
{
	return atomic_load_explicit(&((struct cw_engine *)e)->active, memory_order_acquire);
}

uint32_t cw_engine_version(const struct cw_engine *e)
{
	const struct cw_snapshot *s = cw_engine_active(e);
	return s ? s->version : 0;
}

/* ---------------------------------------------------------------- registry */

static bool is_uscc(const char *u)
{
	for (int i = 0; i < 18; i++)
		if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'A' && u[i] <= 'Z')))
			return false;
	return true;
}

int cw_registry_set(struct cw_engine *e, const char uscc[18], enum cw_class cls)
{
	if (!is_uscc(uscc) || (int)cls < 0 || (int)cls >= CW_NUM_CLASSES)
		return -EINVAL;
	bool is_new = rte_hash_lookup(e->registry, uscc) < 0;
	int rc = rte_hash_add_key_data(e->registry, uscc, (void *)(uintptr_t)cls);
	if (rc < 0)
		return rc;
	e->n_registry += is_new;
	return 0;
}

int cw_registry_del(struct cw_engine *e, const char uscc[18])
{
	int rc = rte_hash_del_key(e->registry, uscc);
	if (rc < 0)
		return rc;
	e->n_registry--;
	return 0;
}

int cw_registry_get(const struct cw_engine *e, const char uscc[18])
{
	void *data;
	if (rte_hash_lookup_data(e->registry, uscc, &data) < 0)
		return -1;
	return (int)(uintptr_t)data;
}

uint32_t cw_registry_count(const struct cw_engine *e)
{
	return e->n_registry;
}

void cw_registry_clear(struct cw_engine *e)
{
	const void *key;
	void *data;
	uint32_t it = 0;
	char(*keys)[18] = malloc(18 * (size_t)(e->n_registry + 1));
	uint32_t n = 0;
	if (!keys)
		return;
	while (rte_hash_iterate(e->registry, &key, &data, &it) >= 0)
		memcpy(keys[n++], key, 18);
	for (uint32_t i = 0; i < n; i++)
		rte_hash_del_key(e->registry, keys[i]);
	free(keys);
}

/* Splits a CSV line in place into at most max fields; returns the count. */
static int csv_split(char *line, char **f, int max)
{
	int n = 0;
	line[strcspn(line, "\r\n")] = 0;
	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ',') {
			*p = 0;
			f[n++] = p + 1;
		}
	return n;
}

long cw_registry_load_csv(struct cw_engine *e, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[256];
	long rows = 0, lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *fld[3];
		if (lineno == 1 && !strncmp(line, "uscc", 4))
			continue;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		int n = csv_split(line, fld, 3);
		int cls = n == 2 ? cw_class_parse(fld[1], strlen(fld[1])) : -1;
		int rc = n == 2 && strlen(fld[0]) == 18 && cls >= 0
			     ? cw_registry_set(e, fld[0], (enum cw_class)cls)
			     : -EINVAL;
		if (rc == -ENOSPC)
			snprintf(err, errlen,
				 "%s:%ld: the registry is full (room for %u enterprises, %u in "
				 "it)",
				 path, lineno, e->cfg.registry_capacity, e->n_registry);
		else if (rc)
			snprintf(err, errlen,
				 "%s:%ld: expected `uscc,class` (18 code characters, a class "
				 "name)",
				 path, lineno);
		if (rc) {
			fclose(f);
			return -1;
		}
		rows++;
	}
	fclose(f);
	return rows;
}

/* Counts lines, not rows (a header, blank or comment lines make it a little more): an upper
 * bound is what sizing needs, and it costs one pass over the bytes. */
uint32_t cw_registry_csv_capacity(const char *path, uint32_t floor)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return floor;
	static char buf[1 << 16];
	uint64_t lines = 0;
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))) != NULL; p++)
			lines++;
	fclose(f);
	return cw_registry_room(lines, floor);
}

uint32_t cw_registry_room(uint64_t n, uint32_t floor)
{
	uint64_t want = n + n / 4 + 16;
	return want > UINT32_MAX ? UINT32_MAX : want > floor ? (uint32_t)want : floor;
}

/* ---------------------------------------------------------------- senders */

static int parse_prefix(const char *txt, struct cw_prefix *p)
{
	char buf[64];
	const char *slash = strchr(txt, '/');
	size_t alen = slash ? (size_t)(slash - txt) : strlen(txt);
	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, txt, alen);
	buf[alen] = 0;
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr) == 1)
		p->v6 = false;
	else if (inet_pton(AF_INET6, buf, p->addr) == 1)
		p->v6 = true;
	else
		return -1;
	unsigned max = p->v6 ? 128 : 32, len = max;
	if (slash) {
		char *end;
		unsigned long l = strtoul(slash + 1, &end, 10);
		if (*end || end == slash + 1 || l > max)
			return -1;
		len = (unsigned)l;
	}
	p->len = (uint8_t)len;
	return 0;
}

static bool prefix_contains(const struct cw_prefix *p, const uint8_t *ip, bool v6)
{
	if (p->v6 != v6)
		return false;
	unsigned full = p->len / 8, rest = p->len % 8;
	if (memcmp(p->addr, ip, full))
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xFF << (8 - rest));
	return (p->addr[full] & mask) == (ip[full] & mask);
}

bool cw_sender_allows(const struct cw_sender *s, const uint8_t *ip, bool v6)
{
	for (uint32_t i = 0; i < s->n_prefixes; i++)
		if (prefix_contains(&s->prefixes[i], ip, v6))
			return true;
	return false;
}

static struct cw_session *session_create(uint32_t window)
{
	struct cw_session *ss = rte_zmalloc("cw_session", sizeof(*ss), 64);
	if (!ss)
		return NULL;
	ss->slots = rte_zmalloc("cw_session_slots", sizeof(struct cw_cached) * window, 64);
	if (!ss->slots) {
		rte_free(ss);
		return NULL;
	}
	rte_spinlock_init(&ss->lock);
	ss->window = window;
	return ss;
}

int cw_sender_set(struct cw_engine *e, uint32_t id, const char *prefixes, const char *name,
		  char *err, size_t errlen)
{
	if (id == 0) {
		snprintf(err, errlen, "sender id 0 is not allowed");
		return -EINVAL;
	}
	struct cw_sender *s = rte_zmalloc("cw_sender", sizeof(*s), 64);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->id = id;
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
	snprintf(s->prefixes_text, sizeof(s->prefixes_text), "%s", prefixes);
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", prefixes);
	char *save = NULL;
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (s->n_prefixes == CW_MAX_PREFIXES ||
		    parse_prefix(tok, &s->prefixes[s->n_prefixes]) < 0) {
			snprintf(err, errlen, "sender %u: bad prefix '%s' (CIDR, at most %d)", id,
				 tok, CW_MAX_PREFIXES);
			rte_free(s);
			return -EINVAL;
		}
		s->n_prefixes++;
	}
	if (!s->n_prefixes) {
		snprintf(err, errlen, "sender %u: no prefix", id);
		rte_free(s);
		return -EINVAL;
	}
	void *old = NULL;
	if (rte_hash_lookup_data(e->senders, &id, &old) >= 0)
		s->session = ((struct cw_sender *)old)->session; /* a replaced sender keeps it */
	else
		s->session = session_create(e->cfg.replay_window);
	if (!s->session) {
		snprintf(err, errlen, "out of memory for the session");
		rte_free(s);
		return -ENOMEM;
	}
	if (rte_hash_add_key_data(e->senders, &id, s) < 0) {
		snprintf(err, errlen, "sender table full");
		if (!old)
			free_sender(s, true);
		else
			rte_free(s);
		return -ENOSPC;
	}
	if (old) {
		grace_period(e);
		free_sender(old, false);
	} else {
		e->n_senders++;
	}
	return 0;
}

int cw_sender_del(struct cw_engine *e, uint32_t id)
{
	void *old;
	if (rte_hash_lookup_data(e->senders, &id, &old) < 0)
		return -ENOENT;
	rte_hash_del_key(e->senders, &id);
	e->n_senders--;
	grace_period(e);
	free_sender(old, true);
	return 0;
}

uint32_t cw_sender_count(const struct cw_engine *e)
{
	return e->n_senders;
}

void cw_sender_clear(struct cw_engine *e)
{
	uint32_t n = cw_sender_count(e), k = 0;
	uint32_t *ids = malloc(sizeof(uint32_t) * (n + 1));
	const void *key;
	void *data;
	uint32_t it = 0;
	if (!ids)
		return;
	while (k < n && rte_hash_iterate(e->senders, &key, &data, &it) >= 0)
		ids[k++] = *(const uint32_t *)key;
	for (uint32_t i = 0; i < k; i++)
		cw_sender_del(e, ids[i]);
	free(ids);
}

void cw_sender_foreach(const struct cw_engine *e,
		       void (*fn)(uint32_t id, const char *prefixes, const char *name, void *arg),
		       void *arg)
{
	const void *key;
	void *data;
	uint32_t it = 0;
	while (rte_hash_iterate(e->senders, &key, &data, &it) >= 0) {
		const struct cw_sender *s = data;
		fn(s->id, s->prefixes_text, s->name, arg);
	}
}

long cw_senders_load_csv(struct cw_engine *e, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[1024], why[256];
	long rows = 0, lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (lineno == 1 && !strncmp(line, "id,", 3))
			continue;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		char *fld[3];
		int n = csv_split(line, fld, 3);
		char *end;
		unsigned long id = n == 3 ? strtoul(fld[0], &end, 10) : 0;
		if (n != 3 || *end || id == 0 || id > UINT32_MAX) {
			snprintf(err, errlen, "%s:%ld: expected `id,prefixes,name`", path, lineno);
			fclose(f);
			return -1;
		}
		if (cw_sender_set(e, (uint32_t)id, fld[1], fld[2], why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%ld: %s", path, lineno, why);
			fclose(f);
			return -1;
		}
		rows++;
	}
	fclose(f);
	return rows;
}

void cw_engine_store_stats(const struct cw_engine *e, struct cw_store_stats *st)
{
	st->manifests = cw_store_count(e->manifests);
	st->manifest_capacity = cw_store_capacity(e->manifests);
	st->orders = cw_store_count(e->ecom);
	st->ecom_capacity = cw_store_capacity(e->ecom);
	st->buyers = cw_store_count(e->ledger);
	st->buyer_capacity = cw_store_capacity(e->ledger);
	st->registry = cw_registry_count(e);
	st->registry_capacity = e->cfg.registry_capacity;
	st->senders = cw_sender_count(e);
}

/* ---------------------------------------------------------------- responses */

unsigned cw_encode_responses(const struct cwp_verdict *v, unsigned n, uint32_t sender_id,
			     unsigned per_dgram, uint8_t *out, size_t stride, uint16_t *lens)
{
	unsigned d = 0;
	for (unsigned first = 0; first < n; first += per_dgram, d++) {
		unsigned cnt = n - first < per_dgram ? n - first : per_dgram;
		uint8_t *p = out + (size_t)d * stride;
		cwp_put_dgram_hdr(p, (uint16_t)cnt, CWP_FLAG_RESPONSE, sender_id, 0);
		for (unsigned i = 0; i < cnt; i++)
			cwp_put_verdict(p + CWP_DGRAM_HDR_LEN + i * CWP_VERDICT_MSG_LEN,
					&v[first + i]);
		lens[d] = (uint16_t)(CWP_DGRAM_HDR_LEN + cnt * CWP_VERDICT_MSG_LEN);
	}
	return d;
}
