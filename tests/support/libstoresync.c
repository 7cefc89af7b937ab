/*
 * storesync: see storesync.h.
 */
#include "storesync.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct waiter {
	int fired;
	enum store_status st;
	char *err;
	struct ssync_mems *mems;
	struct ssync_history *hist;
	struct store_apply_result apply;
	bool *seen;
	long long count;
	struct store_stats stats;
	char last[32];
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void note(struct waiter *w, enum store_status st, const char *err)
{
	w->fired++;
	w->st = st;
	free(w->err);
	w->err = dup_or_null(err);
}

/* After the call returned 0: the callback must not have fired yet; then it must, once. */
static void wait_for(struct event_base *base, struct waiter *w, int rc, const char *what)
{
	time_t until = time(NULL) + 30;

	cr_assert_eq(rc, 0, "%s: store refused the call", what);
	cr_assert_eq(w->fired, 0, "%s: callback fired inside the call", what);
	while (!w->fired && time(NULL) < until)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	cr_assert_eq(w->fired, 1, "%s: callback fired %d times", what, w->fired);
	/* one more turn: a second firing would show here */
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(w->fired, 1, "%s: callback fired again", what);
}

static void mems_cb(void *arg, enum store_status st, const struct store_memory *m, int n, const char *err)
{
	struct waiter *w = arg;
	int i;

	note(w, st, err);
	w->mems->st = st;
	w->mems->err = dup_or_null(err);
	w->mems->n = n;
	w->mems->m = calloc((size_t)(n ? n : 1), sizeof(*m));
	for (i = 0; i < n; i++) {
		w->mems->m[i] = m[i];
		w->mems->m[i].text = dup_or_null(m[i].text);
		w->mems->m[i].hash = dup_or_null(m[i].hash);
		w->mems->m[i].session_id = dup_or_null(m[i].session_id);
		w->mems->m[i].metadata = dup_or_null(m[i].metadata);
		w->mems->m[i].created_at = dup_or_null(m[i].created_at);
		w->mems->m[i].updated_at = dup_or_null(m[i].updated_at);
	}
}

