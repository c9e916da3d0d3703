/*
 * test_sync.c - the gateway's control thread (control/sync.c) against a real redis-server that
 * each test suite run starts on a free loopback port in a temporary directory.
 *
 * Covers DESIGN §6 end to end through the engine: the first full load, following cw:events,
 * catching up after Redis restarts and after the connection is killed, `resync`, trimming past
 * the node's position (full reload), a broken rule set refused while the old one keeps deciding,
 * malformed events counted and skipped, registry churn while a worker thread decides, plain
 * redis-cli writers and cwctl writers, node status, stats and the journal.
 *
 * With CW_SYNC_MEASURE=1 it also prints latencies (event -> active rule set for a full 10 k-rule
 * set and for 3-rule deltas on 100 k rules, with the control thread's log line of each; registry
 * event -> visible); nothing is asserted on them (benchmarks are not tests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <rte_ring.h>

#include "control/journal.h"
#include "control/load.h"
#include "control/redisx.h"
#include "control/sync.h"
#include "rules/engine.h"
#include "tests/unit/testutil.h"

#define NODE "t-node"
#define SALT "salt 00112233445566778899aabbccddeeff\n"
#define U1   "91310000MA1FL0000X"
#define U2   "91310000MA1FL0001Y"
#define U3   "91310000MA1FL0002Z"
#define POLICIES                                                                                   \
	"class good mode declare\nclass serious mode supervise\nclass unknown mode verify\n"

static const uint8_t SRC[4] = {10, 1, 2, 3};

/* ---------------------------------------------------------------- redis-server */

static char rdir[128];
static char raddr[64];
static int rport;
static pid_t rpid;
static redisContext *R; /* the test's own connection */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static redisContext *connect_r(void)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", rport, tv);
	if (c && c->err) {
		redisFree(c);
		return NULL;
	}
	return c;
}

static void redis_launch(void)
{
	char port[16], log[200];
	snprintf(port, sizeof(port), "%d", rport);
	snprintf(log, sizeof(log), "%s/redis.log", rdir);
	rpid = fork();
	ck_assert_int_ge(rpid, 0);
	if (rpid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--dir", rdir, "--save", "", "--appendonly", "no", "--dbfilename",
		       "dump.rdb", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		redisContext *c = connect_r();
		if (c) {
			redisReply *r = redisCommand(c, "PING");
			bool ok = r && r->type == REDIS_REPLY_STATUS;
			if (r)
				freeReplyObject(r);
			if (ok) {
				R = c;
				return;
			}
			redisFree(c);
		}
		usleep(10000);
	}
	ck_abort_msg("redis-server did not start (see %s)", log);
}

static void redis_start(void)
{
	snprintf(rdir, sizeof(rdir), "/tmp/cwsyncXXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rdir));
	rport = free_port();
	snprintf(raddr, sizeof(raddr), "127.0.0.1:%d", rport);
	redis_launch();
}

/* Stops the server; with save, its data comes back on the next redis_launch. */
static void redis_down(bool save)
{
	if (R) {
		redisReply *r = redisCommand(R, save ? "SHUTDOWN SAVE" : "SHUTDOWN NOSAVE");
		if (r)
			freeReplyObject(r);
		redisFree(R);
		R = NULL;
	}
	if (rpid > 0) {
		int st;
		for (int i = 0; i < 300 && waitpid(rpid, &st, WNOHANG) == 0; i++)
			usleep(10000);
		kill(rpid, SIGKILL);
		waitpid(rpid, &st, 0);
	}
	rpid = 0;
}

static void redis_forget_dump(void)
{
	char p[200];
	snprintf(p, sizeof(p), "%s/dump.rdb", rdir);
	unlink(p);
}

static void redis_stop(void)
{
	redis_down(false);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rdir);
	if (system(cmd)) {
	}
}

static redisReply *rc_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(R, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "redis: %s", R->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "redis %s: %s", fmt, r->str);
	return r;
}

#define RC(...) freeReplyObject(rc_(__VA_ARGS__))

static long long rint_(const char *fmt, const char *a, const char *b)
{
	redisReply *r = rc_(fmt, a, b);
	long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
		      : r->type == REDIS_REPLY_STRING ? atoll(r->str)
						      : -1;
	freeReplyObject(r);
	return v;
}

