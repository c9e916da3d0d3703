/*
 * pcapcmp.c - compares the gateway's response capture with a reference one (tests only).
 *
 * Why this file exists: the end-to-end tests must say whether `clearway` sent exactly the
 * datagrams `cwctl simulate` (or the conformance vectors) say it should: the same UDP payloads
 * to the same addresses and ports, with valid checksums. This tool reads pcap files and parses
 * Ethernet/802.1Q/IPv4/IPv6/UDP by itself, sharing no code with the gateway or cwctl, so a bug
 * there cannot hide itself here.
 *
 *   pcapcmp seq GOT WANT [--ignore-version]   datagram by datagram, in order
 *   pcapcmp multiset GOT WANT                 same datagrams, any order
 *   pcapcmp versions GOT                      per answer stream, rule-set versions never go back
 *   pcapcmp count CAP                         "UDP-datagrams verdicts other-frames"
 *
 * seq, multiset and versions also check GOT's IPv4 header and UDP checksums. Exit 0 equal, 1
 * different, 2 usage or unreadable file.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dgram {
	unsigned frame; /* 1-based frame number in its file */
	bool vlan, ipv6;
	uint16_t tci;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint8_t *payload;
	size_t len;
	bool csum_ok;
};

struct capture {
	struct dgram *v;
	size_t n, cap;
	size_t non_udp; /* frames that are not UDP datagrams */
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += be16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}
static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Parses one frame; false when it is not a whole UDP datagram. */
static bool parse(const uint8_t *f, size_t n, struct dgram *d)
{
	size_t off = 14;
	if (n < 14)
		return false;
	uint16_t et = be16(f + 12);
	if (et == 0x8100) {
		if (n < 18)
			return false;
		d->vlan = true;
		d->tci = be16(f + 14);
		et = be16(f + 16);
		off = 18;
	}
	const uint8_t *ip = f + off;
	size_t iplen, hl;
	uint32_t pseudo;
	if (et == 0x0800) {
		if (n < off + 20 || (ip[0] >> 4) != 4)
			return false;
		hl = (size_t)(ip[0] & 15) * 4;
		iplen = be16(ip + 2);
		if (hl < 20 || iplen < hl + 8 || n < off + iplen || ip[9] != 17)
			return false;
		memcpy(d->src, ip + 12, 4);
		memcpy(d->dst, ip + 16, 4);
		d->csum_ok = fold(sum16(ip, hl, 0)) == 0xffff;
		pseudo = sum16(ip + 12, 8, 0) + 17;
	} else if (et == 0x86DD) {
		if (n < off + 40 || (ip[0] >> 4) != 6 || ip[6] != 17)
			return false;
		d->ipv6 = true;
		hl = 40;
		iplen = 40 + (size_t)be16(ip + 4);
		if (n < off + iplen || iplen < 48)
			return false;
		memcpy(d->src, ip + 8, 16);
		memcpy(d->dst, ip + 24, 16);
		d->csum_ok = true;
		pseudo = sum16(ip + 8, 32, 0) + 17;
	} else {
		return false;
	}
	const uint8_t *udp = ip + hl;
	size_t ulen = be16(udp + 4);
	if (ulen < 8 || hl + ulen > iplen)
		return false;
	d->sport = be16(udp);
	d->dport = be16(udp + 2);
	if (be16(udp + 6) != 0 || d->ipv6)
		d->csum_ok =
		    d->csum_ok && fold(sum16(udp, ulen, pseudo + (uint32_t)ulen)) == 0xffff;
	d->len = ulen - 8;
	d->payload = malloc(d->len ? d->len : 1);
	if (!d->payload)
		return false;
	memcpy(d->payload, udp + 8, d->len);
	return true;
}

static int load(const char *path, struct capture *c)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t gh[24];
	if (fread(gh, 1, 24, f) != 24) {
		fprintf(stderr, "%s: not a pcap file\n", path);
		fclose(f);
		return -1;
	}
	uint32_t magic = le32(gh);
	bool swap = false;
	if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1)
		swap = true;
	else if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
		fprintf(stderr, "%s: not a classic pcap file\n", path);
		fclose(f);
		return -1;
	}
	static uint8_t buf[262144];
	uint8_t rh[16];
	unsigned frame = 0;
	while (fread(rh, 1, 16, f) == 16) {
		uint32_t caplen = le32(rh + 8);
		if (swap)
			caplen = __builtin_bswap32(caplen);
		if (caplen > sizeof(buf) || fread(buf, 1, caplen, f) != caplen) {
			fprintf(stderr, "%s: truncated record\n", path);
			fclose(f);
			return -1;
		}
		frame++;
		struct dgram d;
		memset(&d, 0, sizeof(d));
		d.frame = frame;
		if (!parse(buf, caplen, &d)) {
			c->non_udp++;
			continue;
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 1024;
			c->v = realloc(c->v, c->cap * sizeof(*c->v));
			if (!c->v) {
				fclose(f);
				return -1;
			}
		}
		c->v[c->n++] = d;
	}
	fclose(f);
	return 0;
}

