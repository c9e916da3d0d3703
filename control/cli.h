/*
 * cli.h - what the Redis subcommands of `cwctl` share: the common options (`--redis`, `--json`),
 * the connection, DESIGN §6 writes (a change plus its event in one MULTI/EXEC), and JSON output.
 *
 * Why this file exists: every writer must append the same event fields the gateways read, and
 * every reader must print the same way; one place keeps the commands short and consistent.
 */
#ifndef CW_CONTROL_CLI_H
#define CW_CONTROL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "control/redisx.h"

/* cw:events is capped by its writers (XADD MAXLEN ~). A gateway that falls further behind than
 * this finds its position trimmed and reloads everything. */
#define CW_EVENTS_MAXLEN "1000000"

struct cli {
	const char *redis; /* --redis, else $CW_REDIS, else 127.0.0.1:6379 */
	bool json;
	redisContext *c;
	char err[512];
};

/* Takes --redis ADDR (or --redis=ADDR) and --json out of argv (argv[0] stays); returns the new
 * argc, or -1 on a usage error (message printed). */
int cli_common(int argc, char **argv, struct cli *o);
/* Connects; on failure prints the error and returns CWCTL_ENV, else CWCTL_OK. */
int cli_connect(struct cli *o, const char *cmd);
void cli_close(struct cli *o);

/* A MULTI/EXEC transaction built on one connection. */
struct tx {
	redisContext *c;
	unsigned n;
};
void tx_begin(struct tx *t, redisContext *c);
void tx_cmd(struct tx *t, int argc, const char **argv, const size_t *lens);
void tx_cmdv(struct tx *t, ...); /* NUL-terminated strings, NULL at the end */
/* Appends XADD cw:events MAXLEN ~ N * kind K [k v ...] (NULL-terminated pairs). */
void tx_event(struct tx *t, const char *kind, ...);
/* 0 committed, 1 aborted by WATCH, -1 error (err filled). Frees the replies. */
int tx_exec(struct tx *t, char *err, size_t errlen);

/* JSON string with quotes and escapes. */
void json_str(FILE *f, const char *s);
void json_strn(FILE *f, const char *s, size_t n);

/* Parses a whole decimal number (for option values); false if it is not one. */
bool cli_u64(const char *s, uint64_t *v);

#endif
