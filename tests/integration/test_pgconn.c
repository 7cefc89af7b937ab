/*
 * pgconn's named prepared statements against the real PostgreSQL: a
 * statement is parsed once per connection (pg_prepared_statements shows
 * it), the first use's Parse shares the job's round trip, many jobs in
 * flight on a statement's first use all succeed, a failed Parse gives the
 * real error every time (not "does not exist"), a failure later in a job
 * leaves the statement usable, a new connection parses again, and
 * pgconn_set_prepare(false) runs everything unnamed.
 */
#include "pgconn.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct event_base *base;
static struct pgconn *pc;
static PGconn *admin;
static char db[64];

/* What a job's callback saw. */
struct seen {
	int fired;
	bool ok;
	char sqlstate[6];
	char err[256];
	char first[256];	/* last statement's first value, "" if none */
	int rows;
};

static void job_done(void *arg, bool ok, PGresult *const *res, int n, const char *errstr, const char *sqlstate)
{
	struct seen *s = arg;
	const PGresult *r = n > 0 ? res[n - 1] : NULL;

	s->fired++;
	s->ok = ok;
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", sqlstate ? sqlstate : "");
	snprintf(s->err, sizeof(s->err), "%s", errstr ? errstr : "");
	s->rows = r && PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
	snprintf(s->first, sizeof(s->first), "%s", s->rows > 0 ? PQgetvalue(r, 0, 0) : "");
}

static void wait_ready(void)
{
	time_t until = time(NULL) + 20;

	while (!pgconn_ready(pc) && time(NULL) < until)
		event_base_loop(base, EVLOOP_ONCE);
	cr_assert(pgconn_ready(pc), "pgconn never connected");
}

static void wait_fired(struct seen *s, int n)
{
	time_t until = time(NULL) + 20;
	int i;

	for (;;) {
		bool all = true;

		for (i = 0; i < n; i++)
			all = all && s[i].fired;
		if (all || time(NULL) >= until)
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	for (i = 0; i < n; i++)
		cr_assert_eq(s[i].fired, 1, "job %d fired %d times", i, s[i].fired);
}

/* Runs one job and waits for it. */
static void run(const struct pg_stmt *st, int n, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	cr_assert_eq(pgconn_submit(pc, st, n, job_done, s), 0);
	wait_fired(s, 1);
}

static const char sql_square[] = "SELECT ($1::int * $1::int)::text";

static void square(int x, struct seen *s)
{
	char v[16];
	const char *vals[1] = { v };
	struct pg_stmt st = { .sql = sql_square, .nparams = 1, .values = vals, .prepare = true };

	snprintf(v, sizeof(v), "%d", x);
	run(&st, 1, s);
}

/* How many statements this session has prepared through the protocol (also as text, for messages). */
static int prepared(char *out, size_t len)
{
	struct pg_stmt st = {
		.sql = "SELECT count(*)::text FROM pg_prepared_statements WHERE from_sql = false",
	};
	struct seen s;

	run(&st, 1, &s);
	cr_assert(s.ok, "%s", s.err);
	snprintf(out, len, "%s", s.first);
	return atoi(s.first);
}

static void setup(void)
{
	char conninfo[256];

	tenv_require_servers();
	admin = tenv_pg_new_db("pgc", db);
	base = event_base_new();
	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=postgres dbname=%s application_name=pgc_test",
	         tenv_pg_port(), db);
	pc = pgconn_new(base, conninfo, "test", NULL, NULL);
	wait_ready();
}

static void teardown(void)
{
	pgconn_free(pc);
	event_base_free(base);
	PQfinish(admin);
}

TestSuite(pgconn, .init = setup, .fini = teardown, .timeout = 60);

Test(pgconn, parsed_once_and_reused)
{
	struct seen s;
	char buf[32];
	int i;

	for (i = 1; i <= 20; i++) {
		square(i, &s);
		cr_assert(s.ok, "%s", s.err);
		cr_assert_eq(atoi(s.first), i * i);
	}
	cr_assert_eq(prepared(buf, sizeof(buf)), 1, "one named statement for twenty runs, got %s", buf);
	s = (struct seen){ 0 };
	{
		struct pg_stmt st = { .sql = "SELECT statement FROM pg_prepared_statements WHERE from_sql = false" };

		run(&st, 1, &s);
	}
	cr_assert_str_eq(s.first, sql_square);
}

