/*
 * Moving between the stores and the fallback between them, with the real
 * binaries: a rollback pgvector -> SQLite -> pgvector (memctl export, the
 * worker running on the SQLite file, memctl import back) keeps every
 * memory, change and history row, twice over changes nothing, and leaves
 * PostgreSQL writable; MEM0_PROVIDER=auto on a database without pgvector
 * falls back to SQLite and says so; pgvector there refuses to start.
 *
 * "No pgvector" is a database owned by a role that is not a superuser:
 * pgvector is not a trusted extension, so CREATE EXTENSION vector fails
 * there exactly as on a server without the package, from memworker's side.
 */
#include "mockllm.h"
#include "opsenv.h"
#include "storeenv.h"
#include "testenv.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDLE_MS 20000

static struct wenv w;

static void teardown(void)
{
	wenv_teardown(&w);
}

TestSuite(moves, .fini = teardown, .timeout = 180);

/* memctl with env entries (NULL-terminated list after the arguments' NULL). */
static int memctl(char **out, char **err, char *const *env, ...)
{
	char bin[512], *argv[16], *envx[24];
	va_list ap;
	int argc = 0, n = 0;
	const char *a;

	/* the tests' 64 dimensions need other models than local (100 only), unless env says */
	for (; env && env[n] && n < 22; n++)
		envx[n] = env[n];
	envx[n++] = (char *)"MEM0_MODELS=openai";
	envx[n] = NULL;

	argv[argc++] = (char *)tenv_bin("memctl", bin, sizeof(bin));
	va_start(ap, env);
	while ((a = va_arg(ap, const char *)) && argc < 15)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return tenv_run(argv, envx, out, err);
}

/* One text per store for a query's rows (sorted), to compare the two stores row for row. */
static char *pg_rows(PGconn *pg, const char *expr, const char *table)
{
	char sql[1024];
	PGresult *r;
	char *s;

	snprintf(sql, sizeof(sql),
	         "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (SELECT %s AS x FROM %s) t", expr, table);
	r = tenv_pg_exec(pg, sql);
	s = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return s;
}

static char *sqlite_rows(struct senv *e, const char *expr, const char *table)
{
	char sql[1024];
	char *s;

	snprintf(sql, sizeof(sql),
	         "SELECT coalesce(group_concat(x, char(10)), '') FROM (SELECT %s AS x FROM %s ORDER BY 1)", expr,
	         table);
	s = senv_text(e, sql);
	return s ? s : strdup("");
}

#define MEM_ROW "id || '|' || user_id || '|' || memory || '|' || hash || '|' || session_id"
#define HIST_ROW                                                                                                       \
	"memory_id || '|' || user_id || '|' || action || '|' || coalesce(previous_content, '-') || '|' || "            \
	"coalesce(new_content, '-')"
#define LOG_ROW "user_id || '|' || message_key"

static void expect_same_rows(struct senv *lite, const char *what)
{
	static const struct {
		const char *pg_expr, *lite_expr, *table;
	} q[] = {
	        {"id::text || '|' || user_id || '|' || memory || '|' || hash || '|' || session_id", MEM_ROW,
	         "mem0_memories"},
	        {"memory_id::text || '|' || user_id || '|' || action || '|' || coalesce(previous_content, '-') || '|' "
	         "|| coalesce(new_content, '-')",
	         HIST_ROW, "mem0_history"},
	        {LOG_ROW, LOG_ROW, "mem0_ingest_log"},
	        {"user_id || '|' || total_memories", "user_id || '|' || total_memories", "mem0_metadata"},
	};
	size_t i;

	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		char *a = pg_rows(w.pg, q[i].pg_expr, q[i].table), *b = sqlite_rows(lite, q[i].lite_expr, q[i].table);

		cr_expect_str_eq(a, b, "%s: %s differ\nPostgreSQL:\n%s\nSQLite:\n%s", what, q[i].table, a, b);
		free(a);
		free(b);
	}
	/* the vectors travel bit for bit: PostgreSQL's text form of a float4 reads back to the same float */
}

static void swap_store(struct senv *to, struct senv *keep)
{
	*keep = w.store;
	w.store = *to;
	w.pg = w.store.pg;
}

