/*
 * cli.c - shared plumbing of cwctl's Redis subcommands (see cli.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "control/cli.h"
#include "control/cmds.h"

int cli_common(int argc, char **argv, struct cli *o)
{
	memset(o, 0, sizeof(*o));
	o->redis = getenv("CW_REDIS");
	int out = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			o->json = true;
		} else if (!strcmp(argv[i], "--redis")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "cwctl %s: --redis needs HOST:PORT or unix:PATH\n",
					argv[0]);
				return -1;
			}
			o->redis = argv[++i];
		} else if (!strncmp(argv[i], "--redis=", 8)) {
			o->redis = argv[i] + 8;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

int cli_connect(struct cli *o, const char *cmd)
{
	struct cw_redis_addr a;
	if (cw_redis_addr_parse(o->redis, &a, o->err, sizeof(o->err))) {
		fprintf(stderr, "cwctl %s: %s\n", cmd, o->err);
		return CWCTL_USAGE;
	}
	o->c = cw_redis_connect(&a, 5000, o->err, sizeof(o->err));
	if (!o->c) {
		fprintf(stderr, "cwctl %s: %s\n", cmd, o->err);
		return CWCTL_ENV;
	}
	return CWCTL_OK;
}

void cli_close(struct cli *o)
{
	if (o->c)
		redisFree(o->c);
	o->c = NULL;
}

void tx_begin(struct tx *t, redisContext *c)
{
	t->c = c;
	t->n = 0;
	const char *m[] = {"MULTI"};
	redisAppendCommandArgv(c, 1, m, NULL);
}

void tx_cmd(struct tx *t, int argc, const char **argv, const size_t *lens)
{
	size_t small[64] = {0}, *l = NULL;
	bool heap = false;
	if (!lens) {
		heap = argc > 64;
		l = heap ? malloc((size_t)argc * sizeof(*l)) : small;
		if (!l)
			abort(); /* a command-line tool out of memory: nothing sensible to do */
		for (int i = 0; i < argc; i++)
			l[i] = strlen(argv[i]);
		lens = l;
	}
	redisAppendCommandArgv(t->c, argc, argv, lens);
	if (heap)
		free(l);
	t->n++;
}

void tx_cmdv(struct tx *t, ...)
{
	const char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, t);
	const char *s;
	while (argc < 64 && (s = va_arg(ap, const char *)) != NULL)
		argv[argc++] = s;
	va_end(ap);
	tx_cmd(t, argc, argv, NULL);
}

void tx_event(struct tx *t, const char *kind, ...)
{
	const char *argv[64] = {"XADD",		  CW_K_EVENTS, "MAXLEN", "~",
				CW_EVENTS_MAXLEN, "*",	       "kind",	 kind};
	int argc = 8;
	va_list ap;
	va_start(ap, kind);
	const char *s;
	while (argc < 64 && (s = va_arg(ap, const char *)) != NULL)
		argv[argc++] = s;
	va_end(ap);
	tx_cmd(t, argc, argv, NULL);
}

int tx_exec(struct tx *t, char *err, size_t errlen)
{
	const char *e[] = {"EXEC"};
	redisAppendCommandArgv(t->c, 1, e, NULL);
	int rc = 0;
	for (unsigned i = 0; i < t->n + 2; i++) {
		redisReply *r = NULL;
		if (redisGetReply(t->c, (void **)&r) != REDIS_OK) {
			snprintf(err, errlen, "redis: %s", t->c->errstr);
			return -1;
		}
		if (r->type == REDIS_REPLY_ERROR && rc == 0) {
			snprintf(err, errlen, "redis: %s", r->str);
			rc = -1;
		}
		if (i == t->n + 1 && rc == 0) {
			if (r->type == REDIS_REPLY_NIL)
				rc = 1;
			else if (r->type == REDIS_REPLY_ARRAY)
				for (size_t k = 0; k < r->elements; k++)
					if (r->element[k]->type == REDIS_REPLY_ERROR && rc == 0) {
						snprintf(err, errlen, "redis: %s",
							 r->element[k]->str);
						rc = -1;
					}
		}
		freeReplyObject(r);
	}
	return rc;
}

void json_strn(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		switch (ch) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (ch < 0x20)
				fprintf(f, "\\u%04x", ch);
			else
				fputc(ch, f);
		}
	}
	fputc('"', f);
}

void json_str(FILE *f, const char *s)
{
	json_strn(f, s ? s : "", s ? strlen(s) : 0);
}

bool cli_u64(const char *s, uint64_t *v)
{
	if (!s || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}
