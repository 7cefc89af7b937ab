/*
 * opsenv: helpers for the operations tests (issue 7): memctl run against a
 * workerenv's database, Redis and stream; HTTP GETs of the metrics
 * endpoint; a strict Prometheus text-format parser; a private PostgreSQL
 * server a test may stop and start (the shared one serves tests running in
 * parallel).
 */
#ifndef MW_OPSENV_H
#define MW_OPSENV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct wenv;

/*
 * Runs memctl ARGS... (NULL-terminated) with w's configuration plus extra
 * "NAME=VALUE" entries (NULL-terminated, may be NULL). out/err: malloc'd
 * output (may be NULL to discard). Returns the exit status.
 */
int oenv_memctl(struct wenv *w, const char *const *extra_env, char **out, char **err, ...)
	__attribute__((sentinel));

/* GET http://127.0.0.1:port/path; returns the status (0: no answer); body malloc'd (may be NULL). */
long oenv_http_get(int port, const char *path, char **body);

/* The port in the log line "metrics: ... on port N" of the file at log_path, waiting up to timeout_ms. */
int oenv_metrics_port(const char *log_path, int timeout_ms);

/*
 * Parses Prometheus text format 0.0.4 strictly: every sample line
 * `name{labels} value`, label values quoted and escaped, HELP and TYPE at
 * most once per family and before its samples, a family's samples
 * together, histogram buckets cumulative with +Inf equal to _count.
 * Returns an object mapping each sample exactly as written ("name{a=\"b\"}")
 * to its value, or NULL with the first problem in err.
 */
json_t *prom_parse(const char *text, char *err, size_t errlen);
/* A sample's value; NAN if absent. */
double prom_get(json_t *samples, const char *series);

/* A PostgreSQL server of the test's own. */
struct privpg {
	char dir[256];
	int port;
};
/* initdb (as the postgres user when root), start on a free loopback port. Asserts. */
void privpg_init(struct privpg *p);
void privpg_start(struct privpg *p);
void privpg_stop(struct privpg *p);
/* Stops and removes the data folder. */
void privpg_destroy(struct privpg *p);

/* Runs a shell command line; returns its exit status. */
int oenv_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
