/*
 * cmd_journal.c - `cwctl journal [--follow] [--mode M]`: the audit stream cw:journal.
 *
 * Gateways append every non-declare verdict and every reject there (capped stream). This shows
 * the latest entries, oldest first, optionally filtered by mode (or `rejected`), node or sender,
 * and with --follow keeps printing new ones as they arrive.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/cli.h"
#include "control/cmds.h"

#define SCAN_LIMIT 200000 /* entries looked at when filtering backwards */

struct filter {
	const char *mode, *node, *sender;
};

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static bool match(const redisReply *f, const struct filter *flt)
{
	if (flt->mode) {
		if (!strcmp(flt->mode, "rejected")) {
			const char *st = cw_entry_field(f, "status");
			if (!st || strcmp(st, "REJECTED"))
				return false;
		} else {
			const char *m = cw_entry_field(f, "mode");
			if (!m || strcmp(m, flt->mode))
				return false;
		}
	}
	if (flt->node) {
		const char *n = cw_entry_field(f, "node");
		if (!n || strcmp(n, flt->node))
			return false;
	}
	if (flt->sender) {
		const char *s = cw_entry_field(f, "sender");
		if (!s || strcmp(s, flt->sender))
			return false;
	}
	return true;
}

static void print_entry(const redisReply *e, bool json)
{
	const char *id = cw_reply_str(e->element[0]);
	const redisReply *f = e->element[1];
	if (json) {
		printf("{\"id\":");
		json_str(stdout, id);
		for (size_t i = 0; i + 1 < f->elements; i += 2) {
			printf(",");
			json_str(stdout, cw_reply_str(f->element[i]));
			printf(":");
			json_str(stdout, cw_reply_str(f->element[i + 1]));
		}
		printf("}\n");
		return;
	}
	const char *ts = cw_entry_field(f, "ts");
	uint64_t ms = 0;
	char when[40] = "?";
	if (ts && cli_u64(ts, &ms)) {
		time_t t = (time_t)(ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		size_t k = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(when + k, sizeof(when) - k, ".%03" PRIu64 "Z", ms % 1000);
	}
#define F(name) (cw_entry_field(f, name) ? cw_entry_field(f, name) : "")
	const char *rej = F("reject");
	printf("%s %-10s sender %-6s seq %-8s %-8s %-20s %-8s %-9s %s%s%s v%s%s%s\n", when,
	       F("node"), F("sender"), F("seq"), F("type"), F("ref"), F("status"), F("mode"), rej,
	       *rej ? " " : "", F("reasons"), F("version"), *F("flags") ? " " : "", F("flags"));
#undef F
}

static bool entry_ok(const redisReply *e)
{
	return e->type == REDIS_REPLY_ARRAY && e->elements == 2 && cw_reply_str(e->element[0]) &&
	       e->element[1]->type == REDIS_REPLY_ARRAY;
}

/* Prints the last `count` matching entries, oldest first; leaves the newest id in last. */
static int show_last(struct cli *o, unsigned count, const struct filter *flt, char *last,
		     size_t lcap)
{
	redisReply **keep = calloc(count + 1, sizeof(*keep));
	redisReply **pages = NULL;
	size_t npages = 0, nkeep = 0, scanned = 0;
	char end[64] = "+";
	int rc = CWCTL_OK;
	snprintf(last, lcap, "0-0"); /* an empty journal: everything that comes is new */
	while (keep && nkeep < count && scanned < SCAN_LIMIT) {
		redisReply *r = cw_redis_cmdv(o->c, o->err, sizeof(o->err), "XREVRANGE",
					      CW_K_JOURNAL, end, "-", "COUNT", "1000", NULL);
		if (!r || r->type != REDIS_REPLY_ARRAY) {
			fprintf(stderr, "cwctl journal: %s\n", r && r->str ? r->str : o->err);
			if (r)
				freeReplyObject(r);
			rc = CWCTL_ENV;
			break;
		}
		redisReply **np = realloc(pages, (npages + 1) * sizeof(*np));
		if (!np) {
			freeReplyObject(r);
			break;
		}
		pages = np;
		pages[npages++] = r;
		if (npages == 1 && r->elements && entry_ok(r->element[0]))
			snprintf(last, lcap, "%s", r->element[0]->element[0]->str);
		for (size_t i = 0; i < r->elements && nkeep < count; i++)
			if (entry_ok(r->element[i]) && match(r->element[i]->element[1], flt))
				keep[nkeep++] = r->element[i];
		scanned += r->elements;
		if (r->elements < 1000)
			break;
		snprintf(end, sizeof(end), "(%s", r->element[r->elements - 1]->element[0]->str);
	}
	for (size_t i = nkeep; i-- > 0;)
		print_entry(keep[i], o->json);
	for (size_t i = 0; i < npages; i++)
		freeReplyObject(pages[i]);
	free(pages);
	free(keep);
	return rc;
}

int cmd_journal(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	bool follow = false, bad = argc < 0;
	uint64_t count = 20;
	struct filter flt = {0};
	static const char *modes[] = {"declare", "verify", "sample", "supervise", "rejected"};
	for (int i = 1; !bad && i < argc; i++) {
		if (!strcmp(argv[i], "--follow") || !strcmp(argv[i], "-f"))
			follow = true;
		else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
			flt.mode = argv[++i];
			bool known = false;
			for (size_t k = 0; k < 5; k++)
				known |= !strcmp(flt.mode, modes[k]);
			bad = !known;
		} else if (!strcmp(argv[i], "--node") && i + 1 < argc)
			flt.node = argv[++i];
		else if (!strcmp(argv[i], "--sender") && i + 1 < argc)
			flt.sender = argv[++i];
		else if (!strcmp(argv[i], "--count") && i + 1 < argc &&
			 cli_u64(argv[i + 1], &count) && count <= 100000)
			i++;
		else
			bad = true;
	}
	if (bad) {
		fprintf(stderr, "usage: cwctl journal [--follow] [--mode verify|sample|supervise|"
				"rejected] [--node NAME] [--sender ID] [--count N] [--json] "
				"[--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(&o, "journal");
	if (rc)
		return rc;
	char last[64];
	rc = show_last(&o, (unsigned)count, &flt, last, sizeof(last));
	fflush(stdout);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	while (follow && rc == CWCTL_OK && !stop) {
		redisReply *r = cw_redis_cmdv(o.c, o.err, sizeof(o.err), "XREAD", "COUNT", "1000",
					      "BLOCK", "1000", "STREAMS", CW_K_JOURNAL, last, NULL);
		if (!r) {
			if (stop)
				break;
			fprintf(stderr, "cwctl journal: %s\n", o.err);
			rc = CWCTL_ENV;
			break;
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		    r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2) {
			const redisReply *ents = r->element[0]->element[1];
			for (size_t i = 0; i < ents->elements; i++) {
				const redisReply *e = ents->element[i];
				if (!entry_ok(e))
					continue;
				snprintf(last, sizeof(last), "%s", e->element[0]->str);
				if (match(e->element[1], &flt))
					print_entry(e, o.json);
			}
			fflush(stdout);
		} else if (r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "cwctl journal: %s\n", r->str);
			rc = CWCTL_ENV;
		}
		freeReplyObject(r);
	}
	cli_close(&o);
	return rc;
}
