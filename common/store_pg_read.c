/*
 * store_pg_read: the read path's half of the PostgreSQL backend (search,
 * get, get_all, history, delete, delete_all, stats). Each operation is one
 * pgconn job, so one round trip, on the user's connection; every statement
 * filters on user_id. The plans are recorded in search/PLANS.md.
 *
 * search is exact per user: the user's rows come through a B-tree on
 * (user_id, ...), their cosine distances are computed and sorted, so recall
 * is 1.0. An HNSW index (MEM0_HNSW=true) is used only for users with at
 * least STORE_PG_HNSW_MIN_ROWS memories, and then with pgvector 0.8's
 * strict-order iterative scan, so the filter on user_id cannot starve it.
 */
#include "store_pg.h"

#include "log.h"
#include "pgconn.h"
#include "store.h"
#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Users with this many memories search through the HNSW index, when there is one. */
#define STORE_PG_HNSW_MIN_ROWS 20000
/* hnsw.ef_search: at least this, and at least twice the limit (pgvector's maximum is 1000). */
#define STORE_PG_EF_SEARCH_MIN 100

/* ---- shared ---- */

/* Memories from the last statement; none at all is STORE_NOT_FOUND (get). */
static void mems_found_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr,
			    const char *sqlstate)
{
	struct pg_op *op = arg;

	if (ok && PQntuples(res[n - 1]) == 0) {
		store_mems_cb cb = (store_mems_cb)op->cb;

		cb(op->arg, STORE_NOT_FOUND, NULL, 0, "no such memory for this user");
		store_pg_op_free(op);
		return;
	}
	store_pg_mems_done(arg, ok, res, n, errstr, sqlstate);
}

/* BEGIN, choice, search, COMMIT: the memories are the third statement's. */
static void search_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	store_pg_mems_done(arg, ok, res, ok && n == 4 ? 3 : n, errstr, sqlstate);
}

static int submit(struct store *s, int64_t user, const struct pg_stmt *st, int n, pgconn_cb done, void (*cb)(void),
		  void *arg)
{
	struct pg_op *op = store_pg_op_new(s, cb, arg);
	int rc = pgconn_submit(store_pg_conn_for(s, user), st, n, done, op);

	if (rc < 0)
		store_pg_op_free(op);
	return rc;
}

/* ---- search ---- */

/*
 * The exact plan: the OFFSET 0 fence keeps the subquery from being pulled
 * up, so its rows come from the B-tree on user_id and no ORDER BY ... <=>
 * can be matched to the HNSW index; the outer sort is a top-N heapsort.
 * Parameters: $1 user, $2 vector, $3 limit, then the optional ones.
 */
#define SEARCH_COLS STORE_PG_MEM_COLS ", 1 - d AS score"

static int build_exact(char *sql, size_t len, const struct store_search *q, bool gated, int *nparams)
{
	char extra[256] = "", outer[128] = "";
	size_t e = 0;
	int p = 3;

	if (q->session_id)
		e += (size_t)snprintf(extra + e, sizeof(extra) - e, " AND session_id = $%d", ++p);
	if (q->filters)
		e += (size_t)snprintf(extra + e, sizeof(extra) - e, " AND metadata @> $%d::jsonb", ++p);
	if (q->threshold > 0)
		snprintf(outer, sizeof(outer), " AND 1 - d >= $%d::float8", ++p);
	*nparams = p;
	return snprintf(sql, len,
			"SELECT " SEARCH_COLS " FROM (SELECT id, memory, hash, session_id, metadata, created_at, "
			"updated_at, embedding <=> $2::vector AS d FROM mem0_memories "
			"WHERE user_id = $1 AND embedding IS NOT NULL%s OFFSET 0) e "
			"WHERE %s%s ORDER BY d, id LIMIT $3",
			extra, gated ? "current_setting('memworker.knn') = 'exact'" : "true", outer);
}

/*
 * No session or metadata filter: the user's size picks the plan inside one
 * job. The first statement reads the user's count (mem0_metadata, kept by
 * triggers) into the transaction-local setting memworker.knn and sets the
 * HNSW scan up; the search's two branches are gated on that setting (a
 * one-time filter: the other branch never runs).
 */
static const char sql_knn_choice[] =
	"SELECT set_config('memworker.knn', CASE WHEN COALESCE(max(total_memories), 0) >= $2::int "
	"THEN 'hnsw' ELSE 'exact' END, true), set_config('hnsw.iterative_scan', 'strict_order', true), "
	"set_config('hnsw.ef_search', $3, true) "
	"FROM mem0_metadata WHERE collection_name = 'chatsg_memories' AND user_id = $1";

