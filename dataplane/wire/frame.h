/*
 * frame.h - Ethernet II (one optional 802.1Q tag), IPv4/IPv6 and UDP, as CWP/1 carries them.
 *
 * Why this file exists: the gateway, `cwctl simulate` and the tools must agree on which frames
 * are CWP datagrams, why the others are dropped, and what the answer frame looks like (§3, §3.3:
 * addresses and ports swapped, VLAN tag kept, checksums valid). No DPDK here: the dataplane uses
 * the same parser on mbuf data, and may skip the checksum work when the NIC verified it.
 */
#ifndef CW_WIRE_FRAME_H
#define CW_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a frame is not a CWP datagram for us (counted by the caller). */
enum frame_drop {
	FRAME_OK = 0,
	FRAME_DROP_L2,	     /* truncated Ethernet, not IPv4/IPv6, more than one VLAN tag */
	FRAME_DROP_L3,	     /* truncated or invalid IP header, IP length past the frame */
	FRAME_DROP_FRAGMENT, /* IPv4 MF/offset, IPv6 fragment header */
	FRAME_DROP_NOT_UDP,  /* another protocol (IPv6 extension headers other than fragment too) */
	FRAME_DROP_L4,	     /* truncated UDP, UDP length inconsistent */
	FRAME_DROP_IP_CSUM,  /* bad IPv4 header checksum */
	FRAME_DROP_UDP_CSUM, /* bad non-zero UDP checksum (IPv6: zero is bad too) */
	FRAME_DROP_PORT,     /* UDP destination port is not ours */
	FRAME_DROP_NUM,
};

struct frame_info {
	uint8_t dst_mac[6], src_mac[6];
	bool has_vlan;
	uint16_t vlan_tci;
	bool ipv6;
	uint8_t src_ip[16], dst_ip[16]; /* IPv4 in the first 4 bytes */
	uint16_t src_port, dst_port;	/* host order */
	uint16_t l3_off, l4_off;	/* offsets in the frame */
	uint16_t ip_hdr_len;		/* 20 (options allowed in IPv4: ihl*4) or 40 */
	const uint8_t *payload;		/* UDP payload */
	uint16_t payload_len;
};

/* Flags for frame_parse: the caller may already know the checksums are good (NIC offload). */
#define FRAME_SKIP_IP_CSUM  0x1
#define FRAME_SKIP_UDP_CSUM 0x2

enum frame_drop frame_parse(const uint8_t *frame, size_t len, uint16_t udp_port, unsigned flags,
			    struct frame_info *fi);

/* Header bytes a response frame needs before the UDP payload. */
static inline size_t frame_hdr_len(const struct frame_info *req)
{
	return 14 + (req->has_vlan ? 4 : 0) + (req->ipv6 ? 40 : 20) + 8;
}

/* Builds the answer to `req` carrying `payload` (len bytes) into out (capacity cap): MACs, IPs
 * and ports swapped, VLAN tag kept, IPv4 header without options (TTL 64, id 0, no DF: as the
 * conformance vectors), UDP checksum computed. Returns the frame length, or 0 if it does not
 * fit. payload may alias out + hdr len. */
size_t frame_build_reply(uint8_t *out, size_t cap, const struct frame_info *req,
			 const uint8_t *payload, size_t len);

/* Builds a request frame (tools, tests): src/dst given explicitly. */
struct frame_addr {
	uint8_t src_mac[6], dst_mac[6];
	bool has_vlan;
	uint16_t vlan_tci;
	bool ipv6;
	uint8_t src_ip[16], dst_ip[16];
	uint16_t src_port, dst_port;
};
size_t frame_build(uint8_t *out, size_t cap, const struct frame_addr *a, const uint8_t *payload,
		   size_t len);

/* Internet checksum helpers (RFC 1071), exposed for tests. */
uint16_t frame_ipv4_hdr_csum(const uint8_t *ip, unsigned hdr_len);
uint16_t frame_udp_csum(const struct frame_info *fi, const uint8_t *udp, size_t udp_len);

/* The code that sums the checksums' bytes. FRAME_CSUM_BEST, the widest the CPU has, is chosen
 * at start-up; the tests force each other one in turn. False, changing nothing, when this CPU
 * or build lacks it. Not thread-safe: call it before the workers start. */
enum frame_csum_impl {
	FRAME_CSUM_BEST,
	FRAME_CSUM_PORTABLE,
	FRAME_CSUM_SSE41,
	FRAME_CSUM_AVX2,
};
bool frame_csum_select(enum frame_csum_impl impl);

const char *frame_drop_name(enum frame_drop d);

#endif
