/*
 * memworker's operations endpoint (MEM0_METRICS_ADDR): /metrics parses as
 * Prometheus text and moves with the work; /healthz; /readyz follows
 * PostgreSQL going away and coming back (a private server, since the
 * shared one serves tests running in parallel).
 */
#include "mockllm.h"
#include "opsenv.h"
#include "testenv.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <math.h>
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

TestSuite(health, .init = setup, .fini = teardown, .timeout = 120);

static json_t *scrape(int port)
{
	char *body = NULL, err[512];
	long st = oenv_http_get(port, "/metrics", &body);
	json_t *s;

	cr_assert_eq(st, 200, "GET /metrics: %ld", st);
	s = prom_parse(body, err, sizeof(err));
	cr_assert_not_null(s, "/metrics is not Prometheus text: %s\n%s", err, body);
	free(body);
	return s;
}

Test(health, metrics_parse_and_count_the_work)
{
	char series[512], *body = NULL;
	json_t *before, *after;
	int port;

	w.extra_env[0] = "MEM0_METRICS_ADDR=127.0.0.1:0";
	wenv_start_worker(&w);
	port = oenv_metrics_port(w.log_path, 10000);
	before = scrape(port);
	cr_expect_eq(prom_get(before, "memworker_entries_read_total"), 0);
	cr_expect_eq(prom_get(before, "memworker_redis_connected"), 1);

	free(wenv_exchange(&w, 1, "s", "m1", "I like tea. I live in Oslo.", "Noted."));
	free(wenv_exchange(&w, 1, "s", "m2", "I play chess.", NULL));
	free(wenv_exchange(&w, 2, "s", "m3", "I own a bike.", NULL));
	free(wenv_xadd(&w, "user_db_id", "x", "session_id", "s", "content", "bad user", NULL));
	wenv_wait_idle(&w, IDLE_MS);
	after = scrape(port);
	cr_expect_eq(prom_get(after, "memworker_entries_read_total"), 4);
	cr_expect_eq(prom_get(after, "memworker_entries_acked_total"), 4);
	cr_expect_eq(prom_get(after, "memworker_entries_dead_lettered_total"), 1);
	cr_expect_eq(prom_get(after, "memworker_entries_invalid_total"), 1);
	cr_expect_eq(prom_get(after, "memworker_memory_changes_total{action=\"added\"}"), 4);
	cr_expect_geq(prom_get(after, "memworker_batch_size_count"), 2);
	cr_expect_eq(prom_get(after, "memworker_batch_size_sum"), 3);
	cr_expect_eq(prom_get(after, "memworker_entry_deliveries_count"), 4);
	cr_expect_eq(prom_get(after, "memworker_entry_deliveries_bucket{le=\"1\"}"), 4);
	cr_expect_geq(prom_get(after, "memworker_apply_duration_seconds_count{outcome=\"ok\"}"), 2);
	cr_expect_geq(prom_get(after, "mem0_llm_request_duration_seconds_count{kind=\"chat\",outcome=\"ok\"}"), 2);
	cr_expect_geq(prom_get(after, "mem0_llm_request_duration_seconds_count{kind=\"embed\",outcome=\"ok\"}"), 2);
	cr_expect_geq(prom_get(after, "mem0_llm_embed_inputs_per_request_sum"), 3);
	cr_expect_geq(prom_get(after, "mem0_llm_http_attempts_total{kind=\"chat\"}"), 2);
	cr_expect_eq(prom_get(after, "memworker_entries_held"), 0);
	/* the stream gauges come from a periodic XINFO GROUPS */
	snprintf(series, sizeof(series), "memworker_group_pending{stream=\"%s\",group=\"memworker\"}", w.stream);
	{
		long long until = tenv_now_ms() + 12000;

		while (isnan(prom_get(after, series)) && tenv_now_ms() < until) {
			json_decref(after);
			usleep(200000);
			after = scrape(port);
		}
	}
	cr_expect_eq(prom_get(after, series), 0, "%s", series);
	snprintf(series, sizeof(series), "memworker_group_lag{stream=\"%s\",group=\"memworker\"}", w.stream);
	cr_expect_eq(prom_get(after, series), 0);
	snprintf(series, sizeof(series), "memworker_dead_letter_length{stream=\"%s\"}", w.stream);
	cr_expect_eq(prom_get(after, series), 1);
	snprintf(series, sizeof(series), "memworker_stream_length{stream=\"%s\"}", w.stream);
	cr_expect_eq(prom_get(after, series), 4);
	json_decref(before);
	json_decref(after);

	cr_expect_eq(oenv_http_get(port, "/healthz", &body), 200);
	cr_expect_str_eq(body, "ok\n");
	free(body);
	cr_expect_eq(oenv_http_get(port, "/readyz", &body), 200);
	cr_expect_str_eq(body, "{\"ready\":true,\"checks\":{\"redis\":\"up\",\"postgres\":\"up\"}}");
	free(body);
	cr_expect_eq(oenv_http_get(port, "/nope", NULL), 404);
	cr_expect_eq(wenv_stop_worker(&w, 0, SIGTERM), 0);
}

