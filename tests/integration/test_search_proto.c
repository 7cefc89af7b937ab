/*
 * memsearch as a process, spoken to the way the chat backend does (XADD to
 * the request stream, BLPOP on the reply key): user isolation in every op
 * that needs no embedding, delete and purge, each malformed request kind ->
 * bad_request naming the field, unanswerable requests acked, expired
 * deadlines, an unreachable store, graceful shutdown with work in flight,
 * and reclaiming a dead replica's pending requests. Runs on both stores
 * (MW_TEST_STORE: storeenv.h); the unreachable store is PostgreSQL's alone.
 */
#include "searchtest.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIMS 8
#define WAIT_MS 5000

struct fx {
	struct senv store;
	struct stest_daemon d;
	redisContext *rc;
	char a[3][40], b[3][40];	/* memories of users 1 and 2 */
};

static void seed(struct fx *f)
{
	float v[DIMS];
	int i;

	for (i = 0; i < 3; i++) {
		char t1[64], t2[64];

		snprintf(t1, sizeof(t1), "memory %d of the user", i);
		snprintf(t2, sizeof(t2), "memory %d of the user!", i);
		stest_vec(v, DIMS, i, 0);
		stest_add(&f->store, 1, i ? "s2" : "s1", t1, "{\"k\":\"v\"}", v, DIMS, f->a[i]);
		stest_vec(v, DIMS, i, 0.01f);
		stest_add(&f->store, 2, i ? "s2" : "s1", t2, "{\"k\":\"v\"}", v, DIMS, f->b[i]);
	}
}

static void fx_open(struct fx *f, char *const *env)
{
	memset(f, 0, sizeof(*f));
	stest_store_setup(&f->store, "proto", DIMS);
	seed(f);
	stest_daemon_start(&f->d, &f->store, DIMS, tenv_redis_port(), env);
	f->rc = stest_redis(tenv_redis_port());
}

static void fx_close(struct fx *f)
{
	stest_daemon_stop(&f->d);
	redisFree(f->rc);
	senv_teardown(&f->store);
}

static json_t *req(struct fx *f, ...)
{
	const char *fields[32], *values[32];
	va_list ap;
	const char *k;
	int n = 0;
	json_t *j;

	va_start(ap, f);
	while ((k = va_arg(ap, const char *)) != NULL && n < 32) {
		fields[n] = k;
		values[n] = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	j = stest_requestv(f->rc, f->d.stream, WAIT_MS, n, fields, values);
	if (!j) {
		char *log = tenv_slurp(f->d.log);

		cr_assert_fail("no reply within %d ms; memsearch log:\n%s", WAIT_MS, log ? log : "");
	}
	return j;
}

static void expect_error(json_t *j, const char *code)
{
	cr_expect_not(stest_ok(j), "expected an error");
	cr_expect_str_eq(stest_error_code(j), code, "message: %s", stest_error_message(j));
	json_decref(j);
}

Test(search_proto, isolation_in_every_op, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	json_t *j;
	size_t i;

	fx_open(&f, NULL);

	j = req(&f, "op", "get_all", "user_db_id", "1", "request_id", "r-1", NULL);
	cr_assert(stest_ok(j), "%s", stest_error_message(j));
	cr_expect_str_eq(json_string_value(json_object_get(j, "request_id")), "r-1");
	cr_expect(json_is_number(json_object_get(j, "took_ms")));
	cr_assert_eq(stest_nresults(j), 3);
	for (i = 0; i < 3; i++) {
		const char *id = stest_result_str(j, i, "id");

		cr_expect(strcmp(id, f.b[0]) && strcmp(id, f.b[1]) && strcmp(id, f.b[2]), "user 1 sees user 2's");
		cr_expect(json_is_object(json_object_get(json_array_get(json_object_get(j, "results"), i), "metadata")));
	}
	json_decref(j);

	j = req(&f, "op", "get_all", "user_db_id", "1", "session_id", "s2", "limit", "1", NULL);
	cr_expect_eq(stest_nresults(j), 1);
	cr_expect_str_eq(stest_result_str(j, 0, "session_id"), "s2");
	json_decref(j);

	j = req(&f, "op", "get", "user_db_id", "1", "memory_id", f.a[1], NULL);
	cr_assert(stest_ok(j));
	cr_expect_str_eq(stest_result_str(j, 0, "memory"), "memory 1 of the user");
	json_decref(j);
	expect_error(req(&f, "op", "get", "user_db_id", "1", "memory_id", f.b[1], NULL), "not_found");
	expect_error(req(&f, "op", "history", "user_db_id", "1", "memory_id", f.b[1], NULL), "not_found");
	expect_error(req(&f, "op", "delete", "user_db_id", "1", "memory_id", f.b[1], NULL), "not_found");
	cr_expect_eq(senv_count(&f.store, "SELECT count(*) FROM mem0_memories WHERE user_id = 2"), 3);

	j = req(&f, "op", "history", "user_db_id", "2", "memory_id", f.b[1], NULL);
	cr_assert(stest_ok(j));
	cr_expect_eq(stest_nresults(j), 1);
	cr_expect_str_eq(stest_result_str(j, 0, "action"), "created");
	cr_expect_str_eq(stest_result_str(j, 0, "memory_id"), f.b[1]);
	json_decref(j);

	j = req(&f, "op", "stats", "user_db_id", "2", NULL);
	cr_assert(stest_ok(j));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "results"), "total_memories")), 3);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "results"), "history_rows")), 3);
	json_decref(j);
	fx_close(&f);
}

