/*
 * mem0: see mem0.h. Two read-only SQLite connections; the first pass
 * (mem0_open) checks and counts, the second (the xfer reader) converts
 * row by row.
 */
#include "mem0.h"

#include "log.h"
#include "mem0map.h"
#include "mhash.h"
#include "ts.h"
#include "uuid4.h"
#include "vec.h"
#include "xfer.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLES 3

struct m0_user {
	char *name;
	long long id; /* 0: unmapped */
	long long memories, history;
	char *sample[SAMPLES];
};

struct m0_owner {
	char id[40]; /* memory id, lower case */
	int user;    /* index into users */
};

struct m0 {
	struct xfer_store base;
	sqlite3 *vdb, *hdb;
	char *dir;
	struct mem0_opts opts;
	struct m0_user *users;
	int nusers;
	struct m0_owner *owners; /* sorted by id */
	size_t nowners;
	long long orphan_rows, orphan_memories;
	float *vec;
};

static int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void lower_id(const char *in, char out[40])
{
	size_t i;

	for (i = 0; in && in[i] && i < 39; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

/* Mem0's userId as text: strings as they are, numbers printed; NULL when absent. */
static char *user_name(json_t *payload)
{
	json_t *u = json_object_get(payload, "userId");
	char buf[64];

	if (json_is_string(u))
		return mw_strdup(json_string_value(u));
	if (json_is_integer(u)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(u));
		return mw_strdup(buf);
	}
	return NULL;
}

static int user_index(struct m0 *z, const char *name)
{
	int i;

	for (i = 0; i < z->nusers; i++)
		if (strcmp(z->users[i].name, name) == 0)
			return i;
	z->users = mw_realloc(z->users, sizeof(*z->users) * (size_t)(z->nusers + 1));
	memset(&z->users[z->nusers], 0, sizeof(z->users[0]));
	z->users[z->nusers].name = mw_strdup(name);
	if (!usermap_get(z->opts.users, name, &z->users[z->nusers].id))
		z->users[z->nusers].id = 0;
	return z->nusers++;
}

static int cmp_owner(const void *a, const void *b)
{
	return strcmp(((const struct m0_owner *)a)->id, ((const struct m0_owner *)b)->id);
}

static const struct m0_owner *owner_of(const struct m0 *z, const char *memory_id)
{
	struct m0_owner key;

	lower_id(memory_id, key.id);
	return bsearch(&key, z->owners, z->nowners, sizeof(key), cmp_owner);
}

static sqlite3 *open_ro(const char *dir, const char *file, char *err, size_t errlen)
{
	char path[4096];
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		errf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *file, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		errf(err, errlen, "%s is not a Mem0 store: %s", file, sqlite3_errmsg(db));
		return NULL;
	}
	return st;
}

/* ---- the first pass: check and count ---- */

static int scan_memories(struct m0 *z, char *err, size_t errlen)
{
	sqlite3_stmt *st =
	        prep(z->vdb, "vector_store.db", "SELECT id, length(vector), payload FROM vectors", err, errlen);
	size_t cap = 0;
	int rc, bytes = -1;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		json_t *p = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		json_t *data = json_object_get(p, "data");
		char *name = user_name(p);
		int len = sqlite3_column_int(st, 1), u;

		if (!uuid4_is_canonical(id) || !json_is_object(p) || !json_is_string(data) || !name) {
			errf(err, errlen, "vector_store.db: row %s: %s", id ? id : "(null)",
			     !uuid4_is_canonical(id) ? "id is not a UUID"
			     : !json_is_object(p)    ? "payload is not a JSON object"
			     : !json_is_string(data) ? "payload has no text (data)"
			                             : "payload has no userId");
			json_decref(p);
			free(name);
			sqlite3_finalize(st);
			return -1;
		}
		if (bytes < 0)
			bytes = len;
		if (len != bytes || len % 4 || len == 0) {
			errf(err, errlen, "vector_store.db: memory %s has a %d-byte vector, others %d bytes", id, len,
			     bytes);
			json_decref(p);
			free(name);
			sqlite3_finalize(st);
			return -1;
		}
		u = user_index(z, name);
		free(name);
		if (z->users[u].memories < SAMPLES)
			z->users[u].sample[z->users[u].memories] = mw_strdup(json_string_value(data));
		z->users[u].memories++;
		if (z->nowners == cap) {
			cap = cap ? cap * 2 : 256;
			z->owners = mw_realloc(z->owners, cap * sizeof(*z->owners));
		}
		lower_id(id, z->owners[z->nowners].id);
		z->owners[z->nowners].user = u;
		z->nowners++;
		json_decref(p);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return errf(err, errlen, "vector_store.db: %s", sqlite3_errmsg(z->vdb));
	qsort(z->owners, z->nowners, sizeof(*z->owners), cmp_owner);
	z->base.dims = bytes > 0 ? bytes / 4 : z->opts.want_dims;
	return 0;
}

