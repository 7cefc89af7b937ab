/*
 * metrics: see metrics.h. Families and series are small linked lists in
 * registration order (the exposition order); the hot path holds series
 * pointers and never looks anything up.
 */
#include "metrics.h"

#include "llm.h"
#include "log.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LABELS 8
#define MAX_HOOKS 8

enum metric_type { METRIC_COUNTER = 0, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric {
	struct metric *next;
	struct family *f;
	int nlabels;
	char *names[MAX_LABELS], *values[MAX_LABELS];
	double value;			/* counter, gauge */
	double *buckets;		/* histogram: f->nbounds + 1, not cumulative */
	double sum;
	unsigned long long count;
};

struct family {
	struct family *next;
	char *name, *help;
	enum metric_type type;
	double *bounds;
	int nbounds;
	struct metric *head, *tail;
};

struct metrics {
	struct family *head, *tail;
	struct {
		metrics_collect_cb cb;
		void *arg;
	} hooks[MAX_HOOKS];
	int nhooks;
};

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
		b->s = mw_realloc(b->s, b->cap);
	}
}

static void buf_putc(struct buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		b->cap *= 2;
		b->s = mw_realloc(b->s, b->cap);
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

double metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct metrics *metrics_new(void)
{
	return mw_calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics *m)
{
	struct family *f, *fn;
	struct metric *s, *sn;
	int i;

	if (!m)
		return;
	for (f = m->head; f; f = fn) {
		fn = f->next;
		for (s = f->head; s; s = sn) {
			sn = s->next;
			for (i = 0; i < s->nlabels; i++) {
				free(s->names[i]);
				free(s->values[i]);
			}
			free(s->buckets);
			free(s);
		}
		free(f->name);
		free(f->help);
		free(f->bounds);
		free(f);
	}
	free(m);
}

void metrics_on_collect(struct metrics *m, metrics_collect_cb cb, void *arg)
{
	if (m->nhooks == MAX_HOOKS) {
		log_error("metrics: more than %d collect hooks", MAX_HOOKS);
		abort();
	}
	m->hooks[m->nhooks].cb = cb;
	m->hooks[m->nhooks].arg = arg;
	m->nhooks++;
}

static bool valid_name(const char *s, bool colon)
{
	const char *p;

	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      (colon && *p == ':')))
			return false;
	return true;
}

static const char *type_name(enum metric_type t)
{
	return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

static struct family *family_get(struct metrics *m, const char *name, const char *help, enum metric_type type,
				 const double *bounds, int nbounds)
{
	struct family *f;
	int i;

	for (f = m->head; f; f = f->next) {
		if (strcmp(f->name, name) == 0) {
			if (f->type != type) {
				log_error("metrics: %s registered as %s and %s", name, type_name(f->type),
					  type_name(type));
				abort();
			}
			return f;
		}
	}
	if (!valid_name(name, true)) {
		log_error("metrics: invalid metric name '%s'", name ? name : "(null)");
		abort();
	}
	for (i = 1; i < nbounds; i++) {
		if (!(bounds[i] > bounds[i - 1])) {
			log_error("metrics: %s: bucket bounds must increase", name);
			abort();
		}
	}
	f = mw_calloc(1, sizeof(*f));
	f->name = mw_strdup(name);
	f->help = mw_strdup(help ? help : "");
	f->type = type;
	if (type == METRIC_HISTOGRAM) {
		f->nbounds = nbounds;
		f->bounds = mw_calloc((size_t)(nbounds ? nbounds : 1), sizeof(double));
		memcpy(f->bounds, bounds, sizeof(double) * (size_t)nbounds);
	}
	if (m->tail)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	return f;
}

static struct metric *series_get(struct family *f, va_list ap)
{
	const char *names[MAX_LABELS], *values[MAX_LABELS];
	struct metric *s;
	int n = 0, i;
	const char *k;

	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		if (n == MAX_LABELS || !valid_name(k, false) || strncmp(k, "__", 2) == 0 || strcmp(k, "le") == 0 ||
		    !v) {
			log_error("metrics: %s: bad label '%s' (at most %d, name/value pairs)", f->name, k, MAX_LABELS);
			abort();
		}
		names[n] = k;
		values[n] = v;
		n++;
	}
	for (s = f->head; s; s = s->next) {
		if (s->nlabels != n)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(s->names[i], names[i]) != 0 || strcmp(s->values[i], values[i]) != 0)
				break;
		if (i == n)
			return s;
	}
	s = mw_calloc(1, sizeof(*s));
	s->f = f;
	s->nlabels = n;
	for (i = 0; i < n; i++) {
		s->names[i] = mw_strdup(names[i]);
		s->values[i] = mw_strdup(values[i]);
	}
	if (f->type == METRIC_HISTOGRAM)
		s->buckets = mw_calloc((size_t)f->nbounds + 1, sizeof(double));
	if (f->tail)
		f->tail->next = s;
	else
		f->head = s;
	f->tail = s;
	return s;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, ...)
{
	struct family *f = family_get(m, name, help, METRIC_COUNTER, NULL, 0);
	struct metric *s;
	va_list ap;

	va_start(ap, help);
	s = series_get(f, ap);
	va_end(ap);
	return s;
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, ...)
{
	struct family *f = family_get(m, name, help, METRIC_GAUGE, NULL, 0);
	struct metric *s;
	va_list ap;

	va_start(ap, help);
	s = series_get(f, ap);
	va_end(ap);
	return s;
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const double *bounds,
				 int nbounds, ...)
{
	struct family *f = family_get(m, name, help, METRIC_HISTOGRAM, bounds, nbounds);
	struct metric *s;
	va_list ap;

	va_start(ap, nbounds);
	s = series_get(f, ap);
	va_end(ap);
	return s;
}

