/*
 * wmetrics: see wmetrics.h. The refresh sends its three commands at once
 * and skips a tick while any is unanswered; each callback fires exactly
 * once (rcmd's rule), also at shutdown, which is why wm_free comes after
 * rcmd_free.
 */
#include "wmetrics.h"

#include "app.h"
#include "batch.h"
#include "cfg.h"
#include "entry.h"
#include "httpd.h"
#include "log.h"
#include "models.h"
#include "store.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFRESH_MS 5000

struct wmetrics {
	struct app *app;
	struct metrics *m;
	struct httpd *httpd;
	struct event *refresh_ev;
	int refreshing;			/* commands of the last refresh not yet answered */
	struct metrics_llm llm;

	struct metric *read, *acked, *dead, *invalid, *reclaimed, *already, *batches, *batches_failed;
	struct metric *changes[4], *conflicts, *held, *active, *redis_up, *store_up, *start_time;
	struct metric *batch_size, *deliveries, *apply[5], *trim_runs, *trimmed;
	struct metric *stream_len, *dlq_len;
};

static const double size_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000 };
static const double delivery_bounds[] = { 1, 2, 3, 4, 5, 10, 20, 50 };
static const double apply_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void collect(void *arg)
{
	struct wmetrics *wm = arg;
	const struct app *app = wm->app;
	const struct app_stats *st = &app->stats;

	metrics_set(wm->read, (double)st->read);
	metrics_set(wm->acked, (double)st->acked);
	metrics_set(wm->dead, (double)st->dead_lettered);
	metrics_set(wm->invalid, (double)st->invalid);
	metrics_set(wm->reclaimed, (double)st->reclaimed);
	metrics_set(wm->already, (double)st->replayed);
	metrics_set(wm->batches, (double)st->batches);
	metrics_set(wm->batches_failed, (double)st->batches_failed);
	metrics_set(wm->changes[0], (double)st->added);
	metrics_set(wm->changes[1], (double)st->updated);
	metrics_set(wm->changes[2], (double)st->deleted);
	metrics_set(wm->changes[3], (double)st->skipped);
	metrics_set(wm->conflicts, (double)st->conflicts);
	metrics_set(wm->held, app->held);
	metrics_set(wm->active, app->batcher ? batcher_active(app->batcher) : 0);
	metrics_set(wm->redis_up, app->rcmd && app->rread && rcmd_connected(app->rcmd) && rcmd_connected(app->rread));
	metrics_set(wm->store_up, app->store && store_ready(app->store));
	if (app->models)
		metrics_llm_collect(&wm->llm, models_llm_stats(app->models, false), models_llm_stats(app->models, true));
}

static void ready(void *arg, struct httpd_checks *c)
{
	struct wmetrics *wm = arg;
	const struct app *app = wm->app;
	const char *store = app->store ? store_name(app->store) : "store";

	httpd_check(c, "redis", app->rcmd && app->rread && rcmd_connected(app->rcmd) && rcmd_connected(app->rread));
	httpd_check(c, strcmp(store, "pgvector") == 0 ? "postgres" : store, app->store && store_ready(app->store));
	if (app->store && store_fallback_reason(app->store))
		httpd_note(c, "store", store_fallback_reason(app->store));
}

/* ---- stream gauges ---- */

static long long field_int(const redisReply *g, const char *name, bool *found)
{
	size_t i;

	for (i = 0; i + 1 < g->elements; i += 2) {
		const redisReply *k = g->element[i], *v = g->element[i + 1];

		if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0) {
			*found = v->type == REDIS_REPLY_INTEGER;
			return *found ? v->integer : 0;
		}
	}
	*found = false;
	return 0;
}

static const char *field_str(const redisReply *g, const char *name)
{
	size_t i;

	for (i = 0; i + 1 < g->elements; i += 2)
		if (g->element[i]->type == REDIS_REPLY_STRING && strcmp(g->element[i]->str, name) == 0 &&
		    g->element[i + 1]->type == REDIS_REPLY_STRING)
			return g->element[i + 1]->str;
	return NULL;
}

