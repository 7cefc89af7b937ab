/*
 * store_open: see store_open.h.
 */
#include "store_open.h"

#include "cfg.h"
#include "log.h"
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>

#define STORE_PG_CONNS 4

struct store *store_open(struct event_base *base, const struct cfg *cfg, bool for_search, char *err, size_t errlen)
{
	struct store *s;
	char *conninfo;

	switch (cfg->provider) {
	case CFG_PROVIDER_PGVECTOR:
		conninfo = cfg_pg_conninfo(cfg, for_search);
		s = store_pg_new(base, conninfo, cfg->embedding_dims, STORE_PG_CONNS);
		free(conninfo);
		return s;
	case CFG_PROVIDER_MEMORY:
	case CFG_PROVIDER_AUTO:
	default:
		snprintf(err, errlen, "MEM0_PROVIDER: only pgvector is built so far (the SQLite store is issue 8)");
		return NULL;
	}
}
