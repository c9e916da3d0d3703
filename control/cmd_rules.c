/*
 * cmd_rules.c - `cwctl push | activate | rollback | diff`: rule-set versions in Redis.
 *
 * A rule set is stored once per version (`cw:ruleset:<v>`, immutable: pushing a different text
 * under a stored version is refused) and made active by `activate`, which sets
 * `cw:ruleset:active` and appends `kind=ruleset` to `cw:events` in one MULTI/EXEC. Every text is
 * compiled here first, so a broken rule set never reaches a gateway through cwctl.
 *
 * `rollback` needs the version that was active before: `activate` pushes the version it replaces
 * onto `cw:ruleset:history` (a list, newest first, 100 kept) in the same transaction, and
 * `rollback` pops it. Writers that set `cw:ruleset:active` by hand do not maintain the list;
 * that only makes `rollback` go back to the last version that cwctl replaced, skipping entries
 * that are the current version or whose text is gone.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/cli.h"
#include "control/cmds.h"
#include "control/diff.h"
#include "control/load.h"
#include "rules/ruleset.h"

#define HISTORY_KEEP "99"

/* Parses text; prints errors as LABEL:line:column: message. The rule set or NULL. */
static struct cw_ruleset *compile_check(const char *text, size_t len, const char *label)
{
	struct cw_parse_error ev[50];
	struct cw_parse_errors errs = {.v = ev, .cap = 50};
	struct cw_ruleset *rs = cw_ruleset_parse(text, len, &errs);
	if (rs)
		return rs;
	for (uint32_t i = 0; i < errs.n; i++) {
		char m[256];
		cw_parse_error_format(&errs.v[i], m, sizeof(m));
		fprintf(stderr, "%s:%s\n", label, m);
	}
	if (errs.total > errs.n)
		fprintf(stderr, "%s: ... and %" PRIu32 " more errors\n", label,
			errs.total - errs.n);
	fprintf(stderr, "%s: refused (%" PRIu32 " error%s)\n", label, errs.total,
		errs.total == 1 ? "" : "s");
	return NULL;
}

static redisReply *get_rules(struct cli *o, uint32_t v)
{
	char key[48];
	snprintf(key, sizeof(key), CW_K_RULESET_PREFIX "%" PRIu32, v);
	return cw_redis_cmdv(o->c, o->err, sizeof(o->err), "GET", key, NULL);
}

/* Reads cw:ruleset:active: 0 none (or not a version), else the version. -1 on error. */
static long get_active(struct cli *o)
{
	redisReply *r = cw_redis_cmdv(o->c, o->err, sizeof(o->err), "GET", CW_K_ACTIVE, NULL);
	if (!r)
		return -1;
	uint32_t v = 0;
	if (r->type == REDIS_REPLY_STRING && !cw_version_parse(r->str, &v))
		v = 0;
	long rc = cw_reply_is_error(r) ? -1 : (long)v;
	if (rc < 0)
		snprintf(o->err, sizeof(o->err), "%s", r->str);
	freeReplyObject(r);
	return rc;
}

/* Checks that stored version v exists and compiles with `version v`. CWCTL_OK or why not. */
static int check_stored(struct cli *o, uint32_t v, const char *cmd, bool quiet)
{
	redisReply *r = get_rules(o, v);
	if (!r) {
		fprintf(stderr, "cwctl %s: %s\n", cmd, o->err);
		return CWCTL_ENV;
	}
	int rc = CWCTL_OK;
	char label[48];
	snprintf(label, sizeof(label), CW_K_RULESET_PREFIX "%" PRIu32, v);
	if (r->type != REDIS_REPLY_STRING) {
		if (!quiet)
			fprintf(stderr,
				"cwctl %s: no rule set v%" PRIu32 " stored (cwctl push first)\n",
				cmd, v);
		rc = CWCTL_BAD;
	} else {
		struct cw_ruleset *rs = compile_check(r->str, r->len, label);
		if (!rs)
			rc = CWCTL_BAD;
		else if (rs->version != v) {
			fprintf(stderr, "cwctl %s: %s says `version %" PRIu32 "`\n", cmd, label,
				rs->version);
			rc = CWCTL_BAD;
		}
		cw_ruleset_free(rs);
	}
	freeReplyObject(r);
	return rc;
}

