/*
 * common.c - capture loading and small helpers for the modes of `cwkbase`.
 *
 * Why this file exists: the blaster and the paced generator replay the same workload capture
 * that the gateway and `cwctl simulate` read, parsed with the project's own frame parser so that
 * the three agree on which frames are CWP/1 requests.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/kbase/kbase.h"
#include "dataplane/wire/cwp.h"
#include "dataplane/wire/frame.h"

int kb_load_capture(const char *path, uint16_t udp_port, struct kb_capture *c)
{
	char err[256];
	memset(c, 0, sizeof(*c));
	if (pcap_load(path, &c->mem, err) < 0) {
		fprintf(stderr, "cwkbase: %s\n", err);
		return -1;
	}
	if (!(c->v = malloc((c->mem.n ? c->mem.n : 1) * sizeof(*c->v)))) {
		fprintf(stderr, "cwkbase: out of memory loading %s\n", path);
		kb_free_capture(c);
		return -1;
	}
	for (size_t i = 0; i < c->mem.n; i++) {
		const struct pcap_frame *pf = &c->mem.v[i];
		struct frame_info fi;
		struct cwp_dgram_hdr h;
		if (frame_parse(pf->data, pf->len, udp_port, 0, &fi) != FRAME_OK ||
		    cwp_parse_dgram_hdr(fi.payload, fi.payload_len, &h) != CWP_DG_OK)
			continue;
		c->v[c->n++] = (struct kb_frame){.data = pf->data,
						 .len = pf->len,
						 .payload_off = (uint16_t)(fi.payload - pf->data),
						 .payload_len = fi.payload_len,
						 .udp_off = fi.l4_off,
						 .count = h.count,
						 .sender = h.sender_id,
						 .seq = h.seq,
						 .ipv6 = fi.ipv6};
		c->messages += h.count;
	}
	if (c->n < c->mem.n)
		fprintf(stderr, "cwkbase: %s: %zu frames are not CWP/1 requests, skipped\n", path,
			c->mem.n - c->n);
	return 0;
}

void kb_free_capture(struct kb_capture *c)
{
	pcap_mem_free(&c->mem);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

double kb_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int kb_pin(unsigned cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) ? -1 : 0;
}

uint32_t kb_sender_addr(uint32_t sender)
{
	return (127u << 24) | ((sender >> 8 & 0xff) << 16) | ((sender & 0xff) << 8) | 10u;
}
