/*
 * siphash.c - SipHash-2-4 written from the paper's description: 2 compression rounds per 8-byte
 * word, 4 finalisation rounds, little-endian words, the length in the top byte of the last word.
 */
#include <endian.h>
#include <string.h>

#include "rules/siphash.h"

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8); /* one unaligned load */
	return le64toh(v);
}

/* The four state words; every step below is inline, so they stay in registers. */
struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline struct sip sip_init(const uint8_t key[16])
{
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	return (struct sip){0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
			    0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
}

/* One message word: two compression rounds. */
static inline void sip_word(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

/* The last word (tail bytes and length), then the four finalisation rounds. */
static inline uint64_t sip_finish(struct sip *s, uint64_t last)
{
	sip_word(s, last);
	s->v2 ^= 0xff;
	sip_round(s);
	sip_round(s);
	sip_round(s);
	sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

uint64_t cw_siphash24(const uint8_t key[16], const uint8_t *msg, size_t len)
{
	struct sip s = sip_init(key);
	size_t whole = len & ~(size_t)7;
	for (size_t off = 0; off < whole; off += 8)
		sip_word(&s, load_le64(msg + off));
	uint64_t last = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)msg[whole + i] << (8 * i);
	return sip_finish(&s, last);
}

/* The same steps for len == 18, written out: two whole words, then the last word holds bytes
 * 16 and 17 and the length. No tail loop, no length tests: this runs once per DECL and LIST. */
uint64_t cw_siphash24_18(const uint8_t key[16], const uint8_t msg[18])
{
	struct sip s = sip_init(key);
	sip_word(&s, load_le64(msg));
	sip_word(&s, load_le64(msg + 8));
	return sip_finish(&s, (uint64_t)18 << 56 | (uint64_t)msg[17] << 8 | msg[16]);
}
