/*
 * storesync: blocking wrappers around store.h for tests: each starts the
 * operation, asserts its callback did not fire inside the call, runs the
 * loop until it fires (asserting it fires once, within 30 s), and hands back
 * deep copies of the results (free with the matching *_clear).
 */
#ifndef MW_STORESYNC_H
#define MW_STORESYNC_H

#include "store.h"

#include <stdbool.h>
#include <stdint.h>

struct event_base;

struct ssync_mems {
	enum store_status st;
	int n;
	struct store_memory *m; /* strings are malloc'd copies */
	char *err;
};

struct ssync_history {
	enum store_status st;
	int n;
	struct store_history *h;
	char *err;
};

void ssync_mems_clear(struct ssync_mems *r);
void ssync_history_clear(struct ssync_history *r);

void ssync_search(struct store *s, struct event_base *base, const struct store_search *q, struct ssync_mems *out);
void ssync_candidates(struct store *s, struct event_base *base, int64_t user, const float *const *vecs, int nvec, int k,
                      struct ssync_mems *out);
void ssync_get(struct store *s, struct event_base *base, int64_t user, const char *id, struct ssync_mems *out);
void ssync_get_all(struct store *s, struct event_base *base, int64_t user, const char *session, int limit, int offset,
                   struct ssync_mems *out);
void ssync_history(struct store *s, struct event_base *base, int64_t user, const char *id, struct ssync_history *out);
/* Returns the status; *r (may be NULL) gets the counts. */
enum store_status ssync_apply(struct store *s, struct event_base *base, const struct store_batch *b,
                              struct store_apply_result *r);
/* seen[] gets n flags. */
enum store_status ssync_filter_keys(struct store *s, struct event_base *base, int64_t user, const char *const *keys,
                                    int n, bool *seen);
enum store_status ssync_delete(struct store *s, struct event_base *base, int64_t user, const char *id,
                               long long *count);
enum store_status ssync_delete_all(struct store *s, struct event_base *base, int64_t user, bool purge,
                                   long long *count);
/* last_memory_at copied into last (size >= 32), "" when NULL. */
enum store_status ssync_stats(struct store *s, struct event_base *base, int64_t user, long long *total, char last[32],
                              long long *history_rows);

#endif
