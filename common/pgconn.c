/*
 * pgconn: see pgconn.h. States: CONNECTING (PQconnectPoll driven by socket
 * events; the socket may change between polls) -> READY (pipeline mode, a
 * persistent read event, a write event armed only while PQflush() == 1) ->
 * BROKEN (jobs failed, reconnect timer armed).
 */
#include "pgconn.h"

#include "log.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* Named statements per connection; beyond this, statements run unnamed. */
#define MAX_PREPARED 64

enum pgconn_state { PGC_BROKEN = 0, PGC_CONNECTING, PGC_READY };

struct pg_job {
	struct pg_job *next;
	pgconn_cb cb;
	void *arg;
	int n;
	int weight;			/* the caller's guess of its cost, in plain statements (pgconn_load) */
	int got;			/* results collected so far */
	PGresult **results;
	bool failed;
	char errstr[512];
	char sqlstate[6];
	const char *internal;		/* our own statement (what it is, for the log), not a caller's */
	int *slot;			/* per statement: its prepared slot, or -1 (unnamed) */
	int *parsing;			/* slots whose Parse this job sent ahead of its statements */
	int nparsing, parsed;		/* ... and how many of their results came back */
};

/* A named statement of the current connection (sent, maybe not yet answered). */
struct prepared {
	uint64_t hash;
	char *sql;			/* NULL: a free slot */
};

struct pgconn {
	struct event_base *base;
	char *conninfo;
	char name[32];
	pgconn_state_cb state_cb;
	void *state_arg;

	PGconn *conn;
	enum pgconn_state state;
	struct event *rd, *wr, *retry;
	int backoff_ms;
	int sock;
	PostgresPollingStatusType poll;

	struct pg_job *head, *tail;	/* in flight, in send order */
	int inflight;
	int load;			/* the weights of the jobs in flight */
	bool closing;

	bool prepare;
	struct prepared prep[MAX_PREPARED];	/* slot k is the statement "mw_<k>" */
	char *session_sql;		/* run first on every new session */
};

static void start_connect(struct pgconn *c);
static void on_io(evutil_socket_t fd, short what, void *arg);

static void oneline(char *s)
{
	size_t n;

	s[strcspn(s, "\n")] = '\0';
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static void set_state(struct pgconn *c, enum pgconn_state st)
{
	bool was = c->state == PGC_READY, now = st == PGC_READY;

	c->state = st;
	if (was != now && c->state_cb && !c->closing)
		c->state_cb(c->state_arg, now);
}

static void job_free(struct pg_job *j)
{
	int i;

	for (i = 0; i < j->n; i++)
		PQclear(j->results[i]);
	free(j->results);
	free(j->slot);
	free(j);
}

static void job_finish(struct pgconn *c, struct pg_job *j)
{
	if (!j->internal) {
		j->cb(j->arg, !j->failed, j->results, j->n, j->failed ? j->errstr : NULL, j->sqlstate);
	} else if (j->failed) {
		log_warn("pg %s: %s failed: %s", c->name, j->internal, j->errstr);
	}
	job_free(j);
}

/* Fails every in-flight job; used when the connection breaks or closes. */
static void fail_all(struct pgconn *c, const char *why)
{
	while (c->head) {
		struct pg_job *j = c->head;

		c->head = j->next;
		if (!j->failed) {
			j->failed = true;
			snprintf(j->errstr, sizeof(j->errstr), "%s", why);
			j->sqlstate[0] = '\0';
		}
		c->inflight--;
		c->load -= j->weight;
		job_finish(c, j);
	}
	c->tail = NULL;
}

static void forget_prepared(struct pgconn *c, int k)
{
	free(c->prep[k].sql);
	c->prep[k].sql = NULL;
}

static void drop_conn(struct pgconn *c)
{
	int k;

	/* named statements die with the session */
	for (k = 0; k < MAX_PREPARED; k++)
		forget_prepared(c, k);
	if (c->rd) {
		event_free(c->rd);
		c->rd = NULL;
	}
	if (c->wr) {
		event_free(c->wr);
		c->wr = NULL;
	}
	if (c->conn) {
		PQfinish(c->conn);
		c->conn = NULL;
	}
	c->sock = -1;
}

static void schedule_reconnect(struct pgconn *c)
{
	struct timeval tv;
	int ms = c->backoff_ms ? c->backoff_ms : RECONNECT_MIN_MS;

	if (c->closing)
		return;
	ms = ms * 3 / 4 + rand() % (ms / 4 + 1);
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RECONNECT_MIN_MS * 2;
	if (c->backoff_ms > RECONNECT_MAX_MS)
		c->backoff_ms = RECONNECT_MAX_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->retry, &tv);
}