/* A field of cw:node:NODE, copied ("" when absent). */
static const char *node_field(const char *f)
{
	static char buf[8][512];
	static int k;
	char *out = buf[k++ % 8];
	redisReply *r = rc_("HGET cw:node:" NODE " %s", f);
	snprintf(out, 512, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
	return out;
}

/* The writes a cwctl-like client makes (DESIGN §6: change + event in one MULTI/EXEC). */
static void w_ent(const char *u, const char *cls)
{
	RC("MULTI");
	RC("HSET cw:ent %s %s", u, cls);
	RC("XADD cw:events * kind ent op set uscc %s class %s", u, cls);
	RC("EXEC");
}

static void w_ent_del(const char *u)
{
	RC("MULTI");
	RC("HDEL cw:ent %s", u);
	RC("XADD cw:events * kind ent op del uscc %s", u);
	RC("EXEC");
}

static void w_sender(uint32_t id, const char *prefixes, const char *name)
{
	RC("MULTI");
	RC("HSET cw:senders %u %s|%s", id, prefixes, name);
	RC("XADD cw:events * kind sender op set id %u prefixes %s name %s", id, prefixes, name);
	RC("EXEC");
}

static void w_rules(uint32_t v, const char *text, bool activate)
{
	RC("SET cw:ruleset:%u %b", v, text, strlen(text));
	if (activate) {
		RC("MULTI");
		RC("SET cw:ruleset:active %u", v);
		RC("XADD cw:events * kind ruleset version %u", v);
		RC("EXEC");
	}
}

static char *rules_text(uint32_t v, const char *extra)
{
	static char buf[4][4096];
	static int k;
	char *b = buf[k++ % 4];
	snprintf(b, 4096, "version %u\n" SALT POLICIES "%s", v, extra);
	return b;
}

/* ---------------------------------------------------------------- engine and sync */

static struct cw_engine *eng;
static struct cw_sync *sy;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[1 << 16];
static size_t loglen;

static void test_log(void *arg, const char *line)
{
	(void)arg;
	pthread_mutex_lock(&log_mu);
	size_t n = strlen(line);
	if (loglen + n + 2 < sizeof(logbuf)) {
		memcpy(logbuf + loglen, line, n);
		logbuf[loglen + n] = '\n';
		loglen += n + 1;
		logbuf[loglen] = 0;
	}
	pthread_mutex_unlock(&log_mu);
	if (getenv("CW_TEST_VERBOSE"))
		fprintf(stderr, "  [control] %s\n", line);
}

static bool log_has(const char *s)
{
	pthread_mutex_lock(&log_mu);
	bool r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static void engine_new(void)
{
	char err[256];
	struct cw_engine_config cfg;
	cw_engine_config_defaults(&cfg);
	cfg.max_workers = 4;
	cfg.replay_window = 64;
	cfg.registry_capacity = 1 << 16;
	cfg.manifest_capacity = 64;
	cfg.ecom_capacity = 64;
	cfg.buyer_capacity = 64;
	eng = cw_engine_create(&cfg, err, sizeof(err));
	ck_assert_msg(eng != NULL, "%s", err);
}

static struct cw_sync_config test_cfg(void)
{
	struct cw_sync_config c;
	cw_sync_config_defaults(&c);
	c.redis = raddr;
	c.node = NODE;
	c.heartbeat_ms = 100;
	c.block_ms = 200;
	c.backoff_max_ms = 200;
	c.log = test_log;
	return c;
}

static void sync_new(const struct cw_sync_config *c)
{
	char err[256];
	sy = cw_sync_create(eng, c, err, sizeof(err));
	ck_assert_msg(sy != NULL, "%s", err);
}

static void setup(void)
{
	tu_eal_init();
	if (!R)
		redis_start();
	RC("FLUSHALL");
	pthread_mutex_lock(&log_mu);
	loglen = 0;
	logbuf[0] = 0;
	pthread_mutex_unlock(&log_mu);
	engine_new();
}

static void teardown(void)
{
	cw_sync_destroy(sy);
	sy = NULL;
	cw_engine_destroy(eng);
	eng = NULL;
}

static struct cw_sync_stats stats(void)
{
	struct cw_sync_stats st;
	cw_sync_get_stats(sy, &st);
	return st;
}

/* Polls cond every ms for up to 20 s (a liveness bound, not a performance claim). */
#define WAIT_FOR(cond)                                                                             \
	do {                                                                                       \
		int _i;                                                                            \
		for (_i = 0; _i < 20000 && !(cond); _i++)                                          \
			usleep(1000);                                                              \
		ck_assert_msg((cond), "timed out waiting for: %s\n%s", #cond, logbuf);             \
	} while (0)

static int reg(const char *u)
{
	return cw_registry_get(eng, u);
}

static void count_one(uint32_t id, const char *p, const char *n, void *arg)
{
	(void)id;
	(void)p;
	(void)n;
	(*(uint32_t *)arg)++;
}

/* cw_sender_count() also counts deleted slots still waiting for their RCU grace period. */
static uint32_t senders(void)
{
	uint32_t n = 0;
	cw_sender_foreach(eng, count_one, &n);
	return n;
}

/* Decides one DECL of declarant u with hs; the verdict. */
static struct cwp_verdict decide(struct cw_ctx *ctx, const char *u, const char *hs, uint64_t seq)
{
	struct cwp_decl_in d;
	memset(&d, 0, sizeof(d));
	strcpy(d.decl_no, "D00000000000000001");
	strcpy(d.declarant, u);
	strcpy(d.trade_country, "DE");
	strcpy(d.currency, "CNY");
	d.direction = CWP_EXPORT;
	d.trade_mode = 110;
	d.customs_port = 2201;
	d.transport_mode = 2;
	d.item_count = 1;
	d.total_value = 100000;
	strcpy(d.items[0].hs, hs);
	strcpy(d.items[0].origin, "DE");
	d.items[0].quantity = 1;
	d.items[0].value = 100000;
	d.items[0].gross_weight_g = 1000;
	uint8_t dg[4096];
	size_t len = cwp_put_decl(dg + CWP_DGRAM_HDR_LEN, sizeof(dg) - CWP_DGRAM_HDR_LEN, &d);
	ck_assert_uint_gt(len, 0);
	cwp_put_dgram_hdr(dg, 1, 0, 9, seq);
	struct cwp_verdict v[CWP_MAX_MSGS];
	uint16_t n = 0;
	cw_ctx_online(ctx);
	cw_burst_begin(ctx);
	enum cw_drop dr = cw_burst_add(ctx, dg, CWP_DGRAM_HDR_LEN + len, SRC, false, v, &n, NULL);
	cw_burst_end(ctx);
	cw_ctx_quiescent(ctx);
	cw_ctx_offline(ctx);
	ck_assert_int_eq(dr, CW_DROP_NONE);
	ck_assert_uint_eq(n, 1);
	return v[0];
}

static void seed_state(void)
{
	RC("HSET cw:ent %s good %s serious", U1, U2);
	RC("HSET cw:ent BADUSCC good %s nonsense", U3); /* two bad values, skipped */
	RC("HSET cw:senders 9 %s", "10.1.0.0/16|test sender");
	w_rules(1, rules_text(1, "rule 1001 mode sample when hs 0201\n"), false);
	RC("SET cw:ruleset:active 1");
	RC("XADD cw:events * kind resync"); /* history before the node starts */
}

/* ---------------------------------------------------------------- tests */

START_TEST(full_load_then_follow)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_uint_eq(cw_engine_version(eng), 1);
	ck_assert_int_eq(reg(U1), CW_CLS_GOOD);
	ck_assert_int_eq(reg(U2), CW_CLS_SERIOUS);
	ck_assert_int_eq(reg(U3), -1);
	ck_assert_uint_eq(cw_registry_count(eng), 2);
	ck_assert_uint_eq(senders(), 1);
	ck_assert_uint_eq(stats().bad_values, 2);
	/* the node hash goes out on the sync's write connection: it may land a moment later */
	WAIT_FOR(!strcmp(node_field("status"), "ok"));
	ck_assert_str_eq(node_field("version"), "1");

	/* the event written before the start is not replayed: the load noted the end */
	ck_assert_int_eq(cw_sync_start(sy), 0);
	w_ent(U3, "warning");
	w_ent_del(U1);
	w_sender(12, "192.0.2.0/24 2001:db8::/32", "second");
	WAIT_FOR(reg(U3) == CW_CLS_WARNING && reg(U1) == -1 && senders() == 2);
	w_rules(2,
		rules_text(2, "rule 1001 mode sample when hs 0201\nrule 1002 mode verify "
			      "when hs 0301\n"),
		true);
	WAIT_FOR(cw_engine_version(eng) == 2);
	WAIT_FOR(!strcmp(node_field("version"), "2") && !strcmp(node_field("ent_count"), "2") &&
		 !strcmp(node_field("sender_count"), "2"));
	ck_assert_str_eq(node_field("status"), "ok");
	ck_assert_str_eq(node_field("state"), "running");
	struct cw_sync_stats st = stats();
	ck_assert_uint_eq(st.events, 4);
	ck_assert_uint_eq(st.events_applied, 4);
	ck_assert_uint_eq(st.full_loads, 1);
	/* the node reports the id of the last event it applied */
	redisReply *r = rc_("XREVRANGE cw:events + - COUNT 1");
	WAIT_FOR(!strcmp(node_field("last_event"), r->element[0]->element[0]->str));
	freeReplyObject(r);
	WAIT_FOR(rint_("EXISTS %s%s", "cw:stats:", NODE) == 1);
	cw_sync_stop(sy);
	ck_assert_str_eq(node_field("state"), "stopped");
}
END_TEST

START_TEST(no_rules_and_no_wait)
{
	/* nothing in Redis yet: the thread does the full load itself (--no-wait) */
	struct cw_sync_config c = test_cfg();
	c.no_wait = true;
	sync_new(&c);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	WAIT_FOR(stats().loaded);
	ck_assert_uint_eq(cw_engine_version(eng), 0);
	seed_state();
	RC("XADD cw:events * kind resync");
	WAIT_FOR(cw_engine_version(eng) == 1 && reg(U2) == CW_CLS_SERIOUS);
}
END_TEST

static void *set_quit_later(void *arg)
{
	usleep(300000);
	*(volatile int *)arg = 1;
	return NULL;
}

START_TEST(initial_load_waits_for_redis)
{
	/* a Redis nobody listens on: the load retries, says so, and gives up only when told */
	struct cw_sync_config c = test_cfg();
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	c.redis = addr;
	sync_new(&c);
	volatile int quit = 0;
	pthread_t t;
	pthread_create(&t, NULL, set_quit_later, (void *)&quit);
	ck_assert_int_eq(cw_sync_initial_load(sy, &quit), -1);
	pthread_join(t, NULL);
	ck_assert(log_has("retrying"));
	ck_assert(!stats().loaded);
}
END_TEST

START_TEST(resync_reloads_everything)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	/* changes without events (as a careless writer would make), then resync */
	RC("HDEL cw:ent %s", U1);
	RC("HSET cw:ent %s dishonest", U3);
	RC("HSET cw:ent %s aeo", U2);
	RC("DEL cw:senders");
	RC("HSET cw:senders 44 %s", "10.9.0.0/16|other");
	ck_assert_int_eq(reg(U1), CW_CLS_GOOD); /* nothing happens without an event */
	RC("XADD cw:events * kind resync");
	WAIT_FOR(reg(U1) == -1 && reg(U3) == CW_CLS_DISHONEST && reg(U2) == CW_CLS_AEO);
	WAIT_FOR(senders() == 1);
	WAIT_FOR(stats().full_loads == 2); /* counted when the load is complete */
	ck_assert_uint_eq(stats().trims, 0);
}
END_TEST

START_TEST(trimmed_past_position_reloads)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	w_ent(U3, "good");
	WAIT_FOR(reg(U3) == CW_CLS_GOOD);
	cw_sync_stop(sy); /* the node is away ... */
	w_ent(U3, "serious");
	w_ent(U1, "warning");
	w_ent(U2, "good");
	RC("XTRIM cw:events MAXLEN 1"); /* ... and two events it never saw are trimmed */
	ck_assert_int_eq(cw_sync_start(sy), 0);
	WAIT_FOR(reg(U3) == CW_CLS_SERIOUS && reg(U1) == CW_CLS_WARNING && reg(U2) == CW_CLS_GOOD);
	ck_assert_uint_eq(stats().trims, 1);
	WAIT_FOR(stats().full_loads == 2);
	ck_assert(log_has("full reload"));

	/* trimming only what the node has seen changes nothing */
	w_ent(U3, "aeo");
	WAIT_FOR(reg(U3) == CW_CLS_AEO);
	RC("XTRIM cw:events MAXLEN 1");
	w_ent(U3, "good");
	WAIT_FOR(reg(U3) == CW_CLS_GOOD);
	ck_assert_uint_eq(stats().trims, 1);

	/* an entry deleted after the position is a gap too */
	cw_sync_stop(sy);
	w_ent(U1, "dishonest");
	redisReply *r = rc_("XREVRANGE cw:events + - COUNT 1");
	RC("XDEL cw:events %s", r->element[0]->element[0]->str);
	freeReplyObject(r);
	w_ent(U2, "aeo");
	ck_assert_int_eq(cw_sync_start(sy), 0);
	WAIT_FOR(reg(U1) == CW_CLS_DISHONEST && reg(U2) == CW_CLS_AEO);
	ck_assert_uint_eq(stats().trims, 2);

	/* the stream deleted and written again from scratch */
	RC("DEL cw:events");
	w_ent(U1, "good");
	WAIT_FOR(reg(U1) == CW_CLS_GOOD);
	ck_assert_uint_eq(stats().trims, 3);
}
END_TEST

