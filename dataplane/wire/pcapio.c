/*
 * pcapio.c - classic pcap files in and out over libpcap (see pcapio.h).
 *
 * Why this file exists: one place decides the capture format of every tool (Ethernet link type,
 * snap length 65535, microsecond timestamps), so captures written by cwgen, cwctl and the tests
 * open anywhere (tcpdump, Wireshark) and read back identically.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <pcap/pcap.h>

#include "dataplane/wire/pcapio.h"

#define PCAP_SNAPLEN 65535
#define ERR_LEN	     256

struct pcap_in {
	pcap_t *p;
};

struct pcap_out {
	pcap_t *p;
	pcap_dumper_t *d;
	char *buf; /* the file's stdio buffer */
};

/* A capture of answers is written a frame at a time; with stdio's default 4 KB buffer that
 * was a write(2) every few frames (~25 000 for `cwctl simulate` on 1 M messages). */
#define OUT_BUF (1u << 20)

struct pcap_in *pcapin_open(const char *path, char *err)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	/* Nanosecond files are scaled to microseconds by libpcap. */
	pcap_t *p =
	    pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, perr);
	if (!p) {
		snprintf(err, ERR_LEN, "%s: %s", path, perr);
		return NULL;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		snprintf(err, ERR_LEN, "%s: link type %d is not Ethernet", path, pcap_datalink(p));
		pcap_close(p);
		return NULL;
	}
	struct pcap_in *in = calloc(1, sizeof(*in));
	if (!in) {
		snprintf(err, ERR_LEN, "%s: out of memory", path);
		pcap_close(p);
		return NULL;
	}
	in->p = p;
	return in;
}

int pcapin_next(struct pcap_in *in, const uint8_t **data, size_t *len, uint64_t *ts_us)
{
	struct pcap_pkthdr *h;
	const u_char *bytes;
	int rc = pcap_next_ex(in->p, &h, &bytes);
	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1)
		return -1;
	*data = bytes;
	*len = h->caplen;
	if (ts_us)
		*ts_us = (uint64_t)h->ts.tv_sec * 1000000u + (uint64_t)h->ts.tv_usec;
	return 1;
}

void pcapin_close(struct pcap_in *in)
{
	if (!in)
		return;
	pcap_close(in->p);
	free(in);
}

/* Grows *buf (capacity *cap) to hold need bytes. */
static int reserve(void **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	void *nb = realloc(*buf, c);
	if (!nb)
		return -1;
	*buf = nb;
	*cap = c;
	return 0;
}

/* The frames of a capture never need more bytes than its file holds, so the buffer is sized from
 * the file up front, on transparent huge pages where the kernel grants them: replaying a capture
 * of hundreds of MB from 4 KB pages spent a TLB miss every few frames (cwctl simulate on 1 M
 * cwgen messages: 1.21x, bench/ab.sh -n 4). Small sizes, or a failure here, grow as they go. */
#define HUGE_2M (1u << 21)
void pcap_mem_reserve(struct pcap_mem *m, size_t bytes)
{
	if (m->buf || bytes < HUGE_2M)
		return;
	size_t c = (bytes + HUGE_2M - 1) & ~(size_t)(HUGE_2M - 1);
	uint8_t *b = aligned_alloc(HUGE_2M, c);
	if (!b)
		return;
	madvise(b, c, MADV_HUGEPAGE); /* advice: without it the buffer is still good */
	m->buf = b;
	m->bcap = c;
}

int pcap_load_part(struct pcap_in *in, struct pcap_mem *m, uint64_t max_bytes, char *err)
{
	m->n = 0;
	m->bytes = 0;
	const uint8_t *data;
	size_t len;
	uint64_t ts;
	int rc = 0;
	while (m->bytes < max_bytes && (rc = pcapin_next(in, &data, &len, &ts)) == 1) {
		if (reserve((void **)&m->v, &m->vcap, (m->n + 1) * sizeof(*m->v)) < 0 ||
		    reserve((void **)&m->buf, &m->bcap, m->bytes + len) < 0) {
			rc = -2;
			break;
		}
		memcpy(m->buf + m->bytes, data, len);
		/* offsets until the buffer stops moving */
		m->v[m->n++] =
		    (struct pcap_frame){(const uint8_t *)(uintptr_t)m->bytes, (uint32_t)len, ts};
		m->bytes += len;
	}
	if (rc < 0) {
		snprintf(err, ERR_LEN, "%s after %zu frames of this part",
			 rc == -2 ? "out of memory" : "read error", m->n);
		return -1;
	}
	for (size_t i = 0; i < m->n; i++)
		m->v[i].data = m->buf + (uintptr_t)m->v[i].data;
	return m->n > 0;
}

int pcap_load(const char *path, struct pcap_mem *m, char *err)
{
	memset(m, 0, sizeof(*m));
	struct pcap_in *in = pcapin_open(path, err);
	if (!in)
		return -1;
	struct stat st;
	if (stat(path, &st) == 0)
		pcap_mem_reserve(m, (size_t)st.st_size);
	char perr[ERR_LEN];
	int rc = pcap_load_part(in, m, UINT64_MAX, perr);
	pcapin_close(in);
	if (rc < 0) {
		snprintf(err, ERR_LEN, "%s: %.200s", path, perr);
		pcap_mem_free(m);
		return -1;
	}
	return 0;
}

void pcap_mem_free(struct pcap_mem *m)
{
	free(m->v);
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

struct pcap_out *pcapout_open(const char *path, char *err)
{
	struct pcap_out *out = calloc(1, sizeof(*out));
	if (!out) {
		snprintf(err, ERR_LEN, "%s: out of memory", path);
		return NULL;
	}
	out->p = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, PCAP_SNAPLEN,
						      PCAP_TSTAMP_PRECISION_MICRO);
	if (!out->p) {
		snprintf(err, ERR_LEN, "%s: pcap_open_dead failed", path);
		free(out);
		return NULL;
	}
	FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout; /* "-": as pcap_dump_open */
	out->buf = f ? malloc(OUT_BUF) : NULL;
	if (out->buf)
		setvbuf(f, out->buf, _IOFBF, OUT_BUF);
	out->d = f ? pcap_dump_fopen(out->p, f) : NULL;
	if (!out->d) {
		snprintf(err, ERR_LEN, "%s: %s", path, f ? pcap_geterr(out->p) : strerror(errno));
		if (f && f != stdout)
			fclose(f);
		pcap_close(out->p);
		free(out->buf);
		free(out);
		return NULL;
	}
	return out;
}

int pcapout_write(struct pcap_out *out, const uint8_t *data, size_t len, uint64_t ts_us)
{
	if (len > PCAP_SNAPLEN)
		return -1;
	struct pcap_pkthdr h = {0};
	h.ts.tv_sec = (time_t)(ts_us / 1000000u);
	h.ts.tv_usec = (suseconds_t)(ts_us % 1000000u);
	h.caplen = (bpf_u_int32)len;
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)out->d, &h, data);
	return ferror_unlocked(pcap_dump_file(out->d)) ? -1 : 0;
}

void pcapout_close(struct pcap_out *out)
{
	if (!out)
		return;
	pcap_dump_close(out->d); /* flushes and closes the file, before its buffer goes */
	pcap_close(out->p);
	free(out->buf);
	free(out);
}
