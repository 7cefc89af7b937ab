/*
 * pgconn: one non-blocking libpq connection on a libevent base, in pipeline
 * mode, that reconnects by itself.
 *
 * Work is sent as jobs: a job is a list of statements sent back to back and
 * closed by one PQpipelineSync, so a job is one round trip; a job that is a
 * BEGIN ... COMMIT is one transaction. Jobs queue FIFO and several may be in
 * flight. If a statement fails, PostgreSQL skips the rest of that job; an
 * explicit transaction left failed is rolled back before the next job.
 * Transactions never span jobs (jobs of different callers interleave).
 */
#ifndef MW_PGCONN_H
#define MW_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>

struct event_base;
struct pgconn;

/*
 * One statement. Parameter buffers are copied by pgconn_submit.
 *
 * prepare: a hot statement, run as a named prepared statement (parsed and,
 * after PostgreSQL's first few custom plans, planned once per connection
 * instead of every time). The first job that uses a statement on a
 * connection sends its Parse ahead of the job's own statements, in the same
 * round trip; a new connection starts over. Off for the whole connection
 * with pgconn_set_prepare(c, false) (poolers in transaction mode that keep
 * no prepared statements). A statement that needs a plan made for its
 * parameter values (a partial index chosen by the value) leaves it false.
 */
struct pg_stmt {
	const char *sql;
	int nparams;
	const char *const *values;	/* NULL entries are SQL NULL */
	const int *lengths;		/* for binary parameters */
	const int *formats;		/* NULL: all text; 1 = binary */
	bool prepare;
};

/*
 * Fires exactly once per job, never inside pgconn_submit. ok: every
 * statement succeeded. results[i] (owned by pgconn, freed after the callback
 * returns) is the i-th statement's result, or NULL if it never ran
 * (connection lost). On failure errstr is one line and sqlstate the first
 * failing statement's SQLSTATE ("" when the connection failed).
 */
typedef void (*pgconn_cb)(void *arg, bool ok, PGresult *const *results, int n, const char *errstr,
			  const char *sqlstate);
typedef void (*pgconn_state_cb)(void *arg, bool connected);

struct pgconn *pgconn_new(struct event_base *base, const char *conninfo, const char *name, pgconn_state_cb cb,
			  void *arg);

/* Queues a job of n statements. Returns 0, or -1 while disconnected (cb never fires). */
int pgconn_submit(struct pgconn *c, const struct pg_stmt *stmts, int n, pgconn_cb cb, void *arg)
	__attribute__((warn_unused_result));

/*
 * The same, for a job the caller knows to cost about weight ordinary
 * statements (an HNSW search of a heavy user, say): pgconn_load() counts
 * it so, and a caller that spreads work by load keeps short jobs from
 * queuing behind it. pgconn_submit's jobs weigh 1.
 */
int pgconn_submit_weighted(struct pgconn *c, const struct pg_stmt *stmts, int n, int weight, pgconn_cb cb,
			   void *arg) __attribute__((warn_unused_result));

/* Named prepared statements for pg_stmt.prepare (default on). */
void pgconn_set_prepare(struct pgconn *c, bool on);

/*
 * A statement (a SET, say) run first on every new session, ahead of any
 * job in the same pipeline; NULL for none. A failure is logged, not fatal.
 */
void pgconn_set_session(struct pgconn *c, const char *sql);

bool pgconn_ready(const struct pgconn *c);
int pgconn_inflight(const struct pgconn *c);
/* The weights of the jobs in flight (pgconn_submit_weighted). */
int pgconn_load(const struct pgconn *c);

/* Fails every queued and in-flight job ("shutting down") and closes. */
void pgconn_free(struct pgconn *c);

#endif
