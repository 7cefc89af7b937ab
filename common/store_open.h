/*
 * store_open: the store MEM0_PROVIDER asks for, decided once at start
 * (blocking: it runs before the loop).
 *
 *  pgvector  PostgreSQL (the search side may use MEM0_SEARCH_DATABASE_URL).
 *            A server that answers but has no vector extension in the
 *            database is a start-up error naming the fix; a server that
 *            does not answer yet is not (the store reconnects).
 *  memory    the SQLite file MEM0_SQLITE_PATH (store_sqlite.h).
 *  auto      PostgreSQL when the vector extension is installed in the
 *            database; when the server answers without it, the SQLite file,
 *            with a warning at start and the reason kept on the store
 *            (store_fallback_reason) for /readyz. A server that does not
 *            answer is a start-up error: falling back on a transient error
 *            would split a user's memories between two stores.
 */
#ifndef MW_STORE_OPEN_H
#define MW_STORE_OPEN_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;
struct event_base;
struct store;

/* NULL with one line in err when the configured store cannot be used. */
struct store *store_open(struct event_base *base, const struct cfg *cfg, bool for_search, char *err, size_t errlen);

enum store_probe {
	STORE_PROBE_PGVECTOR,    /* the vector extension is installed */
	STORE_PROBE_NO_VECTOR,   /* the server answers; no vector extension in the database */
	STORE_PROBE_UNREACHABLE, /* no answer: cannot tell */
};

/* Asks the configured PostgreSQL (blocking); why is one line for the last two outcomes. */
enum store_probe store_probe_pgvector(const struct cfg *cfg, bool for_search, char *why, size_t whylen);

#endif
