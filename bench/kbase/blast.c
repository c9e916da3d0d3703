/*
 * blast.c - `cwkbase blast`: the load generator of the kernel baseline.
 *
 * Why this file exists: the kernel-socket engine (serve.c) needs the workload's datagrams over
 * loopback. This replays the capture's UDP payloads in capture order, one socket per sender
 * bound to the sender's loopback address, with sendmmsg on the other core, and keeps at most
 * --window messages unanswered so that the receiver's socket never overflows: what is measured
 * is how fast the engine behind the socket answers, not how fast loopback drops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/kbase/kbase.h"
#include "dataplane/wire/cwp.h"

#define BATCH 32

struct blast_opts {
	const char *in, *json;
	unsigned core, window;
	uint16_t port;
};

struct blast_state {
	int *fd; /* per sender id, -1 when none */
	uint32_t max_id;
	uint64_t sent_msgs, sent_dgrams, answers, answer_dgrams, send_errors;
	double first, last_answer;
};

static int sender_socket(uint32_t id)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	int buf = 32 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(kb_sender_addr(id));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_sockets(const struct kb_capture *cap, struct blast_state *s)
{
	for (size_t i = 0; i < cap->n; i++)
		if (cap->v[i].sender > s->max_id)
			s->max_id = cap->v[i].sender;
	if (s->max_id > 1u << 20) {
		fprintf(stderr, "cwkbase blast: sender id %u too large\n", s->max_id);
		return -1;
	}
	s->fd = malloc((s->max_id + 1) * sizeof(int));
	if (!s->fd)
		return -1;
	for (uint32_t i = 0; i <= s->max_id; i++)
		s->fd[i] = -1;
	for (size_t i = 0; i < cap->n; i++) {
		uint32_t id = cap->v[i].sender;
		if (s->fd[id] < 0 && (s->fd[id] = sender_socket(id)) < 0) {
			fprintf(stderr, "cwkbase blast: cannot bind sender %u's address\n", id);
			return -1;
		}
	}
	return 0;
}

