/*
 * memctl import --mem0-sqlite with the real chatSG Mem0 store
 * (shared/fixtures/mem0ai-sqlite) into the configured store, PostgreSQL or
 * SQLite (MW_TEST_STORE, storeenv.h): everything arrives once, a second run
 * changes nothing, the memories are found by get_all and by their own
 * vectors, and every refusal (unmapped users, orphaned history, another
 * dimension) names the problem and writes nothing.
 */
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"
#include "storeenv.h"
#include "storesync.h"
#include "testenv.h"
#include "vec.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FIXTURE_DIMS     1536
#define FIXTURE_MEMORIES 137
#define FIXTURE_HISTORY  518

static struct senv env;
static char fixture[512];

/* ../shared/fixtures beside the project (main), or two levels up (a worktree), or MW_TEST_FIXTURES. */
static const char *fixture_dir(void)
{
	const char *cands[] = {getenv("MW_TEST_FIXTURES"), MW_SOURCE_DIR "/../shared/fixtures",
	                       MW_SOURCE_DIR "/../../shared/fixtures"};
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		if (!cands[i])
			continue;
		snprintf(fixture, sizeof(fixture), "%s/mem0ai-sqlite", cands[i]);
		if (stat(fixture, &st) == 0)
			return fixture;
	}
	cr_skip_test("shared/fixtures/mem0ai-sqlite not found beside the project (set MW_TEST_FIXTURES)");
	return NULL;
}

static void setup(void)
{
	senv_setup(&env, senv_kind_from_env(), "imp", FIXTURE_DIMS, true);
}

static void teardown(void)
{
	senv_teardown(&env);
}

TestSuite(import, .init = setup, .fini = teardown, .timeout = 120);

#define memctl(...) memctl_on(&env, __VA_ARGS__)

/* Runs memctl with the store's environment, dims and extra arguments (NULL-terminated). */
static int memctl_on(struct senv *e, int dims, char **out, char **err, ...)
{
	char bin[512], dimsenv[64], *argv[32], *envp[SENV_MAX_ENV + 4];
	va_list ap;
	int argc = 0, n = 0, i;
	const char *a;

	argv[argc++] = (char *)tenv_bin("memctl", bin, sizeof(bin));
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) && argc < 30)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(dimsenv, sizeof(dimsenv), "MEM0_EMBEDDING_DIMS=%d", dims);
	envp[n++] = dimsenv;
	envp[n++] = (char *)"MEM0_MODELS=openai"; /* local allows 100 dimensions only */
	for (i = 0; i < e->nenv; i++)
		envp[n++] = e->env[i];
	envp[n] = NULL;
	return tenv_run(argv, envp, out, err);
}

static void expect_counts(long long memories, long long history)
{
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories"), memories);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history"), history);
}

/* The store through store.h, when the backend's read path exists; NULL otherwise. */
static struct store *open_store(struct event_base *base)
{
	char err[512];
	struct store *s;
	if (!senv_is_pg(&env)) {
		s = store_sqlite_new(base, env.sqlite_path, FIXTURE_DIMS, NULL, err, sizeof(err));
		cr_assert_not_null(s, "%s", err);
		return s;
	}
	{
		char conninfo[256];
		time_t until = time(NULL) + 20;

		snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=postgres dbname=%s", tenv_pg_port(),
		         env.db);
		s = store_pg_new(base, conninfo, FIXTURE_DIMS, 1);
		while (!store_ready(s) && time(NULL) < until)
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		cr_assert(store_ready(s));
	}
	return s;
}

static void noop_stats(void *arg, enum store_status st, const struct store_stats *stats, const char *err)
{
	(void)st, (void)stats, (void)err;
	*(int *)arg = 1;
}

/* Does this backend answer read-path calls yet (PostgreSQL's is issue 4)? */
static bool read_path(struct store *s, struct event_base *base)
{
	int fired = 0;

	if (store_stats(s, 1, noop_stats, &fired) < 0)
		return false;
	while (!fired)
		event_base_loop(base, EVLOOP_ONCE);
	return true;
}

