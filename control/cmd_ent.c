/*
 * cmd_ent.c - `cwctl ent import | set | del | get | classify`: the enterprise registry in Redis.
 *
 * Every change is the `cw:ent` write and its `kind=ent` event in one MULTI/EXEC. Bulk changes
 * (import, classify --apply) write only what differs from Redis; up to EVENT_ROWS changed rows
 * go out as one event each (gateways apply them one by one), more than that as one transaction
 * holding all the HSETs and a single `kind=resync` (each gateway reloads the registry once
 * instead of replaying a flood of events). `import --replace` makes cw:ent exactly the file:
 * the rows go to a scratch key first, which then replaces cw:ent with RENAME in the same
 * transaction as the resync event.
 *
 * Input files are checked completely before anything is written: one bad row refuses the file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/classify.h"
#include "control/cli.h"
#include "control/cmds.h"
#include "control/csv.h"
#include "control/load.h"

#define EVENT_ROWS 10000
#define CHUNK	   1000

struct ent_row {
	char uscc[19];
	uint8_t cls;
	uint32_t order;
};

struct rows {
	struct ent_row *v;
	size_t n, cap;
};

static int rows_push(struct rows *r, const char *uscc, uint8_t cls)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 1024;
		struct ent_row *nv = realloc(r->v, nc * sizeof(*nv));
		if (!nv)
			return -1;
		r->v = nv;
		r->cap = nc;
	}
	struct ent_row *e = &r->v[r->n];
	memcpy(e->uscc, uscc, 18);
	e->uscc[18] = 0;
	e->cls = cls;
	e->order = (uint32_t)r->n++;
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct ent_row *x = a, *y = b;
	int c = memcmp(x->uscc, y->uscc, 18);
	return c ? c : (x->order < y->order ? -1 : 1);
}

/* Sorts by USCC and keeps the last row of each USCC (the file's later line wins). */
static void rows_dedupe(struct rows *r)
{
	if (r->n < 2)
		return;
	qsort(r->v, r->n, sizeof(*r->v), cmp_row);
	size_t o = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (o && !memcmp(r->v[o - 1].uscc, r->v[i].uscc, 18))
			r->v[o - 1] = r->v[i];
		else
			r->v[o++] = r->v[i];
	}
	r->n = o;
}

/* Marks rows whose class in Redis is already theirs (cls |= 0x80). Returns the changed count,
 * or -1 on error. */
static long mark_unchanged(struct cli *o, struct rows *r)
{
	long changed = 0;
	for (size_t i = 0; i < r->n; i += CHUNK) {
		size_t k = r->n - i < CHUNK ? r->n - i : CHUNK;
		const char *argv[2 + CHUNK];
		argv[0] = "HMGET";
		argv[1] = CW_K_ENT;
		for (size_t j = 0; j < k; j++)
			argv[2 + j] = r->v[i + j].uscc;
		redisReply *rep =
		    cw_redis_cmd(o->c, o->err, sizeof(o->err), (int)(2 + k), argv, NULL);
		if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != k) {
			if (rep)
				freeReplyObject(rep);
			if (!o->err[0])
				snprintf(o->err, sizeof(o->err), "unexpected HMGET reply");
			return -1;
		}
		for (size_t j = 0; j < k; j++) {
			const char *cur = cw_reply_str(rep->element[j]);
			if (cur && !strcmp(cur, cw_class_name((enum cw_class)r->v[i + j].cls)))
				r->v[i + j].cls |= 0x80;
			else
				changed++;
		}
		freeReplyObject(rep);
	}
	return changed;
}

/* Appends HSETs of the rows (all, or only the changed ones) to a transaction, CHUNK a time. */
static void tx_hsets(struct tx *t, const char *key, const struct rows *r, bool only_changed)
{
	const char **argv = malloc((2 + 2 * CHUNK) * sizeof(*argv));
	if (!argv)
		return;
	int argc = 2;
	argv[0] = "HSET";
	argv[1] = key;
	for (size_t i = 0; i < r->n; i++) {
		if (only_changed && (r->v[i].cls & 0x80))
			continue;
		argv[argc++] = r->v[i].uscc;
		argv[argc++] = cw_class_name((enum cw_class)(r->v[i].cls & 0x7F));
		if (argc == 2 + 2 * CHUNK) {
			tx_cmd(t, argc, argv, NULL);
			argc = 2;
		}
	}
	if (argc > 2)
		tx_cmd(t, argc, argv, NULL);
	free(argv);
}

