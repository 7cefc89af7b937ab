/*
 * ctl: memctl's subcommands. Each takes the loaded configuration and its own
 * argv (argv[0] is the subcommand name) and returns the process exit code.
 */
#ifndef MW_CTL_H
#define MW_CTL_H

#include <libpq-fe.h>

struct cfg;

struct ctl_cmd {
	const char *name;
	int (*run)(const struct cfg *cfg, int argc, char **argv);
	const char *help;
};

int ctl_migrate(const struct cfg *cfg, int argc, char **argv);
int ctl_config(const struct cfg *cfg, int argc, char **argv);
int ctl_export(const struct cfg *cfg, int argc, char **argv);	/* cmd_move.c */
int ctl_import(const struct cfg *cfg, int argc, char **argv);
/* issue 7: operations (cmd_replay.c, cmd_backfill.c, cmd_dlq.c, cmd_trim.c) */
int ctl_replay(const struct cfg *cfg, int argc, char **argv);
int ctl_backfill(const struct cfg *cfg, int argc, char **argv);
int ctl_dlq(const struct cfg *cfg, int argc, char **argv);
int ctl_trim(const struct cfg *cfg, int argc, char **argv);
/* The read path through memsearch (cmd_read.c): XADD a request, BLPOP its reply. */
int ctl_search(const struct cfg *cfg, int argc, char **argv);
int ctl_get_all(const struct cfg *cfg, int argc, char **argv);
int ctl_history(const struct cfg *cfg, int argc, char **argv);
int ctl_stats(const struct cfg *cfg, int argc, char **argv);
int ctl_local_model(const struct cfg *cfg, int argc, char **argv);
int ctl_push(const struct cfg *cfg, int argc, char **argv);
/* Per-user HNSW indexes for very large users (cmd_hnsw.c). */
int ctl_hnsw(const struct cfg *cfg, int argc, char **argv);

/* A blocking connection to the configured PostgreSQL, or NULL with a line on stderr. */
PGconn *ctl_pg_connect(const struct cfg *cfg);

#endif
