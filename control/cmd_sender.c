/*
 * cmd_sender.c - `cwctl sender set | del | list`: the registered senders in Redis.
 *
 * A sender is a sender_id with the address prefixes its datagrams may come from (DESIGN §3.4:
 * anything else is dropped unanswered) and a name for people. `cw:senders` holds
 * "PREFIX[ PREFIX...]|NAME"; each write is the hash change plus a `kind=sender` event in one
 * MULTI/EXEC. Prefixes are checked here (IPv4 or IPv6 CIDR, host bits allowed) so a typo does
 * not reach the gateways.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/cli.h"
#include "control/cmds.h"
#include "control/load.h"

/* Normalises "a/n, b/m" or "a/n b/m" into space-separated CIDRs in out. false if one is bad
 * (its text in bad). */
static bool norm_prefixes(const char *in, char *out, size_t cap, char *bad, size_t bcap)
{
	size_t o = 0;
	const char *p = in;
	*out = 0;
	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != ' ' && *p != ',' && *p != '\t')
			p++;
		size_t n = (size_t)(p - s);
		char tok[80];
		snprintf(bad, bcap, "%.*s", (int)n, s);
		if (n >= sizeof(tok))
			return false;
		memcpy(tok, s, n);
		tok[n] = 0;
		char *slash = strchr(tok, '/');
		if (!slash)
			return false;
		*slash = 0;
		unsigned char addr[16];
		int max = inet_pton(AF_INET, tok, addr) == 1	? 32
			  : inet_pton(AF_INET6, tok, addr) == 1 ? 128
								: -1;
		uint64_t len;
		if (max < 0 || !cli_u64(slash + 1, &len) || len > (uint64_t)max)
			return false;
		*slash = '/';
		if (o + n + 2 > cap)
			return false;
		if (o)
			out[o++] = ' ';
		memcpy(out + o, tok, n);
		o += n;
		out[o] = 0;
	}
	snprintf(bad, bcap, "(none)");
	return o > 0;
}

