/*
 * store_sqlite: see store_sqlite.h. Owns one sqlite3 connection, a cache of
 * prepared statements and a FIFO of finished operations whose callbacks
 * have not fired yet; runs on the caller's libevent loop.
 *
 * Why the SQLite calls may block the loop: the file is local, WAL keeps
 * readers and the single writer out of each other's way, and every
 * transaction is short (one batch, one delete), so a call takes
 * microseconds to a few milliseconds (an fsync per commit). The one long
 * wait is another process holding the write lock, bounded by
 * STORE_SQLITE_BUSY_MS and reported as STORE_TRANSIENT. This would not hold
 * on a network filesystem (NFS, SMB, most container volumes backed by
 * them): every call may stall on the network and WAL's shared memory does
 * not work there at all. Keep MEM0_SQLITE_PATH on a local disk; beyond one
 * machine, use PostgreSQL.
 *
 * Operations compute their result inside the call and queue it; one
 * libevent event delivers queued results in order on the next loop turn,
 * so a callback never fires inside the call that started it.
 */
#include "store_sqlite.h"

#include "log.h"
#include "store.h"
#include "ts.h"
#include "uuid4.h"
#include "vec.h"

#include <ctype.h>
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define MAX_QUERY_VECS 16 /* as store_pg.c */

/* ---- schema ---- */

#define SQ_NOW "(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')"

/*
 * Version 1. The names and columns are PostgreSQL's (schema/00*.sql), so
 * queries over the two stores read alike; the types are SQLite's.
 */
static const char schema_v1[] =
        "CREATE TABLE mw_store (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE mem0_memories ("
        " id TEXT PRIMARY KEY NOT NULL,"
        " user_id INTEGER NOT NULL,"
        " session_id TEXT NOT NULL,"
        " memory TEXT NOT NULL,"
        " hash TEXT NOT NULL,"
        " embedding BLOB,"
        " metadata TEXT NOT NULL DEFAULT '{}',"
        " created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL);"
        "CREATE UNIQUE INDEX mem0_memories_user_hash_key ON mem0_memories (user_id, hash);"
        "CREATE INDEX mem0_memories_user_session_idx ON mem0_memories (user_id, session_id);"
        "CREATE INDEX mem0_memories_user_created_idx ON mem0_memories (user_id, created_at);"
        "CREATE TABLE mem0_history ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " memory_id TEXT NOT NULL,"
        " user_id INTEGER NOT NULL,"
        " action TEXT NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),"
        " previous_content TEXT,"
        " new_content TEXT,"
        " metadata TEXT,"
        " created_at TEXT);" /* NULL: unknown, as PostgreSQL allows (old Mem0 deletions) */
        "CREATE INDEX mem0_history_user_memory_idx ON mem0_history (user_id, memory_id, id);"
        "CREATE TABLE mem0_metadata ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " collection_name TEXT NOT NULL DEFAULT 'chatsg_memories',"
        " user_id INTEGER NOT NULL,"
        " total_memories INTEGER NOT NULL DEFAULT 0,"
        " last_memory_at TEXT,"
        " metadata TEXT NOT NULL DEFAULT '{}',"
        " created_at TEXT NOT NULL DEFAULT " SQ_NOW ","
        " updated_at TEXT NOT NULL DEFAULT " SQ_NOW ","
        " UNIQUE (collection_name, user_id));"
        "CREATE TABLE mem0_ingest_log ("
        " user_id INTEGER NOT NULL,"
        " message_key TEXT NOT NULL,"
        " stream_id TEXT,"
        " applied_at TEXT NOT NULL,"
        " PRIMARY KEY (user_id, message_key)) WITHOUT ROWID;"
        /* the chat app's count triggers: +1 on insert, -1 (never below 0) on delete */
        "CREATE TRIGGER update_mem0_metadata_on_memory_insert AFTER INSERT ON mem0_memories BEGIN"
        " INSERT INTO mem0_metadata (user_id, total_memories, last_memory_at) VALUES (NEW.user_id, 1, " SQ_NOW ")"
        " ON CONFLICT (collection_name, user_id) DO UPDATE SET total_memories = total_memories + 1,"
        " last_memory_at = excluded.last_memory_at, updated_at = excluded.last_memory_at;"
        " END;"
        "CREATE TRIGGER update_mem0_metadata_on_memory_delete AFTER DELETE ON mem0_memories BEGIN"
        " UPDATE mem0_metadata SET total_memories = max(0, total_memories - 1), updated_at = " SQ_NOW
        " WHERE user_id = OLD.user_id AND collection_name = 'chatsg_memories';"
        " END;";

/* schema_steps[v - 1] takes a file from version v - 1 to v. Applied steps never change. */
static const char *const schema_steps[] = {schema_v1};

