/*
 * csv.c - the small CSV reader of the analysts' tables (see csv.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/csv.h"

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

/* Splits c->line into cells. -1 on an unterminated quote or too many fields. */
static int split(struct csv *c, char *err, size_t errlen)
{
	size_t len = strlen(c->line);
	if (c->bcap < len + CSV_MAX_FIELDS + 1) {
		char *nb = realloc(c->buf, len + CSV_MAX_FIELDS + 1);
		if (!nb) {
			snprintf(err, errlen, "line %u: out of memory", c->lineno);
			return -1;
		}
		c->buf = nb;
		c->bcap = len + CSV_MAX_FIELDS + 1;
	}
	char *o = c->buf;
	const char *p = c->line;
	c->n = 0;
	for (;;) {
		if (c->n == CSV_MAX_FIELDS) {
			snprintf(err, errlen, "line %u: more than %d fields", c->lineno,
				 CSV_MAX_FIELDS);
			return -1;
		}
		char *start = o;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			p++;
			for (;;) {
				if (!*p) {
					snprintf(err, errlen, "line %u: unterminated quote",
						 c->lineno);
					return -1;
				}
				if (*p == '"' && p[1] == '"') {
					*o++ = '"';
					p += 2;
				} else if (*p == '"') {
					p++;
					break;
				} else
					*o++ = *p++;
			}
			while (*p && *p != ',')
				p++; /* text after the closing quote is ignored */
			*o++ = 0;
			c->cell[c->n++] = start;
		} else {
			while (*p && *p != ',')
				*o++ = *p++;
			*o++ = 0;
			c->cell[c->n++] = trim(start);
		}
		if (*p != ',')
			break;
		p++;
	}
	return 0;
}

/* Reads one non-blank, non-comment line into c->line. 1, 0 at EOF. */
static int read_line(struct csv *c)
{
	for (;;) {
		ssize_t n = getline(&c->line, &c->cap, c->f);
		if (n < 0)
			return 0;
		c->lineno++;
		while (n && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r'))
			c->line[--n] = 0;
		const char *p = c->line;
		if (c->lineno == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
		    (unsigned char)p[2] == 0xBF)
			memmove(c->line, c->line + 3,
				(size_t)n - 2); /* UTF-8 BOM from spreadsheets */
		p = c->line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '#')
			return 1;
	}
}

int csv_open(struct csv *c, const char *path, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (!strcmp(path, "-"))
		c->f = stdin;
	else {
		c->f = fopen(path, "r");
		c->own = true;
	}
	if (!c->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!read_line(c)) {
		snprintf(err, errlen, "%s: empty (a header line is required)", path);
		csv_close(c);
		return -1;
	}
	if (split(c, err, errlen)) {
		csv_close(c);
		return -1;
	}
	for (unsigned i = 0; i < c->n; i++) {
		c->head[i] = strdup(c->cell[i]);
		for (char *q = c->head[i]; q && *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
	}
	c->nhead = c->n;
	return 0;
}

void csv_close(struct csv *c)
{
	if (c->f && c->own)
		fclose(c->f);
	free(c->line);
	free(c->buf);
	for (unsigned i = 0; i < c->nhead; i++)
		free(c->head[i]);
	memset(c, 0, sizeof(*c));
}

int csv_col(const struct csv *c, const char *name)
{
	for (unsigned i = 0; i < c->nhead; i++)
		if (c->head[i] && !strcmp(c->head[i], name))
			return (int)i;
	return -1;
}

int csv_next(struct csv *c, char *err, size_t errlen)
{
	if (!read_line(c))
		return 0;
	return split(c, err, errlen) ? -1 : 1;
}

const char *csv_cell(const struct csv *c, int i)
{
	return i >= 0 && (unsigned)i < c->n ? c->cell[i] : "";
}
