/*
 * fuzz_frame.c - libFuzzer target: arbitrary bytes as an Ethernet frame through frame_parse and,
 * when it is accepted, through frame_build_reply and back.
 *
 * Why this file exists: the parser reads every frame the NIC hands over, including the ones no
 * sender meant to send. Besides ASan/UBSan, the target checks what must hold for any input: an
 * accepted frame's payload lies inside it, skipping checksum work never turns an accepted frame
 * into a dropped one, and the reply we would send parses back (checksums verified) with
 * addresses and ports swapped and the same payload.
 *
 * `fuzz_frame --seeds IN.pcap... DIR` writes the frames of captures as seeds (seeds.h).
 */
#include <stdint.h>
#include <string.h>

#include "dataplane/wire/cwp.h"
#include "dataplane/wire/frame.h"
#include "tests/fuzz/seeds.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	seeds_mode(argc, argv, 0);
	return 0;
}

static void check_reply(const struct frame_info *req)
{
	static uint8_t out[70000];
	size_t m = frame_build_reply(out, sizeof(out), req, req->payload, req->payload_len);
	CHECK(m == frame_hdr_len(req) + req->payload_len);
	struct frame_info rep;
	/* port 0 = any: the request's source port may be anything, 0 included */
	CHECK(frame_parse(out, m, 0, 0, &rep) == FRAME_OK);
	CHECK(rep.ipv6 == req->ipv6 && rep.has_vlan == req->has_vlan);
	CHECK(!req->has_vlan || rep.vlan_tci == req->vlan_tci);
	CHECK(!memcmp(rep.src_mac, req->dst_mac, 6) && !memcmp(rep.dst_mac, req->src_mac, 6));
	CHECK(!memcmp(rep.src_ip, req->dst_ip, 16) && !memcmp(rep.dst_ip, req->src_ip, 16));
	CHECK(rep.src_port == req->dst_port && rep.dst_port == req->src_port);
	CHECK(rep.payload_len == req->payload_len);
	CHECK(!memcmp(rep.payload, req->payload, req->payload_len));
	CHECK(rep.ip_hdr_len == (req->ipv6 ? 40 : 20));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_info fi, fs;
	enum frame_drop d = frame_parse(data, size, CWP_DEFAULT_PORT, 0, &fi);
	CHECK(d >= FRAME_OK && d < FRAME_DROP_NUM);
	enum frame_drop s = frame_parse(data, size, CWP_DEFAULT_PORT,
					FRAME_SKIP_IP_CSUM | FRAME_SKIP_UDP_CSUM, &fs);
	CHECK(s >= FRAME_OK && s < FRAME_DROP_NUM);
	if (d == FRAME_OK)
		CHECK(s == FRAME_OK);
	if (d != FRAME_OK && d != FRAME_DROP_IP_CSUM && d != FRAME_DROP_UDP_CSUM)
		CHECK(s == d);
	enum frame_drop any = frame_parse(data, size, 0, 0, &fs);
	if (d == FRAME_OK || d == FRAME_DROP_PORT)
		CHECK(any == FRAME_OK || any == FRAME_DROP_UDP_CSUM);
	if (d != FRAME_OK)
		return 0;
	CHECK(fi.dst_port == CWP_DEFAULT_PORT);
	CHECK(fi.payload >= data && fi.payload + fi.payload_len <= data + size);
	CHECK(fi.payload == data + fi.l4_off + 8);
	CHECK(fi.l3_off == (fi.has_vlan ? 18 : 14));
	CHECK(fi.l4_off == fi.l3_off + fi.ip_hdr_len);
	check_reply(&fi);
	return 0;
}