static void set_err(char *err, size_t errlen, const char *path, const char *what, sqlite3 *db)
{
	snprintf(err, errlen, "MEM0_SQLITE_PATH: %s: %s%s%s", path, what, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
}

/* One integer from a one-row query; -1 on error. */
static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int store_sqlite_file_dims(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int dims = 0;

	if (sqlite3_prepare_v2(db, "SELECT value FROM mw_store WHERE key = 'embedding_dims'", -1, &st, NULL) ==
	            SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		dims = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return dims;
}

static int record_dims(sqlite3 *db, int dims)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "INSERT INTO mw_store (key, value) VALUES ('embedding_dims', ?1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_int(st, 1, dims);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Creates or upgrades the schema in one write transaction; checks the dimension. */
static int ensure_schema(sqlite3 *db, const char *path, int dims, char *err, size_t errlen)
{
	int nsteps = (int)(sizeof(schema_steps) / sizeof(schema_steps[0]));
	long long version;
	int have;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, path, "cannot lock", db);
		return -1;
	}
	version = query_int(db, "PRAGMA user_version");
	if (version < 0) {
		set_err(err, errlen, path, "not a SQLite database", db);
		goto fail;
	}
	if (version > nsteps) {
		snprintf(err, errlen,
		         "MEM0_SQLITE_PATH: %s has schema version %lld, newer than this memworker's %d: upgrade "
		         "memworker",
		         path, version, nsteps);
		goto fail;
	}
	if (version == 0 && query_int(db, "SELECT count(*) FROM sqlite_master") > 0) {
		snprintf(err, errlen,
		         "MEM0_SQLITE_PATH: %s is a SQLite file of something else (tables, no store schema)", path);
		goto fail;
	}
	for (; version < nsteps; version++) {
		char pragma[64];

		if (sqlite3_exec(db, schema_steps[version], NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, errlen, path, "schema", db);
			goto fail;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %lld", version + 1);
		if (sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
			set_err(err, errlen, path, "schema version", db);
			goto fail;
		}
	}
	have = store_sqlite_file_dims(db);
	if (have == 0) {
		if (dims <= 0) {
			snprintf(err, errlen, "MEM0_SQLITE_PATH: %s records no embedding dimension", path);
			goto fail;
		}
		if (record_dims(db, dims) < 0) {
			set_err(err, errlen, path, "cannot record the embedding dimension", db);
			goto fail;
		}
	} else if (dims > 0 && have != dims) {
		snprintf(err, errlen,
		         "MEM0_EMBEDDING_DIMS: %d, but %s holds %d-dimension embeddings; one store holds one dimension",
		         dims, path, have);
		goto fail;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, path, "commit", db);
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

sqlite3 *store_sqlite_open_db(const char *path, int dims, bool create, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	bool wal = false;

	if (!path || !path[0]) {
		snprintf(err, errlen, "MEM0_SQLITE_PATH: empty");
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		set_err(err, errlen, path, create ? "cannot open or create" : "cannot open", db);
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_SQLITE_BUSY_MS);
	/*
	 * A new file gets 16 KiB pages (before WAL fixes the size): a 1536-float
	 * embedding (6 KiB) then sits in its row's page instead of an overflow
	 * chain, which makes the search scan about twice as fast. No effect on a
	 * file that exists.
	 */
	if (sqlite3_exec(db, "PRAGMA page_size = 16384", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, path, "PRAGMA page_size", db);
		goto fail;
	}
	/* WAL: readers beside the writer; FULL: a commit is on disk before the worker acks */
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	if (!wal) {
		set_err(err, errlen, path, "cannot use WAL mode (a network filesystem?)", db);
		goto fail;
	}
	if (sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, path, "PRAGMA synchronous", db);
		goto fail;
	}
	if (ensure_schema(db, path, dims, err, errlen) < 0)
		goto fail;
	return db;
fail:
	sqlite3_close(db);
	return NULL;
}

/* ---- statements ---- */

#define MEM_COLS                                                                                                       \
	"id, memory, hash, session_id, metadata, substr(created_at, 1, 23) || 'Z', "                                   \
	"substr(updated_at, 1, 23) || 'Z'"

enum sq_stmt {
	Q_BEGIN,
	Q_BEGIN_WRITE,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_KEY_SEEN,
	Q_KEY_LOG,
	Q_SCAN,
	Q_SCAN_SESSION,
	Q_ROW,
	Q_GET,
	Q_GET_ALL,
	Q_GET_ALL_SESSION,
	Q_HISTORY,
	Q_ADD,
	Q_HIST,
	Q_OLD,
	Q_HASH_TAKEN,
	Q_UPDATE,
	Q_DELETE,
	Q_DELETE_ALL_HIST,
	Q_DELETE_ALL,
	Q_PURGE_HIST,
	Q_PURGE_LOG,
	Q_PURGE_META,
	Q_STATS_META,
	Q_STATS_HIST,
	Q_COUNT
};

static const char *const stmt_sql[Q_COUNT] = {
        [Q_BEGIN] = "BEGIN",
        [Q_BEGIN_WRITE] = "BEGIN IMMEDIATE",
        [Q_COMMIT] = "COMMIT",
        [Q_ROLLBACK] = "ROLLBACK",
        [Q_KEY_SEEN] = "SELECT 1 FROM mem0_ingest_log WHERE user_id = ?1 AND message_key = ?2",
        [Q_KEY_LOG] = "INSERT INTO mem0_ingest_log (user_id, message_key, stream_id, applied_at) "
                      "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
        [Q_SCAN] =
                "SELECT rowid, embedding, metadata, id FROM mem0_memories WHERE user_id = ?1 AND embedding IS NOT NULL",
        [Q_SCAN_SESSION] = "SELECT rowid, embedding, metadata, id FROM mem0_memories "
                           "WHERE user_id = ?1 AND embedding IS NOT NULL AND session_id = ?2",
        [Q_ROW] = "SELECT " MEM_COLS " FROM mem0_memories WHERE rowid = ?1",
        [Q_GET] = "SELECT " MEM_COLS " FROM mem0_memories WHERE id = ?1 AND user_id = ?2",
        [Q_GET_ALL] = "SELECT " MEM_COLS " FROM mem0_memories WHERE user_id = ?1 "
                      "ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3",
        [Q_GET_ALL_SESSION] = "SELECT " MEM_COLS " FROM mem0_memories WHERE user_id = ?1 AND session_id = ?4 "
                              "ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3",
        [Q_HISTORY] = "SELECT id, memory_id, action, previous_content, new_content, metadata, "
                      "substr(created_at, 1, 23) || 'Z' FROM mem0_history WHERE user_id = ?1 AND memory_id = ?2 "
                      "ORDER BY id",
        [Q_ADD] = "INSERT INTO mem0_memories (id, user_id, session_id, memory, hash, embedding, metadata, created_at, "
                  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(json(?7), '{}'), ?8, ?8) "
                  "ON CONFLICT (user_id, hash) DO NOTHING",
        [Q_HIST] = "INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, metadata, "
                   "created_at) VALUES (?1, ?2, ?3, ?4, ?5, json(?6), ?7)",
        [Q_OLD] = "SELECT memory FROM mem0_memories WHERE id = ?1 AND user_id = ?2",
        [Q_HASH_TAKEN] = "SELECT 1 FROM mem0_memories WHERE user_id = ?1 AND hash = ?2 AND id <> ?3",
        [Q_UPDATE] = "UPDATE mem0_memories SET memory = ?3, hash = ?4, embedding = ?5, updated_at = ?6 "
                     "WHERE id = ?1 AND user_id = ?2",
        [Q_DELETE] = "DELETE FROM mem0_memories WHERE id = ?1 AND user_id = ?2",
        [Q_DELETE_ALL_HIST] = "INSERT INTO mem0_history (memory_id, user_id, action, previous_content, new_content, "
                              "metadata, created_at) SELECT id, user_id, 'deleted', memory, NULL, json(?2), ?3 "
                              "FROM mem0_memories WHERE user_id = ?1 ORDER BY created_at, id",
        [Q_DELETE_ALL] = "DELETE FROM mem0_memories WHERE user_id = ?1",
        [Q_PURGE_HIST] = "DELETE FROM mem0_history WHERE user_id = ?1",
        [Q_PURGE_LOG] = "DELETE FROM mem0_ingest_log WHERE user_id = ?1",
        [Q_PURGE_META] = "DELETE FROM mem0_metadata WHERE user_id = ?1",
        [Q_STATS_META] = "SELECT total_memories, substr(last_memory_at, 1, 23) || 'Z' FROM mem0_metadata "
                         "WHERE user_id = ?1 AND collection_name = 'chatsg_memories'",
        [Q_STATS_HIST] = "SELECT count(*) FROM mem0_history WHERE user_id = ?1",
};

