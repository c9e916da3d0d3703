/*
 * emit.c - messages into datagrams, datagrams into Ethernet frames, frames into requests.pcap.
 *
 * Why this file exists: how messages are batched decides the gateway's per-packet cost, so
 * cwgen batches the way a sender does: per sender, in order, up to a drawn count (--batch mean,
 * at most 64) or the 1500-byte MTU, a single larger message going alone in a jumbo frame. Each
 * sender numbers its messages from a random large start (the datagram's seq is its first
 * message's). Frames are built by the wire library (frame_build); --bad faults are applied on
 * top, and retransmissions and stale datagrams are made here because they are about sequence
 * numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "bench/cwgen/cwgen.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"

#define DGRAM_CAP   2304 /* one jumbo message (<= 1897 bytes) or an MTU's worth */
#define FRAME_CAP   (DGRAM_CAP + 128)
#define MTU	    1500
#define START_US    1740960000000000ull /* 2025-03-03T00:00:00Z */
#define MEAN_GAP_US 20

struct pending {
	uint8_t buf[DGRAM_CAP];
	size_t len;
	uint16_t count, target;
	bool v6, vlan, stale;
	int fault; /* enum bad_dgram_kind, -1 none */
	int manifests[CWP_MAX_MSGS];
	unsigned n_manifests;
};

struct emitter {
	const struct cwgen_opts *o;
	struct senders *s;
	struct traffic *t;
	struct pcap_out *pcap;
	struct pending *pend;
	struct rng r;
	struct bad_state bad;
	uint64_t ts;
	double p6; /* probability that a datagram of an IPv6-capable sender goes over IPv6 */
	uint8_t retx[FRAME_CAP];
	size_t retx_len;
	int err;

	/* summary */
	uint64_t dgrams, frames, bytes, msgs_ok, v6, vlan, jumbo, retransmits, stale, stale_msgs;
	uint64_t drops[BD_NUM], dropped_msgs;
};

static const uint8_t gw_mac[6] = {0x02, 0xc1, 0xea, 0x00, 0x00, 0x01};
static const uint8_t gw_v4[4] = {10, 0, 0, 1};
static const uint8_t gw_v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

struct emitter *emit_new(const struct cwgen_opts *o, struct senders *s, struct traffic *t,
			 const char *pcap_path)
{
	struct emitter *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->pend = calloc(s->n, sizeof(*e->pend));
	char err[256];
	e->pcap = pcapout_open(pcap_path, err);
	if (!e->pend || !e->pcap) {
		fprintf(stderr, "cwgen: %s\n", e->pcap ? "out of memory" : err);
		if (e->pcap)
			pcapout_close(e->pcap);
		free(e->pend);
		free(e);
		return NULL;
	}
	e->o = o;
	e->s = s;
	e->t = t;
	rng_seed(&e->r, o->seed, 0xE417);
	e->ts = START_US;
	e->p6 = s->v6_share > 0 ? o->ipv6 / s->v6_share : 0;
	if (e->p6 > 1)
		e->p6 = 1;
	return e;
}

static void write_frame(struct emitter *e, const uint8_t *f, size_t len)
{
	if (pcapout_write(e->pcap, f, len, e->ts) != 0)
		e->err = -1;
	e->ts += 1 + rng_below(&e->r, 2 * MEAN_GAP_US);
	e->frames++;
	e->bytes += len;
}

static void start_dgram(struct emitter *e, struct pending *pd, const struct sender *x)
{
	struct rng *r = &e->r;
	pd->len = CWP_DGRAM_HDR_LEN;
	pd->count = 0;
	pd->n_manifests = 0;
	pd->fault = -1;
	pd->stale = false;
	unsigned b = (unsigned)(e->o->batch + 0.5);
	pd->target = (uint16_t)(1 + rng_below(r, 2 * b - 1)); /* mean --batch */
	if (pd->target > CWP_MAX_MSGS)
		pd->target = CWP_MAX_MSGS;
	if (e->o->bad > 0) {
		if (rng_chance(r, e->o->bad / 4))
			pd->fault = (int)bad_next_dgram(&e->bad);
		else if (rng_chance(r, e->o->bad / 16))
			pd->stale = true;
	}
	enum bad_dgram_kind k = (enum bad_dgram_kind)pd->fault;
	bool want6 = x->has_v6 && rng_chance(r, e->p6);
	pd->v6 =
	    pd->fault >= 0 ? bad_dgram_needs_v6(k) || (!bad_dgram_needs_v4(k) && want6) : want6;
	bool want_vlan = rng_chance(r, e->o->vlan);
	pd->vlan = want_vlan || (pd->fault >= 0 && bad_dgram_needs_vlan(k));
	if (pd->fault == BD_SEQ_OVERFLOW && pd->target < 2)
		pd->target = 2;
}

