/*
 * memctl dlq (list, show, retry, drop) against a running memworker, and
 * stream trimming (memctl trim and the worker's MEM0_TRIM_KEEP_DAYS) that
 * never drops an entry a consumer group still needs.
 */
#include "mockllm.h"
#include "opsenv.h"
#include "testenv.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IDLE_MS 20000

static struct wenv w;

static void setup(void)
{
	wenv_setup(&w, true);	/* the chat app's users table: user 999 does not exist */
}

static void teardown(void)
{
	wenv_teardown(&w);
}

TestSuite(dlq, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(trim, .init = setup, .fini = teardown, .timeout = 120);

static long long xlen(const char *key)
{
	redisReply *r = redisCommand(w.redis, "XLEN %s", key);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

/* The ids of the dead letters, oldest first (malloc'd strings in out). */
static int dlq_ids(char **out, int max)
{
	redisReply *r = redisCommand(w.redis, "XRANGE %s - +", w.dlq);
	int n = 0;
	size_t i;

	for (i = 0; i < r->elements && n < max; i++)
		out[n++] = strdup(r->element[i]->element[0]->str);
	freeReplyObject(r);
	return n;
}

Test(dlq, retry_after_fixing_the_cause_applies_the_entry)
{
	char *ids[8], *out, *err, *stream_id;
	json_t *j;
	int n;

	wenv_start_worker(&w);
	free(wenv_exchange(&w, 999, "s", "nouser-1", "I like coffee.", NULL));
	stream_id = wenv_xadd(&w, "user_db_id", "999", "session_id", "s", "role", "user", "content",
			      "I live in \xc3\x89vora.", NULL);	/* no message_id: keyed by its entry id */
	wenv_wait_idle(&w, IDLE_MS);
	n = dlq_ids(ids, 8);
	cr_assert_eq(n, 2, "both rejected by the users foreign key");

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "list", NULL), 0, "%s", err);
	cr_expect(strstr(out, "2 dead letters in ") != NULL, "%s", out);
	cr_expect(strstr(out, ids[0]) && strstr(out, ids[1]), "%s", out);
	cr_expect(strstr(out, "rejected by the database") != NULL, "%s", out);
	cr_expect(strstr(out, "I like coffee.") && strstr(out, "I live in \xc3\x89vora."), "%s", out);
	cr_expect(strstr(out, " 999 ") != NULL, "the user: %s", out);
	free(out);
	free(err);

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "list", "--json", "--limit", "1", NULL), 0, "%s", err);
	j = json_loads(out, 0, NULL);
	cr_assert(json_is_array(j) && json_array_size(j) == 1, "%s", out);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "id")), ids[0]);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "user_db_id")), "999");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(j, 0), "content")), "I like coffee.");
	json_decref(j);
	free(out);
	free(err);

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "show", ids[1], "--json", NULL), 0, "%s", err);
	j = json_loads(out, 0, NULL);
	cr_assert(json_is_object(j), "%s", out);
	cr_expect_str_eq(json_string_value(json_object_get(j, "entry_id")), stream_id);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "fields"), "content")),
			 "I live in \xc3\x89vora.");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "fields"), "dlq_stream")), w.stream);
	json_decref(j);
	free(out);
	free(err);
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "show", ids[0], NULL), 0, "%s", err);
	cr_expect(strstr(out, "dlq_reason  rejected by the database") != NULL, "%s", out);
	cr_expect(strstr(out, "message_id  nouser-1") != NULL, "%s", out);
	free(out);
	free(err);

	/* retrying before the cause is fixed: back in the DLQ, as a new dead letter */
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "retry", ids[0], NULL), 0, "%s", err);
	cr_expect(strstr(out, "retried ") != NULL, "%s", out);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(xlen(w.dlq), 2);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories"), 0);

	/* fix the cause, retry everything */
	PQclear(tenv_pg_exec(w.pg, "INSERT INTO users (id, username) VALUES (999, 'late')"));
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "retry", "--all", "--json", NULL), 0, "%s", err);
	j = json_loads(out, 0, NULL);
	cr_expect_eq(json_array_size(j), 2, "%s", out);
	json_decref(j);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(xlen(w.dlq), 0, "retried dead letters are deleted");
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 999"), 2);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log WHERE message_key = 'nouser-1'"), 1);
	{
		char sql[256];

		/* the entry without message_id kept the key it had: its original entry id */
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM mem0_ingest_log WHERE message_key = '%s'", stream_id);
		cr_expect_eq(wenv_count(&w, sql), 1);
	}
	/* a second retry of the same message (as if the XDEL had been lost) changes nothing */
	free(wenv_xadd(&w, "user_db_id", "999", "session_id", "s", "content", "I like coffee.", "message_id",
		       "nouser-1", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_history WHERE user_id = 999"), 2);
	free(stream_id);
	free(ids[0]);
	free(ids[1]);
}

Test(dlq, drop_and_errors)
{
	char *ids[8], *out, *err;
	int n, i;

	wenv_start_worker(&w);
	free(wenv_xadd(&w, "user_db_id", "abc", "session_id", "s", "content", "x", NULL));
	free(wenv_xadd(&w, "user_db_id", "1", "content", "x", NULL));
	free(wenv_xadd(&w, "user_db_id", "1", "session_id", "s", "content", "", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	n = dlq_ids(ids, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "drop", ids[1], NULL), 0, "%s", err);
	cr_expect(strstr(out, "dropped ") != NULL, "%s", out);
	free(out);
	free(err);
	cr_expect_eq(xlen(w.dlq), 2);
	cr_expect_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "drop", ids[1], NULL), 1, "already gone");
	cr_expect(strstr(err, "no dead letter") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "show", "nonsense", NULL), 1);
	cr_expect(strstr(err, "is not an entry id") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "retry", NULL), 2, "retry needs ids or --all");
	free(out);
	free(err);
	/* still invalid: --all retries each once and stops at the last dead letter of its start */
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "retry", "--all", NULL), 0, "%s", err);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(xlen(w.dlq), 2, "they came back once each");
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "drop", "--all", NULL), 0, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(xlen(w.dlq), 0);
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "dlq", "list", NULL), 0, "%s", err);
	cr_expect(strstr(out, "0 dead letters") != NULL, "%s", out);
	free(out);
	free(err);
	for (i = 0; i < n; i++)
		free(ids[i]);
}

