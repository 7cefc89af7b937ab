/*
 * The embedded models end to end, both daemons: memworker with
 * MEM0_MODELS=local turns a conversation into memories, memsearch with
 * MEM0_MODELS=local answers "What movies do I like?" with "Loves sci-fi
 * films" first, through the request/reply protocol and through memctl
 * search. Real Redis and PostgreSQL, no mock, no network.
 */
#include "localenv.h"
#include "searchtest.h"
#include "testenv.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_MS 20000

Test(local_search, what_movies_do_i_like, .init = tenv_require_servers, .timeout = 120)
{
	struct wenv w;
	struct stest_daemon d;
	char model[300], bin[512], redis[64], stream[160], *out, *err;
	char *env[] = {(char *)"MEM0_MODELS=local", model, NULL};
	redisContext *rc;
	json_t *r;

	wenv_setup_local(&w);
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 1, "s1", "m1", "Hi, I'm Sean. I love sci-fi films.", "Nice to meet you!"));
	free(wenv_exchange(&w, 1, "s1", "m2", "I live in Lisbon and I have a dog named Rex.", NULL));
	free(wenv_exchange(&w, 1, "s2", "m3", "I work as a nurse. I'm allergic to peanuts. I play the guitar.", NULL));
	free(wenv_exchange(&w, 2, "s9", "m4", "I love horror movies.", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	cr_assert_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 1"), 7);

	snprintf(model, sizeof(model), "MEM0_LOCAL_MODEL_PATH=%s", lenv_model_path());
	stest_daemon_start(&d, &w.store, 100, tenv_redis_port(), env);
	rc = stest_redis(tenv_redis_port());
	r = stest_request(rc, d.stream, 10000, "op", "search", "user_db_id", "1", "query", "What movies do I like?",
	                  "limit", "7", NULL);
	cr_assert_not_null(r, "no reply");
	cr_assert(stest_ok(r), "%s", stest_error_message(r));
	cr_expect_eq(stest_nresults(r), 7);
	cr_expect_str_eq(stest_result_str(r, 0, "memory"), "Loves sci-fi films");
	json_decref(r);

	/* the same through memctl search */
	{
		char *argv[] = {(char *)tenv_bin("memctl", bin, sizeof(bin)),
		                (char *)"search",
		                (char *)"--user",
		                (char *)"1",
		                (char *)"--limit",
		                (char *)"3",
		                (char *)"What",
		                (char *)"movies",
		                (char *)"do",
		                (char *)"I",
		                (char *)"like?",
		                NULL};
		char *cenv[] = {redis, stream, NULL};
		const char *row;

		snprintf(redis, sizeof(redis), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
		snprintf(stream, sizeof(stream), "MEM0_SEARCH_STREAM=%s", d.stream);
		cr_assert_eq(tenv_run(argv, cenv, &out, &err), 0, "%s", err);
		row = strchr(out, '\n');
		cr_assert_not_null(row, "%s", out);
		cr_expect(strstr(row, "Loves sci-fi films") &&
		                  strstr(row, "Loves sci-fi films") < strchr(row + 1, '\n'),
		          "first row is not the films memory:\n%s", out);
		cr_expect_null(strstr(out, "horror"), "another user's memory: %s", out);
		free(out);
		free(err);
	}
	redisFree(rc);
	stest_daemon_stop(&d);
	wenv_teardown(&w);
}
