/*
 * xfer_pg: a migrated PostgreSQL database as memctl's reader and writer
 * (xfer.h), on one blocking libpq connection. Reading is one REPEATABLE
 * READ transaction through cursors (a large table never sits in memory);
 * writing one transaction that takes each user's advisory lock, as the
 * worker's apply does, before it touches the user's rows.
 */
#include "xfer.h"

#include "log.h"
#include "store.h"
#include "vec.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_ROWS "500"
#define TS(col)    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

struct xpg {
	struct xfer_store base;
	PGconn *conn;
	long long *locked; /* users whose lock this transaction holds */
	size_t nlocked, caplocked;
	float *vec;
	unsigned char *vbuf; /* pgvector binary form */
	size_t vlen;
};

static void set_err(struct xpg *x, const char *what)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(x->conn));
	msg[strcspn(msg, "\n")] = '\0';
	snprintf(x->base.err, sizeof(x->base.err), "%.300s: %.100s: %s", x->base.name, what, msg);
}

/* Runs sql with text parameters (and at most one binary: index bin, -1 none); NULL with err on failure. */
static PGresult *exec(struct xpg *x, const char *sql, int n, const char *const *vals, int bin, const char *what)
{
	int lens[12] = {0}, fmts[12] = {0};
	PGresult *r;
	ExecStatusType st;

	if (bin >= 0) {
		lens[bin] = (int)x->vlen;
		fmts[bin] = vals[bin] ? 1 : 0;
	}
	r = PQexecParams(x->conn, sql, n, NULL, vals, lens, fmts, 0);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_err(x, what);
		PQclear(r);
		return NULL;
	}
	return r;
}

static int exec_simple(struct xpg *x, const char *sql, const char *what)
{
	PGresult *r = exec(x, sql, 0, NULL, -1, what);

	PQclear(r);
	return r ? 0 : -1;
}

