/*
 * options.c - the gateway's own command line (after EAL's `--`).
 *
 * Why this file exists: option parsing is kept apart from port setup and the main loop. The two
 * ways to get rules, registry and senders exclude each other: files (--rules, --registry,
 * --senders) or Redis (--redis, with --node and --no-wait); mixing them is a usage error, since a
 * file would be silently overwritten by the first Redis event.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/redisx.h"
#include "dataplane/gateway.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [EAL options] -- [options]\n"
		"\n"
		"file mode:\n"
		"  --rules FILE            rule set (DESIGN §5); SIGHUP reads it again\n"
		"  --registry FILE         enterprises, CSV `uscc,class`\n"
		"  --senders FILE          senders, CSV `id,prefixes,name`\n"
		"Redis mode (instead of the files; docs/control-plane.md):\n"
		"  --redis HOST:PORT|unix:PATH  follow the control plane in Redis\n"
		"  --node NAME             name in cw:node:, cw:stats:, cw:journal\n"
		"                          (default: the host name)\n"
		"  --no-wait               start before the first load from Redis\n"
		"                          (until then NO_RULESET, unknown senders);\n"
		"                          default: wait for it\n"
		"protocol:\n"
		"  --udp-port N            UDP port of CWP/1 (default %u)\n"
		"  --replay-window N       replay window per sender (default 4096)\n"
		"  --mtu N                 MTU of answers (default 1500; 148..%u)\n"
		"running:\n"
		"  --idle-exit MS          stop after MS ms without a received packet\n"
		"  --max-packets N         stop after N received packets (a worker takes no more\n"
		"                          than N: one worker decides exactly the first N frames)\n"
		"  --control-nice N        nice value of the main lcore, the control and the\n"
		"                          compile threads (default -10; 0 leaves them alone)\n"
		"  --stats SECS            a progress line on stderr every SECS seconds\n"
		"  --tx-port P             send every answer through port P (not polled)\n"
		"  --summary-json FILE     also write the final summary as JSON\n"
		"  --rx-desc N, --tx-desc N  descriptors per queue (default 1024)\n"
		"  --mbufs N               mbufs per pool (default: computed)\n"
		"  --journal-size N        journal ring records (default 65536)\n"
		"store capacities:\n"
		"  --registry-capacity N   enterprises (default: room for --registry's rows, at\n"
		"                          least 1048576)\n"
		"  --max-senders N         senders (default 1024)\n"
		"  --manifest-capacity N   manifests (default 262144)\n"
		"  --ecom-capacity N       e-commerce orders (default 524288)\n"
		"  --buyer-capacity N      buyers in the quota ledger (default 524288)\n",
		prog, CWP_DEFAULT_PORT, GW_MAX_FRAME - 18);
}

static int num(const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		fprintf(stderr,
			"clearway: --%s wants a number in %" PRIu64 "..%" PRIu64 ", not '%s'\n",
			name, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

enum {
	OPT_RULES = 256,
	OPT_REGISTRY,
	OPT_SENDERS,
	OPT_UDP_PORT,
	OPT_REPLAY,
	OPT_MTU,
	OPT_IDLE,
	OPT_MAX_PACKETS,
	OPT_CONTROL_NICE,
	OPT_STATS,
	OPT_TX_PORT,
	OPT_JSON,
	OPT_RX_DESC,
	OPT_TX_DESC,
	OPT_MBUFS,
	OPT_JOURNAL,
	OPT_REG_CAP,
	OPT_SENDERS_CAP,
	OPT_MAN_CAP,
	OPT_ECOM_CAP,
	OPT_BUYER_CAP,
	OPT_REDIS,
	OPT_NODE,
	OPT_NO_WAIT,
	OPT_HELP,
};

static const struct option longopts[] = {
    {"rules", required_argument, NULL, OPT_RULES},
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"senders", required_argument, NULL, OPT_SENDERS},
    {"udp-port", required_argument, NULL, OPT_UDP_PORT},
    {"replay-window", required_argument, NULL, OPT_REPLAY},
    {"mtu", required_argument, NULL, OPT_MTU},
    {"idle-exit", required_argument, NULL, OPT_IDLE},
    {"max-packets", required_argument, NULL, OPT_MAX_PACKETS},
    {"control-nice", required_argument, NULL, OPT_CONTROL_NICE},
    {"stats", required_argument, NULL, OPT_STATS},
    {"tx-port", required_argument, NULL, OPT_TX_PORT},
    {"summary-json", required_argument, NULL, OPT_JSON},
    {"rx-desc", required_argument, NULL, OPT_RX_DESC},
    {"tx-desc", required_argument, NULL, OPT_TX_DESC},
    {"mbufs", required_argument, NULL, OPT_MBUFS},
    {"journal-size", required_argument, NULL, OPT_JOURNAL},
    {"registry-capacity", required_argument, NULL, OPT_REG_CAP},
    {"max-senders", required_argument, NULL, OPT_SENDERS_CAP},
    {"manifest-capacity", required_argument, NULL, OPT_MAN_CAP},
    {"ecom-capacity", required_argument, NULL, OPT_ECOM_CAP},
    {"buyer-capacity", required_argument, NULL, OPT_BUYER_CAP},
    {"redis", required_argument, NULL, OPT_REDIS},
    {"node", required_argument, NULL, OPT_NODE},
    {"no-wait", no_argument, NULL, OPT_NO_WAIT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void defaults(struct gw_options *o)
{
	memset(o, 0, sizeof(*o));
	o->udp_port = CWP_DEFAULT_PORT;
	o->mtu = 1500;
	o->control_nice = -10;
	o->tx_port = -1;
	o->rx_desc = 1024;
	o->tx_desc = 1024;
	o->journal_size = 65536;
	cw_engine_config_defaults(&o->engine);
}

/* One numeric option into its field; -1 on a bad value. */
static int set_num(struct gw_options *o, int opt, const char *name, const char *arg)
{
	uint64_t v;
	switch (opt) {
	case OPT_UDP_PORT:
		if (num(name, arg, 1, 65535, &v))
			return -1;
		o->udp_port = (uint16_t)v;
		return 0;
	case OPT_REPLAY:
		if (num(name, arg, 1, 1u << 24, &v))
			return -1;
		o->engine.replay_window = (uint32_t)v;
		return 0;
	case OPT_MTU:
		if (num(name, arg, 40 + 8 + CWP_DGRAM_HDR_LEN + CWP_VERDICT_MSG_LEN,
			GW_MAX_FRAME - 18, &v))
			return -1;
		o->mtu = (unsigned)v;
		return 0;
	case OPT_IDLE:
		if (num(name, arg, 1, UINT32_MAX, &v))
			return -1;
		o->idle_exit_ms = v;
		return 0;
	case OPT_CONTROL_NICE:
		if (num(name, arg[0] == '-' ? arg + 1 : arg, 0, 20, &v))
			return -1;
		o->control_nice = arg[0] == '-' ? -(int)v : (int)v;
		if (o->control_nice > 19) {
			fprintf(stderr, "clearway: --control-nice wants -20..19, not '%s'\n", arg);
			return -1;
		}
		return 0;
	case OPT_MAX_PACKETS:
		if (num(name, arg, 1, UINT64_MAX >> 1, &v))
			return -1;
		o->max_packets = v;
		return 0;
	case OPT_STATS:
		if (num(name, arg, 1, 86400, &v))
			return -1;
		o->stats_secs = (unsigned)v;
		return 0;
	case OPT_TX_PORT:
		if (num(name, arg, 0, GW_MAX_PORTS - 1, &v))
			return -1;
		o->tx_port = (int)v;
		return 0;
	case OPT_RX_DESC:
	case OPT_TX_DESC:
		if (num(name, arg, 32, 16384, &v))
			return -1;
		*(opt == OPT_RX_DESC ? &o->rx_desc : &o->tx_desc) = (unsigned)v;
		return 0;
	case OPT_MBUFS:
		if (num(name, arg, 1024, 1u << 24, &v))
			return -1;
		o->mbufs = (unsigned)v;
		return 0;
	case OPT_JOURNAL:
		if (num(name, arg, 64, 1u << 24, &v))
			return -1;
		if (v & (v - 1)) {
			fprintf(stderr, "clearway: --journal-size must be a power of two\n");
			return -1;
		}
		o->journal_size = (unsigned)v;
		return 0;
	}
	uint32_t *cap = opt == OPT_REG_CAP	 ? &o->engine.registry_capacity
			: opt == OPT_SENDERS_CAP ? &o->engine.max_senders
			: opt == OPT_MAN_CAP	 ? &o->engine.manifest_capacity
			: opt == OPT_ECOM_CAP	 ? &o->engine.ecom_capacity
						 : &o->engine.buyer_capacity;
	if (num(name, arg, 16, 1u << 28, &v))
		return -1;
	*cap = (uint32_t)v;
	o->registry_capacity_set |= opt == OPT_REG_CAP;
	return 0;
}

