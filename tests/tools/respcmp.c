/*
 * respcmp.c - compares two captures of response frames the way the conformance README asks:
 * datagram by datagram, the same UDP payload to the same addresses and ports (IP id, TTL and
 * checksum values may differ; checksums must be valid, which frame_parse checks).
 *
 * usage: respcmp EXPECTED.pcap GOT.pcap [--multiset]
 *   --multiset: the same datagrams in any order (several workers answer in parallel).
 * Exit 0 when equal, 1 with the first differences on stderr, 2 on a usage or file error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"

struct resp {
	char *key; /* addresses, ports, VLAN, payload, as hex */
	size_t len;
};

static char *describe(const uint8_t *f, size_t len, int *bad)
{
	struct frame_info fi;
	/* responses leave from the gateway's port: accept any destination port */
	enum frame_drop d = frame_parse(f, len, 0, 0, &fi);
	if (d != FRAME_OK && d != FRAME_DROP_PORT) {
		*bad = 1;
		return strdup(frame_drop_name(d));
	}
	size_t cap = 256 + 2 * (size_t)fi.payload_len;
	char *s = malloc(cap), *p = s;
	p += sprintf(p, "%s vlan=%d:%u src=", fi.ipv6 ? "v6" : "v4", fi.has_vlan, fi.vlan_tci);
	for (int i = 0; i < (fi.ipv6 ? 16 : 4); i++)
		p += sprintf(p, "%02x", fi.src_ip[i]);
	p += sprintf(p, ":%u dst=", fi.src_port);
	for (int i = 0; i < (fi.ipv6 ? 16 : 4); i++)
		p += sprintf(p, "%02x", fi.dst_ip[i]);
	p += sprintf(p, ":%u mac=", fi.dst_port);
	for (int i = 0; i < 6; i++)
		p += sprintf(p, "%02x%02x", fi.src_mac[i], fi.dst_mac[i]);
	p += sprintf(p, " payload=");
	for (unsigned i = 0; i < fi.payload_len; i++)
		p += sprintf(p, "%02x", fi.payload[i]);
	return s;
}

static struct resp *load(const char *path, size_t *n, int *bad)
{
	char err[256];
	struct pcap_in *in = pcapin_open(path, err);
	if (!in) {
		fprintf(stderr, "respcmp: %s\n", err);
		exit(2);
	}
	size_t cap = 1024;
	struct resp *v = malloc(cap * sizeof(*v));
	const uint8_t *data;
	size_t len;
	uint64_t ts;
	*n = 0;
	while (pcapin_next(in, &data, &len, &ts) == 1) {
		if (*n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[*n].key = describe(data, len, bad);
		v[*n].len = len;
		(*n)++;
	}
	pcapin_close(in);
	return v;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct resp *)a)->key, ((const struct resp *)b)->key);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: respcmp EXPECTED.pcap GOT.pcap [--multiset]\n");
		return 2;
	}
	int bad = 0;
	size_t na, nb;
	struct resp *a = load(argv[1], &na, &bad), *b = load(argv[2], &nb, &bad);
	if (argc > 3 && !strcmp(argv[3], "--multiset")) {
		qsort(a, na, sizeof(*a), by_key);
		qsort(b, nb, sizeof(*b), by_key);
	}
	size_t diffs = 0;
	for (size_t i = 0; i < na && i < nb; i++)
		if (strcmp(a[i].key, b[i].key) && diffs++ < 5)
			fprintf(stderr, "datagram %zu differs:\n  expected %.300s\n  got      %.300s\n",
				i, a[i].key, b[i].key);
	if (na != nb)
		fprintf(stderr, "respcmp: %zu datagrams expected, %zu got\n", na, nb);
	if (bad)
		fprintf(stderr, "respcmp: a frame did not parse (bad checksum or truncated)\n");
	printf("respcmp: %zu datagrams, %zu differ\n", na, diffs);
	return diffs || na != nb || bad ? 1 : 0;
}