static void groups_done(void *arg, redisReply *reply, const char *errstr)
{
	struct wmetrics *wm = arg;
	const char *stream = wm->app->cfg->stream;
	size_t i;

	(void)errstr;
	wm->refreshing--;
	if (!reply || reply->type != REDIS_REPLY_ARRAY)
		return;		/* no stream yet, or Redis away: the gauges keep their last value */
	for (i = 0; i < reply->elements; i++) {
		const redisReply *g = reply->element[i];
		const char *name = g->type == REDIS_REPLY_ARRAY ? field_str(g, "name") : NULL;
		long long v;
		bool found;

		if (!name)
			continue;
		v = field_int(g, "lag", &found);
		/* lag is nil when Redis cannot tell (entries deleted in the middle) */
		metrics_set(metrics_gauge(wm->m, "memworker_group_lag",
					  "Entries in the stream not yet delivered to the group (NaN: unknown)", "stream",
					  stream, "group", name, NULL),
			    found ? (double)v : NAN);
		v = field_int(g, "pending", &found);
		metrics_set(metrics_gauge(wm->m, "memworker_group_pending",
					  "Entries delivered to the group and not yet acknowledged", "stream", stream,
					  "group", name, NULL),
			    (double)v);
		v = field_int(g, "consumers", &found);
		metrics_set(metrics_gauge(wm->m, "memworker_group_consumers", "Consumers known to the group", "stream",
					  stream, "group", name, NULL),
			    (double)v);
	}
}

static void len_done(void *arg, redisReply *reply, const char *errstr, struct metric *g)
{
	struct wmetrics *wm = arg;

	(void)errstr;
	wm->refreshing--;
	if (reply && reply->type == REDIS_REPLY_INTEGER)
		metrics_set(g, (double)reply->integer);
}

static void stream_len_done(void *arg, redisReply *reply, const char *errstr)
{
	len_done(arg, reply, errstr, ((struct wmetrics *)arg)->stream_len);
}

static void dlq_len_done(void *arg, redisReply *reply, const char *errstr)
{
	len_done(arg, reply, errstr, ((struct wmetrics *)arg)->dlq_len);
}

static void refresh(evutil_socket_t fd, short what, void *arg)
{
	struct wmetrics *wm = arg;
	struct app *app = wm->app;
	const char *groups[] = { "XINFO", "GROUPS", app->cfg->stream };
	const char *slen[] = { "XLEN", app->cfg->stream };
	const char *dlen[] = { "XLEN", app->dlq_stream };

	(void)fd;
	(void)what;
	if (wm->refreshing || !app->rcmd || !rcmd_connected(app->rcmd) || !app->dlq_stream)
		return;
	if (rcmd_command(app->rcmd, 3, groups, NULL, groups_done, wm) == 0)
		wm->refreshing++;
	if (rcmd_command(app->rcmd, 2, slen, NULL, stream_len_done, wm) == 0)
		wm->refreshing++;
	if (rcmd_command(app->rcmd, 2, dlen, NULL, dlq_len_done, wm) == 0)
		wm->refreshing++;
}

/* ---- lifetime ---- */

struct wmetrics *wm_new(struct app *app, char *err, size_t errlen)
{
	struct wmetrics *wm = mw_calloc(1, sizeof(*wm));
	struct metrics *m = metrics_new();
	const char *stream = app->cfg->stream;
	struct timeval tv = { REFRESH_MS / 1000, (REFRESH_MS % 1000) * 1000 };
	static const char *const apply_outcomes[5] = { "ok", "conflict", "rejected", "error", "transient" };
	int i;

