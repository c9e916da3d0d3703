/*
 * stores.c - insert-only concurrent hash tables for the stores messages write (see stores.h).
 *
 * Layout: a power-of-two array of slots, at least twice the capacity so probe chains stay short;
 * linear probing. Slot = state word (EMPTY, CLAIMED while its key is written, READY), a sequence
 * counter for the value, the key hash, the key, the value. The count of keys is reserved before a
 * slot is claimed, so the capacity holds exactly even when lcores insert at the same time.
 *
 * The stores are far bigger than the caches, so a lookup costs the cache lines it touches. A slot's
 * size is a multiple of 32 bytes and the array starts on a cache line, so every slot starts on a
 * half line: a slot of S bytes then touches exactly ceil(S / 64) lines (manifest 160 B: 3,
 * e-commerce 96 B: 2, ledger 32 B: 1), and the part a probe reads (state, sequence, hash and a key
 * of up to 20 bytes: 12 + 20 bytes) never straddles two lines, so passing over another key's slot
 * costs one line.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "rules/stores.h"

enum { SLOT_EMPTY = 0, SLOT_CLAIMED = 1, SLOT_READY = 2 };

struct slot_hdr {
	_Atomic uint32_t state;
	_Atomic uint32_t seq; /* odd while a writer changes the value */
	uint32_t hash;
}; /* then the key, right after, and the value, 8-byte aligned */
_Static_assert(sizeof(struct slot_hdr) == 12, "a 20-byte key ends at byte 32 of its slot");

struct cw_store {
	uint32_t mask;
	uint32_t capacity;
	uint32_t key_len, val_len;
	uint32_t val_off, slot_size;
	_Atomic uint32_t count;
	uint8_t *slots;
};

static inline struct slot_hdr *slot_at(const struct cw_store *s, uint32_t i)
{
	return (struct slot_hdr *)(s->slots + (size_t)i * s->slot_size);
}
static inline uint8_t *slot_key(struct slot_hdr *h)
{
	return (uint8_t *)(h + 1);
}
static inline uint8_t *slot_val(const struct cw_store *s, struct slot_hdr *h)
{
	return (uint8_t *)h + s->val_off;
}

struct cw_store *cw_store_create(const char *name, uint32_t capacity, uint32_t key_len,
				 uint32_t val_len, int socket_id)
{
	struct cw_store *s = rte_zmalloc_socket(name, sizeof(*s), 64, socket_id);
	if (!s)
		return NULL;
	uint64_t n = 16;
	while (n < 2ull * capacity)
		n <<= 1;
	s->mask = (uint32_t)(n - 1);
	s->capacity = capacity;
	s->key_len = key_len;
	s->val_len = val_len;
	s->val_off = (uint32_t)(sizeof(struct slot_hdr) + key_len + 7) & ~7u;
	s->slot_size = (s->val_off + val_len + 31) & ~31u;
	s->slots = rte_zmalloc_socket(name, n * s->slot_size, 64, socket_id);
	if (!s->slots) {
		rte_free(s);
		return NULL;
	}
	return s;
}

void cw_store_free(struct cw_store *s)
{
	if (!s)
		return;
	rte_free(s->slots);
	rte_free(s);
}

uint32_t cw_store_count(const struct cw_store *s)
{
	return atomic_load_explicit(&((struct cw_store *)s)->count, memory_order_relaxed);
}

uint32_t cw_store_capacity(const struct cw_store *s)
{
	return s->capacity;
}

uint32_t cw_store_hash(const struct cw_store *s, const void *key)
{
	return cw_hash_key(key, s->key_len, 0x9e3779b9) | 1; /* never 0 */
}

/* Waits out a concurrent insert of this slot; returns true when the slot holds `key`. */
static bool slot_matches(const struct cw_store *s, struct slot_hdr *h, uint32_t hash,
			 const void *key)
{
	uint32_t st;
	while ((st = atomic_load_explicit(&h->state, memory_order_acquire)) == SLOT_CLAIMED)
		rte_pause();
	return h->hash == hash && memcmp(slot_key(h), key, s->key_len) == 0;
}

/* Index of key's slot, or -1. */
static int64_t find_slot(const struct cw_store *s, const void *key, uint32_t hash)
{
	for (uint32_t i = hash & s->mask, n = 0; n <= s->mask; i = (i + 1) & s->mask, n++) {
		struct slot_hdr *h = slot_at(s, i);
		if (atomic_load_explicit(&h->state, memory_order_acquire) == SLOT_EMPTY)
			return -1;
		if (slot_matches(s, h, hash, key))
			return i;
	}
	return -1;
}

/* Index of key's slot, inserting it if needed; -ENOSPC when the store is full. */
static int64_t find_or_insert(struct cw_store *s, const void *key, uint32_t hash)
{
	int64_t found = find_slot(s, key, hash);
	if (found >= 0)
		return found;
	if (atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed) >= s->capacity) {
		atomic_fetch_sub_explicit(&s->count, 1, memory_order_relaxed);
		return -ENOSPC;
	}
	for (uint32_t i = hash & s->mask;; i = (i + 1) & s->mask) {
		struct slot_hdr *h = slot_at(s, i);
		uint32_t expect = SLOT_EMPTY;
		if (atomic_compare_exchange_strong_explicit(&h->state, &expect, SLOT_CLAIMED,
							    memory_order_acq_rel,
							    memory_order_acquire)) {
			h->hash = hash;
			memcpy(slot_key(h), key, s->key_len);
			atomic_store_explicit(&h->state, SLOT_READY, memory_order_release);
			return i;
		}
		if (slot_matches(s, h, hash, key)) { /* another lcore inserted it first */
			atomic_fetch_sub_explicit(&s->count, 1, memory_order_relaxed);
			return i;
		}
	}
}

