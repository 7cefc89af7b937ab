/*
 * memctl hnsw: HNSW indexes of their own for very large users.
 *
 * A user with tens of thousands of memories searches faster through an
 * approximate index than by computing every distance; a partial HNSW index
 * on just that user's rows (STORE_PG_USER_INDEX_PREFIX<id>, WHERE user_id =
 * id) holds no other user's vectors, so no filter starves the scan and the
 * graph is the user's size, not the table's. memsearch notices such an index
 * within STORE_PG_HNSW_USERS_TTL_MS and sends that user's plain searches
 * through it; everyone else stays exact.
 *
 * With no option, brings the indexes in line with the counts: builds one
 * for every user with at least --min-rows memories, drops those of users
 * under half of that (so a user near the line is not rebuilt back and
 * forth), and rebuilds any left invalid by a build that did not finish.
 * Builds and drops are CONCURRENTLY: the worker keeps writing, memsearch
 * keeps reading. DDL takes no parameters, so its text comes from
 * PostgreSQL's format() (%I for the name, the id as a bigint), never from
 * pasting strings here.
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"
#include "progress.h"
#include "store_pg_read.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
	fprintf(stderr,
		"usage: memctl hnsw [--min-rows N] [--dry-run]   build/drop per-user HNSW indexes to match the counts\n"
		"       memctl hnsw --list [--min-rows N]         users with an index of their own, and those due one\n"
		"       memctl hnsw --user N [--drop]             build (or drop) one user's index\n"
		"  --min-rows N  a user with at least N memories gets an index (default %d); under N/2 it is dropped\n",
		STORE_PG_HNSW_MIN_ROWS);
}

/* Users and indexes side by side: every user with an index or due one. */
static const char sql_overview[] =
	"WITH idx AS (SELECT substr(c.relname, length($2) + 1)::bigint AS user_id, c.relname::text AS name, "
	"i.indisvalid AS valid, pg_relation_size(c.oid) AS bytes FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
	"WHERE i.indrelid = 'mem0_memories'::regclass AND c.relname ~ ('^' || $2 || '[0-9]+$')), "
	"cnt AS (SELECT user_id, total_memories FROM mem0_metadata WHERE collection_name = 'chatsg_memories') "
	"SELECT COALESCE(idx.user_id, cnt.user_id), COALESCE(cnt.total_memories, 0), idx.name, idx.valid, "
	"COALESCE(idx.bytes, 0) FROM idx FULL JOIN cnt ON cnt.user_id = idx.user_id "
	"WHERE idx.user_id IS NOT NULL OR cnt.total_memories >= $1::int ORDER BY 1";

static const char sql_create[] =
	"SELECT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON mem0_memories USING hnsw (embedding vector_cosine_ops) "
	"WHERE user_id = %s', $2 || $1::bigint, $1::bigint)";
static const char sql_drop[] = "SELECT format('DROP INDEX CONCURRENTLY IF EXISTS %I', $2 || $1::bigint)";

/* One row of the overview. */
struct user_index {
	long long user, rows, bytes;
	bool has, valid;
};

static PGresult *exec_params(PGconn *conn, const char *sql, int n, const char *const *vals, ExecStatusType want)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);

	if (PQresultStatus(r) != want) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "memctl hnsw: %s\n", msg);
		PQclear(r);
		return NULL;
	}
	return r;
}

static int overview(PGconn *conn, long min_rows, struct user_index **out)
{
	char mr[24];
	const char *vals[2] = { mr, STORE_PG_USER_INDEX_PREFIX };
	PGresult *r;
	int i, n;

	snprintf(mr, sizeof(mr), "%ld", min_rows);
	r = exec_params(conn, sql_overview, 2, vals, PGRES_TUPLES_OK);
	if (!r)
		return -1;
	n = PQntuples(r);
	*out = mw_calloc((size_t)(n ? n : 1), sizeof(**out));
	for (i = 0; i < n; i++) {
		struct user_index *u = &(*out)[i];

		u->user = atoll(PQgetvalue(r, i, 0));
		u->rows = atoll(PQgetvalue(r, i, 1));
		u->has = !PQgetisnull(r, i, 2);
		u->valid = u->has && strcmp(PQgetvalue(r, i, 3), "t") == 0;
		u->bytes = atoll(PQgetvalue(r, i, 4));
	}
	PQclear(r);
	return n;
}

