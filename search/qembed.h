/*
 * qembed: query embeddings for memsearch. A bounded LRU cache (lru.h) of
 * text -> vector in front of models_embed; the misses of one loop iteration
 * are deduplicated and sent as one embeddings request (up to the model's
 * batch size). Runs on the caller's loop.
 */
#ifndef MW_QEMBED_H
#define MW_QEMBED_H

#include <stddef.h>

struct event_base;
struct models;
struct qembed;

/* status 0: vec holds dims floats, borrowed until the callback returns. */
typedef void (*qembed_cb)(void *arg, int status, const float *vec, const char *errstr);

/* models may be NULL: every lookup then fails ("embeddings are not configured"). */
struct qembed *qembed_new(struct event_base *base, struct models *models, int dims, size_t cache_entries);

/*
 * Looks text up (copied). Returns 0 and cb fires exactly once, never inside
 * this call (a cache hit too: from the loop's next turn).
 */
int qembed_get(struct qembed *q, const char *text, qembed_cb cb, void *arg) __attribute__((warn_unused_result));

unsigned long long qembed_hits(const struct qembed *q);
unsigned long long qembed_misses(const struct qembed *q);

/*
 * Call after models_free (which fails the requests in flight): fails every
 * lookup still waiting, then frees.
 */
void qembed_free(struct qembed *q);

#endif
