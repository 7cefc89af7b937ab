/*
 * memctl backfill from the chat app's own tables (chat_messages +
 * chat_sessions) and from JSONL, into a running memworker: twice equals
 * once; interrupted (--limit, Ctrl-C) and resumed equals uninterrupted.
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

#define IDLE_MS 30000

static struct wenv w;

/*
 * One message per batch: what the model derives from a batch depends on
 * what else is in it (the mock does not reconcile two facts of one batch),
 * and these tests compare feeding, not batching.
 */
static const char *const one_per_batch = "MEM0_BATCH_MAX=1";

static void setup(void)
{
	wenv_setup(&w, true);	/* the chat app's users (1 sean, 2 ana), chat_sessions, chat_messages */
	w.extra_env[0] = one_per_batch;
}

static void teardown(void)
{
	wenv_teardown(&w);
}

TestSuite(backfill, .init = setup, .fini = teardown, .timeout = 180);

/* A history: two users over three sessions, assistant turns, a blank and an orphan message. */
static void load_history(struct wenv *e)
{
	PQclear(tenv_pg_exec(e->pg,
		"INSERT INTO chat_sessions (id, user_id, title) VALUES ('s1', 1, 'a'), ('s2', 2, 'b'), "
		"('s3', 1, 'c'), ('s4', NULL, 'nobody');"
		"INSERT INTO chat_messages (session_id, type, content, created_at) VALUES "
		"('s1', 'user', 'My name is Sean. I like sci-fi movies.', '2024-01-01T10:00:00Z'),"
		"('s1', 'assistant', 'Nice to meet you, Sean!', '2024-01-01T10:00:01Z'),"
		"('s2', 'user', 'I live in Lisbon. I like tea.', '2024-01-01T10:01:00Z'),"
		"('s1', 'user', 'I have a dog named Rex.', '2024-01-01T10:02:00Z'),"
		"('s2', 'user', '   ', '2024-01-01T10:03:00Z'),"
		"('s4', 'user', 'I like nothing.', '2024-01-01T10:04:00Z'),"
		"('s2', 'user', 'I live in Porto.', '2024-01-02T09:00:00Z'),"
		"('s3', 'system', 'Be brief.', '2024-01-03T09:00:00Z'),"
		"('s3', 'user', 'I play chess. I own a bike.', '2024-01-03T09:00:05Z'),"
		"('s2', 'user', 'I don''t like tea anymore.', '2024-01-04T09:00:00Z'),"
		"('s3', 'user', 'I speak Portuguese.', '2024-01-05T09:00:00Z'),"
		"('s1', 'user', 'I work as a nurse.', '2024-01-06T09:00:00Z')"));
}

static char *state(struct wenv *e, const char *sql)
{
	PGresult *r = tenv_pg_exec(e->pg, sql);
	char *s = strdup(PQgetvalue(r, 0, 0));

	PQclear(r);
	return s;
}

#define MEMORIES "SELECT coalesce(string_agg(user_id || ':' || session_id || ':' || memory, E'\\n' " \
		 "ORDER BY user_id, memory), '') FROM mem0_memories"
#define KEYS "SELECT coalesce(string_agg(user_id || ':' || message_key, ' ' ORDER BY user_id, message_key), '') " \
	     "FROM mem0_ingest_log"
#define HISTORY "SELECT coalesce(string_agg(user_id || ':' || action || ':' || coalesce(previous_content, '') || " \
		"'>' || coalesce(new_content, ''), E'\\n' ORDER BY user_id, id), '') FROM mem0_history"

static size_t chats(struct wenv *e)
{
	json_t *reqs = mockllm_requests(e->mock);
	size_t i, n = 0;

	for (i = 0; i < json_array_size(reqs); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(reqs, i), "kind")), "chat") == 0)
			n++;
	json_decref(reqs);
	return n;
}

