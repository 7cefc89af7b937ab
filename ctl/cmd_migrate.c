/*
 * memctl migrate / memctl config.
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"
#include "migrate.h"

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
	if (cfg->provider == CFG_PROVIDER_MEMORY) {
		fprintf(stderr, "memctl migrate: MEM0_PROVIDER=memory keeps its schema in the SQLite file; nothing to do\n");
		return 0;
	}
	conn = ctl_pg_connect(cfg);
	if (!conn)
		return 1;
	rc = migrate_run(conn, &opts, &res);
	PQfinish(conn);
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
