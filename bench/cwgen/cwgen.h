/*
 * cwgen.h - what the parts of cwgen, Clearway's workload generator, share.
 *
 * Why this file exists: cwgen is split by concern (random numbers, corpus distributions, the
 * enterprise and sender population, message generation, broken traffic, datagram output, the
 * rule set), and every part reads the same options and the same population. Everything is a
 * pure function of the seed and the corpus files, so two runs with the same arguments write the
 * same bytes (docs/workload.md).
 */
#ifndef CW_BENCH_CWGEN_H
#define CW_BENCH_CWGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataplane/wire/cwp.h"

/* ---- options ---- */

struct cwgen_opts {
	uint64_t seed;
	uint64_t messages;
	const char *out_dir;
	uint64_t enterprises;
	uint64_t rules;
	uint64_t profiles;
	double batch; /* mean messages per datagram */
	double bad;   /* fraction of broken messages (and, scaled, of dropped datagrams) */
	double ipv6;  /* fraction of datagrams over IPv6 */
	double vlan;  /* fraction of datagrams with an 802.1Q tag */
	unsigned senders;
	const char *corpus; /* directory, may not exist */
	uint32_t version;
	double items_mean; /* mean items per DECL */
};

/* ---- random numbers (rng.c): xoshiro256** seeded by splitmix64, no libc rand() ---- */

struct rng {
	uint64_t s[4];
};

/* Independent streams of one seed: each part of cwgen draws from its own stream so that, e.g.,
 * the rule set does not change when --messages does. */
