/*
 * search and context through memsearch with real query embeddings: the
 * project's mock LLM (word-hash embeddings) embeds both the stored memories
 * (here, through its HTTP API) and the queries (memsearch, MEM0_MODELS=
 * openai). Isolation between two users with near-identical memories, the
 * context shape, threshold, limit, session and metadata filters, delete
 * then search, and the query embedding cache (one model call per distinct
 * query). Runs on both stores (MW_TEST_STORE: storeenv.h).
 */
#include "mockllm.h"
#include "searchtest.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIMS 256
#define WAIT_MS 5000

static void embed(struct mockllm *m, const char *text, float *out)
{
	struct mockllm_reply r;
	json_t *body = json_pack("{s:s, s:[s], s:i}", "model", "test", "input", text, "dimensions", DIMS), *j, *v;
	char *s = json_dumps(body, JSON_COMPACT);
	size_t i;

	mockllm_http(m, "POST", "/v1/embeddings", s, 0, &r);
	cr_assert_eq(r.status, 200, "embeddings: %ld %s", r.status, r.body);
	j = json_loads(r.body, 0, NULL);
	v = json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding");
	cr_assert_eq(json_array_size(v), DIMS);
	for (i = 0; i < DIMS; i++)
		out[i] = (float)json_number_value(json_array_get(v, i));
	json_decref(j);
	json_decref(body);
	free(s);
	mockllm_reply_free(&r);
}

struct fx {
	struct mockllm *mock;
	struct senv store;
	struct stest_daemon d;
	redisContext *rc;
	char env_url[128];
};

static void add(struct fx *f, int user, const char *session, const char *text, const char *meta, char *id)
{
	float v[DIMS];

	embed(f->mock, text, v);
	stest_add(&f->store, user, session, text, meta, v, DIMS, id);
}

static void fx_open(struct fx *f)
{
	char *env[] = { (char *)"MEM0_MODELS=openai", f->env_url, NULL };

	memset(f, 0, sizeof(*f));
	f->mock = mockllm_start(DIMS);
	snprintf(f->env_url, sizeof(f->env_url), "OPENAI_BASE_URL=%s", mockllm_base_url(f->mock));
	stest_store_setup(&f->store, "e2e", DIMS);
	stest_daemon_start(&f->d, &f->store, DIMS, tenv_redis_port(), env);
	f->rc = stest_redis(tenv_redis_port());
}

static void fx_close(struct fx *f)
{
	stest_daemon_stop(&f->d);
	redisFree(f->rc);
	senv_teardown(&f->store);
	cr_expect_eq(mockllm_stop(f->mock), 0);
}

static json_t *search(struct fx *f, const char *op, const char *user, const char *query, const char *k1,
		      const char *v1, const char *k2, const char *v2)
{
	const char *fields[8] = { "op", "user_db_id", "query" }, *values[8] = { op, user, query };
	int n = 3;
	json_t *j;

	if (k1) {
		fields[n] = k1;
		values[n++] = v1;
	}
	if (k2) {
		fields[n] = k2;
		values[n++] = v2;
	}
	j = stest_requestv(f->rc, f->d.stream, WAIT_MS, n, fields, values);
	if (!j) {
		char *log = tenv_slurp(f->d.log);

		cr_assert_fail("no reply; memsearch log:\n%s", log ? log : "");
	}
	cr_assert(stest_ok(j), "%s: %s", op, stest_error_message(j));
	return j;
}

static bool has_id(const json_t *j, const char *id)
{
	size_t i;

	for (i = 0; i < stest_nresults(j); i++)
		if (strcmp(stest_result_str(j, i, "id"), id) == 0)
			return true;
	return false;
}

static double score(const json_t *j, size_t i)
{
	return json_number_value(json_object_get(json_array_get(json_object_get(j, "results"), i), "score"));
}

