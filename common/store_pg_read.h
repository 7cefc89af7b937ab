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

/*
 * With a global HNSW index (MEM0_HNSW=true), users with at least this many
 * memories search through it; memctl hnsw gives users this large an index
 * of their own.
 */
#define STORE_PG_HNSW_MIN_ROWS 20000

/* A user's own HNSW index: this prefix and the user id, partial on user_id (memctl hnsw). */
#define STORE_PG_USER_INDEX_PREFIX "mem0_memories_hnsw_u"

/* hnsw.ef_search unless set (MEM0_HNSW_EF_SEARCH, store_pg_set_ef_search); never under 2 x limit. */
#define STORE_PG_EF_SEARCH_DEFAULT 100

/*
 * What an HNSW search costs PostgreSQL in exact searches of a typical user
 * (read_conn's load): ~7 ms of CPU against ~0.35 ms on the benchmark's
 * 1536-d corpus at ef_search 100 (search/PLANS.md).
 */
#define STORE_PG_HNSW_WEIGHT 20

/* How long the store trusts its list of HNSW users before reading it again (in the background). */
#define STORE_PG_HNSW_USERS_TTL_MS 10000

/*
 * A search as statements. Narrowed by a session or filters (choice is
 * empty), it is one job: exact. Otherwise the store looks the user up in its
 * list of HNSW users (choice asks the same of one user, as one boolean);
 * then either exact alone, or BEGIN; hnsw_setup; hnsw; COMMIT.
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

/* ef_search: the candidate list asked for (raised to 2 x limit, at most 1000). */
void store_pg_search_sql(const struct store_search *q, int ef_search, struct store_pg_search_sql *out);

#endif