/* Source address: inside the sender's last registered prefix, or outside all when spoofed. */
static void source_ip(struct emitter *e, const struct sender *x, bool v6, bool spoof,
		      uint8_t ip[16])
{
	memset(ip, 0, 16);
	if (v6) {
		memcpy(ip, x->v6, 6);
		if (!x->has_v6) { /* a sender without IPv6 registration still has an address */
			ip[0] = 0xfd;
			ip[4] = (uint8_t)(x->id >> 8);
			ip[5] = (uint8_t)x->id;
		}
		ip[15] = 10;
		if (spoof) {
			static const uint8_t doc[4] = {0x20, 0x01, 0x0d, 0xb8}; /* 2001:db8::/32 */
			memcpy(ip, doc, 4);
			ip[15] = (uint8_t)(1 + rng_below(&e->r, 250));
		}
		return;
	}
	memcpy(ip, x->v4[x->n_v4 - 1], 4);
	ip[3] = 10;
	if (spoof) {
		unsigned v = (unsigned)rng_below(&e->r, 3);
		if (v == 0 || e->s->n < 2) { /* 198.51.100.0/24, TEST-NET-2 */
			ip[0] = 198;
			ip[1] = 51;
			ip[2] = 100;
		} else if (v == 1) { /* another sender's prefix */
			const struct sender *y = &e->s->v[(x->id) % e->s->n];
			memcpy(ip, y->v4[0], 4);
		} else { /* next door, one /24 off */
			ip[2] = (uint8_t)(ip[2] + 128);
			ip[1] = 255;
		}
		ip[3] = (uint8_t)(1 + rng_below(&e->r, 250));
	}
}

static void flush(struct emitter *e, unsigned si)
{
	struct pending *pd = &e->pend[si];
	if (!pd->count)
		return;
	struct sender *x = &e->s->v[si];
	struct rng *r = &e->r;
	uint64_t seq;
	if (pd->stale && x->last_seq > 300000) {
		seq = x->last_seq - 100000 - pd->count - rng_below(r, 100000);
		e->stale++;
		e->stale_msgs += pd->count;
	} else {
		pd->stale = false;
		seq = x->next_seq;
		x->next_seq += pd->count;
		x->last_seq = seq + pd->count - 1;
	}
	enum bad_dgram_kind k = (enum bad_dgram_kind)pd->fault;
	uint32_t sender_id = x->id;
	if (pd->fault == BD_UNKNOWN_SENDER)
		sender_id = e->s->n + 1 + (uint32_t)rng_below(r, 1000);
	cwp_put_dgram_hdr(pd->buf, pd->count, 0, sender_id, seq);
	size_t len = pd->len;
	if (pd->fault >= 0 && !bad_dgram_payload(&e->bad, k, r, pd->buf, &len)) {
		k = BD_SEQ0;
		pd->fault = BD_SEQ0;
		bad_dgram_payload(&e->bad, k, r, pd->buf, &len);
	}

	struct frame_addr a;
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, x->mac, 6);
	memcpy(a.dst_mac, gw_mac, 6);
	a.has_vlan = pd->vlan;
	a.vlan_tci = x->vlan;
	a.ipv6 = pd->v6;
	source_ip(e, x, pd->v6, pd->fault == BD_SPOOFED, a.src_ip);
	memcpy(a.dst_ip, pd->v6 ? gw_v6 : gw_v4, pd->v6 ? 16 : 4);
	a.src_port = x->port;
	a.dst_port = CWP_DEFAULT_PORT;
	if (pd->fault == BD_PORT) {
		static const uint16_t ports[] = {7351, 7349, 53, 0x1CB6};
		a.dst_port = ports[rng_below(r, 4)];
	}
	uint8_t frame[FRAME_CAP];
	size_t flen = frame_build(frame, sizeof(frame), &a, pd->buf, len);
	if (pd->fault >= 0)
		bad_dgram_frame(&e->bad, k, r, frame, &flen, sizeof(frame), pd->vlan, pd->v6);
	write_frame(e, frame, flen);

	e->dgrams++;
	e->v6 += pd->v6;
	e->vlan += pd->vlan;
	e->jumbo += flen - 14 - (pd->vlan ? 4 : 0) > MTU;
	if (pd->fault >= 0) {
		e->drops[pd->fault]++;
		e->dropped_msgs += pd->count;
	} else if (!pd->stale) {
		e->msgs_ok += pd->count;
		for (unsigned i = 0; i < pd->n_manifests; i++)
			traffic_publish_manifest(e->t, pd->manifests[i]);
	}
	/* A retransmission goes out after the next datagram, as after a lost answer. */
	if (e->retx_len) {
		write_frame(e, e->retx, e->retx_len);
		e->retransmits++;
		e->retx_len = 0;
	} else if (pd->fault < 0 && e->o->bad > 0 && rng_chance(r, e->o->bad / 8)) {
		memcpy(e->retx, frame, flen);
		e->retx_len = flen;
	}
	pd->count = 0;
}

