/*
 * The read path's store operations (store_pg_read.c) against a real
 * PostgreSQL: user isolation in every operation, session and metadata
 * filters, threshold and limit, delete with history, delete_all with and
 * without purge, stats, get_all paging, and exact per-user recall with and
 * without an HNSW index.
 */
#include "searchtest.h"
#include "store.h"
#include "store_pg.h"
#include "store_pg_read.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIMS 8

/* What a callback brought back, copied out. */
struct got {
	bool done;
	enum store_status st;
	int n;
	char ids[64][40];
	char texts[64][128];
	char sessions[64][64];
	double scores[64];
	char actions[64][16];
	long long count;
	struct store_stats stats;
	char last_at[40];
};

static void mems_cb(void *arg, enum store_status st, const struct store_memory *m, int n, const char *errstr)
{
	struct got *g = arg;
	int i;

	(void)errstr;
	g->st = st;
	g->n = n;
	for (i = 0; i < n && i < 64; i++) {
		snprintf(g->ids[i], sizeof(g->ids[i]), "%s", m[i].id);
		snprintf(g->texts[i], sizeof(g->texts[i]), "%s", m[i].text);
		snprintf(g->sessions[i], sizeof(g->sessions[i]), "%s", m[i].session_id);
		g->scores[i] = m[i].score;
	}
	g->done = true;
}

static void hist_cb(void *arg, enum store_status st, const struct store_history *h, int n, const char *errstr)
{
	struct got *g = arg;
	int i;

	(void)errstr;
	g->st = st;
	g->n = n;
	for (i = 0; i < n && i < 64; i++) {
		snprintf(g->ids[i], sizeof(g->ids[i]), "%s", h[i].memory_id);
		snprintf(g->actions[i], sizeof(g->actions[i]), "%s", h[i].action);
	}
	g->done = true;
}

static void count_cb(void *arg, enum store_status st, long long n, const char *errstr)
{
	struct got *g = arg;

	cr_expect(st == STORE_OK || st == STORE_NOT_FOUND, "store error: %s", errstr ? errstr : "");
	g->st = st;
	g->count = n;
	g->done = true;
}

static void stats_cb(void *arg, enum store_status st, const struct store_stats *s, const char *errstr)
{
	struct got *g = arg;

	(void)errstr;
	g->st = st;
	if (s) {
		g->stats = *s;
		snprintf(g->last_at, sizeof(g->last_at), "%s", s->last_memory_at ? s->last_memory_at : "");
		g->stats.last_memory_at = NULL;
	}
	g->done = true;
}

struct fx {
	struct event_base *base;
	struct store *s;
	PGconn *conn;
	char db[64];
};

static void fx_open(struct fx *f, bool hnsw)
{
	f->base = event_base_new();
	f->conn = stest_db("srch", DIMS, hnsw, f->db);
	f->s = stest_store(f->base, f->db, DIMS);
}

static void fx_close(struct fx *f)
{
	store_free(f->s);
	event_base_free(f->base);
	PQfinish(f->conn);
}

static void search(struct fx *f, struct got *g, int user, const float *v, int limit, double threshold,
		   const char *session, const char *filters)
{
	struct store_search q = { .user = user, .vec = v, .limit = limit, .threshold = threshold,
				  .session_id = session, .filters = filters };

	memset(g, 0, sizeof(*g));
	cr_assert_eq(store_search(f->s, &q, mems_cb, g), 0);
	stest_wait(f->base, &g->done, 5000);
	cr_assert_eq(g->st, STORE_OK, "search failed");
}

/* Two users holding near-identical memories. */
static void two_users(struct fx *f, char ids1[3][40], char ids2[3][40])
{
	float v[DIMS];

	stest_vec(v, DIMS, 0, 0.0f);
	stest_insert(f->conn, 1, "s1", "Likes green tea", "{\"topic\":\"food\"}", v, DIMS, ids1[0]);
	stest_vec(v, DIMS, 0, 0.01f);
	stest_insert(f->conn, 2, "s1", "Likes green tea!", "{\"topic\":\"food\"}", v, DIMS, ids2[0]);
	stest_vec(v, DIMS, 1, 0.0f);
	stest_insert(f->conn, 1, "s2", "Has a cat named Tom", "{\"topic\":\"pets\"}", v, DIMS, ids1[1]);
	stest_vec(v, DIMS, 1, 0.01f);
	stest_insert(f->conn, 2, "s2", "Has a cat named Tom!", "{\"topic\":\"pets\"}", v, DIMS, ids2[1]);
	stest_vec(v, DIMS, 2, 0.0f);
	stest_insert(f->conn, 1, "s2", "Works as a nurse", "{\"topic\":\"work\",\"n\":3}", v, DIMS, ids1[2]);
	stest_vec(v, DIMS, 2, 0.01f);
	stest_insert(f->conn, 2, "s2", "Works as a nurse!", "{\"topic\":\"work\",\"n\":3}", v, DIMS, ids2[2]);
}