/* Sets the active version, remembers the replaced one, appends the event; retried on WATCH. */
static int activate(struct cli *o, uint32_t v, const char *cmd)
{
	char vs[16];
	snprintf(vs, sizeof(vs), "%" PRIu32, v);
	for (int attempt = 0; attempt < 20; attempt++) {
		redisReply *w =
		    cw_redis_cmdv(o->c, o->err, sizeof(o->err), "WATCH", CW_K_ACTIVE, NULL);
		if (!w)
			break;
		freeReplyObject(w);
		long old = get_active(o);
		if (old < 0)
			break;
		char os[24];
		snprintf(os, sizeof(os), "%ld", old);
		struct tx t;
		tx_begin(&t, o->c);
		tx_cmdv(&t, "SET", CW_K_ACTIVE, vs, NULL);
		if (old && (uint32_t)old != v) {
			tx_cmdv(&t, "LPUSH", CW_K_HISTORY, os, NULL);
			tx_cmdv(&t, "LTRIM", CW_K_HISTORY, "0", HISTORY_KEEP, NULL);
		}
		tx_event(&t, "ruleset", "version", vs, NULL);
		int rc = tx_exec(&t, o->err, sizeof(o->err));
		if (rc == 0) {
			if (old && (uint32_t)old != v)
				printf("activated v%" PRIu32 " (was v%ld)\n", v, old);
			else if (old)
				printf("activated v%" PRIu32 " again (gateways re-check it)\n", v);
			else
				printf("activated v%" PRIu32 " (no version was active)\n", v);
			return CWCTL_OK;
		}
		if (rc < 0)
			break;
	}
	fprintf(stderr, "cwctl %s: %s\n", cmd, o->err[0] ? o->err : "too many concurrent changes");
	return CWCTL_ENV;
}