START_TEST(catch_up_after_redis_restart)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	w_ent(U3, "good");
	WAIT_FOR(reg(U3) == CW_CLS_GOOD);
	uint64_t full = stats().full_loads;

	redis_down(true);
	usleep(300000); /* the node notices and backs off; the dataplane state stays */
	ck_assert_int_eq(reg(U3), CW_CLS_GOOD);
	ck_assert_uint_eq(cw_engine_version(eng), 1);
	redis_launch();
	/* written before the node is back */
	w_ent(U3, "serious");
	w_rules(5, rules_text(5, "rule 7 mode verify when hs 0101\n"), true);
	WAIT_FOR(reg(U3) == CW_CLS_SERIOUS && cw_engine_version(eng) == 5);
	ck_assert_uint_eq(stats().full_loads, full); /* caught up from its id, no reload */
	ck_assert_uint_ge(stats().reconnects, 1);
	WAIT_FOR(!strcmp(node_field("version"), "5"));

	/* the connection killed under the node, events written meanwhile */
	RC("CLIENT KILL TYPE normal SKIPME yes");
	w_ent(U1, "dishonest");
	w_ent(U2, "warning");
	WAIT_FOR(reg(U1) == CW_CLS_DISHONEST && reg(U2) == CW_CLS_WARNING);
	ck_assert_uint_eq(stats().full_loads, full);
	redis_forget_dump();
}
END_TEST

START_TEST(empty_redis_does_not_empty_the_gateway)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	redis_down(false); /* comes back with nothing: no persistence */
	redis_forget_dump();
	redis_launch();
	WAIT_FOR(strstr(node_field("error"), "no Clearway state") != NULL);
	ck_assert_str_eq(node_field("status"), "error");
	ck_assert_int_eq(reg(U1), CW_CLS_GOOD);
	ck_assert_uint_eq(senders(), 1);
	ck_assert_uint_eq(cw_engine_version(eng), 1);
	/* the operator writes the state again: it is followed, and the error goes */
	w_ent(U3, "warning");
	WAIT_FOR(reg(U3) == CW_CLS_WARNING);
	ck_assert_int_eq(reg(U1), CW_CLS_GOOD);
	RC("HSET cw:ent %s good", U3);
	RC("HSET cw:senders 9 %s", "10.1.0.0/16|test sender");
	w_rules(1, rules_text(1, "rule 1001 mode sample when hs 0201\n"), true);
	RC("XADD cw:events * kind resync");
	WAIT_FOR(reg(U3) == CW_CLS_GOOD && reg(U1) == -1);
	WAIT_FOR(!strcmp(node_field("status"), "ok"));
}
END_TEST

START_TEST(restored_from_an_older_copy_reloads)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	RC("SAVE"); /* a backup ... */
	w_ent(U3, "serious");
	w_ent(U1, "dishonest");
	WAIT_FOR(reg(U3) == CW_CLS_SERIOUS && reg(U1) == CW_CLS_DISHONEST);
	redis_down(false); /* ... that Redis comes back from, without the last two changes */
	redis_launch();
	WAIT_FOR(reg(U3) == -1 && reg(U1) == CW_CLS_GOOD);
	ck_assert_uint_ge(stats().trims, 1);
	redis_forget_dump();
}
END_TEST

START_TEST(broken_rules_refused_old_keeps_deciding)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	struct cw_ctx *ctx = cw_ctx_create(eng, 0);
	cw_ctx_offline(ctx);
	struct cwp_verdict v = decide(ctx, U1, "0201000000", 100);
	ck_assert_uint_eq(v.ruleset_version, 1);
	ck_assert_uint_eq(v.mode, CWP_MODE_SAMPLE);

	w_rules(2, "version 2\n" SALT "rule 5 mode sometimes when hs 01\n", true);
	WAIT_FOR(!strcmp(node_field("status"), "error"));
	const char *e = node_field("error");
	ck_assert_msg(strstr(e, "v2: 3:") != NULL, "error text: %s", e);
	ck_assert_str_eq(node_field("version"), "1");
	ck_assert_uint_eq(cw_engine_version(eng), 1);
	v = decide(ctx, U1, "0201000000", 101);
	ck_assert_uint_eq(v.ruleset_version, 1);
	ck_assert_uint_eq(v.mode, CWP_MODE_SAMPLE);
	ck_assert_uint_eq(stats().ruleset_errors, 1);

	/* a text whose version statement is not its key's */
	w_rules(3, rules_text(4, ""), true);
	WAIT_FOR(stats().ruleset_errors == 2);
	WAIT_FOR(strstr(node_field("error"), "version 4") != NULL);
	/* an activation of a version nobody stored */
	RC("MULTI");
	RC("SET cw:ruleset:active 77");
	RC("XADD cw:events * kind ruleset version 77");
	RC("EXEC");
	WAIT_FOR(stats().ruleset_errors == 3);
	WAIT_FOR(strstr(node_field("error"), "does not exist") != NULL);
	/* a resync with the broken version active keeps the old one too */
	RC("SET cw:ruleset:active 2");
	RC("XADD cw:events * kind resync");
	WAIT_FOR(stats().ruleset_errors == 4);
	ck_assert_uint_eq(cw_engine_version(eng), 1);

	/* a good version clears the error */
	w_rules(6, rules_text(6, "rule 1001 mode supervise when hs 0201\n"), true);
	WAIT_FOR(cw_engine_version(eng) == 6);
	WAIT_FOR(!strcmp(node_field("status"), "ok") && !strcmp(node_field("error"), ""));
	v = decide(ctx, U1, "0201000000", 102);
	ck_assert_uint_eq(v.ruleset_version, 6);
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	/* activating the running version again is idempotent */
	uint64_t acts = stats().activations;
	RC("XADD cw:events * kind ruleset version 6");
	w_ent(U3, "good");
	WAIT_FOR(reg(U3) == CW_CLS_GOOD);
	ck_assert_uint_eq(stats().activations, acts);
	cw_ctx_destroy(ctx);
}
END_TEST

