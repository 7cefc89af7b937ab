/*
 * memworker end to end: the real binary against real Redis, the project's
 * mock LLM and a real store: PostgreSQL, or the SQLite store when ctest
 * runs this suite as integration/test_worker@sqlite (MW_TEST_STORE). Each
 * test has its own store, stream and mock; the SQL below is portable
 * (storeenv.h).
 */
#include "mockllm.h"
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
	wenv_setup(&w, false);
}

static void teardown(void)
{
	wenv_teardown(&w);
}

static long long count(const char *sql)
{
	return wenv_count(&w, sql);
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 120);

Test(worker, exchange_becomes_memories_history_and_counts)
{
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 1, "s1", "m1", "My name is Sean. I love sci-fi movies.", "Nice to meet you, Sean!"));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 1"), 2);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 1 AND memory = 'Name is Sean' "
			   "AND session_id = 's1' AND hash = md5(memory) AND embedding IS NOT NULL"),
		     1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE memory = 'Loves sci-fi movies'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 1 AND action = 'created' "
			   "AND metadata->>'source_message_ids' LIKE '%\"m1\"%'"),
		     2);
	cr_expect_eq(count("SELECT total_memories FROM mem0_metadata WHERE user_id = 1"), 2);
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log WHERE user_id = 1 AND message_key = 'm1'"), 1);
	/* the assistant's words never become a memory */
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE memory ILIKE '%meet%'"), 0);
}

Test(worker, update_and_delete_keep_previous_and_new_content)
{
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 2, "s", "a", "I live in Lisbon. I like tea.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 2, "s", "b", "I live in Porto.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 2, "s", "c", "I don't like tea anymore.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 2"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 2 AND memory = 'Lives in Porto'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 2 AND action = 'updated' "
			   "AND previous_content = 'Lives in Lisbon' AND new_content = 'Lives in Porto'"),
		     1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 2 AND action = 'deleted' "
			   "AND previous_content = 'Likes tea' AND new_content IS NULL"),
		     1);
	cr_expect_eq(count("SELECT total_memories FROM mem0_metadata WHERE user_id = 2"), 1);
}

Test(worker, repeated_fact_adds_nothing)
{
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 3, "s", "x1", "I have a dog named Rex.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 3, "s", "x2", "I have a dog named Rex.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 3"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 3"), 1);
}

Test(worker, redelivered_and_re_added_message_keys_change_nothing)
{
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 4, "s", "k1", "I work as a nurse.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	/* the same message again (a client retry), and a replay of the stream entry */
	free(wenv_exchange(&w, 4, "s", "k1", "I work as a nurse.", NULL));
	free(wenv_exchange(&w, 4, "s", "k1", "I play chess.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 4"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 4"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log WHERE user_id = 4"), 1);
	{
		/* a replay costs no model call: the first one was the only one */
		json_t *reqs = mockllm_requests(w.mock);
		size_t i, chats = 0;

		for (i = 0; i < json_array_size(reqs); i++)
			if (strcmp(json_string_value(json_object_get(json_array_get(reqs, i), "kind")), "chat") == 0)
				chats++;
		cr_expect_eq(chats, 1, "model calls: %zu", chats);
		json_decref(reqs);
	}
}

Test(worker, single_message_fields_and_infer_false)
{
	wenv_start_worker(&w);
	free(wenv_xadd(&w, "user_db_id", "5", "session_id", "s", "role", "user", "content", "I prefer window seats.",
		       "metadata", "{\"source\":\"web\"}", "user_id", "sean", NULL));
	free(wenv_xadd(&w, "user_db_id", "5", "session_id", "s", "role", "assistant", "content",
		       "Noted: you prefer aisle seats.", NULL));
	free(wenv_xadd(&w, "user_db_id", "5", "session_id", "s2", "content", "Allergic to peanuts", "infer", "false",
		       NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 5 AND memory = 'Prefers window seats' "
			   "AND metadata->>'source' = 'web' AND metadata->>'user_id' = 'sean'"),
		     1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 5 AND memory = 'Allergic to peanuts' "
			   "AND session_id = 's2'"),
		     1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 5"), 2);
}

