/*
 * population.c - the enterprises (registry) and the senders (gateways' peers) of a workload.
 *
 * Why this file exists: benchmarks need registries of up to 10 M enterprises, so nothing here
 * keeps a table: enterprise i's USCC and class are pure functions of (seed, i). USCCs are unique
 * (an affine bijection over the 9-character organisation code), look like real ones (issuing
 * authority, region, organisation code, GB 32100 check character) and are 18 code characters.
 * Indices >= n name enterprises that exist in traffic but not in the registry (class unknown).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/cwgen/cwgen.h"

static const char uscc_chars[] = "0123456789ABCDEFGHJKLMNPQRTUWXY"; /* GB 32100: 31 */
#define ORG_SPACE 26439622160671ull				    /* 31^9 */

static const char *const regions[] = {
    "310115", "310000", "310104", "440300", "440304", "440100", "440115", "110000", "110105",
    "120000", "120116", "330200", "330100", "350200", "350100", "370200", "320500", "441900",
    "500000", "510100", "420100", "410100", "210200", "330700", "460000", "450100",
};

void pop_init(struct population *p, uint64_t seed, uint64_t n)
{
	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->n = n;
	p->mul = mix64(seed ^ 0x55CCull) % (ORG_SPACE - 1) + 1;
	if (p->mul % 31 == 0)
		p->mul++;
	p->add = mix64(seed ^ 0xADDull) % ORG_SPACE;
	/* Platforms, e-commerce enterprises, carriers and brokers are large firms: among the
	 * first 2 % of indices, which pop_draw favours. */
	uint64_t big = n / 50 ? n / 50 : 1;
	for (unsigned i = 0; i < 16; i++)
		p->platforms[i] = mix64(seed ^ 0x1000 ^ i) % big;
	for (unsigned i = 0; i < 64; i++)
		p->ebiz[i] = mix64(seed ^ 0x2000 ^ i) % big;
	for (unsigned i = 0; i < 12; i++)
		p->carriers[i] = mix64(seed ^ 0x3000 ^ i) % big;
	for (unsigned i = 0; i < 48; i++)
		p->brokers[i] = mix64(seed ^ 0x4000 ^ i) % big;
}

void pop_uscc(const struct population *p, uint64_t idx, char out[19])
{
	uint64_t h = mix64(p->seed ^ (idx * 0x9E3779B97F4A7C15ull) ^ 0x05CC);
	unsigned k = (unsigned)(h % 1000);
	const char *auth = k < 960 ? "91" : k < 980 ? "92" : k < 990 ? "93" : k < 995 ? "12" : "52";
	memcpy(out, auth, 2);
	memcpy(out + 2, regions[(h >> 16) % (sizeof(regions) / sizeof(regions[0]))], 6);
	uint64_t v = (uint64_t)(((unsigned __int128)idx * p->mul + p->add) % ORG_SPACE);
	for (int i = 16; i >= 8; i--) {
		out[i] = uscc_chars[v % 31];
		v /= 31;
	}
	static const unsigned w[17] = {1,  3,  9,  27, 19, 26, 16, 17, 20,
				       29, 25, 13, 8,  24, 10, 30, 28};
	static uint8_t val[128];
	if (!val['Y'])
		for (unsigned i = 0; i < 31; i++)
			val[(unsigned char)uscc_chars[i]] = (uint8_t)i;
	unsigned sum = 0;
	for (int i = 0; i < 17; i++)
		sum += val[(unsigned char)out[i]] * w[i];
	unsigned c = 31 - sum % 31;
	out[17] = uscc_chars[c == 31 ? 0 : c];
	out[18] = 0;
}

enum ent_class pop_class(const struct population *p, uint64_t idx)
{
	double u = unit_of(mix64(p->seed ^ 0xC1A55ull ^ (idx * 0xD1B54A32D192ED03ull)));
	/* The largest traders (first 1 %) are mostly AEO; the rest follow the credit mix of a
	 * Chinese customs district: most good, some warning, a few dishonest or serious. */
	if (idx < p->n / 100)
		return u < 0.35	   ? ENT_AEO
		       : u < 0.93  ? ENT_GOOD
		       : u < 0.98  ? ENT_WARNING
		       : u < 0.995 ? ENT_DISHONEST
				   : ENT_SERIOUS;
	return u < 0.025   ? ENT_AEO
	       : u < 0.805 ? ENT_GOOD
	       : u < 0.935 ? ENT_WARNING
	       : u < 0.985 ? ENT_DISHONEST
			   : ENT_SERIOUS;
}

const char *ent_class_name(enum ent_class c)
{
	static const char *const n[] = {"aeo", "good", "warning", "dishonest", "serious"};
	return n[c];
}

uint64_t pop_draw(const struct population *p, struct rng *r, double absent_share)
{
	if (rng_chance(r, absent_share))
		return p->n + rng_below(r, p->n ? p->n : 1);
	double u = rng_unit(r);
	uint64_t idx = (uint64_t)(u * u * sqrt(u) * (double)p->n); /* P(idx < k) = (k/n)^0.4 */
	return idx < p->n ? idx : p->n - 1;
}