Test(backfill, from_db_twice_equals_once)
{
	char *out, *err, *mem, *keys, *hist;
	size_t calls;

	load_history(&w);
	wenv_start_worker(&w);
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--from-db", "--dry-run", NULL), 0, "%s", err);
	cr_expect(strstr(out, "10 messages would be fed") != NULL, "%s", out);
	cr_expect(strstr(out, "1 empty, 1 without a user") != NULL, "%s", out);
	free(out);
	free(err);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log"), 0, "a dry run sends nothing");

	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--from-db", NULL), 0, "%s", err);
	cr_expect(strstr(out, "backfill: 10 messages fed to") != NULL, "%s", out);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	mem = state(&w, MEMORIES);
	keys = state(&w, KEYS);
	hist = state(&w, HISTORY);
	calls = chats(&w);
	cr_expect(strstr(mem, "1:s1:Name is Sean\n") && strstr(mem, "2:s2:Lives in Porto") &&
			  strstr(mem, "1:s3:Speaks Portuguese") && !strstr(mem, "tea") && !strstr(mem, "nothing"),
		  "%s", mem);
	cr_expect(strstr(keys, "1:chat_messages:1 ") != NULL, "keys come from the rows: %s", keys);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log"), 10);

	/* the checkpoint makes a second run a no-op at the source ... */
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--from-db", NULL), 0, "%s", err);
	cr_expect(strstr(out, "backfill: 0 messages fed") != NULL, "%s", out);
	free(out);
	free(err);
	/* ... and the message ids make a full second run a no-op at the worker */
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--from-db", "--restart", NULL), 0, "%s", err);
	cr_expect(strstr(out, "backfill: 10 messages fed to") != NULL, "%s", out);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	{
		char *m2 = state(&w, MEMORIES), *k2 = state(&w, KEYS), *h2 = state(&w, HISTORY);

		cr_expect_str_eq(m2, mem);
		cr_expect_str_eq(k2, keys);
		cr_expect_str_eq(h2, hist);
		cr_expect_eq(chats(&w), calls, "no model call for messages applied before");
		free(m2);
		free(k2);
		free(h2);
	}
	free(mem);
	free(keys);
	free(hist);
}

/* Backfills the same history into a second environment in pieces: --limit, then Ctrl-C, then the rest. */
Test(backfill, interrupted_and_resumed_equals_uninterrupted)
{
	struct wenv w2;
	char *out, *err, bin[512], log_path[300], *log;
	char e[8][192], *env[9];
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"backfill", (char *)"--from-db",
			 (char *)"--rate", (char *)"4", NULL };
	pid_t pid;
	int st, n = 0, i;

	load_history(&w);
	wenv_start_worker(&w);
	cr_assert_eq(oenv_memctl(&w, NULL, NULL, &err, "backfill", "--from-db", NULL), 0, "%s", err);
	free(err);

	wenv_setup(&w2, true);
	w2.extra_env[0] = one_per_batch;
	load_history(&w2);
	wenv_start_worker(&w2);
	cr_assert_eq(oenv_memctl(&w2, NULL, &out, &err, "backfill", "--from-db", "--limit", "3", NULL), 0, "%s", err);
	cr_expect(strstr(out, "backfill: 3 messages fed") != NULL, "%s", out);
	cr_expect(strstr(err, "stopped at --limit") != NULL, "%s", err);
	free(out);
	free(err);
	wenv_wait_idle(&w2, IDLE_MS);

	snprintf(e[n++], sizeof(e[0]), "POSTGRES_HOST=127.0.0.1");
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_PORT=%d", tenv_pg_port());
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_USER=postgres");
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_DB=%s", w2.db);
	snprintf(e[n++], sizeof(e[0]), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	snprintf(e[n++], sizeof(e[0]), "MEM0_STREAM=%s", w2.stream);
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	snprintf(log_path, sizeof(log_path), "%s.backfill", w2.log_path);
	pid = tenv_spawn(argv, env, log_path);
	{
		/* interrupt once this run has fed its first message */
		long long until = tenv_now_ms() + 10000, len = 0;

		while (len < 4 && tenv_now_ms() < until) {
			redisReply *r = redisCommand(w2.redis, "XLEN %s", w2.stream);

			len = r->integer;
			freeReplyObject(r);
			usleep(5000);
		}
		cr_expect_lt(len, 10, "interrupted before the end");
	}
	st = tenv_stop(pid, SIGINT, 10000);
	log = tenv_slurp(log_path);
	cr_expect_eq(st, 130, "Ctrl-C exits 130: %s", log);
	cr_expect(strstr(log, "backfill interrupted: run the same command again") != NULL, "%s", log);
	free(log);
	cr_assert_eq(oenv_memctl(&w2, NULL, &out, &err, "backfill", "--from-db", NULL), 0, "%s", err);
	cr_expect(strstr(err, "resuming chat_messages after chat_messages.id ") != NULL, "%s", err);
	free(out);
	free(err);

	wenv_wait_idle(&w, IDLE_MS);
	wenv_wait_idle(&w2, IDLE_MS);
	{
		char *m1 = state(&w, MEMORIES), *m2 = state(&w2, MEMORIES);
		char *k1 = state(&w, KEYS), *k2 = state(&w2, KEYS);

		cr_expect_str_eq(m2, m1);
		cr_expect_str_eq(k2, k1);
		free(m1);
		free(m2);
		free(k1);
		free(k2);
	}
	{
		redisReply *r = redisCommand(w2.redis, "HGET %s:backfill:chat_messages last_id", w2.stream);

		cr_expect_str_eq(r->str, "12", "the checkpoint ends at the last row");
		freeReplyObject(r);
	}
	wenv_teardown(&w2);
}

