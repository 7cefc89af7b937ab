/*
 * mwbench: benchmarks that print figures (never run by ctest). Each
 * subcommand is a bench_<name>() in its own file.
 */
#ifndef MW_BENCH_H
#define MW_BENCH_H

int bench_ingest(int argc, char **argv);
int bench_search(int argc, char **argv);
int bench_embed(int argc, char **argv);

#endif
