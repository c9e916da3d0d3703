/*
 * lexer.c - tokens and statement boundaries of the rule language (DESIGN §5).
 *
 * Why this file exists: the language is line-oriented (a line that starts with white space
 * continues the previous statement; `#` starts a comment outside a quoted reason), and every
 * error must name a line and a column. The tokenizer hides both from the parser: it hands out
 * the tokens of one statement, then TK_EOS until the parser moves on. Lines that hold only white
 * space or a comment belong to no statement and never end one.
 *
 * Columns count UTF-8 characters, not bytes (a tab is one character), because that is what an
 * analyst's editor shows; non-ASCII text is only legal in comments and reasons anyway.
 */
#include <stdio.h>
#include <string.h>

#include "rules/lexer.h"

/* Character classes by table: the lexer looks at every byte of a 100 k-rule text. */
enum { C_WORD = 1, C_DIGIT = 2, C_BLANK = 4 };
static const uint8_t char_class[256] = {
    ['0' ... '9'] = C_WORD | C_DIGIT,
    ['a' ... 'z'] = C_WORD,
    ['A' ... 'Z'] = C_WORD,
    ['_'] = C_WORD,
    [' '] = C_BLANK,
    ['\t'] = C_BLANK,
    ['\r'] = C_BLANK,
};

static inline bool is_blank(char c)
{
	return char_class[(unsigned char)c] & C_BLANK;
}

static inline bool is_word_char(char c)
{
	return char_class[(unsigned char)c] & C_WORD;
}

static inline bool is_digit(char c)
{
	return char_class[(unsigned char)c] & C_DIGIT;
}

static void add_error(struct cw_lexer *lx, uint32_t line, uint32_t column, const char *fmt,
		      va_list ap)
{
	lx->n_errors++;
	struct cw_parse_errors *e = lx->errs;
	if (!e)
		return;
	e->total++;
	if (e->n >= e->cap || !e->v)
		return;
	struct cw_parse_error *pe = &e->v[e->n++];
	pe->line = line;
	pe->column = column;
	vsnprintf(pe->msg, sizeof(pe->msg), fmt, ap);
}

void cw_lex_error_at(struct cw_lexer *lx, uint32_t line, uint32_t column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_error(lx, line, column, fmt, ap);
	va_end(ap);
}

void cw_lex_error(struct cw_lexer *lx, const struct cw_tok *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_error(lx, t->line, cw_lex_column(lx, t->line_off, t->off), fmt, ap);
	va_end(ap);
}

uint32_t cw_lex_column(const struct cw_lexer *lx, size_t line_off, size_t off)
{
	uint32_t col = 1;
	for (size_t i = line_off; i < off && i < lx->len; i++)
		if (((unsigned char)lx->s[i] & 0xC0) != 0x80)
			col++;
	return col;
}

void cw_lex_init(struct cw_lexer *lx, const char *text, size_t len, struct cw_parse_errors *errs)
{
	memset(lx, 0, sizeof(*lx));
	lx->s = text;
	lx->len = len;
	lx->line = 1;
	lx->errs = errs;
	/* A byte order mark some editors write; it is not a column. */
	if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3))
		lx->pos = lx->line_off = 3;
	lx->last_end = lx->pos;
	lx->last_line = 1;
	lx->last_line_off = lx->line_off;
}

void cw_lex_begin_statement(struct cw_lexer *lx)
{
	lx->stmt_over = false;
}

bool cw_lex_at_statement(const struct cw_lexer *lx)
{
	if (lx->pos >= lx->len || lx->pos != lx->line_off)
		return false;
	char c = lx->s[lx->pos];
	return !is_blank(c) && c != '\n' && c != '#';
}

size_t cw_lex_statement_end(const struct cw_lexer *lx, uint32_t *lines)
{
	/* Only layout decides: a reason cannot hold a line end and a comment runs to one, so the
	 * next line that starts with neither white space nor '#' starts the next statement. */
	const char *s = lx->s;
	size_t i = lx->pos;
	uint32_t n = 0;
	for (;;) {
		const char *nl = memchr(s + i, '\n', lx->len - i);
		if (!nl)
			break;
		n++;
		i = (size_t)(nl - s) + 1;
		if (i >= lx->len)
			break;
		char c = s[i];
		if (!is_blank(c) && c != '\n' && c != '#') {
			*lines = n;
			return i;
		}
	}
	*lines = n;
	return lx->len;
}

void cw_lex_skip_statement(struct cw_lexer *lx, size_t end, uint32_t lines)
{
	lx->pos = lx->line_off = lx->last_end = lx->last_line_off = end;
	lx->line += lines;
	lx->last_line = lx->line;
	lx->stmt_over = end < lx->len;
}

/* Moves over white space, comments and line ends; false when the statement is over. */
static bool skip_to_token(struct cw_lexer *lx)
{
	const char *s = lx->s;
	while (lx->pos < lx->len) {
		char c = s[lx->pos];
		if (is_blank(c)) {
			size_t pos = lx->pos + 1; /* a run of blanks, in a register */
			while (pos < lx->len && is_blank(s[pos]))
				pos++;
			lx->pos = pos;
		} else if (c == '#') {
			const char *nl = memchr(s + lx->pos, '\n', lx->len - lx->pos);
			lx->pos = nl ? (size_t)(nl - s) : lx->len;
		} else if (c == '\n') {
			lx->pos++;
			lx->line++;
			lx->line_off = lx->pos;
			if (cw_lex_at_statement(lx)) {
				lx->stmt_over = true;
				return false;
			}
		} else {
			return true;
		}
	}
	return false;
}

