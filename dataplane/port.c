/*
 * port.c - bringing up the ethdev ports and giving each worker its queues.
 *
 * Why this file exists: the gateway runs on whatever port EAL finds (PCI NIC, net_af_xdp,
 * net_pcap, net_tap, net_memif, net_ring), and those differ in what they can do. This file asks
 * each port what it supports and settles on: RSS over IP/UDP with one RX queue per worker where
 * the port can hash; otherwise the queues the driver itself provides (net_pcap and net_ring have
 * one source per queue) or a single queue, said in the log. Checksum offload is turned on where
 * present. TX: one queue per worker where possible, else shared queues behind a lock (logged).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/gateway.h"

#define MAX_FIXED_QUEUES 16 /* a non-RSS driver exposing up to this many queues: poll them all */
#define POOL_CACHE	 256

static void log_port(const struct gw_port *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_port(const struct gw_port *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "clearway: port %u (%s): ", p->id, p->driver);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* How many RX/TX queues a port gets, and whether it hashes. */
static void plan_queues(struct gw_port *p, const struct rte_eth_dev_info *di)
{
	const uint64_t want_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP;
	p->rss =
	    gw.n_workers > 1 && di->max_rx_queues > 1 && (di->flow_type_rss_offloads & want_rss);
	if (!p->rx)
		p->nrxq = di->max_rx_queues ? 1 : 0;
	else if (p->rss)
		p->nrxq = (uint16_t)RTE_MIN(gw.n_workers, di->max_rx_queues);
	else if (di->max_rx_queues <= MAX_FIXED_QUEUES)
		p->nrxq = di->max_rx_queues;
	else
		p->nrxq = 1;
	p->ntxq = (uint16_t)RTE_MIN(gw.n_workers, di->max_tx_queues);
	p->tx_shared = p->ntxq < gw.n_workers;
	for (unsigned i = 0; i < GW_MAX_WORKERS; i++)
		rte_spinlock_init(&p->txlock[i]);
}

/* Mbuf data room: the longest response frame (MTU + Ethernet + VLAN), at least the usual 2 KB. */
static unsigned data_room(void)
{
	unsigned room = gw.opt.mtu + 18;
	if (room < RTE_MBUF_DEFAULT_DATAROOM)
		room = RTE_MBUF_DEFAULT_DATAROOM;
	return room + RTE_PKTMBUF_HEADROOM;
}

static int pool_for(int socket, unsigned need)
{
	unsigned s = socket < 0 ? 0 : (unsigned)socket;
	if (s >= RTE_DIM(gw.pool))
		s = 0;
	if (gw.pool[s])
		return (int)s;
	unsigned n = gw.opt.mbufs ? gw.opt.mbufs : RTE_MAX(need, 8191u);
	char name[32];
	snprintf(name, sizeof(name), "cw_mbuf_s%u", s);
	gw.pool[s] = rte_pktmbuf_pool_create(name, n, POOL_CACHE, 0, (uint16_t)data_room(),
					     socket < 0 ? (int)rte_socket_id() : socket);
	if (!gw.pool[s]) {
		fprintf(stderr, "clearway: cannot create %u mbufs of %u bytes on socket %d: %s\n",
			n, data_room(), socket, rte_strerror(rte_errno));
		return -1;
	}
	return (int)s;
}

static int setup_port(struct gw_port *p, unsigned mbufs_needed)
{
	struct rte_eth_dev_info di;
	int rc = rte_eth_dev_info_get(p->id, &di);
	if (rc) {
		fprintf(stderr, "clearway: port %u: no device info: %s\n", p->id,
			rte_strerror(-rc));
		return -1;
	}
	snprintf(p->driver, sizeof(p->driver), "%s", di.driver_name ? di.driver_name : "?");
	plan_queues(p, &di);
	if (p->ntxq == 0) {
		log_port(p, "cannot transmit (no TX queue)");
		return -1;
	}
	if (p->rx && p->nrxq == 0) {
		log_port(p, "has no RX queue; not polled");
		p->rx = false;
	}

	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (p->rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
		    (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & di.flow_type_rss_offloads;
	}
	conf.rxmode.offloads =
	    di.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
				  RTE_ETH_RX_OFFLOAD_SCATTER);
	if (di.max_mtu >= gw.opt.mtu && di.min_mtu <= gw.opt.mtu)
		conf.rxmode.mtu = gw.opt.mtu;
	rc = rte_eth_dev_configure(p->id, p->nrxq, p->ntxq, &conf);
	if (rc) {
		log_port(p, "configure (%u RX, %u TX queues) failed: %s", p->nrxq, p->ntxq,
			 rte_strerror(-rc));
		return -1;
	}
	uint16_t nrxd = (uint16_t)gw.opt.rx_desc, ntxd = (uint16_t)gw.opt.tx_desc;
	rte_eth_dev_adjust_nb_rx_tx_desc(p->id, &nrxd, &ntxd);

	int socket = rte_eth_dev_socket_id(p->id);
	int ps = pool_for(socket, mbufs_needed);
	if (ps < 0)
		return -1;
	struct rte_eth_rxconf rxc = di.default_rxconf;
	rxc.offloads = conf.rxmode.offloads;
	for (uint16_t q = 0; q < p->nrxq; q++) {
		rc = rte_eth_rx_queue_setup(p->id, q, nrxd, (unsigned)socket, &rxc, gw.pool[ps]);
		if (rc) {
			log_port(p, "RX queue %u: %s", q, rte_strerror(-rc));
			return -1;
		}
	}
	for (uint16_t q = 0; q < p->ntxq; q++) {
		rc = rte_eth_tx_queue_setup(p->id, q, ntxd, (unsigned)socket, NULL);
		if (rc) {
			log_port(p, "TX queue %u: %s", q, rte_strerror(-rc));
			return -1;
		}
	}
	rc = rte_eth_dev_start(p->id);
	if (rc) {
		log_port(p, "start failed: %s", rte_strerror(-rc));
		return -1;
	}
	p->started = true;
	rte_eth_promiscuous_enable(p->id); /* not every driver has it; answers do not need it */

	if (!p->rx)
		log_port(p, "TX only (--tx-port), %u TX queue(s)", p->ntxq);
	else if (p->rss)
		log_port(p, "RSS over IP/UDP, %u RX queue(s), %u TX queue(s)", p->nrxq, p->ntxq);
	else if (p->nrxq > 1)
		log_port(p, "no RSS; polling the driver's %u RX queues as it fills them, %u TX",
			 p->nrxq, p->ntxq);
	else
		log_port(p, "no RSS: one RX queue%s, %u TX queue(s)",
			 gw.n_workers > 1 ? " (other workers get nothing from this port)" : "",
			 p->ntxq);
	if (p->tx_shared)
		log_port(p, "%u TX queue(s) for %u workers: TX is shared behind a lock", p->ntxq,
			 gw.n_workers);
	if (conf.rxmode.offloads & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM))
		log_port(p, "checksums verified by the NIC where it can");
	return 0;
}