int pop_write_registry(const struct population *p, const char *path, uint64_t *counts)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	static char buf[1 << 20];
	size_t o = 0;
	o += (size_t)sprintf(buf, "uscc,class\n");
	memset(counts, 0, 5 * sizeof(*counts));
	for (uint64_t i = 0; i < p->n; i++) {
		if (o > sizeof(buf) - 64) {
			if (fwrite(buf, 1, o, f) != o)
				break;
			o = 0;
		}
		pop_uscc(p, i, buf + o);
		o += 18;
		buf[o++] = ',';
		enum ent_class c = pop_class(p, i);
		counts[c]++;
		const char *name = ent_class_name(c);
		size_t n = strlen(name);
		memcpy(buf + o, name, n);
		o += n;
		buf[o++] = '\n';
	}
	bool ok = fwrite(buf, 1, o, f) == o;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* ---- senders ---- */

static const char *const sender_names[] = {
    "Shanghai Single Window",	 "Shenzhen Qianhai Single Window",
    "Guangzhou Nansha CBEC Hub", "Tianjin Port EDI Centre",
    "Ningbo Zhoushan Port EDI",	 "Xiamen Single Window",
    "Qingdao Port EDI",		 "Beijing Capital Airport Cargo",
    "Hangzhou CBEC Pilot Zone",	 "Fuzhou Pingtan CBEC",
    "Chongqing Rail Hub",	 "Zhengzhou Airport Hub",
    "Dalian Port EDI",		 "Haikou FTP Single Window",
    "Suzhou Industrial Park",	 "Chengdu Shuangliu Air Cargo",
};

void senders_init(struct senders *s, unsigned n, uint64_t seed)
{
	struct rng r;
	rng_seed(&r, seed, 0x5E4D);
	s->n = n;
	s->v = calloc(n, sizeof(*s->v));
	s->cum = calloc(n, sizeof(*s->cum));
	uint64_t total = 0, v6 = 0;
	for (unsigned i = 0; i < n; i++) {
		struct sender *x = &s->v[i];
		x->id = i + 1;
		if (i < sizeof(sender_names) / sizeof(sender_names[0]))
			snprintf(x->name, sizeof(x->name), "%s", sender_names[i]);
		else
			snprintf(x->name, sizeof(x->name), "Broker gateway %u", i + 1);
		uint8_t a[4] = {10, (uint8_t)(1 + (i >> 8)), (uint8_t)i, 0};
		memcpy(x->v4[0], a, 4);
		x->n_v4 = 1;
		if (i % 3 == 0) { /* a second site */
			uint8_t b[4] = {172, (uint8_t)(16 + ((i >> 8) & 15)), (uint8_t)i, 0};
			memcpy(x->v4[1], b, 4);
			x->n_v4 = 2;
		}
		x->has_v6 = i % 2 == 0;
		memset(x->v6, 0, 16);
		x->v6[0] = 0xfd;
		x->v6[4] = (uint8_t)((i + 1) >> 8);
		x->v6[5] = (uint8_t)(i + 1);
		uint8_t mac[6] = {0x02,	     0x53, 0x4e, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				  (uint8_t)i};
		memcpy(x->mac, mac, 6);
		x->port = (uint16_t)(20000 + rng_below(&r, 40000));
		x->vlan = (uint16_t)(100 + i % 3900);
		x->weight = (uint32_t)(1e6 / sqrt((double)i + 1));
		x->next_seq = rng_range(&r, 1ull << 30, 1ull << 50);
		total += x->weight;
		if (x->has_v6)
			v6 += x->weight;
		s->cum[i] = (uint32_t)total;
	}
	s->v6_share = total ? (double)v6 / (double)total : 0;
}

void senders_free(struct senders *s)
{
	free(s->v);
	free(s->cum);
	memset(s, 0, sizeof(*s));
}

unsigned senders_for(const struct senders *s, uint64_t key)
{
	uint64_t x = mix64(key ^ 0x5E4Dull) % s->cum[s->n - 1];
	unsigned lo = 0, hi = s->n - 1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (x < s->cum[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int senders_write(const struct senders *s, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	fprintf(f, "id,prefixes,name\n");
	for (unsigned i = 0; i < s->n; i++) {
		const struct sender *x = &s->v[i];
		fprintf(f, "%u,", x->id);
		for (unsigned k = 0; k < x->n_v4; k++)
			fprintf(f, "%s%u.%u.%u.0/24", k ? " " : "", x->v4[k][0], x->v4[k][1],
				x->v4[k][2]);
		if (x->has_v6)
			fprintf(f, " fd00:0:%x::/48", (unsigned)((x->v6[4] << 8) | x->v6[5]));
		fprintf(f, ",%s\n", x->name);
	}
	return fclose(f) == 0 ? 0 : -1;
}
