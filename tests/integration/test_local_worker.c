/*
 * memworker end to end with MEM0_MODELS=local: the real binary, real Redis
 * and PostgreSQL, the embedded extractor and word vectors, no mock and no
 * network. Each test has its own database (vector(100)) and stream.
 */
#include "lembed.h"
#include "localenv.h"
#include "testenv.h"
#include "vec.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 20000

static struct wenv w;

static void setup(void)
{
	wenv_setup_local(&w);
}

static void teardown(void)
{
	wenv_teardown(&w);
}

static long long count(const char *sql)
{
	return wenv_count(&w, sql);
}

TestSuite(local_worker, .init = setup, .fini = teardown, .timeout = 120);

/* The user's memories by local similarity to query, best first, as memsearch ranks them. */
static char *nearest(int user, const char *query)
{
	struct lembed *e = lenv_open();
	float v[100];
	char text[4096], sql[4400], *out;
	PGresult *r;

	lembed_text(e, query, v);
	lembed_close(e);
	cr_assert_gt(vec_text(v, 100, text, sizeof(text)), 0);
	snprintf(sql, sizeof(sql),
	         "SELECT memory FROM mem0_memories WHERE user_id = %d ORDER BY embedding <=> '%s'::vector LIMIT 1",
	         user, text);
	r = tenv_pg_exec(w.pg, sql);
	cr_assert_eq(PQntuples(r), 1);
	out = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return out;
}

Test(local_worker, conversation_becomes_memories_and_search_finds_them)
{
	char *best;

	wenv_start_worker(&w);
	free(wenv_exchange(&w, 1, "s1", "m1", "Hi! My name is Sean. I love sci-fi films.", "Nice to meet you, Sean!"));
	free(wenv_exchange(&w, 1, "s1", "m2", "I have a dog named Rex and I work as a nurse.",
	                   "I love dogs too. I work as an assistant."));
	free(wenv_exchange(&w, 1, "s1", "m3", "What's the weather like today?", "Sunny."));
	free(wenv_exchange(&w, 1, "s1", "m4", "I'm allergic to peanuts. My sister lives in Porto.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 1"), 6);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 1 AND memory IN ('Name is Sean', "
	                   "'Loves sci-fi films', 'Has a dog named Rex', 'Works as a nurse', 'Is allergic to peanuts', "
	                   "'Sister lives in Porto')"),
	             6);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 1 AND vector_dims(embedding) = 100 "
	                   "AND hash = md5(memory)"),
	             6);
	/* the assistant's words and the question are no memories */
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE memory ILIKE '%assistant%' OR memory ILIKE "
	                   "'%weather%'"),
	             0);
	best = nearest(1, "What movies do I like?");
	cr_expect_str_eq(best, "Loves sci-fi films");
	free(best);
	best = nearest(1, "Tell me about my puppy");
	cr_expect_str_eq(best, "Has a dog named Rex");
	free(best);
	best = nearest(1, "What food should I avoid?");
	cr_expect_str_eq(best, "Is allergic to peanuts");
	free(best);
	best = nearest(1, "Where does my family live?");
	cr_expect_str_eq(best, "Sister lives in Porto");
	free(best);
	best = nearest(1, "What is my job?");
	cr_expect_str_eq(best, "Works as a nurse");
	free(best);
}

static void update_and_delete(void)
{
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 2, "s", "a", "I live in Lisbon. I like tea.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 2, "s", "b", "Big news: I live in Porto now!", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 2, "s", "c", "I don't like tea anymore.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	free(wenv_exchange(&w, 2, "s", "d", "I live in Porto.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 2"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_memories WHERE user_id = 2 AND memory = 'Lives in Porto'"), 1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 2 AND action = 'updated' "
	                   "AND previous_content = 'Lives in Lisbon' AND new_content = 'Lives in Porto'"),
	             1);
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 2 AND action = 'deleted' "
	                   "AND previous_content = 'Likes tea'"),
	             1);
	/* the repeat changed nothing: 2 created, 1 updated, 1 deleted */
	cr_expect_eq(count("SELECT count(*) FROM mem0_history WHERE user_id = 2"), 4);
	cr_expect_eq(count("SELECT total_memories FROM mem0_metadata WHERE user_id = 2"), 1);
}

Test(local_worker, update_delete_and_repeat_single_call)
{
	update_and_delete();
}

Test(local_worker, update_delete_and_repeat_two_pass)
{
	w.extra_env[0] = "MEM0_PIPELINE=two-pass";
	update_and_delete();
}

Test(local_worker, start_errors_name_the_variable)
{
	char bin[512], *out, *err, port[40], db[96];
	char *argv[] = {(char *)tenv_bin("memworker", bin, sizeof(bin)), NULL};
	char *dims[] = {(char *)"MEM0_MODELS=local", (char *)"MEM0_EMBEDDING_DIMS=1536", NULL};
	char *missing[] = {(char *)"MEM0_MODELS=local",
	                   (char *)"MEM0_LOCAL_MODEL_PATH=/nonexistent/m.lemb",
	                   (char *)"POSTGRES_HOST=127.0.0.1",
	                   port,
	                   (char *)"POSTGRES_USER=postgres",
	                   db,
	                   NULL};

	cr_expect_eq(tenv_run(argv, dims, &out, &err), 2);
	cr_expect(strncmp(err, "MEM0_EMBEDDING_DIMS: 1536, but MEM0_MODELS=local", 48) == 0, "%s", err);
	free(out);
	free(err);
	snprintf(port, sizeof(port), "POSTGRES_PORT=%d", tenv_pg_port());
	snprintf(db, sizeof(db), "POSTGRES_DB=%s", w.db);
	cr_expect_neq(tenv_run(argv, missing, &out, &err), 0);
	cr_expect(strstr(err, "MEM0_LOCAL_MODEL_PATH: /nonexistent/m.lemb") != NULL, "%s", err);
	free(out);
	free(err);
}
