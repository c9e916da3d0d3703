/*
 * pcapio.h - classic pcap files in and out, for cwctl, cwgen and the tests.
 *
 * Why this file exists: request and response captures are the project's exchange format (the
 * conformance vectors, the demo workload, the golden tests). Thin wrapper over libpcap so every
 * tool opens and writes them the same way (Ethernet link type, microsecond timestamps).
 */
#ifndef CW_WIRE_PCAPIO_H
#define CW_WIRE_PCAPIO_H

#include <stddef.h>
#include <stdint.h>

struct pcap_in;
struct pcap_out;

/* NULL and a message in err (256 bytes) on failure. */
struct pcap_in *pcapin_open(const char *path, char *err);
/* 1 and *data, *len (valid until the next call) per frame, 0 at the end, -1 on a read error. */
int pcapin_next(struct pcap_in *in, const uint8_t **data, size_t *len, uint64_t *ts_us);
void pcapin_close(struct pcap_in *in);

/* A whole capture in memory, for tools that replay it in bursts or many times (cwctl simulate,
 * the benchmark generators): every frame's bytes in one buffer. */
struct pcap_frame {
	const uint8_t *data;
	uint32_t len;
	uint64_t ts_us;
};
struct pcap_mem {
	struct pcap_frame *v;
	size_t n;
	uint64_t bytes;
	uint8_t *buf;
	size_t vcap, bcap; /* allocated frames and bytes, kept from one part to the next */
};
/* 0, or -1 and a message in err (256 bytes): unreadable, not Ethernet, out of memory. */
int pcap_load(const char *path, struct pcap_mem *m, char *err);
/* The next part of an open capture: its frames from where the last part ended until about
 * max_bytes of them (a part holds at least one frame, and stops after the frame that reaches
 * max_bytes), in place of what m held, in m's memory (grown as needed). 1 with frames, 0 at
 * the end of the capture, -1 with err filled (read error, out of memory). For captures bigger
 * than the memory at hand: m starts zeroed, and pcap_mem_reserve sizes it once. */
int pcap_load_part(struct pcap_in *in, struct pcap_mem *m, uint64_t max_bytes, char *err);
/* Room for `bytes` of frames in m, on transparent huge pages where the kernel grants them. */
void pcap_mem_reserve(struct pcap_mem *m, size_t bytes);
void pcap_mem_free(struct pcap_mem *m);

struct pcap_out *pcapout_open(const char *path, char *err);
int pcapout_write(struct pcap_out *out, const uint8_t *data, size_t len, uint64_t ts_us);
void pcapout_close(struct pcap_out *out);

#endif
