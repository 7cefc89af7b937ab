/*
 * store_pg_read: the read path's half of the PostgreSQL backend (search,
 * get, get_all, history, delete, delete_all, stats). Each operation is one
 * pgconn job, so one round trip, on the user's connection; every statement
 * filters on user_id. The plans are recorded in search/PLANS.md.
 *
 * search is exact per user: the user's rows come through a B-tree on
 * (user_id, ...), their cosine distances are computed and sorted, so recall
 * is 1.0. An HNSW index is used only for the users listed by
 * sql_hnsw_users: those with an index of their own (a partial index made by
 * memctl hnsw), and, when the table has a global one (MEM0_HNSW=true),
 * those with at least STORE_PG_HNSW_MIN_ROWS memories; then with pgvector
 * 0.8's strict-order iterative scan, so a filter on user_id cannot starve
 * it. The list is read once and refreshed in the background, so a search is
 * one round trip.
 */
#include "store_pg.h"
#include "store_pg_read.h"

#include "log.h"
#include "pgconn.h"
#include "store.h"
#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


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

/*
 * Reads need no order among themselves (a client's next request comes after
 * the reply to its last, and every write commits before its reply), so they
 * go to the least loaded of a few connections: one busy user (a heavy search,
 * a burst) does not queue everyone else mapped to its connection, and a
 * single user's concurrent searches spread. Writes stay on the user's own.
 * A connection answers its jobs in order, so the load counts what a job
 * costs, not just that it is there: an HNSW search weighs
 * STORE_PG_HNSW_WEIGHT, and the exact searches of typical users go around
 * it instead of waiting it out.
 */
#define READ_SPREAD 4

static struct pgconn *read_conn(struct store *s, int64_t user)
{
	struct pgconn *best = NULL;
	int k;

	for (k = 0; k < READ_SPREAD; k++) {
		struct pgconn *c = store_pg_conn_for(s, user + k);

		if (pgconn_ready(c) && (!best || pgconn_load(c) < pgconn_load(best)))
			best = c;
	}
	return best ? best : store_pg_conn_for(s, user);
}

static int submit_weighted(struct store *s, int64_t user, const struct pg_stmt *st, int n, int weight,
			   pgconn_cb done, void (*cb)(void), void *arg)
{
	struct pg_op *op = store_pg_op_new(s, cb, arg);
	int rc = pgconn_submit_weighted(read_conn(s, user), st, n, weight, done, op);

	if (rc < 0)
		store_pg_op_free(op);
	return rc;
}

static int submit(struct store *s, int64_t user, const struct pg_stmt *st, int n, pgconn_cb done, void (*cb)(void),
		  void *arg)
{
	return submit_weighted(s, user, st, n, 1, done, cb, arg);
}

/* ---- search ---- */

/*
 * Columns of a search, formatted after the top-N is chosen (to_char and
 * the casts run for the limit's rows, not for every row of the user).
 */
#define SEARCH_COLS STORE_PG_MEM_COLS ", 1 - d AS score"
#define SEARCH_RAW "id, memory, hash, session_id, metadata, created_at, updated_at"

/*
 * The exact plan: the OFFSET 0 fence keeps the subquery from being pulled
 * up, so its rows come from the B-tree on user_id and no ORDER BY ... <=>
 * can be matched to an HNSW index; the sort is a top-N heapsort.
 * Parameters: $1 user, $2 vector, $3 limit, then the optional ones.
 */
static void build_exact(char *sql, size_t len, const struct store_search *q, int *nparams)
{
	char extra[256] = "", outer[128] = "";
	size_t e = 0;
	int p = 3;

	if (q->session_id)
		e += (size_t)snprintf(extra + e, sizeof(extra) - e, " AND session_id = $%d", ++p);
	if (q->filters)
		e += (size_t)snprintf(extra + e, sizeof(extra) - e, " AND metadata @> $%d::jsonb", ++p);
	if (q->threshold > 0)
		snprintf(outer, sizeof(outer), " WHERE 1 - d >= $%d::float8", ++p);
	*nparams = p;
	snprintf(sql, len,
		 "SELECT " SEARCH_COLS " FROM (SELECT " SEARCH_RAW ", d FROM (SELECT " SEARCH_RAW
		 ", embedding <=> $2::vector AS d FROM mem0_memories WHERE user_id = $1 AND embedding IS NOT NULL%s "
		 "OFFSET 0) e%s ORDER BY d, id LIMIT $3) top ORDER BY d, id",
		 extra, outer);
}

