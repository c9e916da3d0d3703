/*
 * test_frame.c - Ethernet/VLAN/IPv4/IPv6/UDP parsing, drop causes, checksums and the reply frame
 * (DESIGN §3, §3.3), and the conformance vectors' frames.
 *
 * Why this file exists: a frame dropped for the wrong reason is counted under the wrong cause, and
 * a reply with a wrong checksum or a lost VLAN tag never reaches the sender. Frames are built with
 * frame_build, then single header fields are changed (with the IPv4 checksum redone where the
 * test is about something else).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/wire/cwp.h"
#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"
#include "tests/unit/testutil.h"

static uint8_t fr[10000];

static struct frame_addr addr4(bool vlan)
{
	struct frame_addr a;
	memset(&a, 0, sizeof(a));
	memcpy(a.src_mac, "\x02\x00\x00\x00\x00\x07", 6);
	memcpy(a.dst_mac, "\x02\x00\x00\x00\x00\x01", 6);
	a.has_vlan = vlan;
	a.vlan_tci = 0x6064; /* PCP 3, VID 100 */
	memcpy(a.src_ip, "\x0a\x01\x02\x03", 4);
	memcpy(a.dst_ip, "\x0a\x00\x00\x01", 4);
	a.src_port = 40001;
	a.dst_port = CWP_DEFAULT_PORT;
	return a;
}

