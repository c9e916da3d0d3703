/*
 * cmd_stats.c - `cwctl stats [--watch]`: the counters every gateway writes to cw:stats:<node>.
 *
 * Gateways write absolute values about once a second (DESIGN §6); this command shows them per
 * node (non-zero counters, then the most-hit rules of the running rule set) and, with --watch,
 * refreshes every interval with per-second rates computed from consecutive samples.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/cli.h"
#include "control/cmds.h"

#define MAX_NODES 256
#define MAX_CTRS  512

struct sample {
	char node[128];
	size_t n;
	char *name[MAX_CTRS];
	uint64_t val[MAX_CTRS];
	uint64_t updated_ms;
	struct {
		uint32_t id;
		uint64_t hits;
	} top[10];
	size_t ntop, nrules;
};

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static void sample_free(struct sample *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->name[i]);
	s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_top(struct sample *s, uint32_t id, uint64_t hits)
{
	s->nrules++;
	size_t k = s->ntop < 10 ? s->ntop++ : 10;
	if (k == 10 && hits <= s->top[9].hits)
		return;
	if (k == 10)
		k = 9;
	while (k > 0 && s->top[k - 1].hits < hits) {
		s->top[k] = s->top[k - 1];
		k--;
	}
	s->top[k].id = id;
	s->top[k].hits = hits;
}

static bool parse_hash(const redisReply *h, struct sample *s)
{
	if (!h || h->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i + 1 < h->elements; i += 2) {
		const char *k = cw_reply_str(h->element[i]), *v = cw_reply_str(h->element[i + 1]);
		uint64_t x;
		if (!k || !v || !cli_u64(v, &x))
			continue;
		if (!strncmp(k, "rule:", 5)) {
			uint64_t id;
			if (cli_u64(k + 5, &id))
				add_top(s, (uint32_t)id, x);
		} else if (!strcmp(k, "updated_ms")) {
			s->updated_ms = x;
		} else if (s->n < MAX_CTRS) {
			s->name[s->n] = strdup(k);
			s->val[s->n++] = x;
		}
	}
	/* sort names, carrying values along */
	for (size_t i = 1; i < s->n; i++)
		for (size_t j = i; j > 0 && cmp_str(&s->name[j - 1], &s->name[j]) > 0; j--) {
			char *t = s->name[j];
			s->name[j] = s->name[j - 1];
			s->name[j - 1] = t;
			uint64_t u = s->val[j];
			s->val[j] = s->val[j - 1];
			s->val[j - 1] = u;
		}
	return true;
}

static bool lookup(const struct sample *s, const char *name, uint64_t *v)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (!strcmp(s->name[i], name)) {
			*v = s->val[i];
			return true;
		}
	return false;
}

