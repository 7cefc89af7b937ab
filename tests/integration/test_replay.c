/*
 * memctl replay against a running memworker: a replay of what was applied
 * changes nothing and costs no model call; --reprocess asks the model again
 * and leaves exactly the memories of the first pass, without new history
 * rows; --limit and Ctrl-C stop cleanly with a command that goes on.
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
#include <sys/wait.h>
#include <unistd.h>

#define IDLE_MS 20000

static struct wenv w;

static void setup(void)
{
	wenv_setup(&w, false);
}

static void teardown(void)
{
	wenv_teardown(&w);
}

TestSuite(replay, .init = setup, .fini = teardown, .timeout = 120);

static long long count(const char *sql)
{
	return wenv_count(&w, sql);
}

/* Model requests of a kind ("chat", "embeddings") the mock has seen. */
static size_t model_calls(const char *kind)
{
	json_t *reqs = mockllm_requests(w.mock);
	size_t i, n = 0;

	for (i = 0; i < json_array_size(reqs); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(reqs, i), "kind")), kind) == 0)
			n++;
	json_decref(reqs);
	return n;
}

/* Every memory as "user:text" lines, in order: the state to compare. */
static char *memories(void)
{
	PGresult *r = tenv_pg_exec(w.pg, "SELECT coalesce(string_agg(user_id || ':' || memory, E'\\n' "
					 "ORDER BY user_id, memory), '') FROM mem0_memories");
	char *s = strdup(PQgetvalue(r, 0, 0));

	PQclear(r);
	return s;
}

static long long xlen(void)
{
	redisReply *r = redisCommand(w.redis, "XLEN %s", w.stream);
	long long n = r->integer;

	freeReplyObject(r);
	return n;
}

/* The first pass: two users, facts said once and twice, with and without message_id. */
static void first_pass(void)
{
	free(wenv_exchange(&w, 1, "s1", "a1", "My name is Sean. I like sci-fi movies.", "Hi Sean!"));
	free(wenv_exchange(&w, 1, "s1", NULL, "I have a dog named Rex.", NULL));
	free(wenv_exchange(&w, 1, "s2", "a3", "I like sci-fi movies.", NULL));
	free(wenv_exchange(&w, 2, "t1", NULL, "I live in Oslo. I play chess.", NULL));
	free(wenv_xadd(&w, "user_db_id", "2", "session_id", "t1", "content", "Allergic to peanuts", "infer", "false",
		       NULL));
	wenv_wait_idle(&w, IDLE_MS);
}

Test(replay, replay_of_applied_range_changes_nothing)
{
	char *before, *after, *out, *err;
	long long mem, hist, logged, len;
	size_t chats, embeds;

	wenv_start_worker(&w);
	first_pass();
	before = memories();
	mem = count("SELECT count(*) FROM mem0_memories");
	hist = count("SELECT count(*) FROM mem0_history");
	logged = count("SELECT count(*) FROM mem0_ingest_log");
	chats = model_calls("chat");
	embeds = model_calls("embeddings");
	len = xlen();
	cr_assert_eq(mem, 6, "%s", before);

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--from", "-", NULL), 0, "%s", err);
	cr_expect(strstr(out, "replay: 5 entries of ") != NULL, "%s", out);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	after = memories();
	cr_expect_eq(xlen(), 2 * len, "every entry re-fed once");
	cr_expect_str_eq(after, before);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history"), hist, "no history row");
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log"), logged, "no new key: the keys were kept");
	cr_expect_eq(model_calls("chat"), chats, "no model call");
	cr_expect_eq(model_calls("embeddings"), embeds, "no embedding call");
	free(before);
	free(after);
}

Test(replay, reprocess_leaves_the_first_pass_memories)
{
	char *first, *now, *out, *err;
	long long hist, logged;
	size_t chats;

	wenv_start_worker(&w);
	first_pass();
	first = memories();
	hist = count("SELECT count(*) FROM mem0_history");
	logged = count("SELECT count(*) FROM mem0_ingest_log");
	chats = model_calls("chat");

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--from", "-", "--reprocess", "--run-id", "r1", NULL),
		     0, "%s", err);
	cr_expect(strstr(out, "reprocess run r1") != NULL, "%s", out);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	now = memories();
	cr_expect_str_eq(now, first, "a reprocess leaves the first pass's memories");
	free(now);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history"), hist, "no history row for unchanged facts");
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log WHERE message_key LIKE '%#reprocess:r1'"), logged,
		     "every message of the range went through again");
	cr_expect_gt(model_calls("chat"), chats, "the model was asked again");
	cr_expect_eq(count("SELECT count(*) FROM (SELECT user_id, hash FROM mem0_memories GROUP BY 1, 2 "
			   "HAVING count(*) > 1) d"),
		     0);

	/* the same run again (a resumed or doubled run) is applied once */
	chats = model_calls("chat");
	cr_assert_eq(oenv_memctl(&w, NULL, NULL, &err, "replay", "--from", "-", "--reprocess", "--run-id", "r1", NULL),
		     0, "%s", err);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(model_calls("chat"), chats, "run r1 was done: no model call");

	/* a memory lost (or missed by an older prompt) comes back with a new run, with its history row */
	PQclear(tenv_pg_exec(w.pg, "DELETE FROM mem0_memories WHERE memory = 'Has a dog named Rex'"));
	cr_assert_eq(oenv_memctl(&w, NULL, NULL, &err, "replay", "--from", "-", "--to", "+", "--reprocess", NULL), 0,
		     "%s", err);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	now = memories();
	cr_expect_str_eq(now, first);
	free(now);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history"), hist + 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE action = 'created' AND new_content = "
			   "'Has a dog named Rex' AND metadata->'source_message_ids'->>0 LIKE '%#reprocess:%'"),
		     1);
	free(first);
}

