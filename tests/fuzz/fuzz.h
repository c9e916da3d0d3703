/*
 * fuzz.h - what every libFuzzer target here shares: the entry points and CHECK.
 *
 * Why this file exists: a target finds bugs the sanitizers cannot see by checking invariants
 * (round trips, bounds); a broken one must stop the run with the expression and line, and
 * libFuzzer then keeps the input.
 */
#ifndef CW_TESTS_FUZZ_H
#define CW_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #c, __LINE__);         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
