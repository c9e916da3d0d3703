/*
 * cw_steer.bpf.c - the XDP program that gives `clearway` its CWP/1 datagrams on AF_XDP.
 *
 * Why this file exists: on `net_af_xdp` the gateway shares a kernel interface with the host. The
 * PMD's default program sends every frame of the queue to the gateway, so ARP, ICMP, SSH and
 * everything else on that queue stop reaching the kernel. This program steers only what the
 * gateway answers or counts -- UDP to the CWP/1 port, and the fragments of such datagrams -- into
 * the AF_XDP socket of the receiving queue, and passes everything else to the kernel. The PMD
 * loads it with `xdp_prog=build/cw_steer.bpf.o` and puts its sockets into `xsks_map` itself,
 * keyed by queue index (docs/operations.md, "On AF_XDP").
 *
 * What reaches the gateway (parsing as dataplane/wire/frame.c does: Ethernet II, at most one
 * 802.1Q tag, IPv4 or IPv6):
 *   - UDP to CW_UDP_PORT (IPv4 with or without options, IPv6 without extension headers);
 *   - the first fragment of a CWP datagram (IPv4 MF set and offset 0, or an IPv6 fragment header
 *     with offset 0, whose UDP header names the port), and the later fragments of the same
 *     datagram when they come after it: the first one leaves its (addresses, identification) in
 *     cw_frags. The gateway drops and counts them all as FRAGMENT. Later fragments that arrive
 *     before the first one cannot be told apart from anybody else's and go to the kernel.
 * Everything else returns XDP_PASS, and so do CWP datagrams on a queue without a socket (the
 * default action of bpf_redirect_map).
 *
 * The port is fixed at build time: `make XDP_PORT=N` (default 7350, like --udp-port).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef CW_UDP_PORT
#define CW_UDP_PORT 7350
#endif

#define ETH_P_8021Q_BE	  bpf_htons(0x8100)
#define IP_MF_BE	  bpf_htons(0x2000)
#define IP_OFFSET_BE	  bpf_htons(0x1FFF)
#define IP6_NEXT_FRAG	  44
#define IP6_FRAG_OFFSET	  bpf_htons(0xFFF8)
#define MAX_QUEUES	  64   /* AF_XDP sockets, one per RX queue */
#define TRACKED_DATAGRAMS 4096 /* fragmented CWP datagrams in flight */

/* The PMD finds this map by name and stores the socket of queue q at key q. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* A fragmented datagram: addresses (IPv4 ones in the first 4 bytes) and identification. */
struct frag_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 id;
	__u32 family;
};

/* Datagrams whose first fragment went to the gateway; LRU, so stale entries age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TRACKED_DATAGRAMS);
	__type(key, struct frag_key);
	__type(value, __u8);
} cw_frags SEC(".maps");

struct cursor {
	void *pos;
	void *end;
};

static __always_inline int to_gateway(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

/* Does the UDP header at c->pos exist and name the CWP port? */
static __always_inline int is_cwp_udp(const struct cursor *c)
{
	const struct udphdr *udp = c->pos;
	if ((const void *)(udp + 1) > c->end)
		return 0;
	return udp->dest == bpf_htons(CW_UDP_PORT);
}

/* First fragment: remember the datagram. Later one: was its first fragment ours? */
static __always_inline int track_fragment(struct frag_key *key, int first, int first_is_cwp)
{
	__u8 one = 1;
	if (first) {
		if (!first_is_cwp)
			return 0;
		bpf_map_update_elem(&cw_frags, key, &one, BPF_ANY);
		return 1;
	}
	return bpf_map_lookup_elem(&cw_frags, key) != 0;
}

static __always_inline int ipv4_for_gateway(struct cursor *c)
{
	const struct iphdr *ip = c->pos;
	if ((const void *)(ip + 1) > c->end || ip->version != 4 || ip->ihl < 5)
		return 0;
	if (ip->protocol != IPPROTO_UDP)
		return 0;
	struct cursor l4 = {.pos = c->pos + ip->ihl * 4, .end = c->end};
	if (!(ip->frag_off & (IP_MF_BE | IP_OFFSET_BE)))
		return is_cwp_udp(&l4);

	struct frag_key key;
	__builtin_memset(&key, 0, sizeof(key));
	__builtin_memcpy(key.src, &ip->saddr, 4);
	__builtin_memcpy(key.dst, &ip->daddr, 4);
	key.id = ip->id;
	key.family = 4;
	int first = !(ip->frag_off & IP_OFFSET_BE);
	return track_fragment(&key, first, first && is_cwp_udp(&l4));
}

struct ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, MF in bit 0 */
	__be32 id;
};

static __always_inline int ipv6_for_gateway(struct cursor *c)
{
	const struct ipv6hdr *ip6 = c->pos;
	if ((const void *)(ip6 + 1) > c->end || ip6->version != 6)
		return 0;
	struct cursor l4 = {.pos = (void *)(ip6 + 1), .end = c->end};
	if (ip6->nexthdr == IPPROTO_UDP)
		return is_cwp_udp(&l4);
	if (ip6->nexthdr != IP6_NEXT_FRAG)
		return 0;

	const struct ip6_frag *fh = l4.pos;
	if ((const void *)(fh + 1) > c->end || fh->nexthdr != IPPROTO_UDP)
		return 0;
	struct frag_key key;
	__builtin_memset(&key, 0, sizeof(key));
	__builtin_memcpy(key.src, &ip6->saddr, 16);
	__builtin_memcpy(key.dst, &ip6->daddr, 16);
	key.id = fh->id;
	key.family = 6;
	int first = !(fh->frag_off & IP6_FRAG_OFFSET);
	l4.pos = (void *)(fh + 1);
	return track_fragment(&key, first, first && is_cwp_udp(&l4));
}

SEC("xdp")
int cw_steer(struct xdp_md *ctx)
{
	struct cursor c = {.pos = (void *)(long)ctx->data, .end = (void *)(long)ctx->data_end};
	const struct ethhdr *eth = c.pos;
	if ((const void *)(eth + 1) > c.end)
		return XDP_PASS;
	__be16 proto = eth->h_proto;
	c.pos = (void *)(eth + 1);
	if (proto == ETH_P_8021Q_BE) {
		const __be16 *tag = c.pos; /* TCI, then the inner EtherType */
		if ((const void *)(tag + 2) > c.end)
			return XDP_PASS;
		proto = tag[1];
		c.pos = (void *)(tag + 2);
	}
	int ours = 0;
	if (proto == bpf_htons(ETH_P_IP))
		ours = ipv4_for_gateway(&c);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ours = ipv6_for_gateway(&c);
	return ours ? to_gateway(ctx) : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
