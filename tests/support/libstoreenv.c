/*
 * storeenv: see storeenv.h.
 */
#include "storeenv.h"

#include "mhash.h"
#include "migrate.h"
#include "store_sqlite.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum senv_kind senv_kind_from_env(void)
{
	const char *k = getenv("MW_TEST_STORE");

	return k && strcmp(k, "sqlite") == 0 ? SENV_SQLITE : SENV_PG;
}

const char *senv_kind_name(enum senv_kind kind)
{
	return kind == SENV_SQLITE ? "sqlite" : "pgvector";
}

bool senv_is_pg(const struct senv *s)
{
	return s->kind == SENV_PG;
}

static void add_env(struct senv *s, const char *name, const char *value)
{
	cr_assert(s->nenv < SENV_MAX_ENV);
	snprintf(s->env[s->nenv++], sizeof(s->env[0]), "%s=%s", name, value);
}

static void sql_md5(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char out[33];

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	mhash_memory((const char *)sqlite3_value_text(argv[0]), out);
	sqlite3_result_text(ctx, out, -1, SQLITE_TRANSIENT);
}

sqlite3 *senv_sqlite_open(const char *path)
{
	char err[512];
	sqlite3 *db = store_sqlite_open_db(path, 0, false, err, sizeof(err));

	cr_assert_not_null(db, "%s", err);
	sqlite3_create_function(db, "md5", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_md5, NULL, NULL);
	return db;
}

void senv_migrate(struct senv *s)
{
	struct migrate_opts o = {.embedding_dims = s->dims};
	struct migrate_result res;

	cr_assert(senv_is_pg(s));
	cr_assert_eq(migrate_run(s->pg, &o, &res), 0, "migrate: %s", res.errstr);
}

static PGconn *connect_db(int port, const char *db)
{
	char ports[16];
	const char *keys[] = {"host", "port", "user", "dbname", NULL};
	const char *vals[] = {"127.0.0.1", ports, "postgres", db, NULL};
	PGconn *c;

	snprintf(ports, sizeof(ports), "%d", port);
	c = PQconnectdbParams(keys, vals, 0);
	cr_assert(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

void senv_setup(struct senv *s, enum senv_kind kind, const char *prefix, int dims, bool migrate)
{
	senv_setup_on(s, kind, prefix, dims, migrate, 0);
}

void senv_setup_on(struct senv *s, enum senv_kind kind, const char *prefix, int dims, bool migrate, int pg_port)
{
	char port[16];

	tenv_require_servers();
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->dims = dims;
	if (kind == SENV_PG) {
		s->pg_port = pg_port ? pg_port : tenv_pg_port();
		if (pg_port) {
			PGconn *admin = connect_db(pg_port, "postgres");
			char sql[128];

			tenv_unique(prefix, s->db, sizeof(s->db));
			snprintf(sql, sizeof(sql), "CREATE DATABASE %s", s->db);
			PQclear(tenv_pg_exec(admin, sql));
			PQfinish(admin);
			s->pg = connect_db(pg_port, s->db);
		} else {
			s->pg = tenv_pg_new_db(prefix, s->db);
		}
		if (migrate)
			senv_migrate(s);
		snprintf(port, sizeof(port), "%d", s->pg_port);
		add_env(s, "MEM0_PROVIDER", "pgvector");
		add_env(s, "POSTGRES_HOST", "127.0.0.1");
		add_env(s, "POSTGRES_PORT", port);
		add_env(s, "POSTGRES_USER", "postgres");
		add_env(s, "POSTGRES_DB", s->db);
	} else {
		char name[64], err[512];
		sqlite3 *db;

		tenv_unique(prefix, name, sizeof(name));
		snprintf(s->sqlite_path, sizeof(s->sqlite_path), "%s/%s.db",
		         getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp", name);
		db = store_sqlite_open_db(s->sqlite_path, dims, true, err, sizeof(err));
		cr_assert_not_null(db, "%s", err);
		sqlite3_close(db);
		s->sqlite = senv_sqlite_open(s->sqlite_path);
		add_env(s, "MEM0_PROVIDER", "memory");
		add_env(s, "MEM0_SQLITE_PATH", s->sqlite_path);
	}
}

void senv_attach_sqlite(struct senv *s, const char *path, int dims)
{
	memset(s, 0, sizeof(*s));
	s->kind = SENV_SQLITE;
	s->dims = dims;
	snprintf(s->sqlite_path, sizeof(s->sqlite_path), "%s", path);
	s->sqlite = senv_sqlite_open(path);
	add_env(s, "MEM0_PROVIDER", "memory");
	add_env(s, "MEM0_SQLITE_PATH", s->sqlite_path);
}

void senv_teardown(struct senv *s)
{
	if (s->pg)
		PQfinish(s->pg);
	s->pg = NULL;
	if (s->sqlite) {
		char side[300];

		sqlite3_close(s->sqlite);
		s->sqlite = NULL;
		unlink(s->sqlite_path);
		snprintf(side, sizeof(side), "%s-wal", s->sqlite_path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", s->sqlite_path);
		unlink(side);
	}
}

/* PostgreSQL spellings SQLite reads otherwise. */
static char *portable(const char *sql)
{
	size_t n = strlen(sql);
	char *out = malloc(n + 1), *p;

	cr_assert(out);
	memcpy(out, sql, n + 1);
	while ((p = strstr(out, " ILIKE ")))
		memmove(p + 1, p + 2, strlen(p + 2) + 1); /* " ILIKE " -> " LIKE " */
	return out;
}

static sqlite3_stmt *sqlite_row(sqlite3 *db, const char *sql)
{
	char *q = portable(sql);
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
	cr_assert_eq(rc, SQLITE_OK, "SQLite: %s\n%s", sqlite3_errmsg(db), q);
	rc = sqlite3_step(st);
	cr_assert_eq(rc, SQLITE_ROW, "expected one row (%s) from %s", sqlite3_errmsg(db), q);
	free(q);
	return st;
}

long long senv_sqlite_count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = sqlite_row(db, sql);
	long long n = sqlite3_column_int64(st, 0);

	sqlite3_finalize(st);
	return n;
}

long long senv_count(struct senv *s, const char *sql)
{
	if (s->kind == SENV_PG)
		return tenv_pg_count(s->pg, sql);
	return senv_sqlite_count(s->sqlite, sql);
}

char *senv_text(struct senv *s, const char *sql)
{
	char *out = NULL;

	if (s->kind == SENV_PG) {
		PGresult *r = tenv_pg_exec(s->pg, sql);

		cr_assert_eq(PQntuples(r), 1, "expected one row from %s", sql);
		if (!PQgetisnull(r, 0, 0))
			out = strdup(PQgetvalue(r, 0, 0));
		PQclear(r);
	} else {
		sqlite3_stmt *st = sqlite_row(s->sqlite, sql);

		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			out = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	return out;
}

void senv_exec(struct senv *s, const char *sql)
{
	char *q, *err = NULL;

	if (s->kind == SENV_PG) {
		PQclear(tenv_pg_exec(s->pg, sql));
		return;
	}
	q = portable(sql);
	cr_assert_eq(sqlite3_exec(s->sqlite, q, NULL, NULL, &err), SQLITE_OK, "SQLite: %s\n%s", err ? err : "", q);
	free(q);
}
