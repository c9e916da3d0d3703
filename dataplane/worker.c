/*
 * worker.c - the packet path: one run-to-completion loop per worker lcore.
 *
 * Why this file exists: this is where DESIGN §2's pipeline runs at line rate. Each worker polls
 * its own RX queues, parses a burst of up to 32 frames (Ethernet, VLAN, IP, UDP: dataplane/wire),
 * hands the CWP payloads to the engine as one burst, then writes the answers back into the
 * request mbufs where they fit (fresh mbufs otherwise) and sends them in TX bursts. No locks
 * (except on ports with fewer TX queues than workers), no system calls and no allocation besides
 * mbufs on this path. Every received frame ends in exactly one counter, so the totals add up.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane/gateway.h"

#define PREFETCH_AHEAD 4
#define TXBUF	       512 /* response frames held per port before a flush */
#define JBUF	       128 /* journal records held before an enqueue */

struct txbuf {
	uint16_t n;
	uint16_t queue;
	bool shared;
	uint64_t bytes;
	struct rte_mbuf *m[TXBUF];
};

struct gw_worker {
	unsigned id, lcore;
	struct cw_ctx *ctx;
	struct rte_mempool *pool;
	uint16_t udp_port;
	int tx_port;
	unsigned per_v4, per_v6;
	uint16_t nrxq;
	struct gw_rxq rxq[GW_MAX_RXQ];

	/* written only by this worker; others read them with relaxed loads */
	struct gw_dp_counters cnt __rte_cache_aligned;
	uint64_t first_rx_tsc, last_tsc;
	struct gw_latency lat __rte_cache_aligned;

	/* per-burst scratch */
	struct rte_mbuf *rx[GW_BURST] __rte_cache_aligned;
	struct frame_info fi[GW_BURST];
	uint16_t nv[GW_BURST];
	uint32_t sender[GW_BURST];
	struct cwp_verdict v[GW_BURST][CWP_MAX_MSGS];
	struct txbuf tx[GW_MAX_PORTS];
	uint16_t nj;
	struct cw_journal_rec jbuf[JBUF];
	uint8_t (*linear)[GW_MAX_FRAME]; /* multi-segment frames are copied here */
};

#define CNT(w, field, n) __atomic_store_n(&(w)->cnt.field, (w)->cnt.field + (n), __ATOMIC_RELAXED)