Test(health, metrics_address_taken_fails_at_start)
{
	char *log;

	w.extra_env[0] = "MEM0_METRICS_ADDR=127.0.0.1:0";
	wenv_start_worker(&w);
	{
		int port = oenv_metrics_port(w.log_path, 10000);
		static char addr[64];
		int st;

		snprintf(addr, sizeof(addr), "MEM0_METRICS_ADDR=127.0.0.1:%d", port);
		w.extra_env[0] = addr;
		wenv_start_worker(&w);
		st = tenv_stop(w.workers[1], 0, 10000);	/* signal 0: just wait for it to exit */
		w.workers[1] = 0;
		cr_expect_eq(st, 2, "a second worker on the same port exits 2");
	}
	log = wenv_log(&w);
	cr_expect(strstr(log, "MEM0_METRICS_ADDR: cannot listen on 127.0.0.1:") != NULL, "%s", log);
	free(log);
}

static long ready_status(int port, char **body)
{
	free(*body);
	*body = NULL;
	return oenv_http_get(port, "/readyz", body);
}

/* Waits until /readyz answers want; returns the last status. */
static long wait_ready(int port, long want, int timeout_ms, char **body)
{
	long long until = tenv_now_ms() + timeout_ms;
	long st;

	do {
		st = ready_status(port, body);
		if (st == want)
			return st;
		usleep(100000);
	} while (tenv_now_ms() < until);
	return st;
}

Test(health, readyz_follows_postgres)
{
	struct privpg pg = { 0 };
	char db[64] = "readyz", bin[512], e[12][160], *env[16], *body = NULL, *out = NULL, *err = NULL;
	char *migrate[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"migrate", NULL };
	char log_path[300];
	pid_t pid;
	int n = 0, i, port;

	privpg_init(&pg);
	cr_assert_eq(oenv_sh("psql -X -q -h 127.0.0.1 -p %d -U postgres -c 'CREATE DATABASE %s' postgres >/dev/null",
			     pg.port, db),
		     0);
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_HOST=127.0.0.1");
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_PORT=%d", pg.port);
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_USER=postgres");
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_DB=%s", db);
	snprintf(e[n++], sizeof(e[0]), "MEM0_EMBEDDING_DIMS=%d", WENV_DIMS);
	snprintf(e[n++], sizeof(e[0]), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	snprintf(e[n++], sizeof(e[0]), "MEM0_STREAM=%s", w.stream);
	snprintf(e[n++], sizeof(e[0]), "MEM0_MODELS=openai");
	snprintf(e[n++], sizeof(e[0]), "OPENAI_BASE_URL=%s", mockllm_base_url(w.mock));
	snprintf(e[n++], sizeof(e[0]), "MEM0_METRICS_ADDR=127.0.0.1:0");
	snprintf(e[n++], sizeof(e[0]), "MEM0_LOG_LEVEL=debug");
	for (i = 0; i < n; i++)
		env[i] = e[i];
	env[n] = NULL;
	cr_assert_eq(tenv_run(migrate, env, &out, &err), 0, "migrate: %s", err);
	free(out);
	free(err);

	snprintf(log_path, sizeof(log_path), "%s.readyz", w.log_path);
	{
		char *argv[] = { (char *)tenv_bin("memworker", bin, sizeof(bin)), NULL };
		pid = tenv_spawn(argv, env, log_path);
	}
	port = oenv_metrics_port(log_path, 10000);
	cr_expect_eq(wait_ready(port, 200, 10000, &body), 200, "%s", body);

	privpg_stop(&pg);
	cr_expect_eq(wait_ready(port, 503, 15000, &body), 503, "/readyz while PostgreSQL is down: %s", body);
	cr_expect_str_eq(body, "{\"ready\":false,\"checks\":{\"redis\":\"up\",\"postgres\":\"down\"}}");
	cr_expect_eq(oenv_http_get(port, "/healthz", NULL), 200, "alive while not ready");

	privpg_start(&pg);
	cr_expect_eq(wait_ready(port, 200, 20000, &body), 200, "/readyz after PostgreSQL came back: %s", body);
	cr_expect_str_eq(body, "{\"ready\":true,\"checks\":{\"redis\":\"up\",\"postgres\":\"up\"}}");
	free(body);
	cr_expect_eq(tenv_stop(pid, SIGTERM, 20000), 0);
	privpg_destroy(&pg);
}