/* Writes rows to cw:ent (see the top of the file). */
static int write_rows(struct cli *o, struct rows *r, bool replace, const char *cmd)
{
	struct tx t;
	if (replace) {
		char tmp[96];
		snprintf(tmp, sizeof(tmp), "cw:ent:import:%d:%" PRIu64, (int)getpid(),
			 cw_wall_ms());
		if (r->n) { /* fill the scratch key first: only the swap needs to be atomic */
			tx_begin(&t, o->c);
			tx_cmdv(&t, "DEL", tmp, NULL);
			tx_hsets(&t, tmp, r, false);
			if (tx_exec(&t, o->err, sizeof(o->err)))
				goto env;
		}
		tx_begin(&t, o->c);
		if (r->n)
			tx_cmdv(&t, "RENAME", tmp, CW_K_ENT, NULL);
		else
			tx_cmdv(&t, "DEL", CW_K_ENT, NULL);
		tx_event(&t, "resync", NULL);
		if (tx_exec(&t, o->err, sizeof(o->err)))
			goto env;
		printf("cw:ent replaced: %zu enterprises (gateways reload)\n", r->n);
		return CWCTL_OK;
	}
	long changed = mark_unchanged(o, r);
	if (changed < 0)
		goto env;
	if (changed == 0) {
		printf("cw:ent: nothing to change (%zu rows already so)\n", r->n);
		return CWCTL_OK;
	}
	if (changed > EVENT_ROWS) {
		tx_begin(&t, o->c);
		tx_hsets(&t, CW_K_ENT, r, true);
		tx_event(&t, "resync", NULL);
		if (tx_exec(&t, o->err, sizeof(o->err)))
			goto env;
	} else {
		size_t in_tx = 0;
		for (size_t i = 0; i < r->n; i++) {
			if (r->v[i].cls & 0x80)
				continue;
			if (!in_tx)
				tx_begin(&t, o->c);
			const char *cls = cw_class_name((enum cw_class)r->v[i].cls);
			tx_cmdv(&t, "HSET", CW_K_ENT, r->v[i].uscc, cls, NULL);
			tx_event(&t, "ent", "op", "set", "uscc", r->v[i].uscc, "class", cls, NULL);
			if (++in_tx == 256) {
				if (tx_exec(&t, o->err, sizeof(o->err)))
					goto env;
				in_tx = 0;
			}
		}
		if (in_tx && tx_exec(&t, o->err, sizeof(o->err)))
			goto env;
	}
	printf("cw:ent: %ld changed, %zu already so%s\n", changed, r->n - (size_t)changed,
	       changed > EVENT_ROWS ? " (one resync event)" : "");
	return CWCTL_OK;
env:
	fprintf(stderr, "cwctl ent %s: %s\n", cmd, o->err);
	return CWCTL_ENV;
}

/* `SUBCOMMAND PATH [FLAG]` in any order: the one path (NULL when missing or when there are two),
 * and whether FLAG was given. */
static const char *path_and_flag(int argc, char **argv, const char *flag, bool *given)
{
	const char *path = NULL;
	*given = false;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], flag))
			*given = true;
		else if (!path)
			path = argv[i];
		else
			return NULL;
	}
	return path;
}