static void broken(struct pgconn *c, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "PostgreSQL connection lost: %s", why);
	oneline(msg);
	if (c->state == PGC_READY)
		log_warn("pg %s: %s", c->name, msg);
	drop_conn(c);
	set_state(c, PGC_BROKEN);
	fail_all(c, msg);
	schedule_reconnect(c);
}

/* (Re)arms the socket events for the current socket. */
static void watch(struct pgconn *c, bool want_read, bool want_write)
{
	int sock = PQsocket(c->conn);

	if (sock != c->sock) {
		if (c->rd)
			event_free(c->rd);
		if (c->wr)
			event_free(c->wr);
		c->rd = event_new(c->base, sock, EV_READ | EV_PERSIST, on_io, c);
		c->wr = event_new(c->base, sock, EV_WRITE, on_io, c);
		c->sock = sock;
	}
	if (want_read)
		event_add(c->rd, NULL);
	else
		event_del(c->rd);
	if (want_write)
		event_add(c->wr, NULL);
	else
		event_del(c->wr);
}

static void flush(struct pgconn *c)
{
	int rc = PQflush(c->conn);

	if (rc < 0) {
		broken(c, PQerrorMessage(c->conn));
		return;
	}
	watch(c, true, rc == 1);
}

static void record_error(struct pg_job *j, const PGresult *r, PGconn *conn)
{
	const char *st, *msg;

	if (j->failed)
		return;
	j->failed = true;
	st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	msg = r ? PQresultErrorMessage(r) : NULL;
	if (!msg || !msg[0])
		msg = PQerrorMessage(conn);
	snprintf(j->errstr, sizeof(j->errstr), "%s", msg);
	oneline(j->errstr);
	snprintf(j->sqlstate, sizeof(j->sqlstate), "%s", st ? st : "");
}

static void submit_internal(struct pgconn *c, const char *sql, const char *what);

/* Reads every result that is ready and completes jobs at their sync. */
static void read_results(struct pgconn *c)
{
	if (!PQconsumeInput(c->conn)) {
		broken(c, PQerrorMessage(c->conn));
		return;
	}
	while (c->head && !PQisBusy(c->conn)) {
		struct pg_job *j = c->head;
		PGresult *r = PQgetResult(c->conn);
		ExecStatusType st;

		if (!r)
			continue;	/* end of one statement's results */
		st = PQresultStatus(r);
		if (j->parsed < j->nparsing) {
			/* a Parse sent ahead: on failure the statement is not there, the next job parses again */
			int k = j->parsing[j->parsed++];

			if (st != PGRES_COMMAND_OK) {
				record_error(j, r, c->conn);
				forget_prepared(c, k);
			}
			PQclear(r);
			continue;
		}
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			c->head = j->next;
			if (!c->head)
				c->tail = NULL;
			c->inflight--;
			c->load -= j->weight;
			job_finish(c, j);
			if (!c->conn)
				return;	/* the callback closed us */
			if (PQtransactionStatus(c->conn) == PQTRANS_INERROR)
				submit_internal(c, "ROLLBACK", "rollback after a failed job");
			continue;
		}
		if (j->got < j->n) {
			j->results[j->got++] = r;
		} else {
			PQclear(r);
			continue;
		}
		if (st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED || st == PGRES_BAD_RESPONSE)
			record_error(j, r, c->conn);
	}
	if (PQstatus(c->conn) == CONNECTION_BAD)
		broken(c, PQerrorMessage(c->conn));
}

