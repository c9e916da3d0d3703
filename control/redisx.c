/*
 * redisx.c - hiredis chores shared by the control thread and `cwctl` (see redisx.h).
 *
 * Replies come from a server we do not control (any client may have written odd values), so
 * every reader here checks types and sizes before it looks inside.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "control/redisx.h"

int cw_redis_addr_parse(const char *s, struct cw_redis_addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (!s || !*s)
		s = CW_REDIS_DEFAULT;
	if (!strncmp(s, "unix:", 5)) {
		if (!s[5] || strlen(s + 5) >= sizeof(a->host)) {
			snprintf(err, errlen, "bad unix socket path in '%s'", s);
			return -1;
		}
		a->unix_socket = true;
		strcpy(a->host, s + 5);
		return 0;
	}
	const char *host = s, *port = NULL;
	size_t hlen;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end) {
			snprintf(err, errlen, "bad address '%s' (missing ']')", s);
			return -1;
		}
		host = s + 1;
		hlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1]) {
			snprintf(err, errlen, "bad address '%s'", s);
			return -1;
		}
	} else {
		const char *colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon) /* bare IPv6 without a port */
			colon = NULL;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		port = colon ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(a->host)) {
		snprintf(err, errlen, "bad host in '%s'", s);
		return -1;
	}
	memcpy(a->host, host, hlen);
	a->host[hlen] = 0;
	a->port = 6379;
	if (port) {
		char *end;
		errno = 0;
		long p = strtol(port, &end, 10);
		if (errno || end == port || *end || p < 1 || p > 65535) {
			snprintf(err, errlen, "bad port in '%s'", s);
			return -1;
		}
		a->port = (int)p;
	}
	return 0;
}

void cw_redis_addr_format(const struct cw_redis_addr *a, char *buf, size_t cap)
{
	if (a->unix_socket)
		snprintf(buf, cap, "unix:%s", a->host);
	else if (strchr(a->host, ':'))
		snprintf(buf, cap, "[%s]:%d", a->host, a->port);
	else
		snprintf(buf, cap, "%s:%d", a->host, a->port);
}

redisContext *cw_redis_connect(const struct cw_redis_addr *a, int timeout_ms, char *err,
			       size_t errlen)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisContext *c = a->unix_socket ? redisConnectUnixWithTimeout(a->host, tv)
					 : redisConnectWithTimeout(a->host, a->port, tv);
	char where[300];
	cw_redis_addr_format(a, where, sizeof(where));
	if (!c) {
		snprintf(err, errlen, "redis %s: out of memory", where);
		return NULL;
	}
	if (c->err) {
		snprintf(err, errlen, "redis %s: %s", where, c->errstr);
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	if (!a->unix_socket)
		redisEnableKeepAlive(c);
	return c;
}

redisReply *cw_redis_cmd(redisContext *c, char *err, size_t errlen, int argc, const char **argv,
			 const size_t *lens)
{
	size_t small[64] = {0}, *l = NULL;
	bool heap = false;
	if (!lens) {
		heap = argc > 64;
		l = heap ? malloc((size_t)argc * sizeof(*l)) : small;
		if (!l) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		for (int i = 0; i < argc; i++)
			l[i] = strlen(argv[i]);
		lens = l;
	}
	redisReply *r = redisCommandArgv(c, argc, argv, lens);
	if (heap)
		free(l);
	if (!r)
		snprintf(err, errlen, "redis: %s", c->err ? c->errstr : "no reply");
	return r;
}

redisReply *cw_redis_cmdv(redisContext *c, char *err, size_t errlen, ...)
{
	const char *argv[64];
	int argc = 0;
	va_list ap;
	va_start(ap, errlen);
	const char *s;
	while (argc < 64 && (s = va_arg(ap, const char *)) != NULL)
		argv[argc++] = s;
	va_end(ap);
	return cw_redis_cmd(c, err, errlen, argc, argv, NULL);
}

bool cw_reply_is_error(const redisReply *r)
{
	return r && r->type == REDIS_REPLY_ERROR;
}

const char *cw_reply_str(const redisReply *r)
{
	if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
		return r->str;
	return NULL;
}

bool cw_stream_id_parse(const char *s, struct cw_stream_id *id)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	id->ms = strtoull(s, &end, 10);
	if (errno)
		return false;
	id->seq = 0;
	if (*end == '-') {
		const char *q = end + 1;
		if (*q < '0' || *q > '9')
			return false;
		id->seq = strtoull(q, &end, 10);
		if (errno)
			return false;
	}
	return *end == 0;
}

int cw_stream_id_cmp(struct cw_stream_id a, struct cw_stream_id b)
{
	if (a.ms != b.ms)
		return a.ms < b.ms ? -1 : 1;
	if (a.seq != b.seq)
		return a.seq < b.seq ? -1 : 1;
	return 0;
}