/*
 * The approximate plan, for a heavy user when an HNSW index exists: the
 * index scan with the user filter applied during pgvector 0.8's strict
 * order iterative scan (it goes on until the limit is met), LIMIT inside,
 * the threshold outside (pgvector's advice for distance filters).
 */
static void build_hnsw(char *sql, size_t len, const struct store_search *q, int *nparams)
{
	char outer[128] = "";
	int p = 3;

	if (q->threshold > 0)
		snprintf(outer, sizeof(outer), " WHERE 1 - d >= $%d::float8", ++p);
	*nparams = p;
	snprintf(sql, len,
		 "SELECT " SEARCH_COLS " FROM (SELECT " SEARCH_RAW ", embedding <=> $2::vector AS d FROM mem0_memories "
		 "WHERE user_id = $1 ORDER BY embedding <=> $2::vector LIMIT $3) h%s ORDER BY d, id",
		 outer);
}

/*
 * The users whose searches take the HNSW plan: those with a valid index of
 * their own (STORE_PG_USER_INDEX_PREFIX<id>, partial on user_id), and, if a
 * valid global HNSW index exists, those with at least $1 memories (the
 * trigger-kept count in mem0_metadata); MIN is that count's parameter.
 */
#define SQL_HNSW_USERS(MIN)                                                                                         \
	"SELECT user_id FROM mem0_metadata WHERE collection_name = 'chatsg_memories' AND total_memories >= " MIN   \
	"::int "                                                                                                    \
	"AND EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "                             \
	"JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'mem0_memories'::regclass AND a.amname = 'hnsw' "       \
	"AND i.indpred IS NULL AND i.indisvalid) "                                                                  \
	"UNION SELECT substr(c.relname, length('" STORE_PG_USER_INDEX_PREFIX "') + 1)::bigint "                    \
	"FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "                                                  \
	"WHERE i.indrelid = 'mem0_memories'::regclass AND i.indisvalid "                                           \
	"AND c.relname ~ '^" STORE_PG_USER_INDEX_PREFIX "[0-9]+$'"

static const char sql_hnsw_users[] = SQL_HNSW_USERS("$1") " ORDER BY 1";

/* The same for one user ($1), as one boolean: what tools EXPLAINing a search ask. */
static const char sql_plan_choice[] = "SELECT $1::bigint IN (" SQL_HNSW_USERS("$2") ")";

/*
 * Transaction-local settings of the HNSW plan: the iterative scan, a wider
 * candidate list, no JIT (compiling costs more than the query runs), and
 * no explicit sort, which makes the index the planner's only ordered path
 * (without it a 50,000-row user may be estimated cheaper by sorting), and
 * a plan made for the parameters' values whatever the session says
 * (memsearch's sessions force generic plans; a user's own index is partial
 * and only matches a plan that knows the user).
 */
static const char sql_hnsw_setup[] =
	"SELECT set_config('hnsw.iterative_scan', 'strict_order', true), set_config('hnsw.ef_search', $1, true), "
	"set_config('jit', 'off', true), set_config('enable_sort', 'off', true), "
	"set_config('plan_cache_mode', 'force_custom_plan', true)";

void store_pg_search_sql(const struct store_search *q, int ef_search, struct store_pg_search_sql *out)
{
	int ef = 2 * q->limit > ef_search ? 2 * q->limit : ef_search, n;

	out->ef_search = ef > 1000 ? 1000 : ef;
	/* a narrowed search is always exact: a session or a filter can be far smaller than the user */
	out->choice = q->session_id || q->filters ? "" : sql_plan_choice;
	out->hnsw_setup = sql_hnsw_setup;
	build_exact(out->exact, sizeof(out->exact), q, &out->nparams);
	build_hnsw(out->hnsw, sizeof(out->hnsw), q, &n);
}

