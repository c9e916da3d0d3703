/* cmd_decode.c - `cwctl decode`: placeholder until its implementation lands in this file. */
#include <stdio.h>

#include "control/cmds.h"

int cmd_decode(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "cwctl decode: not built yet\n");
	return CWCTL_ENV;
}
