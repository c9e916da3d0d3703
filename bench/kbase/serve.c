/*
 * serve.c - `cwkbase serve`: the decision engine behind kernel UDP sockets.
 *
 * Why this file exists: DESIGN §8 asks how the DPDK gateway compares with the same engine behind
 * recvmmsg/sendmmsg on the same core. This is that baseline: one thread pinned to the worker
 * core, one SO_REUSEPORT socket on 127.0.0.1, bursts of up to 32 datagrams through the very
 * burst API the gateway's workers use, answers encoded the same way and sent back with one
 * sendmmsg per burst. Senders' prefixes are replaced by loopback ones (kb_sender_addr) so the
 * source check still runs on every datagram.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>

#include "bench/kbase/kbase.h"
#include "dataplane/wire/cwp.h"
#include "control/load.h"
#include "rules/engine.h"

#define BURST	  32
#define MAX_RESP  (BURST * 4) /* 64 verdicts fit in 4 answers of 19 */
#define RESP_SIZE (CWP_DGRAM_HDR_LEN + CWP_MAX_MSGS * CWP_VERDICT_MSG_LEN)

struct serve_opts {
	const char *rules, *registry, *senders, *json, *ready, *huge_dir;
	unsigned core, mem_mb, idle_ms;
	uint16_t port;
};

struct serve_stats {
	uint64_t bursts, datagrams, responses, send_errors;
	double first, last;
};

/* EAL on the worker core: hugepages from huge_dir when given (in memory, no files), else 4 KB
 * pages, like the gateway's two modes. */
static int start_eal(unsigned core, unsigned mem_mb, const char *huge_dir)
{
	char lcore[16], prefix[48], mem[16];
	snprintf(lcore, sizeof(lcore), "%u", core);
	snprintf(prefix, sizeof(prefix), "--file-prefix=cwkbase%d", (int)getpid());
	snprintf(mem, sizeof(mem), "%u", mem_mb);
	char *args[16] = {
	    "cwkbase",	      "--no-pci", "-l", lcore, "-m", mem, "--log-level=lib.*:error",
	    "--no-telemetry", prefix};
	int n = 9;
	if (huge_dir) {
		args[n++] = "--in-memory";
		args[n++] = "--huge-dir";
		args[n++] = (char *)huge_dir;
	} else {
		args[n++] = "--no-huge";
		args[n++] = "--no-shconf";
	}
	return rte_eal_init(n, args) < 0 ? -1 : 0;
}

/* Registers every sender of the senders file under its loopback prefix. */
static int load_senders(struct cw_engine *e, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cwkbase: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[4096], err[256], prefix[32];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		unsigned long id = strtoul(line, &end, 10);
		if (end == line || *end != ',' || id == 0 || id > 0xffffffffUL)
			continue; /* the header line */
		uint32_t a = kb_sender_addr((uint32_t)id);
		snprintf(prefix, sizeof(prefix), "127.%u.%u.0/24", a >> 16 & 0xff, a >> 8 & 0xff);
		if (cw_sender_set(e, (uint32_t)id, prefix, "loopback", err, sizeof(err)) < 0) {
			fprintf(stderr, "cwkbase: sender %lu: %s\n", id, err);
			fclose(f);
			return -1;
		}
		n++;
	}
	fclose(f);
	return n;
}

static struct cw_engine *setup_engine(const struct serve_opts *o)
{
	struct cw_engine_config cfg;
	char err[256] = "";
	cw_engine_config_defaults(&cfg);
	cfg.max_workers = 1;
	struct cw_engine *e = cw_engine_create(&cfg, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "cwkbase: %s\n", err);
		return NULL;
	}
	struct cw_snapshot *s = cw_compile_file(o->rules, err, sizeof(err));
	if (!s || cw_registry_load_csv(e, o->registry, err, sizeof(err)) < 0 ||
	    load_senders(e, o->senders) < 0) {
		if (err[0]) /* load_senders says its own */
			fprintf(stderr, "cwkbase: %s\n", err);
		cw_snapshot_free(s);
		cw_engine_destroy(e);
		return NULL;
	}
	cw_engine_publish(e, s, false);
	return e;
}