static void connected(struct pgconn *c)
{
	if (PQsetnonblocking(c->conn, 1) != 0 || PQenterPipelineMode(c->conn) != 1) {
		broken(c, PQerrorMessage(c->conn));
		return;
	}
	if (c->backoff_ms)
		log_info("pg %s: connected", c->name);
	c->backoff_ms = 0;
	watch(c, true, false);
	/* ahead of every job, in the same pipeline */
	if (c->session_sql)
		submit_internal(c, c->session_sql, "session setup");
	if (!c->conn)
		return;
	set_state(c, PGC_READY);
}

static void poll_connect(struct pgconn *c)
{
	c->poll = PQconnectPoll(c->conn);
	switch (c->poll) {
	case PGRES_POLLING_READING:
		watch(c, true, false);
		break;
	case PGRES_POLLING_WRITING:
		watch(c, false, true);
		break;
	case PGRES_POLLING_OK:
		connected(c);
		break;
	case PGRES_POLLING_FAILED:
	default: {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
		oneline(msg);
		log_warn("pg %s: connect failed: %s", c->name, msg);
		drop_conn(c);
		set_state(c, PGC_BROKEN);
		schedule_reconnect(c);
		break;
	}
	}
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn *c = arg;

	(void)fd;
	if (!c->conn)
		return;
	if (c->state == PGC_CONNECTING) {
		poll_connect(c);
		return;
	}
	if (what & EV_WRITE) {
		flush(c);
		if (!c->conn)
			return;
	}
	if (what & EV_READ)
		read_results(c);
}

static void start_connect(struct pgconn *c)
{
	c->conn = PQconnectStart(c->conninfo);
	if (!c->conn || PQstatus(c->conn) == CONNECTION_BAD) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", c->conn ? PQerrorMessage(c->conn) : "out of memory");
		oneline(msg);
		log_warn("pg %s: cannot start connecting: %s", c->name, msg);
		drop_conn(c);
		schedule_reconnect(c);
		return;
	}
	c->sock = -1;
	c->state = PGC_CONNECTING;
	poll_connect(c);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_connect(arg);
}

struct pgconn *pgconn_new(struct event_base *base, const char *conninfo, const char *name, pgconn_state_cb cb,
			  void *arg)
{
	struct pgconn *c = mw_calloc(1, sizeof(*c));

	c->base = base;
	c->conninfo = mw_strdup(conninfo);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->state_cb = cb;
	c->state_arg = arg;
	c->sock = -1;
	c->prepare = true;
	c->retry = evtimer_new(base, retry_cb, c);
	start_connect(c);
	return c;
}

static uint64_t sql_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static void prepared_name(int k, char *out, size_t len)
{
	snprintf(out, len, "mw_%d", k);
}

/*
 * The slot of a statement to run prepared: found, or taken and its Parse
 * sent now (ahead of every statement of the job, so nothing earlier in the
 * job can abort it); -1 to run it unnamed. Returns -2 if sending failed.
 */
static int prepared_slot(struct pgconn *c, struct pg_job *j, const struct pg_stmt *s)
{
	char name[16];
	uint64_t h;
	int k, free_k = -1;

	if (!s->prepare || !c->prepare)
		return -1;
	h = sql_hash(s->sql);
	for (k = 0; k < MAX_PREPARED; k++) {
		if (!c->prep[k].sql) {
			if (free_k < 0)
				free_k = k;
		} else if (c->prep[k].hash == h && strcmp(c->prep[k].sql, s->sql) == 0) {
			return k;
		}
	}
	if (free_k < 0)
		return -1;
	prepared_name(free_k, name, sizeof(name));
	if (!PQsendPrepare(c->conn, name, s->sql, s->nparams, NULL))
		return -2;
	c->prep[free_k].hash = h;
	c->prep[free_k].sql = mw_strdup(s->sql);
	j->parsing[j->nparsing++] = free_k;
	return free_k;
}

