/*
 * mwbench: dispatch to one benchmark. The bench/NAME.sh drivers start the
 * servers and daemons around each.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "ingest") == 0)
		return bench_ingest(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "search") == 0)
		return bench_search(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "embed") == 0)
		return bench_embed(argc - 1, argv + 1);
	fprintf(stderr, "usage: mwbench ingest [options]   (see bench/ingest.sh)\n"
			"       mwbench search load|run|explain [options]   (see bench/search.sh)\n"
			"       mwbench embed [options]    (see bench/embed.sh)\n");
	return 2;
}
