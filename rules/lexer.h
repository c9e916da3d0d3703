/*
 * lexer.h - the tokenizer of the rule language (DESIGN §5), private to rules/parse.c.
 *
 * Why this file exists: statement boundaries in the rule language are decided by layout (a line
 * that starts with white space continues the previous statement), and errors must carry a line
 * and a column. Keeping that in one small tokenizer lets the parser think in tokens and
 * statements only. No DPDK: both files are compiled into the libFuzzer target.
 */
#ifndef CW_RULES_LEXER_H
#define CW_RULES_LEXER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/ruleset.h"

enum cw_tok_type {
	TK_EOS = 0, /* end of the statement (or of the file) */
	TK_WORD,    /* [A-Za-z0-9_]+, a decimal number such as 12.50, a hex salt */
	TK_STRING,  /* "text": off/len include the quotes */
	TK_LPAREN,
	TK_RPAREN,
	TK_COMMA,
	TK_DOTDOT,
	TK_PERCENT,
	TK_LT,
	TK_LE,
	TK_GT,
	TK_GE,
	TK_EQ,
	TK_MINUS,
	TK_ERR, /* the lexer already reported an error for it */
};

struct cw_tok {
	enum cw_tok_type type;
	size_t off, len;
	size_t line_off; /* where the token's line starts, for the column */
	uint32_t line;
};

struct cw_lexer {
	const char *s;
	size_t len, pos;
	size_t line_off;
	uint32_t line;
	size_t last_end, last_line_off; /* end of the last token handed out */
	uint32_t last_line;
	bool stmt_over; /* TK_EOS was reached: the next statement's line is not read yet */
	bool quiet;	/* skipping a broken statement: lexical errors are not reported again */
	struct cw_parse_errors *errs;
	uint32_t n_errors; /* reported so far, even when errs is NULL */
};

void cw_lex_init(struct cw_lexer *lx, const char *text, size_t len, struct cw_parse_errors *errs);
/* True when the next token starts a statement (the lexer stands on a statement's first line). */
bool cw_lex_at_statement(const struct cw_lexer *lx);
/* Starts reading the statement the lexer stands on (after TK_EOS, at a statement's line). */
void cw_lex_begin_statement(struct cw_lexer *lx);
/* Where the statement the lexer stands on ends: the start of the next statement (or the end of
 * the text), so that its comments and blank lines belong to it; *lines is the line ends in it. */
size_t cw_lex_statement_end(const struct cw_lexer *lx, uint32_t *lines);
/* Moves past the statement the lexer stands on without reading it (the incremental parse reuses
 * it): to `end` from cw_lex_statement_end, `lines` lines further. */
void cw_lex_skip_statement(struct cw_lexer *lx, size_t end, uint32_t lines);
/* Next token of the current statement; TK_EOS (repeatedly) once it is over. */
void cw_lex_next(struct cw_lexer *lx, struct cw_tok *t);

/* 1-based column of a byte offset: UTF-8 characters (not bytes) before it on its line, + 1. */
uint32_t cw_lex_column(const struct cw_lexer *lx, size_t line_off, size_t off);

/* Records an error at a token / at a line and column. */
void cw_lex_error(struct cw_lexer *lx, const struct cw_tok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cw_lex_error_at(struct cw_lexer *lx, uint32_t line, uint32_t column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