static void ipstr(const struct dgram *d, const uint8_t *a, char *out, size_t n)
{
	if (!d->ipv6) {
		snprintf(out, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	size_t o = 0;
	for (int i = 0; i < 16; i += 2)
		o += (size_t)snprintf(out + o, n - o, "%s%x", i ? ":" : "", be16(a + i));
}

static void show(const char *tag, const struct dgram *d)
{
	char s[64], t[64];
	ipstr(d, d->src, s, sizeof(s));
	ipstr(d, d->dst, t, sizeof(t));
	fprintf(stderr, "  %s frame %u: %s:%u -> %s:%u vlan %s%u, %zu payload bytes\n", tag,
		d->frame, s, d->sport, t, d->dport, d->vlan ? "" : "none/", d->tci, d->len);
}

/* Bytes of a verdict that hold the rule-set version: header 24, each message 76, version at
 * body offset 16 (message offset 20). */
static bool is_version_byte(size_t i)
{
	if (i < 24)
		return false;
	size_t k = (i - 24) % 76;
	return k >= 20 && k < 24;
}

static int cmp_dgram(const struct dgram *a, const struct dgram *b, bool ignore_version)
{
	if (a->ipv6 != b->ipv6)
		return a->ipv6 ? 1 : -1;
	if (a->vlan != b->vlan)
		return a->vlan ? 1 : -1;
	if (a->vlan && a->tci != b->tci)
		return a->tci < b->tci ? -1 : 1;
	int r = memcmp(a->src, b->src, 16);
	if (!r)
		r = memcmp(a->dst, b->dst, 16);
	if (r)
		return r;
	if (a->sport != b->sport)
		return a->sport < b->sport ? -1 : 1;
	if (a->dport != b->dport)
		return a->dport < b->dport ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	for (size_t i = 0; i < a->len; i++) {
		if (a->payload[i] == b->payload[i] || (ignore_version && is_version_byte(i)))
			continue;
		return a->payload[i] < b->payload[i] ? -1 : 1;
	}
	return 0;
}

static int qcmp(const void *x, const void *y)
{
	return cmp_dgram(x, y, false);
}

static int check_csums(const struct capture *got)
{
	size_t bad = 0;
	for (size_t i = 0; i < got->n; i++)
		if (!got->v[i].csum_ok) {
			if (bad++ < 3)
				show("bad checksum", &got->v[i]);
		}
	if (bad)
		fprintf(stderr, "pcapcmp: %zu datagram(s) with a bad checksum\n", bad);
	return bad ? 1 : 0;
}

static size_t first_diff(const struct dgram *a, const struct dgram *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	for (size_t i = 0; i < n; i++)
		if (a->payload[i] != b->payload[i])
			return i;
	return n;
}

static int mode_seq(struct capture *got, struct capture *want, bool ignore_version)
{
	int rc = check_csums(got);
	size_t n = got->n < want->n ? got->n : want->n, diffs = 0;
	for (size_t i = 0; i < n; i++) {
		if (!cmp_dgram(&got->v[i], &want->v[i], ignore_version))
			continue;
		if (diffs++ < 3) {
			fprintf(stderr, "pcapcmp: datagram %zu differs (first payload byte %zu):\n",
				i + 1, first_diff(&got->v[i], &want->v[i]));
			show("got ", &got->v[i]);
			show("want", &want->v[i]);
		}
	}
	if (got->n != want->n)
		fprintf(stderr, "pcapcmp: %zu datagrams, want %zu\n", got->n, want->n);
	if (diffs)
		fprintf(stderr, "pcapcmp: %zu of %zu datagrams differ\n", diffs, n);
	if (diffs || got->n != want->n)
		return 1;
	printf("pcapcmp: %zu datagrams equal in order%s\n", n,
	       ignore_version ? " (rule-set versions ignored)" : "");
	return rc;
}

static int mode_multiset(struct capture *got, struct capture *want)
{
	int rc = check_csums(got);
	qsort(got->v, got->n, sizeof(got->v[0]), qcmp);
	qsort(want->v, want->n, sizeof(want->v[0]), qcmp);
	size_t i = 0, j = 0, extra = 0, missing = 0;
	while (i < got->n || j < want->n) {
		int c = i == got->n    ? 1
			: j == want->n ? -1
				       : cmp_dgram(&got->v[i], &want->v[j], false);
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			if (extra++ < 3)
				show("unexpected", &got->v[i]);
			i++;
		} else {
			if (missing++ < 3)
				show("missing", &want->v[j]);
			j++;
		}
	}
	if (extra || missing) {
		fprintf(stderr,
			"pcapcmp: %zu unexpected, %zu missing datagrams (got %zu, want %zu)\n",
			extra, missing, got->n, want->n);
		return 1;
	}
	printf("pcapcmp: %zu datagrams equal as a multiset\n", got->n);
	return rc;
}

/* An answer stream: the requester's address and port, and the sender id. */
struct stream {
	uint8_t addr[16];
	uint16_t port;
	uint32_t sender;
	uint32_t version;
	unsigned switches;
};

static int mode_versions(struct capture *got)
{
	int rc = check_csums(got);
	struct stream *s = calloc(got->n + 1, sizeof(*s));
	size_t ns = 0, verdicts = 0, back = 0;
	uint32_t vs[16] = {0};
	size_t vn[16] = {0}, nvs = 0;
	for (size_t i = 0; i < got->n; i++) {
		const struct dgram *d = &got->v[i];
		if (d->len < 24)
			continue;
		uint32_t sender = le32(d->payload + 8);
		size_t k = 0;
		while (k < ns && !(s[k].sender == sender && s[k].port == d->dport &&
				   !memcmp(s[k].addr, d->dst, 16)))
			k++;
		if (k == ns) {
			memcpy(s[k].addr, d->dst, 16);
			s[k].port = d->dport;
			s[k].sender = sender;
			ns++;
		}
		for (size_t off = 24; off + 76 <= d->len; off += 76) {
			uint32_t v = le32(d->payload + off + 20);
			verdicts++;
			size_t x = 0;
			while (x < nvs && vs[x] != v)
				x++;
			if (x == nvs && nvs < 16)
				vs[nvs++] = v;
			if (x < 16)
				vn[x]++;
			if (v == 0)
				continue; /* no rule set involved (ACCEPTED, most rejects) */
			if (s[k].version && v < s[k].version) {
				if (back++ < 3)
					fprintf(stderr,
						"pcapcmp: stream of sender %u went back from "
						"version %u to %u (frame %u)\n",
						sender, s[k].version, v, d->frame);
			} else if (s[k].version && v != s[k].version) {
				s[k].switches++;
			}
			if (!s[k].version || v > s[k].version)
				s[k].version = v;
		}
	}
	size_t switched = 0;
	for (size_t k = 0; k < ns; k++)
		switched += s[k].switches > 0;
	printf("pcapcmp: %zu datagrams, %zu verdicts, %zu streams, %zu switched version;", got->n,
	       verdicts, ns, switched);
	for (size_t x = 0; x < nvs; x++)
		printf(" v%u: %zu", vs[x], vn[x]);
	printf("\n");
	free(s);
	return back ? 1 : rc;
}

static int mode_count(struct capture *got)
{
	size_t verdicts = 0;
	for (size_t i = 0; i < got->n; i++)
		if (got->v[i].len >= 24)
			verdicts += (got->v[i].len - 24) / 76;
	printf("%zu %zu %zu\n", got->n, verdicts, got->non_udp);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pcapcmp seq|multiset GOT WANT [--ignore-version] | "
				"versions GOT | count GOT\n");
		return 2;
	}
	struct capture got = {0}, want = {0};
	if (load(argv[2], &got))
		return 2;
	if (!strcmp(argv[1], "versions"))
		return mode_versions(&got);
	if (!strcmp(argv[1], "count"))
		return mode_count(&got);
	if (argc < 4 || load(argv[3], &want))
		return 2;
	bool ignore_version = argc > 4 && !strcmp(argv[4], "--ignore-version");
	if (!strcmp(argv[1], "seq"))
		return mode_seq(&got, &want, ignore_version);
	if (!strcmp(argv[1], "multiset"))
		return mode_multiset(&got, &want);
	fprintf(stderr, "pcapcmp: unknown mode %s\n", argv[1]);
	return 2;
}
