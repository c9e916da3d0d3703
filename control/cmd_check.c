/*
 * cmd_check.c - `cwctl check RULES [--json]`: compile a rule set and say whether it would be
 * accepted, before anyone pushes it to Redis.
 *
 * Why this file exists: an analyst (or a CI job guarding the rules repository) needs the same
 * verdict the gateways will reach, with every error as FILE:line:column: message so an editor can
 * jump to it. Rules whose conditions contradict each other are legal but useless: they are
 * listed as warnings and counted.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/cmds.h"
#include "rules/ruleset.h"

#define MAX_SHOWN_ERRORS   1000
#define MAX_SHOWN_WARNINGS 100

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cwctl check RULES [--json]\n"
		"\n"
		"Compiles the rule set RULES (docs/rules.md) as a gateway would.\n"
		"  ok:     one summary line on stdout, exit 0; rules that can never match are\n"
		"          listed on stderr as warnings\n"
		"  errors: every error as RULES:line:column: message on stderr, exit 1\n"
		"  --json  also print the result as one JSON object on stdout\n"
		"Exit codes: 0 ok, 1 the rule set is refused, 2 usage, 3 RULES cannot be read.\n");
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_errors(const char *path, const struct cw_parse_errors *e, bool json)
{
	for (uint32_t i = 0; i < e->n; i++)
		fprintf(stderr, "%s:%u:%u: %s\n", path, (unsigned)e->v[i].line,
			(unsigned)e->v[i].column, e->v[i].msg);
	if (e->total > e->n)
		fprintf(stderr, "%s: %u more errors not shown\n", path,
			(unsigned)(e->total - e->n));
	if (!json)
		return;
	printf("{\"file\":");
	json_string(path);
	printf(",\"ok\":false,\"error_count\":%u,\"errors\":[", (unsigned)e->total);
	for (uint32_t i = 0; i < e->n; i++) {
		printf("%s{\"line\":%u,\"column\":%u,\"message\":", i ? "," : "",
		       (unsigned)e->v[i].line, (unsigned)e->v[i].column);
		json_string(e->v[i].msg);
		putchar('}');
	}
	printf("]}\n");
}

static int popcount8(unsigned v)
{
	int n = 0;
	for (; v; v &= v - 1)
		n++;
	return n;
}

static void print_summary(const char *path, const struct cw_ruleset *rs, bool json)
{
	uint32_t never = 0;
	for (uint32_t i = 0; i < rs->n_rules; i++) {
		if (!rs->rules[i].never)
			continue;
		if (++never > MAX_SHOWN_WARNINGS)
			continue;
		fprintf(stderr,
			"%s:%u: warning: rule %u can never match (its conditions contradict each "
			"other)\n",
			path, (unsigned)rs->rules[i].line, (unsigned)rs->rules[i].id);
	}
	if (never > MAX_SHOWN_WARNINGS)
		fprintf(stderr, "%s: %u more rules can never match\n", path,
			(unsigned)(never - MAX_SHOWN_WARNINGS));
	int classes = popcount8(rs->class_set);
	if (!json) {
		printf("%s: ok: version %u, %d class%s set, %u profiles, %u rules, %llu after "
		       "expansion, %u never match\n",
		       path, (unsigned)rs->version, classes, classes == 1 ? "" : "es",
		       (unsigned)rs->n_profiles, (unsigned)rs->n_rules,
		       (unsigned long long)rs->n_expanded, (unsigned)never);
		return;
	}
	printf("{\"file\":");
	json_string(path);
	printf(",\"ok\":true,\"version\":%u,\"classes_set\":%d,\"profiles\":%u,\"rules\":%u,"
	       "\"expanded\":%llu,\"never\":%u,\"never_ids\":[",
	       (unsigned)rs->version, classes, (unsigned)rs->n_profiles, (unsigned)rs->n_rules,
	       (unsigned long long)rs->n_expanded, (unsigned)never);
	bool first = true;
	for (uint32_t i = 0; i < rs->n_rules; i++) {
		if (!rs->rules[i].never)
			continue;
		printf("%s%u", first ? "" : ",", (unsigned)rs->rules[i].id);
		first = false;
	}
	printf("]}\n");
}

int cmd_check(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return CWCTL_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "cwctl check: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return CWCTL_USAGE;
		} else if (path) {
			fprintf(stderr, "cwctl check: one rule set at a time\n");
			usage(stderr);
			return CWCTL_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		usage(stderr);
		return CWCTL_USAGE;
	}
	size_t len;
	char *text = cw_read_file(path, &len);
	if (!text) {
		fprintf(stderr, "cwctl check: cannot read %s: %s\n", path, strerror(errno));
		return CWCTL_ENV;
	}
	static struct cw_parse_error ev[MAX_SHOWN_ERRORS];
	struct cw_parse_errors errs = {ev, 0, MAX_SHOWN_ERRORS, 0};
	struct cw_ruleset *rs = cw_ruleset_parse(text, len, &errs);
	free(text);
	if (!rs) {
		print_errors(path, &errs, json);
		return CWCTL_BAD;
	}
	print_summary(path, rs, json);
	cw_ruleset_free(rs);
	return CWCTL_OK;
}