void metrics_add(struct metric *s, double v)
{
	if (!s || s->f->type == METRIC_HISTOGRAM)
		return;
	if (s->f->type == METRIC_COUNTER && !(v >= 0))
		return;		/* a counter never goes down (NaN refused too) */
	s->value += v;
}

void metrics_set(struct metric *s, double v)
{
	if (s && s->f->type != METRIC_HISTOGRAM)
		s->value = v;
}

void metrics_observe(struct metric *s, double v)
{
	int i;

	if (!s || s->f->type != METRIC_HISTOGRAM || isnan(v))
		return;
	for (i = 0; i < s->f->nbounds && v > s->f->bounds[i]; i++)
		;
	s->buckets[i] += 1;
	s->sum += v;
	s->count++;
}

double metrics_value(const struct metric *s)
{
	if (!s)
		return 0;
	return s->f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
}

/* ---- exposition ---- */

static void put_value(struct buf *b, double v)
{
	if (isnan(v))
		buf_printf(b, "NaN");
	else if (isinf(v))
		buf_printf(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(b, "%.0f", v);
	else
		buf_printf(b, "%.17g", v);
}

static void put_escaped(struct buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_printf(b, "\\\\");
		else if (*s == '\n')
			buf_printf(b, "\\n");
		else if (quote && *s == '"')
			buf_printf(b, "\\\"");
		else
			buf_putc(b, *s);
	}
}

/* name{labels[,le="x"]} */
static void put_series_name(struct buf *b, const struct metric *s, const char *suffix, const char *le)
{
	int i;

	buf_printf(b, "%s%s", s->f->name, suffix);
	if (s->nlabels == 0 && !le)
		return;
	buf_putc(b, '{');
	for (i = 0; i < s->nlabels; i++) {
		buf_printf(b, "%s%s=\"", i ? "," : "", s->names[i]);
		put_escaped(b, s->values[i], true);
		buf_putc(b, '"');
	}
	if (le)
		buf_printf(b, "%sle=\"%s\"", s->nlabels ? "," : "", le);
	buf_putc(b, '}');
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct buf b = { .cap = 4096 };
	const struct family *f;
	const struct metric *s;
	int i;

	for (i = 0; i < m->nhooks; i++)
		m->hooks[i].cb(m->hooks[i].arg);
	b.s = mw_malloc(b.cap);
	b.s[0] = '\0';
	for (f = m->head; f; f = f->next) {
		buf_printf(&b, "# HELP %s ", f->name);
		put_escaped(&b, f->help, false);
		buf_printf(&b, "\n# TYPE %s %s\n", f->name, type_name(f->type));
		for (s = f->head; s; s = s->next) {
			if (f->type != METRIC_HISTOGRAM) {
				put_series_name(&b, s, "", NULL);
				buf_putc(&b, ' ');
				put_value(&b, s->value);
				buf_putc(&b, '\n');
				continue;
			}
			{
				double cum = 0;
				char le[40];

				for (i = 0; i <= f->nbounds; i++) {
					cum += s->buckets[i];
					if (i < f->nbounds)
						snprintf(le, sizeof(le), "%g", f->bounds[i]);
					else
						snprintf(le, sizeof(le), "+Inf");
					put_series_name(&b, s, "_bucket", le);
					buf_putc(&b, ' ');
					put_value(&b, cum);
					buf_putc(&b, '\n');
				}
				put_series_name(&b, s, "_sum", NULL);
				buf_putc(&b, ' ');
				put_value(&b, s->sum);
				buf_putc(&b, '\n');
				put_series_name(&b, s, "_count", NULL);
				buf_putc(&b, ' ');
				put_value(&b, (double)s->count);
				buf_putc(&b, '\n');
			}
		}
	}
	if (len)
		*len = b.len;
	return b.s;
}