/* ---- operations and their delivery ---- */

enum sq_kind { K_KEYS, K_MEMS, K_APPLY, K_HISTORY, K_COUNT, K_STATS };

/* One finished operation waiting for its callback; owns every result buffer. */
struct sq_op {
	TAILQ_ENTRY(sq_op) link;
	enum sq_kind kind;
	void (*cb)(void); /* the caller's store_*_cb, cast back on delivery */
	void *arg;
	enum store_status st;
	char *errstr;
	int n;
	bool *seen;
	struct store_memory *mems;
	struct store_history *hist;
	struct store_apply_result apply;
	long long count;
	struct store_stats stats;
	char **strs; /* every string the results point to */
	int nstrs, capstrs;
};

TAILQ_HEAD(sq_queue, sq_op);

struct store_sqlite {
	struct store base;
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmts[Q_COUNT];
	struct event *deliver_ev;
	struct sq_queue done; /* finished, callbacks not fired yet */
	int delivering;       /* callback depth */
	bool closing;
	float *qbuf; /* scratch: one decoded row vector */
};

static struct sq_op *op_new(enum sq_kind kind, void (*cb)(void), void *arg)
{
	struct sq_op *op = mw_calloc(1, sizeof(*op));

	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->st = STORE_OK;
	return op;
}

/* A copy of s owned by op (NULL stays NULL). */
static const char *op_str(struct sq_op *op, const char *s)
{
	if (!s)
		return NULL;
	if (op->nstrs == op->capstrs) {
		op->capstrs = op->capstrs ? op->capstrs * 2 : 16;
		op->strs = mw_realloc(op->strs, sizeof(char *) * (size_t)op->capstrs);
	}
	op->strs[op->nstrs] = mw_strdup(s);
	return op->strs[op->nstrs++];
}

static void op_free(struct sq_op *op)
{
	int i;

	for (i = 0; i < op->nstrs; i++)
		free(op->strs[i]);
	free(op->strs);
	free(op->errstr);
	free(op->seen);
	free(op->mems);
	free(op->hist);
	free(op);
}

static void op_fire(struct sq_op *op)
{
	const char *e = op->st == STORE_OK ? NULL : (op->errstr ? op->errstr : "store error");
	bool ok = op->st == STORE_OK;

	switch (op->kind) {
	case K_KEYS:
		((store_keys_cb)op->cb)(op->arg, op->st, ok ? op->seen : NULL, ok ? op->n : 0, e);
		break;
	case K_MEMS:
		((store_mems_cb)op->cb)(op->arg, op->st, ok ? op->mems : NULL, ok ? op->n : 0, e);
		break;
	case K_APPLY:
		((store_apply_cb)op->cb)(op->arg, op->st, ok ? &op->apply : NULL, e);
		break;
	case K_HISTORY:
		((store_history_cb)op->cb)(op->arg, op->st, ok ? op->hist : NULL, ok ? op->n : 0, e);
		break;
	case K_COUNT:
		((store_count_cb)op->cb)(op->arg, op->st, ok ? op->count : 0, e);
		break;
	case K_STATS:
		((store_stats_cb)op->cb)(op->arg, op->st, ok ? &op->stats : NULL, e);
		break;
	default:
		log_error("store_sqlite: operation of unknown kind %d dropped", (int)op->kind);
		break;
	}
}

static void sq_destroy(struct store_sqlite *q);

/* Fires the callbacks of the operations finished so far, in order. */
static void deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_sqlite *q = arg;
	struct sq_queue batch = TAILQ_HEAD_INITIALIZER(batch);
	struct sq_op *op;

	(void)fd;
	(void)what;
	/* operations started by these callbacks wait for the next turn */
	TAILQ_CONCAT(&batch, &q->done, link);
	q->delivering++;
	while ((op = TAILQ_FIRST(&batch))) {
		TAILQ_REMOVE(&batch, op, link);
		op_fire(op);
		op_free(op);
	}
	q->delivering--;
	if (q->closing && q->delivering == 0)
		sq_destroy(q);
}

static void op_finish(struct store_sqlite *q, struct sq_op *op)
{
	TAILQ_INSERT_TAIL(&q->done, op, link);
	event_active(q->deliver_ev, EV_TIMEOUT, 0);
}

/* ---- helpers on the connection ---- */

