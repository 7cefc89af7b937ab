/*
 * embed: see embed.h. A request's texts may be cut across model requests
 * (chunks); the request completes when its last chunk does, and fails once
 * if any chunk failed.
 */
#include "embed.h"

#include "app.h"
#include "log.h"
#include "models.h"
#include "wmetrics.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_WINDOW_US 2000	/* let batches finishing together share a request */
/*
 * At most this many embedding requests in flight: while they are, new
 * inputs wait and go out together when one returns, so a slow model gets
 * fewer, fuller requests instead of one per batch.
 */
#define EMBED_MAX_INFLIGHT 4

struct emb_req {
	struct emb_req *next;
	const char *const *texts;
	int n;
	emb_cb cb;
	void *arg;
	float *out;
	int chunks_pending;
	bool failed;
	char errstr[256];
};

struct emb_seg {
	struct emb_req *req;
	int off, cnt;
};

struct emb_chunk {
	struct embedder *e;
	struct emb_seg *segs;
	int nseg;
	const char **texts;
	int n;
	double t0;			/* sent at, for metrics */
};

struct embedder {
	struct event_base *base;
	struct models *models;
	struct app_stats *stats;
	struct wmetrics *wm;
	struct event *flush_ev;
	struct emb_req *head, *tail;	/* waiting for the flush */
	int chunks_inflight;
};

static void req_complete(struct emb_req *r, int dims)
{
	if (r->failed)
		r->cb(r->arg, -1, NULL, 0, dims, r->errstr);
	else
		r->cb(r->arg, 0, r->out, r->n, dims, NULL);
	free(r->out);
	free(r);
}

static void chunk_done(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct emb_chunk *c = arg;
	bool ok = status == 0 && n == c->n;
	int i, row = 0;

	c->e->chunks_inflight--;
	if (c->e->head && !evtimer_pending(c->e->flush_ev, NULL))
		event_active(c->e->flush_ev, EV_TIMEOUT, 0);
	wm_llm(c->e->wm, METRICS_LLM_EMBED, ok, c->t0);
	for (i = 0; i < c->nseg; i++) {
		struct emb_seg *s = &c->segs[i];
		struct emb_req *r = s->req;

		if (!ok && !r->failed) {
			r->failed = true;
			snprintf(r->errstr, sizeof(r->errstr), "embedding failed: %s",
				 errstr ? errstr : "wrong number of vectors");
		} else if (ok && !r->failed) {
			if (!r->out)
				r->out = mw_malloc(sizeof(float) * (size_t)r->n * (size_t)dims);
			/* this segment's rows follow the earlier segments' in the chunk */
			memcpy(r->out + (size_t)s->off * (size_t)dims, vecs + (size_t)row * (size_t)dims,
			       sizeof(float) * (size_t)s->cnt * (size_t)dims);
		}
		row += s->cnt;
	}
	for (i = 0; i < c->nseg; i++) {
		struct emb_req *r = c->segs[i].req;
		if (--r->chunks_pending == 0)
			req_complete(r, dims);
	}
	free(c->segs);
	free(c->texts);
	free(c);
}

static void chunk_refused(evutil_socket_t fd, short what, void *arg)
{
	struct emb_chunk *c = arg;

	(void)fd;
	(void)what;
	chunk_done(c, -1, NULL, 0, models_dims(c->e->models), "the model client refused the request");
}

static void send_chunk(struct embedder *e, struct emb_chunk *c)
{
	e->stats->embed_requests++;
	e->stats->embed_inputs += c->n;
	c->t0 = metrics_now();
	wm_embed_inputs(e->wm, c->n);
	e->chunks_inflight++;
	if (models_embed(e->models, c->texts, c->n, chunk_done, c) < 0)
		/* answered from the loop: later chunks of the same requests are not counted yet */
		event_base_once(e->base, -1, EV_TIMEOUT, chunk_refused, c, NULL);
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct embedder *e = arg;
	int max = models_embed_batch_max(e->models);
	struct emb_chunk *c = NULL;
	struct emb_req *r, *next;

	(void)fd;
	(void)what;
	if (e->chunks_inflight >= EMBED_MAX_INFLIGHT)
		return;		/* chunk_done flushes when a slot frees */
	r = e->head;
	e->head = e->tail = NULL;
	/* every request's chunk count is known before any chunk is sent */
	for (; r; r = next) {
		int off = 0;

		next = r->next;
		if (r->n == 0) {
			req_complete(r, models_dims(e->models));
			continue;
		}
		while (off < r->n) {
			int take;

			if (!c) {
				c = mw_calloc(1, sizeof(*c));
				c->e = e;
				c->texts = mw_calloc((size_t)max, sizeof(char *));
				c->segs = mw_calloc((size_t)max, sizeof(*c->segs));
			}
			take = r->n - off;
			if (take > max - c->n)
				take = max - c->n;
			memcpy(c->texts + c->n, r->texts + off, sizeof(char *) * (size_t)take);
			c->segs[c->nseg++] = (struct emb_seg){ .req = r, .off = off, .cnt = take };
			r->chunks_pending++;
			c->n += take;
			off += take;
			if (c->n == max) {
				send_chunk(e, c);
				c = NULL;
			}
		}
	}
	if (c)
		send_chunk(e, c);
}

struct embedder *emb_new(struct event_base *base, struct models *models, struct app_stats *stats,
			 struct wmetrics *wm)
{
	struct embedder *e = mw_calloc(1, sizeof(*e));

	e->base = base;
	e->models = models;
	e->stats = stats;
	e->wm = wm;
	e->flush_ev = evtimer_new(base, flush_cb, e);
	return e;
}

void emb_request(struct embedder *e, const char *const *texts, int n, emb_cb cb, void *arg)
{
	struct emb_req *r = mw_calloc(1, sizeof(*r));
	struct timeval tv = { 0, EMBED_WINDOW_US };

	r->texts = texts;
	r->n = n;
	r->cb = cb;
	r->arg = arg;
	if (e->tail)
		e->tail->next = r;
	else
		e->head = r;
	e->tail = r;
	if (!evtimer_pending(e->flush_ev, NULL))
		evtimer_add(e->flush_ev, &tv);
}

void emb_free(struct embedder *e)
{
	struct emb_req *r, *next;

	if (!e)
		return;
	for (r = e->head; r; r = next) {
		next = r->next;
		r->failed = true;
		snprintf(r->errstr, sizeof(r->errstr), "shutting down");
		req_complete(r, models_dims(e->models));
	}
	event_free(e->flush_ev);
	free(e);
}