START_TEST(small_change_is_a_delta)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	char *big = malloc(1 << 20);
	size_t off = (size_t)snprintf(big, 1 << 20, "version 8\n" SALT POLICIES);
	for (int i = 0; i < 1100; i++) /* more than a delta takes: a full build */
		off += (size_t)snprintf(big + off, (1 << 20) - off,
					"rule %d mode verify when hs %04d\n", 2000 + i, 100 + i);
	w_rules(8, big, true);
	WAIT_FOR(cw_engine_version(eng) == 8);
	WAIT_FOR(stats().activations == 2); /* counted just after the publish */
	ck_assert_uint_eq(stats().delta_activations, 0);
	/* v9: one rule changed, one added */
	off = (size_t)snprintf(big, 1 << 20, "version 9\n" SALT POLICIES);
	for (int i = 0; i < 1100; i++)
		off +=
		    (size_t)snprintf(big + off, (1 << 20) - off, "rule %d mode %s when hs %04d\n",
				     2000 + i, i == 7 ? "supervise" : "verify", 100 + i);
	snprintf(big + off, (1 << 20) - off, "rule 9999 mode sample when hs 9999\n");
	w_rules(9, big, true);
	WAIT_FOR(cw_engine_version(eng) == 9);
	WAIT_FOR(stats().activations == 3);
	ck_assert_uint_eq(stats().delta_activations, 1);
	/* a broken v10 right away: its compile makes v9's fold give up if it still runs, and
	 * fails; the fold is asked for again (control/fold.h), so v9 is folded all the same */
	uint64_t errs = stats().ruleset_errors;
	w_rules(10, "version 10\nrule 1 mode nonsense when hs 01\n", true);
	WAIT_FOR(stats().ruleset_errors == errs + 1);
	ck_assert_uint_eq(cw_engine_version(eng), 9);
	/* then folded into a full build of the same text, in the background: the same version,
	 * not a delta any more, not counted as an activation */
	WAIT_FOR(stats().folds == 1);
	ck_assert_uint_eq(cw_engine_version(eng), 9);
	ck_assert(!cw_snapshot_is_delta(cw_engine_active(eng)));
	ck_assert_uint_eq(stats().activations, 3);
	WAIT_FOR(!strcmp(node_field("delta"), "0"));
	struct cw_ctx *ctx = cw_ctx_create(eng, 0);
	cw_ctx_offline(ctx);
	struct cwp_verdict v = decide(ctx, U1, "0107000000", 200);
	ck_assert_uint_eq(v.mode, CWP_MODE_SUPERVISE);
	ck_assert_uint_eq(v.reasons[v.reason_count - 1].rule_id, 2007);
	v = decide(ctx, U1, "0108000000", 201);
	ck_assert_uint_eq(v.mode, CWP_MODE_VERIFY);
	cw_ctx_destroy(ctx);
	free(big);
}
END_TEST

START_TEST(malformed_events_counted_and_skipped)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	RC("XADD cw:events * op set uscc %s class good", U3);		  /* no kind */
	RC("XADD cw:events * kind gossip");				  /* unknown kind */
	RC("XADD cw:events * kind ent op set uscc SHORT class good");	  /* bad USCC */
	RC("XADD cw:events * kind ent op set uscc %s class gold", U3);	  /* bad class */
	RC("XADD cw:events * kind ent op upsert uscc %s class good", U3); /* bad op */
	RC("XADD cw:events * kind sender op set id 0 prefixes 10.0.0.0/8 name x");
	RC("XADD cw:events * kind sender op set id 5 prefixes 10.0.0.0/99 name x");
	RC("XADD cw:events * kind ruleset version -3");
	RC("XADD cw:events * kind ruleset");
	w_ent(U3, "warning");
	WAIT_FOR(reg(U3) == CW_CLS_WARNING);
	WAIT_FOR(stats().events_applied == 1); /* counted just after it is applied */
	struct cw_sync_stats st = stats();
	ck_assert_uint_eq(st.events_malformed, 9);
	ck_assert_uint_eq(st.events_applied, 1);
	ck_assert_uint_eq(senders(), 1);
	ck_assert_uint_eq(cw_engine_version(eng), 1);
	WAIT_FOR(rint_("HGET %s %s", "cw:stats:" NODE, "control_events_malformed") == 9);
}
END_TEST

/* ---- churn: the registry changes thousands of times a second while a worker decides ---- */

struct worker {
	struct cw_ctx *ctx;
	atomic_int stop;
	uint64_t sent, answered, decided, lost, bad;
	uint8_t msgs[8][512];
	size_t lens[8];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t dg[32][600];
	struct cwp_verdict out[32][CWP_MAX_MSGS];
	uint16_t n[32];
	uint64_t seq = 1;
	cw_ctx_online(w->ctx);
	while (!atomic_load(&w->stop)) {
		cw_burst_begin(w->ctx);
		for (int b = 0; b < 32; b++) {
			int k = (int)(seq % 8);
			cwp_put_dgram_hdr(dg[b], 1, 0, 9, seq++);
			memcpy(dg[b] + CWP_DGRAM_HDR_LEN, w->msgs[k], w->lens[k]);
			n[b] = 0;
			enum cw_drop d = cw_burst_add(w->ctx, dg[b], CWP_DGRAM_HDR_LEN + w->lens[k],
						      SRC, false, out[b], &n[b], NULL);
			w->sent++;
			if (d != CW_DROP_NONE)
				w->lost++;
		}
		cw_burst_end(w->ctx);
		for (int b = 0; b < 32; b++) {
			w->answered += n[b];
			if (n[b] == 1 && out[b][0].status == CWP_DECIDED)
				w->decided++;
			else
				w->bad++;
		}
		cw_ctx_quiescent(w->ctx);
	}
	cw_ctx_offline(w->ctx);
	return NULL;
}