/* Each invalid entry goes to <stream>:dlq with its reason; the worker keeps going. */
Test(worker, invalid_entries_dead_letter_with_reason)
{
	static const char *const reasons[] = {
		"user_db_id: missing", "user_db_id: 'abc' is not a positive integer id",
		"user_db_id: '-4' is not a positive integer id", "content: empty",
		"over MEM0_MAX_CONTENT_BYTES", "messages: not a non-empty JSON array",
		"metadata: not a JSON object", "content: not valid UTF-8 text", "session_id: missing",
		"role: must be user, assistant or system",
	};
	char big[300];
	redisReply *r;
	size_t i, found = 0;

	w.extra_env[0] = "MEM0_MAX_CONTENT_BYTES=256";
	wenv_start_worker(&w);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	free(wenv_xadd(&w, "session_id", "s", "content", "I like tea.", NULL));
	free(wenv_xadd(&w, "user_db_id", "abc", "session_id", "s", "content", "I like tea.", NULL));
	free(wenv_xadd(&w, "user_db_id", "-4", "session_id", "s", "content", "I like tea.", NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "session_id", "s", "content", "   ", NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "session_id", "s", "content", big, NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "session_id", "s", "messages", "[{\"role\":", NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "session_id", "s", "content", "I like tea.", "metadata", "[1]", NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "session_id", "s", "content", "caf\xc3\x28 bad", NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "content", "I like tea.", NULL));
	free(wenv_xadd(&w, "user_db_id", "6", "session_id", "s", "role", "robot", "content", "I like tea.", NULL));
	/* and a good one after all of them */
	free(wenv_exchange(&w, 6, "s", "good", "I like green tea.", NULL));
	wenv_wait_idle(&w, IDLE_MS);

	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 6 AND memory = 'Likes green tea'"), 1);
	r = redisCommand(w.redis, "XRANGE %s - +", w.dlq);
	cr_assert(r && r->type == REDIS_REPLY_ARRAY);
	cr_expect_eq(r->elements, sizeof(reasons) / sizeof(reasons[0]), "dead letters: %zu", r->elements);
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		size_t k, j;
		for (k = 0; k < r->elements; k++) {
			redisReply *f = r->element[k]->element[1];
			for (j = 0; j + 1 < f->elements; j += 2)
				if (strcmp(f->element[j]->str, "dlq_reason") == 0 && strstr(f->element[j + 1]->str, reasons[i]))
					break;
			if (j + 1 < f->elements)
				break;
		}
		cr_expect(k < r->elements, "no dead letter with reason '%s'", reasons[i]);
		found += k < r->elements;
	}
	/* the original fields travel with the reason */
	{
		redisReply *f = r->element[1]->element[1];
		bool has_orig = false;
		size_t j;
		for (j = 0; j + 1 < f->elements; j += 2)
			if (strcmp(f->element[j]->str, "user_db_id") == 0 && strcmp(f->element[j + 1]->str, "abc") == 0)
				has_orig = true;
		cr_expect(has_orig, "original fields missing in the dead letter");
	}
	freeReplyObject(r);
	(void)found;
}

