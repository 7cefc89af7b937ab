/*
 * batch: per-user queues (a small hash map keyed by user_db_id) and the
 * batch state machine. A user has at most one batch in flight; the next
 * forms when it ends. A batch takes the oldest pending entries of one
 * session, so memories are attributed to the session they came from and a
 * user's messages are applied in stream order.
 */
#include "batch.h"

#include "app.h"
#include "cfg.h"
#include "embed.h"
#include "entry.h"
#include "log.h"
#include "mhash.h"
#include "models.h"
#include "wmetrics.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUERY_TURNS 16	/* newest user turns used to find candidates */
#define RETRY_MAX_MS 30000

struct user_queue {
	struct user_queue *next;	/* hash chain */
	struct batcher *b;
	int64_t user;
	struct entry **pending;
	int npending, cap;
	struct batch *inflight;
	struct event *timer;
	bool due;
};

struct batcher {
	struct app *app;
	struct user_queue **buckets;
	size_t nbuckets;
	size_t nqueues;
	int inflight;			/* batches */
	int pending;			/* entries waiting in queues */
};

static void try_flush(struct user_queue *q);

/* ---- queues ---- */

static size_t bucket_of(const struct batcher *b, int64_t user)
{
	uint64_t h = (uint64_t)user * 0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 32) % b->nbuckets;
}

static void window_cb(evutil_socket_t fd, short what, void *arg)
{
	struct user_queue *q = arg;

	(void)fd;
	(void)what;
	q->due = true;
	try_flush(q);
}

static struct user_queue *queue_get(struct batcher *b, int64_t user)
{
	size_t i = bucket_of(b, user);
	struct user_queue *q;

	for (q = b->buckets[i]; q; q = q->next)
		if (q->user == user)
			return q;
	q = mw_calloc(1, sizeof(*q));
	q->b = b;
	q->user = user;
	q->timer = evtimer_new(b->app->base, window_cb, q);
	q->next = b->buckets[i];
	b->buckets[i] = q;
	b->nqueues++;
	return q;
}

static void queue_drop_if_idle(struct user_queue *q)
{
	struct batcher *b = q->b;
	struct user_queue **pp;

	if (q->inflight || q->npending)
		return;
	for (pp = &b->buckets[bucket_of(b, q->user)]; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	}
	b->nqueues--;
	event_free(q->timer);
	free(q->pending);
	free(q);
}

struct batcher *batcher_new(struct app *app)
{
	struct batcher *b = mw_calloc(1, sizeof(*b));

	b->app = app;
	b->nbuckets = 4096;
	b->buckets = mw_calloc(b->nbuckets, sizeof(*b->buckets));
	return b;
}

void batcher_add(struct batcher *b, struct entry *e)
{
	struct user_queue *q = queue_get(b, e->user);
	const struct cfg *cfg = b->app->cfg;

	if (q->npending == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->pending = mw_realloc(q->pending, sizeof(*q->pending) * (size_t)q->cap);
	}
	q->pending[q->npending++] = e;
	b->pending++;
	if (q->npending >= cfg->batch_max || cfg->batch_window_ms == 0) {
		q->due = true;
	} else if (!evtimer_pending(q->timer, NULL)) {
		struct timeval tv = { cfg->batch_window_ms / 1000, (cfg->batch_window_ms % 1000) * 1000 };
		evtimer_add(q->timer, &tv);
	}
	try_flush(q);
}

void batcher_flush_all(struct batcher *b)
{
	size_t i;

	for (i = 0; i < b->nbuckets; i++) {
		struct user_queue *q, *next;

		for (q = b->buckets[i]; q; q = next) {
			next = q->next;
			q->due = true;
			try_flush(q);
		}
	}
}

int batcher_active(const struct batcher *b)
{
	return b->inflight + b->pending;
}

/* ---- batches ---- */

/* Everything derived from the entries (not the entries themselves). */
static void free_derived(struct batch *b)
{
	int i;

	free(b->applied);
	free(b->msgs);
	free(b->user_turns);
	free(b->qvecs);
	for (i = 0; i < b->ncands; i++) {
		free(b->cands[i].text);
		free(b->cands[i].hash);
	}
	free(b->cands);
	for (i = 0; i < b->nfacts; i++)
		free(b->facts[i]);
	free(b->facts);
	prompt_action_list_free(&b->actions);
	for (i = 0; i < b->nchanges; i++) {
		free(b->change_texts[i]);
		free(b->change_hashes[i]);
	}
	free(b->changes);
	free(b->change_texts);
	free(b->change_hashes);
	free(b->newvecs);
	free(b->memory_meta);
	free(b->history_meta);
}

