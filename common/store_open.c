/*
 * store_open: see store_open.h.
 */
#include "store_open.h"

#include "cfg.h"
#include "log.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_PG_CONNS 4
#define PROBE_TIMEOUT  "10" /* seconds */

enum store_probe store_probe_pgvector(const struct cfg *cfg, bool for_search, char *why, size_t whylen)
{
	char *conninfo = cfg_pg_conninfo(cfg, for_search);
	/* expand_dbname: conninfo may be a URL or keywords; the timeout after it wins */
	const char *keys[] = {"dbname", "connect_timeout", NULL};
	const char *vals[] = {conninfo, PROBE_TIMEOUT, NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	enum store_probe res = STORE_PROBE_UNREACHABLE;
	PGresult *r = NULL;

	free(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password */
		snprintf(why, whylen, "%s", PQerrorMessage(c));
		why[strcspn(why, "\n")] = '\0';
		goto out;
	}
	r = PQexec(c, "SELECT current_database(), "
	              "EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector'), "
	              "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(why, whylen, "%s", PQerrorMessage(c));
		why[strcspn(why, "\n")] = '\0';
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") == 0) {
		res = STORE_PROBE_PGVECTOR;
		if (whylen)
			why[0] = '\0';
	} else {
		res = STORE_PROBE_NO_VECTOR;
		snprintf(why, whylen, "the vector extension is not installed in database \"%s\" (%s)",
		         PQgetvalue(r, 0, 0),
		         strcmp(PQgetvalue(r, 0, 2), "t") == 0
		                 ? "the server has it: run memctl migrate as a role that may CREATE EXTENSION vector"
		                 : "the server has no pgvector package: install it, e.g. postgresql-15-pgvector");
	}
out:
	PQclear(r);
	PQfinish(c);
	return res;
}

static struct store *open_pg(struct event_base *base, const struct cfg *cfg, bool for_search)
{
	char *conninfo = cfg_pg_conninfo(cfg, for_search);
	struct store *s = store_pg_new(base, conninfo, cfg->embedding_dims, STORE_PG_CONNS);

	store_pg_set_prepare(s, cfg->pg_prepare);
	/*
	 * The read path's prepared statements filter on user_id = $1: their
	 * generic plan is the same B-tree plan a custom one finds, but
	 * PostgreSQL's estimates rarely say so and it would plan every search
	 * again. The HNSW search asks for a custom plan in its own transaction
	 * (a user's own index is partial: it matches a plan made for the value).
	 */
	if (for_search && cfg->pg_prepare)
		store_pg_set_session(s, "SET plan_cache_mode = force_generic_plan");
	store_pg_set_ef_search(s, cfg->hnsw_ef_search);
	free(conninfo);
	return s;
}

struct store *store_open(struct event_base *base, const struct cfg *cfg, bool for_search, char *err, size_t errlen)
{
	char why[512], reason[1024];

	switch (cfg->provider) {
	case CFG_PROVIDER_PGVECTOR:
		switch (store_probe_pgvector(cfg, for_search, why, sizeof(why))) {
		case STORE_PROBE_NO_VECTOR:
			snprintf(err, errlen,
			         "MEM0_PROVIDER=pgvector: %s; or set MEM0_PROVIDER=memory (the SQLite store) or auto "
			         "(SQLite when PostgreSQL has no pgvector)",
			         why);
			return NULL;
		case STORE_PROBE_UNREACHABLE:
			log_warn("PostgreSQL not reachable at start (%s); will keep trying", why);
			break;
		case STORE_PROBE_PGVECTOR:
			break;
		}
		return open_pg(base, cfg, for_search);
	case CFG_PROVIDER_MEMORY:
		return store_sqlite_new(base, cfg->sqlite_path, cfg->embedding_dims, NULL, err, errlen);
	case CFG_PROVIDER_AUTO:
		switch (store_probe_pgvector(cfg, for_search, why, sizeof(why))) {
		case STORE_PROBE_PGVECTOR:
			log_info("MEM0_PROVIDER=auto: PostgreSQL has pgvector; using it");
			return open_pg(base, cfg, for_search);
		case STORE_PROBE_UNREACHABLE:
			snprintf(err, errlen,
			         "MEM0_PROVIDER=auto: PostgreSQL not reachable (%s): cannot tell whether it has "
			         "pgvector, and falling back on a connection error would split memories between two "
			         "stores; start PostgreSQL, or set MEM0_PROVIDER=pgvector (waits for it) or memory",
			         why);
			return NULL;
		case STORE_PROBE_NO_VECTOR:
			break;
		}
		snprintf(reason, sizeof(reason), "fallback from pgvector: %s", why);
		log_warn("MEM0_PROVIDER=auto: FALLING BACK TO THE SQLITE STORE %s: %s. Memories now go to that file, "
		         "not to PostgreSQL; once pgvector is installed, move them with memctl import --from sqlite:%s",
		         cfg->sqlite_path, why, cfg->sqlite_path);
		return store_sqlite_new(base, cfg->sqlite_path, cfg->embedding_dims, reason, err, errlen);
	default:
		snprintf(err, errlen, "MEM0_PROVIDER: unknown value %d", cfg->provider);
		return NULL;
	}
}