static sqlite3_stmt *stmt(struct store_sqlite *q, enum sq_stmt id)
{
	sqlite3_stmt *st = q->stmts[id];

	if (!st) {
		if (sqlite3_prepare_v3(q->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
			log_error("store_sqlite: prepare: %s", sqlite3_errmsg(q->db));
			return NULL;
		}
		q->stmts[id] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static enum store_status status_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_PROTOCOL:
	case SQLITE_NOMEM:
		return STORE_TRANSIENT; /* another process's lock, a full or failing disk: later */
	default:
		return STORE_ERROR;
	}
}

/* Records the connection's error on op (first error wins). */
static void op_fail(struct store_sqlite *q, struct sq_op *op, int rc, const char *what)
{
	char buf[512];

	if (op->errstr)
		return;
	op->st = status_of(rc);
	snprintf(buf, sizeof(buf), "sqlite: %s: %s", what, sqlite3_errmsg(q->db));
	op->errstr = mw_strdup(buf);
}

static void op_fail_msg(struct sq_op *op, enum store_status st, const char *msg)
{
	if (op->errstr)
		return;
	op->st = st;
	op->errstr = mw_strdup(msg);
}

/* Runs a statement that returns no rows; SQLITE_DONE or an error code. */
static int run(struct store_sqlite *q, enum sq_stmt id)
{
	sqlite3_stmt *st = stmt(q, id);
	int rc;

	if (!st)
		return SQLITE_ERROR;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static void rollback(struct store_sqlite *q)
{
	if (!sqlite3_get_autocommit(q->db))
		(void)run(q, Q_ROLLBACK);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* A memory id as the store keeps it: lower case (PostgreSQL's uuid type compares without case). */
static void norm_id(const char *in, char out[40])
{
	size_t i;

	for (i = 0; in && in[i] && i < 39; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Copies the current row (MEM_COLS) into m, strings owned by op. */
static void row_memory(struct sq_op *op, sqlite3_stmt *st, struct store_memory *m)
{
	snprintf(m->id, sizeof(m->id), "%s", col_text(st, 0) ? col_text(st, 0) : "");
	m->text = op_str(op, col_text(st, 1));
	m->hash = op_str(op, col_text(st, 2));
	m->session_id = op_str(op, col_text(st, 3));
	m->metadata = op_str(op, col_text(st, 4) ? col_text(st, 4) : "{}");
	m->created_at = op_str(op, col_text(st, 5));
	m->updated_at = op_str(op, col_text(st, 6));
}

static bool usable(struct store_sqlite *q)
{
	return q->db && !q->closing;
}

/* ---- filter_keys ---- */

static int sq_filter_keys(struct store *s, int64_t user, const char *const *keys, int n, store_keys_cb cb, void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct sq_op *op;
	int i, rc;

	if (!usable(q))
		return -1;
	op = op_new(K_KEYS, (void (*)(void))cb, arg);
	op->n = n;
	op->seen = mw_calloc((size_t)(n > 0 ? n : 1), sizeof(bool));
	rc = run(q, Q_BEGIN);
	for (i = 0; rc == SQLITE_DONE && i < n; i++) {
		sqlite3_stmt *st = stmt(q, Q_KEY_SEEN);

		if (!st) {
			rc = SQLITE_ERROR;
			break;
		}
		sqlite3_bind_int64(st, 1, user);
		bind_text(st, 2, keys[i]);
		rc = sqlite3_step(st);
		op->seen[i] = rc == SQLITE_ROW;
		if (rc == SQLITE_ROW)
			rc = SQLITE_DONE;
		sqlite3_reset(st);
	}
	if (rc == SQLITE_DONE)
		rc = run(q, Q_COMMIT);
	if (rc != SQLITE_DONE) {
		op_fail(q, op, rc, "filter keys");
		rollback(q);
	}
	op_finish(q, op);
	return 0;
}

/* ---- metadata filters: jsonb @> semantics ---- */

static bool json_contains(const json_t *a, const json_t *b, bool top)
{
	size_t i, j;

	if (json_is_object(b)) {
		const char *k;
		json_t *v;

		if (!json_is_object(a))
			return false;
		json_object_foreach ((json_t *)b, k, v) {
			const json_t *av = json_object_get(a, k);
			if (!av || !json_contains(av, v, false))
				return false;
		}
		return true;
	}
	if (json_is_array(b)) {
		if (!json_is_array(a))
			return false;
		for (j = 0; j < json_array_size(b); j++) {
			bool found = false;

			for (i = 0; i < json_array_size(a) && !found; i++)
				found = json_contains(json_array_get(a, i), json_array_get(b, j), false);
			if (!found)
				return false;
		}
		return true;
	}
	if (json_is_array(a) && top) {
		/* jsonb: a top-level array contains a primitive it has as an element */
		for (i = 0; i < json_array_size(a); i++)
			if (json_contains(json_array_get(a, i), b, false))
				return true;
		return false;
	}
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

/* ---- candidates and search: an exact cosine scan over the user's rows ---- */

/* NaN and infinities are refused, as vec_encode_pg refuses them on PostgreSQL. */
static bool finite_vec(const float *v, int dims)
{
	int i;

	if (!v)
		return false;
	for (i = 0; i < dims; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

struct scored {
	sqlite3_int64 rowid;
	double score;
	char id[40]; /* ties go by id, as ORDER BY d, id on PostgreSQL */
};

static int by_score_desc(const void *pa, const void *pb)
{
	const struct scored *a = pa, *b = pb;

	if (a->score != b->score)
		return a->score < b->score ? 1 : -1;
	return strcmp(a->id, b->id);
}

/*
 * Cosine similarity of q (its squared norm qnn precomputed) and a row's
 * little-endian BLOB, in float sums and a double quotient as pgvector
 * computes it; 0 against a zero vector, clamped to [-1, 1] as
 * vec_cosine_sim.
 */
static double cosine_to_blob(const float *q, float qnn, const unsigned char *blob, float *row, int dims)
{
	float dot = 0, nn = 0;
	double sim;
	int i;

	vec_from_le_blob(blob, dims, row);
	for (i = 0; i < dims; i++) {
		dot += q[i] * row[i];
		nn += row[i] * row[i];
	}
	if (qnn == 0 || nn == 0)
		return 0;
	sim = (double)dot / sqrt((double)qnn * (double)nn);
	return sim > 1 ? 1 : sim < -1 ? -1 : sim;
}

struct scan {
	const float *const *vecs; /* score = best similarity to any of these */
	int nvec;
	int limit;
	double threshold; /* > 0: keep scores >= threshold */
	const char *session_id;
	const json_t *filters;
};

/* Fills op->mems with the best sc->limit memories of user, best first. */
static void scan_user(struct store_sqlite *q, struct sq_op *op, int64_t user, const struct scan *sc)
{
	size_t bloblen = 4 * (size_t)q->base.dims;
	struct scored *hits = NULL;
	size_t nhits = 0, cap = 0, i;
	float qnn[MAX_QUERY_VECS];
	sqlite3_stmt *st;
	int rc, bad = 0, v, d;

	for (v = 0; v < sc->nvec; v++)
		for (qnn[v] = 0, d = 0; d < q->base.dims; d++)
			qnn[v] += sc->vecs[v][d] * sc->vecs[v][d];

	rc = run(q, Q_BEGIN); /* one snapshot for both passes */
	if (rc != SQLITE_DONE)
		goto fail;
	st = stmt(q, sc->session_id ? Q_SCAN_SESSION : Q_SCAN);
	if (!st) {
		rc = SQLITE_ERROR;
		goto fail;
	}
	sqlite3_bind_int64(st, 1, user);
	if (sc->session_id)
		bind_text(st, 2, sc->session_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(st, 1);
		double best = -INFINITY;

		if (!blob || (size_t)sqlite3_column_bytes(st, 1) != bloblen) {
			bad++;
			continue;
		}
		for (v = 0; v < sc->nvec; v++) {
			double sim = cosine_to_blob(sc->vecs[v], qnn[v], blob, q->qbuf, q->base.dims);
			if (sim > best)
				best = sim;
		}
		if (sc->threshold > 0 && best < sc->threshold)
			continue;
		if (sc->filters) {
			json_t *meta = json_loads(col_text(st, 2) ? col_text(st, 2) : "{}", 0, NULL);
			bool keep = meta && json_contains(meta, sc->filters, true);

			json_decref(meta);
			if (!keep)
				continue;
		}
		if (nhits == cap) {
			cap = cap ? cap * 2 : 64;
			hits = mw_realloc(hits, cap * sizeof(*hits));
		}
		hits[nhits].rowid = sqlite3_column_int64(st, 0);
		hits[nhits].score = best;
		snprintf(hits[nhits].id, sizeof(hits[nhits].id), "%s", col_text(st, 3) ? col_text(st, 3) : "");
		nhits++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto fail;
	if (bad)
		ulog_warn(user, NULL, "store_sqlite: %d memories have no %d-dimension embedding; not searched", bad,
		          q->base.dims);
	if (nhits > 1)
		qsort(hits, nhits, sizeof(*hits), by_score_desc);
	if (nhits > (size_t)(sc->limit > 0 ? sc->limit : 0))
		nhits = (size_t)(sc->limit > 0 ? sc->limit : 0);
	op->mems = mw_calloc(nhits ? nhits : 1, sizeof(*op->mems));
	for (i = 0; i < nhits; i++) {
		st = stmt(q, Q_ROW);
		if (!st) {
			rc = SQLITE_ERROR;
			goto fail;
		}
		sqlite3_bind_int64(st, 1, hits[i].rowid);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			goto fail;
		}
		row_memory(op, st, &op->mems[op->n]);
		op->mems[op->n].score = hits[i].score;
		op->n++;
		sqlite3_reset(st);
	}
	rc = run(q, Q_COMMIT);
	if (rc != SQLITE_DONE)
		goto fail;
	free(hits);
	return;
fail:
	op_fail(q, op, rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_ERROR : rc, "search");
	rollback(q);
	op->n = 0;
	free(hits);
}

static int sq_candidates(struct store *s, int64_t user, const float *const *vecs, int nvec, int k, store_mems_cb cb,
                         void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct scan sc = {.vecs = vecs, .nvec = nvec > MAX_QUERY_VECS ? MAX_QUERY_VECS : nvec, .limit = k};
	struct sq_op *op;

	if (!usable(q) || nvec < 1)
		return -1;
	op = op_new(K_MEMS, (void (*)(void))cb, arg);
	scan_user(q, op, user, &sc);
	op_finish(q, op);
	return 0;
}

static int sq_search(struct store *s, const struct store_search *qs, store_mems_cb cb, void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct scan sc = {.vecs = &qs->vec,
	                  .nvec = 1,
	                  .limit = qs->limit,
	                  .threshold = qs->threshold,
	                  .session_id = qs->session_id};
	json_t *filters = NULL;
	struct sq_op *op;

	/* what store_pg_read.c refuses is refused here too */
	if (!usable(q) || !qs->vec || qs->limit < 1 || !finite_vec(qs->vec, s->dims))
		return -1;
	op = op_new(K_MEMS, (void (*)(void))cb, arg);
	if (qs->filters) {
		filters = json_loads(qs->filters, 0, NULL);
		if (!json_is_object(filters)) {
			op_fail_msg(op, STORE_ERROR, "filters: not a JSON object");
			json_decref(filters);
			op_finish(q, op);
			return 0;
		}
		sc.filters = filters;
	}
	scan_user(q, op, qs->user, &sc);
	json_decref(filters);
	op_finish(q, op);
	return 0;
}

/* ---- get, get_all, history, stats ---- */

/* Steps st (bound by the caller) and collects every row as a memory. */
static int collect_memories(struct store_sqlite *q, struct sq_op *op, sqlite3_stmt *st)
{
	int rc, cap = 0;

	(void)q;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (op->n == cap) {
			cap = cap ? cap * 2 : 16;
			op->mems = mw_realloc(op->mems, sizeof(*op->mems) * (size_t)cap);
		}
		memset(&op->mems[op->n], 0, sizeof(op->mems[0]));
		row_memory(op, st, &op->mems[op->n]);
		op->n++;
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_get(struct store *s, int64_t user, const char *memory_id, store_mems_cb cb, void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct sq_op *op;
	sqlite3_stmt *st;
	char id[40];
	int rc = SQLITE_ERROR;

	if (!usable(q))
		return -1;
	op = op_new(K_MEMS, (void (*)(void))cb, arg);
	norm_id(memory_id, id);
	st = stmt(q, Q_GET);
	if (st) {
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, user);
		rc = collect_memories(q, op, st);
	}
	if (rc != SQLITE_DONE)
		op_fail(q, op, rc, "get");
	else if (op->n == 0)
		op_fail_msg(op, STORE_NOT_FOUND, "no such memory for this user");
	op_finish(q, op);
	return 0;
}

static int sq_get_all(struct store *s, int64_t user, const char *session_id, int limit, int offset, store_mems_cb cb,
                      void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct sq_op *op;
	sqlite3_stmt *st;
	int rc = SQLITE_ERROR;

	if (!usable(q) || limit < 1 || offset < 0)
		return -1;
	op = op_new(K_MEMS, (void (*)(void))cb, arg);
	st = stmt(q, session_id ? Q_GET_ALL_SESSION : Q_GET_ALL);
	if (st) {
		sqlite3_bind_int64(st, 1, user);
		sqlite3_bind_int(st, 2, limit);
		sqlite3_bind_int(st, 3, offset);
		if (session_id)
			bind_text(st, 4, session_id);
		rc = collect_memories(q, op, st);
	}
	if (rc != SQLITE_DONE)
		op_fail(q, op, rc, "get_all");
	op_finish(q, op);
	return 0;
}

static int sq_history(struct store *s, int64_t user, const char *memory_id, store_history_cb cb, void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct sq_op *op;
	sqlite3_stmt *st;
	char id[40];
	int rc = SQLITE_ERROR, cap = 0;

	if (!usable(q))
		return -1;
	op = op_new(K_HISTORY, (void (*)(void))cb, arg);
	norm_id(memory_id, id);
	st = stmt(q, Q_HISTORY);
	if (st) {
		sqlite3_bind_int64(st, 1, user);
		bind_text(st, 2, id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct store_history *h;

			if (op->n == cap) {
				cap = cap ? cap * 2 : 16;
				op->hist = mw_realloc(op->hist, sizeof(*op->hist) * (size_t)cap);
			}
			h = &op->hist[op->n++];
			memset(h, 0, sizeof(*h));
			h->id = sqlite3_column_int64(st, 0);
			snprintf(h->memory_id, sizeof(h->memory_id), "%s", col_text(st, 1) ? col_text(st, 1) : "");
			h->action = op_str(op, col_text(st, 2));
			h->previous_content = op_str(op, col_text(st, 3));
			h->new_content = op_str(op, col_text(st, 4));
			h->metadata = op_str(op, col_text(st, 5));
			h->created_at = op_str(op, col_text(st, 6));
		}
		sqlite3_reset(st);
	}
	if (rc != SQLITE_DONE)
		op_fail(q, op, rc, "history");
	else if (op->n == 0) /* history outlives its memory: no rows means never this user's */
		op_fail_msg(op, STORE_NOT_FOUND, "no such memory for this user");
	op_finish(q, op);
	return 0;
}

static int sq_stats(struct store *s, int64_t user, store_stats_cb cb, void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct sq_op *op;
	sqlite3_stmt *st;
	int rc;

	if (!usable(q))
		return -1;
	op = op_new(K_STATS, (void (*)(void))cb, arg);
	rc = run(q, Q_BEGIN);
	if (rc == SQLITE_DONE && (st = stmt(q, Q_STATS_META))) {
		sqlite3_bind_int64(st, 1, user);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			op->stats.total_memories = sqlite3_column_int64(st, 0);
			op->stats.last_memory_at = op_str(op, col_text(st, 1));
			rc = SQLITE_DONE;
		}
		sqlite3_reset(st);
	}
	if (rc == SQLITE_DONE && (st = stmt(q, Q_STATS_HIST))) {
		sqlite3_bind_int64(st, 1, user);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			op->stats.history_rows = sqlite3_column_int64(st, 0);
			rc = SQLITE_DONE;
		}
		sqlite3_reset(st);
	}
	if (rc == SQLITE_DONE)
		rc = run(q, Q_COMMIT);
	if (rc != SQLITE_DONE) {
		op_fail(q, op, rc, "stats");
		rollback(q);
	}
	op_finish(q, op);
	return 0;
}

/* ---- writes ---- */

static int add_history(struct store_sqlite *q, const char *memory_id, int64_t user, const char *action,
                       const char *prev, const char *cur, const char *meta, const char *now)
{
	sqlite3_stmt *st = stmt(q, Q_HIST);
	int rc;

	if (!st)
		return SQLITE_ERROR;
	bind_text(st, 1, memory_id);
	sqlite3_bind_int64(st, 2, user);
	bind_text(st, 3, action);
	bind_text(st, 4, prev);
	bind_text(st, 5, cur);
	bind_text(st, 6, meta);
	bind_text(st, 7, now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

/*
 * The memory's current text into *old (owned by op); SQLITE_DONE with *old
 * NULL when it is not this user's.
 */
static int old_text(struct store_sqlite *q, struct sq_op *op, int64_t user, const char *id, const char **old)
{
	sqlite3_stmt *st = stmt(q, Q_OLD);
	int rc;

	*old = NULL;
	if (!st)
		return SQLITE_ERROR;
	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, user);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*old = op_str(op, col_text(st, 0));
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	return rc;
}

static int one_change(struct store_sqlite *q, struct sq_op *op, int64_t user, const struct store_change *c,
                      const char *hmeta, const char *now, unsigned char *blob)
{
	sqlite3_stmt *st;
	const char *old;
	char id[40];
	int rc, bytes = 4 * q->base.dims;

	switch (c->kind) {
	case STORE_ADD: {
		char uuid[UUID4_LEN + 1];

		if (!c->embedding || !c->text || !c->hash)
			return SQLITE_MISUSE;
		uuid4_generate(uuid);
		vec_to_le_blob(c->embedding, q->base.dims, blob);
		st = stmt(q, Q_ADD);
		if (!st)
			return SQLITE_ERROR;
		bind_text(st, 1, uuid);
		sqlite3_bind_int64(st, 2, user);
		bind_text(st, 3, c->session_id ? c->session_id : "");
		bind_text(st, 4, c->text);
		bind_text(st, 5, c->hash);
		sqlite3_bind_blob(st, 6, blob, bytes, SQLITE_TRANSIENT);
		bind_text(st, 7, c->metadata);
		bind_text(st, 8, now);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rc;
		if (sqlite3_changes(q->db) == 0) { /* the user already has this text */
			op->apply.skipped++;
			return SQLITE_DONE;
		}
		rc = add_history(q, uuid, user, "created", NULL, c->text, hmeta, now);
		if (rc == SQLITE_DONE)
			op->apply.added++;
		return rc;
	}
	case STORE_UPDATE:
		if (!c->embedding || !c->text || !c->hash || !c->memory_id)
			return SQLITE_MISUSE;
		norm_id(c->memory_id, id);
		rc = old_text(q, op, user, id, &old);
		if (rc != SQLITE_DONE)
			return rc;
		if (!old) { /* vanished meanwhile */
			op->apply.skipped++;
			return SQLITE_DONE;
		}
		st = stmt(q, Q_HASH_TAKEN);
		if (!st)
			return SQLITE_ERROR;
		sqlite3_bind_int64(st, 1, user);
		bind_text(st, 2, c->hash);
		bind_text(st, 3, id);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_ROW) { /* another memory of the user already says this */
			op->apply.skipped++;
			return SQLITE_DONE;
		}
		if (rc != SQLITE_DONE)
			return rc;
		vec_to_le_blob(c->embedding, q->base.dims, blob);
		st = stmt(q, Q_UPDATE);
		if (!st)
			return SQLITE_ERROR;
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, user);
		bind_text(st, 3, c->text);
		bind_text(st, 4, c->hash);
		sqlite3_bind_blob(st, 5, blob, bytes, SQLITE_TRANSIENT);
		bind_text(st, 6, now);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rc;
		rc = add_history(q, id, user, "updated", old, c->text, hmeta, now);
		if (rc == SQLITE_DONE)
			op->apply.updated++;
		return rc;
	case STORE_DELETE:
		if (!c->memory_id)
			return SQLITE_MISUSE;
		norm_id(c->memory_id, id);
		rc = old_text(q, op, user, id, &old);
		if (rc != SQLITE_DONE)
			return rc;
		if (!old) {
			op->apply.skipped++;
			return SQLITE_DONE;
		}
		st = stmt(q, Q_DELETE);
		if (!st)
			return SQLITE_ERROR;
		bind_text(st, 1, id);
		sqlite3_bind_int64(st, 2, user);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return rc;
		rc = add_history(q, id, user, "deleted", old, NULL, hmeta, now);
		if (rc == SQLITE_DONE)
			op->apply.deleted++;
		return rc;
	}
	return SQLITE_MISUSE;
}

static int sq_apply(struct store *s, const struct store_batch *b, store_apply_cb cb, void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	const char *hmeta = b->history_meta ? b->history_meta : "{}";
	unsigned char *blob;
	char now[TS_LEN + 1];
	struct sq_op *op;
	int rc, i;

	if (!usable(q))
		return -1;
	/* a vector store_pg.c refuses (NaN, infinities) is refused here too, before anything is written */
	for (i = 0; i < b->nchanges; i++)
		if (b->changes[i].kind != STORE_DELETE && !finite_vec(b->changes[i].embedding, s->dims))
			return -1;
	op = op_new(K_APPLY, (void (*)(void))cb, arg);
	blob = mw_malloc(4 * (size_t)s->dims);
	ts_format(ts_now_us(), now); /* one time for the whole transaction, as CURRENT_TIMESTAMP */
	rc = run(q, Q_BEGIN_WRITE);  /* the write lock: every writer of the file, every process */
	for (i = 0; rc == SQLITE_DONE && i < b->nkeys; i++) {
		sqlite3_stmt *st = stmt(q, Q_KEY_LOG);

		if (!st) {
			rc = SQLITE_ERROR;
			break;
		}
		sqlite3_bind_int64(st, 1, b->user);
		bind_text(st, 2, b->keys[i]);
		bind_text(st, 3, b->stream_ids ? b->stream_ids[i] : NULL);
		bind_text(st, 4, now);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE && sqlite3_changes(q->db) == 0) {
			char msg[128];

			snprintf(msg, sizeof(msg), "memworker: message key %d of %d was already applied", i + 1,
			         b->nkeys);
			op_fail_msg(op, STORE_CONFLICT, msg);
			rc = SQLITE_CONSTRAINT;
		}
	}
	for (i = 0; rc == SQLITE_DONE && i < b->nchanges; i++) {
		rc = one_change(q, op, b->user, &b->changes[i], hmeta, now, blob);
		if (rc != SQLITE_DONE && !op->errstr)
			op_fail(q, op, rc,
			        rc == SQLITE_MISUSE ? "change without its text, hash, vector or id" : "apply");
	}
	if (rc == SQLITE_DONE) {
		rc = run(q, Q_COMMIT);
		if (rc != SQLITE_DONE)
			op_fail(q, op, rc, "commit");
	} else if (!op->errstr) {
		op_fail(q, op, rc, "apply");
	}
	if (op->st != STORE_OK) {
		rollback(q);
		memset(&op->apply, 0, sizeof(op->apply));
	}
	free(blob);
	op_finish(q, op);
	return 0;
}

static int sq_delete(struct store *s, int64_t user, const char *memory_id, const char *history_meta, store_count_cb cb,
                     void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	char now[TS_LEN + 1], id[40];
	struct sq_op *op;
	const char *old = NULL;
	sqlite3_stmt *st;
	int rc;

	if (!usable(q))
		return -1;
	op = op_new(K_COUNT, (void (*)(void))cb, arg);
	norm_id(memory_id, id);
	ts_format(ts_now_us(), now);
	rc = run(q, Q_BEGIN_WRITE);
	if (rc == SQLITE_DONE)
		rc = old_text(q, op, user, id, &old);
	if (rc == SQLITE_DONE && !old) {
		op_fail_msg(op, STORE_NOT_FOUND, "no such memory for this user");
		rc = SQLITE_NOTFOUND;
	}
	if (rc == SQLITE_DONE) {
		st = stmt(q, Q_DELETE);
		rc = SQLITE_ERROR;
		if (st) {
			bind_text(st, 1, id);
			sqlite3_bind_int64(st, 2, user);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	if (rc == SQLITE_DONE)
		rc = add_history(q, id, user, "deleted", old, NULL, history_meta ? history_meta : "{}", now);
	if (rc == SQLITE_DONE)
		rc = run(q, Q_COMMIT);
	if (rc != SQLITE_DONE) {
		op_fail(q, op, rc, "delete");
		rollback(q);
	} else {
		op->count = 1;
	}
	op_finish(q, op);
	return 0;
}

static int run_user(struct store_sqlite *q, enum sq_stmt id, int64_t user)
{
	sqlite3_stmt *st = stmt(q, id);
	int rc;

	if (!st)
		return SQLITE_ERROR;
	sqlite3_bind_int64(st, 1, user);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc;
}

static int sq_delete_all(struct store *s, int64_t user, bool purge, const char *history_meta, store_count_cb cb,
                         void *arg)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	char now[TS_LEN + 1];
	struct sq_op *op;
	sqlite3_stmt *st;
	int rc;

	if (!usable(q))
		return -1;
	op = op_new(K_COUNT, (void (*)(void))cb, arg);
	ts_format(ts_now_us(), now);
	rc = run(q, Q_BEGIN_WRITE);
	if (rc == SQLITE_DONE && !purge) { /* purged history would be erased at once */
		st = stmt(q, Q_DELETE_ALL_HIST);
		rc = SQLITE_ERROR;
		if (st) {
			sqlite3_bind_int64(st, 1, user);
			bind_text(st, 2, history_meta ? history_meta : "{}");
			bind_text(st, 3, now);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
		}
	}
	if (rc == SQLITE_DONE) {
		rc = run_user(q, Q_DELETE_ALL, user);
		op->count = sqlite3_changes(q->db);
	}
	if (rc == SQLITE_DONE && purge)
		rc = run_user(q, Q_PURGE_HIST, user);
	if (rc == SQLITE_DONE && purge)
		rc = run_user(q, Q_PURGE_LOG, user);
	if (rc == SQLITE_DONE && purge)
		rc = run_user(q, Q_PURGE_META, user);
	if (rc == SQLITE_DONE)
		rc = run(q, Q_COMMIT);
	if (rc != SQLITE_DONE) {
		op_fail(q, op, rc, "delete_all");
		rollback(q);
		op->count = 0;
	}
	op_finish(q, op);
	return 0;
}

/* ---- lifetime ---- */

static bool sq_ready(const struct store *s)
{
	const struct store_sqlite *q = (const struct store_sqlite *)s;

	return q->db && !q->closing;
}

static void sq_destroy(struct store_sqlite *q)
{
	int i;

	event_free(q->deliver_ev);
	for (i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(q->stmts[i]);
	if (q->db && sqlite3_close(q->db) != SQLITE_OK)
		log_warn("store_sqlite: close %s: %s", q->path, sqlite3_errmsg(q->db));
	free(q->qbuf);
	free(q->path);
	free(q);
}

/*
 * Results already computed are delivered now, inside store_free (the work
 * is done; the callers learn its outcome). Freed from inside one of its own
 * callbacks, the store goes when that callback returns.
 */
static void sq_free(struct store *s)
{
	struct store_sqlite *q = (struct store_sqlite *)s;
	struct sq_op *op;

	q->closing = true;
	q->delivering++;
	while ((op = TAILQ_FIRST(&q->done))) {
		TAILQ_REMOVE(&q->done, op, link);
		op_fire(op);
		op_free(op);
	}
	q->delivering--;
	if (q->delivering == 0)
		sq_destroy(q);
}

static const struct store_vt sqlite_vt = {
        .name = "sqlite",
        .filter_keys = sq_filter_keys,
        .candidates = sq_candidates,
        .apply = sq_apply,
        .search = sq_search,
        .get = sq_get,
        .get_all = sq_get_all,
        .history = sq_history,
        .delete_one = sq_delete,
        .delete_all = sq_delete_all,
        .stats = sq_stats,
        .ready = sq_ready,
        .free = sq_free,
};

struct store *store_sqlite_new(struct event_base *base, const char *path, int dims, const char *fallback_reason,
                               char *err, size_t errlen)
{
	struct store_sqlite *q;
	sqlite3 *db;

	if (dims < 1 || dims > VEC_MAX_DIMS) {
		snprintf(err, errlen, "MEM0_EMBEDDING_DIMS: %d is out of range", dims);
		return NULL;
	}
	db = store_sqlite_open_db(path, dims, true, err, errlen);
	if (!db)
		return NULL;
	q = mw_calloc(1, sizeof(*q));
	q->base.vt = &sqlite_vt;
	q->base.dims = dims;
	q->base.fallback_reason = fallback_reason ? mw_strdup(fallback_reason) : NULL;
	q->db = db;
	q->path = mw_strdup(path);
	q->qbuf = mw_malloc(sizeof(float) * (size_t)dims);
	TAILQ_INIT(&q->done);
	q->deliver_ev = event_new(base, -1, 0, deliver_cb, q);
	return &q->base;
}