/* Length of a well-formed UTF-8 sequence at p (n bytes left), 0 if malformed. */
static size_t utf8_len(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t k;
	uint32_t v;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		k = 2;
		v = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		k = 3;
		v = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		k = 4;
		v = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	if ((k == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
	    (k == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return 0;
	*cp = v;
	return k;
}

static void lex_word(struct cw_lexer *lx)
{
	/* locals: stores through lx would be reloaded after every byte read (char aliases all) */
	const unsigned char *s = (const unsigned char *)lx->s;
	size_t pos = lx->pos, len = lx->len;
	uint8_t all = C_DIGIT;
	while (pos < len && (char_class[s[pos]] & C_WORD))
		all &= char_class[s[pos++]];
	/* 12.50 is one token, 0201..0206 is three */
	if ((all & C_DIGIT) && pos + 1 < len && s[pos] == '.' && is_digit((char)s[pos + 1])) {
		pos++;
		while (pos < len && (char_class[s[pos]] & C_WORD))
			pos++;
	}
	lx->pos = pos;
}

static enum cw_tok_type lex_string(struct cw_lexer *lx, struct cw_tok *t)
{
	size_t start = lx->pos + 1;
	size_t end = start;
	while (end < lx->len && lx->s[end] != '"' && lx->s[end] != '\n')
		end++;
	if (end >= lx->len || lx->s[end] != '"') {
		if (!lx->quiet)
			cw_lex_error(
			    lx, t, "unterminated string: a reason ends with '\"' on the same line");
		lx->pos = end;
		return TK_ERR;
	}
	t->len = end + 1 - lx->pos;
	lx->pos = end + 1;
	return TK_STRING;
}

static enum cw_tok_type lex_bad_char(struct cw_lexer *lx, struct cw_tok *t)
{
	const unsigned char *p = (const unsigned char *)lx->s + lx->pos;
	uint32_t cp = 0;
	size_t k = utf8_len(p, lx->len - lx->pos, &cp);
	if (!lx->quiet) {
		if (k > 1)
			cw_lex_error(lx, t,
				     "unexpected character U+%04X: text other than ASCII is "
				     "allowed only in comments and reasons",
				     (unsigned)cp);
		else if (p[0] > 0x20 && p[0] < 0x7F)
			cw_lex_error(lx, t, "unexpected character '%c'", p[0]);
		else if (k == 0)
			cw_lex_error(lx, t, "invalid UTF-8 byte 0x%02X", p[0]);
		else
			cw_lex_error(lx, t, "unexpected control character 0x%02X", p[0]);
	}
	lx->pos += k ? k : 1;
	return TK_ERR;
}

static enum cw_tok_type lex_punct(struct cw_lexer *lx, struct cw_tok *t)
{
	const char *s = lx->s;
	char c = s[lx->pos];
	char n = lx->pos + 1 < lx->len ? s[lx->pos + 1] : 0;
	enum cw_tok_type ty;
	size_t k = 1;
	switch (c) {
	case '(':
		ty = TK_LPAREN;
		break;
	case ')':
		ty = TK_RPAREN;
		break;
	case ',':
		ty = TK_COMMA;
		break;
	case '%':
		ty = TK_PERCENT;
		break;
	case '=':
		ty = TK_EQ;
		break;
	case '-':
		ty = TK_MINUS;
		break;
	case '<':
		ty = n == '=' ? TK_LE : TK_LT;
		k = n == '=' ? 2 : 1;
		break;
	case '>':
		ty = n == '=' ? TK_GE : TK_GT;
		k = n == '=' ? 2 : 1;
		break;
	case '.':
		if (n != '.')
			return lex_bad_char(lx, t);
		ty = TK_DOTDOT;
		k = 2;
		break;
	default:
		return lex_bad_char(lx, t);
	}
	lx->pos += k;
	t->len = k;
	return ty;
}

void cw_lex_next(struct cw_lexer *lx, struct cw_tok *t)
{
	t->len = 0;
	if (lx->stmt_over || !skip_to_token(lx)) {
		/* "missing ..." errors point just after the statement's last token */
		t->type = TK_EOS;
		t->line = lx->last_line;
		t->line_off = lx->last_line_off;
		t->off = lx->last_end;
		return;
	}
	t->line = lx->line;
	t->line_off = lx->line_off;
	t->off = lx->pos;
	char c = lx->s[lx->pos];
	if (is_word_char(c)) {
		lex_word(lx);
		t->type = TK_WORD;
		t->len = lx->pos - t->off;
	} else if (c == '"') {
		t->type = lex_string(lx, t);
	} else {
		t->type = lex_punct(lx, t);
	}
	lx->last_end = lx->pos;
	lx->last_line = t->line;
	lx->last_line_off = t->line_off;
}