START_TEST(registry_churn_while_deciding)
{
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	static const char *cls[] = {"good", "serious", "warning", "dishonest", "aeo"};
	char ids[8][19];
	struct worker w = {0};
	for (int k = 0; k < 8; k++) {
		snprintf(ids[k], sizeof(ids[k]), "9131000000000000%02d", k);
		struct cwp_decl_in d;
		memset(&d, 0, sizeof(d));
		snprintf(d.decl_no, sizeof(d.decl_no), "D0000000000000000%d", k);
		strcpy(d.declarant, ids[k]);
		strcpy(d.trade_country, "DE");
		strcpy(d.currency, "CNY");
		d.direction = CWP_EXPORT;
		d.item_count = 1;
		d.total_value = 100;
		strcpy(d.items[0].hs, "8471300000");
		strcpy(d.items[0].origin, "DE");
		d.items[0].quantity = 1;
		d.items[0].value = 100;
		d.items[0].gross_weight_g = 100;
		w.lens[k] = cwp_put_decl(w.msgs[k], sizeof(w.msgs[k]), &d);
		ck_assert_uint_gt(w.lens[k], 0);
	}
	w.ctx = cw_ctx_create(eng, 1);
	ck_assert_ptr_nonnull(w.ctx);
	cw_ctx_offline(w.ctx);
	pthread_t t;
	pthread_create(&t, NULL, worker_main, &w);

	/* 20 000 events, pipelined in transactions of 100 changes each */
	const int total = 20000;
	uint64_t t0 = cw_mono_ns();
	for (int i = 0; i < total; i += 100) {
		redisAppendCommand(R, "MULTI");
		for (int j = i; j < i + 100; j++) {
			const char *u = ids[j % 8], *c2 = cls[(j / 8) % 5];
			redisAppendCommand(R, "HSET cw:ent %s %s", u, c2);
			redisAppendCommand(R, "XADD cw:events * kind ent op set uscc %s class %s",
					   u, c2);
		}
		redisAppendCommand(R, "EXEC");
		for (int j = 0; j < 202; j++) {
			redisReply *r;
			ck_assert_int_eq(redisGetReply(R, (void **)&r), REDIS_OK);
			freeReplyObject(r);
		}
	}
	uint64_t t_written = cw_mono_ns();
	WAIT_FOR(stats().events >= (uint64_t)total + 0);
	uint64_t t_applied = cw_mono_ns();
	for (int k = 0; k < 8; k++) { /* the last write of each USCC won */
		int last = total - 8 + k;
		ck_assert_int_eq(reg(ids[k]),
				 cw_class_parse(cls[(last / 8) % 5], strlen(cls[(last / 8) % 5])));
	}
	usleep(20000);
	atomic_store(&w.stop, 1);
	pthread_join(t, NULL);
	ck_assert_uint_gt(w.sent, 0);
	ck_assert_uint_eq(w.lost, 0);
	ck_assert_uint_eq(w.bad, 0);
	ck_assert_uint_eq(w.answered, w.sent);
	ck_assert_uint_eq(w.decided, w.sent);
	ck_assert_uint_eq(stats().events_malformed, 0);
	fprintf(stderr,
		"  churn: %d registry events written in %.0f ms, all applied %.0f ms after the "
		"first write; worker decided %" PRIu64 " datagrams meanwhile, none lost\n",
		total, (double)(t_written - t0) / 1e6, (double)(t_applied - t0) / 1e6, w.decided);
	cw_ctx_destroy(w.ctx);
}
END_TEST

/* ---- status, stats, journal ---- */

static void test_counters(void *arg, cw_stat_emit_fn emit, void *ea)
{
	(void)arg;
	struct cw_counters cnt;
	memset(&cnt, 0, sizeof(cnt));
	cnt.datagrams = 42;
	cnt.by_mode[CWP_MODE_VERIFY] = 7;
	cw_counters_emit(&cnt, emit, ea);
	emit(ea, "journal_overflow", 3);
}

static void test_hits(void *arg, void (*fn)(uint32_t, uint64_t, void *), void *a)
{
	(void)arg;
	fn(1001, 5, a);
	fn(1002, 9, a);
}

/* Seeds Redis and starts a node that journals from a ring of its own (c: the test's settings
 * besides the journal). Returns the ring. */
static struct rte_ring *start_journaling(const char *ring_name, struct cw_sync_config *c)
{
	seed_state();
	struct rte_ring *ring = cw_journal_ring_create(ring_name, 1024, SOCKET_ID_ANY);
	ck_assert_ptr_nonnull(ring);
	c->journal = ring;
	sync_new(c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	return ring;
}

START_TEST(stats_and_journal_written)
{
	struct cw_sync_config c = test_cfg();
	c.journal_cap = 100;
	c.counters = test_counters;
	c.rule_hits = test_hits;
	struct rte_ring *ring = start_journaling("tjournal", &c);

	struct cw_journal_rec recs[300];
	for (int i = 0; i < 300; i++) {
		struct cwp_verdict v;
		memset(&v, 0, sizeof(v));
		v.msg_seq = 1000 + (uint64_t)i;
		v.msg_type = CWP_DECL;
		v.status = i % 3 ? CWP_DECIDED : CWP_REJECTED;
		v.mode = i % 3 ? CWP_MODE_SUPERVISE : CWP_MODE_NONE;
		v.reject_code = i % 3 ? 0 : CWP_REJ_BAD_FIELD;
		v.ruleset_version = 1;
		memcpy(v.ref, "D00000000000000001  ", CWP_REF_LEN);
		v.reason_count = i % 3 ? 2 : 0;
		v.reasons[0] = (struct cwp_reason){CWP_RSN_CLASS, CWP_ITEM_HDR, 0};
		v.reasons[1] = (struct cwp_reason){CWP_RSN_TARGET, 2, 1001};
		ck_assert(cw_journal_wanted(&v));
		cw_journal_fill(&recs[i], 9, &v, 0, 0);
	}
	struct cwp_verdict dup = {
	    .status = CWP_DECIDED, .mode = CWP_MODE_SAMPLE, .flags = CWP_VFLAG_DUPLICATE};
	struct cwp_verdict decl = {.status = CWP_DECIDED, .mode = CWP_MODE_DECLARE};
	ck_assert(!cw_journal_wanted(&dup));
	ck_assert(!cw_journal_wanted(&decl));
	ck_assert_uint_eq(cw_journal_enqueue(ring, recs, 300), 300);
	WAIT_FOR(stats().journal_written == 300);
	/* capped near journal_cap (MAXLEN ~ trims whole nodes, so a little over is normal) */
	long long len = rint_("XLEN %s%s", "cw:journal", "");
	ck_assert_int_lt(len, 300);
	redisReply *r = rc_("XREVRANGE cw:journal + - COUNT 1");
	const redisReply *f = r->element[0]->element[1];
	char flat[1024] = "";
	for (size_t i = 0; i < f->elements; i++) {
		strcat(flat, f->element[i]->str);
		strcat(flat, i % 2 ? ";" : "=");
	}
	freeReplyObject(r);
	/* record 299: 299 % 3 != 0, so decided supervise */
	ck_assert_msg(strstr(flat, "node=" NODE ";") && strstr(flat, "seq=1299;") &&
			  strstr(flat, "type=DECL;") && strstr(flat, "ref=D00000000000000001;") &&
			  strstr(flat, "status=DECIDED;") && strstr(flat, "mode=supervise;") &&
			  strstr(flat, "reasons=CLASS@hdr TARGET:1001@2;") &&
			  strstr(flat, "version=1;") && strstr(flat, "sender=9;"),
		      "%s", flat);

	WAIT_FOR(rint_("HGET %s %s", "cw:stats:" NODE, "rule:1002") == 9);
	ck_assert_int_eq(rint_("HGET %s %s", "cw:stats:" NODE, "datagrams"), 42);
	ck_assert_int_eq(rint_("HGET %s %s", "cw:stats:" NODE, "mode_verify"), 7);
	ck_assert_int_eq(rint_("HGET %s %s", "cw:stats:" NODE, "journal_overflow"), 3);
	WAIT_FOR(rint_("HGET %s %s", "cw:stats:" NODE, "control_journal_written") == 300);
	/* heartbeat: updated_ms keeps moving */
	long long u1 = atoll(node_field("updated_ms"));
	WAIT_FOR(atoll(node_field("updated_ms")) > u1);
	cw_sync_stop(sy);
	rte_ring_free(ring);
}
END_TEST

/* A Redis that stops answering (SIGSTOP) holds nothing up: the thread sends its status and
 * journal writes without waiting for replies, and after timeout_ms without one it drops the
 * write connection (the journal records whose replies never came are counted lost: their fate
 * is unknown) and opens it again once Redis answers. Written and lost add up to what was
 * queued, and the journal goes on being written afterwards. */
static void journal_some(struct rte_ring *ring, uint64_t first, unsigned n)
{
	struct cw_journal_rec recs[200];
	ck_assert_uint_le(n, 200);
	for (unsigned i = 0; i < n; i++) {
		struct cwp_verdict v;
		memset(&v, 0, sizeof(v));
		v.msg_seq = first + i;
		v.msg_type = CWP_DECL;
		v.status = CWP_DECIDED;
		v.mode = CWP_MODE_SUPERVISE;
		v.ruleset_version = 1;
		memcpy(v.ref, "D00000000000000002  ", CWP_REF_LEN);
		cw_journal_fill(&recs[i], 9, &v, 0, 0);
	}
	ck_assert_uint_eq(cw_journal_enqueue(ring, recs, n), n);
}

START_TEST(silent_redis_dropped_then_journal_resumes)
{
	struct cw_sync_config c = test_cfg();
	c.timeout_ms = 300;
	struct rte_ring *ring = start_journaling("tjournal2", &c);
	journal_some(ring, 1000, 200);
	WAIT_FOR(stats().journal_written == 200);
	uint64_t errors = stats().redis_errors;

	ck_assert_int_eq(kill(rpid, SIGSTOP), 0);
	journal_some(ring, 2000, 200);
	WAIT_FOR(stats().redis_errors > errors); /* no reply within timeout_ms: dropped */
	ck_assert(strstr(logbuf, "write connection lost (no reply)"));
	ck_assert_int_eq(kill(rpid, SIGCONT), 0);

	journal_some(ring, 3000, 200);
	WAIT_FOR(stats().journal_written + stats().journal_lost == 600 &&
		 stats().journal_written >= 400);
	WAIT_FOR(rint_("XLEN %s%s", "cw:journal", "") >= 400); /* the third 200 made it */
	cw_sync_stop(sy);
	rte_ring_free(ring);
}
END_TEST

/* ---- other writers: plain redis-cli and cwctl ---- */

static char cwctl[512];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(plain_redis_cli_and_cwctl_writers)
{
	ssize_t n = readlink("/proc/self/exe", cwctl, sizeof(cwctl) - 20);
	ck_assert_int_gt(n, 0);
	cwctl[n] = 0;
	*strrchr(cwctl, '/') = 0;
	strcpy(strrchr(cwctl, '/'), "/cwctl");
	seed_state();
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);