static struct frame_addr addr6(bool vlan)
{
	struct frame_addr a = addr4(vlan);
	a.ipv6 = true;
	memcpy(a.src_ip, "\xfd\x00\x00\x01\0\0\0\0\0\0\0\0\0\0\0\x05", 16);
	memcpy(a.dst_ip, "\xfd\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	return a;
}

static const uint8_t payload[] = "CWP1 any payload bytes, odd length!";
#define PLEN (sizeof(payload) - 1)

static size_t build(const struct frame_addr *a)
{
	size_t n = frame_build(fr, sizeof(fr), a, payload, PLEN);
	ck_assert_uint_gt(n, 0);
	return n;
}

static unsigned l3(const struct frame_addr *a)
{
	return a->has_vlan ? 18 : 14;
}

/* Redoes the IPv4 header checksum after a test changed a header field. */
static void fix_ip4(uint8_t *ip)
{
	unsigned hl = (ip[0] & 15) * 4;
	ip[10] = ip[11] = 0;
	uint16_t c = frame_ipv4_hdr_csum(ip, hl);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static enum frame_drop parse(size_t n, struct frame_info *fi)
{
	return frame_parse(fr, n, CWP_DEFAULT_PORT, 0, fi);
}

static void check_parsed(const struct frame_addr *a, const struct frame_info *fi)
{
	ck_assert_mem_eq(fi->src_mac, a->src_mac, 6);
	ck_assert_mem_eq(fi->dst_mac, a->dst_mac, 6);
	ck_assert_int_eq(fi->has_vlan, a->has_vlan);
	if (a->has_vlan)
		ck_assert_uint_eq(fi->vlan_tci, a->vlan_tci);
	ck_assert_int_eq(fi->ipv6, a->ipv6);
	ck_assert_mem_eq(fi->src_ip, a->src_ip, a->ipv6 ? 16 : 4);
	ck_assert_mem_eq(fi->dst_ip, a->dst_ip, a->ipv6 ? 16 : 4);
	ck_assert_uint_eq(fi->src_port, a->src_port);
	ck_assert_uint_eq(fi->dst_port, a->dst_port);
	ck_assert_uint_eq(fi->l3_off, l3(a));
	ck_assert_uint_eq(fi->ip_hdr_len, a->ipv6 ? 40 : 20);
	ck_assert_uint_eq(fi->l4_off, l3(a) + fi->ip_hdr_len);
	ck_assert_uint_eq(fi->payload_len, PLEN);
	ck_assert_ptr_eq(fi->payload, fr + fi->l4_off + 8);
	ck_assert_mem_eq(fi->payload, payload, PLEN);
}

START_TEST(t_build_parse_all_kinds)
{
	for (int v6 = 0; v6 < 2; v6++)
		for (int vlan = 0; vlan < 2; vlan++) {
			struct frame_addr a = v6 ? addr6(vlan) : addr4(vlan);
			size_t n = build(&a);
			ck_assert_uint_eq(n, l3(&a) + (v6 ? 40 : 20) + 8 + PLEN);
			struct frame_info fi;
			ck_assert_int_eq(parse(n, &fi), FRAME_OK);
			check_parsed(&a, &fi);
			/* the header length the reply needs is the request's, minus IPv4 options */
			ck_assert_uint_eq(frame_hdr_len(&fi), n - PLEN);
		}
}
END_TEST

/* The classic RFC 1071 style example header: checksum 0xB861. */
START_TEST(t_ipv4_csum_known)
{
	uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			  0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	ck_assert_uint_eq(frame_ipv4_hdr_csum(ip, 20), 0xB861);
	ip[10] = 0xB8;
	ip[11] = 0x61;
	ck_assert_uint_eq(frame_ipv4_hdr_csum(ip, 20), 0);
}
END_TEST

/* RFC 1071 the slow way, word by word, for comparison. */
static uint16_t ref_csum(const uint8_t *p, size_t n, uint32_t pseudo)
{
	uint64_t sum = pseudo;
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)(p[i] << 8) | (i + 1 < n ? p[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Every length 0..600 at every alignment 0..7, deterministic pseudo-random bytes. */
START_TEST(t_csum_against_reference)
{
	static uint8_t buf[700];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	memset(buf + 100, 0xFF, 64); /* long carry chains */
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 600; n++) {
			const uint8_t *p = buf + off;
			ck_assert_uint_eq(frame_ipv4_hdr_csum(p, (unsigned)n), ref_csum(p, n, 0));
			struct frame_info fi;
			memset(&fi, 0, sizeof(fi));
			for (int v6 = 0; v6 < 2; v6++) {
				fi.ipv6 = v6;
				memcpy(fi.src_ip, buf + 600 + off, 16);
				memcpy(fi.dst_ip, buf + 620 + off, 16);
				uint8_t ph[32];
				unsigned iplen = v6 ? 16 : 4;
				memcpy(ph, fi.src_ip, iplen);
				memcpy(ph + iplen, fi.dst_ip, iplen);
				uint16_t r = ref_csum(ph, 2 * iplen, (uint32_t)n + 17);
				/* ref_csum(ph) folded the pseudo header; chain it into the data */
				uint16_t want = ref_csum(p, n, (uint16_t)~r);
				ck_assert_uint_eq(frame_udp_csum(&fi, p, n), want);
			}
		}
}
END_TEST

/* Each checksum implementation this CPU has, forced in turn, against ref_csum: random lengths up
 * to a jumbo frame at odd and even start addresses, random bytes and long runs of 0xFF (the
 * carries), on both frame_ipv4_hdr_csum and frame_udp_csum (the pseudo header chained in). */
START_TEST(t_csum_impls_against_reference)
{
	static uint8_t buf[9000 + 64];
	static const enum frame_csum_impl impls[] = {FRAME_CSUM_PORTABLE, FRAME_CSUM_SSE41,
						     FRAME_CSUM_AVX2, FRAME_CSUM_BEST};
	unsigned ran = 0;
	for (size_t k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		if (!frame_csum_select(impls[k])) {
			fprintf(stderr, "checksum implementation %zu: not in this build or CPU\n",
				k);
			continue;
		}
		ran++;
		uint32_t x = 777 + (uint32_t)k;
		for (int round = 0; round < 400; round++) {
			x = x * 1103515245u + 12345u;
			size_t n = (x >> 8) % 9001, off = (x >> 4) & 7;
			bool ones = (x & 3) == 0;
			for (size_t i = 0; i < n + off + 40; i++) {
				x = x * 1103515245u + 12345u;
				buf[i] = ones ? 0xFF : (uint8_t)(x >> 16);
			}
			const uint8_t *p = buf + off;
			ck_assert_uint_eq(frame_ipv4_hdr_csum(p, (unsigned)n), ref_csum(p, n, 0));
			struct frame_info fi;
			memset(&fi, 0, sizeof(fi));
			memcpy(fi.src_ip, p + n, 4);
			memcpy(fi.dst_ip, p + n + 4, 4);
			uint32_t r = (uint16_t)~ref_csum(p + n, 8, (uint32_t)n + 17);
			ck_assert_uint_eq(frame_udp_csum(&fi, p, n), ref_csum(p, n, r));
		}
	}
	ck_assert(frame_csum_select(FRAME_CSUM_BEST));
	ck_assert_uint_ge(ran, 2);
}
END_TEST

START_TEST(t_checksums_valid_and_checked)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct frame_addr a = v6 ? addr6(false) : addr4(false);
		size_t n = build(&a);
		struct frame_info fi;
		ck_assert_int_eq(parse(n, &fi), FRAME_OK);
		uint8_t *udp = fr + fi.l4_off;
		ck_assert_uint_ne(cwp_ld16(udp + 6), 0);
		ck_assert_uint_eq(frame_udp_csum(&fi, udp, 8 + PLEN), 0);
		if (!v6)
			ck_assert_uint_eq(frame_ipv4_hdr_csum(fr + 14, 20), 0);
		/* a payload bit flipped: bad UDP checksum, unless the caller says it checked */
		fr[n - 1] ^= 0x01;
		ck_assert_int_eq(parse(n, &fi), FRAME_DROP_UDP_CSUM);
		ck_assert_int_eq(frame_parse(fr, n, CWP_DEFAULT_PORT, FRAME_SKIP_UDP_CSUM, &fi),
				 FRAME_OK);
		fr[n - 1] ^= 0x01;
		/* the pseudo header counts: another source address breaks it */
		fr[14 + (v6 ? 8 : 12)] ^= 0x01;
		if (!v6)
			fix_ip4(fr + 14);
		ck_assert_int_eq(parse(n, &fi), FRAME_DROP_UDP_CSUM);
	}
	/* IPv4 header bit flipped: bad IP checksum; skipped on request */
	struct frame_addr a = addr4(false);
	size_t n = build(&a);
	struct frame_info fi;
	fr[14 + 1] ^= 0x04; /* TOS */
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_IP_CSUM);
	ck_assert_int_eq(frame_parse(fr, n, CWP_DEFAULT_PORT, FRAME_SKIP_IP_CSUM, &fi), FRAME_OK);
	fr[14 + 11] ^= 0xFF; /* the checksum field itself */
	fr[14 + 1] ^= 0x04;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_IP_CSUM);
}
END_TEST