/* ---- shared families ---- */

static const double llm_bounds[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
static const double inputs_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048 };
static const double search_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const double results_bounds[] = { 0, 1, 2, 5, 10, 20, 50, 100, 1000 };

void metrics_llm_init(struct metrics_llm *l, struct metrics *m)
{
	static const char *const kinds[2] = { "chat", "embed" };
	static const char *const outcomes[2] = { "ok", "error" };
	static const char *const types[2] = { "prompt", "completion" };
	int k, o;

	memset(l, 0, sizeof(*l));
	for (k = 0; k < 2; k++) {
		for (o = 0; o < 2; o++) {
			l->duration[k][o] = metrics_histogram(
				m, "mem0_llm_request_duration_seconds",
				"Model calls, from accepted to answered (retries included), by kind and outcome",
				llm_bounds, (int)(sizeof(llm_bounds) / sizeof(llm_bounds[0])), "kind", kinds[k],
				"outcome", outcomes[o], NULL);
			l->tokens[k][o] = metrics_counter(m, "mem0_llm_tokens_total",
							  "Tokens the model server reported, by kind and type", "kind",
							  kinds[k], "type", types[o], NULL);
		}
		l->attempts[k] = metrics_counter(m, "mem0_llm_http_attempts_total",
						 "HTTP requests sent to the model server (retries included)", "kind",
						 kinds[k], NULL);
		l->retries[k] = metrics_counter(m, "mem0_llm_retries_total",
						"HTTP attempts after a transient failure (timeout, 429, 5xx)", "kind",
						kinds[k], NULL);
	}
	l->embed_inputs = metrics_histogram(m, "mem0_llm_embed_inputs_per_request", "Inputs per embeddings request",
					    inputs_bounds, (int)(sizeof(inputs_bounds) / sizeof(inputs_bounds[0])),
					    NULL);
}

void metrics_llm_done(const struct metrics_llm *l, enum metrics_llm_kind kind, bool ok, double started)
{
	if (!l || (kind != METRICS_LLM_CHAT && kind != METRICS_LLM_EMBED))
		return;
	metrics_observe(l->duration[kind][ok ? 0 : 1], metrics_now() - started);
}

void metrics_llm_collect(const struct metrics_llm *l, const struct llm_stats *chat, const struct llm_stats *embed)
{
	const struct llm_stats *st[2] = { chat, embed };
	int k;

	for (k = 0; k < 2; k++) {
		if (!st[k])
			continue;
		metrics_set(l->tokens[k][0], (double)st[k]->prompt_tokens);
		metrics_set(l->tokens[k][1], (double)st[k]->completion_tokens);
		metrics_set(l->attempts[k], (double)st[k]->attempts);
		metrics_set(l->retries[k], (double)st[k]->retries);
	}
}

void metrics_search_init(struct metrics_search *s, struct metrics *m)
{
	s->duration = metrics_histogram(m, "memsearch_search_duration_seconds",
					"Search requests, from read to reply (embedding and query included)",
					search_bounds, (int)(sizeof(search_bounds) / sizeof(search_bounds[0])), NULL);
	s->empty = metrics_counter(m, "memsearch_search_empty_total", "Searches that found no memory", NULL);
	s->results = metrics_histogram(m, "memsearch_search_results", "Results per search", results_bounds,
				       (int)(sizeof(results_bounds) / sizeof(results_bounds[0])), NULL);
}

void metrics_search_done(const struct metrics_search *s, double started, int nresults)
{
	if (!s)
		return;
	metrics_observe(s->duration, metrics_now() - started);
	metrics_observe(s->results, nresults);
	if (nresults == 0)
		metrics_add(s->empty, 1);
}

void metrics_search_request(struct metrics *m, const char *op, const char *outcome)
{
	if (!m)
		return;
	metrics_add(metrics_counter(m, "memsearch_requests_total", "Read-path requests answered, by op and outcome",
				    "op", op ? op : "", "outcome", outcome ? outcome : "", NULL),
		    1);
}
