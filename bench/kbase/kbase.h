/*
 * kbase.h - the pieces shared by the modes of `cwkbase` (bench/kbase/).
 *
 * Why this file exists: the benchmark needs three small drivers around the one decision engine:
 * the engine behind kernel UDP sockets (serve), a loopback load generator for it (blast) and a
 * paced DPDK generator that feeds the gateway over net_memif (pace); and a probe of how often
 * the machine takes the worker's CPU away (stalls). They share the capture
 * loader and a few helpers; one binary keeps the Makefile's single bench/kbase/ rule.
 */
#ifndef CW_BENCH_KBASE_H
#define CW_BENCH_KBASE_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/wire/pcapio.h"

/* One request datagram of the workload: the whole frame and where its UDP payload is. */
struct kb_frame {
	const uint8_t *data; /* in kb_capture.mem */
	uint32_t len;
	uint16_t payload_off, payload_len;
	uint16_t udp_off; /* offset of the UDP header in the frame */
	uint16_t count;	  /* messages in the datagram */
	uint32_t sender;
	uint64_t seq;
	uint8_t ipv6;
};

struct kb_capture {
	struct pcap_mem mem; /* the whole capture */
	struct kb_frame *v;  /* its requests */
	size_t n;
	uint64_t messages;
};

/* Loads every CWP/1 request of a capture (frames that do not parse are skipped and counted).
 * Returns 0, or -1 with a message on stderr. */
int kb_load_capture(const char *path, uint16_t udp_port, struct kb_capture *c);
void kb_free_capture(struct kb_capture *c);

double kb_now(void);	  /* CLOCK_MONOTONIC seconds */
int kb_pin(unsigned cpu); /* pins the calling thread to one CPU; 0 or -1 */
/* The loopback address a sender's datagrams come from in the kernel baseline: 127.H.L.10,
 * H.L = the sender id's two low bytes (the registered prefix becomes 127.H.L.0/24). */
uint32_t kb_sender_addr(uint32_t sender); /* host order */

int kb_serve(int argc, char **argv);
int kb_blast(int argc, char **argv);
int kb_pace(int argc, char **argv);
int kb_stalls(int argc, char **argv);

#endif