/* "to go on: memctl replay --from X --to Y ..." from err, as argv words (static storage). */
static int resume_args(const char *err, char **argv, int max)
{
	static char buf[1024];
	const char *p = strstr(err, "to go on: memctl ");
	char *tok, *save;
	int n = 0;

	cr_assert_not_null(p, "no resume hint in: %s", err);
	snprintf(buf, sizeof(buf), "%s", p + strlen("to go on: memctl "));
	buf[strcspn(buf, "\n")] = '\0';
	for (tok = strtok_r(buf, " ", &save); tok && n < max - 1; tok = strtok_r(NULL, " ", &save))
		argv[n++] = tok;
	argv[n] = NULL;
	return n;
}

Test(replay, limit_and_ctrl_c_stop_whole_and_resume_exactly)
{
	char *out, *err, *args[16], bin[512], log_path[300], *log;
	char *argv[16];
	char env0[96], env1[160], env2[96], *env[4];
	long long len;
	int n, i, st;
	pid_t pid;

	/* no worker: what the stream holds is what replay wrote */
	for (i = 0; i < 12; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		free(wenv_xadd(&w, "user_db_id", "3", "session_id", "s", "content", "I like tea.", "message_id", key,
			       NULL));
	}
	len = xlen();
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--from", "-", "--limit", "4", NULL), 0, "%s", err);
	cr_expect(strstr(out, "replay: 4 entries") != NULL, "%s", out);
	cr_expect_eq(xlen(), len + 4);
	n = resume_args(err, args, 16);
	cr_assert_geq(n, 5);
	free(out);

	/* go on slowly, and interrupt it */
	argv[0] = (char *)tenv_bin("memctl", bin, sizeof(bin));
	for (i = 0; i < n; i++)
		argv[i + 1] = args[i];
	argv[n + 1] = (char *)"--rate";
	argv[n + 2] = (char *)"10";
	argv[n + 3] = NULL;
	snprintf(env0, sizeof(env0), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	snprintf(env1, sizeof(env1), "MEM0_STREAM=%s", w.stream);
	snprintf(env2, sizeof(env2), "MEM0_LOG_LEVEL=info");
	env[0] = env0;
	env[1] = env1;
	env[2] = env2;
	env[3] = NULL;
	snprintf(log_path, sizeof(log_path), "%s.replay", w.log_path);
	pid = tenv_spawn(argv, env, log_path);
	{
		/* interrupt once the first entries of this run are in */
		long long until = tenv_now_ms() + 10000;

		while (xlen() < len + 5 && tenv_now_ms() < until)
			usleep(5000);
	}
	st = tenv_stop(pid, SIGINT, 10000);
	cr_expect_eq(st, 130, "Ctrl-C exits 130");
	log = tenv_slurp(log_path);
	free(err);
	err = log;
	cr_assert(strstr(err, "to go on: ") != NULL, "%s", err);
	{
		/* the summary line "replay: N entries of ..." (progress lines say "replay: N/M") */
		long long added = xlen() - len, reported = -1;
		const char *p;

		for (p = strstr(err, "replay: "); p; p = strstr(p + 1, "replay: ")) {
			char *end;
			long long v = strtoll(p + 8, &end, 10);

			if (strncmp(end, " entries of", 11) == 0)
				reported = v;
		}
		cr_assert_geq(reported, 0, "%s", err);
		cr_expect_gt(added, 4, "some went before the interrupt");
		cr_expect_lt(added, 12, "not all of them");
		cr_expect_eq(added, 4 + reported, "what it says it sent is what the stream got:\n%s", err);
	}
	n = resume_args(err, args, 16);
	for (i = 0; i < n; i++)
		argv[i + 1] = args[i];
	argv[n + 1] = NULL;
	{
		char *o2, *e2;

		cr_assert_eq(tenv_run(argv, env, &o2, &e2), 0, "%s", e2);
		free(o2);
		free(e2);
	}
	free(err);
	cr_expect_eq(xlen(), 2 * len, "exactly one copy of every entry in the end");
	{
		/* every key once among the copies */
		redisReply *r = redisCommand(w.redis, "XRANGE %s - +", w.stream);
		int seen[12] = { 0 };
		size_t k, j;

		for (k = (size_t)len; k < r->elements; k++) {
			redisReply *f = r->element[k]->element[1];
			for (j = 0; j + 1 < f->elements; j += 2)
				if (strcmp(f->element[j]->str, "message_id") == 0)
					seen[atoi(f->element[j + 1]->str + 1)]++;
		}
		for (k = 0; k < 12; k++)
			cr_expect_eq(seen[k], 1, "k%zu copied %d times", k, seen[k]);
		freeReplyObject(r);
	}
}

Test(replay, since_until_and_stream_options)
{
	char *out, *err;

	free(wenv_xadd(&w, "user_db_id", "3", "session_id", "s", "content", "I like tea.", NULL));
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--since", "1h", "--dry-run", NULL), 0, "%s", err);
	cr_expect(strstr(out, "1 entries of") != NULL, "%s", out);
	free(out);
	free(err);
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--since", "1h", "--until", "2h", NULL), 0, "%s", err);
	cr_expect(strstr(out, "no entry") != NULL, "%s", out);
	free(out);
	free(err);
	cr_expect_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--since", "soon", NULL), 2);
	cr_expect(strstr(err, "--since: 'soon' is not a time") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(oenv_memctl(&w, NULL, &out, &err, "replay", "--from", "-", "--source-stream", "nosuch:stream", NULL),
		     0);
	cr_expect(strstr(out, "nosuch:stream is empty") != NULL, "%s", out);
	free(out);
	free(err);
}

/* A range replayed with its copies, or a client's retry, puts one key twice in a batch: applied once. */
Test(replay, same_key_twice_in_one_batch_is_applied_once)
{
	w.extra_env[0] = "MEM0_BATCH_WINDOW_MS=300";
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 4, "s", "dup", "I work as a nurse.", NULL));
	free(wenv_exchange(&w, 4, "s", "dup", "I work as a nurse.", NULL));
	free(wenv_exchange(&w, 4, "s", "other", "I play chess.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log WHERE user_id = 4"), 2);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 4"), 2);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 4"), 2);
	{
		char *log = wenv_log(&w);

		cr_expect(strstr(log, "message dup was applied before (earlier in this batch): skipped") != NULL,
			  "both copies were not in one batch:\n%s", log);
		free(log);
	}
}