START_TEST(t_udp_csum_zero)
{
	/* IPv4: zero means no checksum; any payload goes */
	struct frame_addr a = addr4(false);
	size_t n = build(&a);
	struct frame_info fi;
	fr[14 + 20 + 6] = fr[14 + 20 + 7] = 0;
	fr[n - 1] ^= 0x55;
	ck_assert_int_eq(parse(n, &fi), FRAME_OK);
	/* IPv6: zero is invalid, even when the caller skips the computation */
	a = addr6(false);
	n = build(&a);
	fr[14 + 40 + 6] = fr[14 + 40 + 7] = 0;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_UDP_CSUM);
	ck_assert_int_eq(frame_parse(fr, n, CWP_DEFAULT_PORT, FRAME_SKIP_UDP_CSUM, &fi),
			 FRAME_DROP_UDP_CSUM);
}
END_TEST

/* A payload whose checksum computes to 0 is sent as 0xFFFF (0 would mean none). */
START_TEST(t_udp_csum_ffff)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct frame_addr a = v6 ? addr6(false) : addr4(false);
		uint8_t p[2] = {0, 0};
		size_t n = frame_build(fr, sizeof(fr), &a, p, 2);
		unsigned u = 14 + (v6 ? 40 : 20);
		uint16_t c0 = (uint16_t)(fr[u + 6] << 8 | fr[u + 7]);
		/* the payload word that makes the sum 0xFFFF is the checksum of the zero payload */
		p[0] = (uint8_t)(c0 >> 8);
		p[1] = (uint8_t)c0;
		n = frame_build(fr, sizeof(fr), &a, p, 2);
		ck_assert_uint_eq(fr[u + 6], 0xFF);
		ck_assert_uint_eq(fr[u + 7], 0xFF);
		struct frame_info fi;
		ck_assert_int_eq(parse(n, &fi), FRAME_OK);
	}
}
END_TEST

START_TEST(t_vlan)
{
	struct frame_addr a = addr4(true);
	size_t n = build(&a);
	struct frame_info fi;
	ck_assert_uint_eq(fr[12], 0x81);
	ck_assert_uint_eq(fr[13], 0x00);
	ck_assert_uint_eq(fr[14], 0x60);
	ck_assert_uint_eq(fr[15], 0x64);
	ck_assert_uint_eq(fr[16], 0x08);
	ck_assert_int_eq(parse(n, &fi), FRAME_OK);
	ck_assert_uint_eq(fi.vlan_tci, 0x6064);
	/* a second tag (QinQ inside 802.1Q) is not ours */
	memmove(fr + 18, fr + 14, n - 14);
	fr[14] = 0x00;
	fr[15] = 0x05;
	fr[16] = 0x81;
	fr[17] = 0x00;
	ck_assert_int_eq(parse(n + 4, &fi), FRAME_DROP_L2);
	/* an 802.1ad outer tag is not IPv4/IPv6 either */
	n = build(&a);
	fr[12] = 0x88;
	fr[13] = 0xA8;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L2);
	/* truncated tag */
	n = build(&a);
	for (size_t l = 14; l < 18; l++)
		ck_assert_int_eq(parse(l, &fi), FRAME_DROP_L2);
}
END_TEST

START_TEST(t_l2)
{
	struct frame_addr a = addr4(false);
	size_t n = build(&a);
	struct frame_info fi;
	for (size_t l = 0; l < 14; l++)
		ck_assert_int_eq(parse(l, &fi), FRAME_DROP_L2);
	fr[12] = 0x08;
	fr[13] = 0x06; /* ARP */
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L2);
}
END_TEST

START_TEST(t_ipv4_structure)
{
	struct frame_addr a = addr4(false);
	struct frame_info fi;
	size_t n = build(&a);
	uint8_t *ip = fr + 14;
	for (size_t l = 14; l < 34; l++)
		ck_assert_int_eq(parse(l, &fi), FRAME_DROP_L3);
	ip[0] = 0x55; /* version 5 */
	fix_ip4(ip);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L3);
	ip[0] = 0x44; /* IHL 4 */
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L3);
	/* total length one past the frame; shorter than the header */
	n = build(&a);
	unsigned tl = (unsigned)(ip[2] << 8 | ip[3]);
	ip[2] = (uint8_t)((tl + 1) >> 8);
	ip[3] = (uint8_t)(tl + 1);
	fix_ip4(ip);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L3);
	ip[2] = 0;
	ip[3] = 19;
	fix_ip4(ip);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L3);
	/* IHL past the frame */
	n = build(&a);
	ip[0] = 0x4F;
	ck_assert_int_eq(parse(14 + 40, &fi), FRAME_DROP_L3);
}
END_TEST

