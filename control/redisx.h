/*
 * redisx.h - the small layer over hiredis that the control thread and `cwctl` share.
 *
 * Why this file exists: both sides speak to the same keys (DESIGN §6) and both need the same
 * chores done the same way: parse `HOST:PORT | unix:PATH`, connect with a timeout, send binary-safe
 * argument vectors, read replies of a known shape (XINFO STREAM, HSCAN pages, stream entries)
 * without trusting them, and turn failures into one error string.
 */
#ifndef CW_CONTROL_REDISX_H
#define CW_CONTROL_REDISX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define CW_REDIS_DEFAULT "127.0.0.1:6379"

/* Key names of DESIGN §6 (the prefixes take a version or a node name). */
#define CW_K_RULESET_PREFIX "cw:ruleset:"
#define CW_K_ACTIVE	    "cw:ruleset:active"
#define CW_K_HISTORY	    "cw:ruleset:history" /* ours: versions active before, newest first */
#define CW_K_ENT	    "cw:ent"
#define CW_K_SENDERS	    "cw:senders"
#define CW_K_EVENTS	    "cw:events"
#define CW_K_NODE_PREFIX    "cw:node:"
#define CW_K_STATS_PREFIX   "cw:stats:"
#define CW_K_JOURNAL	    "cw:journal"

/* Where Redis is: a TCP host and port, or a unix socket path. */
struct cw_redis_addr {
	bool unix_socket;
	char host[256]; /* host name, IPv4, or IPv6 without brackets; or the socket path */
	int port;
};

/* "HOST:PORT", "[V6]:PORT", "HOST" (port 6379) or "unix:PATH". 0, or -1 with err filled. */
int cw_redis_addr_parse(const char *s, struct cw_redis_addr *a, char *err, size_t errlen);
void cw_redis_addr_format(const struct cw_redis_addr *a, char *buf, size_t cap);

/* Connects with a connect timeout and a per-command timeout (ms). NULL with err filled. */
redisContext *cw_redis_connect(const struct cw_redis_addr *a, int timeout_ms, char *err,
			       size_t errlen);

/* Runs one command given as NUL-terminated strings (binary-unsafe but simple); NULL with err
 * filled on a connection error. An error *reply* is returned as a reply (check with
 * cw_reply_is_error). */
redisReply *cw_redis_cmd(redisContext *c, char *err, size_t errlen, int argc, const char **argv,
			 const size_t *lens);
/* printf-free convenience: cw_redis_cmdv(c, err, errlen, "HGET", key, field, NULL). */
redisReply *cw_redis_cmdv(redisContext *c, char *err, size_t errlen, ...);

bool cw_reply_is_error(const redisReply *r);
/* The reply as text (STRING or STATUS), else NULL. */
const char *cw_reply_str(const redisReply *r);

/* A stream id "MS-SEQ" as two numbers. */
struct cw_stream_id {
	uint64_t ms, seq;
};
bool cw_stream_id_parse(const char *s, struct cw_stream_id *id);
int cw_stream_id_cmp(struct cw_stream_id a, struct cw_stream_id b);
void cw_stream_id_format(struct cw_stream_id id, char *buf, size_t cap);

/* What the control side needs from XINFO STREAM (Redis >= 7.0). */
struct cw_stream_info {
	bool exists;
	uint64_t length;
	uint64_t entries_added;
	struct cw_stream_id last_generated, max_deleted, first;
};
/* Parses an XINFO STREAM reply; a "no such key" error gives exists = false. false when the reply
 * has another shape. */
bool cw_stream_info_parse(const redisReply *r, struct cw_stream_info *si);

/* One field of a stream entry's field list (an ARRAY of alternating names and values). */
const char *cw_entry_field(const redisReply *fields, const char *name);

/* Iterates HSCAN over a whole hash: fn is called for every (field, value); stops early when fn
 * returns false. Returns 0, or -1 on a connection or reply error (err filled). */
int cw_redis_hscan(redisContext *c, const char *key, unsigned count,
		   bool (*fn)(const char *field, size_t flen, const char *value, size_t vlen,
			      void *arg),
		   void *arg, char *err, size_t errlen);

/* GET of a big string, read from the socket straight into a buffer: *buf when its *cap holds the
 * value and a NUL, else a new one (the old freed; *buf and *cap say which). Why not hiredis: it
 * reads 16 KB per system call and copies a value twice (into its read buffer, then into the
 * reply), which for a 10 MB rule-set text costs milliseconds and, on a busy machine, a context
 * switch per 16 KB. Needs a blocking context with no reply pending; otherwise it reads through
 * hiredis. Returns 1 (value in *buf, *len set), 0 (no such key), -2 (an error reply or not a
 * string: err filled) or -1 (connection error, c->err set: drop the connection). */
int cw_redis_get_big(redisContext *c, const char *key, char **buf, size_t *cap, size_t *len,
		     char *err, size_t errlen);

/* Wall clock in ms since the epoch, and a monotonic clock in ms / ns. */
uint64_t cw_wall_ms(void);
uint64_t cw_mono_ms(void);
uint64_t cw_mono_ns(void);
/* Page faults of the calling thread so far: fresh memory is faulted in page by page on first
 * write (~1-4 us a page on the 2-core test machine), so the activation log counts them. */
uint64_t cw_thread_faults(void);

#endif
