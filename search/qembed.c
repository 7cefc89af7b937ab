/*
 * qembed: see qembed.h. Lookups queue up and a zero-delay event flushes
 * them at the loop's next turn: hits answer from the cache, misses become
 * embeddings requests (one per model batch) and are cached when they come
 * back. Owns the cache, the queue and the batches in flight.
 */
#include "qembed.h"

#include "log.h"
#include "lru.h"
#include "models.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 64

struct waiter {
	struct waiter *next;
	char *text;
	qembed_cb cb;
	void *arg;
};

/* One embeddings request: distinct texts, each with the lookups waiting on it. */
struct batch {
	struct qembed *q;
	struct batch *prev, *next;
	int n;
	const char **texts;		/* borrowed from the first waiter of each text */
	struct waiter **waiting;	/* per text */
};

struct qembed {
	struct event_base *base;
	struct models *models;
	int dims;
	struct lru *cache;
	struct waiter *queue, **queue_tail;
	struct event *flush_ev;
	struct batch *batches;		/* in flight */
};

static void fire(struct waiter *w, int status, const float *vec, const char *errstr)
{
	while (w) {
		struct waiter *next = w->next;

		w->cb(w->arg, status, vec, errstr);
		free(w->text);
		free(w);
		w = next;
	}
}

static void batch_free(struct batch *b)
{
	struct qembed *q = b->q;

	if (b->prev)
		b->prev->next = b->next;
	else
		q->batches = b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b->texts);
	free(b->waiting);
	free(b);
}

static void embed_done(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct batch *b = arg;
	struct qembed *q = b->q;
	int i;

	if (status == 0 && (n != b->n || dims != q->dims)) {
		log_error("embeddings: asked for %d vectors of %d dimensions, got %d of %d", b->n, q->dims, n, dims);
		status = -1;
		errstr = "the embedding model answered with the wrong number or size of vectors";
	}
	for (i = 0; i < b->n; i++) {
		if (status == 0) {
			const float *v = vecs + (size_t)i * (size_t)dims;

			lru_put(q->cache, b->texts[i], v, sizeof(float) * (size_t)dims);
			fire(b->waiting[i], 0, v, NULL);
		} else {
			fire(b->waiting[i], -1, NULL, errstr ? errstr : "embedding failed");
		}
	}
	batch_free(b);
}

static void send_batch(struct qembed *q, struct batch *b)
{
	int i;

	b->q = q;
	b->next = q->batches;
	if (q->batches)
		q->batches->prev = b;
	q->batches = b;
	if (models_embed(q->models, b->texts, b->n, embed_done, b) != 0) {
		for (i = 0; i < b->n; i++)
			fire(b->waiting[i], -1, NULL, "the embedding model is not reachable");
		batch_free(b);
	}
}

static void flush(evutil_socket_t fd, short what, void *arg)
{
	struct qembed *q = arg;
	struct waiter *w = q->queue, *next;
	struct batch *b = NULL;
	int max = q->models ? models_embed_batch_max(q->models) : 0, i;

	(void)fd;
	(void)what;
	q->queue = NULL;
	q->queue_tail = &q->queue;
	if (max < 1)
		max = DEFAULT_BATCH;
	for (; w; w = next) {
		const float *v;

		next = w->next;
		w->next = NULL;
		if (!q->models) {
			fire(w, -1, NULL, "embeddings are not configured (MEM0_MODELS)");
			continue;
		}
		v = lru_get(q->cache, w->text, NULL);
		if (v) {
			fire(w, 0, v, NULL);
			continue;
		}
		/* the same text twice in one turn is embedded once */
		for (i = 0; b && i < b->n; i++)
			if (strcmp(b->texts[i], w->text) == 0)
				break;
		if (b && i < b->n) {
			w->next = b->waiting[i];
			b->waiting[i] = w;
			continue;
		}
		if (b && b->n == max) {
			send_batch(q, b);
			b = NULL;
		}
		if (!b) {
			b = mw_calloc(1, sizeof(*b));
			b->texts = mw_calloc((size_t)max, sizeof(*b->texts));
			b->waiting = mw_calloc((size_t)max, sizeof(*b->waiting));
		}
		b->texts[b->n] = w->text;
		b->waiting[b->n++] = w;
	}
	if (b)
		send_batch(q, b);
}

struct qembed *qembed_new(struct event_base *base, struct models *models, int dims, size_t cache_entries)
{
	struct qembed *q = mw_calloc(1, sizeof(*q));

	q->base = base;
	q->models = models;
	q->dims = dims;
	q->cache = lru_new(cache_entries);
	q->queue_tail = &q->queue;
	q->flush_ev = event_new(base, -1, 0, flush, q);
	return q;
}

int qembed_get(struct qembed *q, const char *text, qembed_cb cb, void *arg)
{
	struct waiter *w = mw_calloc(1, sizeof(*w));

	w->text = mw_strdup(text);
	w->cb = cb;
	w->arg = arg;
	*q->queue_tail = w;
	q->queue_tail = &w->next;
	if (!event_pending(q->flush_ev, EV_TIMEOUT, NULL))
		event_active(q->flush_ev, EV_TIMEOUT, 0);
	return 0;
}

unsigned long long qembed_hits(const struct qembed *q)
{
	return lru_hits(q->cache);
}

unsigned long long qembed_misses(const struct qembed *q)
{
	return lru_misses(q->cache);
}

void qembed_free(struct qembed *q)
{
	struct waiter *w;
	int i;

	if (!q)
		return;
	w = q->queue;
	q->queue = NULL;
	fire(w, -1, NULL, "shutting down");
	while (q->batches) {
		struct batch *b = q->batches;

		for (i = 0; i < b->n; i++)
			fire(b->waiting[i], -1, NULL, "shutting down");
		batch_free(b);
	}
	event_free(q->flush_ev);
	lru_free(q->cache);
	free(q);
}