Test(import, fixture_imports_everything_once)
{
	const char *dir = fixture_dir();
	char *out, *err, map[300];
	FILE *f;

	/* the user map from a file, as an operator writes it */
	snprintf(map, sizeof(map), "%s/users-%d.map", getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp",
	         (int)getpid());
	f = fopen(map, "w");
	cr_assert_not_null(f);
	fprintf(f, "# chatSG string ids -> users.id\ndefault=1\n2=2\n");
	fclose(f);

	cr_assert_eq(memctl(FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user-map", map,
	                    "--orphan-user", "1", NULL),
	             0, "%s%s", out, err);
	cr_expect(strstr(out, "memories: 137 new, 0 updated, 0 already there") != NULL, "%s", out);
	cr_expect(strstr(out, "history: 518 new, 0 already there") != NULL, "%s", out);
	free(out);
	free(err);
	expect_counts(FIXTURE_MEMORIES, FIXTURE_HISTORY);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 1"), 21);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 2"), 116);
	cr_expect_eq(senv_count(&env, "SELECT total_memories FROM mem0_metadata WHERE user_id = 2"), 116);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE action = 'created'"), 266);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE action = 'updated'"), 143);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE action = 'deleted'"), 109);
	/* Mem0's ids, text, hash and times kept; the payload's rest is metadata */
	cr_expect_eq(senv_count(&env,
	                        "SELECT count(*) FROM mem0_memories WHERE id = 'e2e48559-e42e-44c0-94a0-18e6faa4cc44' "
	                        "AND user_id = 1 AND memory = 'Name is Sean' "
	                        "AND hash = '504812cca69a721c45988847d5009da3' "
	                        "AND session_id = 'session_1751405685881_6grnw0ll8' "
	                        "AND metadata->>'user_id' = 'default' "
	                        "AND metadata->>'timestamp' = '2025-07-01T21:35:29.047Z'"),
	             1);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE hash LIKE '%:%'"), 8,
	             "the fixture's exact duplicates keep a suffixed hash");
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE metadata->>'imported_from' = "
	                              "'mem0-sqlite' AND metadata->>'mem0_history_id' IS NOT NULL"),
	             FIXTURE_HISTORY);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE action = 'updated' "
	                              "AND previous_content = 'Name is Sean' AND new_content = 'User''s name is Sean'"),
	             1);

	/* again: nothing changes */
	cr_assert_eq(memctl(FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user", "default=1", "--user",
	                    "2=2", "--orphan-user", "1", NULL),
	             0, "%s%s", out, err);
	cr_expect(strstr(out, "memories: 0 new, 0 updated, 137 already there, 0 deleted") != NULL, "%s", out);
	cr_expect(strstr(out, "history: 0 new, 518 already there") != NULL, "%s", out);
	free(out);
	free(err);
	expect_counts(FIXTURE_MEMORIES, FIXTURE_HISTORY);
	cr_expect_eq(senv_count(&env, "SELECT total_memories FROM mem0_metadata WHERE user_id = 1"), 21);
	unlink(map);
}

Test(import, imported_memories_are_listed_and_found_by_their_vectors)
{
	const char *dir = fixture_dir();
	struct event_base *base = event_base_new();
	struct store *s;
	char *out, *err;
	float *qv = malloc(sizeof(float) * FIXTURE_DIMS);
	const char *probes[] = {"e2e48559-e42e-44c0-94a0-18e6faa4cc44", "3d033b3d-b521-45d1-a4f9-c035f95f7094"};
	size_t p;

	cr_assert_eq(memctl(FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user", "default=1", "--user",
	                    "2=2", "--skip-orphans", NULL),
	             0, "%s%s", out, err);
	free(out);
	free(err);
	expect_counts(FIXTURE_MEMORIES, FIXTURE_HISTORY - 258);
	s = open_store(base);
	for (p = 0; p < sizeof(probes) / sizeof(probes[0]); p++) {
		/* the stored vector, read straight from the fixture */
		sqlite3 *db;
		sqlite3_stmt *st;
		char path[600];

		snprintf(path, sizeof(path), "%s/vector_store.db", dir);
		cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_prepare_v2(db, "SELECT vector FROM vectors WHERE id = ?1", -1, &st, NULL),
		             SQLITE_OK);
		sqlite3_bind_text(st, 1, probes[p], -1, SQLITE_STATIC);
		cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
		cr_assert_eq(sqlite3_column_bytes(st, 0), 4 * FIXTURE_DIMS);
		vec_from_le_blob(sqlite3_column_blob(st, 0), FIXTURE_DIMS, qv);
		sqlite3_finalize(st);
		sqlite3_close(db);

		if (read_path(s, base)) {
			struct store_search q = {.user = 1, .vec = qv, .limit = 5};
			struct ssync_mems m;

			ssync_search(s, base, &q, &m);
			cr_assert_eq(m.st, STORE_OK, "%s", m.err);
			cr_assert_geq(m.n, 2);
			cr_expect_str_eq(m.m[0].id, probes[p], "%s ranked %s first", probes[p], m.m[0].id);
			cr_expect_float_eq(m.m[0].score, 1.0, 1e-5);
			cr_expect(m.m[1].score < m.m[0].score);
			ssync_mems_clear(&m);
		} else {
			/* PostgreSQL before its read path: the same question in SQL */
			char sql[512];
			char *best;

			snprintf(sql, sizeof(sql),
			         "SELECT id::text FROM mem0_memories WHERE user_id = 1 ORDER BY embedding <=> "
			         "(SELECT embedding FROM mem0_memories WHERE id = '%s') LIMIT 1",
			         probes[p]);
			best = senv_text(&env, sql);
			cr_expect_str_eq(best, probes[p]);
			free(best);
		}
	}
	if (read_path(s, base)) {
		struct ssync_mems all;
		int i, sean = 0;

		ssync_get_all(s, base, 1, NULL, 100, 0, &all);
		cr_assert_eq(all.st, STORE_OK, "%s", all.err);
		cr_expect_eq(all.n, 21);
		for (i = 0; i < all.n; i++) {
			sean += strcmp(all.m[i].text, "Name is Sean") == 0;
			if (i)
				cr_expect(strcmp(all.m[i - 1].created_at, all.m[i].created_at) >= 0,
				          "not newest first");
		}
		cr_expect_eq(sean, 1, "get_all of user 1 lacks 'Name is Sean'");
		ssync_mems_clear(&all);
	} else {
		cr_expect_eq(
		        senv_count(&env,
		                   "SELECT count(*) FROM mem0_memories WHERE user_id = 1 AND memory = 'Name is Sean'"),
		        1);
	}
	store_free(s);
	event_base_free(base);
	free(qv);
}

