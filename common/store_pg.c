/*
 * store_pg: ingest half of the PostgreSQL backend (filter_keys, candidates,
 * apply) and the plumbing; the read path's operations are in
 * store_pg_read.c. Every statement filters on user_id.
 */
#include "store_pg.h"

#include "log.h"
#include "pgconn.h"
#include "store.h"
#include "store_pg_read.h"
#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUERY_VECS 16

struct store_pg {
	struct store base;
	struct pgconn **conns;
	int nconns;
	struct store_pg_hnsw_users *hnsw_users;	/* store_pg_read.c's */
	int ef_search;
};

void store_pg_set_session(struct store *s, const char *sql)
{
	struct store_pg *p = (struct store_pg *)s;
	int i;

	for (i = 0; i < p->nconns; i++)
		pgconn_set_session(p->conns[i], sql);
}

int store_pg_ef_search(struct store *s)
{
	return ((struct store_pg *)s)->ef_search;
}

void store_pg_set_ef_search(struct store *s, int ef_search)
{
	((struct store_pg *)s)->ef_search = ef_search;
}

struct store_pg_hnsw_users **store_pg_hnsw_users_slot(struct store *s)
{
	return &((struct store_pg *)s)->hnsw_users;
}

struct pgconn *store_pg_conn_for(struct store *s, long long user)
{
	struct store_pg *p = (struct store_pg *)s;
	long long i = user % p->nconns;

	return p->conns[i < 0 ? -i : i];
}

int store_pg_status(const char *sqlstate)
{
	if (!sqlstate || !sqlstate[0])
		return STORE_TRANSIENT;		/* connection lost */
	if (strcmp(sqlstate, "MW409") == 0)
		return STORE_CONFLICT;
	if (strcmp(sqlstate, "23503") == 0)	/* the chat app's users FK */
		return STORE_REJECTED;
	if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "40", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
	    strncmp(sqlstate, "57", 2) == 0 || strcmp(sqlstate, "55P03") == 0)
		return STORE_TRANSIENT;		/* connection, deadlock/serialization, resources, shutdown, lock */
	return STORE_ERROR;
}

char *store_pg_text_array(const char *const *items, int n)
{
	size_t cap = 3, len = 0;
	char *out;
	int i;

	for (i = 0; i < n; i++)
		cap += 2 * strlen(items[i]) + 3;
	out = mw_malloc(cap);
	out[len++] = '{';
	for (i = 0; i < n; i++) {
		const char *p;

		if (i)
			out[len++] = ',';
		out[len++] = '"';
		for (p = items[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				out[len++] = '\\';
			out[len++] = *p;
		}
		out[len++] = '"';
	}
	out[len++] = '}';
	out[len] = '\0';
	return out;
}

struct pg_op *store_pg_op_new(struct store *s, void (*cb)(void), void *arg)
{
	struct pg_op *op = mw_calloc(1, sizeof(*op));

	op->s = s;
	op->cb = cb;
	op->arg = arg;
	return op;
}

void store_pg_op_free(struct pg_op *op)
{
	free(op->kinds);
	free(op);
}

/* ---- filter_keys ---- */

static void filter_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct pg_op *op = arg;
	store_keys_cb cb = (store_keys_cb)op->cb;
	int nkeys = op->n, r;
	bool *seen;

	(void)n;
	if (!ok) {
		cb(op->arg, store_pg_status(sqlstate), NULL, 0, errstr);
		store_pg_op_free(op);
		return;
	}
	seen = mw_calloc((size_t)(nkeys ? nkeys : 1), sizeof(bool));
	for (r = 0; r < PQntuples(res[0]); r++) {
		int idx = atoi(PQgetvalue(res[0], r, 0));
		if (idx >= 1 && idx <= nkeys)
			seen[idx - 1] = true;
	}
	cb(op->arg, STORE_OK, seen, nkeys, NULL);
	free(seen);
	store_pg_op_free(op);
}

static int pg_filter_keys(struct store *s, int64_t user, const char *const *keys, int n, store_keys_cb cb, void *arg)
{
	char uid[24], *arr = store_pg_text_array(keys, n);
	const char *vals[2] = { uid, arr };
	/* ordinality gives back the caller's index of every key already logged */
	struct pg_stmt st = {
		.sql = "SELECT k.i FROM unnest($2::text[]) WITH ORDINALITY AS k(key, i) "
		       "JOIN mem0_ingest_log l ON l.user_id = $1 AND l.message_key = k.key",
		.nparams = 2,
		.values = vals,
		.prepare = true,
	};
	struct pg_op *op = store_pg_op_new(s, (void (*)(void))cb, arg);
	int rc;

	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	op->n = n;
	rc = pgconn_submit(store_pg_conn_for(s, user), &st, 1, filter_done, op);
	free(arr);
	if (rc < 0)
		store_pg_op_free(op);
	return rc;
}