static void batch_free(struct batch *b)
{
	if (b->retry_timer)
		event_free(b->retry_timer);
	free_derived(b);
	free(b->entries);
	free(b);
}

/* Forgets everything derived from the entries: the batch starts over at FILTER. */
static void batch_reset(struct batch *b)
{
	struct batch fresh = { 0 };

	free_derived(b);
	fresh.app = b->app;
	fresh.q = b->q;
	fresh.user = b->user;
	fresh.entries = b->entries;
	fresh.n = b->n;
	fresh.retry_timer = b->retry_timer;
	fresh.conflicts = b->conflicts;
	*b = fresh;
}

static void try_flush(struct user_queue *q)
{
	struct batcher *bt = q->b;
	struct app *app = bt->app;
	struct batch *b;
	int take = 0, i;

	if (q->inflight || q->npending == 0 || !(q->due || app->stopping))
		return;
	while (take < q->npending && take < app->cfg->batch_max &&
	       strcmp(q->pending[take]->session_id, q->pending[0]->session_id) == 0)
		take++;
	b = mw_calloc(1, sizeof(*b));
	b->app = app;
	b->q = q;
	b->user = q->user;
	b->n = take;
	b->entries = mw_malloc(sizeof(*b->entries) * (size_t)take);
	memcpy(b->entries, q->pending, sizeof(*b->entries) * (size_t)take);
	memmove(q->pending, q->pending + take, sizeof(*q->pending) * (size_t)(q->npending - take));
	q->npending -= take;
	bt->pending -= take;
	q->inflight = b;
	bt->inflight++;
	app->stats.batches++;
	wm_batch(app->wm, take);
	/* what is left waits for its own window unless it is already a full batch */
	q->due = q->npending >= app->cfg->batch_max;
	if (q->npending && !q->due && !evtimer_pending(q->timer, NULL)) {
		struct timeval tv = { app->cfg->batch_window_ms / 1000, (app->cfg->batch_window_ms % 1000) * 1000 };
		evtimer_add(q->timer, &tv);
	}
	for (i = 0; i < take; i++)
		ulog_debug(b->user, b->entries[i]->stream_id, "batched (%d in batch)", take);
	b->state = BATCH_FILTER;
	batch_step(b);
}

void batch_finish(struct batch *b, const char *reason)
{
	struct user_queue *q = b->q;
	struct batcher *bt = q->b;
	struct app *app = b->app;
	struct entry **ack = mw_malloc(sizeof(*ack) * (size_t)(b->n ? b->n : 1));
	int i, nack = 0;

	for (i = 0; i < b->n; i++) {
		if (reason)
			ack_dead_letter(app, b->entries[i], reason);
		else
			ack[nack++] = b->entries[i];
	}
	if (nack)
		ack_entries(app, ack, nack);
	else
		free(ack);
	if (reason)
		app->stats.batches_failed++;
	b->state = BATCH_DONE;
	q->inflight = NULL;
	bt->inflight--;
	batch_free(b);
	try_flush(q);
	queue_drop_if_idle(q);
	intake_kick(app);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	batch_step(arg);
}

void batch_retry_later(struct batch *b, const char *why)
{
	int ms = 250 << (b->attempts < 7 ? b->attempts : 7);
	struct timeval tv;

	if (ms > RETRY_MAX_MS)
		ms = RETRY_MAX_MS;
	ms = ms / 2 + rand() % (ms / 2 + 1);
	b->attempts++;
	ulog_warn(b->user, b->entries[0]->stream_id, "batch of %d: %s; retrying in %d ms (attempt %d)", b->n, why, ms,
		  b->attempts);
	if (!b->retry_timer)
		b->retry_timer = evtimer_new(b->app->base, retry_cb, b);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(b->retry_timer, &tv);
}

/* ---- FILTER ---- */

