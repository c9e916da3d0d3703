/*
 * hostile.c - writes captures of hostile traffic for the gateway's robustness test, and the
 * counts a correct gateway must report for them.
 *
 * Why this file exists: DESIGN §3.4 says every frame that is not answered is dropped and counted
 * under its cause. Knowing the cause of each generated frame lets the test check the gateway's
 * counters exactly, not just that it survived. Two modes:
 *
 *   hostile known OUT.pcap EXPECT.json --seed N --each K
 *       K frames of each known kind (truncated frames, wrong magic, every header error, unknown
 *       sender, spoofed source, IPv4 and IPv6 fragments, bad IP and UDP checksums, wrong port,
 *       other protocols, broken and unknown messages in valid datagrams, valid orders), shuffled;
 *       EXPECT.json holds the counters the gateway must show.
 *   hostile random OUT.pcap --seed N --count K
 *       K frames of random bytes and of valid frames with random bytes flipped: no expectations
 *       besides "no crash, everything counted".
 *
 * Senders 1, 2 and 3 must be registered with prefix 10.1.0.0/16; no rule set is needed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/cwp.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"

#define SENDER	1u
#define UNKNOWN 0x7777u
#define MAXF	2048

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct frame {
	uint16_t len;
	uint16_t kind; /* what it tests; known mode sends each kind as one flood */
	uint32_t idx;  /* generation order */
	uint8_t b[MAXF];
};
static struct frame *frames;
static size_t nframes, capframes;
static uint16_t cur_kind;

static struct frame *add(void)
{
	if (nframes == capframes) {
		capframes = capframes ? capframes * 2 : 4096;
		frames = realloc(frames, capframes * sizeof(*frames));
		if (!frames) {
			perror("hostile");
			exit(2);
		}
	}
	frames[nframes].kind = cur_kind;
	frames[nframes].idx = (uint32_t)nframes;
	return &frames[nframes++];
}

/* Valid datagrams of different kinds come from different senders so that each flood keeps its
 * own increasing sequence numbers (no STALE rejects whatever the order of the floods). */
static uint64_t next_seq[4] = {1, 1, 1, 1};

static struct frame_addr addr_v4(const char *src_last, uint16_t dport)
{
	struct frame_addr a;
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, "\x02\x00\x00\x00\x00\x01", 6);
	memcpy(a.dst_mac, "\x02\x00\x00\x00\x00\x02", 6);
	uint8_t src[4] = {10, 1, 0, 5}, dst[4] = {10, 0, 0, 1};
	if (src_last)
		memcpy(src, src_last, 4);
	memcpy(a.src_ip, src, 4);
	memcpy(a.dst_ip, dst, 4);
	a.src_port = 40000;
	a.dst_port = dport;
	return a;
}

/* A datagram with one ORDER message; returns the payload length. */
static size_t order_dgram(uint8_t *p, uint32_t sender, uint64_t seq, unsigned n)
{
	size_t off = CWP_DGRAM_HDR_LEN;
	for (unsigned k = 0; k < n; k++) {
		struct cwp_order_in o;
		memset(&o, 0, sizeof(o));
		snprintf(o.order_no, sizeof(o.order_no), "HX%llu", (unsigned long long)(seq + k));
		snprintf(o.platform, sizeof(o.platform), "PLATFORM01");
		memcpy(o.currency, "CNY", 4);
		o.buyer = rnd();
		o.amount = 1000 + rnd() % 1000;
		off += cwp_put_order(p + off, 1400 - off, &o);
	}
	cwp_put_dgram_hdr(p, (uint16_t)n, 0, sender, seq);
	return off;
}

static void put_frame(const struct frame_addr *a, const uint8_t *payload, size_t len)
{
	struct frame *f = add();
	f->len = (uint16_t)frame_build(f->b, MAXF, a, payload, len);
	if (!f->len) {
		fprintf(stderr, "hostile: frame does not fit\n");
		exit(2);
	}
}

