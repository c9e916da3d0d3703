/*
 * csv.h - a small CSV reader for the analysts' tables (`cwctl ent import`, `ent classify`).
 *
 * Why this file exists: the registry and the credit facts arrive as spreadsheets saved as CSV.
 * Fields are comma-separated; a field may be quoted with double quotes ("" inside is one
 * quote); blank lines and lines starting with '#' are skipped; CR before LF is dropped; cells
 * are trimmed of surrounding spaces. The first line is the header, and columns are found by
 * name, so their order does not matter.
 */
#ifndef CW_CONTROL_CSV_H
#define CW_CONTROL_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CSV_MAX_FIELDS 32

struct csv {
	FILE *f;
	bool own;
	char *line;
	size_t cap;
	unsigned lineno;
	char *buf; /* unquoted cells, NUL-separated */
	size_t bcap;
	char *cell[CSV_MAX_FIELDS];
	unsigned n;
	char *head[CSV_MAX_FIELDS]; /* header names (copies) */
	unsigned nhead;
};

/* Opens path ("-" is stdin) and reads the header. 0, or -1 with err filled. */
int csv_open(struct csv *c, const char *path, char *err, size_t errlen);
void csv_close(struct csv *c);
/* Column index of a header name, or -1. */
int csv_col(const struct csv *c, const char *name);
/* Reads the next data row: 1, 0 at the end, -1 on a malformed line (err filled). */
int csv_next(struct csv *c, char *err, size_t errlen);
/* Cell i of the current row ("" when the row is short). */
const char *csv_cell(const struct csv *c, int i);

#endif