static bool has_id(const struct got *g, const char *id)
{
	int i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->ids[i], id) == 0)
			return true;
	return false;
}

Test(search_store, users_never_see_each_other, .init = tenv_require_servers)
{
	struct fx f;
	char a[3][40], b[3][40];
	float v[DIMS];
	struct got g;
	int i;

	fx_open(&f, false);
	two_users(&f, a, b);

	stest_vec(v, DIMS, 0, 0.005f);
	search(&f, &g, 1, v, 10, 0, NULL, NULL);
	cr_expect_eq(g.n, 3);
	for (i = 0; i < 3; i++) {
		cr_expect(has_id(&g, a[i]));
		cr_expect_not(has_id(&g, b[i]), "user 1 sees user 2's memory");
	}
	cr_expect_str_eq(g.texts[0], "Likes green tea", "best first");
	cr_expect(g.scores[0] > 0.99 && g.scores[0] <= 1.0, "score is similarity: %f", g.scores[0]);
	cr_expect(g.scores[0] >= g.scores[1] && g.scores[1] >= g.scores[2]);

	/* get of the other's id is not found */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_get(f.s, 1, b[0], mems_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_NOT_FOUND);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_get(f.s, 1, a[0], mems_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_OK);
	cr_expect_eq(g.n, 1);
	cr_expect_str_eq(g.texts[0], "Likes green tea");

	/* get_all: only own */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_get_all(f.s, 2, NULL, 100, 0, mems_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.n, 3);
	for (i = 0; i < 3; i++)
		cr_expect(has_id(&g, b[i]));

	/* history of the other's memory is not found */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_history(f.s, 1, b[1], hist_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_NOT_FOUND);

	/* delete of the other's id: not found, and the row stays */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_delete(f.s, 1, b[1], NULL, count_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_NOT_FOUND);
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM mem0_memories WHERE user_id = 2"), 3);

	/* stats: own counts only */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_stats(f.s, 1, stats_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_OK);
	cr_expect_eq(g.stats.total_memories, 3);
	cr_expect_eq(g.stats.history_rows, 3);
	cr_expect(strlen(g.last_at) >= 20, "last_memory_at is a timestamp: '%s'", g.last_at);

	/* a user with nothing */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_stats(f.s, 99, stats_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.stats.total_memories, 0);
	cr_expect_eq(g.stats.history_rows, 0);
	cr_expect_str_eq(g.last_at, "");
	search(&f, &g, 99, v, 10, 0, NULL, NULL);
	cr_expect_eq(g.n, 0);
	fx_close(&f);
}

Test(search_store, filters_threshold_limit, .init = tenv_require_servers)
{
	struct fx f;
	char a[3][40], b[3][40];
	float v[DIMS];
	struct got g;

	fx_open(&f, false);
	two_users(&f, a, b);
	stest_vec(v, DIMS, 0, 0.005f);

	search(&f, &g, 1, v, 10, 0, "s2", NULL);
	cr_expect_eq(g.n, 2, "session s2 has two");
	cr_expect_str_eq(g.sessions[0], "s2");
	cr_expect_not(has_id(&g, a[0]));

	search(&f, &g, 1, v, 10, 0, NULL, "{\"topic\":\"work\"}");
	cr_expect_eq(g.n, 1);
	cr_expect_str_eq(g.ids[0], a[2]);
	search(&f, &g, 1, v, 10, 0, NULL, "{\"topic\":\"work\",\"n\":3.0}");
	cr_expect_eq(g.n, 1, "numbers compare as numbers");
	search(&f, &g, 1, v, 10, 0, "s1", "{\"topic\":\"work\"}");
	cr_expect_eq(g.n, 0, "session and filter together");
	search(&f, &g, 1, v, 10, 0, NULL, "{\"topic\":\"nothing\"}");
	cr_expect_eq(g.n, 0);

	search(&f, &g, 1, v, 10, 0.9, NULL, NULL);
	cr_expect_eq(g.n, 1, "only the close one passes 0.9");
	search(&f, &g, 1, v, 10, 0.9, "s2", NULL);
	cr_expect_eq(g.n, 0);
	search(&f, &g, 1, v, 2, 0, NULL, NULL);
	cr_expect_eq(g.n, 2, "limit");
	search(&f, &g, 1, v, 1, 0, NULL, NULL);
	cr_expect_eq(g.n, 1);
	cr_expect_str_eq(g.ids[0], a[0]);
	fx_close(&f);
}