START_TEST(t_ipv4_padding_and_trim)
{
	struct frame_addr a = addr4(false);
	struct frame_info fi;
	/* a short datagram in a minimum-size Ethernet frame: the padding is not payload */
	uint8_t p[4] = {1, 2, 3, 4};
	size_t n = frame_build(fr, sizeof(fr), &a, p, 4);
	ck_assert_uint_eq(n, 46);
	memset(fr + n, 0xEE, 60 - n);
	ck_assert_int_eq(parse(60, &fi), FRAME_OK);
	ck_assert_uint_eq(fi.payload_len, 4);
	/* UDP length shorter than the IP payload trims; longer is an L4 error */
	n = build(&a);
	uint8_t *udp = fr + 34;
	udp[4] = 0;
	udp[5] = 8 + 3;
	udp[6] = udp[7] = 0;
	ck_assert_int_eq(parse(n, &fi), FRAME_OK);
	ck_assert_uint_eq(fi.payload_len, 3);
	unsigned ulen = 8 + PLEN + 1;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L4);
	for (unsigned u = 0; u < 8; u++) {
		udp[4] = 0;
		udp[5] = (uint8_t)u;
		ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L4);
	}
	/* IP payload shorter than a UDP header */
	n = build(&a);
	uint8_t *ip = fr + 14;
	ip[2] = 0;
	ip[3] = 20 + 7;
	fix_ip4(ip);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L4);
}
END_TEST

START_TEST(t_ipv4_options)
{
	struct frame_addr a = addr4(false);
	struct frame_info fi;
	size_t n = build(&a);
	/* insert 4 option bytes (NOPs) after the 20-byte header */
	memmove(fr + 38, fr + 34, n - 34);
	memset(fr + 34, 1, 4);
	uint8_t *ip = fr + 14;
	ip[0] = 0x46;
	unsigned tl = (unsigned)(ip[2] << 8 | ip[3]) + 4;
	ip[2] = (uint8_t)(tl >> 8);
	ip[3] = (uint8_t)tl;
	fix_ip4(ip);
	ck_assert_int_eq(parse(n + 4, &fi), FRAME_OK);
	ck_assert_uint_eq(fi.ip_hdr_len, 24);
	ck_assert_uint_eq(fi.l4_off, 38);
	ck_assert_mem_eq(fi.payload, payload, PLEN);
	/* the reply has a plain 20-byte header */
	ck_assert_uint_eq(frame_hdr_len(&fi), 14 + 20 + 8);
	uint8_t out[512];
	size_t m = frame_build_reply(out, sizeof(out), &fi, payload, PLEN);
	ck_assert_uint_eq(m, 14 + 20 + 8 + PLEN);
	ck_assert_uint_eq(out[14], 0x45);
}
END_TEST

START_TEST(t_fragments_and_protocols)
{
	struct frame_addr a = addr4(false);
	struct frame_info fi;
	size_t n = build(&a);
	uint8_t *ip = fr + 14;
	static const uint16_t frag[] = {0x2000, 0x0001, 0x1FFF, 0x2001, 0x6000};
	for (size_t i = 0; i < sizeof(frag) / sizeof(frag[0]); i++) {
		ip[6] = (uint8_t)(frag[i] >> 8);
		ip[7] = (uint8_t)frag[i];
		fix_ip4(ip);
		ck_assert_int_eq(parse(n, &fi), FRAME_DROP_FRAGMENT);
	}
	ip[6] = 0x40; /* DF alone is fine */
	ip[7] = 0;
	fix_ip4(ip);
	ck_assert_int_eq(parse(n, &fi), FRAME_OK);
	ip[9] = 6; /* TCP */
	fix_ip4(ip);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_NOT_UDP);
	/* a fragment with a bad header checksum counts as a checksum error (checked first) */
	ip[9] = 17;
	ip[6] = 0x20;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_IP_CSUM);

	a = addr6(false);
	n = build(&a);
	ip = fr + 14;
	ip[6] = 44;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_FRAGMENT);
	static const uint8_t other[] = {0, 43, 60, 6, 58, 59};
	for (size_t i = 0; i < sizeof(other); i++) {
		ip[6] = other[i];
		ck_assert_int_eq(parse(n, &fi), FRAME_DROP_NOT_UDP);
	}
}
END_TEST

