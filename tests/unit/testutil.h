/*
 * testutil.h - what every Check unit test binary shares: running a suite without forking
 * (DESIGN §9), an EAL started once per binary for the tests that need DPDK, and paths to the
 * shared conformance vectors.
 */
#ifndef CW_TESTS_TESTUTIL_H
#define CW_TESTS_TESTUTIL_H

#include <check.h>

/* Runs the suite with CK_NOFORK and returns the process exit code (0 when all passed). */
int tu_run(Suite *s);
/* Starts EAL once (--no-huge --in-memory --no-pci, a unique file prefix); aborts on failure. */
void tu_eal_init(void);
/* Directory of ../shared/vectors (env CW_VECTORS overrides); NULL when absent. */
const char *tu_vectors_dir(void);

#endif
