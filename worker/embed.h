/*
 * embed: the worker's embedding stage, shared across batches. Requests made
 * during one turn of the loop (plus a short window) go out together, cut
 * into model requests of at most models_embed_batch_max() inputs, and each
 * requester gets its own rows back in order.
 */
#ifndef MW_EMBED_H
#define MW_EMBED_H

struct event_base;
struct models;
struct app_stats;
struct wmetrics;

/* vecs: n x dims, borrowed until the callback returns. */
typedef void (*emb_cb)(void *arg, int status, const float *vecs, int n, int dims, const char *errstr);

/* stats and wm (may be NULL) are borrowed for the embedder's life. */
struct embedder *emb_new(struct event_base *base, struct models *models, struct app_stats *stats,
			 struct wmetrics *wm);
/* texts are borrowed until cb fires (exactly once, never inside this call). */
void emb_request(struct embedder *e, const char *const *texts, int n, emb_cb cb, void *arg);
/* Fails every request not yet answered. */
void emb_free(struct embedder *e);

#endif