static int sender_set(struct cli *o, int argc, char **argv)
{
	uint32_t id;
	if (argc != 5) {
		fprintf(stderr,
			"usage: cwctl sender set ID \"PREFIX [PREFIX...]\" NAME [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	if (!cw_sender_id_parse(argv[2], &id)) {
		fprintf(stderr, "cwctl sender set: '%s' is not a sender id (1..4294967295)\n",
			argv[2]);
		return CWCTL_BAD;
	}
	char pfx[4096], bad[96], ids[16];
	if (!norm_prefixes(argv[3], pfx, sizeof(pfx), bad, sizeof(bad))) {
		fprintf(stderr,
			"cwctl sender set: '%s' is not an IPv4 or IPv6 prefix (ADDRESS/LENGTH)\n",
			bad);
		return CWCTL_BAD;
	}
	if (strpbrk(argv[4], "\n\r") || strlen(argv[4]) > 200) {
		fprintf(stderr,
			"cwctl sender set: the name must be one line of at most 200 bytes\n");
		return CWCTL_BAD;
	}
	snprintf(ids, sizeof(ids), "%" PRIu32, id);
	char *val = malloc(strlen(pfx) + strlen(argv[4]) + 2);
	if (!val)
		return CWCTL_ENV;
	sprintf(val, "%s|%s", pfx, argv[4]);
	int rc = cli_connect(o, "sender");
	if (!rc) {
		struct tx t;
		tx_begin(&t, o->c);
		tx_cmdv(&t, "HSET", CW_K_SENDERS, ids, val, NULL);
		tx_event(&t, "sender", "op", "set", "id", ids, "prefixes", pfx, "name", argv[4],
			 NULL);
		if (tx_exec(&t, o->err, sizeof(o->err))) {
			fprintf(stderr, "cwctl sender set: %s\n", o->err);
			rc = CWCTL_ENV;
		} else
			printf("sender %s: %s (%s)\n", ids, argv[4], pfx);
	}
	free(val);
	return rc;
}

static int sender_del(struct cli *o, int argc, char **argv)
{
	uint32_t id;
	if (argc != 3 || !cw_sender_id_parse(argv[2], &id)) {
		fprintf(stderr, "usage: cwctl sender del ID [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(o, "sender");
	if (rc)
		return rc;
	char ids[16];
	snprintf(ids, sizeof(ids), "%" PRIu32, id);
	struct tx t;
	tx_begin(&t, o->c);
	tx_cmdv(&t, "HDEL", CW_K_SENDERS, ids, NULL);
	tx_event(&t, "sender", "op", "del", "id", ids, NULL);
	if (tx_exec(&t, o->err, sizeof(o->err))) {
		fprintf(stderr, "cwctl sender del: %s\n", o->err);
		return CWCTL_ENV;
	}
	printf("sender %s deleted (its datagrams are dropped from now on)\n", ids);
	return CWCTL_OK;
}

struct srow {
	uint32_t id;
	const char *raw;
	size_t rawlen;
};

static int cmp_srow(const void *a, const void *b)
{
	uint32_t x = ((const struct srow *)a)->id, y = ((const struct srow *)b)->id;
	return x < y ? -1 : x > y;
}

static int sender_list(struct cli *o, int argc)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cwctl sender list [--json] [--redis ADDR]\n");
		return CWCTL_USAGE;
	}
	int rc = cli_connect(o, "sender");
	if (rc)
		return rc;
	redisReply *r = cw_redis_cmdv(o->c, o->err, sizeof(o->err), "HGETALL", CW_K_SENDERS, NULL);
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		fprintf(stderr, "cwctl sender list: %s\n", r && r->str ? r->str : o->err);
		if (r)
			freeReplyObject(r);
		return CWCTL_ENV;
	}
	struct srow *v = calloc(r->elements / 2 + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; v && i + 1 < r->elements; i += 2) {
		const char *k = cw_reply_str(r->element[i]);
		uint32_t id;
		if (!k || !cw_sender_id_parse(k, &id) ||
		    r->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		v[n++] = (struct srow){id, r->element[i + 1]->str, r->element[i + 1]->len};
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_srow);
	if (o->json)
		printf("[");
	else
		printf("%10s  %-30s %s\n", "ID", "NAME", "PREFIXES");
	for (size_t i = 0; i < n; i++) {
		char pfx[4096], name[512];
		if (!cw_sender_value_split(v[i].raw, v[i].rawlen, pfx, sizeof(pfx), name,
					   sizeof(name)))
			snprintf(pfx, sizeof(pfx), "(bad value)"), name[0] = 0;
		if (o->json) {
			printf("%s{\"id\":%" PRIu32 ",\"name\":", i ? "," : "", v[i].id);
			json_str(stdout, name);
			printf(",\"prefixes\":[");
			char *save = NULL, *tok = strtok_r(pfx, " ", &save);
			for (int k = 0; tok; tok = strtok_r(NULL, " ", &save), k++) {
				printf("%s", k ? "," : "");
				json_str(stdout, tok);
			}
			printf("]}");
		} else
			printf("%10" PRIu32 "  %-30s %s\n", v[i].id, name, pfx);
	}
	if (o->json)
		printf("]\n");
	free(v);
	freeReplyObject(r);
	return CWCTL_OK;
}

int cmd_sender(int argc, char **argv)
{
	struct cli o;
	argc = cli_common(argc, argv, &o);
	int rc = -1;
	if (argc >= 2 && !strcmp(argv[1], "set"))
		rc = sender_set(&o, argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "del"))
		rc = sender_del(&o, argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "list"))
		rc = sender_list(&o, argc);
	if (rc < 0) {
		fprintf(stderr, "usage: cwctl sender set ID \"PREFIXES\" NAME | del ID | list "
				"[--json] [--redis ADDR]\n");
		rc = CWCTL_USAGE;
	}
	cli_close(&o);
	return rc;
}
