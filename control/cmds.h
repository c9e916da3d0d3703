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

#endif