START_TEST(t_ipv6_structure)
{
	struct frame_addr a = addr6(true);
	struct frame_info fi;
	size_t n = build(&a);
	uint8_t *ip = fr + 18;
	for (size_t l = 18; l < 58; l++)
		ck_assert_int_eq(parse(l, &fi), FRAME_DROP_L3);
	ip[0] = 0x40;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L3);
	ip[0] = 0x60;
	unsigned pl = (unsigned)(ip[4] << 8 | ip[5]);
	ip[4] = (uint8_t)((pl + 1) >> 8);
	ip[5] = (uint8_t)(pl + 1);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L3);
	ip[4] = 0;
	ip[5] = 7;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_L4);
	/* trailing bytes after the payload length are ignored */
	n = build(&a);
	memset(fr + n, 0, 10);
	ck_assert_int_eq(parse(n + 10, &fi), FRAME_OK);
	ck_assert_uint_eq(fi.payload_len, PLEN);
}
END_TEST

START_TEST(t_port)
{
	struct frame_addr a = addr4(false);
	struct frame_info fi;
	a.dst_port = CWP_DEFAULT_PORT + 1;
	size_t n = build(&a);
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_PORT);
	ck_assert_uint_eq(fi.dst_port, CWP_DEFAULT_PORT + 1);
	ck_assert_int_eq(frame_parse(fr, n, CWP_DEFAULT_PORT + 1, 0, &fi), FRAME_OK);
	ck_assert_int_eq(frame_parse(fr, n, 0, 0, &fi), FRAME_OK); /* 0: any port */
	/* another port's traffic is not checksummed: PORT, not UDP_CSUM */
	fr[n - 1] ^= 1;
	ck_assert_int_eq(parse(n, &fi), FRAME_DROP_PORT);
}
END_TEST

static void check_reply(const struct frame_addr *a, const uint8_t *out, size_t m, const uint8_t *pl,
			size_t plen)
{
	struct frame_info req, rep;
	size_t n = frame_build(fr, sizeof(fr), a, payload, PLEN);
	ck_assert_int_eq(parse(n, &req), FRAME_OK);
	unsigned o = l3(a);
	ck_assert_uint_eq(m, o + (a->ipv6 ? 40 : 20) + 8 + plen);
	ck_assert_mem_eq(out, a->src_mac, 6);
	ck_assert_mem_eq(out + 6, a->dst_mac, 6);
	if (a->has_vlan) {
		ck_assert_uint_eq(out[12], 0x81);
		ck_assert_uint_eq(out[13], 0x00);
		ck_assert_uint_eq(out[14] << 8 | out[15], a->vlan_tci);
	}
	ck_assert_uint_eq(out[o - 2] << 8 | out[o - 1], a->ipv6 ? 0x86DD : 0x0800);
	const uint8_t *ip = out + o;
	size_t ulen = 8 + plen;
	if (a->ipv6) {
		static const uint8_t v6hdr[4] = {0x60, 0, 0, 0};
		ck_assert_mem_eq(ip, v6hdr, 4);
		ck_assert_uint_eq(ip[4] << 8 | ip[5], ulen);
		ck_assert_uint_eq(ip[6], 17);
		ck_assert_uint_eq(ip[7], 64);
		ck_assert_mem_eq(ip + 8, a->dst_ip, 16);
		ck_assert_mem_eq(ip + 24, a->src_ip, 16);
	} else {
		ck_assert_uint_eq(ip[0], 0x45);
		ck_assert_uint_eq(ip[1], 0);
		ck_assert_uint_eq(ip[2] << 8 | ip[3], 20 + ulen);
		ck_assert_uint_eq(ip[4] << 8 | ip[5], 0); /* id */
		ck_assert_uint_eq(ip[6] << 8 | ip[7], 0); /* flags, offset */
		ck_assert_uint_eq(ip[8], 64);
		ck_assert_uint_eq(ip[9], 17);
		ck_assert_uint_eq(frame_ipv4_hdr_csum(ip, 20), 0);
		ck_assert_mem_eq(ip + 12, a->dst_ip, 4);
		ck_assert_mem_eq(ip + 16, a->src_ip, 4);
	}
	const uint8_t *udp = ip + (a->ipv6 ? 40 : 20);
	ck_assert_uint_eq(udp[0] << 8 | udp[1], a->dst_port);
	ck_assert_uint_eq(udp[2] << 8 | udp[3], a->src_port);
	ck_assert_uint_eq(udp[4] << 8 | udp[5], ulen);
	ck_assert_mem_eq(udp + 8, pl, plen);
	/* the reply parses, checksums verified, on the request's source port */
	ck_assert_int_eq(frame_parse(out, m, a->src_port, 0, &rep), FRAME_OK);
	ck_assert_uint_eq(rep.src_port, CWP_DEFAULT_PORT);
	ck_assert_int_eq(rep.has_vlan, a->has_vlan);
}