Test(search_proto, delete_and_purge, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	json_t *j;

	fx_open(&f, NULL);
	j = req(&f, "op", "delete", "user_db_id", "1", "memory_id", f.a[0], "request_id", "del-1", NULL);
	cr_assert(stest_ok(j), "%s", stest_error_message(j));
	cr_expect_eq(json_integer_value(json_object_get(j, "deleted")), 1);
	json_decref(j);
	expect_error(req(&f, "op", "get", "user_db_id", "1", "memory_id", f.a[0], NULL), "not_found");
	j = req(&f, "op", "history", "user_db_id", "1", "memory_id", f.a[0], NULL);
	cr_assert_eq(stest_nresults(j), 2);
	cr_expect_str_eq(stest_result_str(j, 1, "action"), "deleted");
	cr_expect_str_eq(json_string_value(json_object_get(
				 json_object_get(json_array_get(json_object_get(j, "results"), 1), "metadata"), "request_id")),
			 "del-1");
	json_decref(j);

	/* applied_at given: SQLite has no default for it */
	senv_exec(&f.store, "INSERT INTO mem0_ingest_log (user_id, message_key, applied_at) VALUES "
	                    "(1, 'a', '2025-01-01T00:00:00.000000Z'), (2, 'a', '2025-01-01T00:00:00.000000Z')");
	j = req(&f, "op", "delete_all", "user_db_id", "1", "purge", "true", NULL);
	cr_assert(stest_ok(j), "%s", stest_error_message(j));
	cr_expect_eq(json_integer_value(json_object_get(j, "deleted")), 2);
	json_decref(j);
	cr_expect_eq(senv_count(&f.store, "SELECT (SELECT count(*) FROM mem0_memories WHERE user_id = 1) + "
	                                  "(SELECT count(*) FROM mem0_history WHERE user_id = 1) + "
	                                  "(SELECT count(*) FROM mem0_ingest_log WHERE user_id = 1) + "
	                                  "(SELECT count(*) FROM mem0_metadata WHERE user_id = 1)"),
	             0, "purge left rows of user 1");
	cr_expect_eq(senv_count(&f.store, "SELECT (SELECT count(*) FROM mem0_memories WHERE user_id = 2) + "
	                                  "(SELECT count(*) FROM mem0_history WHERE user_id = 2) + "
	                                  "(SELECT count(*) FROM mem0_ingest_log WHERE user_id = 2) + "
	                                  "(SELECT count(*) FROM mem0_metadata WHERE user_id = 2)"),
	             3 + 3 + 1 + 1, "user 2's rows must stay");
	j = req(&f, "op", "stats", "user_db_id", "1", NULL);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "results"), "total_memories")), 0);
	json_decref(j);

	j = req(&f, "op", "delete_all", "user_db_id", "2", NULL);
	cr_expect_eq(json_integer_value(json_object_get(j, "deleted")), 3);
	json_decref(j);
	cr_expect_eq(senv_count(&f.store, "SELECT count(*) FROM mem0_history WHERE user_id = 2 AND action = 'deleted'"),
	             3);
	fx_close(&f);
}

/* field, then up to three more name/value pairs after user_db_id (NULL ends) */
struct bad {
	const char *field;
	const char *pairs[8];
};