/* ---- memories from result rows ---- */

static struct store_memory *rows_to_memories(const PGresult *r, int *n)
{
	int i, rows = PQntuples(r);
	struct store_memory *m = mw_calloc((size_t)(rows ? rows : 1), sizeof(*m));

	for (i = 0; i < rows; i++) {
		snprintf(m[i].id, sizeof(m[i].id), "%s", PQgetvalue(r, i, 0));
		m[i].text = PQgetvalue(r, i, 1);
		m[i].hash = PQgetvalue(r, i, 2);
		m[i].session_id = PQgetvalue(r, i, 3);
		m[i].metadata = PQgetvalue(r, i, 4);
		m[i].created_at = PQgetvalue(r, i, 5);
		m[i].updated_at = PQgetvalue(r, i, 6);
		m[i].score = PQnfields(r) > 7 ? atof(PQgetvalue(r, i, 7)) : 0;
	}
	*n = rows;
	return m;
}

void store_pg_mems_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct pg_op *op = arg;
	store_mems_cb cb = (store_mems_cb)op->cb;
	struct store_memory *m;
	int rows;

	if (!ok) {
		cb(op->arg, store_pg_status(sqlstate), NULL, 0, errstr);
		store_pg_op_free(op);
		return;
	}
	/* the memories are in the last statement's result */
	m = rows_to_memories(res[n - 1], &rows);
	cb(op->arg, STORE_OK, m, rows, NULL);
	free(m);
	store_pg_op_free(op);
}

/* ---- candidates ---- */

static int pg_candidates(struct store *s, int64_t user, const float *const *vecs, int nvec, int k, store_mems_cb cb,
			 void *arg)
{
	size_t vlen = 4 + 4 * (size_t)s->dims;
	const char *vals[2 + MAX_QUERY_VECS];
	int lens[2 + MAX_QUERY_VECS], fmts[2 + MAX_QUERY_VECS];
	unsigned char *bufs;
	char uid[24], lim[16], sql[8192];
	size_t len = 0;
	struct pg_stmt st;
	struct pg_op *op;
	int i, rc;

	if (nvec > MAX_QUERY_VECS)
		nvec = MAX_QUERY_VECS;
	if (nvec < 1)
		return -1;
	bufs = mw_malloc(vlen * (size_t)nvec);
	snprintf(uid, sizeof(uid), "%lld", (long long)user);
	snprintf(lim, sizeof(lim), "%d", k);
	vals[0] = uid;
	vals[1] = lim;
	lens[0] = lens[1] = 0;
	fmts[0] = fmts[1] = 0;
	/* Placeholders only: the SQL text never holds a value. */
	len += (size_t)snprintf(sql + len, sizeof(sql) - len,
				"SELECT * FROM (SELECT DISTINCT ON (c.id) " STORE_PG_MEM_COLS ", score FROM (");
	for (i = 0; i < nvec; i++) {
		if (vec_encode_pg(vecs[i], s->dims, bufs + vlen * (size_t)i, vlen) < 0) {
			free(bufs);
			return -1;
		}
		vals[2 + i] = (const char *)(bufs + vlen * (size_t)i);
		lens[2 + i] = (int)vlen;
		fmts[2 + i] = 1;
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
					"%s(SELECT *, 1 - (embedding <=> $%d::vector) AS score FROM mem0_memories "
					"WHERE user_id = $1 AND embedding IS NOT NULL "
					"ORDER BY embedding <=> $%d::vector LIMIT $2)",
					i ? " UNION ALL " : "", i + 3, i + 3);
	}
	snprintf(sql + len, sizeof(sql) - len, ") c ORDER BY c.id, c.score DESC) d ORDER BY score DESC LIMIT $2");
	st = (struct pg_stmt){ .sql = sql, .nparams = 2 + nvec, .values = vals, .lengths = lens, .formats = fmts,
			      .prepare = true };
	op = store_pg_op_new(s, (void (*)(void))cb, arg);
	rc = pgconn_submit(store_pg_conn_for(s, user), &st, 1, store_pg_mems_done, op);
	free(bufs);
	if (rc < 0)
		store_pg_op_free(op);
	return rc;
}

/* ---- apply ---- */

static const char sql_lock[] = "SELECT pg_advisory_xact_lock($1::int, $2::int)";

