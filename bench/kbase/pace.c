/*
 * pace.c - `cwkbase pace`: a rate-controlled DPDK generator for the latency experiments.
 *
 * Why this file exists: the gateway's latency means something only under a known offered load,
 * and a capture replayed by net_pcap always arrives in full bursts. This process sends the
 * workload's frames through DPDK port 0 (net_memif to the gateway, in the benchmark) at a fixed
 * message rate, paced on the TSC, one frame as soon as it is due. The capture is replayed in a
 * loop; on each pass every sender's sequence numbers move up by the span they covered (UDP
 * checksum updated incrementally), so the gateway sees new messages, never duplicates or stale
 * ones. Frames the port refuses (the gateway's ring is full) are counted, not retried, when a
 * rate is set; with --rate 0 they are retried, which measures the most the gateway takes.
 * --hold keeps the pace but retries refused frames too: for runs that ask whether the gateway
 * keeps up (the update experiments), where a generator whose own CPU was taken away would
 * otherwise lose the frames that came due meanwhile at the ring, in its catch-up burst.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "bench/kbase/kbase.h"
#include "dataplane/wire/cwp.h"

#define PACE_BURST 32
#define DATA_ROOM  (4096 + RTE_PKTMBUF_HEADROOM)

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

struct pace_opts {
	const char *in, *json;
	double rate, seconds, wait;
	uint16_t port;
	bool hold;	   /* retry refused frames at any rate */
	double until_down; /* after the report, keep the port until its link goes down */
};

/* Per second of a paced run: how late the generator sent its latest frame (its CPU taken away,
 * it then sends all that came due at once) and how many frames the port refused. When the
 * gateway's answered rate dips, this tells a generator that fell behind from a gateway that
 * took less. */
#define PACE_MAX_SECONDS 3600

struct pace_stats {
	uint64_t frames, messages, refused, refused_msgs, passes, rx_frames;
	uint64_t deferred; /* --hold: frames refused at least once, then sent */
	double seconds;
	double late_ms_per_s[PACE_MAX_SECONDS];
	uint64_t refused_per_s[PACE_MAX_SECONDS]; /* with --hold: frames deferred */
};

/* Per sender, how far sequence numbers move on each pass: the span the capture covers. */
static uint64_t *sender_spans(const struct kb_capture *cap, uint32_t *max_id)
{
	uint32_t m = 0;
	for (size_t i = 0; i < cap->n; i++)
		m = cap->v[i].sender > m ? cap->v[i].sender : m;
	uint64_t *lo = calloc(m + 1, sizeof(uint64_t)), *hi = calloc(m + 1, sizeof(uint64_t));
	if (!lo || !hi) {
		free(lo);
		free(hi);
		return NULL;
	}
	for (size_t i = 0; i < cap->n; i++) {
		const struct kb_frame *f = &cap->v[i];
		if (!lo[f->sender] || f->seq < lo[f->sender])
			lo[f->sender] = f->seq;
		if (f->seq + f->count > hi[f->sender])
			hi[f->sender] = f->seq + f->count;
	}
	for (uint32_t s = 0; s <= m; s++)
		hi[s] -= lo[s];
	free(lo);
	*max_id = m;
	return hi;
}

static uint32_t csum_add16(uint32_t sum, const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	return sum;
}

/* Writes seq (little-endian, DESIGN §3.1) into the frame copy and fixes the UDP checksum
 * (RFC 1624: HC' = ~(~HC + ~m + m') over the changed 16-bit words). */