Test(backfill, from_jsonl_file)
{
	char path[300], *out, *err;
	FILE *f;

	snprintf(path, sizeof(path), "%s.jsonl", w.log_path);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "{\"user_db_id\": 1, \"session_id\": \"j1\", \"role\": \"user\", \"content\": \"I like jazz.\", "
		   "\"message_id\": \"old-1\", \"created_at\": \"2023-05-01T10:00:00Z\"}\n"
		   "{\"user_db_id\": \"2\", \"session_id\": \"j2\", \"content\": \"I live in Rome.\"}\n"
		   "not json\n"
		   "\n"
		   "{\"user_db_id\": 2, \"session_id\": \"j2\", \"role\": \"assistant\", \"content\": \"Ciao!\"}\n"
		   "{\"session_id\": \"j2\", \"content\": \"no user\"}\n");
	fclose(f);
	wenv_start_worker(&w);
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--file", path, NULL), 0, "%s", err);
	cr_expect(strstr(out, "backfill: 3 messages fed") != NULL, "%s", out);
	cr_expect(strstr(out, "2 invalid lines") != NULL, "%s", out);
	cr_expect(strstr(err, "line 3 skipped: not a JSON object") != NULL, "%s", err);
	free(out);
	free(err);
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 1 AND memory = 'Likes jazz'"),
		     1);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 2 AND memory = 'Lives in Rome' "
				    "AND session_id = 'j2'"),
		     1);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log WHERE message_key = 'old-1'"), 1);
	{
		char want[400];

		/* no message_id in the line: <name>:<line> */
		snprintf(want, sizeof(want), "SELECT count(*) FROM mem0_ingest_log WHERE message_key = 'file:%s:2'",
			 strrchr(path, '/') + 1);
		cr_expect_eq(wenv_count(&w, want), 1);
	}
	cr_assert_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--file", path, NULL), 0, "%s", err);
	cr_expect(strstr(out, "backfill: 0 messages fed") != NULL, "%s", out);
	free(out);
	free(err);
	/* a checkpoint of another kind is refused */
	{
		char name[320];

		snprintf(name, sizeof(name), "file:%s", strrchr(path, '/') + 1);
		cr_expect_eq(oenv_memctl(&w, NULL, &out, &err, "backfill", "--from-db", "--name", name, NULL), 2);
		cr_expect(strstr(err, "belongs to a --file backfill") != NULL, "%s", err);
		free(out);
		free(err);
	}
	unlink(path);
}