	/* redis-cli, no MULTI: the same keys and events */
	ck_assert_int_eq(sh("redis-cli -p %d HSET cw:ent %s dishonest >/dev/null", rport, U3), 0);
	ck_assert_int_eq(sh("redis-cli -p %d XADD cw:events '*' kind ent op set uscc %s class "
			    "dishonest >/dev/null",
			    rport, U3),
			 0);
	ck_assert_int_eq(sh("redis-cli -p %d HSET cw:senders 77 '172.16.0.0/12|cli' >/dev/null "
			    "&& redis-cli -p %d XADD cw:events '*' kind sender op set id 77 "
			    "prefixes 172.16.0.0/12 name cli >/dev/null",
			    rport, rport),
			 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/r3.rules", rdir);
	FILE *f = fopen(path, "w");
	fputs(rules_text(3, "rule 3 mode verify when hs 0301\n"), f);
	fclose(f);
	ck_assert_int_eq(sh("redis-cli -p %d -x SET cw:ruleset:3 < %s >/dev/null && redis-cli -p "
			    "%d SET cw:ruleset:active 3 >/dev/null && redis-cli -p %d XADD "
			    "cw:events '*' kind ruleset version 3 >/dev/null",
			    rport, path, rport, rport),
			 0);
	WAIT_FOR(reg(U3) == CW_CLS_DISHONEST && senders() == 2 && cw_engine_version(eng) == 3);

	/* cwctl */
	ck_assert_int_eq(sh("%s ent set %s aeo --redis %s >/dev/null", cwctl, U3, raddr), 0);
	ck_assert_int_eq(sh("%s ent del %s --redis %s >/dev/null", cwctl, U1, raddr), 0);
	ck_assert_int_eq(sh("%s sender del 77 --redis %s >/dev/null", cwctl, raddr), 0);
	ck_assert_int_eq(sh("%s sender set 78 '10.7.0.0/16, fd00::/8' 'Port of Tianjin' --redis "
			    "%s >/dev/null",
			    cwctl, raddr),
			 0);
	snprintf(path, sizeof(path), "%s/r4.rules", rdir);
	f = fopen(path, "w");
	fputs(rules_text(4, "rule 4 mode supervise when hs 0401\n"), f);
	fclose(f);
	ck_assert_int_eq(sh("%s push %s --activate --redis %s >/dev/null", cwctl, path, raddr), 0);
	WAIT_FOR(reg(U3) == CW_CLS_AEO && reg(U1) == -1 && cw_engine_version(eng) == 4);
	WAIT_FOR(senders() == 2);
	ck_assert_int_eq(sh("%s rollback --redis %s >/dev/null", cwctl, raddr), 0);
	WAIT_FOR(cw_engine_version(eng) == 3);
	WAIT_FOR(!strcmp(node_field("version"), "3"));
	ck_assert_int_eq(sh("%s status --redis %s >/dev/null", cwctl, raddr), 0);
}
END_TEST

START_TEST(one_shot_load_for_simulate)
{
	seed_state();
	w_rules(4, rules_text(4, "rule 4 mode verify when hs 0401\n"), false);
	char err[256];
	ck_assert_int_eq(cw_sync_load_all(eng, raddr, 0, err, sizeof(err)), 1);
	ck_assert_uint_eq(cw_engine_version(eng), 1);
	ck_assert_int_eq(reg(U2), CW_CLS_SERIOUS);
	ck_assert_uint_eq(senders(), 1);
	ck_assert_int_eq(cw_sync_load_all(eng, raddr, 4, err, sizeof(err)), 4);
	ck_assert_uint_eq(cw_engine_version(eng), 4);
	ck_assert_int_eq(cw_sync_load_all(eng, raddr, 5, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "does not exist") != NULL, "%s", err);
	size_t len;
	uint32_t got;
	char *t = cw_sync_fetch_rules(raddr, 0, &len, &got, err, sizeof(err));
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(got, 1);
	ck_assert_uint_eq(len, strlen(rules_text(1, "rule 1001 mode sample when hs 0201\n")));
	free(t);
	RC("DEL cw:ruleset:active");
	ck_assert_int_eq(cw_sync_load_all(eng, raddr, 0, err, sizeof(err)), 0);
	ck_assert_ptr_null(cw_sync_fetch_rules(raddr, 0, &len, &got, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not set") != NULL, "%s", err);
}
END_TEST

/* ---------------------------------------------------------------- measurements */

static double pct(uint64_t *v, size_t n, double p)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	size_t k = (size_t)(p * (double)(n - 1));
	return (double)v[k] / 1e3;
}

/* A rule set of n rules; `changed` rules (the first ones) get another mode. */
static char *gen_rules(uint32_t version, unsigned n, unsigned changed, size_t *len)
{
	size_t cap = (size_t)n * 96 + 4096; /* a line is at most ~70 bytes */
	char *t = malloc(cap);
	size_t off = (size_t)snprintf(t, cap, "version %u\n" SALT POLICIES, version);
	static const char *cc[] = {"DE", "FR", "US", "BR", "AR", "JP", "KR", "VN"};
	for (unsigned i = 0; i < n; i++)
		off += (size_t)snprintf(t + off, cap - off,
					"rule %u priority %u mode %s when hs %06u and origin %s\n",
					10000 + i, i % 100, i < changed ? "supervise" : "verify",
					100000 + (i * 7919u) % 800000, cc[i % 8]);
	*len = off;
	return t;
}

/* Texts are read with one GET whose reply goes from the socket straight into the buffer: every
 * size (around the 16 KB and 1 MB marks hiredis would have used) comes back byte for byte; a
 * value that is no string is an error and the connection reads on; a big set goes live and then
 * changes as a delta through the incremental parse. */
START_TEST(big_text_read_straight)
{
	seed_state();
	size_t len;
	char *t = gen_rules(300, 40000, 0, &len);
	ck_assert_uint_gt(len, 2u << 20);
	static const size_t sizes[] = {
	    0, 1, 16383, 16384, 16385, 1u << 20, (1u << 20) + 1, (5u << 18) - 1, 0 /* all of it */};
	char err[256];
	uint32_t got;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i] || i == 0 ? sizes[i] : len;
		RC("SET cw:ruleset:%u %b", (unsigned)(1000 + i), t, n);
		size_t flen;
		char *f =
		    cw_sync_fetch_rules(raddr, (uint32_t)(1000 + i), &flen, &got, err, sizeof(err));
		ck_assert_msg(f != NULL, "%s", err);
		ck_assert_uint_eq(flen, n);
		ck_assert(!memcmp(f, t, n) && f[n] == 0);
		free(f);
	}
	/* not a string: an error, and the same connection reads the next text */
	RC("DEL cw:ruleset:999");
	RC("RPUSH cw:ruleset:999 a b");
	struct cw_redis_addr a;
	ck_assert_int_eq(cw_redis_addr_parse(raddr, &a, err, sizeof(err)), 0);
	redisContext *rc = cw_redis_connect(&a, 2000, err, sizeof(err));
	ck_assert_ptr_nonnull(rc);
	char *f = NULL;
	size_t flen;
	uint32_t v = 999;
	ck_assert_int_eq(cw_load_ruleset_text(rc, &v, &f, &flen, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "WRONGTYPE") != NULL, "%s", err);
	ck_assert_int_eq(rc->err, 0);
	v = 1000 + sizeof(sizes) / sizeof(sizes[0]) - 1;
	ck_assert_int_eq(cw_load_ruleset_text(rc, &v, &f, &flen, err, sizeof(err)), 1);
	ck_assert_uint_eq(flen, len);
	free(f);
	v = 998; /* no such key */
	ck_assert_int_eq(cw_load_ruleset_text(rc, &v, &f, &flen, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "does not exist") != NULL, "%s", err);
	ck_assert_int_eq(rc->err, 0);
	/* a Redis that refuses WATCH (an ACL): read with one GET instead */
	RC("ACL SETUSER default -watch");
	v = 1000 + sizeof(sizes) / sizeof(sizes[0]) - 1;
	ck_assert_int_eq(cw_load_ruleset_text(rc, &v, &f, &flen, err, sizeof(err)), 1);
	ck_assert(flen == len && !memcmp(f, t, len));
	free(f);
	RC("ACL SETUSER default +watch");
	redisFree(rc);
	struct cw_sync_config c = test_cfg();
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);
	w_rules(300, t, true);
	WAIT_FOR(cw_engine_version(eng) == 300);
	free(t);
	t = gen_rules(301, 40000, 3, &len);
	uint64_t d0 = stats().delta_activations;
	w_rules(301, t, true);
	WAIT_FOR(cw_engine_version(eng) == 301);
	WAIT_FOR(stats().delta_activations == d0 + 1);
	const struct cw_ruleset *rs = cw_snapshot_ruleset(cw_engine_active(eng));
	ck_assert_uint_eq(rs->n_rules, 40000);
	ck_assert_uint_eq(rs->rules[2].mode, CWP_MODE_SUPERVISE);
	ck_assert_uint_eq(rs->rules[3].mode, CWP_MODE_VERIFY);
	ck_assert_uint_eq(rs->rules[39999].line, 40005);
	free(t);
}
END_TEST