static void set_seq(uint8_t *frame, const struct kb_frame *f, uint64_t seq)
{
	uint8_t *field = frame + f->payload_off + 16;
	uint8_t *ck = frame + f->udp_off + 6;
	uint16_t old_ck = (uint16_t)(ck[0] << 8 | ck[1]);
	uint8_t old[8], neu[8];
	memcpy(old, field, 8);
	for (unsigned i = 0; i < 8; i++)
		neu[i] = (uint8_t)(seq >> (8 * i));
	memcpy(field, neu, 8);
	if (old_ck == 0 && !f->ipv6)
		return; /* IPv4 without a checksum */
	uint32_t sum = (uint16_t)~old_ck;
	uint8_t inv[8];
	for (unsigned i = 0; i < 8; i++)
		inv[i] = (uint8_t)~old[i];
	/* The payload offset is even within the UDP segment, so words line up. */
	sum = csum_add16(sum, inv, 8);
	sum = csum_add16(sum, neu, 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = (uint16_t)~sum;
	if (c == 0)
		c = 0xffff;
	ck[0] = (uint8_t)(c >> 8);
	ck[1] = (uint8_t)c;
}

/* Until the port's link is up (or down), at most max_s seconds, asleep in between. */
static bool wait_link(uint16_t port, bool up, double max_s)
{
	const uint64_t hz = rte_get_tsc_hz(), end = rte_rdtsc() + (uint64_t)(max_s * (double)hz);
	struct rte_eth_link link;
	do {
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(port, &link);
		if (!link.link_status == !up)
			return true;
		rte_delay_us_sleep(10000);
	} while (rte_rdtsc() < end);
	return false;
}

static int port_start(uint16_t port, struct rte_mempool *mp, double wait_s)
{
	struct rte_eth_conf conf = {0};
	if (rte_eth_dev_configure(port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), NULL, mp) < 0 ||
	    rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), NULL) < 0 ||
	    rte_eth_dev_start(port) < 0)
		return -1;
	if (wait_link(port, true, wait_s))
		return 0;
	fprintf(stderr, "cwkbase pace: port %u link still down after %.0f s\n", port, wait_s);
	return -1;
}

static void drain_rx(uint16_t port, struct pace_stats *st)
{
	struct rte_mbuf *rx[PACE_BURST];
	uint16_t n = rte_eth_rx_burst(port, 0, rx, PACE_BURST);
	st->rx_frames += n;
	rte_pktmbuf_free_bulk(rx, n);
}

/* Copies frame i of pass p into a fresh mbuf, its sequence numbers moved up by p spans. */
static struct rte_mbuf *make_frame(struct rte_mempool *mp, const struct kb_frame *f, uint64_t pass,
				   const uint64_t *span)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		return NULL;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)f->len);
	if (!d) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memcpy(d, f->data, f->len);
	if (pass)
		set_seq(d, f, f->seq + pass * span[f->sender]);
	return m;
}

struct pacer {
	const struct kb_capture *cap;
	const uint64_t *span;
	struct rte_mempool *mp;
	size_t next;
	uint64_t pass;
};