struct gw_worker *gw_worker_create(unsigned id, unsigned lcore)
{
	int socket = (int)rte_lcore_to_socket_id(lcore);
	struct gw_worker *w =
	    rte_zmalloc_socket("cw_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, socket);
	if (!w)
		return NULL;
	w->linear = aligned_alloc(64, sizeof(*w->linear) * GW_BURST);
	w->ctx = cw_ctx_create(gw.engine, id);
	if (!w->linear || !w->ctx) {
		gw_worker_destroy(w);
		return NULL;
	}
	w->id = id;
	w->lcore = lcore;
	w->udp_port = gw.opt.udp_port;
	w->tx_port = gw.opt.tx_port;
	w->per_v4 = gw.per_dgram_v4;
	w->per_v6 = gw.per_dgram_v6;
	return w;
}

void gw_worker_destroy(struct gw_worker *w)
{
	if (!w)
		return;
	if (w->ctx)
		cw_ctx_destroy(w->ctx);
	free(w->linear);
	rte_free(w);
}

int gw_worker_add_rxq(struct gw_worker *w, struct gw_rxq q)
{
	if (w->nrxq == GW_MAX_RXQ)
		return -1;
	w->rxq[w->nrxq++] = q;
	return 0;
}

struct cw_ctx *gw_worker_ctx(const struct gw_worker *w)
{
	return w->ctx;
}

unsigned gw_worker_lcore(const struct gw_worker *w)
{
	return w->lcore;
}

unsigned gw_worker_nrxq(const struct gw_worker *w)
{
	return w->nrxq;
}

uint64_t gw_worker_rx_packets(const struct gw_worker *w)
{
	return __atomic_load_n(&w->cnt.rx_packets, __ATOMIC_RELAXED);
}

void gw_worker_read(const struct gw_worker *w, struct gw_dp_counters *dp, struct gw_latency *lat,
		    uint64_t *first_rx_tsc, uint64_t *last_tsc)
{
	const uint64_t *src = (const uint64_t *)&w->cnt;
	uint64_t *dst = (uint64_t *)dp;
	for (size_t i = 0; i < GW_DP_NFIELDS; i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	if (lat)
		gw_lat_merge(lat, &w->lat);
	*first_rx_tsc = __atomic_load_n(&w->first_rx_tsc, __ATOMIC_RELAXED);
	*last_tsc = __atomic_load_n(&w->last_tsc, __ATOMIC_RELAXED);
}

/* The TX queue each port gives this worker is fixed once the ports are up. */
static void bind_tx_queues(struct gw_worker *w)
{
	for (unsigned p = 0; p < GW_MAX_PORTS; p++) {
		const struct gw_port *gp = &gw.ports[p];
		if (gp->ntxq == 0)
			continue;
		w->tx[p].queue = (uint16_t)(w->id % gp->ntxq);
		w->tx[p].shared = gp->tx_shared;
	}
}

static void tx_flush(struct gw_worker *w, uint16_t port)
{
	struct txbuf *b = &w->tx[port];
	if (b->n == 0)
		return;
	rte_spinlock_t *lock = b->shared ? &gw.ports[port].txlock[b->queue] : NULL;
	if (lock)
		rte_spinlock_lock(lock);
	uint16_t sent = 0;
	for (unsigned idle = 0; sent < b->n && idle < GW_TX_RETRIES;) {
		uint16_t k = rte_eth_tx_burst(port, b->queue, b->m + sent, (uint16_t)(b->n - sent));
		sent = (uint16_t)(sent + k);
		idle = k ? 0 : idle + 1;
	}
	if (lock)
		rte_spinlock_unlock(lock);
	if (unlikely(sent < b->n)) {
		for (uint16_t i = sent; i < b->n; i++)
			b->bytes -= b->m[i]->pkt_len;
		rte_pktmbuf_free_bulk(b->m + sent, b->n - sent);
		CNT(w, tx_full, (uint64_t)(b->n - sent));
	}
	CNT(w, tx_packets, sent);
	CNT(w, tx_bytes, b->bytes);
	b->n = 0;
	b->bytes = 0;
}

static inline void tx_push(struct gw_worker *w, uint16_t port, struct rte_mbuf *m)
{
	struct txbuf *b = &w->tx[port];
	if (unlikely(b->n == TXBUF))
		tx_flush(w, port);
	b->m[b->n++] = m;
	b->bytes += m->pkt_len;
}

/* Checksums the NIC has verified need not be verified again; a NIC's "bad" is re-checked in
 * software so that every drop is counted by the same rules as in `cwctl simulate`. */
static inline unsigned csum_flags(const struct rte_mbuf *m)
{
	unsigned f = 0;
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		f |= FRAME_SKIP_IP_CSUM;
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		f |= FRAME_SKIP_UDP_CSUM;
	return f;
}

/* Builds and queues the response frames of answered datagram i (§3.3): the first one in the
 * request mbuf when it fits, the others in fresh mbufs. */
static void answer(struct gw_worker *w, uint16_t in_port, unsigned i)
{
	const struct frame_info *fi = &w->fi[i];
	const unsigned per = fi->ipv6 ? w->per_v6 : w->per_v4;
	const unsigned nv = w->nv[i];
	const size_t hdr = frame_hdr_len(fi);
	const uint16_t out_port = w->tx_port >= 0 ? (uint16_t)w->tx_port : in_port;
	struct rte_mbuf *req = w->rx[i];
	const bool reusable =
	    req->nb_segs == 1 && RTE_MBUF_DIRECT(req) && rte_mbuf_refcnt_read(req) == 1;

	for (unsigned off = 0; off < nv; off += per) {
		const unsigned k = RTE_MIN(per, nv - off);
		const size_t need = hdr + CWP_DGRAM_HDR_LEN + (size_t)k * CWP_VERDICT_MSG_LEN;
		struct rte_mbuf *m;
		CNT(w, resp_frames, 1);
		if (off == 0 && reusable && (size_t)(req->buf_len - req->data_off) >= need) {
			m = req;
			w->rx[i] = NULL;
			CNT(w, resp_inplace, 1);
		} else {
			m = rte_pktmbuf_alloc(w->pool);
			if (unlikely(!m)) {
				CNT(w, tx_nombuf, 1);
				continue;
			}
			CNT(w, resp_fresh, 1);
		}
		uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
		const size_t cap = (size_t)(m->buf_len - m->data_off);
		uint16_t dlen = 0;
		cw_encode_responses(&w->v[i][off], k, w->sender[i], per, p + hdr,
				    CWP_DGRAM_HDR_LEN + (size_t)per * CWP_VERDICT_MSG_LEN, &dlen);
		const size_t flen = frame_build_reply(p, cap, fi, p + hdr, dlen);
		if (unlikely(flen == 0 || flen > UINT16_MAX)) {
			CNT(w, tx_build, 1);
			rte_pktmbuf_free(m);
			continue;
		}
		m->data_len = (uint16_t)flen;
		m->pkt_len = (uint32_t)flen;
		m->ol_flags = 0;
		m->packet_type = 0;
		m->port = out_port;
		tx_push(w, out_port, m);
	}
}

static void journal_flush(struct gw_worker *w)
{
	if (w->nj == 0)
		return;
	unsigned done = cw_journal_enqueue(gw.journal, w->jbuf, w->nj);
	CNT(w, journal_enq, done);
	CNT(w, journal_overflow, (uint64_t)(w->nj - done));
	w->nj = 0;
}

/* Non-declare verdicts and rejects go to the journal ring, without blocking, while a consumer
 * is attached; in file mode nobody drains it, so they are only counted. */
static void journal(struct gw_worker *w, const uint8_t *ans, unsigned na, uint64_t tsc)
{
	const bool on = gw.journal && __atomic_load_n(&gw.journal_consumer, __ATOMIC_ACQUIRE);
	uint64_t skipped = 0;
	for (unsigned a = 0; a < na; a++) {
		const unsigned i = ans[a];
		for (unsigned k = 0; k < w->nv[i]; k++) {
			const struct cwp_verdict *v = &w->v[i][k];
			if (!cw_journal_wanted(v))
				continue;
			if (!on) {
				skipped++;
				continue;
			}
			cw_journal_fill(&w->jbuf[w->nj++], w->sender[i], v, tsc, (uint8_t)w->id);
			if (w->nj == JBUF)
				journal_flush(w);
		}
	}
	journal_flush(w);
	if (skipped)
		CNT(w, journal_skipped, skipped);
}

/* Parses frame i of the burst and adds its payload to the engine's burst. True when the
 * datagram will be answered. */
static bool take(struct gw_worker *w, unsigned i)
{
	struct rte_mbuf *m = w->rx[i];
	const uint8_t *data;
	size_t len;
	if (likely(m->nb_segs == 1)) {
		data = rte_pktmbuf_mtod(m, const uint8_t *);
		len = m->data_len;
	} else {
		if (m->pkt_len > GW_MAX_FRAME) {
			CNT(w, rx_too_long, 1);
			return false;
		}
		len = m->pkt_len;
		data = rte_pktmbuf_read(m, 0, m->pkt_len, w->linear[i]);
	}
	struct frame_info *fi = &w->fi[i];
	enum frame_drop d = frame_parse(data, len, w->udp_port, csum_flags(m), fi);
	if (unlikely(d != FRAME_OK)) {
		CNT(w, frame_drops[d], 1);
		return false;
	}
	return cw_burst_add(w->ctx, fi->payload, fi->payload_len, fi->src_ip, fi->ipv6, w->v[i],
			    &w->nv[i], &w->sender[i]) == CW_DROP_NONE;
}

/* Returns the TSC at its end. */
static uint64_t process_burst(struct gw_worker *w, uint16_t port, uint16_t n, uint64_t t0)
{
	uint8_t ans[GW_BURST];
	unsigned na = 0;

	CNT(w, rx_packets, n);
	CNT(w, rx_bursts, 1);
	if (n == GW_BURST)
		CNT(w, rx_full_bursts, 1);
	if (unlikely(w->first_rx_tsc == 0))
		__atomic_store_n(&w->first_rx_tsc, t0, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(w->rx[i], void *));

	cw_burst_begin(w->ctx);
	for (unsigned i = 0; i < n; i++) {
		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(w->rx[i + PREFETCH_AHEAD], void *));
		if (take(w, i))
			ans[na++] = (uint8_t)i;
	}
	cw_burst_end(w->ctx);

	for (unsigned a = 0; a < na; a++)
		answer(w, port, ans[a]);
	/* requests not reused for an answer (drops, answers that did not fit) */
	unsigned nf = 0;
	for (unsigned i = 0; i < n; i++)
		if (w->rx[i])
			w->rx[nf++] = w->rx[i];
	if (nf)
		rte_pktmbuf_free_bulk(w->rx, nf);
	for (unsigned p = 0; p < GW_MAX_PORTS; p++)
		tx_flush(w, (uint16_t)p);

	const uint64_t t1 = rte_rdtsc();
	if (na)
		gw_lat_record(&w->lat, t1 - t0, na);
	__atomic_store_n(&w->last_tsc, t1, __ATOMIC_RELAXED);
	journal(w, ans, na, t1);
	return t1;
}

/* Packets the next RX burst may take: a full burst, or what is left of --max-packets (a replay
 * from memory, net_pcap's infinite_rx, is then decided exactly once, like testpmd's ceiling). */
static inline uint16_t rx_allowance(const struct gw_worker *w)
{
	const uint64_t limit = gw.opt.max_packets;
	if (likely(limit == 0))
		return GW_BURST;
	const uint64_t rx = w->cnt.rx_packets;
	return rx >= limit ? 0 : (uint16_t)RTE_MIN((uint64_t)GW_BURST, limit - rx);
}

int gw_worker_main(void *arg)
{
	struct gw_worker *w = arg;
	w->pool = gw.pool[rte_socket_id() < RTE_DIM(gw.pool) ? rte_socket_id() : 0];
	if (!w->pool)
		for (unsigned s = 0; s < RTE_DIM(gw.pool) && !w->pool; s++)
			w->pool = gw.pool[s];
	bind_tx_queues(w);
	/* Signals are for the main lcore (it sleeps, and a SIGHUP wakes its reload at once); a
	 * handler run here would only stall the packet path. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	cw_ctx_online(w->ctx);
	while (!gw_stopping()) {
		unsigned got = 0;
		for (unsigned q = 0; q < w->nrxq; q++) {
			const struct gw_rxq rq = w->rxq[q];
			const uint16_t want = rx_allowance(w);
			if (want == 0)
				break;
			const uint64_t t_poll = rte_rdtsc();
			uint16_t n = rte_eth_rx_burst(rq.port, rq.queue, w->rx, want);
			if (n == 0)
				continue;
			CNT(w, busy_cycles, process_burst(w, rq.port, n, rte_rdtsc()) - t_poll);
			got += n;
		}
		cw_ctx_quiescent(w->ctx);
		if (got == 0)
			rte_pause();
	}
	cw_ctx_offline(w->ctx);
	return 0;
}
