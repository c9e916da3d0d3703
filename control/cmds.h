/*
 * cmds.h - the subcommands of `cwctl`, one function each, dispatched by control/cwctl.c.
 *
 * Each takes the arguments after its name (argv[0] is the subcommand) and returns the process
 * exit code: 0 success, 1 the input is wrong (rule errors, bad pcap), 2 usage, 3 an environment
 * failure (file, Redis, EAL).
 */
#ifndef CW_CONTROL_CMDS_H
#define CW_CONTROL_CMDS_H

#define CWCTL_OK    0
#define CWCTL_BAD   1
#define CWCTL_USAGE 2
#define CWCTL_ENV   3

struct cwctl_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
};

int cmd_decode(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_simulate(int argc, char **argv);

/* Against Redis (control/cmd_rules.c, cmd_status.c, cmd_ent.c, cmd_sender.c, cmd_stats.c,
 * cmd_journal.c); each takes --redis HOST:PORT|unix:PATH (default $CW_REDIS, else
 * 127.0.0.1:6379) and, when it reads, --json. */
int cmd_push(int argc, char **argv);
int cmd_activate(int argc, char **argv);
int cmd_rollback(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_ent(int argc, char **argv);
int cmd_sender(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_journal(int argc, char **argv);

#endif
