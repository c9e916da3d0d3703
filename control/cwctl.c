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
    {"check", cmd_check,
     "check RULES                            compile a rule set, report errors"},
    {"simulate", cmd_simulate,
     "simulate --rules R --registry E [--senders S] --in IN.pcap --out OUT.pcap [--json] [--diff "
     "R2]"},
    {"push", cmd_push, "push RULES [--activate]                compile, then store cw:ruleset:<v>"},
    {"activate", cmd_activate,
     "activate V                             make stored version V active"},
    {"rollback", cmd_rollback,
     "rollback                               back to the version active before"},
    {"status", cmd_status,
     "status [--json]                        every gateway: version, status, lag"},
    {"diff", cmd_diff, "diff V1 V2 [-U N] [--json]             text diff of two stored rule sets"},
    {"ent", cmd_ent,
     "ent import CSV [--replace] | set USCC CLASS | del USCC | get USCC | classify FACTS.csv "
     "[--apply]"},
    {"sender", cmd_sender, "sender set ID \"PREFIXES\" NAME | del ID | list [--json]"},
    {"stats", cmd_stats,
     "stats [--node N] [--watch] [--json]    counters and rule hits per gateway"},
    {"journal", cmd_journal,
     "journal [--follow] [--mode M] [--node N] [--sender ID] [--count N] [--json]"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cwctl COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].synopsis);
	fprintf(f, "\n`cwctl COMMAND --help` for one command. Exit codes: 0 ok, 1 bad input, "
		   "2 usage, 3 environment (file, Redis, EAL).\nRedis commands take --redis "
		   "HOST:PORT|unix:PATH (default $CW_REDIS, else 127.0.0.1:6379).\n");
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
