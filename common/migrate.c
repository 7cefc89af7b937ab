/*
 * migrate: see migrate.h. Errors from PostgreSQL are turned into one line
 * that says what to do: the package to install for a missing pgvector, the
 * GRANT for a missing right.
 */
#include "migrate.h"

#include "log.h"
#include "schema.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any fixed key; shared by every memctl migrate against the database. */
#define MIGRATE_LOCK_KEY 0x6d656d776b72LL	/* "memwkr" */

void migrate_checksum(const char *text, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL);
	for (i = 0; i < len && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

static int version_of(const char *name)
{
	return atoi(name);
}

/* Explains a failed result in one line, with the fix where we know it. */
static void explain(PGconn *conn, const PGresult *r, const char *what, struct migrate_result *res)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *hint = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *db = PQdb(conn), *user = PQuser(conn);
	char msg[512];

	if (!primary) {
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		primary = msg;
	}
	if (state && strcmp(state, "42501") == 0 && strstr(primary, "extension")) {
		snprintf(res->errstr, sizeof(res->errstr),
			 "%s: user %s may not create the pgvector extension; as a superuser run: "
			 "CREATE EXTENSION vector; in database %s", what, user, db);
	} else if (state && strcmp(state, "42501") == 0) {
		snprintf(res->errstr, sizeof(res->errstr),
			 "%s: permission denied (%s); as the database owner run: "
			 "GRANT CREATE ON DATABASE %s TO %s; GRANT CREATE ON SCHEMA public TO %s;",
			 what, primary, db, user, user);
	} else if (state && (strcmp(state, "58P01") == 0 || strcmp(state, "0A000") == 0) &&
		   strstr(primary, "vector")) {
		snprintf(res->errstr, sizeof(res->errstr),
			 "%s: pgvector is not installed on the PostgreSQL server: install "
			 "postgresql-15-pgvector (on Debian 12: scripts/setup.sh builds it from source)", what);
	} else {
		snprintf(res->errstr, sizeof(res->errstr), "%s: %s%s%s%s%s", what, primary,
			 state ? " [" : "", state ? state : "", state ? "]" : "",
			 hint ? "" : "");
		if (hint) {
			size_t n = strlen(res->errstr);
			snprintf(res->errstr + n, sizeof(res->errstr) - n, " (hint: %s)", hint);
		}
	}
	res->errstr[strcspn(res->errstr, "\n")] = '\0';
}

/* Runs sql (no parameters); 0 on success, else -1 with res->errstr set. */
static int exec_simple(PGconn *conn, const char *sql, const char *what, struct migrate_result *res)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		explain(conn, r, what, res);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

static int exec_params(PGconn *conn, const char *sql, int n, const char *const *vals, const char *what,
		       struct migrate_result *res, PGresult **out)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		explain(conn, r, what, res);
		PQclear(r);
		return -1;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return 0;
}

static int sync_hnsw(PGconn *conn, bool want, struct migrate_result *res)
{
	/* Cosine HNSW: costs every insert, pays off only for very large users. */
	if (want)
		return exec_simple(conn,
				   "CREATE INDEX IF NOT EXISTS mem0_memories_embedding_hnsw "
				   "ON mem0_memories USING hnsw (embedding vector_cosine_ops)",
				   "MEM0_HNSW=true", res);
	return exec_simple(conn, "DROP INDEX IF EXISTS mem0_memories_embedding_hnsw", "MEM0_HNSW=false", res);
}

/* One table holds one dimension: a changed MEM0_EMBEDDING_DIMS is refused. */
static int check_dims(PGconn *conn, int want, struct migrate_result *res)
{
	PGresult *r = NULL;
	int have;

	if (exec_params(conn,
			"SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = 'mem0_memories'::regclass "
			"AND a.attname = 'embedding' AND NOT a.attisdropped",
			0, NULL, "embedding dimension", res, &r) < 0)
		return -1;
	have = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	if (have != want) {
		snprintf(res->errstr, sizeof(res->errstr),
			 "MEM0_EMBEDDING_DIMS=%d but mem0_memories.embedding is vector(%d): one table holds one "
			 "dimension; set MEM0_EMBEDDING_DIMS=%d or use another database",
			 want, have, have);
		return -1;
	}
	return 0;
}