/* Builds (create) or drops one user's index; prints what it did. */
static int change(PGconn *conn, long long user, bool create, const char *why)
{
	char uid[24];
	const char *vals[2] = { uid, STORE_PG_USER_INDEX_PREFIX };
	struct timespec t0, t1;
	PGresult *r;
	char *ddl;

	snprintf(uid, sizeof(uid), "%lld", user);
	r = exec_params(conn, create ? sql_create : sql_drop, 2, vals, PGRES_TUPLES_OK);
	if (!r)
		return -1;
	ddl = mw_strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = PQexec(conn, ddl);
	free(ddl);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(r));
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "memctl hnsw: user %lld: %s failed: %s\n", user, create ? "build" : "drop", msg);
		PQclear(r);
		return -1;
	}
	PQclear(r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("user %lld: index " STORE_PG_USER_INDEX_PREFIX "%lld %s in %.1f s (%s)\n", user, user,
	       create ? "built" : "dropped",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, why);
	return 0;
}

static void print_list(const struct user_index *u, int n, long min_rows)
{
	int i;

	printf("%-12s %10s  %-8s %10s\n", "user", "memories", "index", "size MB");
	for (i = 0; i < n; i++) {
		const char *state = !u[i].has ? "due" : u[i].valid ? "valid" : "INVALID";

		printf("%-12lld %10lld  %-8s %10.1f\n", u[i].user, u[i].rows, state, (double)u[i].bytes / 1048576.0);
	}
	printf("%d user(s); an index is due at %ld memories and dropped under %ld\n", n, min_rows, min_rows / 2);
}

/* The whole table in line with the counts. */
static int sync_all(PGconn *conn, const struct user_index *u, int n, long min_rows, bool dry)
{
	int i, changes = 0, failed = 0;

	for (i = 0; i < n; i++) {
		const char *why = NULL;
		bool drop = false, build = false;

		if (u[i].has && !u[i].valid) {
			why = "left invalid by an unfinished build";
			drop = true;
			build = u[i].rows >= min_rows / 2;
		} else if (u[i].has && u[i].rows < min_rows / 2) {
			why = "under half of --min-rows";
			drop = true;
		} else if (!u[i].has && u[i].rows >= min_rows) {
			why = "at least --min-rows memories";
			build = true;
		}
		if (!why)
			continue;
		changes++;
		if (dry) {
			printf("user %lld (%lld memories): would %s (%s)\n", u[i].user, u[i].rows,
			       drop && build ? "rebuild" : drop ? "drop" : "build", why);
			continue;
		}
		if ((drop && change(conn, u[i].user, false, why) < 0) || (build && change(conn, u[i].user, true, why) < 0))
			failed++;
	}
	if (changes == 0)
		printf("hnsw: nothing to do: %d user(s) with an index or due one, all in line\n", n);
	return failed ? 1 : 0;
}

int ctl_hnsw(const struct cfg *cfg, int argc, char **argv)
{
	const char *v = NULL;
	double min_rows = STORE_PG_HNSW_MIN_ROWS, user = -1;
	bool list = false, drop = false, dry = false;
	struct user_index *u = NULL;
	PGconn *conn;
	int i, n, rc;

	for (i = 1; i < argc; i++) {
		if ((rc = ctl_opt(argc, argv, &i, "--min-rows", &v))) {
			if (rc < 0 || ctl_opt_number("--min-rows", v, 1e9, &min_rows) < 0 || min_rows < 2)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--user", &v))) {
			if (rc < 0 || ctl_opt_number("--user", v, 9e15, &user) < 0)
				return 2;
		} else if (strcmp(argv[i], "--list") == 0) {
			list = true;
		} else if (strcmp(argv[i], "--drop") == 0) {
			drop = true;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "memctl hnsw: unexpected argument '%s'\n", argv[i]);
			usage();
			return 2;
		}
	}
	if ((drop && user < 0) || (list && user >= 0)) {
		usage();
		return 2;
	}
	if (cfg->provider == CFG_PROVIDER_MEMORY) {
		fprintf(stderr, "memctl hnsw: the SQLite store has no HNSW indexes (MEM0_PROVIDER=memory)\n");
		return 2;
	}
	conn = ctl_pg_connect(cfg);
	if (!conn)
		return 1;
	if (user >= 0) {
		rc = change(conn, (long long)user, !drop, "asked for") < 0 ? 1 : 0;
	} else if ((n = overview(conn, (long)min_rows, &u)) < 0) {
		rc = 1;
	} else if (list) {
		print_list(u, n, (long)min_rows);
		rc = 0;
	} else {
		rc = sync_all(conn, u, n, (long)min_rows, dry);
	}
	free(u);
	PQfinish(conn);
	return rc;
}
