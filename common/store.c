/*
 * store: dispatch to the backend (see store.h).
 */
#include "store.h"

#include <stdlib.h>

int store_filter_keys(struct store *s, int64_t user, const char *const *keys, int n, store_keys_cb cb, void *arg)
{
	return s->vt->filter_keys(s, user, keys, n, cb, arg);
}

int store_candidates(struct store *s, int64_t user, const float *const *vecs, int nvec, int k, store_mems_cb cb,
		     void *arg)
{
	return s->vt->candidates(s, user, vecs, nvec, k, cb, arg);
}

int store_apply(struct store *s, const struct store_batch *b, store_apply_cb cb, void *arg)
{
	return s->vt->apply(s, b, cb, arg);
}

int store_search(struct store *s, const struct store_search *q, store_mems_cb cb, void *arg)
{
	return s->vt->search(s, q, cb, arg);
}

int store_get(struct store *s, int64_t user, const char *memory_id, store_mems_cb cb, void *arg)
{
	return s->vt->get(s, user, memory_id, cb, arg);
}

int store_get_all(struct store *s, int64_t user, const char *session_id, int limit, int offset, store_mems_cb cb,
		  void *arg)
{
	return s->vt->get_all(s, user, session_id, limit, offset, cb, arg);
}

int store_history(struct store *s, int64_t user, const char *memory_id, store_history_cb cb, void *arg)
{
	return s->vt->history(s, user, memory_id, cb, arg);
}

int store_delete(struct store *s, int64_t user, const char *memory_id, const char *history_meta, store_count_cb cb,
		 void *arg)
{
	return s->vt->delete_one(s, user, memory_id, history_meta, cb, arg);
}

int store_delete_all(struct store *s, int64_t user, bool purge, const char *history_meta, store_count_cb cb,
		     void *arg)
{
	return s->vt->delete_all(s, user, purge, history_meta, cb, arg);
}

int store_stats(struct store *s, int64_t user, store_stats_cb cb, void *arg)
{
	return s->vt->stats(s, user, cb, arg);
}

bool store_ready(const struct store *s)
{
	return s->vt->ready(s);
}

int store_dims(const struct store *s)
{
	return s->dims;
}

const char *store_name(const struct store *s)
{
	return s->vt->name;
}

const char *store_fallback_reason(const struct store *s)
{
	return s->fallback_reason;
}

void store_free(struct store *s)
{
	char *reason;

	if (!s)
		return;
	reason = s->fallback_reason;
	s->vt->free(s);
	free(reason);
}
