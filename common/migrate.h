/*
 * migrate: applies schema/NNN_*.sql in order on a blocking libpq connection
 * (memctl and tests; never on a daemon's loop). Each migration runs in its
 * own transaction and is recorded with its SHA-256 in memworker_migrations;
 * a session advisory lock keeps two migrates from racing.
 */
#ifndef MW_MIGRATE_H
#define MW_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct schema_file;

struct migrate_opts {
	int embedding_dims;
	bool hnsw;			/* keep the HNSW cosine index (MEM0_HNSW) */
	const struct schema_file *files;	/* NULL: the compiled-in ones */
	int file_count;
};

struct migrate_result {
	int applied;			/* migrations applied by this run */
	int already;			/* migrations found applied */
	char errstr[1024];		/* one line, set on failure */
};

int migrate_run(PGconn *conn, const struct migrate_opts *opts, struct migrate_result *res)
	__attribute__((warn_unused_result));

/* SHA-256 of text as 64 hex digits into out[65]. */
void migrate_checksum(const char *text, char out[65]);

#endif