Test(import, unmapped_users_and_orphans_are_refused_by_name)
{
	const char *dir = fixture_dir();
	char *out, *err;

	cr_expect_eq(memctl(FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user", "2=2", NULL), 1);
	cr_expect(strstr(err, "1 Mem0 user is not mapped") != NULL && strstr(err, "\"default\" (21 memories)") != NULL,
	          "%s", err);
	cr_expect(strstr(err, "258 history rows belong to 129 memories no longer in vector_store.db") != NULL, "%s",
	          err);
	cr_expect(strstr(out, "user \"default\" -> UNMAPPED") != NULL, "%s", out);
	free(out);
	free(err);
	cr_expect_eq(memctl(FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user", "2=2", "--user",
	                    "default=x", NULL),
	             2);
	cr_expect(strstr(err, "'x' is not a user id") != NULL, "%s", err);
	free(out);
	free(err);
	expect_counts(0, 0);
}

Test(import, dry_run_reports_and_writes_nothing)
{
	const char *dir = fixture_dir();
	char *out, *err;

	cr_assert_eq(memctl(FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user", "default=1", "--user",
	                    "2=2", "--orphan-user", "9", "--dry-run", NULL),
	             0, "%s%s", out, err);
	cr_expect(strstr(out, "user \"default\" -> 1: 21 memories, 21 history rows; e.g. \"Name is Sean\"") != NULL,
	          "%s", out);
	cr_expect(strstr(out, "user \"2\" -> 2: 116 memories, 239 history rows") != NULL, "%s", out);
	cr_expect(strstr(out, "258 history rows of 129 memories no longer in vector_store.db (user unknown) -> 9") !=
	                  NULL,
	          "%s", out);
	cr_expect(strstr(out, "memories (dry run: would be): 137 new") != NULL, "%s", out);
	cr_expect(strstr(out, "dry run: nothing was written") != NULL, "%s", out);
	free(out);
	free(err);
	expect_counts(0, 0);
}

Test(import, another_dimension_is_refused_and_nothing_imported)
{
	const char *dir = fixture_dir();
	char *out, *err;

	/* the configuration says 64: refused before anything is opened for writing */
	cr_expect_eq(memctl(64, &out, &err, "import", "--mem0-sqlite", dir, "--user", "default=1", "--user", "2=2",
	                    "--skip-orphans", NULL),
	             1);
	cr_expect(strstr(err, "vector_store.db holds 1536-dimension embeddings, but MEM0_EMBEDDING_DIMS=64") != NULL,
	          "%s", err);
	free(out);
	free(err);
	expect_counts(0, 0);

	/* the configuration agrees with the file, the store was made for another dimension */
	{
		struct senv small;

		senv_setup(&small, env.kind, "imp64", 64, true);
		cr_expect_eq(memctl_on(&small, FIXTURE_DIMS, &out, &err, "import", "--mem0-sqlite", dir, "--user",
		                       "default=1", "--user", "2=2", "--skip-orphans", NULL),
		             1);
		cr_expect(strstr(err, "1536") && strstr(err, "64") && strstr(err, "one store holds one dimension"),
		          "%s", err);
		cr_expect_eq(senv_count(&small, "SELECT count(*) FROM mem0_memories"), 0);
		free(out);
		free(err);
		senv_teardown(&small);
	}
}
