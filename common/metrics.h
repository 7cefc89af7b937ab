/*
 * metrics: a small Prometheus registry: counters, gauges and fixed-bucket
 * histograms, each a family of series told apart by labels, rendered in the
 * text exposition format (0.0.4). No globals: a daemon owns one struct
 * metrics and passes series pointers to the code that updates them. Not
 * thread-safe; everything runs on the daemon's one loop.
 *
 * Also the families both daemons share (model calls, search), so
 * memworker and memsearch export them under the same names.
 */
#ifndef MW_METRICS_H
#define MW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct metrics;
struct metric;		/* one series */
struct llm_stats;

/* Runs before every render: copy outside counters into series here. */
typedef void (*metrics_collect_cb)(void *arg);

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* At most 8 hooks, run in registration order. */
void metrics_on_collect(struct metrics *m, metrics_collect_cb cb, void *arg);

/*
 * Find-or-create one series of a family; the variadic part is label
 * name/value pairs, NULL-terminated (strings copied). The family's first
 * registration fixes its type, help and (histograms) bucket upper bounds,
 * increasing, +Inf implied. A name or type clash is a programming error:
 * logged, then abort. The series lives as long as the registry.
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, ...)
	__attribute__((sentinel));
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, ...) __attribute__((sentinel));
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const double *bounds,
				 int nbounds, ...) __attribute__((sentinel));

/* All NULL-safe (a NULL series is a no-op), so code can run without a registry. */
void metrics_add(struct metric *s, double v);		/* counter (v >= 0) or gauge */
void metrics_set(struct metric *s, double v);		/* gauge; or a counter mirrored from a monotonic source */
void metrics_observe(struct metric *s, double v);	/* histogram */
double metrics_value(const struct metric *s);		/* counter/gauge value; histogram: observation count */

/* Runs the collect hooks, then renders every family: a malloc'd NUL-terminated string (len without the NUL). */
char *metrics_render(struct metrics *m, size_t *len);

/* Monotonic seconds, for durations. */
double metrics_now(void);

/* ---- shared families ---- */

enum metrics_llm_kind { METRICS_LLM_CHAT = 0, METRICS_LLM_EMBED = 1 };

/* Model calls: mem0_llm_* (both daemons). */
struct metrics_llm {
	struct metric *duration[2][2];	/* [kind][0 ok, 1 error]: accept to answer, retries included */
	struct metric *tokens[2][2];	/* [kind][0 prompt, 1 completion] */
	struct metric *attempts[2];	/* HTTP requests sent */
	struct metric *retries[2];
	struct metric *embed_inputs;	/* inputs per embeddings request */
};
void metrics_llm_init(struct metrics_llm *l, struct metrics *m);
/* One model call ended; started = metrics_now() when it was made. */
void metrics_llm_done(const struct metrics_llm *l, enum metrics_llm_kind kind, bool ok, double started);
/* Copies the HTTP client's counters; NULL stats (local models) leave the series as they are. */
void metrics_llm_collect(const struct metrics_llm *l, const struct llm_stats *chat, const struct llm_stats *embed);

/* Read path: memsearch_* (memsearch fills them). */
struct metrics_search {
	struct metric *duration;	/* request to reply, histogram */
	struct metric *empty;		/* searches that found nothing */
	struct metric *results;		/* results per search, histogram */
};
void metrics_search_init(struct metrics_search *s, struct metrics *m);
/* One search answered with n results; started = metrics_now() at the request. */
void metrics_search_done(const struct metrics_search *s, double started, int nresults);
/* memsearch_requests_total{op,outcome} (outcome: ok or the error code). */
void metrics_search_request(struct metrics *m, const char *op, const char *outcome);

#endif