Test(pgconn, first_use_by_many_jobs_in_flight)
{
	enum { N = 50 };
	struct seen s[N];
	char v[N][16], buf[32];
	const char *vals[N][1];
	int i;

	memset(s, 0, sizeof(s));
	for (i = 0; i < N; i++) {
		struct pg_stmt st = { .sql = sql_square, .nparams = 1, .values = vals[i], .prepare = true };

		snprintf(v[i], sizeof(v[i]), "%d", i);
		vals[i][0] = v[i];
		cr_assert_eq(pgconn_submit(pc, &st, 1, job_done, &s[i]), 0);
	}
	cr_assert_gt(pgconn_inflight(pc), 1, "the jobs should be in flight together");
	wait_fired(s, N);
	for (i = 0; i < N; i++) {
		cr_assert(s[i].ok, "job %d: %s", i, s[i].err);
		cr_assert_eq(atoi(s[i].first), i * i, "job %d", i);
	}
	cr_assert_eq(prepared(buf, sizeof(buf)), 1);
}

/* pgconn_load counts a job's weight from its submit until it is answered, failed or lost. */
Test(pgconn, load_counts_weights_until_answered)
{
	struct pg_stmt slow = { .sql = "SELECT pg_sleep(0.2)::text" }, plain = { .sql = "SELECT '1'" };
	struct pg_stmt bad = { .sql = "SELECT (1 / 0)::text" }, hang = { .sql = "SELECT pg_sleep(30)::text" };
	struct seen s[3];
	PGresult *r;
	time_t until;

	memset(s, 0, sizeof(s));
	cr_assert_eq(pgconn_load(pc), 0);
	cr_assert_eq(pgconn_submit_weighted(pc, &slow, 1, 20, job_done, &s[0]), 0);
	cr_assert_eq(pgconn_submit(pc, &plain, 1, job_done, &s[1]), 0);
	cr_assert_eq(pgconn_submit_weighted(pc, &bad, 1, 5, job_done, &s[2]), 0);
	cr_assert_eq(pgconn_inflight(pc), 3);
	cr_assert_eq(pgconn_load(pc), 26);
	while (!s[0].fired)
		event_base_loop(base, EVLOOP_ONCE);
	cr_assert(s[0].ok, "%s", s[0].err);
	cr_assert_leq(pgconn_load(pc), 6, "the answered job's weight is still counted: %d", pgconn_load(pc));
	wait_fired(s, 3);
	cr_assert_not(s[2].ok, "division by zero should fail");
	cr_assert_eq(pgconn_load(pc), 0, "a failed job's weight is still counted");

	/* a job lost with its connection gives its weight back too */
	memset(s, 0, sizeof(s));
	cr_assert_eq(pgconn_submit_weighted(pc, &hang, 1, 7, job_done, &s[0]), 0);
	cr_assert_eq(pgconn_load(pc), 7);
	until = time(NULL) + 20;
	do {	/* until the backend is seen running it */
		r = tenv_pg_exec(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgc_test' "
		                        "AND query LIKE '%pg_sleep(30)%'");
		if (atoi(PQgetvalue(r, 0, 0)) > 0) {
			PQclear(r);
			break;
		}
		PQclear(r);
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(20000);
	} while (time(NULL) < until);
	PQclear(tenv_pg_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                            "WHERE application_name = 'pgc_test' AND datname = current_database()"));
	wait_fired(s, 1);
	cr_assert_not(s[0].ok);
	cr_assert_eq(pgconn_load(pc), 0, "a lost job's weight is still counted");
}

