/*
 * memctl search / get-all / history / stats as programs, through a running
 * memsearch (and the mock LLM for query embeddings): tables, --json,
 * errors and exit codes, and the timeout when nobody serves the stream.
 * Runs on both stores (MW_TEST_STORE: storeenv.h).
 */
#include "mockllm.h"
#include "searchtest.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIMS 256

static void embed(struct mockllm *m, const char *text, float *out)
{
	struct mockllm_reply r;
	json_t *body = json_pack("{s:s, s:[s], s:i}", "model", "test", "input", text, "dimensions", DIMS), *j, *v;
	char *s = json_dumps(body, JSON_COMPACT);
	size_t i;

	mockllm_http(m, "POST", "/v1/embeddings", s, 0, &r);
	cr_assert_eq(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	v = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
	for (i = 0; i < DIMS; i++)
		out[i] = (float)json_number_value(json_array_get(v, i));
	json_decref(j);
	json_decref(body);
	free(s);
	mockllm_reply_free(&r);
}

/* Runs memctl with the daemon's Redis and stream; returns the exit status. */
static int memctl(const struct stest_daemon *d, char **out, char **err, const char *a1, const char *a2,
		  const char *a3, const char *a4, const char *a5, const char *a6, const char *a7)
{
	char bin[512], redis[64], stream[160];
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)a1, (char *)a2, (char *)a3,
			 (char *)a4, (char *)a5, (char *)a6, (char *)a7, NULL };
	char *env[] = { redis, stream, NULL };

	snprintf(redis, sizeof(redis), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	snprintf(stream, sizeof(stream), "MEM0_SEARCH_STREAM=%s", d->stream);
	return tenv_run(argv, env, out, err);
}

Test(search_memctl, read_commands_through_memsearch, .init = tenv_require_servers, .timeout = 120)
{
	struct mockllm *mock = mockllm_start(DIMS);
	char url[128], id1[40], id2[40], other[40];
	struct senv store;
	char *env[] = { (char *)"MEM0_MODELS=openai", url, NULL };
	struct stest_daemon d;
	float v[DIMS];
	char *out, *err;
	json_t *j;

	stest_store_setup(&store, "ctl", DIMS);
	snprintf(url, sizeof(url), "OPENAI_BASE_URL=%s", mockllm_base_url(mock));
	embed(mock, "Likes green tea", v);
	stest_add(&store, 4, "chat-1", "Likes green tea", NULL, v, DIMS, id1);
	embed(mock, "Lives in Lisbon", v);
	stest_add(&store, 4, "chat-2", "Lives in Lisbon", NULL, v, DIMS, id2);
	embed(mock, "Likes green tea", v);
	stest_add(&store, 5, "chat-1", "Likes green tea too", NULL, v, DIMS, other);
	stest_daemon_start(&d, &store, DIMS, tenv_redis_port(), env);

	cr_assert_eq(memctl(&d, &out, &err, "search", "--user", "4", "green", "tea", NULL, NULL), 0, "%s", err);
	cr_expect(strstr(out, "SCORE") && strstr(out, "MEMORY"), "a table with a header: %s", out);
	cr_expect(strstr(out, "Likes green tea") != NULL, "%s", out);
	cr_expect(strstr(out, id1) != NULL);
	cr_expect(strstr(out, "too") == NULL, "user 5's memory listed for user 4: %s", out);
	cr_expect(strstr(out, "(2 results") != NULL, "%s", out);
	cr_expect(strstr(out, "Likes green tea") < strstr(out, "Lives in Lisbon"), "best first: %s", out);
	free(out);
	free(err);

	cr_assert_eq(memctl(&d, &out, &err, "search", "--user", "4", "--limit", "1", "--json", "tea"), 0, "%s", err);
	j = json_loads(out, 0, NULL);
	cr_assert_not_null(j, "--json prints the reply: %s", out);
	cr_expect(stest_ok(j));
	cr_expect_eq(stest_nresults(j), 1);
	cr_expect_str_eq(stest_result_str(j, 0, "id"), id1);
	json_decref(j);
	free(out);
	free(err);

	cr_assert_eq(memctl(&d, &out, &err, "get-all", "--user", "4", "--session", "chat-2", NULL, NULL), 0, "%s", err);
	cr_expect(strstr(out, "Lives in Lisbon") && !strstr(out, "green tea"), "%s", out);
	free(out);
	free(err);

	cr_assert_eq(memctl(&d, &out, &err, "history", id1, "--user", "4", NULL, NULL, NULL), 0, "%s", err);
	cr_expect(strstr(out, "created") && strstr(out, "Likes green tea"), "%s", out);
	free(out);
	free(err);

	cr_expect_eq(memctl(&d, &out, &err, "history", other, "--user", "4", NULL, NULL, NULL), 1);
	cr_expect(strstr(err, "not_found") != NULL, "%s", err);
	free(out);
	free(err);

	cr_assert_eq(memctl(&d, &out, &err, "stats", "--user", "4", NULL, NULL, NULL, NULL), 0, "%s", err);
	cr_expect(strstr(out, "total_memories  2") != NULL, "%s", out);
	cr_expect(strstr(out, "history_rows    2") != NULL, "%s", out);
	free(out);
	free(err);

	cr_expect_eq(memctl(&d, &out, &err, "stats", NULL, NULL, NULL, NULL, NULL, NULL), 2, "--user is required");
	cr_expect(strstr(err, "--user") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(memctl(&d, &out, &err, "search", "--user", "4", NULL, NULL, NULL, NULL), 2, "a query is required");
	free(out);
	free(err);
	cr_expect_eq(memctl(&d, &out, &err, "search", "--user", "x", "tea", NULL, NULL, NULL), 1);
	cr_expect(strstr(err, "bad_request: user_db_id") != NULL, "%s", err);
	free(out);
	free(err);

	stest_daemon_stop(&d);
	/* nobody serves the stream now */
	cr_expect_eq(memctl(&d, &out, &err, "stats", "--user", "4", "--timeout-ms", "300", NULL, NULL), 1);
	cr_expect(strstr(err, "no answer within 300 ms") != NULL, "%s", err);
	free(out);
	free(err);
	senv_teardown(&store);
	cr_expect_eq(mockllm_stop(mock), 0);
}
