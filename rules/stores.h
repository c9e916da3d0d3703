/*
 * stores.h - the state that messages write (DESIGN §4.1): manifests, e-commerce documents and
 * the buyers' ledger.
 *
 * Why these are not rte_hash tables: several worker lcores write them at once, and rte_hash
 * serialises writers with a lock. Nothing is ever evicted (§4.1: a full store rejects with
 * STORE_FULL), so an insert-only open-addressing table needs no deletion protocol: a slot is
 * claimed with one compare-and-swap, and a value is replaced under a per-entry sequence counter
 * (readers retry, never wait; two writers of the same key spin briefly). The ledger charge is one
 * compare-and-swap loop, so two lcores racing for the same buyer can never over-spend.
 */
#ifndef CW_RULES_STORES_H
#define CW_RULES_STORES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_hash_crc.h>

struct cw_store;

#define CW_KEY20 20

struct cw_manifest_rec {
	char consignee[18]; /* blank = none */
	uint8_t n_hs4;
	uint16_t hs4[50]; /* sorted, unique */
};

#define CW_ECOM_ORDER	0x1
#define CW_ECOM_PAYMENT 0x2
#define CW_ECOM_WAYBILL 0x4
struct cw_ecom_rec {
	uint8_t parts; /* CW_ECOM_* present */
	uint64_t order_buyer, order_amount;
	uint64_t payment_buyer, payment_amount;
	char waybill_no[20];
};

/* rte_hash_crc over a key that may sit anywhere in a packet: rte_hash_crc dereferences it 8 bytes
 * at a time, so the same CRC steps are taken here on unaligned loads (memcpy of a constant size
 * is one mov). Also the hash function of the engine's rte_hash tables. Inline, so that a caller
 * with a constant length (the 18-byte USCC of every declarant) gets the steps written out. */
static inline uint64_t cw_load_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t cw_load_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint16_t cw_load_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t cw_hash_key(const void *key, uint32_t len, uint32_t init)
{
	const uint8_t *p = key;
#pragma GCC unroll 8 /* a constant length leaves no loop at all */
	for (; len >= 8; len -= 8, p += 8)
		init = rte_hash_crc_8byte(cw_load_u64(p), init);
	if (len & 4) {
		init = rte_hash_crc_4byte(cw_load_u32(p), init);
		p += 4;
	}
	if (len & 2) {
		init = rte_hash_crc_2byte(cw_load_u16(p), init);
		p += 2;
	}
	if (len & 1)
		init = rte_hash_crc_1byte(*p, init);
	return init;
}

struct cw_store *cw_store_create(const char *name, uint32_t capacity, uint32_t key_len,
				 uint32_t val_len, int socket_id);
void cw_store_free(struct cw_store *s);
uint32_t cw_store_count(const struct cw_store *s);
uint32_t cw_store_capacity(const struct cw_store *s);

/* Every call below that names a key also takes its hash, cw_store_hash(s, key): the engine
 * computes it once per message in pass 1 (to prefetch) and reuses it in pass 2. A hash that is
 * not the key's own makes the key look absent (and a put would store it twice). */
uint32_t cw_store_hash(const struct cw_store *s, const void *key);

/* Starts loading the cache lines the key's lookup will read, so that a get or put issued a
 * little later (after the rest of a burst's pass 1) does not wait for memory. */
void cw_store_prefetch(const struct cw_store *s, uint32_t hash);

/* Copies the value for key into val; false when absent. */
bool cw_store_get(struct cw_store *s, const void *key, uint32_t hash, void *val);
/* Sets the value for key (inserting the key); -ENOSPC when the store is full. */
int cw_store_put(struct cw_store *s, const void *key, uint32_t hash, const void *val);

/* E-commerce: sets one part of order_no's record, keeping the others. -ENOSPC when full. */
int cw_ecom_set_order(struct cw_store *s, const char order_no[20], uint32_t hash, uint64_t buyer,
		      uint64_t amount);
int cw_ecom_set_payment(struct cw_store *s, const char order_no[20], uint32_t hash, uint64_t buyer,
			uint64_t amount);
int cw_ecom_set_waybill(struct cw_store *s, const char order_no[20], uint32_t hash,
			const char waybill_no[20]);

/* Ledger (key: buyer u64, value: cumulative value; hash: cw_store_hash(s, &buyer)). Adds amount
 * unless the new total would pass limit: 0 charged, 1 over the limit (nothing charged), -ENOSPC
 * new buyer and store full. */
int cw_ledger_charge(struct cw_store *s, uint64_t buyer, uint32_t hash, uint64_t amount,
		     uint64_t limit);
uint64_t cw_ledger_get(struct cw_store *s, uint64_t buyer, uint32_t hash);

#endif