static const char sql_keys[] =
	"WITH ins AS (INSERT INTO mem0_ingest_log (user_id, message_key, stream_id) "
	"SELECT $1, k, s FROM unnest($2::text[], $3::text[]) AS t(k, s) ON CONFLICT DO NOTHING RETURNING 1) "
	"SELECT memworker_ingest_check($4::int, (SELECT count(*)::int FROM ins))";

static const char sql_add[] =
	"WITH m AS (INSERT INTO mem0_memories (user_id, session_id, memory, hash, embedding, metadata) "
	"VALUES ($1, $2, $3, $4, $5::vector, COALESCE($6::jsonb, '{}')) "
	"ON CONFLICT (user_id, hash) DO NOTHING RETURNING id, memory) "
	"INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, metadata) "
	"SELECT id, $1, 'created', NULL, memory, $7::jsonb FROM m RETURNING memory_id";

/* An update whose new text another memory of the user already holds is skipped. */
static const char sql_update[] =
	"WITH old AS (SELECT id, memory FROM mem0_memories WHERE id = $2::uuid AND user_id = $1 FOR UPDATE), "
	"upd AS (UPDATE mem0_memories m SET memory = $3, hash = $4, embedding = $5::vector "
	"FROM old WHERE m.id = old.id AND m.user_id = $1 AND NOT EXISTS "
	"(SELECT 1 FROM mem0_memories d WHERE d.user_id = $1 AND d.hash = $4 AND d.id <> old.id) "
	"RETURNING m.id, old.memory AS prev, m.memory AS cur) "
	"INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, metadata) "
	"SELECT id, $1, 'updated', prev, cur, $6::jsonb FROM upd RETURNING memory_id";

static const char sql_delete[] =
	"WITH d AS (DELETE FROM mem0_memories WHERE id = $2::uuid AND user_id = $1 RETURNING id, memory) "
	"INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, metadata) "
	"SELECT id, $1, 'deleted', memory, NULL, $3::jsonb FROM d RETURNING memory_id";

static void apply_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct pg_op *op = arg;
	store_apply_cb cb = (store_apply_cb)op->cb;
	struct store_apply_result r = { 0 };
	int i;

	if (!ok) {
		cb(op->arg, store_pg_status(sqlstate), NULL, errstr);
		store_pg_op_free(op);
		return;
	}
	/* res: BEGIN, lock, keys, changes..., COMMIT */
	for (i = 0; i < op->n && 3 + i < n - 1; i++) {
		bool took = PQntuples(res[3 + i]) > 0;

		if (!took)
			r.skipped++;
		else if (op->kinds[i] == STORE_ADD)
			r.added++;
		else if (op->kinds[i] == STORE_UPDATE)
			r.updated++;
		else
			r.deleted++;
	}
	cb(op->arg, STORE_OK, &r, NULL);
	store_pg_op_free(op);
}

/* Parameters of one statement: up to 7 values; vec is the binary one. */
struct stmt_params {
	const char *vals[8];
	int lens[8];
	int fmts[8];
};

