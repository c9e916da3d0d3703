/*
 * seeds.h - the `--seeds IN.pcap... OUTDIR` mode shared by the fuzz targets.
 *
 * Why this file exists: libFuzzer starts far faster from real datagrams than from nothing, and
 * the conformance vectors are the best real datagrams there are. Each target's binary can write
 * its own seed corpus from captures (tests/fuzz/run.sh calls it), so no extra tool has to be
 * built and the seeds are exactly what the target reads: the UDP payload or the whole frame.
 * Included by the targets only (the Makefile builds each target from its one .c file).
 */
#ifndef CW_FUZZ_SEEDS_H
#define CW_FUZZ_SEEDS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/wire/frame.h"
#include "dataplane/wire/pcapio.h"

static int seeds_write(const char *dir, unsigned n, const uint8_t *p, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/seed-%05u", dir, n);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

/* argv: PROG --seeds IN.pcap... OUTDIR. payload_only: the UDP payload, else the whole frame. */
static int seeds_main(int argc, char **argv, int payload_only)
{
	const char *dir = argv[argc - 1];
	unsigned n = 0;
	for (int i = 2; i < argc - 1; i++) {
		char err[256];
		struct pcap_in *in = pcapin_open(argv[i], err);
		if (!in) {
			fprintf(stderr, "seeds: %s\n", err);
			return 1;
		}
		const uint8_t *d;
		size_t len;
		uint64_t ts;
		while (pcapin_next(in, &d, &len, &ts) == 1) {
			struct frame_info fi;
			if (payload_only) {
				/* bad checksums and other ports still carry interesting payloads */
				if (frame_parse(d, len, 0, FRAME_SKIP_IP_CSUM | FRAME_SKIP_UDP_CSUM,
						&fi) != FRAME_OK)
					continue;
				d = fi.payload;
				len = fi.payload_len;
			}
			if (seeds_write(dir, n++, d, len))
				return 1;
		}
		pcapin_close(in);
	}
	printf("seeds: %u files in %s\n", n, dir);
	return 0;
}

/* Called from LLVMFuzzerInitialize: runs the seeds mode and exits when asked for it. */
static void seeds_mode(int *argc, char ***argv, int payload_only)
{
	if (*argc >= 4 && !strcmp((*argv)[1], "--seeds"))
		exit(seeds_main(*argc, *argv, payload_only));
	if (*argc >= 2 && !strcmp((*argv)[1], "--seeds")) {
		fprintf(stderr, "usage: %s --seeds IN.pcap... OUTDIR\n", (*argv)[0]);
		exit(2);
	}
}

#endif
