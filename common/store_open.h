/*
 * store_open: the store MEM0_PROVIDER asks for. pgvector: PostgreSQL (the
 * search side may use MEM0_SEARCH_DATABASE_URL); memory: the SQLite file
 * (issue 8); auto: pgvector if the extension is there, else SQLite, loudly.
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

#endif