static int ent_import(struct cli *o, int argc, char **argv)
{
	bool replace;
	const char *path = path_and_flag(argc, argv, "--replace", &replace);
	if (!path) {
		fprintf(stderr, "usage: cwctl ent import CSV [--replace] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	struct csv c;
	char err[256];
	if (csv_open(&c, path, err, sizeof(err))) {
		fprintf(stderr, "cwctl ent import: %s\n", err);
		return CWCTL_ENV;
	}
	int ku = csv_col(&c, "uscc"), kc = csv_col(&c, "class");
	if (ku < 0 || kc < 0) {
		fprintf(stderr, "cwctl ent import: %s: the header needs columns uscc,class\n",
			path);
		csv_close(&c);
		return CWCTL_BAD;
	}
	struct rows r = {0};
	unsigned bad = 0;
	int k;
	while ((k = csv_next(&c, err, sizeof(err))) != 0) {
		const char *u = csv_cell(&c, ku), *cl = csv_cell(&c, kc);
		int cls = k > 0 ? cw_class_parse(cl, strlen(cl)) : -1;
		if (k < 0)
			fprintf(stderr, "%s:%s\n", path, err);
		else if (!cw_uscc_valid(u, strlen(u)))
			fprintf(stderr, "%s:%u: uscc '%.40s' is not 18 characters of 0-9 A-Z\n",
				path, c.lineno, u);
		else if (cls < 0 || cls == CW_CLS_UNKNOWN)
			fprintf(stderr,
				"%s:%u: class '%.40s' is not aeo, good, warning, dishonest or "
				"serious\n",
				path, c.lineno, cl);
		else if (rows_push(&r, u, (uint8_t)cls)) {
			fprintf(stderr, "cwctl ent import: out of memory\n");
			csv_close(&c);
			free(r.v);
			return CWCTL_ENV;
		} else
			continue;
		bad++;
	}
	csv_close(&c);
	int rc;
	if (bad) {
		fprintf(stderr, "cwctl ent import: %s refused (%u bad rows), nothing written\n",
			path, bad);
		rc = CWCTL_BAD;
	} else {
		rows_dedupe(&r);
		rc = cli_connect(o, "ent");
		if (!rc)
			rc = write_rows(o, &r, replace, "import");
	}
	free(r.v);
	return rc;
}

static int ent_set(struct cli *o, int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: cwctl ent set USCC CLASS [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int cls = cw_class_parse(argv[3], strlen(argv[3]));
	if (!cw_uscc_valid(argv[2], strlen(argv[2]))) {
		fprintf(stderr, "cwctl ent set: '%s' is not a USCC (18 characters of 0-9 A-Z)\n",
			argv[2]);
		return CWCTL_BAD;
	}
	if (cls < 0 || cls == CW_CLS_UNKNOWN) {
		fprintf(stderr,
			"cwctl ent set: class '%s' is not aeo, good, warning, dishonest or serious "
			"(to forget an enterprise: cwctl ent del)\n",
			argv[3]);
		return CWCTL_BAD;
	}
	int rc = cli_connect(o, "ent");
	if (rc)
		return rc;
	struct tx t;
	tx_begin(&t, o->c);
	tx_cmdv(&t, "HSET", CW_K_ENT, argv[2], argv[3], NULL);
	tx_event(&t, "ent", "op", "set", "uscc", argv[2], "class", argv[3], NULL);
	if (tx_exec(&t, o->err, sizeof(o->err))) {
		fprintf(stderr, "cwctl ent set: %s\n", o->err);
		return CWCTL_ENV;
	}
	printf("%s -> %s\n", argv[2], argv[3]);
	return CWCTL_OK;
}

static int ent_del(struct cli *o, int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cwctl ent del USCC [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	if (!cw_uscc_valid(argv[2], strlen(argv[2]))) {
		fprintf(stderr, "cwctl ent del: '%s' is not a USCC\n", argv[2]);
		return CWCTL_BAD;
	}
	int rc = cli_connect(o, "ent");
	if (rc)
		return rc;
	struct tx t;
	tx_begin(&t, o->c);
	tx_cmdv(&t, "HDEL", CW_K_ENT, argv[2], NULL);
	tx_event(&t, "ent", "op", "del", "uscc", argv[2], NULL);
	if (tx_exec(&t, o->err, sizeof(o->err))) {
		fprintf(stderr, "cwctl ent del: %s\n", o->err);
		return CWCTL_ENV;
	}
	printf("%s deleted (class unknown from now on)\n", argv[2]);
	return CWCTL_OK;
}

static int ent_get(struct cli *o, int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: cwctl ent get USCC [--json] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(o, "ent");
	if (rc)
		return rc;
	redisReply *r =
	    cw_redis_cmdv(o->c, o->err, sizeof(o->err), "HGET", CW_K_ENT, argv[2], NULL);
	if (!r || cw_reply_is_error(r)) {
		fprintf(stderr, "cwctl ent get: %s\n", r ? r->str : o->err);
		if (r)
			freeReplyObject(r);
		return CWCTL_ENV;
	}
	const char *cls = cw_reply_str(r);
	if (o->json) {
		printf("{\"uscc\":");
		json_str(stdout, argv[2]);
		printf(",\"registered\":%s,\"class\":", cls ? "true" : "false");
		json_str(stdout, cls ? cls : "unknown");
		printf("}\n");
	} else if (cls)
		printf("%s %s\n", argv[2], cls);
	else
		printf("%s not registered (class unknown)\n", argv[2]);
	freeReplyObject(r);
	return cls ? CWCTL_OK : CWCTL_BAD;
}

static int ent_classify(struct cli *o, int argc, char **argv)
{
	bool apply;
	const char *path = path_and_flag(argc, argv, "--apply", &apply);
	if (!path) {
		fprintf(stderr,
			"usage: cwctl ent classify FACTS.csv [--apply] [--json] [--redis ADDR]\n"
			"  columns: %s\n",
			CW_FACTS_COLUMNS);
		return CWCTL_USAGE;
	}
	struct csv c;
	char err[256];
	struct cw_facts_cols cols;
	if (csv_open(&c, path, err, sizeof(err))) {
		fprintf(stderr, "cwctl ent classify: %s\n", err);
		return CWCTL_ENV;
	}
	if (cw_facts_cols(&c, &cols, err, sizeof(err))) {
		fprintf(stderr, "cwctl ent classify: %s: %s\n", path, err);
		csv_close(&c);
		return CWCTL_BAD;
	}
	struct rows r = {0};
	unsigned bad = 0, count[CW_NUM_CLASSES] = {0};
	int k;
	bool first = true;
	if (o->json)
		printf("{\"rows\":[");
	while ((k = csv_next(&c, err, sizeof(err))) != 0) {
		struct cw_credit_facts f;
		if (k < 0 || cw_facts_row(&c, &cols, &f, err, sizeof(err))) {
			fprintf(stderr, "%s:%u: %s\n", path, c.lineno, err);
			bad++;
			continue;
		}
		char why[512];
		enum cw_class cls = cw_credit_classify(&f, why, sizeof(why));
		count[cls]++;
		if (o->json) {
			printf("%s{\"uscc\":\"%s\",\"class\":\"%s\",\"reason\":", first ? "" : ",",
			       f.uscc, cw_class_name(cls));
			json_str(stdout, why);
			printf("}");
		} else
			printf("%s %-9s %s\n", f.uscc, cw_class_name(cls), why);
		first = false;
		if (rows_push(&r, f.uscc, (uint8_t)cls)) {
			fprintf(stderr, "cwctl ent classify: out of memory\n");
			bad++;
			break;
		}
	}
	csv_close(&c);
	if (o->json) {
		printf("],\"counts\":{");
		for (int i = 0; i < CW_CLS_UNKNOWN; i++)
			printf("%s\"%s\":%u", i ? "," : "", cw_class_name((enum cw_class)i),
			       count[i]);
		printf("},\"bad_rows\":%u}\n", bad);
	} else {
		fprintf(stderr, "classified %zu:", r.n);
		for (int i = 0; i < CW_CLS_UNKNOWN; i++)
			fprintf(stderr, " %s %u", cw_class_name((enum cw_class)i), count[i]);
		fputc('\n', stderr);
	}
	int rc = CWCTL_OK;
	if (bad) {
		fprintf(stderr, "cwctl ent classify: %u bad rows%s\n", bad,
			apply ? "; nothing applied" : "");
		rc = CWCTL_BAD;
	} else if (apply) {
		rows_dedupe(&r);
		rc = cli_connect(o, "ent");
		if (!rc) {
			/* the summary goes to stderr so stdout stays the table (or the JSON) */
			fflush(stdout);
			int saved = dup(1);
			if (saved >= 0 && dup2(2, 1) >= 0) {
				rc = write_rows(o, &r, false, "classify");
				fflush(stdout);
				dup2(saved, 1);
			} else
				rc = write_rows(o, &r, false, "classify");
			if (saved >= 0)
				close(saved);
		}
	}
	free(r.v);
	return rc;
}

int cmd_ent(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	int rc;
	if (argc < 2)
		rc = -1;
	else if (!strcmp(argv[1], "import"))
		rc = ent_import(&o, argc, argv);
	else if (!strcmp(argv[1], "set"))
		rc = ent_set(&o, argc, argv);
	else if (!strcmp(argv[1], "del"))
		rc = ent_del(&o, argc, argv);
	else if (!strcmp(argv[1], "get"))
		rc = ent_get(&o, argc, argv);
	else if (!strcmp(argv[1], "classify"))
		rc = ent_classify(&o, argc, argv);
	else
		rc = -1;
	if (rc < 0) {
		fprintf(stderr,
			"usage: cwctl ent import CSV [--replace] | set USCC CLASS | del USCC | "
			"get USCC | classify FACTS.csv [--apply]   [--json] [--redis ADDR]\n");
		rc = CWCTL_USAGE;
	}
	cli_close(&o);
	return rc;
}