void emit_msg(struct emitter *e, struct msg *m)
{
	unsigned si = m->sender;
	struct pending *pd = &e->pend[si];
	if (!pd->count)
		start_dgram(e, pd, &e->s->v[si]);
	size_t limit = MTU - (pd->v6 ? 40 : 20) - 8;
	if (pd->count && pd->len + m->len > limit) {
		flush(e, si);
		start_dgram(e, pd, &e->s->v[si]);
	}
	memcpy(pd->buf + pd->len, m->buf, m->len);
	pd->len += m->len;
	if (m->manifest_slot >= 0)
		pd->manifests[pd->n_manifests++] = m->manifest_slot;
	pd->count++;
	if (pd->count >= pd->target || m->must_end || pd->len >= limit)
		flush(e, si);
}

int emit_finish(struct emitter *e)
{
	for (unsigned i = 0; i < e->s->n; i++)
		flush(e, i);
	if (e->retx_len) {
		write_frame(e, e->retx, e->retx_len);
		e->retransmits++;
		e->retx_len = 0;
	}
	pcapout_close(e->pcap);
	e->pcap = NULL;
	return e->err;
}

void emit_summary(const struct emitter *e, FILE *f)
{
	fprintf(
	    f,
	    "  frames %llu (%llu datagrams + %llu retransmissions), %llu bytes, %.2f messages "
	    "per datagram, IPv6 %llu, VLAN %llu, jumbo %llu\n",
	    (unsigned long long)e->frames, (unsigned long long)e->dgrams,
	    (unsigned long long)e->retransmits, (unsigned long long)e->bytes,
	    e->dgrams ? (double)(e->msgs_ok + e->dropped_msgs + e->stale_msgs) / (double)e->dgrams
		      : 0.0,
	    (unsigned long long)e->v6, (unsigned long long)e->vlan, (unsigned long long)e->jumbo);
	uint64_t nd = 0;
	for (int k = 0; k < BD_NUM; k++)
		nd += e->drops[k];
	if (!nd && !e->stale && !e->retransmits)
		return;
	fprintf(f,
		"  datagrams to drop %llu (%llu messages lost with them), stale %llu (%llu "
		"messages):",
		(unsigned long long)nd, (unsigned long long)e->dropped_msgs,
		(unsigned long long)e->stale, (unsigned long long)e->stale_msgs);
	for (int k = 0; k < BD_NUM; k++)
		if (e->drops[k])
			fprintf(f, " %s %llu;", bad_dgram_name((enum bad_dgram_kind)k),
				(unsigned long long)e->drops[k]);
	fprintf(f, "\n");
}

void emit_free(struct emitter *e)
{
	if (!e)
		return;
	if (e->pcap)
		pcapout_close(e->pcap);
	free(e->pend);
	free(e);
}

struct bad_state *emit_bad_state(struct emitter *e)
{
	return &e->bad;
}
