/*
 * cmd_status.c - `cwctl status`: what every gateway on this Redis runs, and whether it keeps up.
 *
 * Reads `cw:ruleset:active`, the end of `cw:events`, and every `cw:node:<node>` hash the
 * gateways write about once a second. A node is "stale" when its last heartbeat is older than
 * 5 s (or it said it stopped); its event lag is how many events follow the last one it applied.
 * Exit code 0 when every node is ok, current (runs the active version, no lag) and fresh, else 1
 * (CWCTL_BAD), so rollout scripts can wait on it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/cli.h"
#include "control/cmds.h"
#include "control/load.h"

#define STALE_MS 5000
#define LAG_CAP	 10000

struct node {
	char name[128];
	redisReply *h; /* HGETALL */
};

static const char *hget(const redisReply *h, const char *k)
{
	for (size_t i = 0; h && i + 1 < h->elements; i += 2) {
		const char *f = cw_reply_str(h->element[i]);
		if (f && !strcmp(f, k))
			return cw_reply_str(h->element[i + 1]);
	}
	return NULL;
}

static uint64_t hget_u64(const redisReply *h, const char *k)
{
	uint64_t v = 0;
	const char *s = hget(h, k);
	return s && cli_u64(s, &v) ? v : 0;
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->name, ((const struct node *)b)->name);
}

/* Scans cw:node:* into a sorted array. */
static struct node *scan_nodes(struct cli *o, size_t *n)
{
	struct node *v = NULL;
	size_t cap = 0;
	*n = 0;
	char cursor[32] = "0";
	do {
		redisReply *r = cw_redis_cmdv(o->c, o->err, sizeof(o->err), "SCAN", cursor, "MATCH",
					      CW_K_NODE_PREFIX "*", "COUNT", "1000", NULL);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			if (r)
				freeReplyObject(r);
			free(v);
			return NULL;
		}
		snprintf(cursor, sizeof(cursor), "%s", cw_reply_str(r->element[0]));
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const char *k = cw_reply_str(r->element[1]->element[i]);
			if (!k || strlen(k) - strlen(CW_K_NODE_PREFIX) >= sizeof(v->name))
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 16;
				struct node *nv = realloc(v, cap * sizeof(*nv));
				if (!nv)
					break;
				v = nv;
			}
			memset(&v[*n], 0, sizeof(v[*n]));
			snprintf(v[*n].name, sizeof(v[*n].name), "%s",
				 k + strlen(CW_K_NODE_PREFIX));
			(*n)++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_node);
	if (!v)
		v = calloc(1, sizeof(*v));
	return v;
}

/* Events after `id` in cw:events, capped at LAG_CAP + 1. */
static long lag_of(struct cli *o, const char *id, const struct cw_stream_info *si)
{
	struct cw_stream_id x;
	if (!si->exists)
		return 0;
	if (!id || !cw_stream_id_parse(id, &x))
		return (long)si->length;
	if (cw_stream_id_cmp(x, si->last_generated) >= 0)
		return 0;
	char from[64], cnt[16];
	snprintf(from, sizeof(from), "(%s", id);
	snprintf(cnt, sizeof(cnt), "%d", LAG_CAP + 1);
	redisReply *r = cw_redis_cmdv(o->c, o->err, sizeof(o->err), "XRANGE", CW_K_EVENTS, from,
				      "+", "COUNT", cnt, NULL);
	long n = r && r->type == REDIS_REPLY_ARRAY ? (long)r->elements : -1;
	if (r)
		freeReplyObject(r);
	return n;
}