Test(moves, rollback_pgvector_sqlite_pgvector_keeps_every_memory_and_history_row)
{
	struct senv pg, lite = {0};
	char path[300], spec[320], *out, *err, pgenv[SENV_MAX_ENV][320];
	char *env[SENV_MAX_ENV + 2];
	int i, n = 0;

	wenv_setup_kind(&w, SENV_PG, false);
	for (i = 0; i < w.store.nenv; i++)
		snprintf(pgenv[n++], sizeof(pgenv[0]), "%s", w.store.env[i]);
	for (i = 0; i < n; i++)
		env[i] = pgenv[i];
	env[n++] = (char *)"MEM0_EMBEDDING_DIMS=64";
	env[n] = NULL;

	/* life on PostgreSQL */
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 21, "s", "p1", "I live in Lisbon. I like tea.", NULL));
	free(wenv_exchange(&w, 22, "s", "p2", "I have a dog named Rex.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 21, "s", "p3", "I live in Porto.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_assert_eq(wenv_stop_worker(&w, 0, SIGTERM), 0);
	cr_assert_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories"), 3);

	/* roll back to SQLite */
	snprintf(path, sizeof(path), "%s/rollback-%d.db", getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp",
	         (int)getpid());
	unlink(path);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	cr_assert_eq(memctl(&out, &err, env, "export", "--to", spec, NULL), 0, "%s%s", out, err);
	cr_expect(strstr(out, "memories: 3 new") != NULL, "%s", out);
	free(out);
	free(err);
	senv_attach_sqlite(&lite, path, 64);
	expect_same_rows(&lite, "after export");

	/* life on SQLite: new memories, and changes to memories born on PostgreSQL */
	swap_store(&lite, &pg);
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 21, "s", "l1", "I live in Braga.", NULL)); /* update of a PostgreSQL memory */
	free(wenv_exchange(&w, 22, "s", "l2", "I play chess.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 21, "s", "l3", "I don't like tea anymore.", NULL)); /* delete of one */
	free(wenv_exchange(&w, 23, "s", "l4", "I speak Portuguese.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_assert_eq(wenv_stop_worker(&w, 1, SIGTERM), 0);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 21"), 1);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE memory = 'Lives in Braga'"), 1);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories"), 4);
	swap_store(&pg, &lite);

	/* and back to PostgreSQL */
	cr_assert_eq(memctl(&out, &err, env, "import", "--from", spec, NULL), 0, "%s%s", out, err);
	cr_expect(strstr(out, "memories: 2 new, 1 updated, 1 already there, 1 deleted") != NULL, "%s", out);
	free(out);
	free(err);
	expect_same_rows(&lite, "after import");
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE memory = 'Lives in Braga' "
	                            "AND embedding IS NOT NULL"),
	             1);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories m WHERE hash <> md5(memory)"), 0);

	/* twice over: nothing changes, either way */
	cr_assert_eq(memctl(&out, &err, env, "import", "--from", spec, NULL), 0, "%s%s", out, err);
	cr_expect(strstr(out, "memories: 0 new, 0 updated, 4 already there, 0 deleted") != NULL, "%s", out);
	cr_expect(strstr(out, "history: 0 new,") != NULL && strstr(out, "ingest log: 0 new,") != NULL, "%s", out);
	free(out);
	free(err);
	cr_assert_eq(memctl(&out, &err, env, "export", "--to", spec, NULL), 0, "%s%s", out, err);
	cr_expect(strstr(out, "memories: 0 new, 0 updated, 4 already there, 0 deleted") != NULL, "%s", out);
	cr_expect(strstr(out, "history: 0 new,") != NULL, "%s", out);
	free(out);
	free(err);
	expect_same_rows(&lite, "after a second round");

	/* PostgreSQL goes on: a new history row gets an id of its own (the sequence moved past the imported ones) */
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 23, "s", "p4", "I live in Faro.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE memory = 'Lives in Faro'"), 1);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_history WHERE new_content = 'Lives in Faro'"), 1);
	senv_teardown(&lite);
	unlink(path);
}

/* A database the role owns, without pgvector and without the right to create it. */
static void no_pgvector_db(char *role, char *db)
{
	PGconn *admin = tenv_pg_connect("postgres");
	char sql[256];

	tenv_unique("nov", role, 64);
	snprintf(db, 64, "%s_db", role);
	snprintf(sql, sizeof(sql), "CREATE ROLE %s LOGIN NOSUPERUSER", role);
	PQclear(tenv_pg_exec(admin, sql));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s OWNER %s", db, role);
	PQclear(tenv_pg_exec(admin, sql));
	PQfinish(admin);
}

