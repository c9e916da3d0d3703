/*
 * test_classify.c - `cwctl ent classify`: the Tianjin credit-risk criteria (control/classify.c)
 * on a table of cases at every boundary, and the facts CSV reader. No DPDK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control/classify.h"
#include "control/csv.h"
#include "tests/unit/testutil.h"

#define U "91120116MA05JXXX0A"

struct row {
	const char *line; /* the CSV row after the header */
	const char *want; /* class name */
	const char *why;  /* a phrase the reason must contain */
};

#define HEAD                                                                                       \
	"uscc,warning_penalties,other_penalties,fines_yuan,abnormal_list,serious_list,"            \
	"bad_performance,suspended_or_revoked,criminal_accident,aeo,other_class\n"

static const struct row cases[] = {
    /* good: nothing at all */
    {U ",0,0,0,0,0,0,0,0,0,", "good", "no penalty"},
    {U ",,,,,,,,,,", "good", "no penalty"}, /* empty cells are 0 / no */
    {U ",0,0,0,0,0,0,0,0,1,", "aeo", "AEO-certified"},
    /* warning: only warnings, or bad performance */
    {U ",1,0,0,0,0,0,0,0,0,", "warning", "only warning penalties (1)"},
    {U ",250,0,0,0,0,0,0,0,0,", "warning", "only warning penalties (250)"},
    {U ",0,0,0,0,0,1,0,0,0,", "warning", "bad performance record"},
    {U ",2,0,0,0,0,yes,0,0,0,", "warning", "bad performance record"},
    {U ",1,0,0,0,0,0,0,0,1,", "warning", "AEO certificate ignored"},
    /* dishonest: abnormal list, or 1..5 non-warning penalties and fines up to 500000 */
    {U ",0,0,0,1,0,0,0,0,0,", "dishonest", "abnormal-operations list"},
    {U ",3,0,0,1,0,1,0,0,0,", "dishonest", "abnormal-operations list"},
    {U ",0,1,0,0,0,0,0,0,0,", "dishonest", "1 non-warning penalty"},
    {U ",0,1,0.01,0,0,0,0,0,0,", "dishonest", "fines 0.01 yuan"},
    {U ",0,5,0,0,0,0,0,0,0,", "dishonest", "5 non-warning penalties"},
    {U ",0,5,500000,0,0,0,0,0,0,", "dishonest", "fines 500000.00 yuan (at most 500000)"},
    {U ",0,1,500000.00,0,0,0,0,0,0,", "dishonest", "fines 500000.00"},
    {U ",9,4,499999.99,1,0,1,0,0,1,", "dishonest", "AEO certificate ignored"},
    /* serious: one more penalty or one more fen, and the listed conditions */
    {U ",0,6,0,0,0,0,0,0,0,", "serious", "6 non-warning penalties (more than 5)"},
    {U ",0,5,500000.01,0,0,0,0,0,0,", "serious", "fines 500000.01 yuan (over 500000)"},
    {U ",0,1,500000.01,0,0,0,0,0,0,", "serious", "over 500000"},
    {U ",0,1,1000000,0,0,0,0,0,0,", "serious", "fines 1000000.00"},
    {U ",0,0,0,0,1,0,0,0,0,", "serious", "serious-violation list"},
    {U ",0,0,0,1,1,0,0,0,0,", "serious", "serious-violation list"},
    {U ",0,0,0,0,0,0,1,0,0,", "serious", "suspended or licence revoked"},
    {U ",0,0,0,0,0,0,0,1,0,", "serious", "criminal liability"},
    {U ",0,0,0,0,0,0,0,1,1,", "serious", "AEO certificate ignored"},
    {U ",0,7,600000,0,1,0,1,1,0,", "serious", "7 non-warning penalties"},
    /* other provisions raise the class, never lower it */
    {U ",0,0,0,0,0,0,0,0,0,warning", "warning", "other provisions require warning"},
    {U ",0,0,0,0,0,0,0,0,0,dishonest", "dishonest", "other provisions require dishonest"},
    {U ",0,0,0,0,0,0,0,0,1,serious", "serious", "other provisions require serious"},
    {U ",0,6,0,0,0,0,0,0,0,warning", "serious", "more than 5"},
    {U ",1,0,0,0,0,0,0,0,0,good", "warning", "only warning"},
    /* flags in other spellings */
    {U ",0,0,0,TRUE,0,0,0,0,0,", "dishonest", "abnormal"},
    {U ",0,0,0,y,0,0,0,0,0,", "dishonest", "abnormal"},
};