/* A search until its job is sent (it may wait for the list of HNSW users). */
struct search_op {
	struct search_op *next;		/* waiting for the list */
	struct store *s;
	store_mems_cb cb;
	void *arg;
	int64_t user;
	unsigned char *vbuf;
	int vlen;
	char uid[24], lim[16], thr[32], ef[16];
	char *session_id, *filters;
	const char *vals[6];
	int lens[6], fmts[6];
	int nparams;
	struct store_pg_search_sql sql;
};

static void search_op_free(struct search_op *so)
{
	free(so->vbuf);
	free(so->session_id);
	free(so->filters);
	free(so);
}

/* BEGIN, setup, search, COMMIT: the memories are the third statement's. */
static void hnsw_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	store_pg_mems_done(arg, ok, res, ok && n == 4 ? 3 : n, errstr, sqlstate);
}

static int search_run(struct search_op *so, bool hnsw)
{
	const char *ev[1] = { so->ef };
	struct pg_stmt st[4];

	if (!hnsw) {
		st[0] = (struct pg_stmt){ .sql = so->sql.exact, .nparams = so->nparams, .values = so->vals,
					  .lengths = so->lens, .formats = so->fmts, .prepare = true };
		return submit(so->s, so->user, st, 1, store_pg_mems_done, (void (*)(void))so->cb, so->arg);
	}
	st[0] = (struct pg_stmt){ .sql = "BEGIN" };
	st[1] = (struct pg_stmt){ .sql = so->sql.hnsw_setup, .nparams = 1, .values = ev };
	st[2] = (struct pg_stmt){ .sql = so->sql.hnsw, .nparams = so->nparams, .values = so->vals, .lengths = so->lens,
				  .formats = so->fmts };
	st[3] = (struct pg_stmt){ .sql = "COMMIT" };
	return submit_weighted(so->s, so->user, st, 4, STORE_PG_HNSW_WEIGHT, hnsw_done, (void (*)(void))so->cb,
			       so->arg);
}

/* ---- the list of HNSW users ---- */

struct store_pg_hnsw_users {
	int64_t *ids;			/* sorted */
	int n;
	long long loaded_ms;		/* 0: never loaded */
	bool loading, closing;
	struct search_op *waiting, **waiting_tail;	/* plain searches that came before the first load */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct store_pg_hnsw_users *hnsw_users(struct store *s)
{
	struct store_pg_hnsw_users **slot = store_pg_hnsw_users_slot(s);