Test(worker, users_foreign_key_rejection_dead_letters)
{
	struct wenv *pw = &w;
	redisReply *r;

	if (!senv_is_pg(&w.store)) {
		wenv_teardown(pw);	/* a skipped test's .fini does not run */
		cr_skip_test("the chat app's users table (and its foreign key) exist only in PostgreSQL");
	}
	wenv_teardown(pw);
	wenv_setup(pw, true);	/* users 1 and 2 exist in the chat app's table */
	wenv_start_worker(pw);
	free(wenv_exchange(pw, 1, "s", "ok", "I like tea.", NULL));
	free(wenv_exchange(pw, 999, "s", "nouser", "I like coffee.", NULL));
	wenv_wait_idle(pw, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log"), 1, "the rejected message is not logged");
	r = redisCommand(pw->redis, "XRANGE %s - +", pw->dlq);
	cr_assert_eq(r->elements, 1);
	cr_expect(strstr(r->element[0]->element[1]->element[1]->str, "rejected by the database") != NULL, "%s",
		  r->element[0]->element[1]->element[1]->str);
	freeReplyObject(r);
}

/* The model only ever sees the memories of the user whose messages it reads. */
Test(worker, prompts_never_mix_users)
{
	json_t *reqs;
	size_t i, checked = 0;

	wenv_start_worker(&w);
	free(wenv_exchange(&w, 10, "a", "a1", "I like jazz. I live in Oslo.", NULL));
	free(wenv_exchange(&w, 11, "b", "b1", "I like jazz. I live in Rome.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 10, "a", "a2", "I live in Bergen.", NULL));
	free(wenv_exchange(&w, 11, "b", "b2", "I live in Milan.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	reqs = mockllm_requests(w.mock);
	for (i = 0; i < json_array_size(reqs); i++) {
		json_t *req = json_array_get(reqs, i), *msgs, *user;
		const char *text;

		if (strcmp(json_string_value(json_object_get(req, "kind")), "chat") != 0)
			continue;
		msgs = json_object_get(json_object_get(req, "body"), "messages");
		user = json_array_get(msgs, json_array_size(msgs) - 1);
		text = json_string_value(json_object_get(user, "content"));
		cr_assert_not_null(text);
		if (strstr(text, "Bergen") || strstr(text, "Oslo"))
			cr_expect(!strstr(text, "Rome") && !strstr(text, "Milan"), "user 10's prompt has user 11's: %s",
				  text);
		if (strstr(text, "Milan") || strstr(text, "Rome"))
			cr_expect(!strstr(text, "Oslo") && !strstr(text, "Bergen"), "user 11's prompt has user 10's: %s",
				  text);
		checked++;
	}
	cr_expect_geq(checked, 4);
	json_decref(reqs);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 10 AND memory = 'Lives in Bergen'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 11 AND memory = 'Lives in Milan'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 11 AND memory ILIKE '%oslo%'"), 0);
}

Test(worker, model_faults_are_retried_then_succeed)
{
	w.extra_env[0] = "MEM0_LLM_TIMEOUT_MS=500";
	wenv_start_worker(&w);
	mockllm_fault(w.mock, "{\"next\":[{\"kind\":\"429\",\"retry_after\":1,\"on\":\"chat\"},"
			      "{\"kind\":\"500\",\"on\":\"any\"},{\"kind\":\"hang\",\"on\":\"chat\"},"
			      "{\"kind\":\"malformed\",\"on\":\"embeddings\"}]}");
	free(wenv_exchange(&w, 12, "s", "f1", "I speak Portuguese.", NULL));
	wenv_wait_idle(&w, 40000);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 12 AND memory = 'Speaks Portuguese'"), 1);
}

Test(worker, fenced_and_think_replies_are_repaired_invented_ids_ignored)
{
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 13, "s", "r0", "I live in Paris.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	mockllm_fault(w.mock, "{\"next\":[{\"kind\":\"fence\"},{\"kind\":\"think\"},{\"kind\":\"invent_id\"}]}");
	free(wenv_exchange(&w, 13, "s", "r1", "I like opera.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 13, "s", "r2", "I own a bike.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 13, "s", "r3", "I play piano.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 13 AND memory = 'Likes opera'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 13 AND memory = 'Owns a bike'"), 1);
	/* the invented UPDATE of id 999 touched nothing; Paris is intact */
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 13 AND memory = 'Lives in Paris'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 13 AND action <> 'created'"), 0);
}

Test(worker, unusable_replies_dead_letter_after_retries)
{
	redisReply *r;

	wenv_start_worker(&w);
	mockllm_fault(w.mock, "{\"next\":[{\"kind\":\"garbage\"}],\"times\":3}");
	free(wenv_exchange(&w, 14, "s", "g1", "I like rugby.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	r = redisCommand(w.redis, "XRANGE %s - +", w.dlq);
	cr_assert_eq(r->elements, 1);
	cr_expect(strstr(r->element[0]->element[1]->element[1]->str, "model reply unusable") != NULL, "%s",
		  r->element[0]->element[1]->element[1]->str);
	freeReplyObject(r);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 14"), 0);
	/* and the worker goes on */
	free(wenv_exchange(&w, 14, "s", "g2", "I like golf.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 14"), 1);
}

Test(worker, two_pass_pipeline)
{
	json_t *reqs;

	w.extra_env[0] = "MEM0_PIPELINE=two-pass";
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 15, "s", "t1", "I live in Berlin. I like techno.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 15, "s", "t2", "I live in Hamburg.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 15"), 2);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 15 AND action = 'updated' "
			   "AND new_content = 'Lives in Hamburg'"),
		     1);
	reqs = mockllm_requests(w.mock);
	{
		size_t i, facts = 0, decide = 0;
		for (i = 0; i < json_array_size(reqs); i++) {
			json_t *req = json_array_get(reqs, i), *msgs;
			const char *text;
			if (strcmp(json_string_value(json_object_get(req, "kind")), "chat") != 0)
				continue;
			msgs = json_object_get(json_object_get(req, "body"), "messages");
			text = json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
			if (strstr(text, "\"new_facts\""))
				decide++;
			else
				facts++;
		}
		/* first batch: nothing similar exists, so no decision call */
		cr_expect_eq(facts, 2);
		cr_expect_eq(decide, 1);
	}
	json_decref(reqs);
}

Test(worker, sigterm_drains_and_exits_zero)
{
	int i = wenv_start_worker(&w);

	long long until = tenv_now_ms() + 20000, pending = 0;

	mockllm_fault(w.mock, "{\"latency_ms\":300}");
	free(wenv_exchange(&w, 16, "s", "d1", "I like kayaking.", NULL));
	/* SIGTERM once the worker holds the entry (delivered, not acked) */
	while (pending == 0 && tenv_now_ms() < until) {
		redisReply *r = redisCommand(w.redis, "XPENDING %s memworker", w.stream);
		pending = r && r->type == REDIS_REPLY_ARRAY ? r->element[0]->integer : 0;
		freeReplyObject(r);
		if (!pending)
			usleep(10000);
	}
	cr_assert_gt(pending, 0, "the worker never took the entry");
	cr_expect_eq(wenv_stop_worker(&w, i, SIGTERM), 0);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 16"), 1, "the batch in flight finished");
}

Test(worker, secrets_never_logged)
{
	char *log;

	wenv_start_worker(&w);
	mockllm_fault(w.mock, "{\"next\":[{\"kind\":\"401\"}]}");
	free(wenv_exchange(&w, 17, "s", "z1", "I like sushi.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	log = wenv_log(&w);
	cr_assert_not_null(log);
	cr_expect(strstr(log, "SECRET") == NULL, "API key in the log:\n%s", log);
	free(log);
}

/* kill -9 while batches are inside model calls, then a fresh worker reclaims: each message applied once. */
Test(worker, kill_9_mid_batch_then_restart_applies_each_message_once)
{
	char key[32], text[96];
	int i, users = 5, per = 4;
	redisReply *r;

	w.extra_env[0] = "MEM0_CLAIM_IDLE_MS=300";
	w.extra_env[1] = "MEM0_BATCH_MAX=2";
	i = wenv_start_worker(&w);
	mockllm_fault(w.mock, "{\"latency_ms\":400}");
	for (int u = 0; u < users; u++) {
		for (int k = 0; k < per; k++) {
			snprintf(key, sizeof(key), "u%d-m%d", u, k);
			snprintf(text, sizeof(text), "I like hobby%d%d.", u, k);
			free(wenv_exchange(&w, 100 + u, "s", key, text, NULL));
		}
	}
	/*
	 * Wait until the worker holds entries (pending), then a little longer so
	 * some batches are inside their 400 ms model calls and some may have
	 * committed. Polled, not a fixed sleep: under valgrind the worker takes
	 * seconds to start reading.
	 */
	for (long long until = tenv_now_ms() + 30000;;) {
		long long pending;

		r = redisCommand(w.redis, "XPENDING %s memworker", w.stream);
		pending = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0]->integer : 0;
		freeReplyObject(r);
		if (pending > 0)
			break;
		cr_assert(tenv_now_ms() < until, "nothing pending before the kill");
		usleep(20000);
	}
	usleep(500000);
	wenv_stop_worker(&w, i, SIGKILL);

	mockllm_fault(w.mock, "{\"latency_ms\":0}");
	wenv_start_worker(&w);
	wenv_wait_idle(&w, 30000);
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log"), users * per);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories"), users * per);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history"), users * per, "no change applied twice");
	cr_expect_eq(count("SELECT count(*) FROM (SELECT user_id, memory FROM mem0_memories GROUP BY 1, 2 "
			   "HAVING count(*) > 1) d"),
		     0);
}

/* Two replicas in one group on one stream: every entry applied once, no duplicate memory. */
Test(worker, two_workers_share_the_group)
{
	char key[32], text[96];
	int users = 8, per = 5;
	json_t *reqs;

	w.extra_env[0] = "MEM0_BATCH_MAX=3";
	wenv_start_worker(&w);
	wenv_start_worker(&w);
	/* both replicas blocked in XREADGROUP: Redis hands each new entry to the longest waiting */
	{
		long long until = tenv_now_ms() + 10000;
		int reading = 0;

		while (reading < 2 && tenv_now_ms() < until) {
			char *log = wenv_log(&w), *p = log;

			reading = 0;
			while (p && (p = strstr(p, "info: reading ")))
				reading++, p++;
			free(log);
			if (reading < 2)
				usleep(20000);
		}
		cr_assert_eq(reading, 2, "two replicas never started reading");
	}
	for (int k = 0; k < per; k++) {
		for (int u = 0; u < users; u++) {
			snprintf(key, sizeof(key), "u%d-m%d", u, k);
			/* every user says the same things: only per-user dedup may merge them */
			snprintf(text, sizeof(text), "I like topic%d. My pet%d is a cat.", k, k);
			free(wenv_exchange(&w, 200 + u, "s", key, text, NULL));
			usleep(2000);
		}
	}
	wenv_wait_idle(&w, 30000);
	cr_expect_eq(count("SELECT count(*) FROM mem0_ingest_log"), users * per);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories"), users * per * 2);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history"), users * per * 2);
	cr_expect_eq(count("SELECT count(DISTINCT user_id) FROM mem0_memories"), users);
	cr_expect_eq(count("SELECT max(total_memories) FROM mem0_metadata"), per * 2);
	/* both replicas did work */
	reqs = mockllm_requests(w.mock);
	cr_expect_gt(json_array_size(reqs), 0);
	json_decref(reqs);
	{
		char *log = wenv_log(&w);
		int pids = 0;
		char *p = log;
		char first[32] = "";

		while (p && (p = strstr(p, "applied "))) {
			char *b = p;
			while (b > log && *b != '[')
				b--;
			if (!first[0])
				snprintf(first, sizeof(first), "%.10s", b);
			else if (strncmp(first, b, 10) != 0)
				pids = 2;
			p++;
		}
		cr_expect_eq(pids, 2, "only one replica applied anything");
		free(log);
	}
}

Test(worker, custom_prompt_files_are_sent)
{
	char path[] = "/tmp/mw-prompt-XXXXXX", env[64];
	int fd = mkstemp(path);
	const char *text = "CUSTOM-FACT-PROMPT: extract facts as JSON {\"facts\": [...]} ({today}).";
	json_t *reqs;
	size_t i;
	bool seen = false;

	cr_assert(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	snprintf(env, sizeof(env), "MEM0_FACT_PROMPT_FILE=%s", path);
	w.extra_env[0] = env;
	w.extra_env[1] = "MEM0_PIPELINE=two-pass";
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 20, "s", "p1", "I like kites.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	reqs = mockllm_requests(w.mock);
	for (i = 0; i < json_array_size(reqs); i++) {
		json_t *msgs = json_object_get(json_object_get(json_array_get(reqs, i), "body"), "messages");
		const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
		if (sys && strstr(sys, "CUSTOM-FACT-PROMPT") && !strstr(sys, "{today}"))
			seen = true;
	}
	json_decref(reqs);
	unlink(path);
	cr_expect(seen, "the custom fact prompt (with {today} filled in) never reached the model");
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 20 AND memory = 'Likes kites'"), 1);
}

Test(worker, bad_prompt_file_fails_at_start_naming_the_variable)
{
	char bin[512], *out, *err;
	char *argv[] = { (char *)tenv_bin("memworker", bin, sizeof(bin)), NULL };
	char port[32], db[96], url[160];
	char *env[] = { (char *)"MEM0_FACT_PROMPT_FILE=/nonexistent/prompt.txt", (char *)"MEM0_MODELS=openai",
			(char *)"OPENAI_BASE_URL=http://127.0.0.1:1/v1", (char *)"MEM0_EMBEDDING_DIMS=64", port, db, url,
			(char *)"POSTGRES_HOST=127.0.0.1", (char *)"POSTGRES_USER=postgres", NULL };

	snprintf(port, sizeof(port), "POSTGRES_PORT=%d", tenv_pg_port());
	snprintf(db, sizeof(db), "POSTGRES_DB=%s", w.db);
	snprintf(url, sizeof(url), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	cr_expect_eq(tenv_run(argv, env, &out, &err), 2);
	cr_expect(strncmp(err, "MEM0_FACT_PROMPT_FILE:", 22) == 0, "%s", err);
	free(out);
	free(err);
}
