/*
 * testenv: helpers for tests that talk to the real servers scripts/test.sh
 * started (MW_TEST_* variables): a fresh database per test, a unique Redis
 * key prefix per test, private servers for restart tests, and running the
 * project's binaries with captured output.
 */
#ifndef MW_TESTENV_H
#define MW_TESTENV_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Skips the calling Criterion test when the servers are not there. */
void tenv_require_servers(void);

int tenv_pg_port(void);
int tenv_redis_port(void);

/* Creates a database of its own (name written to out, size >= 64) and returns a connection to it. */
PGconn *tenv_pg_new_db(const char *prefix, char *name_out);
PGconn *tenv_pg_connect(const char *dbname);

/* Runs sql and asserts success; returns the result for the caller to PQclear (or NULL if discard). */
PGresult *tenv_pg_exec(PGconn *conn, const char *sql);
/* First column of first row as a long long (asserts one row). */
long long tenv_pg_count(PGconn *conn, const char *sql);

/* A unique prefix for keys of this test process: "t<pid>:<n>:". */
const char *tenv_unique(const char *what, char *out, size_t outlen);

/*
 * Runs argv (argv[0] a path) with extra environment entries "NAME=VALUE"
 * (NULL-terminated, may be NULL), waits, captures stdout and stderr into
 * malloc'd strings (may pass NULL to discard). Returns the exit status, or
 * 128+signal.
 */
int tenv_run(char *const argv[], char *const env[], char **out, char **err);

/* Starts a program in the background with its output to log_path; returns its pid. */
pid_t tenv_spawn(char *const argv[], char *const env[], const char *log_path);
/* Sends sig and waits up to timeout_ms; returns the exit status or -1 on timeout (then SIGKILLs). */
int tenv_stop(pid_t pid, int sig, int timeout_ms);

/* Path of a built binary: MW_BINARY_DIR/name or MW_BINARY_DIR/tests/name. */
const char *tenv_bin(const char *name, char *out, size_t outlen);

/* Reads a whole file into a malloc'd string; NULL if missing. */
char *tenv_slurp(const char *path);

/* Waits until the file at log_path contains needle; false on timeout. */
bool tenv_wait_log(const char *log_path, const char *needle, int timeout_ms);

/*
 * Private servers a test may stop and restart without disturbing the
 * others (tests run in parallel on the shared ones). Started on a free
 * loopback port under MW_TEST_TMP; *_stop is idempotent; *_start again
 * reuses the port (and, for PostgreSQL, the data).
 */
struct tenv_server {
	int port;
	char dir[256];
	bool running;
};
void tenv_redis_start(struct tenv_server *s);
void tenv_pg_start(struct tenv_server *s);
void tenv_server_stop(struct tenv_server *s);
/* The same port after a stop. */
void tenv_server_restart(struct tenv_server *s);
bool tenv_server_is_pg(const struct tenv_server *s);

/* Milliseconds of a monotonic clock. */
long long tenv_now_ms(void);

#endif