/* A writer that keeps replacing a big value (against the contract, but any client may) never
 * makes a read return a mix of two values: a piecewise read that overlaps a write is noticed
 * (WATCH) and read again with one GET. The writer cycles through two values of one length, a
 * shorter one, and a list (a read then fails with WRONGTYPE, and the connection reads on). */
struct rewriter {
	const char *a, *b;
	size_t len;
	atomic_bool stop;
};

static void *rewrite_main(void *arg)
{
	struct rewriter *w = arg;
	redisContext *c = connect_r();
	ck_assert_ptr_nonnull(c);
	for (unsigned i = 0; !atomic_load(&w->stop); i++) {
		if (i % 4 == 3) {
			freeReplyObject(redisCommand(c, "MULTI"));
			freeReplyObject(redisCommand(c, "DEL cw:ruleset:500"));
			freeReplyObject(redisCommand(c, "RPUSH cw:ruleset:500 x"));
			freeReplyObject(redisCommand(c, "EXEC"));
			continue;
		}
		size_t len = i % 4 == 2 ? w->len - 700000 : w->len;
		freeReplyObject(redisCommand(c, "SET cw:ruleset:500 %b", i % 2 ? w->b : w->a, len));
	}
	redisFree(c);
	return NULL;
}

static uint64_t get_calls(void)
{
	redisReply *info = redisCommand(R, "INFO commandstats");
	ck_assert_ptr_nonnull(info);
	const char *p = strstr(info->str, "cmdstat_get:calls=");
	uint64_t n = p ? strtoull(p + strlen("cmdstat_get:calls="), NULL, 10) : 0;
	freeReplyObject(info);
	return n;
}

START_TEST(piecewise_read_never_torn)
{
	struct rewriter w = {.len = 3u << 20};
	char *a = malloc(w.len), *b = malloc(w.len);
	memset(a, 'a', w.len);
	memset(b, 'b', w.len);
	w.a = a, w.b = b;
	RC("SET cw:ruleset:500 %b", a, w.len);
	struct cw_redis_addr ad;
	char err[256];
	ck_assert_int_eq(cw_redis_addr_parse(raddr, &ad, err, sizeof(err)), 0);
	redisContext *c = cw_redis_connect(&ad, 2000, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	uint64_t gets = get_calls();
	pthread_t thr;
	ck_assert_int_eq(pthread_create(&thr, NULL, rewrite_main, &w), 0);
	unsigned reads = 0, wrongtype = 0;
	/* until a read had to fall back to GET (the writer overlapped one), and a few more */
	for (unsigned extra = 0; reads < 5000 && extra < 40; reads++) {
		char *f = NULL;
		size_t flen;
		uint32_t v = 500;
		int rc = cw_load_ruleset_text(c, &v, &f, &flen, err, sizeof(err));
		ck_assert_int_eq(c->err, 0);
		if (rc < 0) {
			ck_assert_msg(strstr(err, "WRONGTYPE") != NULL, "%s", err);
			wrongtype++;
			continue;
		}
		ck_assert_int_eq(rc, 1);
		const char *want = f[0] == 'a' ? a : b;
		ck_assert_msg((flen == w.len || flen == w.len - 700000) && !memcmp(f, want, flen),
			      "read %u is torn (%zu bytes)", reads, flen);
		free(f);
		extra += get_calls() > gets;
	}
	atomic_store(&w.stop, true);
	pthread_join(thr, NULL);
	ck_assert_uint_gt(get_calls(), gets);
	fprintf(stderr,
		"  %u reads while rewritten, %" PRIu64 " read again with GET, %u WRONGTYPE\n",
		reads, get_calls() - gets, wrongtype);
	redisFree(c);
	free(a);
	free(b);
}
END_TEST

/* Prints the control thread's log line for version v (how its time splits up). */
static void print_activation_log(uint32_t v)
{
	char key[48];
	snprintf(key, sizeof(key), "rule set v%u active", v);
	pthread_mutex_lock(&log_mu);
	const char *l = strstr(logbuf, key);
	if (l)
		fprintf(stderr, "    log: %.*s\n", (int)strcspn(l, "\n"), l);
	pthread_mutex_unlock(&log_mu);
}

/* When each rule set went live, from the control thread's on_ruleset callback (called just
 * after the swap): the test waits on a condition variable instead of polling, so that no busy
 * thread of its own competes with the control and compile threads for the two cores. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static uint32_t live_version;
static uint64_t live_at;

static void note_live(void *arg, const struct cw_ruleset *rs, const char *source)
{
	(void)arg;
	(void)source;
	uint64_t now = cw_mono_ns();
	pthread_mutex_lock(&live_mu);
	live_version = rs->version;
	live_at = now;
	pthread_cond_broadcast(&live_cv);
	pthread_mutex_unlock(&live_mu);
}

static uint64_t time_activation(uint32_t v, const char *text, size_t len)
{
	RC("SET cw:ruleset:%u %b", v, text, len);
	uint64_t t0 = cw_mono_ns();
	RC("MULTI");
	RC("SET cw:ruleset:active %u", v);
	RC("XADD cw:events * kind ruleset version %u", v);
	RC("EXEC");
	pthread_mutex_lock(&live_mu);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 600;
	while (live_version != v && pthread_cond_timedwait(&live_cv, &live_mu, &until) != ETIMEDOUT)
		;
	uint64_t ns = live_at - t0;
	pthread_mutex_unlock(&live_mu);
	ck_assert_uint_eq(cw_engine_version(eng), v);
	WAIT_FOR(stats().version == v); /* build time and kind are recorded just after */
	print_activation_log(v);
	return ns;
}

