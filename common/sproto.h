/*
 * sproto: the read path's request/reply protocol (DESIGN.md
 * "Request/reply"). Validates a request's stream fields into a struct
 * sproto_request, and writes the JSON replies memsearch LPUSHes. Pure
 * functions, no I/O and no loop: memsearch answers with them; memctl and
 * mwbench send the same field names.
 */
#ifndef MW_SPROTO_H
#define MW_SPROTO_H

#include "store.h"

#include <stdbool.h>
#include <stddef.h>

#define SPROTO_REPLY_TO_MAX 512		/* longest reply key accepted */
#define SPROTO_QUERY_MAX 16384		/* longest query text accepted */
#define SPROTO_DEFAULT_LIMIT 10		/* search, context */
#define SPROTO_DEFAULT_PAGE 100		/* get_all (capped by the limit maximum) */

enum sproto_op {
	SPROTO_SEARCH = 0,
	SPROTO_CONTEXT,
	SPROTO_GET,
	SPROTO_GET_ALL,
	SPROTO_HISTORY,
	SPROTO_DELETE,
	SPROTO_DELETE_ALL,
	SPROTO_STATS,
	SPROTO_OP_COUNT
};

/* A validated request. Strings are owned (sproto_request_clear frees them). */
struct sproto_request {
	enum sproto_op op;
	long long user;			/* user_db_id, 1 .. 2^31-1 (the column is INTEGER) */
	char *reply_to;			/* NULL: no usable reply key (missing, empty, too long) */
	char *request_id;		/* NULL: none given */
	long long deadline_ms;		/* absolute epoch ms; 0 = none */
	char *query;			/* search, context */
	int limit;
	int offset;			/* get_all */
	double threshold;		/* minimum score, 0 = none */
	char *session_id;		/* NULL = any */
	char *filters;			/* compact JSON object of metadata equalities, NULL = none */
	char memory_id[37];		/* lower-case UUID: get, history, delete */
	bool purge;			/* delete_all */
};

const char *sproto_op_name(enum sproto_op op);

/*
 * Validates n stream fields (name/value byte strings, not NUL-terminated)
 * into req, which the caller clears afterwards in every case. Returns 0, or
 * -1 with err = "FIELD: what is wrong" (the field named first). reply_to,
 * request_id and deadline_ms are filled whenever they themselves are valid,
 * even when another field is not, so a bad request can still be answered.
 * Unknown fields are ignored (newer clients may send more).
 */
int sproto_parse(const char *const *names, const size_t *name_lens, const char *const *values,
		 const size_t *value_lens, int n, int limit_max, struct sproto_request *req, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void sproto_request_clear(struct sproto_request *req);

/*
 * Replies, as malloc'd compact JSON text (caller frees). request_id NULL is
 * written as null. took_ms is the server-side time, kept to microseconds.
 */
char *sproto_reply_error(const char *request_id, const char *code, const char *message, double took_ms);
/* scored: the memories come from a search and carry a score; else score is null. */
char *sproto_reply_memories(const char *request_id, const struct store_memory *m, int n, bool scored,
			    double took_ms);
/* One {"role":"system","content":"[Relevant Context: <memory>]"} per memory. */
char *sproto_reply_context(const char *request_id, const struct store_memory *m, int n, double took_ms);
char *sproto_reply_history(const char *request_id, const struct store_history *h, int n, double took_ms);
/* results: {"total_memories","last_memory_at","history_rows"}. */
char *sproto_reply_stats(const char *request_id, const struct store_stats *st, double took_ms);
/* {"ok":true,"request_id":…,"deleted":N,"took_ms":…} */
char *sproto_reply_deleted(const char *request_id, long long deleted, double took_ms);

#endif