/* Entries with ids far in the past: ms 1000, sequences 0..9. */
static void old_entries(const char *key, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		redisReply *r = redisCommand(w.redis, "XADD %s 1000-%d user_db_id 1 session_id s content %s", key, i,
					     "I like tea.");
		cr_assert(r && r->type == REDIS_REPLY_STRING, "%s", r ? r->str : "?");
		freeReplyObject(r);
	}
}

static void cmd(const char *fmt, const char *a, const char *b)
{
	redisReply *r = redisCommand(w.redis, fmt, a, b);

	cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r ? r->str : w.redis->errstr);
	freeReplyObject(r);
}

static char *first_id(const char *key)
{
	redisReply *r = redisCommand(w.redis, "XRANGE %s - + COUNT 1", key);
	char *id = r->elements ? strdup(r->element[0]->element[0]->str) : strdup("");

	freeReplyObject(r);
	return id;
}

static void trim_expect(const char *want_out, long long len, const char *first)
{
	char *out, *err, *f;

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "trim", "--keep-days", "1", NULL), 0, "%s", err);
	cr_expect(strstr(out, want_out) != NULL, "want '%s' in: %s", want_out, out);
	free(out);
	free(err);
	cr_expect_eq(xlen(w.stream), len);
	f = first_id(w.stream);
	cr_expect_str_eq(f, first);
	free(f);
}

