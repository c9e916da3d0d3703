/* cmd_check.c - `cwctl check`: placeholder until its implementation lands in this file. */
#include <stdio.h>

#include "control/cmds.h"

int cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "cwctl check: not built yet\n");
	return CWCTL_ENV;
}
