/*
 * storeenv: the store an integration test runs against, so one suite runs
 * against both backends (parameterized, not copied): MW_TEST_STORE=sqlite
 * (set by tests/CMakeLists.txt for the suites in MW_STORE_SUITES) means the
 * SQLite store, anything else PostgreSQL. A test gets a fresh store of
 * either kind, the environment lines a daemon needs to use it, and
 * senv_count() to run its assertions' SQL on whichever it is.
 *
 * Queries stay portable: both stores have the same tables and columns.
 * On SQLite, md5(text) is provided and " ILIKE " reads as " LIKE " (which
 * SQLite already compares without case for ASCII); jsonb's ->> works in
 * both (SQLite >= 3.38). Write other PostgreSQL-only SQL under senv_is_pg().
 */
#ifndef MW_STOREENV_H
#define MW_STOREENV_H

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdbool.h>

enum senv_kind { SENV_PG = 0, SENV_SQLITE };

#define SENV_MAX_ENV 8

struct senv {
	enum senv_kind kind;
	int dims;
	char db[64];                 /* SENV_PG: the test's database */
	int pg_port;                 /* SENV_PG: its server */
	PGconn *pg;                  /* SENV_PG */
	char sqlite_path[256];       /* SENV_SQLITE: the store file */
	sqlite3 *sqlite;             /* SENV_SQLITE: the test's own connection */
	char env[SENV_MAX_ENV][320]; /* NAME=VALUE for a daemon on this store */
	int nenv;
};

/* The kind MW_TEST_STORE asks for. */
enum senv_kind senv_kind_from_env(void);
const char *senv_kind_name(enum senv_kind kind);

/*
 * A fresh store: SENV_PG a new database, migrated at dims, unless
 * migrate is false (the caller loads a schema first and runs
 * senv_migrate); SENV_SQLITE a new file under MW_TEST_TMP with its schema.
 */
void senv_setup(struct senv *s, enum senv_kind kind, const char *prefix, int dims, bool migrate);
/* As senv_setup; SENV_PG on the PostgreSQL at pg_port (0: the shared one). */
void senv_setup_on(struct senv *s, enum senv_kind kind, const char *prefix, int dims, bool migrate, int pg_port);
void senv_migrate(struct senv *s);
/* A SQLite store file that exists already (made by someone else), as a senv. */
void senv_attach_sqlite(struct senv *s, const char *path, int dims);
void senv_teardown(struct senv *s);
bool senv_is_pg(const struct senv *s);

/* First column of the one row sql returns, as a number (asserts). */
long long senv_count(struct senv *s, const char *sql);
/* First column of the one row sql returns, as text (malloc'd; NULL for SQL NULL). */
char *senv_text(struct senv *s, const char *sql);
/* Runs sql (statements that return no rows; asserts they succeed). */
void senv_exec(struct senv *s, const char *sql);

/* Opens a SQLite store file for assertions (md5 registered). */
sqlite3 *senv_sqlite_open(const char *path);
long long senv_sqlite_count(sqlite3 *db, const char *sql);

#endif