Test(pgconn, failed_parse_reports_the_real_error_each_time)
{
	struct pg_stmt bad = { .sql = "SELEKT 1", .prepare = true };
	struct seen s;
	char buf[32];
	int i;

	for (i = 0; i < 2; i++) {
		run(&bad, 1, &s);
		cr_assert_not(s.ok);
		cr_assert_str_eq(s.sqlstate, "42601", "run %d: %s %s", i, s.sqlstate, s.err);
	}
	square(7, &s);
	cr_assert(s.ok, "%s", s.err);
	cr_assert_str_eq(s.first, "49");
	cr_assert_eq(prepared(buf, sizeof(buf)), 1, "only the good statement is prepared");
}

Test(pgconn, failure_later_in_the_job_keeps_the_statement)
{
	const char *vals[1] = { "3" };
	struct pg_stmt st[2] = {
		{ .sql = sql_square, .nparams = 1, .values = vals, .prepare = true },
		{ .sql = "SELECT 1/0" },
	};
	struct seen s;

	run(st, 2, &s);
	cr_assert_not(s.ok);
	cr_assert_str_eq(s.sqlstate, "22012");
	square(4, &s);
	cr_assert(s.ok, "%s", s.err);
	cr_assert_str_eq(s.first, "16");
}

Test(pgconn, new_connection_parses_again)
{
	struct seen s;
	char buf[32];
	PGresult *r;
	time_t until;

	square(5, &s);
	cr_assert(s.ok, "%s", s.err);
	r = tenv_pg_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                        "WHERE application_name = 'pgc_test' AND datname = current_database()");
	PQclear(r);
	/* the next job notices the dead backend; then pgconn reconnects by itself */
	until = time(NULL) + 20;
	do {
		memset(&s, 0, sizeof(s));
		if (pgconn_ready(pc)) {
			square(6, &s);
			if (s.ok)
				break;
		} else {
			event_base_loop(base, EVLOOP_ONCE);
		}
	} while (time(NULL) < until);
	cr_assert(s.ok, "never answered after the reconnect: %s", s.err);
	cr_assert_str_eq(s.first, "36");
	cr_assert_eq(prepared(buf, sizeof(buf)), 1, "parsed again on the new session");
}

Test(pgconn, prepare_off_runs_unnamed)
{
	struct seen s;
	char buf[32];

	pgconn_set_prepare(pc, false);
	square(8, &s);
	cr_assert(s.ok, "%s", s.err);
	cr_assert_str_eq(s.first, "64");
	cr_assert_eq(prepared(buf, sizeof(buf)), 0);
}

static void show(const char *setting, struct seen *s)
{
	const char *vals[1] = { setting };
	struct pg_stmt st = { .sql = "SELECT current_setting($1)", .nparams = 1, .values = vals };

	run(&st, 1, s);
	cr_assert(s->ok, "%s", s->err);
}

/* The session statement runs before any job, on the first session and on every new one; a bad one is not fatal. */
Test(pgconn, session_statement_on_every_session)
{
	struct seen s;
	PGresult *r;
	time_t until;

	pgconn_set_session(pc, "SET work_mem = '7MB'");
	show("work_mem", &s);
	cr_expect_str_eq(s.first, "7MB", "set on the live session");
	r = tenv_pg_exec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	                        "WHERE application_name = 'pgc_test' AND datname = current_database()");
	PQclear(r);
	until = time(NULL) + 20;
	do {
		memset(&s, 0, sizeof(s));
		if (pgconn_ready(pc)) {
			const char *vals[1] = { "work_mem" };
			struct pg_stmt st = { .sql = "SELECT current_setting($1)", .nparams = 1, .values = vals };

			run(&st, 1, &s);
			if (s.ok)
				break;
		} else {
			event_base_loop(base, EVLOOP_ONCE);
		}
	} while (time(NULL) < until);
	cr_assert(s.ok, "never answered after the reconnect: %s", s.err);
	cr_expect_str_eq(s.first, "7MB", "set again on the new session, before the first job");

	pgconn_set_session(pc, "SET no_such_setting_at_all = 1");
	square(9, &s);
	cr_expect(s.ok, "a failed session statement fails no job: %s", s.err);
	cr_expect_str_eq(s.first, "81");
}