START_TEST(t_reply_layout)
{
	for (int v6 = 0; v6 < 2; v6++)
		for (int vlan = 0; vlan < 2; vlan++) {
			struct frame_addr a = v6 ? addr6(vlan) : addr4(vlan);
			struct frame_info req;
			size_t n = build(&a);
			ck_assert_int_eq(parse(n, &req), FRAME_OK);
			uint8_t out[2048], resp[300];
			for (size_t i = 0; i < sizeof(resp); i++)
				resp[i] = (uint8_t)(i * 7 + 1);
			size_t m = frame_build_reply(out, sizeof(out), &req, resp, sizeof(resp));
			check_reply(&a, out, m, resp, sizeof(resp));
			/* the payload may already sit where the reply puts it */
			size_t h = frame_hdr_len(&req);
			memcpy(out + h, resp, sizeof(resp));
			memset(out, 0, h);
			m = frame_build_reply(out, sizeof(out), &req, out + h, sizeof(resp));
			check_reply(&a, out, m, resp, sizeof(resp));
			/* capacity */
			ck_assert_uint_eq(
			    frame_build_reply(out, h + sizeof(resp) - 1, &req, resp, sizeof(resp)),
			    0);
			ck_assert_uint_eq(
			    frame_build_reply(out, h + sizeof(resp), &req, resp, sizeof(resp)),
			    h + sizeof(resp));
		}
}
END_TEST

/* §3.3: N = 19 verdicts over IPv4 and 18 over IPv6 fill, not exceed, a 1500-byte MTU. */
START_TEST(t_reply_mtu)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct frame_addr a = v6 ? addr6(true) : addr4(true);
		struct frame_info req;
		ck_assert_int_eq(parse(build(&a), &req), FRAME_OK);
		unsigned nv = cwp_verdicts_per_dgram(1500, req.ip_hdr_len);
		ck_assert_uint_eq(nv, v6 ? 18 : 19);
		static uint8_t dgm[24 + 64 * 76];
		uint8_t out[9000];
		memset(dgm, 0, sizeof(dgm));
		for (unsigned extra = 0; extra < 2; extra++) {
			size_t plen = 24 + (nv + extra) * 76;
			size_t m = frame_build_reply(out, sizeof(out), &req, dgm, plen);
			unsigned ip_len = (unsigned)(m - l3(&a));
			if (extra)
				ck_assert_uint_gt(ip_len, 1500);
			else
				ck_assert_uint_le(ip_len, 1500);
		}
	}
}
END_TEST

START_TEST(t_build_limits)
{
	struct frame_addr a = addr4(false);
	static uint8_t big[70000];
	/* UDP and IPv4 lengths are 16 bits */
	ck_assert_uint_eq(frame_build(big, sizeof(big), &a, big + 100, 65535 - 28 + 1), 0);
	ck_assert_uint_ne(frame_build(big, sizeof(big), &a, big + 100, 65535 - 28), 0);
	a = addr6(false);
	ck_assert_uint_eq(frame_build(big, sizeof(big), &a, big + 100, 65535 - 8 + 1), 0);
	ck_assert_uint_ne(frame_build(big, sizeof(big), &a, big + 100, 65535 - 8), 0);
	for (int d = 0; d < FRAME_DROP_NUM; d++)
		ck_assert_str_ne(frame_drop_name((enum frame_drop)d), "");
}
END_TEST

/* ---- pcap files ---- */

START_TEST(t_pcap_round_trip)
{
	char path[] = "/tmp/cw_test_pcapXXXXXX", err[256];
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct pcap_out *out = pcapout_open(path, err);
	ck_assert_msg(out != NULL, "%s", err);
	static uint8_t frames[3][9000];
	static const size_t lens[3] = {60, 1514, 9000};
	static const uint64_t ts[3] = {0, 1700000000123456ull, 1700000001000001ull};
	for (int i = 0; i < 3; i++) {
		for (size_t b = 0; b < lens[i]; b++)
			frames[i][b] = (uint8_t)(b * (i + 3));
		ck_assert_int_eq(pcapout_write(out, frames[i], lens[i], ts[i]), 0);
	}
	ck_assert_int_eq(pcapout_write(out, frames[0], 65536, 0), -1); /* past the snap length */
	pcapout_close(out);
	struct pcap_in *in = pcapin_open(path, err);
	ck_assert_msg(in != NULL, "%s", err);
	const uint8_t *d;
	size_t len;
	uint64_t t;
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(pcapin_next(in, &d, &len, &t), 1);
		ck_assert_uint_eq(len, lens[i]);
		ck_assert_uint_eq(t, ts[i]);
		ck_assert_mem_eq(d, frames[i], len);
	}
	ck_assert_int_eq(pcapin_next(in, &d, &len, &t), 0);
	pcapin_close(in);
	/* a file cut in the middle of a frame is a read error, not a silent end */
	FILE *f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), 24 + 16 + 60 + 16 + 100), 0);
	fclose(f);
	in = pcapin_open(path, err);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(pcapin_next(in, &d, &len, &t), 1);
	ck_assert_int_eq(pcapin_next(in, &d, &len, &t), -1);
	pcapin_close(in);
	/* not a capture; a capture of another link type */
	f = fopen(path, "w");
	fputs("not a pcap file at all, just text\n", f);
	fclose(f);
	ck_assert_ptr_null(pcapin_open(path, err));
	ck_assert_str_ne(err, "");
	static const uint8_t raw_ip_hdr[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2,   0, 4, 0,
					       0,    0,	   0,	 0,    0,   0, 0, 0,
					       0xff, 0xff, 0,	 0,    101, 0, 0, 0};
	f = fopen(path, "w");
	fwrite(raw_ip_hdr, 1, sizeof(raw_ip_hdr), f);
	fclose(f);
	ck_assert_ptr_null(pcapin_open(path, err));
	ck_assert_ptr_nonnull(strstr(err, "not Ethernet"));
	ck_assert_ptr_null(pcapin_open("/nonexistent/dir/x.pcap", err));
	ck_assert_ptr_null(pcapout_open("/nonexistent/dir/x.pcap", err));
	unlink(path);
}
END_TEST