static const char *val(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* ---- reading ---- */

static int pg_read_begin(struct xfer_store *s)
{
	return exec_simple((struct xpg *)s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
}

typedef int (*pg_row_fn)(struct xpg *x, const PGresult *r, int row, const struct row_to *to);

/* Declares a cursor for sql and hands every row to row(). */
static int each_row(struct xpg *x, const char *sql, pg_row_fn row, const struct row_to *to)
{
	size_t n = strlen(sql) + 64;
	char *decl = mw_malloc(n);
	int rc = -1, i;

	snprintf(decl, n, "DECLARE xfer_c NO SCROLL CURSOR FOR %s", sql);
	if (exec_simple(x, decl, "declare cursor") < 0)
		goto out;
	for (;;) {
		PGresult *r = exec(x, "FETCH " FETCH_ROWS " FROM xfer_c", 0, NULL, -1, "fetch");

		if (!r)
			goto out;
		for (i = 0; i < PQntuples(r); i++) {
			if (row(x, r, i, to) < 0) {
				PQclear(r);
				goto out;
			}
		}
		i = PQntuples(r);
		PQclear(r);
		if (i == 0)
			break;
	}
	rc = exec_simple(x, "CLOSE xfer_c", "close cursor");
out:
	free(decl);
	return rc;
}

static int memory_row(struct xpg *x, const PGresult *r, int row, const struct row_to *to)
{
	struct xfer_memory m = {.user = atoll(PQgetvalue(r, row, 1))};
	const char *emb = val(r, row, 6);

	snprintf(m.id, sizeof(m.id), "%s", PQgetvalue(r, row, 0));
	m.session_id = val(r, row, 2);
	m.text = val(r, row, 3);
	m.hash = val(r, row, 4);
	m.metadata = val(r, row, 5);
	m.created_at = val(r, row, 7);
	m.updated_at = val(r, row, 8);
	if (emb) {
		if (vec_parse_text(emb, x->vec, x->base.dims) != x->base.dims) {
			snprintf(x->base.err, sizeof(x->base.err), "%s: memory %s: embedding not %d floats",
			         x->base.name, m.id, x->base.dims);
			return -1;
		}
		m.embedding = x->vec;
	}
	return to->memory(to->arg, &m);
}

static int pg_each_memory(struct xfer_store *s, xfer_memory_fn fn, void *arg)
{
	return each_row(
	        (struct xpg *)s,
	        "SELECT id::text, user_id, session_id, memory, hash, COALESCE(metadata, '{}')::text, "
	        "embedding::text, " TS("COALESCE(created_at, updated_at, now())") ", " TS(
	                "COALESCE(updated_at, created_at, now())") " FROM mem0_memories ORDER BY created_at, id",
	        memory_row, &(struct row_to){.memory = fn, .arg = arg});
}

static int history_row(struct xpg *x, const PGresult *r, int row, const struct row_to *to)
{
	struct xfer_history h = {.id = atoll(PQgetvalue(r, row, 0)), .user = atoll(PQgetvalue(r, row, 2))};

	(void)x;
	snprintf(h.memory_id, sizeof(h.memory_id), "%s", PQgetvalue(r, row, 1));
	h.action = val(r, row, 3);
	h.previous_content = val(r, row, 4);
	h.new_content = val(r, row, 5);
	h.metadata = val(r, row, 6);
	h.created_at = val(r, row, 7);
	return to->history(to->arg, &h);
}

static int pg_each_history(struct xfer_store *s, xfer_history_fn fn, void *arg)
{
	return each_row(
	        (struct xpg *)s,
	        "SELECT id, memory_id::text, user_id, action, previous_content, new_content, metadata::text, " TS(
	                "created_at") " FROM mem0_history ORDER BY id",
	        history_row, &(struct row_to){.history = fn, .arg = arg});
}

static int ingest_row(struct xpg *x, const PGresult *r, int row, const struct row_to *to)
{
	struct xfer_ingest l = {.user = atoll(PQgetvalue(r, row, 0))};

	(void)x;
	l.message_key = val(r, row, 1);
	l.stream_id = val(r, row, 2);
	l.applied_at = val(r, row, 3);
	return to->ingest(to->arg, &l);
}

static int pg_each_ingest(struct xfer_store *s, xfer_ingest_fn fn, void *arg)
{
	return each_row((struct xpg *)s,
	                "SELECT user_id, message_key, stream_id, " TS("applied_at") " FROM mem0_ingest_log", ingest_row,
	                &(struct row_to){.ingest = fn, .arg = arg});
}

static int counts_row(struct xpg *x, const PGresult *r, int row, const struct row_to *to)
{
	(void)x;
	return to->counts(to->arg, atoll(PQgetvalue(r, row, 0)), val(r, row, 1));
}

static int pg_each_counts(struct xfer_store *s, xfer_counts_fn fn, void *arg)
{
	return each_row((struct xpg *)s,
	                "SELECT user_id, " TS("last_memory_at") " FROM mem0_metadata "
	                                                        "WHERE collection_name = 'chatsg_memories'",
	                counts_row, &(struct row_to){.counts = fn, .arg = arg});
}

/* ---- writing ---- */

static int pg_write_begin(struct xfer_store *s)
{
	struct xpg *x = (struct xpg *)s;

	x->nlocked = 0;
	return exec_simple(x, "BEGIN", "begin");
}

/* The worker's per-user advisory lock, once per user per transaction. */
static int lock_user(struct xpg *x, long long user)
{
	char cls[16], uid[24];
	const char *vals[2] = {cls, uid};
	PGresult *r;
	size_t i;

	for (i = 0; i < x->nlocked; i++)
		if (x->locked[i] == user)
			return 0;
	snprintf(cls, sizeof(cls), "%d", STORE_LOCK_CLASS);
	snprintf(uid, sizeof(uid), "%lld", user);
	r = exec(x, "SELECT pg_advisory_xact_lock($1::int, $2::int)", 2, vals, -1, "lock user");
	if (!r)
		return -1;
	PQclear(r);
	if (x->nlocked == x->caplocked) {
		x->caplocked = x->caplocked ? x->caplocked * 2 : 64;
		x->locked = mw_realloc(x->locked, x->caplocked * sizeof(*x->locked));
	}
	x->locked[x->nlocked++] = user;
	return 0;
}

#define PG_HASH(id)                                                                                                    \
	"CASE WHEN EXISTS (SELECT 1 FROM mem0_memories d WHERE d.user_id = $2::int AND d.hash = $5 AND "               \
	"d.id <> " id ") THEN $5 || ':' || (" id ")::text ELSE $5 END"

static enum xfer_put pg_put_memory(struct xfer_store *s, const struct xfer_memory *m, bool *renamed)
{
	struct xpg *x = (struct xpg *)s;
	char uid[24];
	const char *vals[9];
	PGresult *r;
	enum xfer_put res;

	*renamed = false;
	if (lock_user(x, m->user) < 0)
		return XFER_FAILED;
	snprintf(uid, sizeof(uid), "%lld", m->user);
	vals[0] = m->id;
	vals[1] = uid;
	vals[2] = m->session_id ? m->session_id : "";
	vals[3] = m->text;
	vals[4] = m->hash;
	vals[5] = NULL;
	if (m->embedding) {
		if (vec_encode_pg(m->embedding, s->dims, x->vbuf, x->vlen) < 0) {
			snprintf(s->err, sizeof(s->err), "memory %s: embedding has a NaN or infinite component", m->id);
			return XFER_FAILED;
		}
		vals[5] = (const char *)x->vbuf;
	}
	vals[6] = m->metadata;
	vals[7] = m->created_at;
	vals[8] = m->updated_at ? m->updated_at : m->created_at;
	r = exec(x,
	         "INSERT INTO mem0_memories (id, user_id, session_id, memory, hash, embedding, metadata, created_at, "
	         "updated_at) SELECT $1::uuid, $2::int, $3, $4, " PG_HASH(
	                 "$1::uuid") ", $6::vector, "
	                             "COALESCE($7::jsonb, '{}'), $8::timestamptz, $9::timestamptz "
	                             "WHERE NOT EXISTS (SELECT 1 FROM mem0_memories WHERE id = $1::uuid) RETURNING "
	                             "hash <> $5",
	         9, vals, 5, "insert memory");
	if (!r)
		return XFER_FAILED;
	if (PQntuples(r) == 1) {
		*renamed = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
		return XFER_INSERTED;
	}
	PQclear(r);
	/*
	 * There already: a newer copy that differs wins ($8 is updated_at here).
	 * "Differs" matters: the chat app's trigger stamps updated_at with the
	 * time of this update, so a copy moved back would otherwise look newer.
	 */
	vals[7] = vals[8];
	r = exec(x,
	         "UPDATE mem0_memories m SET session_id = $3, memory = $4, hash = " PG_HASH(
	                 "m.id") ", "
	                         "embedding = $6::vector, metadata = COALESCE($7::jsonb, '{}'), updated_at = "
	                         "$8::timestamptz "
	                         "WHERE m.id = $1::uuid AND m.user_id = $2::int AND m.updated_at < $8::timestamptz "
	                         "AND (m.memory IS DISTINCT FROM $4 OR m.session_id IS DISTINCT FROM $3 "
	                         "OR m.embedding IS DISTINCT FROM $6::vector OR m.metadata IS DISTINCT FROM "
	                         "COALESCE($7::jsonb, '{}')) "
	                         "RETURNING m.hash <> $5",
	         8, vals, 5, "update memory");
	if (!r)
		return XFER_FAILED;
	res = PQntuples(r) == 1 ? XFER_UPDATED : XFER_PRESENT;
	if (res == XFER_UPDATED)
		*renamed = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return res;
}

static enum xfer_put pg_put_history(struct xfer_store *s, const struct xfer_history *h, bool *deleted)
{
	struct xpg *x = (struct xpg *)s;
	char id[24], uid[24];
	const char *vals[8] = {h->id > 0 ? id : NULL, h->memory_id,   uid,         h->action,
	                       h->previous_content,   h->new_content, h->metadata, h->created_at};
	PGresult *r;
	int took;

	*deleted = false;
	if (lock_user(x, h->user) < 0)
		return XFER_FAILED;
	snprintf(id, sizeof(id), "%lld", h->id);
	snprintf(uid, sizeof(uid), "%lld", h->user);
	r = exec(x,
	         "INSERT INTO mem0_history (id, memory_id, user_id, action, previous_content, new_content, metadata, "
	         "created_at) SELECT CASE WHEN $1::int IS NULL OR EXISTS (SELECT 1 FROM mem0_history WHERE id = "
	         "$1::int) THEN nextval(pg_get_serial_sequence('mem0_history', 'id')) ELSE $1::int END, "
	         "$2::uuid, $3::int, $4::text, $5::text, $6::text, $7::jsonb, $8::timestamptz "
	         "WHERE NOT EXISTS (SELECT 1 FROM mem0_history h WHERE h.user_id = $3::int AND h.memory_id = $2::uuid "
	         "AND h.action = $4::text AND h.created_at IS NOT DISTINCT FROM $8::timestamptz "
	         "AND h.previous_content IS NOT DISTINCT FROM $5::text AND h.new_content IS NOT DISTINCT FROM $6::text "
	         "AND (h.metadata->>'mem0_history_id') IS NOT DISTINCT FROM ($7::jsonb->>'mem0_history_id')) "
	         "RETURNING id",
	         8, vals, -1, "insert history");
	if (!r)
		return XFER_FAILED;
	took = PQntuples(r);
	PQclear(r);
	if (!took)
		return XFER_PRESENT;
	if (strcmp(h->action, "deleted") == 0 && h->created_at) {
		/* a deletion the target had not seen: unless its copy changed afterwards */
		const char *dv[3] = {h->memory_id, uid, h->created_at};

		r = exec(x,
		         "DELETE FROM mem0_memories WHERE id = $1::uuid AND user_id = $2::int "
		         "AND (updated_at IS NULL OR updated_at <= $3::timestamptz) RETURNING 1",
		         3, dv, -1, "delete memory");
		if (!r)
			return XFER_FAILED;
		*deleted = PQntuples(r) > 0;
		PQclear(r);
	}
	return XFER_INSERTED;
}

static enum xfer_put pg_put_ingest(struct xfer_store *s, const struct xfer_ingest *l)
{
	struct xpg *x = (struct xpg *)s;
	char uid[24];
	const char *vals[4] = {uid, l->message_key, l->stream_id, l->applied_at};
	PGresult *r;
	int took;

	if (lock_user(x, l->user) < 0)
		return XFER_FAILED;
	snprintf(uid, sizeof(uid), "%lld", l->user);
	r = exec(x,
	         "INSERT INTO mem0_ingest_log (user_id, message_key, stream_id, applied_at) "
	         "VALUES ($1::int, $2, $3, COALESCE($4::timestamptz, CURRENT_TIMESTAMP)) ON CONFLICT DO NOTHING "
	         "RETURNING 1",
	         4, vals, -1, "insert ingest log");
	if (!r)
		return XFER_FAILED;
	took = PQntuples(r);
	PQclear(r);
	return took ? XFER_INSERTED : XFER_PRESENT;
}

static int pg_fix_counts(struct xfer_store *s, long long user, const char *last)
{
	struct xpg *x = (struct xpg *)s;
	char uid[24];
	const char *vals[2] = {uid, last};
	PGresult *r;

	if (lock_user(x, user) < 0)
		return -1;
	snprintf(uid, sizeof(uid), "%lld", user);
	r = exec(x,
	         "INSERT INTO mem0_metadata (user_id, total_memories, last_memory_at) "
	         "SELECT $1::int, (SELECT count(*) FROM mem0_memories WHERE user_id = $1::int), $2::timestamptz "
	         "WHERE $2::timestamptz IS NOT NULL OR EXISTS (SELECT 1 FROM mem0_memories WHERE user_id = $1::int) "
	         "ON CONFLICT (collection_name, user_id) DO UPDATE SET total_memories = EXCLUDED.total_memories, "
	         "last_memory_at = GREATEST(mem0_metadata.last_memory_at, EXCLUDED.last_memory_at) "
	         "WHERE mem0_metadata.total_memories IS DISTINCT FROM EXCLUDED.total_memories "
	         "OR mem0_metadata.last_memory_at IS DISTINCT FROM "
	         "GREATEST(mem0_metadata.last_memory_at, EXCLUDED.last_memory_at)",
	         2, vals, -1, "counts");
	PQclear(r);
	return r ? 0 : -1;
}

static int pg_commit(struct xfer_store *s)
{
	struct xpg *x = (struct xpg *)s;

	/* rows kept their ids: the id sequence must move past them */
	if (exec_simple(
	            x,
	            "SELECT setval(q::regclass, GREATEST(COALESCE((SELECT max(id) FROM mem0_history), 1), "
	            "nextval(q::regclass))) FROM pg_get_serial_sequence('mem0_history', 'id') AS q WHERE q IS NOT NULL",
	            "history id sequence") < 0)
		return -1;
	return exec_simple(x, "COMMIT", "commit");
}

static void pg_rollback(struct xfer_store *s)
{
	struct xpg *x = (struct xpg *)s;

	if (PQtransactionStatus(x->conn) != PQTRANS_IDLE)
		PQclear(PQexec(x->conn, "ROLLBACK"));
}

static void pg_close(struct xfer_store *s)
{
	struct xpg *x = (struct xpg *)s;

	pg_rollback(s);
	PQfinish(x->conn);
	free(x->locked);
	free(x->vec);
	free(x->vbuf);
	free(x);
}

static const struct xfer_vt pg_vt = {
        .read_begin = pg_read_begin,
        .each_memory = pg_each_memory,
        .each_history = pg_each_history,
        .each_ingest = pg_each_ingest,
        .each_counts = pg_each_counts,
        .write_begin = pg_write_begin,
        .put_memory = pg_put_memory,
        .put_history = pg_put_history,
        .put_ingest = pg_put_ingest,
        .fix_counts = pg_fix_counts,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .close = pg_close,
};

struct xfer_store *xfer_pg_open(const char *conninfo, char *err, size_t errlen)
{
	PGconn *conn = PQconnectdb(conninfo);
	struct xpg *x;
	PGresult *r;

	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[512];

		/* libpq's message names host and port, never the password */
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", msg);
		PQfinish(conn);
		return NULL;
	}
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	r = PQexec(conn, "SELECT current_database(), "
	                 "(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
	                 " WHERE a.attrelid = to_regclass('mem0_memories') AND a.attname = 'embedding' "
	                 " AND NOT a.attisdropped), "
	                 "(SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = to_regclass('mem0_memories') "
	                 " AND a.attname = 'embedding' AND NOT a.attisdropped), "
	                 "to_regclass('mem0_ingest_log') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(conn));
		err[strcspn(err, "\n")] = '\0';
		goto fail;
	}
	if (PQgetisnull(r, 0, 1) || strncmp(PQgetvalue(r, 0, 1), "vector", 6) != 0 ||
	    strcmp(PQgetvalue(r, 0, 3), "t") != 0) {
		snprintf(err, errlen, "PostgreSQL database \"%s\" has not got memworker's schema: run memctl migrate",
		         PQgetvalue(r, 0, 0));
		goto fail;
	}
	x = mw_calloc(1, sizeof(*x));
	x->base.vt = &pg_vt;
	x->conn = conn;
	x->base.dims = atoi(PQgetvalue(r, 0, 2));
	x->vec = mw_malloc(sizeof(float) * (size_t)(x->base.dims > 0 ? x->base.dims : 1));
	x->vlen = vec_pg_size(x->base.dims);
	x->vbuf = mw_malloc(x->vlen);
	snprintf(x->base.name, sizeof(x->base.name), "PostgreSQL database \"%s\"", PQgetvalue(r, 0, 0));
	PQclear(r);
	return &x->base;
fail:
	PQclear(r);
	PQfinish(conn);
	return NULL;
}