Test(trim, keeps_pending_and_undelivered_entries)
{
	char *out, *err;

	old_entries(w.stream, 10);
	free(wenv_xadd(&w, "user_db_id", "1", "session_id", "s", "content", "recent", NULL));
	trim_expect("nothing done", 11, "1000-0");	/* no group: nothing is known to be delivered */

	cmd("XGROUP CREATE %s %s 0", w.stream, "g");
	cmd("XREADGROUP GROUP g c COUNT 5 STREAMS %s %s", w.stream, ">");	/* 1000-0 .. 1000-4 pending */
	cmd("XACK %s g %s", w.stream, "1000-0");
	cmd("XACK %s g %s", w.stream, "1000-1");
	cmd("XACK %s g %s", w.stream, "1000-3");
	trim_expect("trim: 2 entries of", 9, "1000-2");	/* 1000-2 is still pending */
	cmd("XACK %s g %s", w.stream, "1000-2");
	cmd("XACK %s g %s", w.stream, "1000-4");
	trim_expect("limited by entries not yet delivered to group g", 6, "1000-5");

	/* a second group that has read nothing holds everything */
	cmd("XGROUP CREATE %s %s 0", w.stream, "h");
	cmd("XREADGROUP GROUP g c COUNT 100 STREAMS %s %s", w.stream, ">");
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "trim", "--keep-days", "1", "--json", NULL), 0, "%s", err);
	cr_expect(strstr(out, "\"deleted\":0") && strstr(out, "\"minid\":\"0-1\"") &&
			  strstr(out, "not yet delivered to group h"),
		  "%s", out);
	free(out);
	free(err);
	cmd("XGROUP DESTROY %s %s", w.stream, "h");
	/* group g: everything delivered, all pending now: nothing goes */
	trim_expect("limited by oldest entry pending in group g", 6, "1000-5");
	cmd("XACK %s g %s", w.stream, "1000-5");
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "trim", "--keep-days", "1", "--dry-run", NULL), 0, "%s", err);
	cr_expect(strstr(out, "trim: 1 entries of") && strstr(out, "would be removed"), "%s", out);
	free(out);
	free(err);
	cr_expect_eq(xlen(w.stream), 6, "a dry run removes nothing");
	/* the recent entry stays whatever the groups say */
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "trim", "--keep-days", "0", NULL), 0, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(xlen(w.stream), 5, "entries up to the oldest pending (1000-6) are gone");

	/* the dead-letter stream has no group: --dlq trims it by age */
	old_entries(w.dlq, 3);
	free(wenv_xadd(&w, "x", "y", NULL));
	cmd("XADD %s * dlq_reason %s", w.dlq, "recent");
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "trim", "--keep-days", "1", "--dlq", NULL), 0, "%s", err);
	cr_expect(strstr(out, "trim: 3 entries of") != NULL, "%s", out);
	free(out);
	free(err);
	cr_expect_eq(xlen(w.dlq), 1);
}

Test(trim, worker_trims_by_itself_and_keeps_what_another_group_holds)
{
	char *log, *f;

	old_entries(w.stream, 8);
	/* another group holds 1000-3 pending */
	cmd("XGROUP CREATE %s %s 0", w.stream, "other");
	cmd("XREADGROUP GROUP other c COUNT 100 STREAMS %s %s", w.stream, ">");
	for (int i = 0; i < 8; i++) {
		char id[16];

		snprintf(id, sizeof(id), "1000-%d", i);
		if (i != 3)
			cmd("XACK %s other %s", w.stream, id);
	}
	w.extra_env[0] = "MEM0_TRIM_KEEP_DAYS=1";
	w.extra_env[1] = "MEM0_TRIM_INTERVAL_MS=1000";
	wenv_start_worker(&w);
	/* not wenv_wait_idle: the other group keeps an entry pending on purpose */
	{
		long long until = tenv_now_ms() + IDLE_MS;

		while (wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log") < 8 && tenv_now_ms() < until)
			usleep(50000);
	}
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log"), 8);
	cr_expect(tenv_wait_log(w.log_path, "stream trim: 3 entries before 1000-3 removed (limit: oldest entry pending "
					    "in group other)",
				10000),
		  "no trim in the log");
	f = first_id(w.stream);
	cr_expect_str_eq(f, "1000-3");
	free(f);
	cr_expect_eq(xlen(w.stream), 5);
	log = wenv_log(&w);
	cr_expect(strstr(log, "stream trim: every 1 s, keeping 1 days") != NULL, "%s", log);
	free(log);
}