/* ---- conformance vectors ---- */

#define MAX_FRAMES 1024

struct cap {
	size_t n;
	uint8_t *data[MAX_FRAMES];
	size_t len[MAX_FRAMES];
};

static bool load(const char *name, struct cap *c)
{
	const char *dir = tu_vectors_dir();
	if (!dir)
		return false;
	char path[512], err[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct pcap_in *in = pcapin_open(path, err);
	ck_assert_msg(in != NULL, "%s", err);
	const uint8_t *d;
	size_t len;
	uint64_t ts;
	c->n = 0;
	while (pcapin_next(in, &d, &len, &ts) == 1) {
		ck_assert_uint_lt(c->n, MAX_FRAMES);
		c->data[c->n] = malloc(len);
		memcpy(c->data[c->n], d, len);
		c->len[c->n++] = len;
	}
	pcapin_close(in);
	return true;
}

static void unload(struct cap *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->data[i]);
}

/* Each response frame: valid checksums, from port 7350, to the source of a request we accept,
 * and byte for byte what frame_build_reply makes of that request and the same payload (except
 * the IPv4 id, the TTL and checksums, which the vectors leave free). */
START_TEST(t_vectors_responses)
{
	static struct cap req, rsp;
	if (!load("requests.pcap", &req) || !load("responses.pcap", &rsp)) {
		fprintf(stderr, "SKIP t_vectors_responses: no vectors\n");
		return;
	}
	ck_assert_uint_gt(rsp.n, 0);
	size_t drops[FRAME_DROP_NUM] = {0}, vlan = 0, v6 = 0;
	for (size_t i = 0; i < req.n; i++) {
		struct frame_info fi;
		drops[frame_parse(req.data[i], req.len[i], CWP_DEFAULT_PORT, 0, &fi)]++;
	}
	for (size_t r = 0; r < rsp.n; r++) {
		struct frame_info fo;
		ck_assert_int_eq(frame_parse(rsp.data[r], rsp.len[r], 0, 0, &fo), FRAME_OK);
		ck_assert_uint_eq(fo.src_port, CWP_DEFAULT_PORT);
		ck_assert_int_eq(frame_parse(rsp.data[r], rsp.len[r], fo.dst_port, 0, &fo),
				 FRAME_OK);
		ck_assert_int_eq(frame_parse(rsp.data[r], rsp.len[r], CWP_DEFAULT_PORT, 0, &fo),
				 FRAME_DROP_PORT);
		vlan += fo.has_vlan;
		v6 += fo.ipv6;
		/* the request this answers: same endpoints reversed, accepted by our parser */
		bool found = false;
		for (size_t i = 0; i < req.n && !found; i++) {
			struct frame_info fi;
			if (frame_parse(req.data[i], req.len[i], CWP_DEFAULT_PORT, 0, &fi) !=
				FRAME_OK ||
			    fi.ipv6 != fo.ipv6 || fi.has_vlan != fo.has_vlan ||
			    fi.src_port != fo.dst_port || memcmp(fi.src_ip, fo.dst_ip, 16) ||
			    memcmp(fi.dst_ip, fo.src_ip, 16) || memcmp(fi.src_mac, fo.dst_mac, 6))
				continue;
			uint8_t out[10000];
			size_t m =
			    frame_build_reply(out, sizeof(out), &fi, fo.payload, fo.payload_len);
			ck_assert_uint_eq(m, rsp.len[r]);
			const uint8_t *want = rsp.data[r];
			unsigned ipo = fo.l3_off;
			for (size_t b = 0; b < m; b++) {
				bool free_byte = false;
				if (!fo.ipv6)
					free_byte = b == ipo + 4 || b == ipo + 5 || b == ipo + 8 ||
						    b == ipo + 10 || b == ipo + 11;
				else
					free_byte = b == ipo + 7;
				free_byte |= b == fo.l4_off + 6u || b == fo.l4_off + 7u;
				if (!free_byte && out[b] != want[b])
					ck_abort_msg("response %zu byte %zu: ours 0x%02x, vectors "
						     "0x%02x",
						     r, b, out[b], want[b]);
			}
			found = true;
		}
		ck_assert_msg(found, "response %zu answers no request we accept", r);
	}
	fprintf(stderr,
		"vectors: %zu response frames rebuilt (%zu VLAN, %zu IPv6); requests: %zu frames, "
		"drops L2 %zu L3 %zu FRAGMENT %zu NOT_UDP %zu L4 %zu IP_CSUM %zu UDP_CSUM %zu PORT "
		"%zu\n",
		rsp.n, vlan, v6, req.n, drops[FRAME_DROP_L2], drops[FRAME_DROP_L3],
		drops[FRAME_DROP_FRAGMENT], drops[FRAME_DROP_NOT_UDP], drops[FRAME_DROP_L4],
		drops[FRAME_DROP_IP_CSUM], drops[FRAME_DROP_UDP_CSUM], drops[FRAME_DROP_PORT]);
	unload(&req);
	unload(&rsp);
}
END_TEST