static int open_socket(uint16_t port, unsigned idle_ms)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	int one = 1, buf = 32 << 20;
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* FORCE works as root past rmem_max; the plain option is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	struct timeval tv = {.tv_sec = idle_ms / 1000, .tv_usec = (idle_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct serve_bufs {
	uint8_t req[BURST][65536];
	struct sockaddr_in from[BURST];
	struct iovec riov[BURST];
	struct mmsghdr rmsg[BURST];
	struct cwp_verdict v[BURST][CWP_MAX_MSGS];
	uint16_t nv[BURST];
	uint32_t sender[BURST];
	uint8_t answered[BURST];
	uint8_t resp[MAX_RESP][RESP_SIZE];
	uint16_t rlen[MAX_RESP];
	struct iovec siov[MAX_RESP];
	struct mmsghdr smsg[MAX_RESP];
};

static void arm_receive(struct serve_bufs *b)
{
	for (unsigned i = 0; i < BURST; i++) {
		b->riov[i] = (struct iovec){b->req[i], sizeof(b->req[i])};
		b->rmsg[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
						     .msg_namelen = sizeof(b->from[i]),
						     .msg_iov = &b->riov[i],
						     .msg_iovlen = 1};
	}
}

/* Decides one burst of n received datagrams and sends every answer. */
static void serve_burst(struct cw_ctx *ctx, int fd, struct serve_bufs *b, unsigned n, unsigned per,
			struct serve_stats *st)
{
	cw_burst_begin(ctx);
	for (unsigned i = 0; i < n; i++) {
		uint32_t src = b->from[i].sin_addr.s_addr; /* network order, as on the wire */
		b->answered[i] =
		    cw_burst_add(ctx, b->req[i], b->rmsg[i].msg_len, (const uint8_t *)&src, false,
				 b->v[i], &b->nv[i], &b->sender[i]) == CW_DROP_NONE;
	}
	cw_burst_end(ctx);
	unsigned ns = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!b->answered[i])
			continue;
		unsigned nd = cw_encode_responses(b->v[i], b->nv[i], b->sender[i], per, b->resp[ns],
						  RESP_SIZE, &b->rlen[ns]);
		for (unsigned d = 0; d < nd; d++, ns++) {
			b->siov[ns] = (struct iovec){b->resp[ns], b->rlen[ns]};
			b->smsg[ns].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
							      .msg_namelen = sizeof(b->from[i]),
							      .msg_iov = &b->siov[ns],
							      .msg_iovlen = 1};
		}
	}
	for (unsigned off = 0; off < ns;) {
		int k = sendmmsg(fd, b->smsg + off, ns - off, 0);
		if (k <= 0) {
			st->send_errors += ns - off;
			break;
		}
		off += (unsigned)k;
	}
	st->responses += ns;
	st->datagrams += n;
	st->bursts++;
	cw_ctx_quiescent(ctx);
}

/* Receives until the socket has been idle for --idle-exit after the first datagram. */
static void serve_loop(struct cw_ctx *ctx, int fd, struct serve_stats *st)
{
	struct serve_bufs *b = calloc(1, sizeof(*b));
	if (!b)
		return;
	unsigned per = cwp_verdicts_per_dgram(1500, 20);
	double waited = 0, t_wait = kb_now();
	for (;;) {
		arm_receive(b);
		int n = recvmmsg(fd, b->rmsg, BURST, MSG_WAITFORONE, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				break;
			waited = kb_now() - t_wait;
			if (st->datagrams || waited > 600)
				break; /* idle after traffic, or nobody came */
			continue;
		}
		if (!st->datagrams)
			st->first = kb_now();
		serve_burst(ctx, fd, b, (unsigned)n, per, st);
		st->last = kb_now();
	}
	free(b);
}