static void pace_loop(struct pacer *p, const struct pace_opts *o, struct pace_stats *st)
{
	const double hz = (double)rte_get_tsc_hz();
	const uint64_t t0 = rte_rdtsc(), stop = t0 + (uint64_t)(o->seconds * hz);
	const double per_msg = o->rate > 0 ? hz / o->rate : 0;
	double due = (double)t0;
	struct rte_mbuf *b[PACE_BURST];
	uint16_t cnt[PACE_BURST];
	uint16_t held = 0; /* frames built and not yet accepted (kept with --rate 0 or --hold) */
	const bool keep = per_msg == 0 || o->hold;
	uint64_t now;
	while ((now = rte_rdtsc()) < stop && !stop_now) {
		const uint16_t retried = held; /* b[0..retried) were refused before */
		while (held < PACE_BURST && (per_msg == 0 || due <= (double)now)) {
			const struct kb_frame *f = &p->cap->v[p->next];
			struct rte_mbuf *m = make_frame(p->mp, f, p->pass, p->span);
			if (!m)
				break;
			cnt[held] = f->count;
			b[held++] = m;
			due += per_msg * f->count;
			if (++p->next == p->cap->n) {
				p->next = 0;
				p->pass++;
			}
		}
		uint16_t k = held ? rte_eth_tx_burst(o->port, 0, b, held) : 0;
		for (uint16_t i = 0; i < k; i++)
			st->messages += cnt[i];
		const uint64_t second = (uint64_t)((double)(now - t0) / hz);
		if (per_msg > 0 && second < PACE_MAX_SECONDS) {
			/* due is the next frame's time: the frames sent came due before it */
			const double late = ((double)now - due) / hz * 1e3;
			if (late > st->late_ms_per_s[second])
				st->late_ms_per_s[second] = late;
			/* refused now and not before: dropped below, or (--hold) deferred */
			st->refused_per_s[second] += (uint64_t)(held - (k > retried ? k : retried));
		}
		st->frames += k;
		if (o->hold)
			st->deferred += (uint64_t)(held - (k > retried ? k : retried));
		if (!keep && k < held) {
			for (uint16_t i = k; i < held; i++)
				st->refused_msgs += cnt[i];
			st->refused += (uint64_t)(held - k);
			rte_pktmbuf_free_bulk(b + k, (unsigned)(held - k));
			held = 0;
		} else {
			memmove(b, b + k, (size_t)(held - k) * sizeof(b[0]));
			memmove(cnt, cnt + k, (size_t)(held - k) * sizeof(cnt[0]));
			held = (uint16_t)(held - k);
		}
		drain_rx(o->port, st);
	}
	rte_pktmbuf_free_bulk(b, held);
	st->seconds = (double)(rte_rdtsc() - t0) / hz;
	st->passes = p->pass;
}

/* The frames still in the link's ring when sending ends are the gateway's to take: closing the
 * port at once would throw them away (a memif ring goes with its connection) and count them as
 * lost between generator and gateway. So the port stays up, its answers drained, until no answer
 * has come for 200 ms (2 s at most; when the answers go to another port, that is 200 ms). */
static void linger(uint16_t port, struct pace_stats *st)
{
	const uint64_t hz = rte_get_tsc_hz(), quiet = hz / 5, end = rte_rdtsc() + 2 * hz;
	uint64_t last = rte_rdtsc(), seen = st->rx_frames, now;
	while ((now = rte_rdtsc()) < end && now - last < quiet) {
		drain_rx(port, st);
		if (st->rx_frames != seen) {
			seen = st->rx_frames;
			last = now;
		}
	}
}

static int parse_pace(int argc, char **argv, struct pace_opts *o)
{
	static const struct option lo[] = {{"in", required_argument, NULL, 'i'},
					   {"json", required_argument, NULL, 'j'},
					   {"rate", required_argument, NULL, 'r'},
					   {"seconds", required_argument, NULL, 's'},
					   {"port", required_argument, NULL, 'p'},
					   {"wait", required_argument, NULL, 'w'},
					   {"hold", no_argument, NULL, 'h'},
					   {"until-down", required_argument, NULL, 'u'},
					   {NULL, 0, NULL, 0}};
	*o = (struct pace_opts){.seconds = 5, .wait = 900};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->in = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'r':
			o->rate = atof(optarg);
			break;
		case 's':
			o->seconds = atof(optarg);
			break;
		case 'p':
			o->port = (uint16_t)atoi(optarg);
			break;
		case 'w':
			o->wait = atof(optarg);
			break;
		case 'h':
			o->hold = true;
			break;
		case 'u':
			o->until_down = atof(optarg);
			break;
		default:
			return -1;
		}
	}
	if (!o->in || o->rate < 0 || o->seconds <= 0) {
		fprintf(stderr, "cwkbase pace: --in is required; --rate >= 0, --seconds > 0\n");
		return -1;
	}
	return 0;
}

/* Written beside the report's path and renamed onto it, so that whoever waits for the file
 * (bench/run.sh, while the generator holds its link) never reads half of it. */
