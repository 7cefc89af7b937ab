/*
 * memctl: the operator's command line. Each subcommand lives in its own
 * cmd_*.c; this file loads the configuration and dispatches. Runs blocking
 * clients (no event loop) since it serves one operator at a time.
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static const struct ctl_cmd commands[] = {
	{ "migrate", ctl_migrate, "apply pending schema migrations (idempotent)" },
	{ "config", ctl_config, "print the effective configuration, secrets masked" },
	{ "export", ctl_export, "copy the configured store to another: --to sqlite:PATH|postgres (idempotent)" },
	{ "import", ctl_import, "copy a store in: --from sqlite:PATH|postgres, or --mem0-sqlite DIR (old Mem0 data)" },
	{ "replay", ctl_replay, "re-feed a range of a stream (--reprocess: derive memories again)" },
	{ "backfill", ctl_backfill, "feed old chat history (--from-db or --file JSONL), resumable" },
	{ "dlq", ctl_dlq, "dead letters: list, show, retry, drop" },
	{ "hnsw", ctl_hnsw, "HNSW indexes of their own for very large users: build/drop to match the counts, --list" },
	{ "trim", ctl_trim, "trim the ingest stream, keeping what a consumer group still needs" },
	{ "search", ctl_search, "search a user's memories through memsearch: --user N QUERY" },
	{ "get-all", ctl_get_all, "list a user's memories, newest first: --user N [--session S]" },
	{ "history", ctl_history, "the changes of one memory: MEMORY_ID --user N" },
	{ "stats", ctl_stats, "a user's memory count, last memory, history rows: --user N" },
	{ "push", ctl_push, "add chat messages to the ingest stream (--user N --session S TEXT, or --file)" },
	{ "local-model", ctl_local_model, "build, check and try the embedded local models (build, info, similar, facts)" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: memctl [--env-file FILE] [--NAME VALUE ...] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\nEvery variable (memctl config lists them) is also a flag: MEM0_BATCH_MAX -> --batch-max,\n"
		     "REDIS_URL -> --redis-url; or --set NAME=VALUE.\n");
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	size_t i;
	int rc = 2;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (cfg_load(&cfg, &argc, argv, NULL, stderr) < 0) {
		cfg_free(&cfg);
		return 2;
	}
	log_setup((enum log_level)cfg.log_level, (enum log_format)cfg.log_format, "memctl");
	if (argc < 2) {
		usage(stderr);
		goto out;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			rc = commands[i].run(&cfg, argc - 1, argv + 1);
			goto out;
		}
	}
	fprintf(stderr, "memctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
out:
	cfg_free(&cfg);
	return rc;
}