Test(moves, auto_without_pgvector_falls_back_to_sqlite_and_says_so)
{
	char role[64], db[64], user_env[96], db_env[96], port_env[48], *out, *err, *log;
	char *env[8];

	tenv_require_servers();
	no_pgvector_db(role, db);
	snprintf(user_env, sizeof(user_env), "POSTGRES_USER=%s", role);
	snprintf(db_env, sizeof(db_env), "POSTGRES_DB=%s", db);
	snprintf(port_env, sizeof(port_env), "POSTGRES_PORT=%d", tenv_pg_port());

	wenv_setup_kind(&w, SENV_SQLITE, false);
	w.extra_env[0] = "MEM0_PROVIDER=auto";
	w.extra_env[1] = user_env;
	w.extra_env[2] = db_env;
	w.extra_env[3] = port_env;
	w.extra_env[4] = "POSTGRES_HOST=127.0.0.1";
	w.extra_env[5] = "MEM0_METRICS_ADDR=127.0.0.1:0";

	/* memctl migrate: the fallback, said, and the SQLite schema made */
	env[0] = (char *)w.extra_env[0];
	env[1] = user_env;
	env[2] = db_env;
	env[3] = port_env;
	env[4] = (char *)"POSTGRES_HOST=127.0.0.1";
	env[5] = w.store.env[1]; /* MEM0_SQLITE_PATH */
	env[6] = (char *)"MEM0_EMBEDDING_DIMS=64";
	env[7] = NULL;
	cr_assert_eq(memctl(&out, &err, env, "migrate", NULL), 0, "%s%s", out, err);
	cr_expect(strstr(err, "the vector extension is not installed in database") != NULL &&
	                  strstr(err, "fall back to the SQLite store") != NULL,
	          "%s", err);
	free(out);
	free(err);

	/* the worker: a loud warning, the reason on the start line, and the memories in the file */
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 31, "s", "a1", "I like jazz.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 31 AND memory = 'Likes jazz'"),
	             1);
	log = wenv_log(&w);
	cr_expect(strstr(log, "warn: MEM0_PROVIDER=auto: FALLING BACK TO THE SQLITE STORE") != NULL, "%s", log);
	cr_expect(strstr(log, "store sqlite (fallback from pgvector: the vector extension is not installed in "
	                      "database") != NULL,
	          "%s", log);
	free(log);
	/* and for whoever watches: /readyz carries the reason, /metrics a gauge */
	{
		int port = oenv_metrics_port(w.log_path, 10000);
		char *body = NULL;

		cr_expect_eq(oenv_http_get(port, "/readyz", &body), 200);
		cr_expect(body && strstr(body, "\"sqlite\":\"up\"") &&
		                  strstr(body, "\"notes\":{\"store\":\"fallback from pgvector: the vector extension"),
		          "%s", body);
		free(body);
		body = NULL;
		cr_expect_eq(oenv_http_get(port, "/metrics", &body), 200);
		cr_expect(body && strstr(body, "\nmemworker_store_fallback 1\n"), "%s", body);
		free(body);
	}

	/* pgvector on the same database: refused at start, with the fix */
	{
		char bin[512], *argv[] = {(char *)tenv_bin("memworker", bin, sizeof(bin)), NULL};
		char redis[64], *wenv_[12];

		snprintf(redis, sizeof(redis), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
		wenv_[0] = (char *)"MEM0_PROVIDER=pgvector";
		wenv_[1] = user_env;
		wenv_[2] = db_env;
		wenv_[3] = port_env;
		wenv_[4] = (char *)"POSTGRES_HOST=127.0.0.1";
		wenv_[5] = redis;
		wenv_[6] = (char *)"MEM0_EMBEDDING_DIMS=64";
		wenv_[7] = (char *)"MEM0_MODELS=openai";
		wenv_[8] = (char *)"OPENAI_API_KEY=sk-test";
		wenv_[9] = (char *)"OPENAI_BASE_URL=http://127.0.0.1:1/v1";
		wenv_[10] = NULL;
		cr_expect_eq(tenv_run(argv, wenv_, &out, &err), 2);
		cr_expect(strstr(err, "MEM0_PROVIDER=pgvector: the vector extension is not installed in database") !=
		                          NULL &&
		                  strstr(err, "CREATE EXTENSION vector") != NULL,
		          "%s", err);
		free(out);
		free(err);

		/* auto with PostgreSQL not answering: no guess */
		wenv_[0] = (char *)"MEM0_PROVIDER=auto";
		wenv_[3] = (char *)"POSTGRES_PORT=1";
		cr_expect_eq(tenv_run(argv, wenv_, &out, &err), 2);
		cr_expect(strstr(err, "MEM0_PROVIDER=auto: PostgreSQL not reachable") != NULL, "%s", err);
		free(out);
		free(err);
	}
}
