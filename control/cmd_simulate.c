/* cmd_simulate.c - `cwctl simulate`: placeholder until its implementation lands in this file. */
#include <stdio.h>

#include "control/cmds.h"

int cmd_simulate(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "cwctl simulate: not built yet\n");
	return CWCTL_ENV;
}
