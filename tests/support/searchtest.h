/*
 * searchtest: helpers shared by the read-path tests (tests/integration/
 * test_search*.c): a store with memories inserted by SQL, the PostgreSQL
 * store driven on a private event loop until a callback fires, a memsearch
 * process with its own stream, and requests sent the way clients send them
 * (XADD + BLPOP, blocking hiredis).
 *
 * The daemon suites run against both stores (storeenv.h): stest_store_setup
 * makes a PostgreSQL database or a SQLite file as MW_TEST_STORE says,
 * stest_add inserts into either, and memsearch is started on it.
 */
#ifndef MW_SEARCHTEST_H
#define MW_SEARCHTEST_H

#include "storeenv.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

struct event_base;
struct store;

/* A fresh database migrated for dims-dimensional embeddings (MEM0_HNSW as hnsw). */
PGconn *stest_db(const char *prefix, int dims, bool hnsw, char *name_out);

/*
 * Inserts one memory and returns its id (static buffer of the caller: out
 * must hold 40 bytes). vec: dims floats, or NULL for a vector pointing along
 * axis (axis % dims) with a small tilt t toward the next axis.
 */
const char *stest_insert(PGconn *conn, int user, const char *session, const char *text, const char *metadata_json,
			 const float *vec, int dims, char *out);
/*
 * A fresh store of the kind MW_TEST_STORE asks for (storeenv.h), with its
 * schema for dims-dimensional embeddings; senv_teardown when done.
 */
void stest_store_setup(struct senv *s, const char *prefix, int dims);
/* stest_insert on either store: the same row, the same 'created' history row. */
const char *stest_add(struct senv *s, int user, const char *session, const char *text, const char *metadata_json,
                      const float *vec, int dims, char *out);
/* Skips the test, saying why, when MW_TEST_STORE asks for SQLite: call before making anything. */
void stest_require_pg(const char *why);

/* A unit-ish vector: along axis a, tilted by t toward axis a+1. */
void stest_vec(float *v, int dims, int axis, float tilt);

/* A store on the database, connected (asserts within 5 s). */
struct store *stest_store(struct event_base *base, const char *db, int dims);
/* Runs the loop until *done or timeout_ms (asserts). */
void stest_wait(struct event_base *base, const bool *done, int timeout_ms);

/* ---- memsearch as a process ---- */

/*
 * Like tenv_spawn, but the program gets SIGKILL when the test process dies
 * (a failed assertion leaves nothing running), and env entries come before
 * the inherited environment.
 */
pid_t stest_spawn(char *const argv[], char *const env[], const char *log_path);
struct stest_daemon {
	pid_t pid;
	char log[256];
	char stream[96];
	const struct senv *store; /* borrowed: outlives the daemon */
};
/*
 * Starts memsearch on store (borrowed until stest_daemon_stop) with its own
 * stream (a unique name) and extra "NAME=VALUE" environment entries
 * (NULL-terminated, may be NULL; they win over the store's). Waits until it
 * has created its consumer group.
 */
void stest_daemon_start(struct stest_daemon *d, const struct senv *store, int dims, int redis_port,
                        char *const *extra_env);
/* Second replica on the same stream and store. */
void stest_daemon_start_replica(struct stest_daemon *d, const struct stest_daemon *first, int dims, int redis_port,
				char *const *extra_env);
/* SIGTERM; asserts exit 0 within timeout. Prints the log on failure. */
void stest_daemon_stop(struct stest_daemon *d);

redisContext *stest_redis(int port);

/*
 * Sends a request (field/value pairs, NULL-terminated; reply_to is added
 * unless given; reply_to given as NULL sends none) and waits up to
 * timeout_ms for the reply. Returns the parsed reply (caller json_decref's),
 * or NULL on timeout or when there is no reply key to wait on.
 */
json_t *stest_request(redisContext *rc, const char *stream, int timeout_ms, ...);
/* Same, from arrays. */
json_t *stest_requestv(redisContext *rc, const char *stream, int timeout_ms, int n, const char **fields,
		       const char **values);

/* Shorthands on a reply. */
bool stest_ok(const json_t *reply);
const char *stest_error_code(const json_t *reply);
const char *stest_error_message(const json_t *reply);
size_t stest_nresults(const json_t *reply);
/* results[i].field as a string, or "" */
const char *stest_result_str(const json_t *reply, size_t i, const char *field);

#endif
