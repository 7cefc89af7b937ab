/*
 * store_pg_read: what the PostgreSQL read path sends for a search, exposed
 * so the plans can be shown (search/PLANS.md) and benchmarked against the
 * raw SQL (mwbench search) with exactly memsearch's statements. The
 * operations themselves are behind store.h.
 */
#ifndef MW_STORE_PG_READ_H
#define MW_STORE_PG_READ_H

#include "store.h"

#include <stdbool.h>

/* Users with at least this many memories search through the HNSW index, when there is one. */
#define STORE_PG_HNSW_MIN_ROWS 20000

/*
 * A search as statements. Narrowed by a session or filters (choice is
 * empty), it is one job: exact. Otherwise a first job runs choice, whose one
 * boolean says whether the user is heavy and an HNSW index exists; then
 * either exact alone, or BEGIN; hnsw_setup; hnsw; COMMIT.
 *   choice:      $1 user, $2 STORE_PG_HNSW_MIN_ROWS
 *   hnsw_setup:  $1 ef_search (text)
 *   exact, hnsw: $1 user, $2 vector (binary), $3 limit, then session_id,
 *                filters, minimum score, each only when the search has it,
 *                in that order (hnsw: only the minimum score)
 */
struct store_pg_search_sql {
	const char *choice;		/* static text, "" when narrowed */
	const char *hnsw_setup;		/* static text */
	char exact[4096];
	char hnsw[2048];
	int nparams;			/* of exact; hnsw takes the same values */
	int ef_search;
};

void store_pg_search_sql(const struct store_search *q, struct store_pg_search_sql *out);

#endif