/*
 * The same key twice in one batch (a client retry, a replayed range holding
 * copies): the later copies are replays. Left live, both would go into the
 * ingest log in one transaction, which the guard reads as a concurrent apply
 * and rolls back, again and again.
 */
static bool key_live_earlier(const struct batch *b, int i)
{
	int j;

	for (j = 0; j < i; j++)
		if (!b->applied[j] && strcmp(b->entries[j]->message_key, b->entries[i]->message_key) == 0)
			return true;
	return false;
}

static void filter_done(void *arg, enum store_status st, const bool *seen, int n, const char *errstr)
{
	struct batch *b = arg;
	int i, live = 0, j;

	if (st != STORE_OK) {
		batch_retry_later(b, errstr ? errstr : "store unavailable");
		return;
	}
	b->attempts = 0;
	b->applied = mw_calloc((size_t)b->n, sizeof(bool));
	for (i = 0; i < n && i < b->n; i++) {
		b->applied[i] = seen[i] || key_live_earlier(b, i);
		if (b->applied[i]) {
			b->app->stats.replayed++;
			ulog_info(b->user, b->entries[i]->stream_id, "message %s was applied before%s: skipped",
				  b->entries[i]->message_key, seen[i] ? "" : " (earlier in this batch)");
		} else {
			live++;
		}
	}
	if (live == 0) {
		batch_finish(b, NULL);
		return;
	}
	/* the turns the model sees; user turns of inferring entries are embedded for retrieval */
	for (i = 0; i < b->n; i++)
		if (!b->applied[i] && b->entries[i]->infer)
			b->nmsgs += b->entries[i]->nmsgs;
	b->msgs = mw_calloc((size_t)(b->nmsgs ? b->nmsgs : 1), sizeof(*b->msgs));
	b->user_turns = mw_calloc((size_t)(b->nmsgs ? b->nmsgs : 1), sizeof(char *));
	b->nmsgs = 0;
	for (i = 0; i < b->n; i++) {
		struct entry *e = b->entries[i];

		if (b->applied[i] || !e->infer)
			continue;
		for (j = 0; j < e->nmsgs; j++) {
			b->msgs[b->nmsgs].role = e->msgs[j].role;
			b->msgs[b->nmsgs].content = e->msgs[j].content;
			b->nmsgs++;
			if (strcmp(e->msgs[j].role, "user") == 0)
				b->user_turns[b->nuser++] = e->msgs[j].content;
		}
	}
	if (b->nuser == 0) {
		/* nothing the user said needs the model: only direct (infer=false) memories */
		batch_build_changes(b);
		b->state = BATCH_EMBED_NEW;
	} else if (b->app->cfg->pipeline == CFG_PIPELINE_TWO_PASS) {
		b->state = BATCH_EXTRACT;	/* facts first; retrieval per fact */
	} else {
		b->state = BATCH_EMBED_QUERY;
	}
	batch_step(b);
}

/* ---- EMBED_QUERY / RETRIEVE ---- */

static void query_vecs_done(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct batch *b = arg;

	if (status != 0) {
		batch_retry_later(b, errstr);
		return;
	}
	b->attempts = 0;
	b->qvecs = mw_malloc(sizeof(float) * (size_t)n * (size_t)dims);
	memcpy(b->qvecs, vecs, sizeof(float) * (size_t)n * (size_t)dims);
	b->state = BATCH_RETRIEVE;
	batch_step(b);
}

static void batch_set_candidates(struct batch *b, const struct store_memory *m, int n)
{
	int i;

	for (i = 0; i < b->ncands; i++) {
		free(b->cands[i].text);
		free(b->cands[i].hash);
	}
	free(b->cands);
	b->cands = mw_calloc((size_t)(n ? n : 1), sizeof(*b->cands));
	b->ncands = n;
	for (i = 0; i < n; i++) {
		snprintf(b->cands[i].id, sizeof(b->cands[i].id), "%s", m[i].id);
		b->cands[i].text = mw_strdup(m[i].text);
		b->cands[i].hash = mw_strdup(m[i].hash);
		b->cands[i].score = m[i].score;
	}
}

void batch_candidates_done(void *arg, enum store_status st, const struct store_memory *m, int n,
			   const char *errstr)
{
	struct batch *b = arg;

	if (st != STORE_OK) {
		batch_retry_later(b, errstr ? errstr : "store unavailable");
		return;
	}
	b->attempts = 0;
	batch_set_candidates(b, m, n);
	b->cands_ready = true;
	b->state = BATCH_EXTRACT;
	batch_step(b);
}