void rng_seed(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n);		     /* uniform in [0, n), n > 0 */
uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi); /* uniform in [lo, hi] */
double rng_unit(struct rng *r);				     /* uniform in [0, 1) */
bool rng_chance(struct rng *r, double p);
double rng_normal(struct rng *r); /* approximately N(0, 1), no libm */
double rng_lognormal(struct rng *r, double median, double sigma);
/* 1..max, geometric-like with the given mean (before the cap). */
unsigned rng_geometric(struct rng *r, double mean, unsigned max);
/* Index into cumulative weights cum[0..n-1] (cum[n-1] is the total). */
unsigned rng_pick_cum(struct rng *r, const uint32_t *cum, unsigned n);
/* Stateless 64-bit mixer (splitmix64 finaliser): hash of one value. */
uint64_t mix64(uint64_t x);
/* A uniform double in [0, 1) from a hash value. */
static inline double unit_of(uint64_t h)
{
	return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- corpus (corpus.c): distributions read from ../shared/corpus, or built in ---- */

/* One synthetic customs declaration line (KCS corpus) as cwgen uses it. */
struct kcs_row {
	uint32_t hs6;
	char origin[2];
	char departure[2];
	uint8_t transport;   /* China's transport mode code, mapped from the KCS code */
	uint8_t office_rank; /* rank of the KCS office by frequency, 0 = busiest */
	bool fta;	     /* FTA tariff claimed: an origin certificate is expected */
	bool fraud;
	double mass_kg;
	double value_usd; /* line value in US dollars (see docs/workload.md for the scale) */
};

struct hs_code {
	uint32_t code; /* numeric value of the digits */
	uint8_t len;   /* 2, 4 or 6 */
	char desc[72]; /* ASCII, no quotes or '#' */
};

struct country {
	char a2[2];
	char currency[3]; /* ISO 4217, may be blank */
};

struct corpus {
	bool kcs_from_file, hs_from_file, cc_from_file;
	struct kcs_row *rows; /* sorted by hs6 */
	uint32_t n_rows;
	uint32_t *imp, n_imp;	  /* rows whose origin is not CN (imports into China) */
	uint32_t *cn, n_cn;	  /* rows whose origin is CN (used for exports) */
	uint32_t *fraud, n_fraud; /* import rows flagged as fraud */
	uint32_t imp_ch[101], cn_ch[101], fraud_ch[101]; /* where each chapter starts in them */
	struct hs_code *hs[3]; /* chapters, headings, subheadings, each sorted by code */
	uint32_t n_hs[3];
	struct country *cc;
	uint32_t n_cc;
};

/* Loads what is there under dir (NULL: fall back entirely) and says on stderr what was used. */
void corpus_load(struct corpus *c, const char *dir, bool quiet);
void corpus_free(struct corpus *c);
/* Description of a chapter/heading/subheading, or NULL. level: 0, 1, 2. */
const struct hs_code *corpus_hs_find(const struct corpus *c, unsigned level, uint32_t code);
const struct country *corpus_country(const struct corpus *c, const char a2[2]);
/* Rows (indices into rows) of the import list within one HS chapter: [*lo, *hi). */
void corpus_chapter_range(const struct corpus *c, const uint32_t *list, uint32_t n,
			  unsigned chapter, uint32_t *lo, uint32_t *hi);

/* Plausible national digits 7-10 for a 6-digit code, variant 0..2 (independent of the seed, so
 * a 10-digit profile in one run names codes that appear in every run). */
void hs_national(uint32_t hs6, unsigned variant, char out[11]);

/* Documents an HS code needs by policy (shared by traffic and rules so the two agree). */
struct doc_policy {
	const char *prefix;
	uint8_t docs_mask; /* bit 1 << doc_type */
	bool strict;
	const char *why;
};
extern const struct doc_policy doc_policies[];
extern const unsigned n_doc_policies;
uint8_t docs_required(const char hs[10]);

/* Exchange rates per US dollar and minor-unit digits of the currencies cwgen uses. */
bool currency_rate(const char cur[3], double *per_usd, unsigned *minor);

/* ---- population (population.c): enterprises and senders ---- */

enum ent_class { ENT_AEO, ENT_GOOD, ENT_WARNING, ENT_DISHONEST, ENT_SERIOUS };

struct population {
	uint64_t seed;
	uint64_t n;	   /* enterprises in the registry: indices 0..n-1 */
	uint64_t mul, add; /* the bijection index -> organisation code */
	uint64_t platforms[16], ebiz[64], carriers[12], brokers[48];
};

void pop_init(struct population *p, uint64_t seed, uint64_t n);
/* USCC of enterprise idx (any idx < 2^40; idx >= n are not in the registry). */
void pop_uscc(const struct population *p, uint64_t idx, char out[19]);
enum ent_class pop_class(const struct population *p, uint64_t idx);
const char *ent_class_name(enum ent_class c);
/* An enterprise drawn by trade volume (a few large traders declare much of the traffic);
 * absent_share of the draws name enterprises absent from the registry. */
uint64_t pop_draw(const struct population *p, struct rng *r, double absent_share);
int pop_write_registry(const struct population *p, const char *path, uint64_t *counts);

struct sender {
	uint32_t id;
	char name[48];
	uint8_t v4[2][4]; /* /24 prefixes */
	unsigned n_v4;
	bool has_v6;
	uint8_t v6[16]; /* /48 prefix */
	uint8_t mac[6];
	uint16_t port; /* source UDP port */
	uint16_t vlan;
	uint32_t weight; /* share of traffic */
	uint64_t next_seq;
	uint64_t last_seq; /* highest seq sent, 0 before the first */
};

struct senders {
	struct sender *v;
	unsigned n;
	uint32_t *cum;	 /* cumulative weights */
	double v6_share; /* share of traffic of the senders with an IPv6 prefix */
};

void senders_init(struct senders *s, unsigned n, uint64_t seed);
void senders_free(struct senders *s);
/* The sender an entity submits through (stable per entity key). */
unsigned senders_for(const struct senders *s, uint64_t key);
int senders_write(const struct senders *s, const char *path);

/* ---- traffic (traffic.c): valid messages ---- */

struct msg {
	uint8_t buf[2048];
	size_t len;
	uint8_t type;
	unsigned sender;
	int manifest_slot; /* >= 0: a MANIFEST to publish once its datagram is written */
	bool must_end;	   /* framing broken: nothing may follow it in the datagram */
};

struct traffic;
struct traffic *traffic_new(const struct cwgen_opts *o, const struct corpus *c,
			    const struct population *p, const struct senders *s);
void traffic_free(struct traffic *t);
/* Next valid message. */
void traffic_next(struct traffic *t, struct msg *m);
/* The MANIFEST in slot may now be referred to by declarations (its datagram was written). */
void traffic_publish_manifest(struct traffic *t, int slot);
/* An import DECL whose transport_doc was never sent (NO_MANIFEST), for --bad. */
void traffic_decl_no_manifest(struct traffic *t, struct msg *m);
void traffic_summary(const struct traffic *t, FILE *f);

/* ---- broken traffic (bad.c) ---- */

enum bad_msg_kind {
	BM_TAIL_EMPTY,	 /* count claims a message, no byte left */
	BM_TAIL_SHORT,	 /* 1..3 bytes left */
	BM_LEN_UNDER4,	 /* length 0..3 */
	BM_LEN_PAST_END, /* length past the end of the datagram */
	BM_UNKNOWN_TYPE,
	BM_BODY_SHORT, /* shorter than the type's fixed part */
	BM_LEN_PLUS1,
	BM_LEN_MINUS1,
	BM_ITEMS_0,
	BM_ITEMS_51,
	BM_DOCS_9,
	BM_FIELD_CLASS, /* a character outside the field's class */
	BM_BLANK,	/* a not-blank field blanked */
	BM_DIRECTION,
	BM_DOC_TYPE,
	BM_NO_MANIFEST, /* valid, but its transport_doc was never sent */
	BM_NUM
};

enum bad_dgram_kind {
	BD_SHORT,
	BD_MAGIC,
	BD_COUNT0,
	BD_COUNT65,
	BD_RESPONSE,
	BD_FLAG_OTHER,
	BD_SENDER0,
	BD_SEQ0,
	BD_SEQ_OVERFLOW,
	BD_UNKNOWN_SENDER,
	BD_SPOOFED,
	BD_FRAG_MF,
	BD_FRAG_OFFSET,
	BD_FRAG_V6,
	BD_IP_CSUM,
	BD_UDP_CSUM,
	BD_UDP_CSUM0_V6,
	BD_PORT,
	BD_NOT_UDP,
	BD_NOT_IP,
	BD_TWO_VLANS,
	BD_TRUNC_L2,
	BD_TRUNC_L3,
	BD_TRUNC_L4,
	BD_UDP_LEN,
	BD_NUM
};

/* Where the next fault of each kind comes from: kinds, fields and variants are taken in turn
 * (not at random) so that even a small workload shows every one of them. */
struct bad_state {
	unsigned kind, dkind;
	unsigned field[8], blank[8];
	unsigned variant[BM_NUM + BD_NUM];
};

const char *bad_msg_name(enum bad_msg_kind k);
const char *bad_dgram_name(enum bad_dgram_kind k);
/* Breaks m in the next way that applies to its type; returns the kind used. */
enum bad_msg_kind bad_break_msg(struct bad_state *b, struct traffic *t, struct rng *r,
				struct msg *m);
/* The next datagram fault, and what it needs of the datagram it is applied to. */
enum bad_dgram_kind bad_next_dgram(struct bad_state *b);
bool bad_dgram_needs_v4(enum bad_dgram_kind k);
bool bad_dgram_needs_v6(enum bad_dgram_kind k);
bool bad_dgram_needs_vlan(enum bad_dgram_kind k);
/* Applies a header fault to a finished datagram payload (may shorten it). false if the fault
 * cannot apply to this datagram (a sequence overflow needs two messages). */
bool bad_dgram_payload(struct bad_state *b, enum bad_dgram_kind k, struct rng *r, uint8_t *p,
		       size_t *len);
/* Applies a frame fault to a frame built by frame_build (may change its length, up to cap). */
void bad_dgram_frame(struct bad_state *b, enum bad_dgram_kind k, struct rng *r, uint8_t *f,
		     size_t *len, size_t cap, bool has_vlan, bool ipv6);

/* ---- output (emit.c): datagrams, frames, pcap ---- */

struct emitter;
struct emitter *emit_new(const struct cwgen_opts *o, struct senders *s, struct traffic *t,
			 const char *pcap_path);
void emit_msg(struct emitter *e, struct msg *m);
int emit_finish(struct emitter *e); /* flushes everything, closes the pcap; 0 ok */
void emit_summary(const struct emitter *e, FILE *f);
void emit_free(struct emitter *e);
/* The --bad state (message faults are applied before emit_msg, datagram faults inside). */
struct bad_state *emit_bad_state(struct emitter *e);

/* ---- rule set (rulesgen.c) ---- */

int rules_write(const char *path, const struct cwgen_opts *o, const struct corpus *c,
		const struct population *p);

/* ---- small helpers ---- */

/* Writes n characters of an upper-case code drawn from the alphabet. */
void rand_chars(struct rng *r, char *out, unsigned n, const char *alphabet);

#endif