int cmd_push(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	bool act = false;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--activate"))
			act = true;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			path = NULL;
			break;
		}
	}
	if (argc < 0 || !path) {
		fprintf(stderr, "usage: cwctl push RULES [--activate] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	size_t len;
	char *text = cw_read_file(path, &len);
	if (!text) {
		fprintf(stderr, "cwctl push: %s: %s\n", path, strerror(errno));
		return CWCTL_ENV;
	}
	struct cw_ruleset *rs = compile_check(text, len, path);
	if (!rs) {
		free(text);
		return CWCTL_BAD;
	}
	uint32_t v = rs->version, nr = rs->n_rules, np = rs->n_profiles;
	cw_ruleset_free(rs);
	int rc = cli_connect(&o, "push");
	if (rc) {
		free(text);
		return rc;
	}
	char key[48];
	snprintf(key, sizeof(key), CW_K_RULESET_PREFIX "%" PRIu32, v);
	const char *set[] = {"SET", key, text, "NX"};
	size_t lens[] = {3, strlen(key), len, 2};
	redisReply *r = cw_redis_cmd(o.c, o.err, sizeof(o.err), 4, set, lens);
	if (!r || cw_reply_is_error(r)) {
		fprintf(stderr, "cwctl push: %s\n", r ? r->str : o.err);
		rc = CWCTL_ENV;
	} else if (r->type == REDIS_REPLY_NIL) {
		redisReply *g = get_rules(&o, v);
		if (g && g->type == REDIS_REPLY_STRING && g->len == len &&
		    !memcmp(g->str, text, len))
			printf("v%" PRIu32 " is already stored with this text (%s)\n", v, key);
		else if (g) {
			fprintf(
			    stderr,
			    "cwctl push: %s already holds a different text; stored versions are "
			    "immutable: raise `version` in %s\n",
			    key, path);
			rc = CWCTL_BAD;
		} else {
			fprintf(stderr, "cwctl push: %s\n", o.err);
			rc = CWCTL_ENV;
		}
		if (g)
			freeReplyObject(g);
	} else {
		printf("stored v%" PRIu32 " as %s (%" PRIu32 " rules, %" PRIu32 " profiles)\n", v,
		       key, nr, np);
	}
	if (r)
		freeReplyObject(r);
	free(text);
	if (rc == CWCTL_OK && act)
		rc = activate(&o, v, "push");
	cli_close(&o);
	return rc;
}

int cmd_activate(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	uint32_t v;
	if (argc != 2 || !cw_version_parse(argv[1], &v)) {
		fprintf(stderr, "usage: cwctl activate VERSION [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(&o, "activate");
	if (!rc)
		rc = check_stored(&o, v, "activate", false);
	if (!rc)
		rc = activate(&o, v, "activate");
	cli_close(&o);
	return rc;
}

int cmd_rollback(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	if (argc != 1) {
		fprintf(stderr, "usage: cwctl rollback [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(&o, "rollback");
	if (rc)
		return rc;
	for (int attempt = 0; attempt < 20; attempt++) {
		redisReply *w = cw_redis_cmdv(o.c, o.err, sizeof(o.err), "WATCH", CW_K_ACTIVE,
					      CW_K_HISTORY, NULL);
		if (!w)
			goto env;
		freeReplyObject(w);
		long cur = get_active(&o);
		if (cur < 0)
			goto env;
		redisReply *h = cw_redis_cmdv(o.c, o.err, sizeof(o.err), "LRANGE", CW_K_HISTORY,
					      "0", "-1", NULL);
		if (!h || h->type != REDIS_REPLY_ARRAY) {
			if (h)
				freeReplyObject(h);
			goto env;
		}
		long target = -1;
		size_t drop = 0;
		for (size_t i = 0; i < h->elements && target < 0; i++) {
			uint32_t v;
			drop = i + 1;
			const char *s = cw_reply_str(h->element[i]);
			if (!s || !cw_version_parse(s, &v) || (long)v == cur)
				continue;
			int ck = check_stored(&o, v, "rollback", true);
			if (ck == CWCTL_ENV) {
				freeReplyObject(h);
				goto env;
			}
			if (ck == CWCTL_OK)
				target = v;
			else
				fprintf(stderr, "cwctl rollback: skipping v%" PRIu32 "\n", v);
		}
		freeReplyObject(h);
		if (target < 0) {
			cw_redis_cmdv(o.c, o.err, sizeof(o.err), "UNWATCH", NULL);
			fprintf(stderr,
				"cwctl rollback: no earlier version recorded in %s (it is kept by "
				"cwctl activate)\n",
				CW_K_HISTORY);
			cli_close(&o);
			return CWCTL_BAD;
		}
		char ts[16], ds[24];
		snprintf(ts, sizeof(ts), "%ld", target);
		snprintf(ds, sizeof(ds), "%zu", drop);
		struct tx t;
		tx_begin(&t, o.c);
		tx_cmdv(&t, "SET", CW_K_ACTIVE, ts, NULL);
		tx_cmdv(&t, "LTRIM", CW_K_HISTORY, ds, "-1", NULL);
		tx_event(&t, "ruleset", "version", ts, NULL);
		int x = tx_exec(&t, o.err, sizeof(o.err));
		if (x == 0) {
			printf("rolled back to v%ld (was v%ld)\n", target, cur);
			cli_close(&o);
			return CWCTL_OK;
		}
		if (x < 0)
			goto env;
	}
env:
	fprintf(stderr, "cwctl rollback: %s\n", o.err[0] ? o.err : "too many concurrent changes");
	cli_close(&o);
	return CWCTL_ENV;
}

/* ---- diff ---- */

static void print_range(char op, const struct cw_lines *l, uint32_t i)
{
	printf("%c%.*s\n", op, (int)l->len[i], l->p[i]);
}

static void unified(const struct cw_diff_op *ops, size_t n, const struct cw_lines *a,
		    const struct cw_lines *b, unsigned ctx)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && ops[i].op == ' ')
			i++;
		if (i == n)
			break;
		/* a hunk: from ctx lines before the change to ctx lines after the last change
		 * that is closer than 2 * ctx to the next one */
		size_t start = i >= ctx ? i - ctx : 0, end = i;
		for (;;) {
			while (end < n && ops[end].op != ' ')
				end++;
			size_t same = end;
			while (same < n && ops[same].op == ' ' && same - end < 2 * ctx)
				same++;
			if (same < n && ops[same].op != ' ' && same - end <= 2 * ctx)
				end = same;
			else
				break;
		}
		size_t stop = end + ctx < n ? end + ctx : n;
		/* a '+' op's a is the line it goes before, a '-' op's b likewise */
		uint32_t a0 = ops[start].a, b0 = ops[start].b, an = 0, bn = 0;
		for (size_t k = start; k < stop; k++) {
			an += ops[k].op != '+';
			bn += ops[k].op != '-';
		}
		printf("@@ -%" PRIu32 ",%" PRIu32 " +%" PRIu32 ",%" PRIu32 " @@\n",
		       an ? a0 + 1 : a0, an, bn ? b0 + 1 : b0, bn);
		for (size_t k = start; k < stop; k++)
			print_range(ops[k].op, ops[k].op == '+' ? b : a,
				    ops[k].op == '+' ? ops[k].b : ops[k].a);
		i = stop;
	}
}

static void json_diff(const struct cw_diff_op *ops, size_t n, const struct cw_lines *a,
		      const struct cw_lines *b, uint32_t v1, uint32_t v2)
{
	printf("{\"from\":%" PRIu32 ",\"to\":%" PRIu32 ",\"changes\":[", v1, v2);
	bool first = true;
	size_t removed = 0, added = 0;
	for (size_t k = 0; k < n; k++) {
		if (ops[k].op == ' ')
			continue;
		printf("%s{\"op\":\"%c\",\"line\":%" PRIu32 ",\"text\":", first ? "" : ",",
		       ops[k].op, (ops[k].op == '-' ? ops[k].a : ops[k].b) + 1);
		const struct cw_lines *l = ops[k].op == '-' ? a : b;
		uint32_t i = ops[k].op == '-' ? ops[k].a : ops[k].b;
		json_strn(stdout, l->p[i], l->len[i]);
		printf("}");
		first = false;
		if (ops[k].op == '-')
			removed++;
		else
			added++;
	}
	printf("],\"removed\":%zu,\"added\":%zu}\n", removed, added);
}

int cmd_diff(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	uint32_t v[2];
	unsigned ctx = 3;
	int nv = 0;
	bool bad = argc < 0;
	for (int i = 1; !bad && i < argc; i++) {
		uint64_t u;
		if (!strcmp(argv[i], "-U") && i + 1 < argc && cli_u64(argv[i + 1], &u) && u < 1000)
			ctx = (unsigned)u, i++;
		else if (nv < 2 && cw_version_parse(argv[i], &v[nv]))
			nv++;
		else
			bad = true;
	}
	if (bad || nv != 2) {
		fprintf(stderr, "usage: cwctl diff V1 V2 [-U LINES] [--json] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(&o, "diff");
	if (rc)
		return rc;
	redisReply *r[2] = {get_rules(&o, v[0]), NULL};
	if (r[0])
		r[1] = get_rules(&o, v[1]);
	for (int i = 0; i < 2 && rc == CWCTL_OK; i++) {
		if (!r[i]) {
			fprintf(stderr, "cwctl diff: %s\n", o.err);
			rc = CWCTL_ENV;
		} else if (r[i]->type != REDIS_REPLY_STRING) {
			fprintf(stderr, "cwctl diff: no rule set v%" PRIu32 " stored\n", v[i]);
			rc = CWCTL_BAD;
		}
	}
	if (rc == CWCTL_OK) {
		struct cw_lines a = {0}, b = {0};
		struct cw_diff_op *ops = NULL;
		size_t n = 0;
		if (cw_lines_split(r[0]->str, r[0]->len, &a) ||
		    cw_lines_split(r[1]->str, r[1]->len, &b) || cw_diff(&a, &b, &ops, &n)) {
			fprintf(stderr, "cwctl diff: out of memory\n");
			rc = CWCTL_ENV;
		} else if (o.json) {
			json_diff(ops, n, &a, &b, v[0], v[1]);
		} else {
			printf("--- " CW_K_RULESET_PREFIX "%" PRIu32 "\n+++ " CW_K_RULESET_PREFIX
			       "%" PRIu32 "\n",
			       v[0], v[1]);
			unified(ops, n, &a, &b, ctx);
		}
		free(ops);
		cw_lines_free(&a);
		cw_lines_free(&b);
	}
	for (int i = 0; i < 2; i++)
		if (r[i])
			freeReplyObject(r[i]);
	cli_close(&o);
	return rc;
}
