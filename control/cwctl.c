/*
 * cwctl.c - the analysts' and operators' command line: one binary, one subcommand per job.
 *
 * Subcommands live in their own files (control/cmd_*.c); this file only dispatches and prints
 * the overview. Exit codes are shared (control/cmds.h).
 */
#include <stdio.h>
#include <string.h>

#include "control/cmds.h"

static const struct cwctl_cmd commands[] = {
	{"decode", cmd_decode, "decode --in X.pcap [--json]          show every datagram and message"},
	{"check", cmd_check, "check RULES                            compile a rule set, report errors"},
	{"simulate", cmd_simulate,
	 "simulate --rules R --registry E [--senders S] --in IN.pcap --out OUT.pcap [--json] [--diff R2]"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cwctl COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].synopsis);
	fprintf(f, "\n`cwctl COMMAND --help` for one command. Exit codes: 0 ok, 1 bad input, "
		   "2 usage, 3 environment (file, Redis, EAL).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return argc < 2 ? CWCTL_USAGE : CWCTL_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cwctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CWCTL_USAGE;
}