static int load(struct cli *o, const char *only, struct sample *out, size_t *n)
{
	*n = 0;
	char cursor[32] = "0";
	do {
		redisReply *r = cw_redis_cmdv(o->c, o->err, sizeof(o->err), "SCAN", cursor, "MATCH",
					      CW_K_STATS_PREFIX "*", "COUNT", "1000", NULL);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
			if (r)
				freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", cw_reply_str(r->element[0]));
		for (size_t i = 0; i < r->element[1]->elements && *n < MAX_NODES; i++) {
			const char *k = cw_reply_str(r->element[1]->element[i]);
			const char *node = k ? k + strlen(CW_K_STATS_PREFIX) : NULL;
			if (!node || (only && strcmp(node, only)))
				continue;
			struct sample *s = &out[*n];
			memset(s, 0, sizeof(*s));
			snprintf(s->node, sizeof(s->node), "%s", node);
			redisReply *h =
			    cw_redis_cmdv(o->c, o->err, sizeof(o->err), "HGETALL", k, NULL);
			if (parse_hash(h, s))
				(*n)++;
			if (h)
				freeReplyObject(h);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0"));
	for (size_t i = 1; i < *n; i++) /* by node name */
		for (size_t j = i; j > 0 && strcmp(out[j - 1].node, out[j].node) > 0; j--) {
			struct sample t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return 0;
}

static void show_text(const struct sample *s, const struct sample *prev, bool all)
{
	uint64_t now = cw_wall_ms();
	printf("== %s (updated %.1fs ago)\n", s->node,
	       now > s->updated_ms ? (double)(now - s->updated_ms) / 1000 : 0.0);
	double dt = prev && s->updated_ms > prev->updated_ms
			? (double)(s->updated_ms - prev->updated_ms) / 1000
			: 0;
	for (size_t i = 0; i < s->n; i++) {
		if (!all && !s->val[i])
			continue;
		uint64_t pv;
		if (dt > 0 && lookup(prev, s->name[i], &pv) && s->val[i] >= pv &&
		    strcmp(s->name[i], "version"))
			printf("  %-28s %16" PRIu64 " %12.0f/s\n", s->name[i], s->val[i],
			       (double)(s->val[i] - pv) / dt);
		else
			printf("  %-28s %16" PRIu64 "\n", s->name[i], s->val[i]);
	}
	if (s->ntop) {
		printf("  top rules (%zu with hits):", s->nrules);
		for (size_t i = 0; i < s->ntop; i++)
			printf(" %" PRIu32 ":%" PRIu64, s->top[i].id, s->top[i].hits);
		printf("\n");
	}
}

static void show_json(const struct sample *v, size_t n)
{
	printf("{\"ts\":%" PRIu64 ",\"nodes\":{", cw_wall_ms());
	for (size_t i = 0; i < n; i++) {
		printf("%s", i ? "," : "");
		json_str(stdout, v[i].node);
		printf(":{\"updated_ms\":%" PRIu64 ",\"counters\":{", v[i].updated_ms);
		for (size_t k = 0; k < v[i].n; k++) {
			printf("%s", k ? "," : "");
			json_str(stdout, v[i].name[k]);
			printf(":%" PRIu64, v[i].val[k]);
		}
		printf("},\"rules_with_hits\":%zu,\"top_rules\":[", v[i].nrules);
		for (size_t k = 0; k < v[i].ntop; k++)
			printf("%s{\"id\":%" PRIu32 ",\"hits\":%" PRIu64 "}", k ? "," : "",
			       v[i].top[k].id, v[i].top[k].hits);
		printf("]}");
	}
	printf("}}\n");
}

int cmd_stats(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	bool watch = false, all = false;
	const char *only = NULL;
	uint64_t interval = 1;
	bool bad = argc < 0;
	for (int i = 1; !bad && i < argc; i++) {
		if (!strcmp(argv[i], "--watch"))
			watch = true;
		else if (!strcmp(argv[i], "--all"))
			all = true;
		else if (!strcmp(argv[i], "--node") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--interval") && i + 1 < argc &&
			 cli_u64(argv[i + 1], &interval) && interval > 0)
			i++;
		else
			bad = true;
	}
	if (bad) {
		fprintf(stderr, "usage: cwctl stats [--node NAME] [--all] [--watch [--interval S]] "
				"[--json] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(&o, "stats");
	if (rc)
		return rc;
	static struct sample cur[MAX_NODES], prev[MAX_NODES];
	size_t n = 0, pn = 0;
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	for (;;) {
		if (load(&o, only, cur, &n)) {
			fprintf(stderr, "cwctl stats: %s\n", o.err[0] ? o.err : "unexpected reply");
			rc = CWCTL_ENV;
			break;
		}
		if (o.json)
			show_json(cur, n);
		else {
			if (watch)
				printf("\033[H\033[2J");
			if (!n)
				printf("(no gateway has written %s* yet)\n", CW_K_STATS_PREFIX);
			for (size_t i = 0; i < n; i++) {
				const struct sample *p = NULL;
				for (size_t k = 0; k < pn; k++)
					if (!strcmp(prev[k].node, cur[i].node))
						p = &prev[k];
				show_text(&cur[i], p, all);
			}
		}
		fflush(stdout);
		for (size_t k = 0; k < pn; k++)
			sample_free(&prev[k]);
		memcpy(prev, cur, n * sizeof(*cur));
		pn = n;
		if (!watch || stop)
			break;
		for (uint64_t t = 0; t < interval * 10 && !stop; t++)
			usleep(100000);
		if (stop)
			break;
	}
	for (size_t k = 0; k < pn; k++)
		sample_free(&prev[k]);
	cli_close(&o);
	return rc;
}