static int send_job(struct pgconn *c, struct pg_job *j, const struct pg_stmt *stmts, int n)
{
	char name[16];
	int i;

	j->slot = mw_calloc((size_t)(2 * n + 1), sizeof(int));
	j->parsing = j->slot + n;
	for (i = 0; i < n; i++) {
		j->slot[i] = prepared_slot(c, j, &stmts[i]);
		if (j->slot[i] == -2)
			return -1;
	}
	for (i = 0; i < n; i++) {
		const struct pg_stmt *s = &stmts[i];
		int ok;

		if (j->slot[i] >= 0) {
			prepared_name(j->slot[i], name, sizeof(name));
			ok = PQsendQueryPrepared(c->conn, name, s->nparams, s->values, s->lengths, s->formats, 0);
		} else {
			ok = PQsendQueryParams(c->conn, s->sql, s->nparams, NULL, s->values, s->lengths, s->formats, 0);
		}
		if (!ok)
			return -1;
	}
	if (!PQpipelineSync(c->conn))
		return -1;
	j->next = NULL;
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	c->inflight++;
	c->load += j->weight;
	/* flushed from the loop, so no callback can fire inside pgconn_submit */
	watch(c, true, true);
	return 0;
}

static void submit_internal(struct pgconn *c, const char *sql, const char *what)
{
	struct pg_job *j = mw_calloc(1, sizeof(*j));
	struct pg_stmt s = { .sql = sql };

	j->internal = what;
	j->weight = 1;
	j->n = 1;
	j->results = mw_calloc(1, sizeof(PGresult *));
	if (send_job(c, j, &s, 1) < 0) {
		job_free(j);
		broken(c, PQerrorMessage(c->conn));
	}
}

int pgconn_submit(struct pgconn *c, const struct pg_stmt *stmts, int n, pgconn_cb cb, void *arg)
{
	return pgconn_submit_weighted(c, stmts, n, 1, cb, arg);
}

int pgconn_submit_weighted(struct pgconn *c, const struct pg_stmt *stmts, int n, int weight, pgconn_cb cb, void *arg)
{
	struct pg_job *j;

	if (c->state != PGC_READY || !c->conn || c->closing)
		return -1;
	j = mw_calloc(1, sizeof(*j));
	j->weight = weight > 0 ? weight : 1;
	j->cb = cb;
	j->arg = arg;
	j->n = n;
	j->results = mw_calloc((size_t)(n ? n : 1), sizeof(PGresult *));
	if (send_job(c, j, stmts, n) < 0) {
		/* libpq copies parameters into its buffer: nothing of ours is held */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c->conn));
		job_free(j);
		broken(c, msg);
		return -1;
	}
	return 0;
}

void pgconn_set_prepare(struct pgconn *c, bool on)
{
	c->prepare = on;
}

void pgconn_set_session(struct pgconn *c, const char *sql)
{
	free(c->session_sql);
	c->session_sql = sql ? mw_strdup(sql) : NULL;
	if (c->session_sql && c->state == PGC_READY)
		submit_internal(c, c->session_sql, "session setup");
}

bool pgconn_ready(const struct pgconn *c)
{
	return c->state == PGC_READY;
}

int pgconn_inflight(const struct pgconn *c)
{
	return c->inflight;
}

int pgconn_load(const struct pgconn *c)
{
	return c->load;
}

void pgconn_free(struct pgconn *c)
{
	if (!c)
		return;
	c->closing = true;
	fail_all(c, "shutting down");
	drop_conn(c);
	event_free(c->retry);
	free(c->session_sql);
	free(c->conninfo);
	free(c);
}