Test(search_proto, malformed_requests_name_the_field, .init = tenv_require_servers, .timeout = 120)
{
	static const struct bad cases[] = {
		{ "user_db_id", { "op", "stats", "user_db_id", NULL } },
		{ "user_db_id", { "op", "stats", "user_db_id", "seven" } },
		{ "user_db_id", { "op", "stats", "user_db_id", "0" } },
		{ "user_db_id", { "op", "stats", "user_db_id", "-1" } },
		{ "op", { "op", "frobnicate", "user_db_id", "1" } },
		{ "op", { "user_db_id", "1" } },
		{ "limit", { "op", "get_all", "user_db_id", "1", "limit", "0" } },
		{ "limit", { "op", "search", "user_db_id", "1", "query", "q", "limit", "1001" } },
		{ "filters", { "op", "search", "user_db_id", "1", "query", "q", "filters", "{bad" } },
		{ "filters", { "op", "search", "user_db_id", "1", "query", "q", "filters", "[]" } },
		{ "filters", { "op", "search", "user_db_id", "1", "query", "q", "filters", "{\"a\":{\"b\":1}}" } },
		{ "threshold", { "op", "search", "user_db_id", "1", "query", "q", "threshold", "2" } },
		{ "query", { "op", "search", "user_db_id", "1" } },
		{ "query", { "op", "context", "user_db_id", "1", "query", "" } },
		{ "memory_id", { "op", "get", "user_db_id", "1" } },
		{ "memory_id", { "op", "history", "user_db_id", "1", "memory_id", "not-a-uuid" } },
		{ "memory_id", { "op", "delete", "user_db_id", "1", "memory_id", "123" } },
	};
	struct fx f;
	size_t i;

	fx_open(&f, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *fields[8], *values[8];
		int n = 0, k;
		json_t *j;
		char want[64];

		for (k = 0; k + 1 < 8 && cases[i].pairs[k]; k += 2) {
			if (!cases[i].pairs[k + 1])
				break;	/* a name without a value: leave the field out */
			fields[n] = cases[i].pairs[k];
			values[n++] = cases[i].pairs[k + 1];
		}
		fields[n] = "request_id";
		values[n++] = "bad";
		j = stest_requestv(f.rc, f.d.stream, WAIT_MS, n, fields, values);
		cr_assert_not_null(j, "case %zu: no reply", i);
		cr_expect_not(stest_ok(j));
		cr_expect_str_eq(stest_error_code(j), "bad_request", "case %zu", i);
		snprintf(want, sizeof(want), "%s: ", cases[i].field);
		cr_expect(strncmp(stest_error_message(j), want, strlen(want)) == 0, "case %zu: '%s' does not name %s",
			  i, stest_error_message(j), cases[i].field);
		cr_expect_str_eq(json_string_value(json_object_get(j, "request_id")), "bad");
		json_decref(j);
	}
	fx_close(&f);
}

static long long redis_int(redisContext *rc, const char *fmt, const char *a1, const char *a2)
{
	redisReply *r = redisCommand(rc, fmt, a1, a2);
	long long v;

	cr_assert(r, "redis: %s", rc->errstr);
	if (r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_INTEGER)
		v = r->element[0]->integer;	/* XPENDING summary: count first */
	else
		v = -1;
	freeReplyObject(r);
	return v;
}

Test(search_proto, unanswerable_acked_and_expired_deadline, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char past[32], future[32], longkey[600];
	json_t *j;

	fx_open(&f, NULL);
	/* no reply_to at all, and one too long: logged, acked, deleted */
	cr_expect_null(stest_request(f.rc, f.d.stream, 0, "op", "stats", "user_db_id", "1", "reply_to", NULL, NULL));
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	{
		redisReply *r = redisCommand(f.rc, "XADD %s * op stats user_db_id 1 reply_to %s", f.d.stream, longkey);

		freeReplyObject(r);
	}
	/* the daemon goes on: a later request is answered */
	j = req(&f, "op", "stats", "user_db_id", "1", NULL);
	cr_expect(stest_ok(j));
	json_decref(j);
	usleep(100000);
	cr_expect_eq(redis_int(f.rc, "XLEN %s", f.d.stream, NULL), 0, "acked entries are deleted");
	cr_expect_eq(redis_int(f.rc, "XPENDING %s %s", f.d.stream, "memsearch"), 0, "nothing left pending");
	cr_expect_eq(redis_int(f.rc, "EXISTS %s", longkey, NULL), 0);

	snprintf(past, sizeof(past), "%lld", (long long)time(NULL) * 1000 - 1000);
	expect_error(req(&f, "op", "get_all", "user_db_id", "1", "deadline_ms", past, NULL), "timeout");
	snprintf(future, sizeof(future), "%lld", (long long)time(NULL) * 1000 + 60000);
	j = req(&f, "op", "get_all", "user_db_id", "1", "deadline_ms", future, NULL);
	cr_expect(stest_ok(j));
	json_decref(j);
	expect_error(req(&f, "op", "stats", "user_db_id", "1", "deadline_ms", "soon", NULL), "bad_request");

	/* the reply key expires (MEM0_REPLY_TTL_MS): push one nobody pops */
	{
		redisReply *r = redisCommand(f.rc, "XADD %s * op stats user_db_id 1 reply_to %s:ttl", f.d.stream,
					     f.d.stream);
		long long ttl = -1;
		int tries;
		char key[160];

		freeReplyObject(r);
		snprintf(key, sizeof(key), "%s:ttl", f.d.stream);
		for (tries = 0; tries < 100 && ttl < 0; tries++) {
			usleep(20000);
			ttl = redis_int(f.rc, "PTTL %s", key, NULL);
		}
		cr_expect(ttl > 0 && ttl <= 60000, "reply key has an expiry: %lld", ttl);
	}
	fx_close(&f);
}

