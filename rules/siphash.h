/*
 * siphash.h - SipHash-2-4 (Aumasson & Bernstein), the keyed hash of §4.3 step 6.
 *
 * Why: random selection must be unpredictable to a trader (keyed by the rule set's salt) and
 * identical on every gateway, replay and retransmission (deterministic).
 */
#ifndef CW_RULES_SIPHASH_H
#define CW_RULES_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t cw_siphash24(const uint8_t key[16], const uint8_t *msg, size_t len);
/* cw_siphash24(key, msg, 18), the length of a decl_no or list_no. */
uint64_t cw_siphash24_18(const uint8_t key[16], const uint8_t msg[18]);

#endif
