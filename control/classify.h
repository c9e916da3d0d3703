/*
 * classify.h - an enterprise's registry class from its credit facts, by the Tianjin FTZ credit
 * risk classification (the seed's case 6, 《市场主体信用风险分类暂行办法》, 2015).
 *
 * Why this file exists: analysts keep credit facts (penalties, fines, lists) rather than classes;
 * `cwctl ent classify` turns them into `cw:ent` classes the same way every time, and says why.
 *
 * The criteria, and how the boundaries are read (Chinese legal usage: 以下 includes the number
 * itself, 超过 does not):
 *   serious   (严重失信) on the serious-violation list; or more than 5 penalties other than a
 *             warning; or fines and confiscations over 500 000 yuan in total; or ordered to stop
 *             production or business, or business licence / permit revoked; or criminal
 *             liability for a major production-safety or food-safety accident.
 *   dishonest (失信) on the abnormal-operations list (or marked abnormal); or 1 to 5 penalties
 *             other than a warning with at most 500 000 yuan of fines in total.
 *   warning   (警示) penalties that are all warnings; or bad information in the performance
 *             records.
 *   good      (良好) none of the above: no penalty, on no list, no bad performance record.
 * Each class also has "other provisions" (其他依据规定): the optional `other_class` fact raises the
 * result to at least that class. `aeo` (a customs AEO certificate, not part of the Tianjin
 * criteria) turns `good` into `aeo` and is ignored for any worse class.
 */
#ifndef CW_CONTROL_CLASSIFY_H
#define CW_CONTROL_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/ruleset.h"

struct cw_credit_facts {
	char uscc[19];		    /* NUL-terminated */
	uint32_t warning_penalties; /* administrative penalties of the kind "warning" (警告) */
	uint32_t other_penalties;   /* administrative penalties of any other kind */
	uint64_t fines_fen;	    /* fines and confiscations in total, yuan x 100 */
	bool abnormal_list;	    /* 经营异常名录 / marked abnormal */
	bool serious_list;	    /* 严重违法企业名单 */
	bool bad_performance;	    /* 业绩情况 with bad information */
	bool suspended_or_revoked;  /* 责令停产停业, 吊销营业执照或许可证 */
	bool criminal_accident;	    /* 重特大事故, 被依法追究刑事责任 */
	bool aeo;		    /* AEO-certified (optional column) */
	int other_class;	    /* -1, or the class other provisions require (optional) */
};

/* The class, and the reasons in `why` ("; "-separated, in English). */
enum cw_class cw_credit_classify(const struct cw_credit_facts *f, char *why, size_t cap);

/* Column names of the facts CSV (docs/control-plane.md). */
#define CW_FACTS_COLUMNS                                                                           \
	"uscc,warning_penalties,other_penalties,fines_yuan,abnormal_list,serious_list,"            \
	"bad_performance,suspended_or_revoked,criminal_accident[,aeo][,other_class][,name]"

struct csv;
/* Column positions found in a facts CSV header. */
struct cw_facts_cols {
	int uscc, warning, other, fines, abnormal, serious, bad_perf, suspended, criminal, aeo,
	    other_class;
};
/* Finds the columns; -1 with err naming the first missing required column. */
int cw_facts_cols(const struct csv *c, struct cw_facts_cols *k, char *err, size_t errlen);
/* Reads the current row into f; -1 with err (the column and the value) when a cell is bad. */
int cw_facts_row(const struct csv *c, const struct cw_facts_cols *k, struct cw_credit_facts *f,
		 char *err, size_t errlen);

/* "500000", "500000.5", "0.01" -> fen. false on anything else (signs, 3 decimals, overflow). */
bool cw_parse_yuan(const char *s, uint64_t *fen);

#endif