static const struct {
	const char *line;
	const char *err; /* a phrase of the error */
} bad_rows[] = {
    {"91120116MA05JXXX0,0,0,0,0,0,0,0,0,0,", "uscc"},  /* 17 characters */
    {"91120116ma05jxxx0a,0,0,0,0,0,0,0,0,0,", "uscc"}, /* lower case */
    {U ",-1,0,0,0,0,0,0,0,0,", "warning_penalties"},
    {U ",0,x,0,0,0,0,0,0,0,", "other_penalties"},
    {U ",0,1,500000.001,0,0,0,0,0,0,", "fines_yuan"},
    {U ",0,1,-5,0,0,0,0,0,0,", "fines_yuan"},
    {U ",0,1,1e6,0,0,0,0,0,0,", "fines_yuan"},
    {U ",0,0,100,0,0,0,0,0,0,", "other_penalties is 0"}, /* a fine is a penalty */
    {U ",0,0,0,maybe,0,0,0,0,0,", "abnormal_list"},
    {U ",0,0,0,0,0,0,0,0,2,", "aeo"},
    {U ",0,0,0,0,0,0,0,0,0,unknown", "other_class"},
    {U ",0,0,0,0,0,0,0,0,0,aeo", "other_class"},
};

static char path[64];

static void write_csv(const char *head, const char *line)
{
	snprintf(path, sizeof(path), "/tmp/cwfacts%d.csv", (int)getpid());
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(head, f);
	fputs(line, f);
	fputs("\n", f);
	fclose(f);
}

/* Reads the one data row of path into f; 0, or -1 with err. */
static int read_row(struct cw_credit_facts *f, char *err, size_t n)
{
	struct csv c;
	struct cw_facts_cols k;
	ck_assert_int_eq(csv_open(&c, path, err, n), 0);
	int rc = cw_facts_cols(&c, &k, err, n);
	if (!rc) {
		ck_assert_int_eq(csv_next(&c, err, n), 1);
		rc = cw_facts_row(&c, &k, f, err, n);
	}
	csv_close(&c);
	return rc;
}

START_TEST(table_of_cases)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_csv(HEAD, cases[i].line);
		struct cw_credit_facts f;
		char err[256], why[512];
		ck_assert_msg(read_row(&f, err, sizeof(err)) == 0, "case %zu (%s): %s", i,
			      cases[i].line, err);
		enum cw_class c = cw_credit_classify(&f, why, sizeof(why));
		ck_assert_msg(!strcmp(cw_class_name(c), cases[i].want),
			      "case %zu (%s): %s, want %s (%s)", i, cases[i].line, cw_class_name(c),
			      cases[i].want, why);
		ck_assert_msg(strstr(why, cases[i].why) != NULL, "case %zu: reason '%s' lacks '%s'",
			      i, why, cases[i].why);
	}
	unlink(path);
}
END_TEST

START_TEST(bad_rows_refused)
{
	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		write_csv(HEAD, bad_rows[i].line);
		struct cw_credit_facts f;
		char err[256] = "";
		ck_assert_msg(read_row(&f, err, sizeof(err)) == -1, "row %zu accepted: %s", i,
			      bad_rows[i].line);
		ck_assert_msg(strstr(err, bad_rows[i].err) != NULL, "row %zu: '%s' lacks '%s'", i,
			      err, bad_rows[i].err);
	}
	unlink(path);
}
END_TEST

START_TEST(columns_by_name_in_any_order)
{
	/* optional columns absent, required ones shuffled, an extra name column, quotes, CRLF */
	write_csv("\"criminal_accident\",name,Serious_List,uscc,fines_yuan,other_penalties,"
		  "warning_penalties,abnormal_list,bad_performance,suspended_or_revoked\r\n",
		  "0,\"Tianjin \"\"Port\"\", Ltd\",0," U ",120000.5,2,1,0,0,0\r");
	struct cw_credit_facts f;
	char err[256], why[512];
	ck_assert_msg(read_row(&f, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(f.uscc, U);
	ck_assert_uint_eq(f.fines_fen, 12000050);
	ck_assert_uint_eq(f.other_penalties, 2);
	ck_assert_uint_eq(f.warning_penalties, 1);
	ck_assert_int_eq(cw_credit_classify(&f, why, sizeof(why)), CW_CLS_DISHONEST);

	write_csv("uscc,warning_penalties,other_penalties,fines_yuan,abnormal_list,serious_list,"
		  "bad_performance,criminal_accident\n",
		  U ",0,0,0,0,0,0,0");
	ck_assert_int_eq(read_row(&f, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "suspended_or_revoked") != NULL, "%s", err);
	unlink(path);
}
END_TEST

START_TEST(yuan_amounts)
{
	static const struct {
		const char *s;
		bool ok;
		uint64_t fen;
	} v[] = {
	    {"0", true, 0},
	    {"0.5", true, 50},
	    {"0.05", true, 5},
	    {"500000", true, 50000000},
	    {"500000.01", true, 50000001},
	    {"1.", false, 0},
	    {".5", false, 0},
	    {"-1", false, 0},
	    {"1e3", false, 0},
	    {"1,000", false, 0},
	    {"", false, 0},
	    {"0.123", false, 0},
	    {"184467440737095516", false, 0},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t fen = 7;
		bool ok = cw_parse_yuan(v[i].s, &fen);
		ck_assert_msg(ok == v[i].ok, "'%s'", v[i].s);
		if (ok)
			ck_assert_uint_eq(fen, v[i].fen);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("classify");
	TCase *t = tcase_create("tianjin");
	tcase_add_test(t, table_of_cases);
	tcase_add_test(t, bad_rows_refused);
	tcase_add_test(t, columns_by_name_in_any_order);
	tcase_add_test(t, yuan_amounts);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
