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
#include "dataplane/wire/pcapio.h"

static int keep_frame(struct kb_capture *c, const uint8_t *data, size_t len,
		      const struct frame_info *fi, const struct cwp_dgram_hdr *h)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4096;
		struct kb_frame *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return -1;
		c->v = v;
		c->cap = cap;
	}
	struct kb_frame *f = &c->v[c->n];
	f->data = malloc(len);
	if (!f->data)
		return -1;
	memcpy(f->data, data, len);
	f->len = (uint32_t)len;
	f->payload_off = (uint16_t)(fi->payload - data);
	f->payload_len = fi->payload_len;
	f->udp_off = fi->l4_off;
	f->count = h->count;
	f->sender = h->sender_id;
	f->seq = h->seq;
	f->ipv6 = fi->ipv6;
	c->messages += h->count;
	c->n++;
	return 0;
}

int kb_load_capture(const char *path, uint16_t udp_port, struct kb_capture *c)
{
	char err[256];
	struct pcap_in *in = pcapin_open(path, err);
	if (!in) {
		fprintf(stderr, "cwkbase: %s\n", err);
		return -1;
	}
	const uint8_t *data;
	size_t len, skipped = 0;
	uint64_t ts;
	int rc;
	while ((rc = pcapin_next(in, &data, &len, &ts)) == 1) {
		struct frame_info fi;
		struct cwp_dgram_hdr h;
		if (frame_parse(data, len, udp_port, 0, &fi) != FRAME_OK ||
		    cwp_parse_dgram_hdr(fi.payload, fi.payload_len, &h) != CWP_DG_OK) {
			skipped++;
			continue;
		}
		if (keep_frame(c, data, len, &fi, &h) < 0) {
			fprintf(stderr, "cwkbase: out of memory loading %s\n", path);
			rc = -1;
			break;
		}
	}
	pcapin_close(in);
	if (rc < 0)
		return -1;
	if (skipped)
		fprintf(stderr, "cwkbase: %s: %zu frames are not CWP/1 requests, skipped\n", path,
			skipped);
	return 0;
}

void kb_free_capture(struct kb_capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].data);
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
