/*
 * redis.h - Redis mode of `clearway` (DESIGN §6): the glue between the gateway's state (struct gw)
 * and the control thread of control/sync.h.
 *
 * Why this file exists: main.c should only have to say when: load from Redis before the workers
 * exist, start following, stop at the end. What the gateway reports to Redis (counters, rule hits,
 * the journal ring) and what it learns (rule-set bookkeeping for the summary and telemetry) is
 * wired here.
 *
 * Order in main (see docs/control-plane.md, "Inside the gateway"):
 *   engine created, gw_journal_create() done, no worker context yet:
 *     gw_redis_start(redis, node, no_wait, &sig_stop)   -- the full load, unless no_wait; then
 *                                                          the control thread
 *   create_workers(), gw_ports_start(), launch workers, supervise()
 *   gw.stop = 1; rte_eal_mp_wait_lcore();                -- workers are offline now
 *   gw_redis_stop()                                      -- last journal drain, node "stopped"
 *   finish(); teardown() (cw_engine_destroy after gw_redis_stop)
 */
#ifndef CW_DATAPLANE_REDIS_H
#define CW_DATAPLANE_REDIS_H

#include <stdbool.h>
#include <signal.h>

/* 0 running; -1 interrupted before the first load completed (*quit set) or setup failed (a
 * message is printed). */
int gw_redis_start(const char *redis, const char *node, bool no_wait, const volatile int *quit);
/* Stops the control thread (final journal drain and node status) and frees it. */
void gw_redis_stop(void);

#endif
