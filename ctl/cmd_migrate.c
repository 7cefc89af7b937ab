/*
 * memctl migrate / memctl config. migrate brings the configured store's
 * schema up to date: PostgreSQL's migrations, or the SQLite store file's
 * (MEM0_PROVIDER=memory, or auto on a database without pgvector).
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"
#include "migrate.h"
#include "store_open.h"
#include "store_sqlite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *ctl_pg_connect(const struct cfg *cfg)
{
	char *conninfo = cfg_pg_conninfo(cfg, false);
	PGconn *conn = PQconnectdb(conninfo);

	free(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		char msg[512];

		/* libpq's message names host and port, never the password */
		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
		msg[strcspn(msg, "\n")] = '\0';
		fprintf(stderr, "memctl: cannot connect to PostgreSQL: %s\n", msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* The SQLite store's schema is made (or upgraded) by opening the file. */
static int migrate_sqlite(const struct cfg *cfg)
{
	char err[1024];
	sqlite3 *db = store_sqlite_open_db(cfg->sqlite_path, cfg->embedding_dims, true, err, sizeof(err));

	if (!db) {
		fprintf(stderr, "memctl migrate: %s\n", err);
		return 1;
	}
	sqlite3_close(db);
	printf("migrate: SQLite store %s at schema version %d, %d dimensions\n", cfg->sqlite_path,
	       STORE_SQLITE_SCHEMA_VERSION, cfg->embedding_dims);
	return 0;
}

int ctl_migrate(const struct cfg *cfg, int argc, char **argv)
{
	struct migrate_opts opts = { .embedding_dims = cfg->embedding_dims, .hnsw = cfg->hnsw };
	struct migrate_result res;
	PGconn *conn;
	int rc;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: memctl migrate\n");
		return 2;
	}
	if (cfg->provider == CFG_PROVIDER_MEMORY)
		return migrate_sqlite(cfg);
	conn = ctl_pg_connect(cfg);
	if (!conn)
		return 1;
	rc = migrate_run(conn, &opts, &res);
	PQfinish(conn);
	if (rc < 0 && cfg->provider == CFG_PROVIDER_AUTO) {
		char why[512];

		/* auto: a database without pgvector (and no right to create it) means the SQLite store */
		if (store_probe_pgvector(cfg, false, why, sizeof(why)) == STORE_PROBE_NO_VECTOR) {
			fprintf(stderr, "memctl migrate: MEM0_PROVIDER=auto: %s; the daemons will fall back to the SQLite "
					"store %s\n",
				why, cfg->sqlite_path);
			return migrate_sqlite(cfg);
		}
	}
	if (rc < 0) {
		fprintf(stderr, "memctl migrate: %s\n", res.errstr);
		return 1;
	}
	printf("migrate: %d applied, %d already applied; HNSW index %s\n", res.applied, res.already,
	       cfg->hnsw ? "on" : "off");
	return 0;
}

int ctl_config(const struct cfg *cfg, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	cfg_dump(cfg, stdout);
	return 0;
}