/* Files or Redis, not both; the Redis-only options only with --redis. */
static int check_mode(const struct gw_options *o)
{
	if (o->redis) {
		const char *file = o->rules	 ? "--rules"
				   : o->registry ? "--registry"
				   : o->senders	 ? "--senders"
						 : NULL;
		if (file) {
			fprintf(
			    stderr,
			    "clearway: %s cannot be combined with --redis: in Redis mode rules, "
			    "registry and senders come from Redis (load files there with "
			    "`cwctl push`, `cwctl ent import`, `cwctl sender set`)\n",
			    file);
			return -1;
		}
		struct cw_redis_addr a;
		char err[300];
		if (cw_redis_addr_parse(o->redis, &a, err, sizeof(err))) {
			fprintf(stderr, "clearway: --redis: %s\n", err);
			return -1;
		}
		if (o->node && (!*o->node || strlen(o->node) > 100)) {
			fprintf(stderr, "clearway: --node wants a name of 1..100 characters\n");
			return -1;
		}
		return 0;
	}
	if (o->node || o->no_wait) {
		fprintf(stderr, "clearway: %s only makes sense with --redis\n",
			o->node ? "--node" : "--no-wait");
		return -1;
	}
	return 0;
}

int gw_options_parse(int argc, char **argv, struct gw_options *o)
{
	const char *prog = "clearway";
	defaults(o);
	optind = 1;
	opterr = 1;
	int opt, idx;
	while ((opt = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		switch (opt) {
		case OPT_RULES:
			o->rules = optarg;
			break;
		case OPT_REGISTRY:
			o->registry = optarg;
			break;
		case OPT_SENDERS:
			o->senders = optarg;
			break;
		case OPT_JSON:
			o->summary_json = optarg;
			break;
		case OPT_REDIS:
			o->redis = optarg;
			break;
		case OPT_NODE:
			o->node = optarg;
			break;
		case OPT_NO_WAIT:
			o->no_wait = true;
			break;
		case OPT_HELP:
			usage(stdout, prog);
			return 1;
		case '?':
			usage(stderr, prog);
			return -1;
		default:
			if (set_num(o, opt, longopts[idx].name, optarg))
				return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "clearway: unexpected argument '%s'\n", argv[optind]);
		usage(stderr, prog);
		return -1;
	}
	return check_mode(o);
}
