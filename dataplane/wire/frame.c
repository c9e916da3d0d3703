/*
 * frame.c - Ethernet II / 802.1Q / IPv4 / IPv6 / UDP as CWP/1 carries them (DESIGN §3, §3.3).
 *
 * Why this file exists: the gateway, `cwctl` and the tools must drop the same frames for the
 * same reasons and build byte-identical answers, so the parser and the reply builder live here,
 * free of DPDK (the dataplane runs them on mbuf data).
 *
 * Choices where DESIGN is silent (also in docs/protocol.md):
 * - Checks run outer to inner: L2, IP structure, IPv4 header checksum, fragment, protocol, UDP
 *   structure, destination port, UDP checksum. A header with a bad checksum is not trusted for
 *   anything after it; traffic for another port is not ours to checksum.
 * - Bytes after the IP total length (Ethernet padding) are ignored; a UDP length shorter than the
 *   IP payload trims the datagram (as Linux does), a longer one is FRAME_DROP_L4.
 * - IPv6: the UDP header must follow the fixed header; a Fragment header (44) is a fragment and
 *   any other extension header is FRAME_DROP_NOT_UDP. A zero UDP checksum over IPv6 is
 *   FRAME_DROP_UDP_CSUM even with FRAME_SKIP_UDP_CSUM (it is a field check, not a computation).
 * - udp_port 0 accepts any destination port (tools decoding captures of either direction).
 */
#include <string.h>

#include "dataplane/wire/frame.h"

#define ETH_HDR_LEN  14
#define VLAN_TAG_LEN 4
#define ETYPE_IPV4   0x0800
#define ETYPE_IPV6   0x86DD
#define ETYPE_VLAN   0x8100
#define IPPROTO_UDP_ 17
#define IP6_FRAGMENT 44
#define UDP_HDR_LEN  8
#define REPLY_TTL    64