static int scan_history(struct m0 *z, char *err, size_t errlen)
{
	sqlite3_stmt *st =
	        prep(z->hdb, "memory.db", "SELECT id, memory_id, action FROM memory_history ORDER BY id", err, errlen);
	int rc;

	if (!st)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *mid = (const char *)sqlite3_column_text(st, 1);
		const char *action = (const char *)sqlite3_column_text(st, 2);
		const struct m0_owner *o;

		if (!uuid4_is_canonical(mid)) {
			errf(err, errlen, "memory.db: history row %lld: memory_id '%s' is not a UUID",
			     (long long)sqlite3_column_int64(st, 0), mid ? mid : "(null)");
			sqlite3_finalize(st);
			return -1;
		}
		if (!mem0_action_map(action)) {
			errf(err, errlen,
			     "memory.db: history row %lld: unknown action '%s' (expected ADD, UPDATE, DELETE)",
			     (long long)sqlite3_column_int64(st, 0), action ? action : "(null)");
			sqlite3_finalize(st);
			return -1;
		}
		o = owner_of(z, mid);
		if (o)
			z->users[o->user].history++;
		else
			z->orphan_rows++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return errf(err, errlen, "memory.db: %s", sqlite3_errmsg(z->hdb));
	return 0;
}

/* Distinct memory ids in the history that vector_store.db no longer has. */
static long long count_orphan_memories(struct m0 *z)
{
	sqlite3_stmt *st = NULL;
	long long n = 0;

	if (sqlite3_prepare_v2(z->hdb, "SELECT DISTINCT memory_id FROM memory_history", -1, &st, NULL) != SQLITE_OK)
		return 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (!owner_of(z, (const char *)sqlite3_column_text(st, 0)))
			n++;
	sqlite3_finalize(st);
	return n;
}

static void print_plan(const struct m0 *z, FILE *out)
{
	int i, k;

	fprintf(out, "mem0 store %s: %zu memories (%d dimensions), %d user%s\n", z->dir, z->nowners, z->base.dims,
	        z->nusers, z->nusers == 1 ? "" : "s");
	for (i = 0; i < z->nusers; i++) {
		const struct m0_user *u = &z->users[i];

		if (u->id)
			fprintf(out, "  user \"%s\" -> %lld: %lld memories, %lld history rows", u->name, u->id,
			        u->memories, u->history);
		else
			fprintf(out, "  user \"%s\" -> UNMAPPED: %lld memories, %lld history rows", u->name,
			        u->memories, u->history);
		for (k = 0; k < SAMPLES && u->sample[k]; k++)
			fprintf(out, "%s\"%s\"", k ? ", " : "; e.g. ", u->sample[k]);
		fprintf(out, "\n");
	}
	if (z->orphan_rows) {
		fprintf(out, "  %lld history rows of %lld memories no longer in vector_store.db (user unknown)",
		        z->orphan_rows, z->orphan_memories);
		if (z->opts.orphan_user)
			fprintf(out, " -> %lld\n", z->opts.orphan_user);
		else if (z->opts.skip_orphans)
			fprintf(out, ": skipped\n");
		else
			fprintf(out, ": no --orphan-user or --skip-orphans\n");
	}
}