/* Reads every answer waiting on every socket; counts verdicts from the response headers. */
static void drain(struct blast_state *s)
{
	static uint8_t buf[BATCH][2048];
	struct iovec iov[BATCH];
	struct mmsghdr m[BATCH];
	for (uint32_t id = 0; id <= s->max_id; id++) {
		if (s->fd[id] < 0)
			continue;
		for (;;) {
			for (unsigned i = 0; i < BATCH; i++) {
				iov[i] = (struct iovec){buf[i], sizeof(buf[i])};
				m[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
			}
			int n = recvmmsg(s->fd[id], m, BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			for (int i = 0; i < n; i++) {
				if (m[i].msg_len < CWP_DGRAM_HDR_LEN)
					continue;
				s->answers += (uint16_t)(buf[i][4] | buf[i][5] << 8);
				s->answer_dgrams++;
			}
			s->last_answer = kb_now();
		}
	}
}

/* Sends up to BATCH consecutive datagrams of the same sender starting at *next. */
static void send_batch(const struct kb_capture *cap, size_t *next, const struct blast_opts *o,
		       struct blast_state *s)
{
	struct iovec iov[BATCH];
	struct mmsghdr m[BATCH];
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(o->port)};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	uint32_t id = cap->v[*next].sender;
	unsigned n = 0;
	uint64_t msgs = 0;
	while (*next + n < cap->n && n < BATCH && cap->v[*next + n].sender == id &&
	       s->sent_msgs + msgs - s->answers < o->window) {
		const struct kb_frame *f = &cap->v[*next + n];
		iov[n] = (struct iovec){(void *)(uintptr_t)(f->data + f->payload_off),
					f->payload_len}; /* sendmmsg only reads it */
		m[n].msg_hdr = (struct msghdr){.msg_name = &to,
					       .msg_namelen = sizeof(to),
					       .msg_iov = &iov[n],
					       .msg_iovlen = 1};
		msgs += f->count;
		n++;
	}
	if (!n)
		return;
	int k = sendmmsg(s->fd[id], m, n, 0);
	if (k <= 0) {
		s->send_errors++;
		return;
	}
	for (int i = 0; i < k; i++)
		s->sent_msgs += cap->v[*next + (size_t)i].count;
	s->sent_dgrams += (uint64_t)k;
	*next += (size_t)k;
}

static void blast(const struct kb_capture *cap, const struct blast_opts *o, struct blast_state *s)
{
	size_t next = 0;
	s->first = kb_now();
	double progress = kb_now();
	uint64_t seen = 0;
	while (next < cap->n) {
		send_batch(cap, &next, o, s);
		drain(s);
		if (s->answers != seen || s->sent_msgs - s->answers < o->window) {
			seen = s->answers;
			progress = kb_now();
		} else if (kb_now() - progress > 5.0) {
			fprintf(
			    stderr,
			    "cwkbase blast: no answer for 5 s with the window full, giving up\n");
			return;
		}
	}
	/* The tail: wait for the last answers, up to two seconds without progress. */
	double t = kb_now();
	seen = s->answers;
	while (s->answers < s->sent_msgs && kb_now() - t < 2.0) {
		drain(s);
		if (s->answers != seen) {
			seen = s->answers;
			t = kb_now();
		}
	}
}

static int parse_blast(int argc, char **argv, struct blast_opts *o)
{
	static const struct option lo[] = {
	    {"in", required_argument, NULL, 'i'},     {"json", required_argument, NULL, 'j'},
	    {"core", required_argument, NULL, 'c'},   {"port", required_argument, NULL, 'p'},
	    {"window", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0}};
	*o = (struct blast_opts){.core = 0, .port = 7350, .window = 2048};
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->in = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'c':
			o->core = (unsigned)atoi(optarg);
			break;
		case 'p':
			o->port = (uint16_t)atoi(optarg);
			break;
		case 'w':
			o->window = (unsigned)atoi(optarg);
			break;
		default:
			return -1;
		}
	}
	if (!o->in || o->window < CWP_MAX_MSGS) {
		fprintf(stderr, "cwkbase blast: --in is required, --window >= 64\n");
		return -1;
	}
	return 0;
}

int kb_blast(int argc, char **argv)
{
	struct blast_opts o;
	if (parse_blast(argc, argv, &o) < 0)
		return 2;
	struct kb_capture cap = {0};
	if (kb_load_capture(o.in, 7350, &cap) < 0)
		return 1;
	if (kb_pin(o.core) < 0)
		fprintf(stderr, "cwkbase blast: cannot pin to CPU %u, running unpinned\n", o.core);
	struct blast_state s = {0};
	if (open_sockets(&cap, &s) < 0)
		return 3;
	blast(&cap, &o, &s);
	double secs = s.last_answer > s.first ? s.last_answer - s.first : 0;
	FILE *f = o.json ? fopen(o.json, "w") : stdout;
	if (f) {
		fprintf(
		    f,
		    "{\"sent_datagrams\": %lu, \"sent_messages\": %lu, \"answered_messages\": %lu, "
		    "\"answer_datagrams\": %lu, \"unanswered\": %lu, \"send_errors\": %lu, "
		    "\"seconds\": %.6f, \"msgs_per_s\": %.1f, \"window\": %u}\n",
		    s.sent_dgrams, s.sent_msgs, s.answers, s.answer_dgrams,
		    s.sent_msgs > s.answers ? s.sent_msgs - s.answers : 0, s.send_errors, secs,
		    secs > 0 ? (double)s.answers / secs : 0.0, o.window);
		if (o.json)
			fclose(f);
	}
	for (uint32_t i = 0; i <= s.max_id; i++)
		if (s.fd[i] >= 0)
			close(s.fd[i]);
	free(s.fd);
	kb_free_capture(&cap);
	return 0;
}