/* A valid request frame from registered sender `sender` (1..3), consuming sequence numbers. */
static void valid_frame(uint32_t sender, unsigned msgs)
{
	uint8_t p[1500];
	struct frame_addr a = addr_v4(NULL, CWP_DEFAULT_PORT);
	put_frame(&a, p, order_dgram(p, sender, next_seq[sender], msgs));
	next_seq[sender] += msgs;
}

static void fix_ip_csum(struct frame *f)
{
	uint8_t *ip = f->b + 14;
	ip[10] = ip[11] = 0;
	uint16_t c = frame_ipv4_hdr_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

struct expect {
	uint64_t rx, answered, messages;
	uint64_t hdr[CWP_DG_NUM_ERRS];
	uint64_t unknown_sender, source;
	uint64_t fd[FRAME_DROP_NUM];
	uint64_t rejects[CWP_NUM_REJECTS];
	uint64_t accepted;
};

static void gen_known(unsigned each, struct expect *e)
{
	uint8_t p[1500];
	for (unsigned i = 0; i < each; i++) {
		cur_kind = 0;
		/* valid: one ORDER each, ACCEPTED */
		valid_frame(SENDER, 1);
		e->answered++;
		e->messages++;
		e->accepted++;

		/* truncated valid frame: inside Ethernet (L2) or inside IP (L3) */
		cur_kind++;
		valid_frame(SENDER, 1);
		next_seq[SENDER]--; /* this one is never seen */
		struct frame *f = &frames[nframes - 1];
		if (i & 1) {
			f->len = (uint16_t)(rnd() % 14);
			e->fd[FRAME_DROP_L2]++;
		} else {
			f->len = (uint16_t)(14 + rnd() % (f->len - 14 - 1));
			e->fd[FRAME_DROP_L3]++;
		}

		/* header errors */
		cur_kind++;
		const uint64_t seq = 1000000;
		struct frame_addr a = addr_v4(NULL, CWP_DEFAULT_PORT);
		size_t n = order_dgram(p, SENDER, seq, 1);
		p[0] = 'X';
		put_frame(&a, p, n);
		e->hdr[CWP_DG_MAGIC]++;
		put_frame(&a, p, rnd() % CWP_DGRAM_HDR_LEN); /* SHORT (checked before magic) */
		e->hdr[CWP_DG_SHORT]++;
		n = order_dgram(p, SENDER, seq, 1);
		cwp_put_dgram_hdr(p, (i & 1) ? 0 : 65, 0, SENDER, seq);
		put_frame(&a, p, n);
		e->hdr[CWP_DG_COUNT]++;
		cwp_put_dgram_hdr(p, 1, CWP_FLAG_RESPONSE, SENDER, seq);
		put_frame(&a, p, n);
		e->hdr[CWP_DG_FLAGS]++;
		cwp_put_dgram_hdr(p, 1, 0, 0, seq);
		put_frame(&a, p, n);
		e->hdr[CWP_DG_SENDER]++;
		cwp_put_dgram_hdr(p, 1, 0, SENDER, 0);
		put_frame(&a, p, n);
		e->hdr[CWP_DG_SEQ]++;

		/* strangers */
		cur_kind++;
		n = order_dgram(p, UNKNOWN, seq, 1);
		put_frame(&a, p, n);
		e->unknown_sender++;
		struct frame_addr spoof = addr_v4("\x0a\x09\x09\x09", CWP_DEFAULT_PORT);
		n = order_dgram(p, SENDER, seq, 1);
		put_frame(&spoof, p, n);
		e->source++;

		/* IPv4 fragment (MF or an offset), IPv6 fragment header */
		cur_kind++;
		put_frame(&a, p, n);
		f = &frames[nframes - 1];
		f->b[14 + 6] = (i & 1) ? 0x20 : 0x00; /* MF */
		f->b[14 + 7] = (i & 1) ? 0x00 : 0x10; /* offset */
		fix_ip_csum(f);
		e->fd[FRAME_DROP_FRAGMENT]++;
		struct frame_addr a6 = a;
		a6.ipv6 = true;
		memcpy(a6.src_ip,
		       "\xfd\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05", 16);
		memcpy(a6.dst_ip,
		       "\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
		put_frame(&a6, p, n);
		f = &frames[nframes - 1];
		/* insert an 8-byte fragment header after the IPv6 header */
		memmove(f->b + 14 + 48, f->b + 14 + 40, f->len - 54u);
		f->b[14 + 6] = 44;
		uint8_t *fh = f->b + 14 + 40;
		memset(fh, 0, 8);
		fh[0] = 17;
		fh[3] = 1; /* M flag */
		f->len = (uint16_t)(f->len + 8);
		uint16_t pl = (uint16_t)((f->b[14 + 4] << 8 | f->b[14 + 5]) + 8);
		f->b[14 + 4] = (uint8_t)(pl >> 8);
		f->b[14 + 5] = (uint8_t)pl;
		e->fd[FRAME_DROP_FRAGMENT]++;

		/* checksums */
		cur_kind++;
		put_frame(&a, p, n);
		frames[nframes - 1].b[14 + 10] ^= 0x5a;
		e->fd[FRAME_DROP_IP_CSUM]++;
		put_frame(&a, p, n);
		f = &frames[nframes - 1];
		f->b[14 + 20 + 6] ^= 0x01;
		if (!f->b[14 + 26] && !f->b[14 + 27])
			f->b[14 + 27] = 1;
		e->fd[FRAME_DROP_UDP_CSUM]++;

		/* not ours: another UDP port, another protocol, ARP */
		cur_kind++;
		struct frame_addr other = addr_v4(NULL, 53);
		put_frame(&other, p, n);
		e->fd[FRAME_DROP_PORT]++;
		put_frame(&a, p, n);
		f = &frames[nframes - 1];
		f->b[14 + 9] = 6; /* TCP */
		fix_ip_csum(f);
		e->fd[FRAME_DROP_NOT_UDP]++;
		f = add();
		memset(f->b, 0xff, 6);
		memcpy(f->b + 6, "\x02\x00\x00\x00\x00\x01\x08\x06", 8);
		memset(f->b + 14, 0, 28);
		f->len = 60;
		e->fd[FRAME_DROP_L2]++;

		/* valid datagrams with bad messages: answered with rejects */
		cur_kind++;
		n = order_dgram(p, 2, next_seq[2], 2);
		p[CWP_DGRAM_HDR_LEN + 2] =
		    2; /* first message's length < 4: MALFORMED, rest unread */
		p[CWP_DGRAM_HDR_LEN + 3] = 0;
		put_frame(&a, p, n);
		next_seq[2] += 2;
		e->answered++;
		e->messages++;
		e->rejects[CWP_REJ_MALFORMED]++;
		cur_kind++;
		n = order_dgram(p, 3, next_seq[3], 1);
		p[CWP_DGRAM_HDR_LEN] = 0x42; /* unknown type */
		put_frame(&a, p, n);
		next_seq[3] += 1;
		e->answered++;
		e->messages++;
		e->rejects[CWP_REJ_UNSUPPORTED]++;
	}
	e->rx = nframes;
}

static void gen_random(unsigned count)
{
	uint8_t p[1500];
	for (unsigned i = 0; i < count; i++) {
		struct frame *f;
		switch (i % 3) {
		case 0: /* random bytes */
			f = add();
			f->len = (uint16_t)(rnd() % 1600);
			for (unsigned k = 0; k < f->len; k++)
				f->b[k] = (uint8_t)rnd();
			break;
		case 1: { /* a valid datagram with CWP bytes changed, checksums right */
			uint32_t sender = 1 + (uint32_t)(rnd() % 3);
			unsigned msgs = 1 + (unsigned)(rnd() % 8);
			size_t n = order_dgram(p, sender, next_seq[sender], msgs);
			next_seq[sender] += msgs;
			unsigned flips = 1 + (unsigned)(rnd() % 4);
			for (unsigned k = 0; k < flips; k++)
				p[rnd() % n] = (uint8_t)rnd();
			if (rnd() % 4 == 0)
				n = rnd() % (n + 1);
			struct frame_addr a = addr_v4(NULL, CWP_DEFAULT_PORT);
			put_frame(&a, p, n);
			break;
		}
		default: /* a valid frame with any bytes changed, cut short at times */
			valid_frame(1 + (uint32_t)(rnd() % 3), 1 + (unsigned)(rnd() % 8));
			f = &frames[nframes - 1];
			for (unsigned k = 0, flips = 1 + (unsigned)(rnd() % 4); k < flips; k++)
				f->b[rnd() % f->len] = (uint8_t)rnd();
			if (rnd() % 4 == 0)
				f->len = (uint16_t)(rnd() % (f->len + 1u));
		}
	}
}

static int by_kind(const void *x, const void *y)
{
	const struct frame *a = x, *b = y;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx; /* keep generation order within a kind */
}

static void map(FILE *f, const char *key, const uint64_t *v, unsigned from, unsigned to,
		const char *(*name)(unsigned))
{
	fprintf(f, ",\n  \"%s\": {", key);
	for (unsigned i = from; i < to; i++)
		fprintf(f, "%s\"%s\": %llu", i > from ? ", " : "", name(i),
			(unsigned long long)v[i]);
	fprintf(f, "}");
}
static const char *hname(unsigned i)
{
	return cwp_dgram_err_name((enum cwp_dgram_err)i);
}
static const char *fname(unsigned i)
{
	return frame_drop_name((enum frame_drop)i);
}
static const char *rname(unsigned i)
{
	return cwp_reject_name((uint16_t)i);
}

static int write_expect(const char *path, const struct expect *e)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "{\n  \"rx_packets\": %llu, \"answered_datagrams\": %llu, \"messages\": %llu",
		(unsigned long long)e->rx, (unsigned long long)e->answered,
		(unsigned long long)e->messages);
	fprintf(f, ",\n  \"drops\": {\"unknown_sender\": %llu, \"source\": %llu}",
		(unsigned long long)e->unknown_sender, (unsigned long long)e->source);
	map(f, "header_errors", e->hdr, 1, CWP_DG_NUM_ERRS, hname);
	map(f, "frame_drops", e->fd, 1, FRAME_DROP_NUM, fname);
	map(f, "rejects", e->rejects, 1, CWP_NUM_REJECTS, rname);
	fprintf(f, ",\n  \"by_status\": {\"ACCEPTED\": %llu}\n}\n",
		(unsigned long long)e->accepted);
	return fclose(f);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: hostile known OUT.pcap EXPECT.json --seed N --each K\n"
				"       hostile random OUT.pcap --seed N --count K\n");
		return 2;
	}
	bool known = !strcmp(argv[1], "known");
	const char *out = argv[2], *expect = NULL;
	int i = 3;
	if (known) {
		if (argc < 4)
			return 2;
		expect = argv[3];
		i = 4;
	}
	unsigned each = 100, count = 1000;
	for (; i + 1 < argc; i += 2) {
		unsigned long v = strtoul(argv[i + 1], NULL, 0);
		if (!strcmp(argv[i], "--seed"))
			rng = v * 2654435761u + 88172645463325252ull;
		else if (!strcmp(argv[i], "--each"))
			each = (unsigned)v;
		else if (!strcmp(argv[i], "--count"))
			count = (unsigned)v;
	}
	struct expect e;
	memset(&e, 0, sizeof(e));
	if (known)
		gen_known(each, &e);
	else
		gen_random(count);
	if (known)
		qsort(frames, nframes, sizeof(frames[0]), by_kind); /* floods of each kind */
	char err[256];
	struct pcap_out *po = pcapout_open(out, err);
	if (!po) {
		fprintf(stderr, "hostile: %s\n", err);
		return 2;
	}
	for (size_t k = 0; k < nframes; k++)
		pcapout_write(po, frames[k].b, frames[k].len, k);
	pcapout_close(po);
	if (known && write_expect(expect, &e)) {
		perror(expect);
		return 2;
	}
	fprintf(stderr, "hostile: %zu frames\n", nframes);
	return 0;
}