int cmd_status(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	if (argc != 1) {
		fprintf(stderr, "usage: cwctl status [--json] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(&o, "status");
	if (rc)
		return rc;
	redisReply *a = cw_redis_cmdv(o.c, o.err, sizeof(o.err), "GET", CW_K_ACTIVE, NULL);
	redisReply *xi =
	    a ? cw_redis_cmdv(o.c, o.err, sizeof(o.err), "XINFO", "STREAM", CW_K_EVENTS, NULL)
	      : NULL;
	struct cw_stream_info si = {0};
	size_t n = 0;
	struct node *nodes = xi ? scan_nodes(&o, &n) : NULL;
	if (!a || !xi || !cw_stream_info_parse(xi, &si) || !nodes) {
		fprintf(stderr, "cwctl status: %s\n", o.err[0] ? o.err : "unexpected reply");
		rc = CWCTL_ENV;
		goto out;
	}
	uint32_t active = 0;
	if (cw_reply_str(a))
		cw_version_parse(a->str, &active);
	for (size_t i = 0; i < n; i++) {
		char key[160];
		snprintf(key, sizeof(key), CW_K_NODE_PREFIX "%s", nodes[i].name);
		nodes[i].h = cw_redis_cmdv(o.c, o.err, sizeof(o.err), "HGETALL", key, NULL);
		if (!nodes[i].h || nodes[i].h->type != REDIS_REPLY_ARRAY) {
			fprintf(stderr, "cwctl status: %s\n", o.err[0] ? o.err : key);
			rc = CWCTL_ENV;
			goto out;
		}
	}
	char last[48] = "";
	if (si.exists)
		cw_stream_id_format(si.last_generated, last, sizeof(last));
	uint64_t now = cw_wall_ms();
	if (o.json)
		printf("{\"active\":%" PRIu32 ",\"events\":{\"length\":%" PRIu64
		       ",\"last_id\":\"%s\"},\"nodes\":[",
		       active, si.length, last);
	else {
		printf("active rule set: %s", active ? "" : "none");
		if (active)
			printf("v%" PRIu32, active);
		printf("   events: %" PRIu64 " in %s, last %s\n\n", si.length, CW_K_EVENTS,
		       last[0] ? last : "-");
		printf("%-20s %8s %7s %-9s %9s %8s %9s %7s  %s\n", "NODE", "VERSION", "STATUS",
		       "STATE", "HEARTBEAT", "LAG", "ENTS", "SENDERS", "ERROR");
	}
	bool all_ok = true;
	for (size_t i = 0; i < n; i++) {
		const redisReply *h = nodes[i].h;
		uint64_t upd = hget_u64(h, "updated_ms");
		uint64_t age = now > upd ? now - upd : 0;
		const char *state = hget(h, "state");
		const char *status = hget(h, "status");
		const char *err = hget(h, "error");
		const char *le = hget(h, "last_event");
		uint32_t ver = (uint32_t)hget_u64(h, "version");
		bool stale = age > STALE_MS || (state && !strcmp(state, "stopped"));
		long lag = lag_of(&o, le, &si);
		bool ok = !stale && status && !strcmp(status, "ok") && ver == active && lag == 0;
		all_ok = all_ok && ok;
		if (o.json) {
			printf("%s{\"node\":", i ? "," : "");
			json_str(stdout, nodes[i].name);
			printf(",\"version\":%" PRIu32 ",\"status\":", ver);
			json_str(stdout, status);
			printf(",\"error\":");
			json_str(stdout, err);
			printf(",\"state\":");
			json_str(stdout, state);
			printf(",\"heartbeat_age_ms\":%" PRIu64 ",\"stale\":%s,\"last_event\":",
			       age, stale ? "true" : "false");
			json_str(stdout, le);
			printf(",\"event_lag\":%ld,\"ent_count\":%" PRIu64
			       ",\"sender_count\":%" PRIu64 ",\"pending\":%" PRIu64
			       ",\"applied_ms\":%" PRIu64 ",\"updated_ms\":%" PRIu64
			       ",\"current\":%s}",
			       lag, hget_u64(h, "ent_count"), hget_u64(h, "sender_count"),
			       hget_u64(h, "pending"), hget_u64(h, "applied_ms"), upd,
			       ok ? "true" : "false");
		} else {
			char hb[32], lg[24], vs[16];
			snprintf(hb, sizeof(hb), "%.1fs%s", (double)age / 1000, stale ? "!" : "");
			if (lag > LAG_CAP)
				snprintf(lg, sizeof(lg), ">%d", LAG_CAP);
			else
				snprintf(lg, sizeof(lg), "%ld", lag);
			snprintf(vs, sizeof(vs), "v%" PRIu32 "%s", ver, ver == active ? "" : "*");
			printf("%-20s %8s %7s %-9s %9s %8s %9" PRIu64 " %7" PRIu64 "  %s\n",
			       nodes[i].name, vs, status ? status : "?", state ? state : "?", hb,
			       lg, hget_u64(h, "ent_count"), hget_u64(h, "sender_count"),
			       err ? err : "");
		}
	}
	if (o.json)
		printf("]}\n");
	else if (!n)
		printf("(no gateway has reported to this Redis)\n");
	else if (!all_ok)
		printf("\n* not the active version   ! no heartbeat for %d s\n", STALE_MS / 1000);
	rc = all_ok ? CWCTL_OK : CWCTL_BAD;
out:
	for (size_t i = 0; nodes && i < n; i++)
		if (nodes[i].h)
			freeReplyObject(nodes[i].h);
	free(nodes);
	if (a)
		freeReplyObject(a);
	if (xi)
		freeReplyObject(xi);
	cli_close(&o);
	return rc;
}