static void write_json(const struct serve_opts *o, const struct serve_stats *st,
		       const struct cw_counters *k)
{
	double active = st->last > st->first ? st->last - st->first : 0;
	FILE *f = o->json ? fopen(o->json, "w") : stdout;
	if (!f)
		return;
	fprintf(f,
		"{\"core\": %u, \"tsc_hz\": %lu, \"bursts\": %lu, \"datagrams\": %lu, "
		"\"answered_datagrams\": %lu, \"messages\": %lu, \"responses\": %lu, "
		"\"send_errors\": %lu, \"drops_header\": %lu, \"drops_unknown_sender\": %lu, "
		"\"drops_source\": %lu, \"duplicates\": %lu, \"active_s\": %.6f, "
		"\"msgs_per_s\": %.1f}\n",
		o->core, (unsigned long)rte_get_tsc_hz(), st->bursts, st->datagrams,
		k->answered_datagrams, k->messages, st->responses, st->send_errors,
		k->drops[CW_DROP_HEADER], k->drops[CW_DROP_UNKNOWN_SENDER],
		k->drops[CW_DROP_SOURCE], k->duplicates, active,
		active > 0 ? (double)k->messages / active : 0.0);
	if (o->json)
		fclose(f);
}

static int parse_serve(int argc, char **argv, struct serve_opts *o)
{
	static const struct option lo[] = {{"rules", required_argument, NULL, 'r'},
					   {"registry", required_argument, NULL, 'e'},
					   {"senders", required_argument, NULL, 's'},
					   {"core", required_argument, NULL, 'c'},
					   {"port", required_argument, NULL, 'p'},
					   {"idle-exit", required_argument, NULL, 'i'},
					   {"json", required_argument, NULL, 'j'},
					   {"ready", required_argument, NULL, 'y'},
					   {"mem", required_argument, NULL, 'm'},
					   {"huge-dir", required_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	*o = (struct serve_opts){.core = 1, .port = 7350, .idle_ms = 500, .mem_mb = 2048};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->rules = optarg;
			break;
		case 'e':
			o->registry = optarg;
			break;
		case 's':
			o->senders = optarg;
			break;
		case 'c':
			o->core = (unsigned)atoi(optarg);
			break;
		case 'p':
			o->port = (uint16_t)atoi(optarg);
			break;
		case 'i':
			o->idle_ms = (unsigned)atoi(optarg);
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'y':
			o->ready = optarg;
			break;
		case 'm':
			o->mem_mb = (unsigned)atoi(optarg);
			break;
		case 'h':
			o->huge_dir = optarg;
			break;
		default:
			return -1;
		}
	}
	if (!o->rules || !o->registry || !o->senders || !o->idle_ms) {
		fprintf(stderr, "cwkbase serve: --rules, --registry and --senders are required\n");
		return -1;
	}
	return 0;
}

int kb_serve(int argc, char **argv)
{
	struct serve_opts o;
	if (parse_serve(argc, argv, &o) < 0)
		return 2;
	if (start_eal(o.core, o.mem_mb, o.huge_dir) < 0) {
		fprintf(stderr, "cwkbase: EAL init failed\n");
		return 3;
	}
	struct cw_engine *e = setup_engine(&o);
	struct cw_ctx *ctx = e ? cw_ctx_create(e, 0) : NULL;
	int fd = ctx ? open_socket(o.port, o.idle_ms) : -1;
	if (fd < 0) {
		fprintf(stderr, "cwkbase: cannot start (engine or socket on port %u)\n", o.port);
		return 3;
	}
	if (o.ready) {
		FILE *f = fopen(o.ready, "w");
		if (f)
			fclose(f);
	}
	struct serve_stats st = {0};
	serve_loop(ctx, fd, &st);
	write_json(&o, &st, cw_ctx_counters(ctx));
	close(fd);
	cw_ctx_destroy(ctx);
	cw_engine_destroy(e);
	rte_eal_cleanup();
	return 0;
}
