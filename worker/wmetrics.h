/*
 * wmetrics: memworker's metrics (common/metrics.h) and, when
 * MEM0_METRICS_ADDR is set, its /metrics, /healthz and /readyz endpoint
 * (common/httpd.h) on the worker's loop. Counters the stages already keep
 * (struct app_stats) are copied at scrape time; what needs a moment or a
 * size (durations, batch sizes, deliveries) is observed by the one-line
 * calls below. Stream gauges (length, group lag and pending, dead letters)
 * are refreshed every few seconds with XINFO GROUPS and XLEN on the
 * command connection.
 *
 * Every function takes a NULL wmetrics (no-op).
 */
#ifndef MW_WMETRICS_H
#define MW_WMETRICS_H

#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>

struct app;
struct entry;
struct wmetrics;

/* Needs app->base and app->cfg; reads the rest lazily. NULL with a reason if the endpoint cannot listen. */
struct wmetrics *wm_new(struct app *app, char *err, size_t errlen) __attribute__((warn_unused_result));
/* After the Redis connections are freed (their callbacks may still report to it). */
void wm_free(struct wmetrics *wm);
int wm_port(const struct wmetrics *wm);

void wm_batch(struct wmetrics *wm, int entries);
/* Entries acked (applied or dead-lettered): their delivery counts. */
void wm_entries_done(struct wmetrics *wm, struct entry *const *entries, int n);
void wm_llm(struct wmetrics *wm, enum metrics_llm_kind kind, bool ok, double started);
void wm_embed_inputs(struct wmetrics *wm, int n);
/* One apply transaction ended with a store status (enum store_status). */
void wm_apply(struct wmetrics *wm, int store_status, double started);
void wm_trim(struct wmetrics *wm, long long deleted);

#endif