/* A request frame we drop gets no answer: none of its sequence numbers is answered to its source
 * unless some accepted frame from that source carried the same number. */
START_TEST(t_vectors_dropped_unanswered)
{
	static struct cap req, rsp;
	if (!load("requests.pcap", &req) || !load("responses.pcap", &rsp)) {
		fprintf(stderr, "SKIP t_vectors_dropped_unanswered: no vectors\n");
		return;
	}
	size_t checked = 0;
	for (size_t i = 0; i < req.n; i++) {
		struct frame_info fi;
		enum frame_drop d = frame_parse(req.data[i], req.len[i], CWP_DEFAULT_PORT, 0, &fi);
		struct cwp_dgram_hdr h0;
		if (d == FRAME_OK &&
		    cwp_parse_dgram_hdr(fi.payload, fi.payload_len, &h0) == CWP_DG_OK)
			continue;
		if (d != FRAME_OK && d != FRAME_DROP_PORT && d != FRAME_DROP_UDP_CSUM &&
		    d != FRAME_DROP_IP_CSUM)
			continue;
		/* the bytes are still there: read the CWP header the sender meant */
		const uint8_t *p = req.data[i] + fi.l3_off + fi.ip_hdr_len + 8;
		if (p + 24 > req.data[i] + req.len[i])
			continue;
		uint64_t seq = cwp_ld64(p + 16);
		unsigned count = cwp_ld16(p + 4);
		for (unsigned k = 0; k < count && k < 64; k++) {
			bool elsewhere = false, answered = false;
			for (size_t j = 0; j < req.n && !elsewhere; j++) {
				struct frame_info fj;
				struct cwp_dgram_hdr h;
				if (j == i ||
				    frame_parse(req.data[j], req.len[j], CWP_DEFAULT_PORT, 0,
						&fj) != FRAME_OK ||
				    memcmp(fj.src_ip, fi.src_ip, 16) ||
				    fj.src_port != fi.src_port ||
				    cwp_parse_dgram_hdr(fj.payload, fj.payload_len, &h) !=
					CWP_DG_OK)
					continue;
				elsewhere = seq + k >= h.seq && seq + k < h.seq + h.count;
			}
			if (elsewhere)
				continue;
			for (size_t r = 0; r < rsp.n && !answered; r++) {
				struct frame_info fo;
				frame_parse(rsp.data[r], rsp.len[r], 0, 0, &fo);
				if (memcmp(fo.dst_ip, fi.src_ip, 16) || fo.dst_port != fi.src_port)
					continue;
				for (unsigned v = 0; v < cwp_ld16(fo.payload + 4); v++)
					answered |=
					    cwp_ld64(fo.payload + 24 + 76 * v + 4) == seq + k;
			}
			ck_assert_msg(!answered, "frame %zu dropped (%s) but seq %llu answered",
				      i + 1, d ? frame_drop_name(d) : "header",
				      (unsigned long long)(seq + k));
			checked++;
		}
	}
	fprintf(stderr, "vectors: %zu sequence numbers of dropped frames checked unanswered\n",
		checked);
	ck_assert_uint_gt(checked, 0);
	unload(&req);
	unload(&rsp);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("frame");
	TCase *t = tcase_create("parse");
	tcase_add_test(t, t_build_parse_all_kinds);
	tcase_add_test(t, t_ipv4_csum_known);
	tcase_add_test(t, t_csum_against_reference);
	tcase_add_test(t, t_csum_impls_against_reference);
	tcase_add_test(t, t_checksums_valid_and_checked);
	tcase_add_test(t, t_udp_csum_zero);
	tcase_add_test(t, t_udp_csum_ffff);
	tcase_add_test(t, t_vlan);
	tcase_add_test(t, t_l2);
	tcase_add_test(t, t_ipv4_structure);
	tcase_add_test(t, t_ipv4_padding_and_trim);
	tcase_add_test(t, t_ipv4_options);
	tcase_add_test(t, t_fragments_and_protocols);
	tcase_add_test(t, t_ipv6_structure);
	tcase_add_test(t, t_port);
	suite_add_tcase(s, t);
	t = tcase_create("reply");
	tcase_add_test(t, t_reply_layout);
	tcase_add_test(t, t_reply_mtu);
	tcase_add_test(t, t_build_limits);
	tcase_add_test(t, t_pcap_round_trip);
	suite_add_tcase(s, t);
	t = tcase_create("vectors");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, t_vectors_responses);
	tcase_add_test(t, t_vectors_dropped_unanswered);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