static inline uint16_t ld16be(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void st16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* One's complement fold of any 64-bit sum to 16 bits, in four steps rather than a loop: below
 * 2^33, 2^17 + 2^16, 2^16 + 2, then 2^16. Zero only when sum is. */
static uint64_t fold16(uint64_t sum)
{
	sum = (sum & 0xFFFFFFFF) + (sum >> 32);
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (sum & 0xFFFF) + (sum >> 16);
}

/* ---- the bulk of the Internet checksum ----
 *
 * Every datagram in and out is summed once (RFC 1071), about a kilobyte each, so this is the
 * wire layer's one loop over whole packets. A bulk function sums the 32-bit words (host order)
 * of n bytes, n a multiple of 16, and returns a value below 2^62 that is zero only for zero
 * bytes: 2^32 = 1 in one's complement arithmetic modulo 2^16 - 1 (RFC 1071 §2(B)), so csum_add
 * can fold it like a sum of 16-bit words. The SIMD ones widen each 32-bit word into a 64-bit
 * lane, where no carry is lost before 2^32 words (16 GB).
 */
typedef uint64_t bulk_fn(const uint8_t *p, size_t n);

/* Any CPU: 64-bit words into a 128-bit sum (an add and an add-with-carry each); the carries
 * gathered in its top half are added back in (RFC 1071 §2(A)). */
static uint64_t bulk_portable(const uint8_t *p, size_t n)
{
	unsigned __int128 wide = 0;
	for (; n >= 8; p += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		wide += w;
	}
	uint64_t lo = (uint64_t)wide, hi = (uint64_t)(wide >> 64);
	uint64_t s = lo + hi;
	return (s & 0xFFFFFFFF) + (s >> 32) + (s < lo);
}

#if defined(__x86_64__) && defined(__SSE4_1__) && !defined(CWP_NO_SIMD)
#include <immintrin.h>
#define CSUM_X86 1

/* Two 32-bit words at p, zero-extended into two 64-bit lanes (pmovzxdq straight from memory). */
static inline __m128i widen2(const uint8_t *p)
{
	return _mm_cvtepu32_epi64(_mm_loadl_epi64((const __m128i *)(const void *)p));
}

static inline uint64_t lanes2(__m128i a)
{
	return (uint64_t)_mm_cvtsi128_si64(a) + (uint64_t)_mm_extract_epi64(a, 1);
}

/* The build's baseline (x86-64-v2): 16 bytes a step, 32 per loop, two accumulators. */
static uint64_t bulk_sse41(const uint8_t *p, size_t n)
{
	__m128i a = _mm_setzero_si128(), b = _mm_setzero_si128();
	for (; n >= 32; p += 32, n -= 32) {
		a = _mm_add_epi64(a, widen2(p));
		b = _mm_add_epi64(b, widen2(p + 8));
		a = _mm_add_epi64(a, widen2(p + 16));
		b = _mm_add_epi64(b, widen2(p + 24));
	}
	if (n) {
		a = _mm_add_epi64(a, widen2(p));
		b = _mm_add_epi64(b, widen2(p + 8));
	}
	return lanes2(_mm_add_epi64(a, b));
}

/* Four 32-bit words at p, zero-extended into four 64-bit lanes (vpmovzxdq straight from memory). */
__attribute__((target("avx2"))) static inline __m256i widen4(const uint8_t *p)
{
	return _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Where the CPU has it: 16 bytes a step, 128 per loop into four accumulators. */
__attribute__((target("avx2"))) static uint64_t bulk_avx2(const uint8_t *p, size_t n)
{
	__m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
	for (; n >= 128; p += 128, n -= 128) {
		a = _mm256_add_epi64(a, _mm256_add_epi64(widen4(p), widen4(p + 16)));
		b = _mm256_add_epi64(b, _mm256_add_epi64(widen4(p + 32), widen4(p + 48)));
		c = _mm256_add_epi64(c, _mm256_add_epi64(widen4(p + 64), widen4(p + 80)));
		d = _mm256_add_epi64(d, _mm256_add_epi64(widen4(p + 96), widen4(p + 112)));
	}
	for (; n; p += 16, n -= 16)
		a = _mm256_add_epi64(a, widen4(p));
	a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
	__m128i s = _mm_add_epi64(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
	return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}
#endif

static bulk_fn *csum_bulk =
#ifdef CSUM_X86
    bulk_sse41;
#else
    bulk_portable;
#endif

/* Chosen once, before main: the dataplane's workers then only read csum_bulk. */
__attribute__((constructor)) static void csum_pick(void)
{
	frame_csum_select(FRAME_CSUM_BEST);
}

bool frame_csum_select(enum frame_csum_impl impl)
{
	switch (impl) {
	case FRAME_CSUM_BEST:
#ifdef CSUM_X86
		if (__builtin_cpu_supports("avx2"))
			return frame_csum_select(FRAME_CSUM_AVX2);
#endif
		return frame_csum_select(FRAME_CSUM_SSE41) ||
		       frame_csum_select(FRAME_CSUM_PORTABLE);
	case FRAME_CSUM_PORTABLE:
		csum_bulk = bulk_portable;
		return true;
#ifdef CSUM_X86
	case FRAME_CSUM_SSE41:
		csum_bulk = bulk_sse41;
		return true;
	case FRAME_CSUM_AVX2:
		if (!__builtin_cpu_supports("avx2"))
			return false;
		csum_bulk = bulk_avx2;
		return true;
#endif
	default:
		return false;
	}
}

/* Adds the one's complement sum of p (16-bit big-endian words, an odd last byte padded with a
 * zero) to sum (RFC 1071). Words are summed in host order, then one byte swap: the sum is
 * byte-order independent (RFC 1071 §2(B)), and every caller starts at an even offset of the
 * checksummed data. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t bulk = len & ~(size_t)15;
	uint64_t s = bulk ? csum_bulk(p, bulk) : 0;
	p += bulk;
	len -= bulk;
	/* the last 0..15 bytes: one step per bit of len; s stays below 2^63 */
	if (len & 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		s += (w & 0xFFFFFFFF) + (w >> 32);
		p += 8;
	}
	if (len & 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		s += w;
		p += 4;
	}
	if (len & 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		s += w;
		p += 2;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len & 1)
		s += p[0];
	s = __builtin_bswap16((uint16_t)fold16(s));
#else
	if (len & 1)
		s += (uint64_t)p[0] << 8;
	s = fold16(s);
#endif
	return sum + s;
}

static uint16_t csum_fold(uint64_t sum)
{
	return (uint16_t)~fold16(sum);
}

uint16_t frame_ipv4_hdr_csum(const uint8_t *ip, unsigned hdr_len)
{
	return csum_fold(csum_add(0, ip, hdr_len));
}

/* Over the pseudo header and the UDP bytes as they are: 0 when a checksum in them is right, the
 * value to store when the checksum field is zero. The addresses are added as the 16-bit words
 * they are: the fold depends only on the sum modulo 2^16 - 1 (never zero here: the length is
 * in it). */
static uint16_t udp_csum(const uint8_t *src_ip, const uint8_t *dst_ip, bool ipv6,
			 const uint8_t *udp, size_t udp_len)
{
	uint64_t sum = (uint64_t)udp_len + IPPROTO_UDP_;
	for (unsigned i = 0; i < (ipv6 ? 16u : 4u); i += 2)
		sum += (uint64_t)ld16be(src_ip + i) + ld16be(dst_ip + i);
	return csum_fold(csum_add(sum, udp, udp_len));
}

uint16_t frame_udp_csum(const struct frame_info *fi, const uint8_t *udp, size_t udp_len)
{
	return udp_csum(fi->src_ip, fi->dst_ip, fi->ipv6, udp, udp_len);
}

static enum frame_drop parse_ipv4(const uint8_t *ip, size_t avail, unsigned flags,
				  struct frame_info *fi, size_t *l4_len)
{
	if (avail < 20 || (ip[0] >> 4) != 4)
		return FRAME_DROP_L3;
	unsigned hl = (ip[0] & 0x0F) * 4u;
	unsigned total = ld16be(ip + 2);
	if (hl < 20 || hl > avail || total < hl || total > avail)
		return FRAME_DROP_L3;
	/* Addresses first, so whoever counts a later drop can say where it came from. */
	fi->ipv6 = false;
	fi->ip_hdr_len = (uint16_t)hl;
	memset(fi->src_ip, 0, sizeof(fi->src_ip));
	memset(fi->dst_ip, 0, sizeof(fi->dst_ip));
	memcpy(fi->src_ip, ip + 12, 4);
	memcpy(fi->dst_ip, ip + 16, 4);
	if (!(flags & FRAME_SKIP_IP_CSUM) && frame_ipv4_hdr_csum(ip, hl) != 0)
		return FRAME_DROP_IP_CSUM;
	if (ld16be(ip + 6) & 0x3FFF) /* MF or a fragment offset */
		return FRAME_DROP_FRAGMENT;
	if (ip[9] != IPPROTO_UDP_)
		return FRAME_DROP_NOT_UDP;
	*l4_len = total - hl;
	return FRAME_OK;
}

static enum frame_drop parse_ipv6(const uint8_t *ip, size_t avail, struct frame_info *fi,
				  size_t *l4_len)
{
	if (avail < 40 || (ip[0] >> 4) != 6)
		return FRAME_DROP_L3;
	size_t plen = ld16be(ip + 4);
	if (40 + plen > avail)
		return FRAME_DROP_L3;
	fi->ipv6 = true;
	fi->ip_hdr_len = 40;
	memcpy(fi->src_ip, ip + 8, 16);
	memcpy(fi->dst_ip, ip + 24, 16);
	if (ip[6] == IP6_FRAGMENT)
		return FRAME_DROP_FRAGMENT;
	if (ip[6] != IPPROTO_UDP_)
		return FRAME_DROP_NOT_UDP;
	*l4_len = plen;
	return FRAME_OK;
}

enum frame_drop frame_parse(const uint8_t *frame, size_t len, uint16_t udp_port, unsigned flags,
			    struct frame_info *fi)
{
	if (len < ETH_HDR_LEN)
		return FRAME_DROP_L2;
	memcpy(fi->dst_mac, frame, 6);
	memcpy(fi->src_mac, frame + 6, 6);
	size_t off = ETH_HDR_LEN;
	uint16_t etype = ld16be(frame + 12);
	fi->has_vlan = etype == ETYPE_VLAN;
	fi->vlan_tci = 0;
	if (fi->has_vlan) {
		if (len < ETH_HDR_LEN + VLAN_TAG_LEN)
			return FRAME_DROP_L2;
		fi->vlan_tci = ld16be(frame + 14);
		etype = ld16be(frame + 16);
		off += VLAN_TAG_LEN;
	}
	fi->l3_off = (uint16_t)off;
	size_t l4_len;
	enum frame_drop d;
	if (etype == ETYPE_IPV4)
		d = parse_ipv4(frame + off, len - off, flags, fi, &l4_len);
	else if (etype == ETYPE_IPV6)
		d = parse_ipv6(frame + off, len - off, fi, &l4_len);
	else
		return FRAME_DROP_L2; /* other protocols and a second VLAN tag */
	if (d != FRAME_OK)
		return d;

	off += fi->ip_hdr_len;
	const uint8_t *udp = frame + off;
	if (l4_len < UDP_HDR_LEN)
		return FRAME_DROP_L4;
	size_t ulen = ld16be(udp + 4);
	if (ulen < UDP_HDR_LEN || ulen > l4_len)
		return FRAME_DROP_L4;
	fi->l4_off = (uint16_t)off;
	fi->src_port = ld16be(udp);
	fi->dst_port = ld16be(udp + 2);
	fi->payload = udp + UDP_HDR_LEN;
	fi->payload_len = (uint16_t)(ulen - UDP_HDR_LEN);
	if (udp_port && fi->dst_port != udp_port)
		return FRAME_DROP_PORT;
	uint16_t stored = ld16be(udp + 6);
	if (fi->ipv6 && stored == 0)
		return FRAME_DROP_UDP_CSUM;
	if (!(flags & FRAME_SKIP_UDP_CSUM) && stored != 0 && frame_udp_csum(fi, udp, ulen) != 0)
		return FRAME_DROP_UDP_CSUM;
	return FRAME_OK;
}

/* Writes Ethernet (+ VLAN), IP and UDP headers for a payload of len bytes already in place. */
static size_t put_headers(uint8_t *out, const uint8_t dst_mac[6], const uint8_t src_mac[6],
			  bool has_vlan, uint16_t tci, bool ipv6, const uint8_t *src_ip,
			  const uint8_t *dst_ip, uint16_t src_port, uint16_t dst_port, size_t len)
{
	memcpy(out, dst_mac, 6);
	memcpy(out + 6, src_mac, 6);
	size_t off = 12;
	if (has_vlan) {
		st16be(out + off, ETYPE_VLAN);
		st16be(out + off + 2, tci);
		off += VLAN_TAG_LEN;
	}
	st16be(out + off, ipv6 ? ETYPE_IPV6 : ETYPE_IPV4);
	off += 2;
	uint8_t *ip = out + off;
	size_t ulen = UDP_HDR_LEN + len;
	if (ipv6) {
		memset(ip, 0, 8);
		ip[0] = 0x60;
		st16be(ip + 4, (uint16_t)ulen);
		ip[6] = IPPROTO_UDP_;
		ip[7] = REPLY_TTL;
		memcpy(ip + 8, src_ip, 16);
		memcpy(ip + 24, dst_ip, 16);
		off += 40;
	} else {
		ip[0] = 0x45;
		ip[1] = 0;
		st16be(ip + 2, (uint16_t)(20 + ulen));
		st16be(ip + 4, 0); /* id */
		st16be(ip + 6, 0); /* no DF: the conformance vectors send none */
		ip[8] = REPLY_TTL;
		ip[9] = IPPROTO_UDP_;
		st16be(ip + 10, 0);
		memcpy(ip + 12, src_ip, 4);
		memcpy(ip + 16, dst_ip, 4);
		st16be(ip + 10, frame_ipv4_hdr_csum(ip, 20));
		off += 20;
	}
	uint8_t *udp = out + off;
	st16be(udp, src_port);
	st16be(udp + 2, dst_port);
	st16be(udp + 4, (uint16_t)ulen);
	st16be(udp + 6, 0);
	uint16_t c = udp_csum(src_ip, dst_ip, ipv6, udp, ulen);
	st16be(udp + 6, c ? c : 0xFFFF); /* 0 would mean "no checksum" */
	return off + ulen;
}

static bool fits(size_t hdr, size_t len, bool ipv6, size_t cap)
{
	/* IPv4 total length and the UDP length are 16-bit fields. */
	size_t max_payload = UINT16_MAX - UDP_HDR_LEN - (ipv6 ? 0 : 20);
	return len <= max_payload && hdr + len <= cap;
}

size_t frame_build_reply(uint8_t *out, size_t cap, const struct frame_info *req,
			 const uint8_t *payload, size_t len)
{
	size_t hdr = frame_hdr_len(req);
	if (!fits(hdr, len, req->ipv6, cap))
		return 0;
	memmove(out + hdr, payload, len);
	return put_headers(out, req->src_mac, req->dst_mac, req->has_vlan, req->vlan_tci, req->ipv6,
			   req->dst_ip, req->src_ip, req->dst_port, req->src_port, len);
}

size_t frame_build(uint8_t *out, size_t cap, const struct frame_addr *a, const uint8_t *payload,
		   size_t len)
{
	size_t hdr = 14 + (a->has_vlan ? 4 : 0) + (a->ipv6 ? 40 : 20) + 8;
	if (!fits(hdr, len, a->ipv6, cap))
		return 0;
	memmove(out + hdr, payload, len);
	return put_headers(out, a->dst_mac, a->src_mac, a->has_vlan, a->vlan_tci, a->ipv6,
			   a->src_ip, a->dst_ip, a->src_port, a->dst_port, len);
}

const char *frame_drop_name(enum frame_drop d)
{
	static const char *const n[FRAME_DROP_NUM] = {
	    "OK", "L2", "L3", "FRAGMENT", "NOT_UDP", "L4", "IP_CSUM", "UDP_CSUM", "PORT"};
	return (unsigned)d < FRAME_DROP_NUM ? n[d] : "";
}
