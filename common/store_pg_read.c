/*
 * store_pg_read: the read path's half of the PostgreSQL backend.
 * Interim: every operation reports "not connected" until issue 4 lands.
 */
#include "store_pg.h"

int store_pg_search(struct store *s, const struct store_search *q, store_mems_cb cb, void *arg)
{
	(void)s, (void)q, (void)cb, (void)arg;
	return -1;
}

int store_pg_get(struct store *s, int64_t user, const char *memory_id, store_mems_cb cb, void *arg)
{
	(void)s, (void)user, (void)memory_id, (void)cb, (void)arg;
	return -1;
}

int store_pg_get_all(struct store *s, int64_t user, const char *session_id, int limit, int offset, store_mems_cb cb,
		     void *arg)
{
	(void)s, (void)user, (void)session_id, (void)limit, (void)offset, (void)cb, (void)arg;
	return -1;
}

int store_pg_history(struct store *s, int64_t user, const char *memory_id, store_history_cb cb, void *arg)
{
	(void)s, (void)user, (void)memory_id, (void)cb, (void)arg;
	return -1;
}

int store_pg_delete(struct store *s, int64_t user, const char *memory_id, const char *history_meta,
		    store_count_cb cb, void *arg)
{
	(void)s, (void)user, (void)memory_id, (void)history_meta, (void)cb, (void)arg;
	return -1;
}

int store_pg_delete_all(struct store *s, int64_t user, bool purge, const char *history_meta, store_count_cb cb,
			void *arg)
{
	(void)s, (void)user, (void)purge, (void)history_meta, (void)cb, (void)arg;
	return -1;
}

int store_pg_stats(struct store *s, int64_t user, store_stats_cb cb, void *arg)
{
	(void)s, (void)user, (void)cb, (void)arg;
	return -1;
}
