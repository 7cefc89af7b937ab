/*
 * searchtest: see searchtest.h.
 */
#include "searchtest.h"

#include "migrate.h"
#include "store.h"
#include "store_pg.h"
#include "testenv.h"
#include "ts.h"
#include "uuid4.h"
#include "vec.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

PGconn *stest_db(const char *prefix, int dims, bool hnsw, char *name_out)
{
	PGconn *conn = tenv_pg_new_db(prefix, name_out);
	struct migrate_opts o = { .embedding_dims = dims, .hnsw = hnsw };
	struct migrate_result res;

	cr_assert_eq(migrate_run(conn, &o, &res), 0, "migrate: %s", res.errstr);
	return conn;
}

void stest_vec(float *v, int dims, int axis, float tilt)
{
	int i;

	for (i = 0; i < dims; i++)
		v[i] = 0;
	v[axis % dims] = 1;
	v[(axis + 1) % dims] += tilt;
}

static void vec_literal(const float *v, int dims, char *out, size_t outlen)
{
	size_t len = 0;
	int i;

	out[len++] = '[';
	for (i = 0; i < dims && len + 24 < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s%.6g", i ? "," : "", (double)v[i]);
	snprintf(out + len, outlen - len, "]");
}

const char *stest_insert(PGconn *conn, int user, const char *session, const char *text, const char *metadata_json,
			 const float *vec, int dims, char *out)
{
	char uid[16], vbuf[65536];
	const char *vals[5] = { uid, session, text, vbuf, metadata_json ? metadata_json : "{}" };
	PGresult *r;

	snprintf(uid, sizeof(uid), "%d", user);
	vec_literal(vec, dims, vbuf, sizeof(vbuf));
	r = PQexecParams(conn,
			 "WITH m AS (INSERT INTO mem0_memories (user_id, session_id, memory, hash, embedding, metadata) "
			 "VALUES ($1, $2, $3, md5($3), $4::vector, $5::jsonb) RETURNING id, user_id, memory) "
			 "INSERT INTO mem0_history (memory_id, user_id, action, new_content) "
			 "SELECT id, user_id, 'created', memory FROM m RETURNING memory_id",
			 5, NULL, vals, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "insert: %s", PQerrorMessage(conn));
	snprintf(out, 40, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

void stest_store_setup(struct senv *s, const char *prefix, int dims)
{
	senv_setup(s, senv_kind_from_env(), prefix, dims, true);
}

void stest_require_pg(const char *why)
{
	if (senv_kind_from_env() == SENV_SQLITE)
		cr_skip_test("PostgreSQL store only: %s", why);
}

/* As the SQLite store writes a memory (store_sqlite.c): its own uuid, float32 LE BLOB, canonical timestamps. */
static void sqlite_insert(sqlite3 *db, int user, const char *session, const char *text, const char *metadata_json,
                          const float *vec, int dims, char *out)
{
	static const char *const sql[] = {
	        "INSERT INTO mem0_memories (id, user_id, session_id, memory, hash, embedding, metadata, created_at, "
	        "updated_at) VALUES (?1, ?2, ?3, ?4, md5(?4), ?5, json(?6), ?7, ?7)",
	        "INSERT INTO mem0_history (memory_id, user_id, action, new_content, created_at) "
	        "VALUES (?1, ?2, 'created', ?4, ?7)",
	};
	unsigned char *blob = malloc(4 * (size_t)dims);
	char id[UUID4_LEN + 1], now[TS_LEN + 1];
	size_t i;

	cr_assert(blob);
	uuid4_generate(id);
	ts_format(ts_now_us(), now);
	vec_to_le_blob(vec, dims, blob);
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		sqlite3_stmt *st = NULL;

		cr_assert_eq(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL), SQLITE_OK, "SQLite: %s",
		             sqlite3_errmsg(db));
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, user);
		sqlite3_bind_text(st, 3, session, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 5, blob, 4 * dims, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, metadata_json ? metadata_json : "{}", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
		cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "insert: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	free(blob);
	snprintf(out, 40, "%s", id);
}

const char *stest_add(struct senv *s, int user, const char *session, const char *text, const char *metadata_json,
                      const float *vec, int dims, char *out)
{
	if (senv_is_pg(s))
		return stest_insert(s->pg, user, session, text, metadata_json, vec, dims, out);
	sqlite_insert(s->sqlite, user, session, text, metadata_json, vec, dims, out);
	return out;
}

void stest_wait(struct event_base *base, const bool *done, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;
	struct timeval tick = { 0, 20000 };

	while (!*done) {
		cr_assert(tenv_now_ms() < until, "timed out waiting for a callback");
		event_base_loopexit(base, &tick);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

struct store *stest_store(struct event_base *base, const char *db, int dims)
{
	char conninfo[256];
	struct store *s;
	long long until = tenv_now_ms() + 5000;

	snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=postgres dbname=%s", tenv_pg_port(), db);
	s = store_pg_new(base, conninfo, dims, 2);
	while (!store_ready(s)) {
		struct timeval tick = { 0, 20000 };

		cr_assert(tenv_now_ms() < until, "store did not connect");
		event_base_loopexit(base, &tick);
		event_base_loop(base, EVLOOP_ONCE);
	}
	return s;
}

/* ---- memsearch as a process ---- */

redisContext *stest_redis(int port)
{
	struct timeval tv = { 5, 0 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);

	cr_assert(rc && !rc->err, "redis connect: %s", rc ? rc->errstr : "oom");
	return rc;
}

static bool group_exists(int port, const char *stream, const char *group)
{
	redisContext *rc = stest_redis(port);
	redisReply *r = redisCommand(rc, "XINFO GROUPS %s", stream);
	bool found = false;
	size_t i, j;

	if (r && r->type == REDIS_REPLY_ARRAY) {
		for (i = 0; i < r->elements; i++) {
			const redisReply *g = r->element[i];

			for (j = 0; g->type == REDIS_REPLY_ARRAY && j + 1 < g->elements; j += 2)
				if (strcmp(g->element[j]->str, "name") == 0 && g->element[j + 1]->str &&
				    strcmp(g->element[j + 1]->str, group) == 0)
					found = true;
		}
	}
	freeReplyObject(r);
	redisFree(rc);
	return found;
}

extern char **environ;

/*
 * tenv_spawn, plus: the daemon gets SIGKILL if the test process dies (a
 * failed assertion must not leave a memsearch running), and env entries go
 * first (getenv() takes the first of a name).
 */
pid_t stest_spawn(char *const argv[], char *const env[], const char *log_path)
{
	size_t n = 0, m = 0, i;
	char **envp;
	pid_t parent = getpid(), pid;

	while (environ[n])
		n++;
	while (env && env[m])
		m++;
	envp = calloc(n + m + 1, sizeof(char *));
	cr_assert(envp);
	for (i = 0; i < m; i++)
		envp[i] = env[i];
	for (i = 0; i < n; i++)
		envp[m + i] = environ[i];
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int devnull = open("/dev/null", O_RDONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

static void spawn(struct stest_daemon *d, int dims, int redis_port, char *const *extra_env)
{
	char bin[512], redis[64], stream[128], dimsv[48], *env[40];
	char *argv[] = { (char *)tenv_bin("memsearch", bin, sizeof(bin)), NULL };
	const char *tmp = getenv("MW_TEST_TMP");
	int n = 0, i;

	snprintf(redis, sizeof(redis), "REDIS_URL=redis://127.0.0.1:%d", redis_port);
	snprintf(stream, sizeof(stream), "MEM0_SEARCH_STREAM=%s", d->stream);
	snprintf(dimsv, sizeof(dimsv), "MEM0_EMBEDDING_DIMS=%d", dims);
	/* the caller's entries first: getenv() takes the first of a name */
	for (i = 0; extra_env && extra_env[i] && n < 30; i++)
		env[n++] = extra_env[i];
	for (i = 0; i < d->store->nenv && n < 30; i++)
		env[n++] = (char *)d->store->env[i];
	env[n++] = redis;
	env[n++] = stream;
	env[n++] = dimsv;
	/*
	 * Models, unless the caller chose: local (the default) allows 100
	 * dimensions only, so an OpenAI-compatible server nobody listens on
	 * (embeddings fail at once: 'unavailable', as before local existed).
	 */
	env[n++] = (char *)"MEM0_MODELS=openai";
	env[n++] = (char *)"OPENAI_BASE_URL=http://127.0.0.1:9/v1";
	env[n++] = (char *)"MEM0_SEARCH_GROUP=memsearch";
	env[n++] = (char *)"MEM0_LOG_LEVEL=debug";
	env[n] = NULL;
	snprintf(d->log, sizeof(d->log), "%s/memsearch-%d-%ld-%d.log", tmp ? tmp : "/tmp", (int)getpid(),
		 (long)time(NULL), rand() % 100000);
	d->pid = stest_spawn(argv, env, d->log);
}

static void wait_group(struct stest_daemon *d, int redis_port)
{
	long long until = tenv_now_ms() + 10000;

	while (!group_exists(redis_port, d->stream, "memsearch")) {
		if (tenv_now_ms() > until) {
			char *log = tenv_slurp(d->log);

			cr_assert_fail("memsearch did not create its group; log:\n%s", log ? log : "(none)");
		}
		usleep(20000);
	}
}

void stest_daemon_start(struct stest_daemon *d, const struct senv *store, int dims, int redis_port,
                        char *const *extra_env)
{
	char u[64];

	memset(d, 0, sizeof(*d));
	d->store = store;
	snprintf(d->stream, sizeof(d->stream), "mem0:search:%s", tenv_unique("t", u, sizeof(u)));
	spawn(d, dims, redis_port, extra_env);
	wait_group(d, redis_port);
}

void stest_daemon_start_replica(struct stest_daemon *d, const struct stest_daemon *first, int dims, int redis_port,
				char *const *extra_env)
{
	memset(d, 0, sizeof(*d));
	d->store = first->store;
	snprintf(d->stream, sizeof(d->stream), "%s", first->stream);
	spawn(d, dims, redis_port, extra_env);
	/*
	 * The group exists already: wait until the replica reads from it, so a
	 * burst sent next is shared, not all taken by the first (the replica
	 * starts slowly under valgrind). Its log says so just before its first
	 * XREADGROUP; Redis 7.0 lists a consumer only once it has been served.
	 */
	if (!tenv_wait_log(d->log, "info: reading ", 30000)) {
		char *log = tenv_slurp(d->log);

		cr_assert_fail("the replica never started reading; log:\n%s", log ? log : "(none)");
	}
	usleep(50000);	/* the XREADGROUP on its way */
}

void stest_daemon_stop(struct stest_daemon *d)
{
	int rc;

	if (!d->pid)
		return;
	rc = tenv_stop(d->pid, SIGTERM, 10000);
	d->pid = 0;
	if (rc != 0) {
		char *log = tenv_slurp(d->log);

		cr_expect_eq(rc, 0, "memsearch exited %d; log:\n%s", rc, log ? log : "(none)");
		free(log);
	}
}

/* ---- requests ---- */

json_t *stest_requestv(redisContext *rc, const char *stream, int timeout_ms, int n, const char **fields,
		       const char **values)
{
	const char *argv[64];
	char key[96], u[64], secs[32];
	redisReply *r;
	json_t *j = NULL;
	int argc = 0, i;
	bool has_reply_to = false;

	snprintf(key, sizeof(key), "mem0:reply:%s", tenv_unique("r", u, sizeof(u)));
	argv[argc++] = "XADD";
	argv[argc++] = stream;
	argv[argc++] = "*";
	for (i = 0; i < n && argc < 60; i++) {
		if (strcmp(fields[i], "reply_to") == 0) {
			has_reply_to = true;
			snprintf(key, sizeof(key), "%s", values[i] ? values[i] : "");
			if (!values[i])
				continue;	/* NULL: send no reply_to at all */
		}
		argv[argc++] = fields[i];
		argv[argc++] = values[i];
	}
	if (!has_reply_to) {
		argv[argc++] = "reply_to";
		argv[argc++] = key;
	}
	r = redisCommandArgv(rc, argc, argv, NULL);
	cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD failed: %s", r && r->str ? r->str : rc->errstr);
	freeReplyObject(r);
	if (!key[0])
		return NULL;
	snprintf(secs, sizeof(secs), "%.3f", timeout_ms / 1000.0);
	r = redisCommand(rc, "BLPOP %s %s", key, secs);
	cr_assert(r, "BLPOP failed: %s", rc->errstr);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
		json_error_t e;

		j = json_loads(r->element[1]->str, 0, &e);
		cr_assert_not_null(j, "reply is not JSON: %s", r->element[1]->str);
	}
	freeReplyObject(r);
	return j;
}

json_t *stest_request(redisContext *rc, const char *stream, int timeout_ms, ...)
{
	const char *fields[32], *values[32];
	va_list ap;
	const char *k;
	int n = 0;

	va_start(ap, timeout_ms);
	while ((k = va_arg(ap, const char *)) != NULL && n < 32) {
		fields[n] = k;
		values[n] = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	return stest_requestv(rc, stream, timeout_ms, n, fields, values);
}

bool stest_ok(const json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

const char *stest_error_code(const json_t *reply)
{
	const char *s = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));

	return s ? s : "";
}

const char *stest_error_message(const json_t *reply)
{
	const char *s = json_string_value(json_object_get(json_object_get(reply, "error"), "message"));

	return s ? s : "";
}

size_t stest_nresults(const json_t *reply)
{
	return json_array_size(json_object_get(reply, "results"));
}

const char *stest_result_str(const json_t *reply, size_t i, const char *field)
{
	const char *s = json_string_value(json_object_get(json_array_get(json_object_get(reply, "results"), i), field));

	return s ? s : "";
}