static int build_union(char *sql, size_t len, const struct store_search *q, int *nparams)
{
	char exact[2048], outer[128] = "";
	int p;

	build_exact(exact, sizeof(exact), q, true, &p);
	if (q->threshold > 0)
		snprintf(outer, sizeof(outer), " WHERE 1 - d >= $%d::float8", p);
	*nparams = p;
	/* the HNSW branch keeps its LIMIT inside and the threshold outside (pgvector's advice) */
	return snprintf(sql, len,
			"(%s) UNION ALL (SELECT " SEARCH_COLS " FROM (SELECT id, memory, hash, session_id, metadata, "
			"created_at, updated_at, embedding <=> $2::vector AS d FROM mem0_memories "
			"WHERE user_id = $1 AND current_setting('memworker.knn') = 'hnsw' "
			"ORDER BY embedding <=> $2::vector LIMIT $3) h%s ORDER BY d, id) ORDER BY score DESC, 1",
			exact, outer);
}

int store_pg_search(struct store *s, const struct store_search *q, store_mems_cb cb, void *arg)
{
	size_t vlen = 4 + 4 * (size_t)s->dims;
	unsigned char *vbuf = mw_malloc(vlen);
	char uid[24], lim[16], thr[32], minrows[16], ef[16], sql[4096];
	const char *vals[6] = { uid, (const char *)vbuf, lim }, *cvals[3] = { uid, minrows, ef };
	int lens[6] = { 0, (int)vlen }, fmts[6] = { 0, 1 };
	struct pg_stmt st[4];
	int nparams, p = 3, rc = -1, efv;

	if (vec_encode_pg(q->vec, s->dims, vbuf, vlen) < 0 || q->limit < 1)
		goto out;
	snprintf(uid, sizeof(uid), "%lld", (long long)q->user);
	snprintf(lim, sizeof(lim), "%d", q->limit);
	snprintf(thr, sizeof(thr), "%.17g", q->threshold);
	if (q->session_id)
		vals[p++] = q->session_id;
	if (q->filters)
		vals[p++] = q->filters;
	if (q->threshold > 0)
		vals[p++] = thr;
	if (q->session_id || q->filters) {
		/* a narrowed search is always exact: a session or a filter can be far smaller than the user */
		build_exact(sql, sizeof(sql), q, false, &nparams);
		st[0] = (struct pg_stmt){ .sql = sql, .nparams = nparams, .values = vals, .lengths = lens,
					  .formats = fmts };
		rc = submit(s, q->user, st, 1, store_pg_mems_done, (void (*)(void))cb, arg);
		goto out;
	}
	efv = 2 * q->limit > STORE_PG_EF_SEARCH_MIN ? 2 * q->limit : STORE_PG_EF_SEARCH_MIN;
	snprintf(ef, sizeof(ef), "%d", efv > 1000 ? 1000 : efv);
	snprintf(minrows, sizeof(minrows), "%d", STORE_PG_HNSW_MIN_ROWS);
	build_union(sql, sizeof(sql), q, &nparams);
	st[0] = (struct pg_stmt){ .sql = "BEGIN" };
	st[1] = (struct pg_stmt){ .sql = sql_knn_choice, .nparams = 3, .values = cvals };
	st[2] = (struct pg_stmt){ .sql = sql, .nparams = nparams, .values = vals, .lengths = lens, .formats = fmts };
	st[3] = (struct pg_stmt){ .sql = "COMMIT" };
	rc = submit(s, q->user, st, 4, search_done, (void (*)(void))cb, arg);
out:
	free(vbuf);
	return rc;
}

/* ---- get, get_all ---- */

int store_pg_get(struct store *s, int64_t user, const char *memory_id, store_mems_cb cb, void *arg)
{
	char uid[24];
	const char *vals[2] = { uid, memory_id };
	struct pg_stmt st = {
		.sql = "SELECT " STORE_PG_MEM_COLS " FROM mem0_memories WHERE user_id = $1 AND id = $2::uuid",
		.nparams = 2,
		.values = vals,
	};

	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	return submit(s, user, &st, 1, mems_found_done, (void (*)(void))cb, arg);
}

