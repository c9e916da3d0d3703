/*
 * main.c - `cwkbase MODE ...`: the benchmark's drivers around the decision engine.
 *
 * Why this file exists: one entry point for the four modes (see kbase.h), so `make` builds one
 * program from bench/kbase/.
 */
#include <stdio.h>
#include <string.h>

#include "bench/kbase/kbase.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: cwkbase serve --rules R --registry E --senders S [--core C] [--port P]\n"
	    "                     [--idle-exit MS] [--json FILE] [--ready FILE] [--mem MB]\n"
	    "                     [--huge-dir DIR]\n"
	    "       cwkbase blast --in REQUESTS.pcap [--core C] [--port P] [--window N]\n"
	    "                     [--json FILE]\n"
	    "       cwkbase pace [EAL options] -- --in REQUESTS.pcap --rate MSGS_PER_S\n"
	    "                     --seconds S [--port P] [--json FILE] [--hold]\n"
	    "                     [--until-down S]\n"
	    "       cwkbase stalls [--core C] [--seconds S] [--json FILE]\n"
	    "serve: the engine behind one UDP socket (recvmmsg/sendmmsg) on 127.0.0.1, one thread\n"
	    "       pinned to --core (EAL is initialised there with --no-huge).\n"
	    "blast: replays the capture's UDP payloads to serve over loopback, at most --window\n"
	    "       messages unanswered, and counts the answers.\n"
	    "pace:  sends the capture's frames through DPDK port 0 (e.g. net_memif) at a fixed\n"
	    "       message rate (0: as fast as the port takes them), looping with shifted "
	    "sequence\n"
	    "       numbers so every pass is new traffic. Frames the port refuses are dropped\n"
	    "       and counted, unless --hold (or rate 0): then they are sent as soon as it\n"
	    "       takes them. --until-down S: once the report is written, keep the port\n"
	    "       (idle) until the gateway takes the link down, at most S s.\n"
	    "stalls: spins on --core and measures the gaps when the CPU was taken away: how\n"
	    "       often, how long, and the share of instants that would wait over 5 us.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return kb_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "blast"))
		return kb_blast(argc - 1, argv + 1);
	if (!strcmp(argv[1], "pace"))
		return kb_pace(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stalls"))
		return kb_stalls(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