/* --max-lag: replay waits while the workers' group is behind, and goes on when it catches up. */
Test(replay, max_lag_waits_for_the_workers)
{
	char bin[512], log_path[300], env0[96], env1[160], *env[3], *log;
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"replay", (char *)"--from", (char *)"-",
			 (char *)"--max-lag", (char *)"3", NULL };
	redisReply *r;
	pid_t pid;
	int i, st;

	for (i = 0; i < 6; i++)
		free(wenv_xadd(&w, "user_db_id", "3", "session_id", "s", "content", "I like tea.", NULL));
	r = redisCommand(w.redis, "XGROUP CREATE %s memworker 0", w.stream);	/* lag 6: nobody reads */
	freeReplyObject(r);
	snprintf(env0, sizeof(env0), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	snprintf(env1, sizeof(env1), "MEM0_STREAM=%s", w.stream);
	env[0] = env0;
	env[1] = env1;
	env[2] = NULL;
	snprintf(log_path, sizeof(log_path), "%s.lag", w.log_path);
	pid = tenv_spawn(argv, env, log_path);
	cr_expect(tenv_wait_log(log_path, "waiting for the workers: group lag 6 > --max-lag 3", 10000));
	usleep(300000);
	cr_expect_eq(xlen(), 6, "nothing sent while the workers are behind");
	wenv_start_worker(&w);	/* the workers catch up */
	{
		long long until = tenv_now_ms() + 20000;
		int status = -1;

		while (tenv_now_ms() < until && waitpid(pid, &status, WNOHANG) == 0)
			usleep(50000);
		st = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (st == -1)
			tenv_stop(pid, SIGKILL, 1000);
	}
	log = tenv_slurp(log_path);
	cr_expect_eq(st, 0, "%s", log);
	cr_expect(strstr(log, "replay: 6 entries of") != NULL, "%s", log);
	free(log);
	cr_expect_eq(xlen(), 12);
}