	if (!*slot) {
		*slot = mw_calloc(1, sizeof(**slot));
		(*slot)->waiting_tail = &(*slot)->waiting;
	}
	return *slot;
}

static bool hnsw_listed(const struct store_pg_hnsw_users *h, int64_t user)
{
	int lo = 0, hi = h->n - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (h->ids[mid] == user)
			return true;
		if (h->ids[mid] < user)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* Runs (or, when closing, fails) the searches that waited for the first load. */
static void run_waiting(struct store_pg_hnsw_users *h)
{
	struct search_op *so = h->waiting;

	h->waiting = NULL;
	h->waiting_tail = &h->waiting;
	while (so) {
		struct search_op *next = so->next;

		if (h->closing)
			so->cb(so->arg, STORE_TRANSIENT, NULL, 0, "shutting down");
		else if (search_run(so, hnsw_listed(h, so->user)) < 0)
			so->cb(so->arg, STORE_TRANSIENT, NULL, 0, "PostgreSQL connection lost");
		search_op_free(so);
		so = next;
	}
}

static void hnsw_users_loaded(void *arg, bool ok, PGresult *const *res, int n, const char *errstr,
			      const char *sqlstate)
{
	struct store_pg_hnsw_users *h = arg;
	int i;

	(void)n;
	(void)sqlstate;
	h->loading = false;
	if (h->closing)
		return;
	if (ok) {
		free(h->ids);
		h->n = PQntuples(res[0]);
		h->ids = mw_calloc((size_t)(h->n ? h->n : 1), sizeof(*h->ids));
		for (i = 0; i < h->n; i++)
			h->ids[i] = strtoll(PQgetvalue(res[0], i, 0), NULL, 10);
		h->loaded_ms = now_ms();
	} else {
		/* searches stay as the last list had them (exact when there was none); retry in a second */
		log_warn("store_pg: reading the users that search through HNSW failed: %s", errstr);
		h->loaded_ms = now_ms() - STORE_PG_HNSW_USERS_TTL_MS + 1000;
	}
	run_waiting(h);
}

/* Sends the list's query on the first connection; -1 while it is down. */
static int hnsw_users_load(struct store *s, struct store_pg_hnsw_users *h)
{
	char minrows[16];
	const char *vals[1] = { minrows };
	struct pg_stmt st = { .sql = sql_hnsw_users, .nparams = 1, .values = vals, .prepare = true };

	snprintf(minrows, sizeof(minrows), "%d", STORE_PG_HNSW_MIN_ROWS);
	if (pgconn_submit(store_pg_conn_for(s, 0), &st, 1, hnsw_users_loaded, h) < 0)
		return -1;
	h->loading = true;
	return 0;
}

void store_pg_read_close(struct store *s)
{
	struct store_pg_hnsw_users *h = *store_pg_hnsw_users_slot(s);

	if (!h)
		return;
	h->closing = true;
	run_waiting(h);
}

void store_pg_read_free(struct store *s)
{
	struct store_pg_hnsw_users **slot = store_pg_hnsw_users_slot(s);

	if (!*slot)
		return;
	free((*slot)->ids);
	free(*slot);
	*slot = NULL;
}

/* ---- search ---- */

int store_pg_search(struct store *s, const struct store_search *q, store_mems_cb cb, void *arg)
{
	struct store_pg_hnsw_users *h;
	struct search_op *so;
	int p = 3, rc;

	if (q->limit < 1)
		return -1;
	so = mw_calloc(1, sizeof(*so));
	so->s = s;
	so->cb = cb;
	so->arg = arg;
	so->user = q->user;
	so->vlen = 4 + 4 * s->dims;
	so->vbuf = mw_malloc((size_t)so->vlen);
	if (vec_encode_pg(q->vec, s->dims, so->vbuf, (size_t)so->vlen) < 0) {
		search_op_free(so);
		return -1;
	}
	snprintf(so->uid, sizeof(so->uid), "%lld", (long long)q->user);
	snprintf(so->lim, sizeof(so->lim), "%d", q->limit);
	snprintf(so->thr, sizeof(so->thr), "%.17g", q->threshold);
	so->vals[0] = so->uid;
	so->vals[1] = (const char *)so->vbuf;
	so->vals[2] = so->lim;
	so->lens[1] = so->vlen;
	so->fmts[1] = 1;
	/* session and filters are copied: a search may wait for the list of HNSW users */
	if (q->session_id)
		so->vals[p++] = so->session_id = mw_strdup(q->session_id);
	if (q->filters)
		so->vals[p++] = so->filters = mw_strdup(q->filters);
	if (q->threshold > 0)
		so->vals[p++] = so->thr;
	store_pg_search_sql(q, store_pg_ef_search(s), &so->sql);
	so->nparams = so->sql.nparams;
	snprintf(so->ef, sizeof(so->ef), "%d", so->sql.ef_search);
	if (!so->sql.choice[0]) {
		rc = search_run(so, false);
		search_op_free(so);
		return rc;
	}
	h = hnsw_users(s);
	if (h->loaded_ms == 0) {
		/* the first searches wait for the list: one round trip more, once */
		if (!h->loading && hnsw_users_load(s, h) < 0) {
			search_op_free(so);
			return -1;
		}
		*h->waiting_tail = so;
		h->waiting_tail = &so->next;
		return 0;
	}
	if (!h->loading && now_ms() - h->loaded_ms >= STORE_PG_HNSW_USERS_TTL_MS)
		(void)hnsw_users_load(s, h);	/* in the background; down now, tried again next search */
	rc = search_run(so, hnsw_listed(h, q->user));
	search_op_free(so);
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
		.prepare = true,
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
		.prepare = true,
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
		.prepare = true,
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
		.prepare = true,
	};

	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	return submit(s, user, &st, 1, stats_done, (void (*)(void))cb, arg);
}