static void pace_report(const struct pace_opts *o, const struct pace_stats *st)
{
	char tmp[4096];
	if (o->json && snprintf(tmp, sizeof(tmp), "%s.tmp", o->json) >= (int)sizeof(tmp))
		return;
	FILE *f = o->json ? fopen(tmp, "w") : stdout;
	if (!f)
		return;
	fprintf(f,
		"{\"rate\": %.1f, \"seconds\": %.6f, \"frames\": %lu, \"messages\": %lu, "
		"\"refused_frames\": %lu, \"refused_messages\": %lu, \"passes\": %lu, "
		"\"rx_frames\": %lu, \"hold\": %s, \"deferred_frames\": %lu, \"msgs_per_s\": %.1f",
		o->rate, st->seconds, st->frames, st->messages, st->refused, st->refused_msgs,
		st->passes, st->rx_frames, o->hold ? "true" : "false", st->deferred,
		st->seconds > 0 ? (double)st->messages / st->seconds : 0);
	const uint64_t whole = o->rate > 0 ? (uint64_t)st->seconds + 1 : 0;
	fprintf(f, ", \"late_ms_per_s\": [");
	for (uint64_t i = 0; i < whole && i < PACE_MAX_SECONDS; i++)
		fprintf(f, "%s%.2f", i ? ", " : "", st->late_ms_per_s[i]);
	fprintf(f, "], \"refused_per_s\": [");
	for (uint64_t i = 0; i < whole && i < PACE_MAX_SECONDS; i++)
		fprintf(f, "%s%lu", i ? ", " : "", (unsigned long)st->refused_per_s[i]);
	fprintf(f, "]}\n");
	if (o->json && fclose(f) == 0)
		rename(tmp, o->json);
}

int kb_pace(int argc, char **argv)
{
	int n = rte_eal_init(argc, argv);
	if (n < 0) {
		fprintf(stderr, "cwkbase pace: EAL init failed\n");
		return 3;
	}
	struct pace_opts o;
	if (parse_pace(argc - n, argv + n, &o) < 0)
		return 2;
	struct kb_capture cap = {0};
	uint32_t max_id = 0;
	uint64_t *span = NULL;
	if (kb_load_capture(o.in, CWP_DEFAULT_PORT, &cap) < 0 || !cap.n ||
	    !(span = sender_spans(&cap, &max_id)))
		return 1;
	for (size_t i = 0; i < cap.n; i++)
		if (cap.v[i].len > DATA_ROOM - RTE_PKTMBUF_HEADROOM) {
			fprintf(stderr, "cwkbase pace: frame %zu is %u bytes, too big\n", i,
				cap.v[i].len);
			return 1;
		}
	struct rte_mempool *mp =
	    rte_pktmbuf_pool_create("pace", 8191, 256, 0, DATA_ROOM, (int)rte_socket_id());
	if (!mp || o.port >= rte_eth_dev_count_avail() || port_start(o.port, mp, o.wait) < 0) {
		fprintf(stderr, "cwkbase pace: cannot start port %u\n", o.port);
		return 3;
	}
	signal(SIGINT, on_signal); /* SIGINT/SIGTERM end the run early, with a report */
	signal(SIGTERM, on_signal);
	struct pacer p = {.cap = &cap, .span = span, .mp = mp};
	struct pace_stats st = {0};
	pace_loop(&p, &o, &st);
	linger(o.port, &st);
	pace_report(&o, &st);
	/* DPDK 22.11's memif unmaps a connection's shared memory as soon as its peer goes, from
	 * the interrupt thread, without waiting for a data path that may be inside a burst on it:
	 * a gateway whose generator disconnects while it polls can crash (seen once in
	 * bench_pace.sh). With --until-down S the generator, its report written, keeps its port,
	 * idle, until the gateway has stopped and taken the link down (at most S seconds; SIGINT,
	 * which ends a run, does not cut this short): the side that goes is the one that no longer
	 * polls. */
	if (o.until_down > 0)
		wait_link(o.port, false, o.until_down);
	rte_eth_dev_stop(o.port);
	rte_eth_dev_close(o.port);
	free(span);
	kb_free_capture(&cap);
	rte_eal_cleanup();
	return 0;
}