Test(search_proto, store_down_is_unavailable, .init = tenv_require_servers, .timeout = 120)
{
	struct senv store;
	struct stest_daemon d;
	char *env[] = { (char *)"POSTGRES_PORT=1", NULL };
	redisContext *rc;
	json_t *j;

	stest_require_pg("a server that does not answer; a SQLite file that cannot be opened stops memsearch at start");
	stest_store_setup(&store, "down", DIMS);
	stest_daemon_start(&d, &store, DIMS, tenv_redis_port(), env);
	rc = stest_redis(tenv_redis_port());
	j = stest_request(rc, d.stream, WAIT_MS, "op", "stats", "user_db_id", "1", NULL);
	cr_assert_not_null(j);
	cr_expect_str_eq(stest_error_code(j), "unavailable");
	json_decref(j);
	j = stest_request(rc, d.stream, WAIT_MS, "op", "search", "user_db_id", "1", "query", "tea", NULL);
	cr_assert_not_null(j);
	cr_expect_str_eq(stest_error_code(j), "unavailable");
	json_decref(j);
	stest_daemon_stop(&d);
	redisFree(rc);
	senv_teardown(&store);
}

/*
 * A request stuck behind a lock is finished, not dropped, by SIGTERM: on
 * PostgreSQL the user's advisory lock, on SQLite the file's write lock.
 */
Test(search_proto, sigterm_finishes_in_flight, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char key[128], u[64], lock[128];
	redisReply *r;
	int rc;
	long long t0;

	fx_open(&f, NULL);
	/* the test's own connection holds the lock; memsearch waits on it (SQLite: up to STORE_SQLITE_BUSY_MS) */
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_lock(%d, 1)", 0x6d77);
	senv_exec(&f.store, senv_is_pg(&f.store) ? lock : "BEGIN IMMEDIATE");
	snprintf(key, sizeof(key), "mem0:reply:%s", tenv_unique("term", u, sizeof(u)));
	r = redisCommand(f.rc, "XADD %s * op delete_all user_db_id 1 reply_to %s", f.d.stream, key);
	freeReplyObject(r);
	usleep(300000);	/* the delete now waits for the lock */
	kill(f.d.pid, SIGTERM);
	usleep(300000);
	cr_expect_eq(redis_int(f.rc, "LLEN %s", key, NULL), 0, "answered before the lock was released?");
	senv_exec(&f.store, senv_is_pg(&f.store) ? "SELECT pg_advisory_unlock_all()" : "ROLLBACK");
	t0 = tenv_now_ms();
	rc = tenv_stop(f.d.pid, 0, 10000);	/* signal 0: just wait for the exit */
	f.d.pid = 0;
	cr_expect_eq(rc, 0, "memsearch exit status after SIGTERM");
	cr_expect(tenv_now_ms() - t0 < 5000);
	r = redisCommand(f.rc, "LPOP %s", key);
	cr_assert(r && r->type == REDIS_REPLY_STRING, "the in-flight request was not answered");
	cr_expect(strstr(r->str, "\"deleted\":3") != NULL, "%s", r->str);
	freeReplyObject(r);
	cr_expect_eq(redis_int(f.rc, "XPENDING %s %s", f.d.stream, "memsearch"), 0);
	redisFree(f.rc);
	senv_teardown(&f.store);
}