static int apply_one(PGconn *conn, const struct schema_file *f, const char *dims, const char *sum,
		     struct migrate_result *res)
{
	char ver[16];
	const char *vals[3];
	char what[128];

	snprintf(what, sizeof(what), "migration %s", f->name);
	snprintf(ver, sizeof(ver), "%d", version_of(f->name));
	if (exec_simple(conn, "BEGIN", what, res) < 0)
		return -1;
	vals[0] = dims;
	if (exec_params(conn, "SELECT set_config('memworker.embedding_dims', $1, true)", 1, vals, what, res,
			NULL) < 0)
		goto fail;
	if (exec_simple(conn, f->sql, what, res) < 0)
		goto fail;
	vals[0] = ver;
	vals[1] = f->name;
	vals[2] = sum;
	if (exec_params(conn, "INSERT INTO memworker_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3,
			vals, what, res, NULL) < 0)
		goto fail;
	if (exec_simple(conn, "COMMIT", what, res) < 0)
		goto fail;
	log_info("applied %s", f->name);
	return 0;
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return -1;
}

int migrate_run(PGconn *conn, const struct migrate_opts *opts, struct migrate_result *res)
{
	const struct schema_file *files = opts->files ? opts->files : schema_files;
	int count = opts->files ? opts->file_count : schema_file_count;
	char dims[16], lockkey[32];
	const char *vals[1];
	PGresult *r = NULL;
	int i, rc = -1;

	memset(res, 0, sizeof(*res));
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(res->errstr, sizeof(res->errstr), "not connected to PostgreSQL");
		return -1;
	}
	snprintf(dims, sizeof(dims), "%d", opts->embedding_dims);
	snprintf(lockkey, sizeof(lockkey), "%lld", MIGRATE_LOCK_KEY);
	vals[0] = lockkey;
	if (exec_params(conn, "SELECT pg_advisory_lock($1::bigint)", 1, vals, "migrate lock", res, NULL) < 0)
		return -1;
	if (exec_simple(conn,
			"SET client_min_messages = warning;"
			"CREATE TABLE IF NOT EXISTS memworker_migrations ("
			" version INTEGER PRIMARY KEY,"
			" name TEXT NOT NULL,"
			" checksum TEXT NOT NULL,"
			" applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)",
			"migrations table", res) < 0)
		goto out;

	for (i = 0; i < count; i++) {
		const struct schema_file *f = &files[i];
		char sum[65], ver[16];
		const char *v1[1];

		migrate_checksum(f->sql, sum);
		snprintf(ver, sizeof(ver), "%d", version_of(f->name));
		v1[0] = ver;
		if (exec_params(conn, "SELECT name, checksum FROM memworker_migrations WHERE version = $1", 1, v1,
				"migrations table", res, &r) < 0)
			goto out;
		if (PQntuples(r) == 1) {
			if (strcmp(PQgetvalue(r, 0, 1), sum) != 0) {
				snprintf(res->errstr, sizeof(res->errstr),
					 "migration %s was applied with checksum %.12s but the file now has %.12s: "
					 "applied migrations must not change; put the change in a new migration",
					 f->name, PQgetvalue(r, 0, 1), sum);
				goto out;
			}
			res->already++;
			PQclear(r);
			r = NULL;
			continue;
		}
		PQclear(r);
		r = NULL;
		if (apply_one(conn, f, dims, sum, res) < 0)
			goto out;
		res->applied++;
	}
	if (check_dims(conn, opts->embedding_dims, res) < 0)
		goto out;
	if (sync_hnsw(conn, opts->hnsw, res) < 0)
		goto out;
	rc = 0;
out:
	PQclear(r);
	PQclear(PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, vals, NULL, NULL, 0));
	return rc;
}