/* (port, queue) pairs go to workers round robin, so RSS queue q lands on worker q. */
static int assign_queues(void)
{
	unsigned k = 0;
	for (unsigned i = 0; i < GW_MAX_PORTS; i++) {
		const struct gw_port *p = &gw.ports[i];
		if (!p->rx)
			continue;
		for (uint16_t q = 0; q < p->nrxq; q++, k++) {
			struct gw_rxq rq = {.port = p->id, .queue = q};
			if (gw_worker_add_rxq(gw.workers[k % gw.n_workers], rq)) {
				fprintf(stderr, "clearway: too many queues for one worker\n");
				return -1;
			}
		}
	}
	if (k == 0) {
		fprintf(stderr, "clearway: no port to receive on\n");
		return -1;
	}
	for (unsigned w = 0; w < gw.n_workers; w++)
		if (gw_worker_nrxq(gw.workers[w]) == 0)
			fprintf(stderr,
				"clearway: worker %u (lcore %u) has no RX queue: %u queue(s) "
				"for %u workers\n",
				w, gw_worker_lcore(gw.workers[w]), k, gw.n_workers);
	return 0;
}

int gw_ports_start(void)
{
	uint16_t pid;
	unsigned n = 0;
	RTE_ETH_FOREACH_DEV(pid)
	{
		if (pid >= GW_MAX_PORTS) {
			fprintf(stderr, "clearway: port %u ignored (at most %d ports)\n", pid,
				GW_MAX_PORTS);
			continue;
		}
		gw.ports[pid].id = pid;
		gw.ports[pid].present = true;
		gw.ports[pid].rx = true;
		n++;
	}
	if (n == 0) {
		fprintf(stderr, "clearway: no port; give a PCI device or --vdev (e.g. "
				"net_pcap0,rx_pcap=IN,tx_pcap=OUT)\n");
		return -1;
	}
	if (gw.opt.tx_port >= 0) {
		if (!rte_eth_dev_is_valid_port((uint16_t)gw.opt.tx_port) ||
		    gw.opt.tx_port >= GW_MAX_PORTS) {
			fprintf(stderr, "clearway: --tx-port %d: no such port\n", gw.opt.tx_port);
			return -1;
		}
		if (n > 1)
			gw.ports[gw.opt.tx_port].rx = false;
	}
	/* in flight at most: every RX and TX ring full, each worker's burst and its answers
	 * (up to 4 datagrams per request at MTU 1500), and the per-lcore caches */
	unsigned need = n * (gw.opt.rx_desc + gw.opt.tx_desc) * gw.n_workers +
			gw.n_workers * (GW_BURST * 4 + 512 + POOL_CACHE) + 2048;
	for (unsigned i = 0; i < GW_MAX_PORTS; i++) {
		struct gw_port *p = &gw.ports[i];
		if (!p->present)
			continue;
		if (setup_port(p, need))
			return -1;
		gw.n_ports++;
	}
	return assign_queues();
}

void gw_ports_stop(void)
{
	for (unsigned i = 0; i < GW_MAX_PORTS; i++) {
		struct gw_port *p = &gw.ports[i];
		if (!p->started)
			continue;
		rte_eth_dev_stop(p->id);
		rte_eth_dev_close(p->id); /* net_pcap flushes its output file here */
		p->started = false;
	}
}
