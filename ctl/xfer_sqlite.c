/*
 * xfer_sqlite: a SQLite store file (store_sqlite.h) as memctl's reader and
 * writer (xfer.h). Reading is one read transaction (a WAL snapshot);
 * writing one BEGIN IMMEDIATE transaction, which waits for the daemons'
 * writes like any other writer of the file.
 */
#include "xfer.h"

#include "log.h"
#include "store_sqlite.h"
#include "vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xsq {
	struct xfer_store base;
	sqlite3 *db;
	float *vec;
};

static int fail(struct xsq *x, const char *what)
{
	snprintf(x->base.err, sizeof(x->base.err), "%s: %s: %s", x->base.name, what, sqlite3_errmsg(x->db));
	return -1;
}

static sqlite3_stmt *prep(struct xsq *x, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fail(x, "prepare");
		return NULL;
	}
	return st;
}

static const char *text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* ---- reading ---- */

static int sq_read_begin(struct xfer_store *s)
{
	struct xsq *x = (struct xsq *)s;

	if (sqlite3_exec(x->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(x->db, "SELECT count(*) FROM mem0_memories", NULL, NULL, NULL) != SQLITE_OK)
		return fail(x, "begin");
	return 0;
}

/* Steps st to the end, calling row() on every row; -1 if row() or SQLite stops. */
static int each_row(struct xsq *x, sqlite3_stmt *st, int (*row)(struct xsq *, sqlite3_stmt *, const struct row_to *),
                    const struct row_to *to)
{
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (row(x, st, to) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(x, "read");
}

static int memory_row(struct xsq *x, sqlite3_stmt *st, const struct row_to *to)
{
	struct xfer_memory m = {.user = sqlite3_column_int64(st, 1)};
	const void *blob = sqlite3_column_blob(st, 6);

	snprintf(m.id, sizeof(m.id), "%s", text(st, 0));
	m.session_id = text(st, 2);
	m.text = text(st, 3);
	m.hash = text(st, 4);
	m.metadata = text(st, 5);
	m.created_at = text(st, 7);
	m.updated_at = text(st, 8);
	if (blob) {
		if ((size_t)sqlite3_column_bytes(st, 6) != 4 * (size_t)x->base.dims) {
			snprintf(x->base.err, sizeof(x->base.err),
			         "%s: memory %s has a %d-byte embedding, not %d floats", x->base.name, m.id,
			         sqlite3_column_bytes(st, 6), x->base.dims);
			return -1;
		}
		vec_from_le_blob(blob, x->base.dims, x->vec);
		m.embedding = x->vec;
	}
	return to->memory(to->arg, &m);
}

static int sq_each_memory(struct xfer_store *s, xfer_memory_fn fn, void *arg)
{
	struct xsq *x = (struct xsq *)s;

	return each_row(x,
	                prep(x, "SELECT id, user_id, session_id, memory, hash, metadata, embedding, created_at, "
	                        "updated_at FROM mem0_memories ORDER BY created_at, id"),
	                memory_row, &(struct row_to){.memory = fn, .arg = arg});
}

static int history_row(struct xsq *x, sqlite3_stmt *st, const struct row_to *to)
{
	struct xfer_history h = {.id = sqlite3_column_int64(st, 0), .user = sqlite3_column_int64(st, 2)};

	(void)x;
	snprintf(h.memory_id, sizeof(h.memory_id), "%s", text(st, 1));
	h.action = text(st, 3);
	h.previous_content = text(st, 4);
	h.new_content = text(st, 5);
	h.metadata = text(st, 6);
	h.created_at = text(st, 7);
	return to->history(to->arg, &h);
}

static int sq_each_history(struct xfer_store *s, xfer_history_fn fn, void *arg)
{
	struct xsq *x = (struct xsq *)s;

	return each_row(x,
	                prep(x, "SELECT id, memory_id, user_id, action, previous_content, new_content, metadata, "
	                        "created_at FROM mem0_history ORDER BY id"),
	                history_row, &(struct row_to){.history = fn, .arg = arg});
}

static int ingest_row(struct xsq *x, sqlite3_stmt *st, const struct row_to *to)
{
	struct xfer_ingest l = {.user = sqlite3_column_int64(st, 0)};

	(void)x;
	l.message_key = text(st, 1);
	l.stream_id = text(st, 2);
	l.applied_at = text(st, 3);
	return to->ingest(to->arg, &l);
}

static int sq_each_ingest(struct xfer_store *s, xfer_ingest_fn fn, void *arg)
{
	struct xsq *x = (struct xsq *)s;

	return each_row(x, prep(x, "SELECT user_id, message_key, stream_id, applied_at FROM mem0_ingest_log"),
	                ingest_row, &(struct row_to){.ingest = fn, .arg = arg});
}

static int counts_row(struct xsq *x, sqlite3_stmt *st, const struct row_to *to)
{
	(void)x;
	return to->counts(to->arg, sqlite3_column_int64(st, 0), text(st, 1));
}

static int sq_each_counts(struct xfer_store *s, xfer_counts_fn fn, void *arg)
{
	struct xsq *x = (struct xsq *)s;

	return each_row(x,
	                prep(x, "SELECT user_id, last_memory_at FROM mem0_metadata "
	                        "WHERE collection_name = 'chatsg_memories'"),
	                counts_row, &(struct row_to){.counts = fn, .arg = arg});
}

/* ---- writing ---- */

static int sq_write_begin(struct xfer_store *s)
{
	struct xsq *x = (struct xsq *)s;

	if (sqlite3_exec(x->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return fail(x, "begin (another process writing?)");
	return 0;
}

/* Runs a bound statement to completion; the number of rows it changed, or -1. */
static int step_changes(struct xsq *x, sqlite3_stmt *st, const char *what)
{
	int rc;

	if (!st)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail(x, what);
	return sqlite3_changes(x->db);
}

/* The hash to store: hash, or hash:id when another memory of the user has it. */
static const char sql_hash[] = "CASE WHEN EXISTS (SELECT 1 FROM mem0_memories d WHERE d.user_id = ?2 AND "
                               "d.hash = ?5 AND d.id <> ?1) THEN ?5 || ':' || ?1 ELSE ?5 END";

static void bind_memory(struct xsq *x, sqlite3_stmt *st, const struct xfer_memory *m, unsigned char *blob)
{
	bind_text(st, 1, m->id);
	sqlite3_bind_int64(st, 2, m->user);
	bind_text(st, 3, m->session_id ? m->session_id : "");
	bind_text(st, 4, m->text);
	bind_text(st, 5, m->hash);
	if (m->embedding) {
		vec_to_le_blob(m->embedding, x->base.dims, blob);
		sqlite3_bind_blob(st, 6, blob, 4 * x->base.dims, SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 6);
	}
	bind_text(st, 7, m->metadata);
	bind_text(st, 8, m->created_at);
	bind_text(st, 9, m->updated_at ? m->updated_at : m->created_at);
}

/* Was the row just written with a suffixed hash? */
static bool stored_renamed(struct xsq *x, const struct xfer_memory *m)
{
	sqlite3_stmt *st = prep(x, "SELECT hash <> ?2 FROM mem0_memories WHERE id = ?1");
	bool renamed = false;

	if (!st)
		return false;
	bind_text(st, 1, m->id);
	bind_text(st, 2, m->hash);
	if (sqlite3_step(st) == SQLITE_ROW)
		renamed = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	return renamed;
}

static enum xfer_put sq_put_memory(struct xfer_store *s, const struct xfer_memory *m, bool *renamed)
{
	struct xsq *x = (struct xsq *)s;
	unsigned char *blob = mw_malloc(4 * (size_t)s->dims);
	char sql[1024];
	sqlite3_stmt *st;
	enum xfer_put res = XFER_FAILED;
	int n;

	*renamed = false;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO mem0_memories (id, user_id, session_id, memory, hash, embedding, metadata, created_at, "
	         "updated_at) SELECT ?1, ?2, ?3, ?4, %s, ?6, COALESCE(json(?7), '{}'), ?8, ?9 "
	         "WHERE NOT EXISTS (SELECT 1 FROM mem0_memories WHERE id = ?1)",
	         sql_hash);
	st = prep(x, sql);
	if (!st)
		goto out;
	bind_memory(x, st, m, blob);
	n = step_changes(x, st, "insert memory");
	if (n < 0)
		goto out;
	if (n > 0) {
		res = XFER_INSERTED;
		*renamed = stored_renamed(x, m);
		goto out;
	}
	/* there already: a newer copy that differs wins (see xfer_pg.c) */
	snprintf(sql, sizeof(sql),
	         "UPDATE mem0_memories SET session_id = ?3, memory = ?4, hash = %s, embedding = ?6, "
	         "metadata = COALESCE(json(?7), '{}'), updated_at = ?9 WHERE id = ?1 AND user_id = ?2 AND updated_at < "
	         "?9 "
	         "AND (memory IS NOT ?4 OR session_id IS NOT ?3 OR embedding IS NOT ?6 "
	         "OR metadata IS NOT COALESCE(json(?7), '{}'))",
	         sql_hash);
	st = prep(x, sql);
	if (!st)
		goto out;
	bind_memory(x, st, m, blob);
	n = step_changes(x, st, "update memory");
	if (n < 0)
		goto out;
	res = n > 0 ? XFER_UPDATED : XFER_PRESENT;
	if (n > 0)
		*renamed = stored_renamed(x, m);
out:
	free(blob);
	return res;
}

static enum xfer_put sq_put_history(struct xfer_store *s, const struct xfer_history *h, bool *deleted)
{
	struct xsq *x = (struct xsq *)s;
	sqlite3_stmt *st;
	int n;

	*deleted = false;
	st = prep(x, "INSERT INTO mem0_history (id, memory_id, user_id, action, previous_content, new_content, "
	             "metadata, created_at) "
	             "SELECT CASE WHEN ?1 IS NULL OR EXISTS (SELECT 1 FROM mem0_history WHERE id = ?1) THEN NULL "
	             "ELSE ?1 END, ?2, ?3, ?4, ?5, ?6, json(?7), ?8 "
	             "WHERE NOT EXISTS (SELECT 1 FROM mem0_history h WHERE h.user_id = ?3 AND h.memory_id = ?2 "
	             "AND h.action = ?4 AND h.created_at IS ?8 AND h.previous_content IS ?5 AND h.new_content IS ?6 "
	             "AND json_extract(h.metadata, '$.mem0_history_id') IS json_extract(?7, '$.mem0_history_id'))");
	if (!st)
		return XFER_FAILED;
	if (h->id > 0)
		sqlite3_bind_int64(st, 1, h->id);
	else
		sqlite3_bind_null(st, 1);
	bind_text(st, 2, h->memory_id);
	sqlite3_bind_int64(st, 3, h->user);
	bind_text(st, 4, h->action);
	bind_text(st, 5, h->previous_content);
	bind_text(st, 6, h->new_content);
	bind_text(st, 7, h->metadata);
	bind_text(st, 8, h->created_at);
	n = step_changes(x, st, "insert history");
	if (n < 0)
		return XFER_FAILED;
	if (n == 0)
		return XFER_PRESENT;
	if (strcmp(h->action, "deleted") == 0 && h->created_at) {
		/* a deletion the target had not seen: unless its copy changed afterwards */
		st = prep(x, "DELETE FROM mem0_memories WHERE id = ?1 AND user_id = ?2 AND updated_at <= ?3");
		if (!st)
			return XFER_FAILED;
		bind_text(st, 1, h->memory_id);
		sqlite3_bind_int64(st, 2, h->user);
		bind_text(st, 3, h->created_at);
		n = step_changes(x, st, "delete memory");
		if (n < 0)
			return XFER_FAILED;
		*deleted = n > 0;
	}
	return XFER_INSERTED;
}

static enum xfer_put sq_put_ingest(struct xfer_store *s, const struct xfer_ingest *l)
{
	struct xsq *x = (struct xsq *)s;
	sqlite3_stmt *st = prep(x, "INSERT INTO mem0_ingest_log (user_id, message_key, stream_id, applied_at) "
	                           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING");
	int n;

	if (!st)
		return XFER_FAILED;
	sqlite3_bind_int64(st, 1, l->user);
	bind_text(st, 2, l->message_key);
	bind_text(st, 3, l->stream_id);
	bind_text(st, 4, l->applied_at);
	n = step_changes(x, st, "insert ingest log");
	return n < 0 ? XFER_FAILED : n > 0 ? XFER_INSERTED : XFER_PRESENT;
}

#define SQ_LATER(a, b) "CASE WHEN " b " IS NULL OR " a " >= " b " THEN " a " ELSE " b " END"

static int sq_fix_counts(struct xfer_store *s, long long user, const char *last)
{
	struct xsq *x = (struct xsq *)s;
	sqlite3_stmt *st = prep(
	        x, "INSERT INTO mem0_metadata (user_id, total_memories, last_memory_at) "
	           "SELECT ?1, (SELECT count(*) FROM mem0_memories WHERE user_id = ?1), ?2 "
	           "WHERE ?2 IS NOT NULL OR EXISTS (SELECT 1 FROM mem0_memories WHERE user_id = ?1) "
	           "ON CONFLICT (collection_name, user_id) DO UPDATE SET total_memories = excluded.total_memories, "
	           "last_memory_at = " SQ_LATER(
	                   "last_memory_at",
	                   "excluded.last_memory_at") ", "
	                                              "updated_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z' "
	                                              "WHERE total_memories IS NOT excluded.total_memories "
	                                              "OR last_memory_at IS NOT " SQ_LATER("last_memory_at",
	                                                                                   "excluded.last_memory_at"));

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, user);
	bind_text(st, 2, last);
	return step_changes(x, st, "counts") < 0 ? -1 : 0;
}

static int sq_commit(struct xfer_store *s)
{
	struct xsq *x = (struct xsq *)s;

	return sqlite3_exec(x->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(x, "commit");
}

static void sq_rollback(struct xfer_store *s)
{
	struct xsq *x = (struct xsq *)s;

	if (!sqlite3_get_autocommit(x->db))
		sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
}

static void sq_close(struct xfer_store *s)
{
	struct xsq *x = (struct xsq *)s;

	sq_rollback(s);
	sqlite3_close(x->db);
	free(x->vec);
	free(x);
}

static const struct xfer_vt sqlite_vt = {
        .read_begin = sq_read_begin,
        .each_memory = sq_each_memory,
        .each_history = sq_each_history,
        .each_ingest = sq_each_ingest,
        .each_counts = sq_each_counts,
        .write_begin = sq_write_begin,
        .put_memory = sq_put_memory,
        .put_history = sq_put_history,
        .put_ingest = sq_put_ingest,
        .fix_counts = sq_fix_counts,
        .commit = sq_commit,
        .rollback = sq_rollback,
        .close = sq_close,
};

struct xfer_store *xfer_sqlite_open(const char *path, int dims, bool create, char *err, size_t errlen)
{
	sqlite3 *db = store_sqlite_open_db(path, dims, create, err, errlen);
	struct xsq *x;

	if (!db) {
		/* the helper speaks of the daemons' variable; here the file was named on the command line */
		if (strncmp(err, "MEM0_SQLITE_PATH: ", 18) == 0)
			memmove(err, err + 18, strlen(err + 18) + 1);
		return NULL;
	}
	x = mw_calloc(1, sizeof(*x));
	x->base.vt = &sqlite_vt;
	x->db = db;
	x->base.dims = store_sqlite_file_dims(db);
	x->vec = mw_malloc(sizeof(float) * (size_t)(x->base.dims > 0 ? x->base.dims : 1));
	snprintf(x->base.name, sizeof(x->base.name), "sqlite:%s", path);
	return &x->base;
}