static void run_retrieve(struct batch *b)
{
	int dims = models_dims(b->app->models);
	int first = b->nuser > MAX_QUERY_TURNS ? b->nuser - MAX_QUERY_TURNS : 0;
	const float *vecs[MAX_QUERY_TURNS];
	int i, nv = 0;

	for (i = first; i < b->nuser; i++)
		vecs[nv++] = b->qvecs + (size_t)i * (size_t)dims;
	if (store_candidates(b->app->store, b->user, vecs, nv, b->app->cfg->top_k, batch_candidates_done, b) < 0)
		batch_retry_later(b, "store not connected");
}

/* ---- EMBED_NEW ---- */

static void new_vecs_done(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct batch *b = arg;
	int i, k = 0;

	if (status != 0) {
		batch_retry_later(b, errstr);
		return;
	}
	b->attempts = 0;
	b->newvecs = mw_malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)dims);
	memcpy(b->newvecs, vecs, sizeof(float) * (size_t)n * (size_t)dims);
	for (i = 0; i < b->nchanges; i++)
		if (b->changes[i].kind != STORE_DELETE)
			b->changes[i].embedding = b->newvecs + (size_t)(k++) * (size_t)dims;
	b->state = BATCH_APPLY;
	batch_step(b);
}

static void run_embed_new(struct batch *b)
{
	const char **texts;
	int i, n = 0;

	if (b->newvecs) {	/* a retry after the vectors were made */
		b->state = BATCH_APPLY;
		batch_step(b);
		return;
	}
	texts = mw_calloc((size_t)(b->nchanges ? b->nchanges : 1), sizeof(char *));
	for (i = 0; i < b->nchanges; i++)
		if (b->changes[i].kind != STORE_DELETE)
			texts[n++] = b->changes[i].text;
	if (n == 0) {
		free(texts);
		b->state = BATCH_APPLY;
		batch_step(b);
		return;
	}
	/* texts point into change_texts, alive until the batch is freed */
	emb_request(b->app->embedder, texts, n, new_vecs_done, b);
	free(b->user_turns);
	b->user_turns = texts;	/* kept alive with the batch, freed with it */
}

/* ---- the machine ---- */

void batch_step(struct batch *b)
{
	switch (b->state) {
	case BATCH_FILTER: {
		const char **keys = mw_calloc((size_t)b->n, sizeof(char *));
		int i;

		for (i = 0; i < b->n; i++)
			keys[i] = b->entries[i]->message_key;
		if (b->applied)
			batch_reset(b);
		if (store_filter_keys(b->app->store, b->user, keys, b->n, filter_done, b) < 0)
			batch_retry_later(b, "store not connected");
		free(keys);
		break;
	}
	case BATCH_EMBED_QUERY:
		emb_request(b->app->embedder, b->user_turns, b->nuser, query_vecs_done, b);
		break;
	case BATCH_RETRIEVE:
		run_retrieve(b);
		break;
	case BATCH_EXTRACT:
		run_extract(b);
		break;
	case BATCH_EMBED_NEW:
		run_embed_new(b);
		break;
	case BATCH_APPLY:
		run_apply(b);
		break;
	case BATCH_DONE:
	default:
		ulog_error(b->user, NULL, "batch in unexpected state %d", (int)b->state);
		break;
	}
}

void batcher_free(struct batcher *b)
{
	size_t i;

	if (!b)
		return;
	/* only idle queues remain at a clean exit; anything else stays pending in Redis */
	for (i = 0; i < b->nbuckets; i++) {
		struct user_queue *q, *next;

		for (q = b->buckets[i]; q; q = next) {
			int k;

			next = q->next;
			for (k = 0; k < q->npending; k++) {
				entry_free(q->pending[k]);
				free(q->pending[k]);
			}
			if (q->inflight) {
				for (k = 0; k < q->inflight->n; k++) {
					entry_free(q->inflight->entries[k]);
					free(q->inflight->entries[k]);
				}
				batch_free(q->inflight);
			}
			event_free(q->timer);
			free(q->pending);
			free(q);
		}
	}
	free(b->buckets);
	free(b);
}