/* Entries a dead replica read and never acked are reclaimed and answered. */
Test(search_proto, dead_replica_entries_reclaimed, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char *env[] = { (char *)"MEM0_CLAIM_IDLE_MS=600", NULL };
	char keys[3][128], u[64], past[32];
	redisReply *r;
	json_t *j;
	int i;

	fx_open(&f, env);
	/* stop the live one so the "dead" consumer gets the entries */
	stest_daemon_stop(&f.d);
	snprintf(past, sizeof(past), "%lld", (long long)time(NULL) * 1000 - 1);
	for (i = 0; i < 3; i++) {
		snprintf(keys[i], sizeof(keys[i]), "mem0:reply:%s", tenv_unique("claim", u, sizeof(u)));
		r = redisCommand(f.rc, "XADD %s * op stats user_db_id 1 reply_to %s deadline_ms %s", f.d.stream,
				 keys[i], i == 2 ? past : "0");
		freeReplyObject(r);
	}
	r = redisCommand(f.rc, "XREADGROUP GROUP memsearch dead-replica COUNT 10 STREAMS %s >", f.d.stream);
	cr_assert(r && r->type == REDIS_REPLY_ARRAY, "the dead replica's read");
	freeReplyObject(r);
	cr_expect_eq(redis_int(f.rc, "XPENDING %s %s", f.d.stream, "memsearch"), 3);

	{
		struct stest_daemon first = f.d;

		stest_daemon_start_replica(&f.d, &first, DIMS, tenv_redis_port(), env);
	}
	for (i = 0; i < 3; i++) {
		r = redisCommand(f.rc, "BLPOP %s 5", keys[i]);
		cr_assert(r && r->type == REDIS_REPLY_ARRAY, "entry %d was not reclaimed and answered", i);
		j = json_loads(r->element[1]->str, 0, NULL);
		if (i < 2)
			cr_expect(stest_ok(j), "%s", r->element[1]->str);
		else
			cr_expect_str_eq(stest_error_code(j), "timeout", "past its deadline: %s", r->element[1]->str);
		json_decref(j);
		freeReplyObject(r);
	}
	usleep(100000);
	cr_expect_eq(redis_int(f.rc, "XPENDING %s %s", f.d.stream, "memsearch"), 0);
	fx_close(&f);
}

/*
 * A request that every replica taking it died on (its delivery count past
 * MEM0_MAX_DELIVERIES) is answered "internal" and acknowledged when
 * reclaimed, not run again; a request delivered fewer times still runs.
 */
Test(search_proto, request_delivered_too_often_not_run_again, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char *env[] = { (char *)"MEM0_CLAIM_IDLE_MS=600", (char *)"MEM0_MAX_DELIVERIES=3", NULL };
	char keys[2][128], ids[2][64], u[64];
	redisReply *r;
	json_t *j;
	int i;

	fx_open(&f, env);
	stest_daemon_stop(&f.d);
	for (i = 0; i < 2; i++) {
		snprintf(keys[i], sizeof(keys[i]), "mem0:reply:%s", tenv_unique("poison", u, sizeof(u)));
		r = redisCommand(f.rc, "XADD %s * op stats user_db_id 1 reply_to %s", f.d.stream, keys[i]);
		cr_assert(r && r->type == REDIS_REPLY_STRING);
		snprintf(ids[i], sizeof(ids[i]), "%s", r->str);
		freeReplyObject(r);
	}
	r = redisCommand(f.rc, "XREADGROUP GROUP memsearch dead-replica COUNT 10 STREAMS %s >", f.d.stream);
	freeReplyObject(r);
	/* the first as if three replicas had read it and died: delivered 3 times; the second once */
	r = redisCommand(f.rc, "XCLAIM %s memsearch dead-replica 0 %s RETRYCOUNT 3 JUSTID", f.d.stream, ids[0]);
	freeReplyObject(r);
	{
		struct stest_daemon first = f.d;

		stest_daemon_start_replica(&f.d, &first, DIMS, tenv_redis_port(), env);
	}
	for (i = 0; i < 2; i++) {
		r = redisCommand(f.rc, "BLPOP %s 5", keys[i]);
		cr_assert(r && r->type == REDIS_REPLY_ARRAY, "request %d was not reclaimed and answered", i);
		j = json_loads(r->element[1]->str, 0, NULL);
		if (i == 0) {
			cr_expect_str_eq(stest_error_code(j), "internal", "%s", r->element[1]->str);
			cr_expect(strstr(r->element[1]->str, "delivered 4 times"), "%s", r->element[1]->str);
		} else {
			cr_expect(stest_ok(j), "delivered twice: runs: %s", r->element[1]->str);
		}
		json_decref(j);
		freeReplyObject(r);
	}
	usleep(100000);
	cr_expect_eq(redis_int(f.rc, "XPENDING %s %s", f.d.stream, "memsearch"), 0, "both acknowledged");
	fx_close(&f);
}