void ssync_mems_clear(struct ssync_mems *r)
{
	int i;

	for (i = 0; i < r->n; i++) {
		free((char *)r->m[i].text);
		free((char *)r->m[i].hash);
		free((char *)r->m[i].session_id);
		free((char *)r->m[i].metadata);
		free((char *)r->m[i].created_at);
		free((char *)r->m[i].updated_at);
	}
	free(r->m);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

void ssync_search(struct store *s, struct event_base *base, const struct store_search *q, struct ssync_mems *out)
{
	struct waiter w = {.mems = out};

	memset(out, 0, sizeof(*out));
	wait_for(base, &w, store_search(s, q, mems_cb, &w), "search");
	free(w.err);
}

void ssync_candidates(struct store *s, struct event_base *base, int64_t user, const float *const *vecs, int nvec, int k,
                      struct ssync_mems *out)
{
	struct waiter w = {.mems = out};

	memset(out, 0, sizeof(*out));
	wait_for(base, &w, store_candidates(s, user, vecs, nvec, k, mems_cb, &w), "candidates");
	free(w.err);
}

void ssync_get(struct store *s, struct event_base *base, int64_t user, const char *id, struct ssync_mems *out)
{
	struct waiter w = {.mems = out};

	memset(out, 0, sizeof(*out));
	wait_for(base, &w, store_get(s, user, id, mems_cb, &w), "get");
	free(w.err);
}

void ssync_get_all(struct store *s, struct event_base *base, int64_t user, const char *session, int limit, int offset,
                   struct ssync_mems *out)
{
	struct waiter w = {.mems = out};

	memset(out, 0, sizeof(*out));
	wait_for(base, &w, store_get_all(s, user, session, limit, offset, mems_cb, &w), "get_all");
	free(w.err);
}

static void hist_cb(void *arg, enum store_status st, const struct store_history *h, int n, const char *err)
{
	struct waiter *w = arg;
	int i;

	note(w, st, err);
	w->hist->st = st;
	w->hist->err = dup_or_null(err);
	w->hist->n = n;
	w->hist->h = calloc((size_t)(n ? n : 1), sizeof(*h));
	for (i = 0; i < n; i++) {
		w->hist->h[i] = h[i];
		w->hist->h[i].action = dup_or_null(h[i].action);
		w->hist->h[i].previous_content = dup_or_null(h[i].previous_content);
		w->hist->h[i].new_content = dup_or_null(h[i].new_content);
		w->hist->h[i].metadata = dup_or_null(h[i].metadata);
		w->hist->h[i].created_at = dup_or_null(h[i].created_at);
	}
}

void ssync_history_clear(struct ssync_history *r)
{
	int i;

	for (i = 0; i < r->n; i++) {
		free((char *)r->h[i].action);
		free((char *)r->h[i].previous_content);
		free((char *)r->h[i].new_content);
		free((char *)r->h[i].metadata);
		free((char *)r->h[i].created_at);
	}
	free(r->h);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

void ssync_history(struct store *s, struct event_base *base, int64_t user, const char *id, struct ssync_history *out)
{
	struct waiter w = {.hist = out};

	memset(out, 0, sizeof(*out));
	wait_for(base, &w, store_history(s, user, id, hist_cb, &w), "history");
	free(w.err);
}

static void apply_cb(void *arg, enum store_status st, const struct store_apply_result *r, const char *err)
{
	struct waiter *w = arg;

	note(w, st, err);
	if (r)
		w->apply = *r;
}

enum store_status ssync_apply(struct store *s, struct event_base *base, const struct store_batch *b,
                              struct store_apply_result *r)
{
	struct waiter w = {0};

	wait_for(base, &w, store_apply(s, b, apply_cb, &w), "apply");
	if (r)
		*r = w.apply;
	free(w.err);
	return w.st;
}

static void keys_cb(void *arg, enum store_status st, const bool *seen, int n, const char *err)
{
	struct waiter *w = arg;

	note(w, st, err);
	if (seen)
		memcpy(w->seen, seen, sizeof(bool) * (size_t)n);
}

enum store_status ssync_filter_keys(struct store *s, struct event_base *base, int64_t user, const char *const *keys,
                                    int n, bool *seen)
{
	struct waiter w = {.seen = seen};

	wait_for(base, &w, store_filter_keys(s, user, keys, n, keys_cb, &w), "filter_keys");
	free(w.err);
	return w.st;
}

static void count_cb(void *arg, enum store_status st, long long n, const char *err)
{
	struct waiter *w = arg;

	note(w, st, err);
	w->count = n;
}

enum store_status ssync_delete(struct store *s, struct event_base *base, int64_t user, const char *id, long long *count)
{
	struct waiter w = {0};

	wait_for(base, &w, store_delete(s, user, id, "{\"by\":\"test\"}", count_cb, &w), "delete");
	if (count)
		*count = w.count;
	free(w.err);
	return w.st;
}

enum store_status ssync_delete_all(struct store *s, struct event_base *base, int64_t user, bool purge, long long *count)
{
	struct waiter w = {0};

	wait_for(base, &w, store_delete_all(s, user, purge, "{\"by\":\"test\"}", count_cb, &w), "delete_all");
	if (count)
		*count = w.count;
	free(w.err);
	return w.st;
}

static void stats_cb(void *arg, enum store_status st, const struct store_stats *stats, const char *err)
{
	struct waiter *w = arg;

	note(w, st, err);
	if (stats) {
		w->stats = *stats;
		snprintf(w->last, sizeof(w->last), "%s", stats->last_memory_at ? stats->last_memory_at : "");
	}
}

enum store_status ssync_stats(struct store *s, struct event_base *base, int64_t user, long long *total, char last[32],
                              long long *history_rows)
{
	struct waiter w = {0};

	wait_for(base, &w, store_stats(s, user, stats_cb, &w), "stats");
	if (total)
		*total = w.stats.total_memories;
	if (history_rows)
		*history_rows = w.stats.history_rows;
	if (last)
		snprintf(last, 32, "%s", w.last);
	free(w.err);
	return w.st;
}
