/*
 * testutil.c - shared plumbing of the unit test binaries (see testutil.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <rte_eal.h>

#include "tests/unit/testutil.h"

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

void tu_eal_init(void)
{
	static int done;
	if (done)
		return;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=cwtest%d", (int)getpid());
	char *args[] = {"test",	    "--no-huge", "--no-shconf",
			"--no-pci", "-l",	 "0",
			"-m",	    "1024",	 "--log-level=lib.*:error",
			prefix,	    NULL};
	int argc = (int)(sizeof(args) / sizeof(args[0])) - 1;
	if (rte_eal_init(argc, args) < 0) {
		fprintf(stderr, "EAL init failed\n");
		abort();
	}
	done = 1;
}

const char *tu_vectors_dir(void)
{
	const char *env = getenv("CW_VECTORS");
	static const char *candidates[] = {"../shared/vectors", "../../shared/vectors", NULL};
	struct stat st;
	if (env && !stat(env, &st))
		return env;
	for (int i = 0; candidates[i]; i++)
		if (!stat(candidates[i], &st))
			return candidates[i];
	return NULL;
}
