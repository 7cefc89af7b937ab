/*
 * memsearch's /metrics, /healthz and /readyz: Prometheus text that parses,
 * request counters by op and outcome that move with the work, search
 * latency and empty results counted. Runs on both stores (MW_TEST_STORE:
 * storeenv.h).
 */
#include "mockllm.h"
#include "opsenv.h"
#include "searchtest.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIMS 64

Test(search_metrics, endpoints_parse_and_count, .init = tenv_require_servers, .timeout = 90)
{
	char base[160], err[256], id[40];
	struct senv store;
	struct mockllm *mock;
	struct stest_daemon d;
	redisContext *rc;
	json_t *reply, *samples;
	char *body = NULL;
	int port;

	float v[DIMS];

	stest_store_setup(&store, "smet", DIMS);
	stest_vec(v, DIMS, 3, 0.1f);
	stest_add(&store, 5, "s", "Likes green tea", NULL, v, DIMS, id);
	mock = mockllm_start(DIMS);
	snprintf(base, sizeof(base), "OPENAI_BASE_URL=%s", mockllm_base_url(mock));
	{
		char *env[] = { base, (char *)"MEM0_MODELS=openai", (char *)"MEM0_METRICS_ADDR=127.0.0.1:0", NULL };
		stest_daemon_start(&d, &store, DIMS, tenv_redis_port(), env);
	}
	port = oenv_metrics_port(d.log, 10000);
	cr_assert_gt(port, 0, "no metrics port in the log");
	cr_expect_eq(oenv_http_get(port, "/healthz", NULL), 200);
	cr_expect_eq(oenv_http_get(port, "/readyz", &body), 200, "%s", body ? body : "");
	free(body);

	rc = stest_redis(tenv_redis_port());
	reply = stest_request(rc, d.stream, 10000, "op", "search", "user_db_id", "5", "query", "green tea", NULL);
	cr_assert(reply && stest_ok(reply));
	json_decref(reply);
	reply = stest_request(rc, d.stream, 10000, "op", "search", "user_db_id", "6", "query", "green tea", NULL);
	cr_assert(reply && stest_ok(reply) && stest_nresults(reply) == 0);
	json_decref(reply);
	reply = stest_request(rc, d.stream, 10000, "op", "stats", NULL);
	cr_assert(reply && strcmp(stest_error_code(reply), "bad_request") == 0);
	json_decref(reply);

	cr_assert_eq(oenv_http_get(port, "/metrics", &body), 200);
	samples = prom_parse(body, err, sizeof(err));
	cr_assert_not_null(samples, "not Prometheus text: %s\n%s", err, body);
	cr_expect_eq(prom_get(samples, "memsearch_requests_total{op=\"search\",outcome=\"ok\"}"), 2, "%s", body);
	cr_expect_eq(prom_get(samples, "memsearch_requests_total{op=\"invalid\",outcome=\"bad_request\"}"), 1,
		     "%s", body);
	cr_expect_geq(prom_get(samples, "memsearch_search_empty_total"), 1, "%s", body);
	json_decref(samples);
	free(body);
	redisFree(rc);
	stest_daemon_stop(&d);
	mockllm_stop(mock);
	senv_teardown(&store);
}