/* ---- the second pass: rows for the writer ---- */

static int m0_read_begin(struct xfer_store *s)
{
	struct m0 *z = (struct m0 *)s;

	if (sqlite3_exec(z->vdb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(z->hdb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return errf(s->err, sizeof(s->err), "mem0 store %s: cannot read", z->dir);
	return 0;
}

/* The first of the texts that is RFC 3339, in canonical form; NULL if none. Errors on a bad one. */
static int pick_time(struct m0 *z, const char *what, const char *const *cands, int n, char out[TS_LEN + 1],
                     const char **picked)
{
	int i;

	*picked = NULL;
	for (i = 0; i < n; i++) {
		if (!cands[i] || !cands[i][0])
			continue;
		if (ts_canonical(cands[i], out) < 0)
			return errf(z->base.err, sizeof(z->base.err), "%s: '%s' is not an RFC 3339 time", what,
			            cands[i]);
		*picked = out;
		return i;
	}
	return n;
}

static const char *json_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int m0_each_memory(struct xfer_store *s, xfer_memory_fn fn, void *arg)
{
	static const char *const own_keys[] = {"data", "hash", "userId", "sessionId", "createdAt", "updatedAt"};
	struct m0 *z = (struct m0 *)s;
	char err[256];
	sqlite3_stmt *st = prep(z->vdb, "vector_store.db",
	                        "SELECT id, vector, payload FROM vectors "
	                        "ORDER BY json_extract(payload, '$.createdAt'), id",
	                        err, sizeof(err));
	int rc = SQLITE_DONE;

	if (!st)
		return errf(s->err, sizeof(s->err), "%s", err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *p = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		struct xfer_memory m = {0};
		const struct m0_owner *o;
		char created[TS_LEN + 1], updated[TS_LEN + 1], hash[33], what[96], *meta;
		const char *cands[3];
		size_t k;
		int i, stop;

		lower_id((const char *)sqlite3_column_text(st, 0), m.id);
		o = owner_of(z, m.id);
		if (!o || !json_is_object(p)) {
			json_decref(p);
			rc = SQLITE_ERROR;
			errf(s->err, sizeof(s->err), "vector_store.db changed while importing (memory %s)", m.id);
			break;
		}
		m.user = z->users[o->user].id;
		m.text = json_str(p, "data");
		mhash_memory(m.text, hash);
		m.hash = hash;
		m.session_id = json_str(p, "sessionId") ? json_str(p, "sessionId") : "";
		snprintf(what, sizeof(what), "vector_store.db: memory %s createdAt", m.id);
		cands[0] = json_str(p, "createdAt");
		cands[1] = json_str(p, "timestamp");
		cands[2] = json_str(p, "updatedAt");
		if (pick_time(z, what, cands, 3, created, &m.created_at) < 0) {
			json_decref(p);
			rc = SQLITE_ERROR;
			break;
		}
		if (!m.created_at) {
			json_decref(p);
			rc = SQLITE_ERROR;
			errf(s->err, sizeof(s->err),
			     "vector_store.db: memory %s has no createdAt, timestamp or updatedAt", m.id);
			break;
		}
		snprintf(what, sizeof(what), "vector_store.db: memory %s updatedAt", m.id);
		cands[0] = json_str(p, "updatedAt");
		if (pick_time(z, what, cands, 1, updated, &m.updated_at) < 0) {
			json_decref(p);
			rc = SQLITE_ERROR;
			break;
		}
		if (!m.updated_at)
			m.updated_at = m.created_at;
		vec_from_le_blob(sqlite3_column_blob(st, 1), s->dims, z->vec);
		for (i = 0; i < s->dims; i++)
			if (!isfinite(z->vec[i]))
				break;
		if (i < s->dims) {
			json_decref(p);
			rc = SQLITE_ERROR;
			errf(s->err, sizeof(s->err), "vector_store.db: memory %s: the vector has a NaN or infinity",
			     m.id);
			break;
		}
		m.embedding = z->vec;
		/* the payload's other keys are the memory's metadata; Mem0's user id stays as the app's user_id */
		{
			json_t *md = json_deep_copy(p);

			for (k = 0; k < sizeof(own_keys) / sizeof(own_keys[0]); k++)
				json_object_del(md, own_keys[k]);
			json_object_set_new(md, "user_id", json_string(z->users[o->user].name));
			meta = json_dumps(md, JSON_COMPACT | JSON_SORT_KEYS);
			json_decref(md);
		}
		m.metadata = meta;
		stop = fn(arg, &m);
		free(meta);
		json_decref(p);
		if (stop < 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE && !s->err[0])
		errf(s->err, sizeof(s->err), "vector_store.db: %s", sqlite3_errmsg(z->vdb));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int m0_each_history(struct xfer_store *s, xfer_history_fn fn, void *arg)
{
	struct m0 *z = (struct m0 *)s;
	char err[256];
	/* prev: the latest time of the memory's earlier rows, for rows that carry none */
	sqlite3_stmt *st = prep(z->hdb, "memory.db",
	                        "SELECT id, memory_id, previous_value, new_value, action, created_at, updated_at, "
	                        "max(coalesce(updated_at, created_at)) OVER (PARTITION BY memory_id ORDER BY id "
	                        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) FROM memory_history ORDER BY id",
	                        err, sizeof(err));
	int rc = SQLITE_DONE;

	if (!st)
		return errf(s->err, sizeof(s->err), "%s", err);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct xfer_history h = {0};
		long long hid = sqlite3_column_int64(st, 0);
		const char *created = (const char *)sqlite3_column_text(st, 5);
		const char *updated = (const char *)sqlite3_column_text(st, 6);
		const char *prev = (const char *)sqlite3_column_text(st, 7);
		const struct m0_owner *o;
		const char *cands[3];
		char when[TS_LEN + 1], what[64], *meta;
		json_t *md;
		int picked, stop;

		lower_id((const char *)sqlite3_column_text(st, 1), h.memory_id);
		o = owner_of(z, h.memory_id);
		if (!o && z->opts.skip_orphans)
			continue;
		h.user = o ? z->users[o->user].id : z->opts.orphan_user;
		h.action = mem0_action_map((const char *)sqlite3_column_text(st, 4));
		h.previous_content = (const char *)sqlite3_column_text(st, 2);
		h.new_content = (const char *)sqlite3_column_text(st, 3);
		/* ADD happened when the memory was made; UPDATE and DELETE when the row was last touched */
		cands[0] = strcmp(h.action, "created") == 0 ? created : updated;
		cands[1] = strcmp(h.action, "created") == 0 ? updated : created;
		cands[2] = prev;
		snprintf(what, sizeof(what), "memory.db: history row %lld", hid);
		picked = pick_time(z, what, cands, 3, when, &h.created_at);
		if (picked < 0 || !h.action) {
			rc = SQLITE_ERROR;
			break;
		}
		md = json_pack("{s:s, s:I}", "imported_from", "mem0-sqlite", "mem0_history_id", (json_int_t)hid);
		if (picked == 2)
			json_object_set_new(md, "created_at_estimated", json_true());
		if (!o)
			json_object_set_new(md, "user_unknown", json_true());
		meta = json_dumps(md, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(md);
		h.metadata = meta;
		stop = fn(arg, &h);
		free(meta);
		if (stop < 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE && !s->err[0])
		errf(s->err, sizeof(s->err), "memory.db: %s", sqlite3_errmsg(z->hdb));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Mem0 has no ingest log and no counts of its own: the writer recounts. */
static int m0_each_ingest(struct xfer_store *s, xfer_ingest_fn fn, void *arg)
{
	(void)s, (void)fn, (void)arg;
	return 0;
}

static int m0_each_counts(struct xfer_store *s, xfer_counts_fn fn, void *arg)
{
	(void)s, (void)fn, (void)arg;
	return 0;
}

static void m0_close(struct xfer_store *s)
{
	struct m0 *z = (struct m0 *)s;
	int i, k;

	sqlite3_close(z->vdb);
	sqlite3_close(z->hdb);
	for (i = 0; i < z->nusers; i++) {
		free(z->users[i].name);
		for (k = 0; k < SAMPLES; k++)
			free(z->users[i].sample[k]);
	}
	free(z->users);
	free(z->owners);
	free(z->vec);
	free(z->dir);
	free(z);
}

static const struct xfer_vt mem0_vt = {
        .read_begin = m0_read_begin,
        .each_memory = m0_each_memory,
        .each_history = m0_each_history,
        .each_ingest = m0_each_ingest,
        .each_counts = m0_each_counts,
        .close = m0_close,
};

/* Every refusal at once: the operator fixes the map in one go. */
static int check_mapping(struct m0 *z, char *err, size_t errlen)
{
	size_t len = 0;
	int i, unmapped = 0;

	for (i = 0; i < z->nusers; i++)
		unmapped += z->users[i].id == 0;
	if (unmapped) {
		len += (size_t)snprintf(err + len, errlen - len,
		                        "%d Mem0 user%s not mapped to a user id (--user NAME=ID or --user-map FILE):",
		                        unmapped, unmapped == 1 ? " is" : "s are");
		for (i = 0; i < z->nusers && len < errlen; i++)
			if (!z->users[i].id)
				len += (size_t)snprintf(err + len, errlen - len, " \"%s\" (%lld memories)",
				                        z->users[i].name, z->users[i].memories);
	}
	if (z->orphan_rows && !z->opts.orphan_user && !z->opts.skip_orphans && len < errlen)
		len += (size_t)snprintf(err + len, errlen - len,
		                        "%s%lld history rows belong to %lld memories no longer in vector_store.db, so "
		                        "their user is unknown: give them to one user with --orphan-user ID, or leave "
		                        "them out with --skip-orphans",
		                        len ? "\n" : "", z->orphan_rows, z->orphan_memories);
	if (z->opts.want_dims && z->nowners && z->base.dims != z->opts.want_dims && len < errlen)
		len += (size_t)snprintf(err + len, errlen - len,
		                        "%svector_store.db holds %d-dimension embeddings, but MEM0_EMBEDDING_DIMS=%d: "
		                        "nothing imported (import into a store made for %d dimensions)",
		                        len ? "\n" : "", z->base.dims, z->opts.want_dims, z->base.dims);
	return len ? -1 : 0;
}

struct xfer_store *mem0_open(const char *dir, const struct mem0_opts *o, FILE *plan, char *err, size_t errlen)
{
	struct m0 *z = mw_calloc(1, sizeof(*z));

	z->base.vt = &mem0_vt;
	z->opts = *o;
	z->dir = mw_strdup(dir);
	snprintf(z->base.name, sizeof(z->base.name), "mem0 store %s", dir);
	z->vdb = open_ro(dir, "vector_store.db", err, errlen);
	if (!z->vdb)
		goto fail;
	z->hdb = open_ro(dir, "memory.db", err, errlen);
	if (!z->hdb)
		goto fail;
	if (scan_memories(z, err, errlen) < 0 || scan_history(z, err, errlen) < 0)
		goto fail;
	z->orphan_memories = z->orphan_rows ? count_orphan_memories(z) : 0;
	if (plan)
		print_plan(z, plan);
	if (check_mapping(z, err, errlen) < 0)
		goto fail;
	z->vec = mw_malloc(sizeof(float) * (size_t)(z->base.dims > 0 ? z->base.dims : 1));
	return &z->base;
fail:
	m0_close(&z->base);
	return NULL;
}