static int pg_apply(struct store *s, const struct store_batch *b, store_apply_cb cb, void *arg)
{
	int nst = 3 + b->nchanges + 1, i, rc = -1;
	size_t vlen = 4 + 4 * (size_t)s->dims;
	struct pg_stmt *st = mw_calloc((size_t)nst, sizeof(*st));
	struct stmt_params *pp = mw_calloc((size_t)nst, sizeof(*pp));
	unsigned char *vbuf = mw_malloc(vlen * (size_t)(b->nchanges ? b->nchanges : 1));
	char uid[24], cls[16], nkeys[16];
	char *keys = store_pg_text_array(b->keys, b->nkeys);
	char *sids = store_pg_text_array(b->stream_ids, b->nkeys);
	const char *hmeta = b->history_meta ? b->history_meta : "{}";
	struct pg_op *op = store_pg_op_new(s, (void (*)(void))cb, arg);

	snprintf(uid, sizeof(uid), "%lld", (long long)b->user);
	snprintf(cls, sizeof(cls), "%d", STORE_LOCK_CLASS);
	snprintf(nkeys, sizeof(nkeys), "%d", b->nkeys);
	op->n = b->nchanges;
	op->kinds = mw_calloc((size_t)(b->nchanges ? b->nchanges : 1), sizeof(*op->kinds));

	st[0].sql = "BEGIN";
	pp[1].vals[0] = cls;
	pp[1].vals[1] = uid;
	st[1] = (struct pg_stmt){ .sql = sql_lock, .nparams = 2, .values = pp[1].vals, .prepare = true };
	pp[2].vals[0] = uid;
	pp[2].vals[1] = keys;
	pp[2].vals[2] = sids;
	pp[2].vals[3] = nkeys;
	st[2] = (struct pg_stmt){ .sql = sql_keys, .nparams = 4, .values = pp[2].vals, .prepare = true };
	for (i = 0; i < b->nchanges; i++) {
		const struct store_change *c = &b->changes[i];
		struct stmt_params *p = &pp[3 + i];
		unsigned char *v = vbuf + vlen * (size_t)i;

		op->kinds[i] = c->kind;
		p->vals[0] = uid;
		switch (c->kind) {
		case STORE_ADD:
			if (vec_encode_pg(c->embedding, s->dims, v, vlen) < 0)
				goto out;
			p->vals[1] = c->session_id;
			p->vals[2] = c->text;
			p->vals[3] = c->hash;
			p->vals[4] = (const char *)v;
			p->lens[4] = (int)vlen;
			p->fmts[4] = 1;
			p->vals[5] = c->metadata;
			p->vals[6] = hmeta;
			st[3 + i] = (struct pg_stmt){ .sql = sql_add, .nparams = 7, .values = p->vals,
						      .lengths = p->lens, .formats = p->fmts, .prepare = true };
			break;
		case STORE_UPDATE:
			if (vec_encode_pg(c->embedding, s->dims, v, vlen) < 0)
				goto out;
			p->vals[1] = c->memory_id;
			p->vals[2] = c->text;
			p->vals[3] = c->hash;
			p->vals[4] = (const char *)v;
			p->lens[4] = (int)vlen;
			p->fmts[4] = 1;
			p->vals[5] = hmeta;
			st[3 + i] = (struct pg_stmt){ .sql = sql_update, .nparams = 6, .values = p->vals,
						      .lengths = p->lens, .formats = p->fmts, .prepare = true };
			break;
		case STORE_DELETE:
			p->vals[1] = c->memory_id;
			p->vals[2] = hmeta;
			st[3 + i] = (struct pg_stmt){ .sql = sql_delete, .nparams = 3, .values = p->vals,
						      .prepare = true };
			break;
		}
	}
	st[nst - 1].sql = "COMMIT";
	rc = pgconn_submit(store_pg_conn_for(s, b->user), st, nst, apply_done, op);
out:
	if (rc < 0)
		store_pg_op_free(op);
	free(st);
	free(pp);
	free(vbuf);
	free(keys);
	free(sids);
	return rc;
}

/* ---- lifetime ---- */

void store_pg_set_prepare(struct store *s, bool on)
{
	struct store_pg *p = (struct store_pg *)s;
	int i;

	for (i = 0; i < p->nconns; i++)
		pgconn_set_prepare(p->conns[i], on);
}

static bool pg_ready(const struct store *s)
{
	const struct store_pg *p = (const struct store_pg *)s;
	int i;

	for (i = 0; i < p->nconns; i++)
		if (!pgconn_ready(p->conns[i]))
			return false;
	return true;
}

static void pg_free(struct store *s)
{
	struct store_pg *p = (struct store_pg *)s;
	int i;

	store_pg_read_close(s);
	for (i = 0; i < p->nconns; i++)
		pgconn_free(p->conns[i]);
	store_pg_read_free(s);
	free(p->conns);
	free(p);
}

static const struct store_vt pg_vt = {
	.name = "pgvector",
	.filter_keys = pg_filter_keys,
	.candidates = pg_candidates,
	.apply = pg_apply,
	.search = store_pg_search,
	.get = store_pg_get,
	.get_all = store_pg_get_all,
	.history = store_pg_history,
	.delete_one = store_pg_delete,
	.delete_all = store_pg_delete_all,
	.stats = store_pg_stats,
	.ready = pg_ready,
	.free = pg_free,
};

struct store *store_pg_new(struct event_base *base, const char *conninfo, int dims, int nconns)
{
	struct store_pg *p = mw_calloc(1, sizeof(*p));
	int i;

	p->base.vt = &pg_vt;
	p->base.dims = dims;
	p->nconns = nconns > 0 ? nconns : 1;
	p->ef_search = STORE_PG_EF_SEARCH_DEFAULT;
	p->conns = mw_calloc((size_t)p->nconns, sizeof(*p->conns));
	for (i = 0; i < p->nconns; i++) {
		char name[32];

		snprintf(name, sizeof(name), "store%d", i);
		p->conns[i] = pgconn_new(base, conninfo, name, NULL, NULL);
	}
	return &p->base;
}
