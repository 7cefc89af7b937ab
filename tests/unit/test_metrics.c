/*
 * metrics: the registry and its Prometheus text exposition.
 */
#include "metrics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void collect(void *arg)
{
	metrics_set(arg, 42);
}

Test(metrics, counters_gauges_labels_and_escaping)
{
	struct metrics *m = metrics_new();
	struct metric *a = metrics_counter(m, "mw_things_total", "Things\\counted\nhere", "kind", "x\"y\\z\nw", NULL);
	struct metric *b = metrics_counter(m, "mw_things_total", "ignored", "kind", "other", NULL);
	struct metric *g = metrics_gauge(m, "mw_level", "A level", NULL);
	char *text;

	cr_expect_eq(metrics_counter(m, "mw_things_total", "", "kind", "other", NULL), b, "find-or-create");
	metrics_add(a, 2);
	metrics_add(a, -1);	/* counters never go down */
	metrics_add(b, 1.5);
	metrics_set(g, -3);
	metrics_on_collect(m, collect, g);
	text = metrics_render(m, NULL);
	cr_expect(strstr(text, "# HELP mw_things_total Things\\\\counted\\nhere\n# TYPE mw_things_total counter\n") != NULL,
		  "%s", text);
	cr_expect(strstr(text, "mw_things_total{kind=\"x\\\"y\\\\z\\nw\"} 2\n") != NULL, "%s", text);
	cr_expect(strstr(text, "mw_things_total{kind=\"other\"} 1.5\n") != NULL, "%s", text);
	cr_expect(strstr(text, "# TYPE mw_level gauge\nmw_level 42\n") != NULL, "collect hook ran: %s", text);
	/* one HELP/TYPE per family */
	cr_expect_eq(strstr(strstr(text, "# TYPE mw_things_total") + 1, "# TYPE mw_things_total"), NULL);
	free(text);
	metrics_free(m);
}

Test(metrics, histogram_buckets_are_cumulative)
{
	static const double bounds[] = { 0.1, 1, 10 };
	struct metrics *m = metrics_new();
	struct metric *h = metrics_histogram(m, "mw_dur_seconds", "Durations", bounds, 3, "op", "x", NULL);
	char *text;

	metrics_observe(h, 0.05);
	metrics_observe(h, 0.1);	/* le is inclusive */
	metrics_observe(h, 5);
	metrics_observe(h, 50);
	metrics_observe(h, NAN);	/* ignored */
	text = metrics_render(m, NULL);
	cr_expect(strstr(text, "mw_dur_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
			       "mw_dur_seconds_bucket{op=\"x\",le=\"1\"} 2\n"
			       "mw_dur_seconds_bucket{op=\"x\",le=\"10\"} 3\n"
			       "mw_dur_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
			       "mw_dur_seconds_sum{op=\"x\"} 55.149999999999999\n"
			       "mw_dur_seconds_count{op=\"x\"} 4\n") != NULL,
		  "%s", text);
	cr_expect_eq(metrics_value(h), 4);
	free(text);
	metrics_free(m);
}

Test(metrics, null_series_are_no_ops)
{
	metrics_add(NULL, 1);
	metrics_set(NULL, 1);
	metrics_observe(NULL, 1);
	cr_expect_eq(metrics_value(NULL), 0);
	metrics_llm_done(NULL, METRICS_LLM_CHAT, true, 0);
	metrics_search_done(NULL, 0, 0);
	metrics_search_request(NULL, "search", "ok");
}

Test(metrics, shared_families)
{
	struct metrics *m = metrics_new();
	struct metrics_llm l;
	struct metrics_search s;
	char *text;

	metrics_llm_init(&l, m);
	metrics_search_init(&s, m);
	metrics_llm_done(&l, METRICS_LLM_EMBED, false, metrics_now());
	metrics_search_done(&s, metrics_now(), 0);
	metrics_search_request(m, "search", "ok");
	metrics_search_request(m, "search", "ok");
	text = metrics_render(m, NULL);
	cr_expect(strstr(text, "mem0_llm_request_duration_seconds_count{kind=\"embed\",outcome=\"error\"} 1\n") != NULL,
		  "%s", text);
	cr_expect(strstr(text, "memsearch_search_empty_total 1\n") != NULL, "%s", text);
	cr_expect(strstr(text, "memsearch_requests_total{op=\"search\",outcome=\"ok\"} 2\n") != NULL, "%s", text);
	free(text);
	metrics_free(m);
}

Test(metrics, name_clash_aborts, .signal = SIGABRT)
{
	struct metrics *m = metrics_new();

	metrics_counter(m, "mw_x", "", NULL);
	metrics_gauge(m, "mw_x", "", NULL);
}