int store_pg_get_all(struct store *s, int64_t user, const char *session_id, int limit, int offset, store_mems_cb cb,
		     void *arg)
{
	char uid[24], lim[16], off[16];
	const char *vals[4] = { uid, lim, off, session_id };
	/* newest first through (user_id, created_at) or (user_id, session_id) */
	struct pg_stmt st = {
		.sql = session_id ? "SELECT " STORE_PG_MEM_COLS " FROM mem0_memories WHERE user_id = $1 AND session_id = $4 "
				    "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
				  : "SELECT " STORE_PG_MEM_COLS " FROM mem0_memories WHERE user_id = $1 "
				    "ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
		.nparams = session_id ? 4 : 3,
		.values = vals,
	};

	if (limit < 1 || offset < 0)
		return -1;
	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	snprintf(lim, sizeof(lim), "%d", limit);
	snprintf(off, sizeof(off), "%d", offset);
	return submit(s, user, &st, 1, store_pg_mems_done, (void (*)(void))cb, arg);
}

/* ---- history ---- */

static void history_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct pg_op *op = arg;
	store_history_cb cb = (store_history_cb)op->cb;
	const PGresult *r;
	struct store_history *h;
	int i, rows;

	(void)n;
	if (!ok) {
		cb(op->arg, store_pg_status(sqlstate), NULL, 0, errstr);
		goto out;
	}
	r = res[0];
	rows = PQntuples(r);
	if (rows == 0) {
		/* history outlives its memory, so no rows means never this user's */
		cb(op->arg, STORE_NOT_FOUND, NULL, 0, "no such memory for this user");
		goto out;
	}
	h = mw_calloc((size_t)rows, sizeof(*h));
	for (i = 0; i < rows; i++) {
		h[i].id = atoll(PQgetvalue(r, i, 0));
		snprintf(h[i].memory_id, sizeof(h[i].memory_id), "%s", PQgetvalue(r, i, 1));
		h[i].action = PQgetvalue(r, i, 2);
		h[i].previous_content = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
		h[i].new_content = PQgetisnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4);
		h[i].metadata = PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5);
		h[i].created_at = PQgetvalue(r, i, 6);
	}
	cb(op->arg, STORE_OK, h, rows, NULL);
	free(h);
out:
	store_pg_op_free(op);
}

int store_pg_history(struct store *s, int64_t user, const char *memory_id, store_history_cb cb, void *arg)
{
	char uid[24];
	const char *vals[2] = { uid, memory_id };
	/* oldest first through (user_id, memory_id, id) */
	struct pg_stmt st = {
		.sql = "SELECT id, memory_id::text, action, previous_content, new_content, metadata::text, "
		       STORE_PG_TS("created_at") " FROM mem0_history WHERE user_id = $1 AND memory_id = $2::uuid "
		       "ORDER BY id",
		.nparams = 2,
		.values = vals,
	};

	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	return submit(s, user, &st, 1, history_done, (void (*)(void))cb, arg);
}

/* ---- delete, delete_all ---- */

/* The worker's lock (store_pg.c): deletes and applies of one user never interleave. */
static const char sql_lock[] = "SELECT pg_advisory_xact_lock($1::int, $2::int)";

static const char sql_delete_one[] =
	"WITH d AS (DELETE FROM mem0_memories WHERE id = $2::uuid AND user_id = $1 RETURNING id, memory) "
	"INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, metadata) "
	"SELECT id, $1, 'deleted', memory, NULL, $3::jsonb FROM d RETURNING memory_id";

static const char sql_delete_all[] =
	"WITH d AS (DELETE FROM mem0_memories WHERE user_id = $1 RETURNING id, memory), "
	"h AS (INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, metadata) "
	"SELECT id, $1, 'deleted', memory, NULL, $2::jsonb FROM d RETURNING 1) "
	"SELECT count(*) FROM h";

/* Erasure: no row of the user stays in any mem0 table (memories first: their trigger touches the counts). */
static const char *const sql_purge[] = {
	"WITH d AS (DELETE FROM mem0_memories WHERE user_id = $1 RETURNING 1) SELECT count(*) FROM d",
	"DELETE FROM mem0_history WHERE user_id = $1",
	"DELETE FROM mem0_ingest_log WHERE user_id = $1",
	"DELETE FROM mem0_metadata WHERE user_id = $1",
};

