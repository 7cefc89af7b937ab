/*
 * smetrics: memsearch's metrics (common/metrics.h) and, when
 * MEM0_METRICS_ADDR is set, its /metrics, /healthz and /readyz endpoint
 * (common/httpd.h) on memsearch's loop: requests by op and outcome, search
 * latency and result counts (empty results counted), model calls; ready
 * while both Redis connections and the store are up, with a note when the
 * store is auto's SQLite fallback. Every function takes a NULL smetrics.
 */
#ifndef MW_SMETRICS_H
#define MW_SMETRICS_H

#include <stddef.h>

struct app;
struct smetrics;
struct sreq;

/* NULL and err "" when no address is configured; NULL with a reason when it cannot listen. */
struct smetrics *sm_new(struct app *a, char *err, size_t errlen) __attribute__((warn_unused_result));
/* One request answered: outcome "ok" or the error code; nresults -1 unless a search/context. */
void sm_request(struct smetrics *sm, const struct sreq *r, const char *outcome, int nresults);
void sm_free(struct smetrics *sm);

#endif