static void write_begin(struct slot_hdr *h)
{
	for (;;) {
		uint32_t v = atomic_load_explicit(&h->seq, memory_order_relaxed);
		if (!(v & 1) && atomic_compare_exchange_weak_explicit(
				    &h->seq, &v, v + 1, memory_order_acquire, memory_order_relaxed))
			break;
		rte_pause();
	}
	atomic_thread_fence(memory_order_release);
}

static void write_end(struct slot_hdr *h)
{
	atomic_fetch_add_explicit(&h->seq, 1, memory_order_release);
}

static void read_value(const struct cw_store *s, struct slot_hdr *h, void *val)
{
	for (;;) {
		uint32_t v1 = atomic_load_explicit(&h->seq, memory_order_acquire);
		if (v1 & 1) {
			rte_pause();
			continue;
		}
		memcpy(val, slot_val(s, h), s->val_len);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&h->seq, memory_order_relaxed) == v1)
			return;
	}
}

void cw_store_prefetch(const struct cw_store *s, uint32_t hash)
{
	uintptr_t start = (uintptr_t)slot_at(s, hash & s->mask);
	for (uintptr_t line = start & ~(uintptr_t)63; line < start + s->slot_size; line += 64)
		rte_prefetch0((const void *)line);
}

bool cw_store_get(struct cw_store *s, const void *key, uint32_t hash, void *val)
{
	int64_t i = find_slot(s, key, hash);
	if (i < 0)
		return false;
	read_value(s, slot_at(s, (uint32_t)i), val);
	return true;
}

int cw_store_put(struct cw_store *s, const void *key, uint32_t hash, const void *val)
{
	int64_t i = find_or_insert(s, key, hash);
	if (i < 0)
		return (int)i;
	struct slot_hdr *h = slot_at(s, (uint32_t)i);
	write_begin(h);
	memcpy(slot_val(s, h), val, s->val_len);
	write_end(h);
	return 0;
}

/* Runs `update` on order_no's record under its sequence counter. */
static int ecom_update(struct cw_store *s, const char order_no[20], uint32_t hash,
		       void (*update)(struct cw_ecom_rec *r, const void *arg), const void *arg)
{
	int64_t i = find_or_insert(s, order_no, hash);
	if (i < 0)
		return (int)i;
	struct slot_hdr *h = slot_at(s, (uint32_t)i);
	write_begin(h);
	update((struct cw_ecom_rec *)slot_val(s, h), arg);
	write_end(h);
	return 0;
}

struct part_money {
	uint64_t buyer, amount;
};

static void set_order(struct cw_ecom_rec *r, const void *arg)
{
	const struct part_money *p = arg;
	r->parts |= CW_ECOM_ORDER;
	r->order_buyer = p->buyer;
	r->order_amount = p->amount;
}

static void set_payment(struct cw_ecom_rec *r, const void *arg)
{
	const struct part_money *p = arg;
	r->parts |= CW_ECOM_PAYMENT;
	r->payment_buyer = p->buyer;
	r->payment_amount = p->amount;
}

static void set_waybill(struct cw_ecom_rec *r, const void *arg)
{
	r->parts |= CW_ECOM_WAYBILL;
	memcpy(r->waybill_no, arg, sizeof(r->waybill_no));
}

int cw_ecom_set_order(struct cw_store *s, const char order_no[20], uint32_t hash, uint64_t buyer,
		      uint64_t amount)
{
	struct part_money p = {buyer, amount};
	return ecom_update(s, order_no, hash, set_order, &p);
}

int cw_ecom_set_payment(struct cw_store *s, const char order_no[20], uint32_t hash, uint64_t buyer,
			uint64_t amount)
{
	struct part_money p = {buyer, amount};
	return ecom_update(s, order_no, hash, set_payment, &p);
}

int cw_ecom_set_waybill(struct cw_store *s, const char order_no[20], uint32_t hash,
			const char waybill_no[20])
{
	return ecom_update(s, order_no, hash, set_waybill, waybill_no);
}

int cw_ledger_charge(struct cw_store *s, uint64_t buyer, uint32_t hash, uint64_t amount,
		     uint64_t limit)
{
	int64_t i = find_slot(s, &buyer, hash);
	if (i < 0) {
		if (amount > limit)
			return 1; /* over the limit: no need to take a slot */
		i = find_or_insert(s, &buyer, hash);
		if (i < 0)
			return (int)i;
	}
	_Atomic uint64_t *total = (_Atomic uint64_t *)slot_val(s, slot_at(s, (uint32_t)i));
	uint64_t cur = atomic_load_explicit(total, memory_order_relaxed);
	do {
		if ((unsigned __int128)cur + amount > limit)
			return 1;
	} while (!atomic_compare_exchange_weak_explicit(
	    total, &cur, cur + amount, memory_order_acq_rel, memory_order_relaxed));
	return 0;
}

uint64_t cw_ledger_get(struct cw_store *s, uint64_t buyer, uint32_t hash)
{
	int64_t i = find_slot(s, &buyer, hash);
	if (i < 0)
		return 0;
	return atomic_load_explicit((_Atomic uint64_t *)slot_val(s, slot_at(s, (uint32_t)i)),
				    memory_order_relaxed);
}