Test(search_store, delete_then_search_and_history, .init = tenv_require_servers)
{
	struct fx f;
	char a[3][40], b[3][40];
	float v[DIMS];
	struct got g;

	fx_open(&f, false);
	two_users(&f, a, b);
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_delete(f.s, 1, a[0], "{\"by\":\"test\"}", count_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_OK);
	cr_expect_eq(g.count, 1);

	stest_vec(v, DIMS, 0, 0.0f);
	search(&f, &g, 1, v, 10, 0, NULL, NULL);
	cr_expect_eq(g.n, 2);
	cr_expect_not(has_id(&g, a[0]), "deleted memory still found");

	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_history(f.s, 1, a[0], hist_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_OK);
	cr_assert_eq(g.n, 2, "created + deleted");
	cr_expect_str_eq(g.actions[0], "created", "oldest first");
	cr_expect_str_eq(g.actions[1], "deleted");
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM mem0_history WHERE action = 'deleted' "
					   "AND metadata->>'by' = 'test' AND previous_content = 'Likes green tea'"),
		     1);

	/* deleting again: not found */
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_delete(f.s, 1, a[0], NULL, count_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.st, STORE_NOT_FOUND);
	/* the other user's twin is untouched */
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM mem0_memories WHERE user_id = 2"), 3);
	fx_close(&f);
}

static long long user_rows_anywhere(PGconn *conn, int user)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT (SELECT count(*) FROM mem0_memories WHERE user_id = %d) + "
		 "(SELECT count(*) FROM mem0_history WHERE user_id = %d) + "
		 "(SELECT count(*) FROM mem0_ingest_log WHERE user_id = %d) + "
		 "(SELECT count(*) FROM mem0_metadata WHERE user_id = %d)",
		 user, user, user, user);
	return tenv_pg_count(conn, sql);
}