START_TEST(measure_latencies)
{
	if (!getenv("CW_SYNC_MEASURE")) {
		fprintf(stderr, "  (latency measurements skipped: set CW_SYNC_MEASURE=1)\n");
		return;
	}
	seed_state();
	struct cw_sync_config c = test_cfg();
	c.heartbeat_ms = 1000;
	c.on_ruleset = note_live;
	sync_new(&c);
	ck_assert_int_eq(cw_sync_initial_load(sy, NULL), 0);
	ck_assert_int_eq(cw_sync_start(sy), 0);

	/* registry event -> visible to a worker */
	uint64_t lat[500];
	for (int i = 0; i < 500; i++) {
		const char *cls = i % 2 ? "serious" : "good";
		int want = i % 2 ? CW_CLS_SERIOUS : CW_CLS_GOOD;
		uint64_t t0 = cw_mono_ns();
		w_ent(U3, cls);
		while (reg(U3) != want)
			sched_yield();
		lat[i] = cw_mono_ns() - t0;
	}
	fprintf(stderr,
		"  registry event -> visible: p50 %.0f us, p99 %.0f us, max %.0f us (500 events, "
		"MULTI/EXEC write included)\n",
		pct(lat, 500, 0.5), pct(lat, 500, 0.99), pct(lat, 500, 1.0));

	size_t len;
	char *t = gen_rules(100, 10000, 0, &len);
	uint64_t full = time_activation(100, t, len);
	free(t);
	fprintf(stderr, "  full 10k-rule set: event -> active %.1f ms (build %.1f ms, %s)\n",
		(double)full / 1e6, (double)stats().last_build_ns / 1e6,
		stats().delta_activations ? "delta" : "full");

	t = gen_rules(200, 100000, 0, &len);
	full = time_activation(200, t, len);
	free(t);
	fprintf(stderr, "  full 100k-rule set: event -> active %.1f ms\n", (double)full / 1e6);
	t = gen_rules(201, 100000, 3, &len);
	uint64_t p0 = cw_mono_ns();
	struct cw_parse_error pe[2];
	struct cw_parse_errors perrs = {.v = pe, .cap = 2};
	struct cw_ruleset *prs = cw_ruleset_parse(t, len, &perrs);
	uint64_t parse_ns = cw_mono_ns() - p0;
	ck_assert_ptr_nonnull(prs);
	cw_ruleset_free(prs);
	fprintf(stderr, "  (parsing the 100k-rule text alone: %.1f ms, %.1f MB)\n",
		(double)parse_ns / 1e6, (double)len / 1e6);
	uint64_t d0 = stats().delta_activations;
	uint64_t delta = time_activation(201, t, len);
	free(t);
	fprintf(stderr,
		"  3-rule delta on 100k rules: event -> active %.1f ms (build %.1f ms, %s)\n",
		(double)delta / 1e6, (double)stats().last_build_ns / 1e6,
		stats().delta_activations > d0 ? "delta" : "full");
	/* and the next one: a delta replacing a delta (three more rules changed) */
	t = gen_rules(202, 100000, 6, &len);
	delta = time_activation(202, t, len);
	free(t);
	fprintf(stderr,
		"  next 3-rule delta (on the same base): event -> active %.1f ms (build %.1f ms, "
		"%s)\n",
		(double)delta / 1e6, (double)stats().last_build_ns / 1e6,
		stats().delta_activations > d0 + 1 ? "delta" : "full");
	/* registry latency while a 100 k-rule full build runs on the compile thread */
	t = gen_rules(203, 100000, 2000, &len);
	RC("SET cw:ruleset:203 %b", t, len);
	RC("MULTI");
	RC("SET cw:ruleset:active 203");
	RC("XADD cw:events * kind ruleset version 203");
	RC("EXEC");
	free(t);
	int k = 0;
	while (cw_engine_version(eng) != 203 && k < 500) {
		const char *cls = k % 2 ? "serious" : "good";
		int want = k % 2 ? CW_CLS_SERIOUS : CW_CLS_GOOD;
		uint64_t t0 = cw_mono_ns();
		w_ent(U3, cls);
		while (reg(U3) != want)
			sched_yield();
		lat[k++] = cw_mono_ns() - t0;
	}
	if (k > 1)
		fprintf(stderr,
			"  registry event -> visible during a 100k full build: p50 %.0f us, max "
			"%.0f us (%d events)\n",
			pct(lat, (size_t)k, 0.5), pct(lat, (size_t)k, 1.0), k);
	WAIT_FOR(cw_engine_version(eng) == 203);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("sync");
	TCase *t = tcase_create("redis");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 600);
	tcase_add_test(t, full_load_then_follow);
	tcase_add_test(t, no_rules_and_no_wait);
	tcase_add_test(t, initial_load_waits_for_redis);
	tcase_add_test(t, resync_reloads_everything);
	tcase_add_test(t, trimmed_past_position_reloads);
	tcase_add_test(t, catch_up_after_redis_restart);
	tcase_add_test(t, empty_redis_does_not_empty_the_gateway);
	tcase_add_test(t, restored_from_an_older_copy_reloads);
	tcase_add_test(t, broken_rules_refused_old_keeps_deciding);
	tcase_add_test(t, small_change_is_a_delta);
	tcase_add_test(t, malformed_events_counted_and_skipped);
	tcase_add_test(t, registry_churn_while_deciding);
	tcase_add_test(t, stats_and_journal_written);
	tcase_add_test(t, silent_redis_dropped_then_journal_resumes);
	tcase_add_test(t, plain_redis_cli_and_cwctl_writers);
	tcase_add_test(t, one_shot_load_for_simulate);
	tcase_add_test(t, big_text_read_straight);
	tcase_add_test(t, piecewise_read_never_torn);
	tcase_add_test(t, measure_latencies);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	int rc = tu_run(suite());
	if (R || rpid)
		redis_stop();
	return rc;
}