/* op->n: index of the statement whose rows (delete_one) or count (delete_all) is the answer; <0: must exist. */
static void count_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct pg_op *op = arg;
	store_count_cb cb = (store_count_cb)op->cb;
	int idx = op->n < 0 ? -op->n - 1 : op->n;
	long long count;

	if (!ok) {
		cb(op->arg, store_pg_status(sqlstate), 0, errstr);
	} else if (idx >= n || !res[idx]) {
		cb(op->arg, STORE_ERROR, 0, "store: missing result");
	} else if (op->n < 0) {
		count = PQntuples(res[idx]);
		if (count == 0)
			cb(op->arg, STORE_NOT_FOUND, 0, "no such memory for this user");
		else
			cb(op->arg, STORE_OK, count, NULL);
	} else {
		count = PQntuples(res[idx]) ? atoll(PQgetvalue(res[idx], 0, 0)) : 0;
		cb(op->arg, STORE_OK, count, NULL);
	}
	store_pg_op_free(op);
}

static int submit_count(struct store *s, int64_t user, const struct pg_stmt *st, int n, int idx, store_count_cb cb,
			void *arg)
{
	struct pg_op *op = store_pg_op_new(s, (void (*)(void))cb, arg);
	int rc;

	op->n = idx;
	rc = pgconn_submit(store_pg_conn_for(s, user), st, n, count_done, op);
	if (rc < 0)
		store_pg_op_free(op);
	return rc;
}

int store_pg_delete(struct store *s, int64_t user, const char *memory_id, const char *history_meta,
		    store_count_cb cb, void *arg)
{
	char uid[24], cls[16];
	const char *lock[2] = { cls, uid }, *vals[3] = { uid, memory_id, history_meta ? history_meta : "{}" };
	struct pg_stmt st[4] = {
		{ .sql = "BEGIN" },
		{ .sql = sql_lock, .nparams = 2, .values = lock },
		{ .sql = sql_delete_one, .nparams = 3, .values = vals },
		{ .sql = "COMMIT" },
	};

	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	snprintf(cls, sizeof(cls), "%d", STORE_LOCK_CLASS);
	return submit_count(s, user, st, 4, -3, cb, arg);
}

int store_pg_delete_all(struct store *s, int64_t user, bool purge, const char *history_meta, store_count_cb cb,
			void *arg)
{
	char uid[24], cls[16];
	const char *lock[2] = { cls, uid }, *vals[2] = { uid, history_meta ? history_meta : "{}" };
	struct pg_stmt st[7] = {
		{ .sql = "BEGIN" },
		{ .sql = sql_lock, .nparams = 2, .values = lock },
	};
	int n = 2;
	size_t i;

	if (purge) {
		for (i = 0; i < sizeof(sql_purge) / sizeof(sql_purge[0]); i++)
			st[n++] = (struct pg_stmt){ .sql = sql_purge[i], .nparams = 1, .values = vals };
	} else {
		st[n++] = (struct pg_stmt){ .sql = sql_delete_all, .nparams = 2, .values = vals };
	}
	st[n++] = (struct pg_stmt){ .sql = "COMMIT" };
	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	snprintf(cls, sizeof(cls), "%d", STORE_LOCK_CLASS);
	return submit_count(s, user, st, n, 2, cb, arg);
}

/* ---- stats ---- */

static void stats_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct pg_op *op = arg;
	store_stats_cb cb = (store_stats_cb)op->cb;
	struct store_stats st = { 0 };
	const PGresult *r;

	(void)n;
	if (!ok) {
		cb(op->arg, store_pg_status(sqlstate), NULL, errstr);
	} else {
		r = res[0];
		st.total_memories = atoll(PQgetvalue(r, 0, 0));
		st.last_memory_at = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
		st.history_rows = atoll(PQgetvalue(r, 0, 2));
		cb(op->arg, STORE_OK, &st, NULL);
	}
	store_pg_op_free(op);
}

int store_pg_stats(struct store *s, int64_t user, store_stats_cb cb, void *arg)
{
	char uid[24];
	const char *vals[1] = { uid };
	/* the trigger-kept count, not count(*): a big user's stats stay one row read */
	struct pg_stmt st = {
		.sql = "SELECT COALESCE(m.total_memories, 0), " STORE_PG_TS("m.last_memory_at") ", "
		       "(SELECT count(*) FROM mem0_history h WHERE h.user_id = $1) "
		       "FROM (SELECT 1) one LEFT JOIN mem0_metadata m "
		       "ON m.collection_name = 'chatsg_memories' AND m.user_id = $1",
		.nparams = 1,
		.values = vals,
	};

	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	return submit(s, user, &st, 1, stats_done, (void (*)(void))cb, arg);
}