void cw_stream_id_format(struct cw_stream_id id, char *buf, size_t cap)
{
	snprintf(buf, cap, "%" PRIu64 "-%" PRIu64, id.ms, id.seq);
}

static bool reply_u64(const redisReply *r, uint64_t *v)
{
	if (!r || r->type != REDIS_REPLY_INTEGER || r->integer < 0)
		return false;
	*v = (uint64_t)r->integer;
	return true;
}

bool cw_stream_info_parse(const redisReply *r, struct cw_stream_info *si)
{
	memset(si, 0, sizeof(*si));
	if (!r)
		return false;
	if (r->type == REDIS_REPLY_ERROR)
		return strstr(r->str, "no such key") != NULL;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return false;
	bool have_len = false, have_added = false, have_last = false, have_del = false;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const char *k = cw_reply_str(r->element[i]);
		const redisReply *v = r->element[i + 1];
		if (!k)
			return false;
		if (!strcmp(k, "length"))
			have_len = reply_u64(v, &si->length);
		else if (!strcmp(k, "entries-added"))
			have_added = reply_u64(v, &si->entries_added);
		else if (!strcmp(k, "last-generated-id"))
			have_last = cw_stream_id_parse(cw_reply_str(v), &si->last_generated);
		else if (!strcmp(k, "max-deleted-entry-id"))
			have_del = cw_stream_id_parse(cw_reply_str(v), &si->max_deleted);
		else if (!strcmp(k, "first-entry") && v->type == REDIS_REPLY_ARRAY &&
			 v->elements >= 1)
			cw_stream_id_parse(cw_reply_str(v->element[0]), &si->first);
	}
	if (!have_len || !have_added || !have_last || !have_del)
		return false;
	si->exists = true;
	return true;
}

const char *cw_entry_field(const redisReply *fields, const char *name)
{
	if (!fields || fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const char *k = cw_reply_str(fields->element[i]);
		if (k && !strcmp(k, name))
			return cw_reply_str(fields->element[i + 1]);
	}
	return NULL;
}

int cw_redis_hscan(redisContext *c, const char *key, unsigned count,
		   bool (*fn)(const char *field, size_t flen, const char *value, size_t vlen,
			      void *arg),
		   void *arg, char *err, size_t errlen)
{
	char cursor[32] = "0", cnt[16];
	snprintf(cnt, sizeof(cnt), "%u", count ? count : 1000);
	do {
		redisReply *r =
		    cw_redis_cmdv(c, err, errlen, "HSCAN", key, cursor, "COUNT", cnt, NULL);
		if (!r)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    !cw_reply_str(r->element[0]) || r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errlen, "HSCAN %s: %s", key,
				 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		const redisReply *kv = r->element[1];
		bool go = true;
		for (size_t i = 0; go && i + 1 < kv->elements; i += 2) {
			const redisReply *f = kv->element[i], *v = kv->element[i + 1];
			if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			go = fn(f->str, f->len, v->str, v->len, arg);
		}
		freeReplyObject(r);
		if (!go)
			return 0;
	} while (strcmp(cursor, "0"));
	return 0;
}

uint64_t cw_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t cw_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t cw_thread_faults(void)
{
	struct rusage ru;
	return getrusage(RUSAGE_THREAD, &ru) ? 0 : (uint64_t)(ru.ru_minflt + ru.ru_majflt);
}

uint64_t cw_mono_ms(void)
{
	return cw_mono_ns() / 1000000;
}

/* ---- big values straight from the socket ---- */

/* Marks the context broken (the stream is out of step with hiredis from here on). */
static int conn_error(redisContext *c, const char *why, char *err, size_t errlen)
{
	if (!c->err) { /* else hiredis said why already */
		c->err = REDIS_ERR_IO;
		snprintf(c->errstr, sizeof(c->errstr), "%s", why);
	}
	snprintf(err, errlen, "redis: %s", c->errstr);
	return -1;
}

/* A command could not be sent (hiredis set c->err). */
static int send_error(redisContext *c, char *err, size_t errlen)
{
	return conn_error(c, "cannot send a command", err, errlen);
}