	wm->app = app;
	wm->m = m;
	metrics_llm_init(&wm->llm, m);
	wm->read = metrics_counter(m, "memworker_entries_read_total", "Stream entries read (fresh and reclaimed)", NULL);
	wm->acked = metrics_counter(m, "memworker_entries_acked_total", "Stream entries acknowledged", NULL);
	wm->dead = metrics_counter(m, "memworker_entries_dead_lettered_total",
				   "Entries moved to the dead-letter stream", NULL);
	wm->invalid = metrics_counter(m, "memworker_entries_invalid_total", "Entries that failed validation", NULL);
	wm->reclaimed = metrics_counter(m, "memworker_entries_reclaimed_total",
					"Entries reclaimed from other consumers with XAUTOCLAIM", NULL);
	wm->already = metrics_counter(m, "memworker_entries_already_applied_total",
				      "Entries skipped because their message key was applied before (replays)", NULL);
	wm->batches = metrics_counter(m, "memworker_batches_total", "Per-user batches started", NULL);
	wm->batches_failed = metrics_counter(m, "memworker_batches_failed_total",
					     "Batches whose entries were dead-lettered", NULL);
	{
		static const char *const actions[4] = { "added", "updated", "deleted", "skipped" };

		for (i = 0; i < 4; i++)
			wm->changes[i] = metrics_counter(m, "memworker_memory_changes_total",
							 "Memory changes applied (skipped: duplicates, vanished targets)",
							 "action", actions[i], NULL);
	}
	wm->conflicts = metrics_counter(m, "memworker_apply_conflicts_total",
					"Apply transactions rolled back because another delivery applied a key", NULL);
	wm->held = metrics_gauge(m, "memworker_entries_held", "Entries read and not yet acknowledged", NULL);
	wm->active = metrics_gauge(m, "memworker_batches_active", "Batches in flight plus entries waiting to batch",
				   NULL);
	wm->redis_up = metrics_gauge(m, "memworker_redis_connected", "1 while both Redis connections are up", NULL);
	wm->store_up = metrics_gauge(m, "memworker_store_connected", "1 while the store's connections are up", NULL);
	metrics_set(metrics_gauge(m, "memworker_store_fallback",
				  "1 when MEM0_PROVIDER=auto found no pgvector and uses the SQLite store (why: /readyz)",
				  NULL),
		    app->store && store_fallback_reason(app->store) ? 1 : 0);
	wm->start_time = metrics_gauge(m, "process_start_time_seconds", "Start time since the Unix epoch", NULL);
	metrics_set(wm->start_time, (double)time(NULL));
	wm->batch_size = metrics_histogram(m, "memworker_batch_size", "Entries per batch", size_bounds, NB(size_bounds),
					   NULL);
	wm->deliveries = metrics_histogram(m, "memworker_entry_deliveries",
					   "Deliveries an entry took until acknowledged", delivery_bounds,
					   NB(delivery_bounds), NULL);
	for (i = 0; i < 5; i++)
		wm->apply[i] = metrics_histogram(m, "memworker_apply_duration_seconds",
						 "PostgreSQL apply transactions (one round trip), by outcome",
						 apply_bounds, NB(apply_bounds), "outcome", apply_outcomes[i], NULL);
	wm->trim_runs = metrics_counter(m, "memworker_trim_runs_total", "Automatic stream trims run", NULL);
	wm->trimmed = metrics_counter(m, "memworker_trimmed_entries_total", "Entries removed by the automatic trim",
				      NULL);
	wm->stream_len = metrics_gauge(m, "memworker_stream_length", "Entries in the ingest stream", "stream", stream,
				       NULL);
	wm->dlq_len = metrics_gauge(m, "memworker_dead_letter_length", "Entries in the dead-letter stream", "stream",
				    stream, NULL);
	metrics_on_collect(m, collect, wm);

	if (app->cfg->metrics_addr && app->cfg->metrics_addr[0]) {
		wm->httpd = httpd_new(app->base, app->cfg->metrics_addr, m, ready, wm, err, errlen);
		if (!wm->httpd) {
			metrics_free(m);
			free(wm);
			return NULL;
		}
		log_info("metrics: /metrics, /healthz, /readyz on port %d", httpd_port(wm->httpd));
		wm->refresh_ev = event_new(app->base, -1, EV_PERSIST, refresh, wm);
		event_add(wm->refresh_ev, &tv);
	}
	return wm;
}

int wm_port(const struct wmetrics *wm)
{
	return wm ? httpd_port(wm->httpd) : 0;
}

void wm_free(struct wmetrics *wm)
{
	if (!wm)
		return;
	if (wm->refresh_ev)
		event_free(wm->refresh_ev);
	httpd_free(wm->httpd);
	metrics_free(wm->m);
	free(wm);
}

/* ---- observations ---- */

void wm_batch(struct wmetrics *wm, int entries)
{
	if (wm)
		metrics_observe(wm->batch_size, entries);
}

void wm_entries_done(struct wmetrics *wm, struct entry *const *entries, int n)
{
	int i;

	for (i = 0; wm && i < n; i++)
		metrics_observe(wm->deliveries, (double)entries[i]->deliveries);
}

void wm_llm(struct wmetrics *wm, enum metrics_llm_kind kind, bool ok, double started)
{
	if (wm)
		metrics_llm_done(&wm->llm, kind, ok, started);
}

void wm_embed_inputs(struct wmetrics *wm, int n)
{
	if (wm)
		metrics_observe(wm->llm.embed_inputs, n);
}

void wm_apply(struct wmetrics *wm, int store_status, double started)
{
	int i;

	if (!wm)
		return;
	switch (store_status) {
	case STORE_OK: i = 0; break;
	case STORE_CONFLICT: i = 1; break;
	case STORE_REJECTED: i = 2; break;
	case STORE_TRANSIENT: i = 4; break;
	default: i = 3; break;
	}
	metrics_observe(wm->apply[i], metrics_now() - started);
}

void wm_trim(struct wmetrics *wm, long long deleted)
{
	if (!wm)
		return;
	metrics_add(wm->trim_runs, 1);
	if (deleted > 0)
		metrics_add(wm->trimmed, (double)deleted);
}