Test(search_e2e, two_users_search_and_context, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char a[4][40], b[4][40];
	json_t *j;
	size_t i;

	fx_open(&f);
	add(&f, 1, "s1", "Likes green tea with honey", "{\"topic\":\"food\"}", a[0]);
	add(&f, 2, "s1", "Likes green tea with honey", "{\"topic\":\"food\"}", b[0]);
	add(&f, 1, "s2", "Has a cat named Tom", "{\"topic\":\"pets\"}", a[1]);
	add(&f, 2, "s2", "Has a cat named Tom", "{\"topic\":\"pets\"}", b[1]);
	add(&f, 1, "s2", "Works as a nurse in Leeds", "{\"topic\":\"work\"}", a[2]);
	add(&f, 2, "s2", "Works as a nurse in Leeds", "{\"topic\":\"work\"}", b[2]);
	add(&f, 1, "s3", "Drinks black tea in the morning", "{\"topic\":\"food\"}", a[3]);
	add(&f, 2, "s3", "Drinks black tea in the morning", "{\"topic\":\"food\"}", b[3]);

	j = search(&f, "search", "1", "green tea", "request_id", "q1", NULL, NULL);
	cr_assert_eq(stest_nresults(j), 4, "every memory of the user, none of the other's");
	for (i = 0; i < 4; i++)
		cr_expect_not(has_id(j, b[i]), "user 1 sees user 2's memory");
	cr_expect_str_eq(stest_result_str(j, 0, "id"), a[0], "best first");
	cr_expect(score(j, 0) > score(j, 1), "scores descend: %f %f", score(j, 0), score(j, 1));
	cr_expect(score(j, 0) > 0.5 && score(j, 0) <= 1.0001);
	cr_expect(json_is_object(json_object_get(json_array_get(json_object_get(j, "results"), 0), "metadata")));
	json_decref(j);

	j = search(&f, "search", "2", "green tea", NULL, NULL, NULL, NULL);
	for (i = 0; i < 4; i++)
		cr_expect_not(has_id(j, a[i]), "user 2 sees user 1's memory");
	json_decref(j);

	j = search(&f, "context", "1", "green tea", "limit", "2", NULL, NULL);
	cr_assert_eq(stest_nresults(j), 2);
	cr_expect_str_eq(stest_result_str(j, 0, "role"), "system");
	cr_expect_str_eq(stest_result_str(j, 0, "content"), "[Relevant Context: Likes green tea with honey]");
	json_decref(j);

	j = search(&f, "search", "1", "tea", "threshold", "0.3", NULL, NULL);
	cr_expect_eq(stest_nresults(j), 2, "only the two tea memories pass the threshold");
	for (i = 0; i < stest_nresults(j); i++)
		cr_expect(score(j, i) >= 0.3);
	json_decref(j);

	j = search(&f, "search", "1", "tea", "limit", "1", NULL, NULL);
	cr_expect_eq(stest_nresults(j), 1);
	json_decref(j);

	j = search(&f, "search", "1", "green tea", "session_id", "s3", NULL, NULL);
	cr_assert_eq(stest_nresults(j), 1);
	cr_expect_str_eq(stest_result_str(j, 0, "id"), a[3]);
	json_decref(j);

	j = search(&f, "search", "1", "cat", "filters", "{\"topic\":\"food\"}", NULL, NULL);
	cr_expect_eq(stest_nresults(j), 2);
	cr_expect_not(has_id(j, a[1]), "the filter keeps the cat out");
	json_decref(j);
	j = search(&f, "search", "1", "cat", "filters", "{\"topic\":\"food\"}", "session_id", "s1");
	cr_expect_eq(stest_nresults(j), 1);
	json_decref(j);

	/* delete, then search: gone for user 1, still there for user 2 */
	j = stest_request(f.rc, f.d.stream, WAIT_MS, "op", "delete", "user_db_id", "1", "memory_id", a[0], NULL);
	cr_assert(j && stest_ok(j));
	json_decref(j);
	j = search(&f, "search", "1", "green tea", NULL, NULL, NULL, NULL);
	cr_expect_not(has_id(j, a[0]));
	cr_expect_eq(stest_nresults(j), 3);
	json_decref(j);
	j = search(&f, "search", "2", "green tea", NULL, NULL, NULL, NULL);
	cr_expect_str_eq(stest_result_str(j, 0, "id"), b[0]);
	json_decref(j);
	fx_close(&f);
}

Test(search_e2e, query_embeddings_are_cached, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char id[40];
	json_t *j, *stats;
	long long before, after;
	int i;

	fx_open(&f);
	add(&f, 1, "s", "Plays the violin", NULL, id);
	mockllm_reset(f.mock);
	for (i = 0; i < 5; i++) {
		j = search(&f, "search", "1", "violin music", NULL, NULL, NULL, NULL);
		cr_expect_eq(stest_nresults(j), 1);
		json_decref(j);
	}
	stats = mockllm_stats(f.mock);
	before = json_integer_value(json_object_get(stats, "embeddings"));
	json_decref(stats);
	cr_expect_eq(before, 1, "five searches of one text: one embeddings request, not %lld", before);
	j = search(&f, "context", "1", "a different question", NULL, NULL, NULL, NULL);
	json_decref(j);
	stats = mockllm_stats(f.mock);
	after = json_integer_value(json_object_get(stats, "embeddings"));
	json_decref(stats);
	cr_expect_eq(after, 2);
	fx_close(&f);
}

/* The model failing is 'unavailable', and memsearch goes on once it is back. */
Test(search_e2e, model_failure_is_unavailable, .init = tenv_require_servers, .timeout = 120)
{
	struct fx f;
	char id[40];
	json_t *j;

	fx_open(&f);
	add(&f, 1, "s", "Plays the violin", NULL, id);
	mockllm_fault(f.mock, "{\"next\":[{\"kind\":\"400\",\"on\":\"embeddings\"}]}");
	j = stest_request(f.rc, f.d.stream, WAIT_MS, "op", "search", "user_db_id", "1", "query", "violin", NULL);
	cr_assert_not_null(j);
	cr_expect_str_eq(stest_error_code(j), "unavailable", "%s", stest_error_message(j));
	json_decref(j);
	j = search(&f, "search", "1", "violin", NULL, NULL, NULL, NULL);
	cr_expect_eq(stest_nresults(j), 1);
	json_decref(j);
	fx_close(&f);
}
