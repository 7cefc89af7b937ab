/*
 * smetrics: see smetrics.h. Model counters are copied from the HTTP client
 * at scrape time (the collect hook); the rest is observed as requests end.
 */
#include "smetrics.h"

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "models.h"
#include "search.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

struct smetrics {
	struct app *app;
	struct metrics *m;
	struct metrics_llm llm;
	struct metrics_search search;
	struct httpd *httpd;
};

static void collect(void *arg)
{
	struct smetrics *sm = arg;

	if (sm->app->models)
		metrics_llm_collect(&sm->llm, models_llm_stats(sm->app->models, false),
				    models_llm_stats(sm->app->models, true));
}

static void ready(void *arg, struct httpd_checks *c)
{
	struct smetrics *sm = arg;
	struct app *a = sm->app;
	const char *fallback = a->store ? store_fallback_reason(a->store) : NULL;

	httpd_check(c, "redis", a->rd && a->cmd && rcmd_connected(a->rd) && rcmd_connected(a->cmd));
	httpd_check(c, "store", a->store && store_ready(a->store));
	if (fallback)
		httpd_note(c, "store", fallback);
}

struct smetrics *sm_new(struct app *a, char *err, size_t errlen)
{
	struct smetrics *sm;

	err[0] = '\0';
	if (!a->cfg.metrics_addr || !a->cfg.metrics_addr[0])
		return NULL;
	sm = mw_calloc(1, sizeof(*sm));
	sm->app = a;
	sm->m = metrics_new();
	metrics_llm_init(&sm->llm, sm->m);
	metrics_search_init(&sm->search, sm->m);
	metrics_on_collect(sm->m, collect, sm);
	sm->httpd = httpd_new(a->base, a->cfg.metrics_addr, sm->m, ready, sm, err, errlen);
	if (!sm->httpd) {
		metrics_free(sm->m);
		free(sm);
		return NULL;
	}
	log_info("metrics: /metrics, /healthz, /readyz on port %d", httpd_port(sm->httpd));
	return sm;
}

void sm_request(struct smetrics *sm, const struct sreq *r, const char *outcome, int nresults)
{
	if (!sm)
		return;
	/* a request that failed validation may not even have a known op */
	metrics_search_request(sm->m, r->valid ? sproto_op_name(r->rq.op) : "invalid", outcome);
	/* r->t0 is monotonic ms; the family takes seconds */
	if (nresults >= 0)
		metrics_search_done(&sm->search, r->t0 / 1000.0, nresults);
}

void sm_free(struct smetrics *sm)
{
	if (!sm)
		return;
	httpd_free(sm->httpd);
	metrics_free(sm->m);
	free(sm);
}