/* Reads exactly n bytes (the socket's receive timeout applies to each wait). */
static bool recv_exact(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t k = recv(fd, p, n, MSG_WAITALL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* The reply's first line ("$123", "$-1", "-ERR ...") without its CRLF, consumed from the
 * socket and nothing after it: a byte per call, a dozen calls. False on a connection error or
 * a line longer than the buffer. */
static bool recv_line(int fd, char *line, size_t cap)
{
	for (size_t n = 0; n + 1 < cap; n++) {
		if (!recv_exact(fd, line + n, 1))
			return false;
		if (line[n] == '\n') {
			if (!n || line[n - 1] != '\r')
				return false;
			line[n - 1] = 0;
			return true;
		}
	}
	return false;
}

/* The same through hiredis (a reply is pending, or the context does not block). */
static int get_big_hiredis(redisContext *c, const char *key, char **buf, size_t *cap, size_t *len,
			   char *err, size_t errlen)
{
	redisReply *r = cw_redis_cmdv(c, err, errlen, "GET", key, NULL);
	if (!r)
		return -1;
	int rc = r->type == REDIS_REPLY_NIL ? 0 : r->type == REDIS_REPLY_STRING ? 1 : -2;
	if (rc == -2)
		snprintf(err, errlen, "%s: %s", key,
			 r->type == REDIS_REPLY_ERROR ? r->str : "not a string value");
	if (rc == 1 && (!*buf || *cap < r->len + 1)) {
		free(*buf);
		*cap = r->len + 1;
		if (!(*buf = malloc(*cap))) {
			*cap = 0;
			snprintf(err, errlen, "%s: out of memory", key);
			rc = -2;
		}
	}
	if (rc == 1) {
		memcpy(*buf, r->str, r->len);
		(*buf)[r->len] = 0;
		*len = r->len;
	}
	freeReplyObject(r);
	return rc;
}

/* Sends one command (flushed); false on a connection error (c->err set by hiredis). */
static bool send_argv(redisContext *c, int argc, const char **argv)
{
	int done = 0;
	if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK)
		return false;
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return false;
	return true;
}

/* One reply's first line: its type ('+', '-', ':', '$', '*') and number (':', '$', '*'), or
 * the text after the type (line). False on a connection error or a malformed line. */
static bool recv_head(int fd, char *line, size_t cap, char *type, long long *num)
{
	if (!recv_line(fd, line, cap) || !line[0])
		return false;
	*type = line[0];
	*num = 0;
	if (*type != ':' && *type != '$' && *type != '*')
		return true;
	char *end;
	errno = 0;
	*num = strtoll(line + 1, &end, 10);
	return !errno && !*end && end != line + 1;
}

/* A buffer of at least need bytes in *buf (the old one freed when too small). */
static bool room(char **buf, size_t *cap, size_t need)
{
	if (*buf && *cap >= need)
		return true;
	free(*buf);
	*cap = need;
	*buf = malloc(need);
	if (!*buf)
		*cap = 0;
	return *buf != NULL;
}

/* GET with its reply read straight into *buf (see cw_redis_get_big for the return values). */
static int get_direct(redisContext *c, const char *key, char **buf, size_t *cap, size_t *len,
		      char *err, size_t errlen)
{
	const char *argv[] = {"GET", key};
	if (!send_argv(c, 2, argv))
		return send_error(c, err, errlen);
	char line[512], type, crlf[2];
	long long n;
	if (!recv_head(c->fd, line, sizeof(line), &type, &n) || (type != '-' && type != '$') ||
	    n < -1 || (n >= 0 && (unsigned long long)n >= SIZE_MAX))
		return conn_error(c, "unexpected reply to GET", err, errlen);
	if (type == '-') {
		snprintf(err, errlen, "%s: %s", key, line + 1);
		return -2;
	}
	if (n == -1)
		return 0;
	if (!room(buf, cap, (size_t)n + 1))
		return conn_error(c, "out of memory for a GET reply", err, errlen);
	if (!recv_exact(c->fd, *buf, (size_t)n) || !recv_exact(c->fd, crlf, 2) ||
	    memcmp(crlf, "\r\n", 2))
		return conn_error(c, "reading a GET reply failed", err, errlen);
	(*buf)[n] = 0;
	*len = (size_t)n;
	return 1;
}

/* Values from this size on are read in pieces, PIECES_AHEAD of them requested at a time. Why:
 * Redis 7.0 answers GET by copying the whole value into a fresh reply buffer before it sends a
 * byte (6.4 MB: 2-6 ms of copying and page faults on its side); a 256 KB GETRANGE reply reuses
 * the buffer of the one before, and the first bytes arrive within a fraction of a millisecond. */
#define PIECE	     (256 * 1024)
#define PIECES_AHEAD 4
#define PIECES_MIN   (1024 * 1024)

static bool send_piece(redisContext *c, const char *key, size_t off)
{
	char from[24], to[24];
	snprintf(from, sizeof(from), "%zu", off);
	snprintf(to, sizeof(to), "%zu", off + PIECE - 1);
	const char *argv[] = {"GETRANGE", key, from, to};
	return send_argv(c, 4, argv);
}

/* Reads n bytes of key in pieces into *buf. 1 read, 0 the value changed meanwhile (its pieces
 * do not add up), -1 connection error. */
static int read_pieces(redisContext *c, const char *key, size_t n, char *buf, char *err,
		       size_t errlen)
{
	size_t asked = 0, got = 0;
	bool same = true;
	while (asked < n && asked < (size_t)PIECES_AHEAD * PIECE) {
		if (!send_piece(c, key, asked))
			return send_error(c, err, errlen);
		asked += PIECE;
	}
	while (got < n) {
		char line[512], type, crlf[2];
		long long k;
		size_t want = n - got < PIECE ? n - got : PIECE;
		if (!recv_head(c->fd, line, sizeof(line), &type, &k) ||
		    (type != '$' && type != '-') || (type == '$' && k < 0))
			return conn_error(c, "unexpected reply to GETRANGE", err, errlen);
		if (asked < n) { /* keep PIECES_AHEAD in flight */
			if (!send_piece(c, key, asked))
				return send_error(c, err, errlen);
			asked += PIECE;
		}
		if (type == '-') { /* the key became something else meanwhile (no body) */
			same = false;
			got += want;
			continue;
		}
		same = same && (size_t)k == want;
		char scratch[4096];
		for (size_t left = (size_t)k; left;) { /* a piece of another size: read it away */
			size_t m = same ? left : left < sizeof(scratch) ? left : sizeof(scratch);
			if (!recv_exact(c->fd, same ? buf + got : scratch, m))
				return conn_error(c, "reading a GETRANGE reply failed", err,
						  errlen);
			left -= m;
		}
		if (!recv_exact(c->fd, crlf, 2) || memcmp(crlf, "\r\n", 2))
			return conn_error(c, "reading a GETRANGE reply failed", err, errlen);
		got += want;
	}
	return same;
}

/* WATCH key, then MULTI/EXEC with nothing in it: an aborted EXEC (nil) says the key was written
 * after the WATCH. 1 unchanged, 0 changed, -1 connection error. */
static int unchanged_since_watch(redisContext *c, char *err, size_t errlen)
{
	const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
	char line[512], type;
	long long k;
	if (!send_argv(c, 1, multi) || !send_argv(c, 1, exec))
		return send_error(c, err, errlen);
	if (!recv_head(c->fd, line, sizeof(line), &type, &k) || type != '+' ||
	    !recv_head(c->fd, line, sizeof(line), &type, &k) || type != '*' || k > 0)
		return conn_error(c, "unexpected reply to EXEC", err, errlen);
	return k == 0;
}

int cw_redis_get_big(redisContext *c, const char *key, char **buf, size_t *cap, size_t *len,
		     char *err, size_t errlen)
{
	if (!(c->flags & REDIS_BLOCK) || c->reader->pos != c->reader->len || c->fd < 0)
		return get_big_hiredis(c, key, buf, cap, len, err, errlen);
	/* WATCH, so that a value rewritten while its pieces are read is noticed (stored rule
	 * sets never change, but any client may write any key) */
	const char *watch[] = {"WATCH", key}, *strlen_[] = {"STRLEN", key},
		   *unwatch[] = {"UNWATCH"};
	char line[512], type;
	long long n;
	if (!send_argv(c, 2, watch) || !send_argv(c, 2, strlen_))
		return send_error(c, err, errlen);
	if (!recv_head(c->fd, line, sizeof(line), &type, &n) || (type != '+' && type != '-'))
		return conn_error(c, "unexpected reply to WATCH", err, errlen);
	bool watched = type == '+'; /* an error: WATCH is not allowed here (ACL, renamed) */
	if (!recv_head(c->fd, line, sizeof(line), &type, &n) || (type != ':' && type != '-'))
		return conn_error(c, "unexpected reply to STRLEN", err, errlen);
	if (watched && type == ':' && n >= PIECES_MIN && (unsigned long long)n < SIZE_MAX) {
		if (!room(buf, cap, (size_t)n + 1))
			return conn_error(c, "out of memory for a value", err, errlen);
		int rc = read_pieces(c, key, (size_t)n, *buf, err, errlen);
		if (rc > 0)
			rc = unchanged_since_watch(c, err, errlen);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			(*buf)[n] = 0;
			*len = (size_t)n;
			return 1;
		}
	} else if (watched) { /* small, missing (0), not a string (an error): GET tells which */
		if (!send_argv(c, 1, unwatch))
			return send_error(c, err, errlen);
		if (!recv_head(c->fd, line, sizeof(line), &type, &n) || type != '+')
			return conn_error(c, "unexpected reply to UNWATCH", err, errlen);
	}
	return get_direct(c, key, buf, cap, len, err, errlen); /* (also when it changed: atomic) */
}