Test(search_store, delete_all_keeps_history_and_purge_erases, .init = tenv_require_servers)
{
	struct fx f;
	char a[3][40], b[3][40];
	struct got g;

	fx_open(&f, false);
	two_users(&f, a, b);
	PQclear(tenv_pg_exec(f.conn, "INSERT INTO mem0_ingest_log (user_id, message_key) VALUES (1, 'm1'), (2, 'm1')"));

	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_delete_all(f.s, 1, false, NULL, count_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.count, 3);
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM mem0_memories WHERE user_id = 1"), 0);
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM mem0_history WHERE user_id = 1 AND action = 'deleted'"),
		     3);
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT total_memories FROM mem0_metadata WHERE user_id = 1"), 0);
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM mem0_ingest_log WHERE user_id = 1"), 1,
		     "without purge the ingest log stays (replays must not bring memories back)");

	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_delete_all(f.s, 1, true, NULL, count_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.count, 0);
	cr_expect_eq(user_rows_anywhere(f.conn, 1), 0, "purge left rows of user 1");

	/* purge straight away on user 2 */
	memset(&g, 0, sizeof(g));
	PQclear(tenv_pg_exec(f.conn, "INSERT INTO mem0_ingest_log (user_id, message_key) VALUES (3, 'm1')"));
	cr_assert_eq(store_delete_all(f.s, 2, true, NULL, count_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_expect_eq(g.count, 3);
	cr_expect_eq(user_rows_anywhere(f.conn, 2), 0);
	cr_expect_eq(user_rows_anywhere(f.conn, 3), 1, "another user's rows stay");
	fx_close(&f);
}

Test(search_store, get_all_pages_newest_first, .init = tenv_require_servers)
{
	struct fx f;
	char id[40], sql[256];
	float v[DIMS];
	struct got g;
	int i;

	fx_open(&f, false);
	for (i = 0; i < 7; i++) {
		char text[32];

		snprintf(text, sizeof(text), "memory %d", i);
		stest_vec(v, DIMS, i, 0);
		stest_insert(f.conn, 5, i % 2 ? "odd" : "even", text, NULL, v, DIMS, id);
		snprintf(sql, sizeof(sql), "UPDATE mem0_memories SET created_at = now() + interval '%d seconds' "
					   "WHERE id = '%s'", i, id);
		PQclear(tenv_pg_exec(f.conn, sql));
	}
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_get_all(f.s, 5, NULL, 3, 0, mems_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_assert_eq(g.n, 3);
	cr_expect_str_eq(g.texts[0], "memory 6");
	cr_expect_str_eq(g.texts[2], "memory 4");
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_get_all(f.s, 5, NULL, 3, 6, mems_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_assert_eq(g.n, 1);
	cr_expect_str_eq(g.texts[0], "memory 0");
	memset(&g, 0, sizeof(g));
	cr_assert_eq(store_get_all(f.s, 5, "odd", 10, 0, mems_cb, &g), 0);
	stest_wait(f.base, &g.done, 5000);
	cr_assert_eq(g.n, 3);
	cr_expect_str_eq(g.texts[0], "memory 5");
	cr_expect_str_eq(g.sessions[2], "odd");
	fx_close(&f);
}

/*
 * The HNSW index the plan the store would use for this search scans
 * (store_pg_search_sql: the same statements and settings), "" for none.
 */
static void plan_hnsw_index(PGconn *conn, int user, const float *v, char *index, size_t index_len)
{
	struct store_search q = { .user = user, .vec = v, .limit = 10 };
	struct store_pg_search_sql sql;
	char uid[16], minrows[16], ef[16], vt[256], explain[8192];
	const char *cv[2] = { uid, minrows }, *ev[1] = { ef }, *sv[3] = { uid, vt, "10" };
	bool heavy;
	PGresult *r;
	size_t len = 0;
	int i;

	store_pg_search_sql(&q, STORE_PG_EF_SEARCH_DEFAULT, &sql);
	snprintf(uid, sizeof(uid), "%d", user);
	snprintf(minrows, sizeof(minrows), "%d", STORE_PG_HNSW_MIN_ROWS);
	snprintf(ef, sizeof(ef), "%d", sql.ef_search);
	len += (size_t)snprintf(vt + len, sizeof(vt) - len, "[");
	for (i = 0; i < DIMS; i++)
		len += (size_t)snprintf(vt + len, sizeof(vt) - len, "%s%g", i ? "," : "", (double)v[i]);
	snprintf(vt + len, sizeof(vt) - len, "]");
	r = PQexecParams(conn, sql.choice, 2, NULL, cv, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
	heavy = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	PQclear(tenv_pg_exec(conn, "BEGIN"));
	if (heavy)
		PQclear(PQexecParams(conn, sql.hnsw_setup, 1, NULL, ev, NULL, NULL, 0));
	snprintf(explain, sizeof(explain), "EXPLAIN %s", heavy ? sql.hnsw : sql.exact);
	r = PQexecParams(conn, explain, sql.nparams, NULL, sv, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(conn));
	index[0] = '\0';
	for (i = 0; i < PQntuples(r); i++) {
		const char *line = PQgetvalue(r, i, 0), *at = strstr(line, "Index Scan using ");

		if (at && strstr(at, "hnsw"))
			snprintf(index, index_len, "%.*s", (int)strcspn(at + 17, " "), at + 17);
	}
	PQclear(r);
	PQclear(tenv_pg_exec(conn, "COMMIT"));
}

static bool plan_uses_hnsw(PGconn *conn, int user, const float *v)
{
	char index[128];

	plan_hnsw_index(conn, user, v, index, sizeof(index));
	return index[0] != '\0';
}

/*
 * Exact recall: many users, an HNSW index, and one user's top 10 compared
 * with a brute-force ordering computed in SQL without any index.
 */
static void recall_case(bool hnsw)
{
	struct fx f;
	float v[DIMS];
	struct got g;
	PGresult *r;
	int i, q;

	fx_open(&f, hnsw);
	/* 300 users x 40 memories, random directions */
	PQclear(tenv_pg_exec(f.conn,
			     "INSERT INTO mem0_memories (user_id, session_id, memory, hash, embedding) "
			     "SELECT u, 's', 'm' || u || '-' || i, md5('m' || u || '-' || i), "
			     "(SELECT array_agg(random() - 0.5)::real[] FROM generate_series(1, 8) g WHERE g > 0 * u * i)::vector "
			     "FROM generate_series(1, 300) u, generate_series(1, 40) i"));
	PQclear(tenv_pg_exec(f.conn, "ANALYZE mem0_memories"));
	for (q = 0; q < 20; q++) {
		char sql[1024], vt[256];
		size_t len = 0;
		int user = 1 + q * 13;

		for (i = 0; i < DIMS; i++)
			v[i] = (float)((q * 7 + i * 3) % 11) - 5.0f;
		len += (size_t)snprintf(vt + len, sizeof(vt) - len, "[");
		for (i = 0; i < DIMS; i++)
			len += (size_t)snprintf(vt + len, sizeof(vt) - len, "%s%g", i ? "," : "", (double)v[i]);
		snprintf(vt + len, sizeof(vt) - len, "]");
		search(&f, &g, user, v, 10, 0, NULL, NULL);
		cr_assert_eq(g.n, 10);
		snprintf(sql, sizeof(sql),
			 "SET enable_indexscan = off; SET enable_bitmapscan = off; "
			 "SELECT id::text FROM mem0_memories WHERE user_id = %d ORDER BY embedding <=> '%s', id LIMIT 10",
			 user, vt);
		r = tenv_pg_exec(f.conn, sql);
		for (i = 0; i < 10; i++)
			cr_expect_str_eq(g.ids[i], PQgetvalue(r, i, 0), "query %d rank %d differs from brute force", q, i);
		PQclear(r);
		PQclear(tenv_pg_exec(f.conn, "RESET enable_indexscan; RESET enable_bitmapscan"));
	}
	cr_expect_not(plan_uses_hnsw(f.conn, 1, v), "a typical user's search goes through the HNSW index");
	fx_close(&f);
}

Test(search_store, exact_recall_without_hnsw, .init = tenv_require_servers)
{
	recall_case(false);
}

Test(search_store, exact_recall_with_hnsw_index, .init = tenv_require_servers)
{
	recall_case(true);
}

/* A user over the HNSW threshold still gets a full, correctly ordered answer. */
Test(search_store, heavy_user_through_hnsw, .init = tenv_require_servers, .timeout = 300)
{
	struct fx f;
	float v[DIMS];
	struct got g;
	PGresult *r;
	int i, hits = 0;

	fx_open(&f, true);
	PQclear(tenv_pg_exec(f.conn,
			     "INSERT INTO mem0_memories (user_id, session_id, memory, hash, embedding) "
			     "SELECT CASE WHEN i <= 21000 THEN 7 ELSE 1000 + i % 500 END, 's', 'm' || i, md5('m' || i), "
			     "(SELECT array_agg(random() - 0.5)::real[] FROM generate_series(1, 8) g WHERE g > 0 * i)::vector "
			     "FROM generate_series(1, 40000) i"));
	PQclear(tenv_pg_exec(f.conn, "ANALYZE mem0_memories"));
	for (i = 0; i < DIMS; i++)
		v[i] = (float)(i % 3) - 1.0f;
	search(&f, &g, 7, v, 10, 0, NULL, NULL);
	cr_assert_eq(g.n, 10, "the HNSW branch returns a full page");
	cr_expect(plan_uses_hnsw(f.conn, 7, v), "the heavy user's search does not use the HNSW index");
	cr_expect_not(plan_uses_hnsw(f.conn, 1001, v), "a typical user's search goes through the HNSW index");
	for (i = 1; i < 10; i++)
		cr_expect(g.scores[i - 1] >= g.scores[i], "ordered by score");
	r = tenv_pg_exec(f.conn, "SET enable_indexscan = off; SELECT id::text FROM mem0_memories WHERE user_id = 7 "
				 "ORDER BY embedding <=> '[-1,0,1,-1,0,1,-1,0]' LIMIT 10");
	for (i = 0; i < 10; i++)
		hits += has_id(&g, PQgetvalue(r, i, 0));
	PQclear(r);
	cr_expect_geq(hits, 8, "recall@10 of the approximate branch: %d/10", hits);
	/* with a session filter the search is exact again */
	search(&f, &g, 7, v, 10, 0, "s", NULL);
	cr_expect_eq(g.n, 10);
	fx_close(&f);
}

/* Runs memctl with the fixture's database; returns its exit status, output in *out. */
static int memctl(struct fx *f, char **out, const char *a1, const char *a2, const char *a3)
{
	char bin[512], port[32], dbenv[96], *err = NULL;
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"hnsw", (char *)a1, (char *)a2,
			 (char *)a3, NULL };
	char *env[] = { port, dbenv, (char *)"POSTGRES_HOST=127.0.0.1", (char *)"POSTGRES_USER=postgres",
			(char *)"MEM0_EMBEDDING_DIMS=8", (char *)"MEM0_MODELS=openai", NULL };
	int rc;

	snprintf(port, sizeof(port), "POSTGRES_PORT=%d", tenv_pg_port());
	snprintf(dbenv, sizeof(dbenv), "POSTGRES_DB=%s", f->db);
	rc = tenv_run(argv, env, out, &err);
	if (rc != 0)
		cr_log_warn("memctl hnsw: %s", err ? err : "");
	free(err);
	return rc;
}

/* Whether an index was scanned (a busy backend's statistics may take PostgreSQL's 10 s idle interval). */
static bool index_scanned(PGconn *conn, const char *index)
{
	const char *vals[1] = { index };
	long long until = tenv_now_ms() + 15000;

	do {
		PGresult *r = PQexecParams(conn, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1", 1,
					   NULL, vals, NULL, NULL, 0);
		bool seen = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			    atoll(PQgetvalue(r, 0, 0)) > 0;

		PQclear(r);
		if (seen)
			return true;
		PQclear(tenv_pg_exec(conn, "SELECT pg_stat_clear_snapshot()"));
		usleep(100000);
	} while (tenv_now_ms() < until);
	return false;
}

static long long indexes_named(PGconn *conn, long long user)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_indexes WHERE tablename = 'mem0_memories' AND indexname = '"
		 STORE_PG_USER_INDEX_PREFIX "%lld'", user);
	return tenv_pg_count(conn, sql);
}

/*
 * memctl hnsw gives a large user an index of his own (and nobody else one);
 * a fresh store sends that user's searches through it, with the same answer
 * as brute force, others stay exact; when the user shrinks, the index goes.
 */
/* the heavy test's timeout: Criterion 2.4 leaks a watchdog entry when overlapping tests' timeouts differ */
Test(search_store, user_index_built_used_and_dropped, .init = tenv_require_servers, .timeout = 300)
{
	struct fx f;
	float v[DIMS];
	struct got g;
	char index[128], *out = NULL;
	PGresult *r;
	int i, hits = 0;

	fx_open(&f, false);
	/* as memsearch's sessions are (store_open): generic plans, but not for the HNSW search */
	store_pg_set_session(f.s, "SET plan_cache_mode = force_generic_plan");
	PQclear(tenv_pg_exec(f.conn,
			     "INSERT INTO mem0_memories (user_id, session_id, memory, hash, embedding) "
			     "SELECT CASE WHEN i <= 600 THEN 7 ELSE 1000 + i % 50 END, 's', 'm' || i, md5('m' || i), "
			     "(SELECT array_agg(random() - 0.5)::real[] FROM generate_series(1, 8) g WHERE g > 0 * i)::vector "
			     "FROM generate_series(1, 1600) i"));
	PQclear(tenv_pg_exec(f.conn, "ANALYZE mem0_memories"));
	cr_assert_eq(memctl(&f, &out, "--min-rows", "500", "--dry-run"), 0);
	cr_expect(strstr(out, "user 7 (600 memories): would build"), "dry run: %s", out);
	cr_expect_null(strstr(out, "user 10"), "only user 7 is due: %s", out);
	free(out);
	cr_expect_eq(indexes_named(f.conn, 7), 0, "a dry run builds nothing");

	cr_assert_eq(memctl(&f, &out, "--min-rows", "500", NULL), 0);
	cr_expect(strstr(out, "user 7: index " STORE_PG_USER_INDEX_PREFIX "7 built"), "%s", out);
	free(out);
	cr_expect_eq(indexes_named(f.conn, 7), 1);
	cr_expect_eq(tenv_pg_count(f.conn, "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '"
					   STORE_PG_USER_INDEX_PREFIX "%'"), 1, "nobody else gets one");
	cr_assert_eq(memctl(&f, &out, "--min-rows", "500", NULL), 0);
	cr_expect(strstr(out, "nothing to do"), "a second run changes nothing: %s", out);
	free(out);
	cr_assert_eq(memctl(&f, &out, "--list", "--min-rows", "500"), 0);
	cr_expect(strstr(out, "valid"), "%s", out);
	free(out);

	for (i = 0; i < DIMS; i++)
		v[i] = (float)(i % 3) - 1.0f;
	plan_hnsw_index(f.conn, 7, v, index, sizeof(index));
	cr_expect_str_eq(index, STORE_PG_USER_INDEX_PREFIX "7", "the big user's plan");
	cr_expect_not(plan_uses_hnsw(f.conn, 1001, v), "a typical user's search goes through an HNSW index");
	/* the store reads its list of HNSW users on the first search: this one is fresh */
	search(&f, &g, 7, v, 10, 0, NULL, NULL);
	cr_assert_eq(g.n, 10);
	cr_expect(index_scanned(f.conn, STORE_PG_USER_INDEX_PREFIX "7"),
		  "the store's search did not go through the user's own index");
	r = tenv_pg_exec(f.conn, "SET enable_indexscan = off; SELECT id::text FROM mem0_memories WHERE user_id = 7 "
				 "ORDER BY embedding <=> '[-1,0,1,-1,0,1,-1,0]', id LIMIT 10");
	for (i = 0; i < 10; i++)
		hits += has_id(&g, PQgetvalue(r, i, 0));
	PQclear(r);
	cr_expect_geq(hits, 9, "recall@10 through the user's own index: %d/10", hits);
	PQclear(tenv_pg_exec(f.conn, "RESET enable_indexscan"));
	search(&f, &g, 1001, v, 10, 0, NULL, NULL);
	cr_expect_eq(g.n, 10);
	for (i = 0; i < g.n; i++)
		cr_expect_str_eq(g.sessions[i], "s");

	/* under half of --min-rows: dropped */
	PQclear(tenv_pg_exec(f.conn, "DELETE FROM mem0_memories WHERE user_id = 7 AND memory > 'm3'"));
	cr_assert_eq(memctl(&f, &out, "--min-rows", "500", NULL), 0);
	cr_expect(strstr(out, "user 7: index " STORE_PG_USER_INDEX_PREFIX "7 dropped"), "%s", out);
	free(out);
	cr_expect_eq(indexes_named(f.conn, 7), 0);
	/* one user by hand, and back */
	cr_assert_eq(memctl(&f, &out, "--user", "1001", NULL), 0);
	free(out);
	cr_expect_eq(indexes_named(f.conn, 1001), 1);
	cr_assert_eq(memctl(&f, &out, "--user", "1001", "--drop"), 0);
	free(out);
	cr_expect_eq(indexes_named(f.conn, 1001), 0);
	fx_close(&f);
}

/* MEM0_HNSW_EF_SEARCH reaches the HNSW search's candidate list; never under 2 x limit, never over 1000. */
Test(search_store, ef_search_from_setting_and_limit)
{
	struct store_search q = { .user = 1, .limit = 10 };
	struct store_pg_search_sql sql;

	store_pg_search_sql(&q, 40, &sql);
	cr_expect_eq(sql.ef_search, 40);
	store_pg_search_sql(&q, 300, &sql);
	cr_expect_eq(sql.ef_search, 300);
	q.limit = 200;
	store_pg_search_sql(&q, 40, &sql);
	cr_expect_eq(sql.ef_search, 400);
	q.limit = 800;
	store_pg_search_sql(&q, 40, &sql);
	cr_expect_eq(sql.ef_search, 1000);
}
