/*
 * workerenv: one memworker under test: its own store (a migrated database,
 * or a SQLite file when MW_TEST_STORE=sqlite: see storeenv.h), its own mock
 * LLM, its own stream names on the shared Redis, and the real memworker
 * binary started as a process. Blocking helpers for the test side: XADD
 * entries, wait until the group has acked everything, read rows.
 */
#ifndef MW_WORKERENV_H
#define MW_WORKERENV_H

#include "storeenv.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <sys/types.h>

struct mockllm;

#define WENV_DIMS        64
#define WENV_MAX_WORKERS 4

struct wenv {
	struct senv store; /* the store the workers use */
	char db[64];       /* PostgreSQL only: store.db */
	char stream[96];
	char dlq[100];
	PGconn *pg; /* PostgreSQL only: store.pg, else NULL */
	redisContext *redis;
	struct mockllm *mock;
	pid_t workers[WENV_MAX_WORKERS];
	int nworkers;
	char log_path[256];
	const char *extra_env[16]; /* NAME=VALUE for the workers, NULL-terminated; wins over the rest */
	int redis_port;            /* the shared servers' unless set before wenv_setup_on */
	int pg_port;
	bool local;			/* MEM0_MODELS=local (wenv_setup_local): no mock */
};

/*
 * Creates the store (MW_TEST_STORE; the chat app's schema first, for
 * PostgreSQL only), mock and names.
 */
void wenv_setup(struct wenv *w, bool chat_app_schema);
/* As wenv_setup, on the given servers (0 = the shared one); a private PostgreSQL means the PostgreSQL store. */
void wenv_setup_on(struct wenv *w, bool chat_app_schema, int pg_port, int redis_port);
/* As wenv_setup, on the store of this kind, whatever MW_TEST_STORE says. */
void wenv_setup_kind(struct wenv *w, enum senv_kind kind, bool chat_app_schema);
/* As wenv_setup with MEM0_MODELS=local: vector(100), the local model file (localenv.h), no mock. */
void wenv_setup_local(struct wenv *w);
/* Starts one more memworker; returns its index. */
int wenv_start_worker(struct wenv *w);
/* Stops worker i with sig; returns its exit status (-1: had to be killed). */
int wenv_stop_worker(struct wenv *w, int i, int sig);
void wenv_teardown(struct wenv *w);

/* XADD to the ingest stream with field/value pairs (NULL-terminated); returns the entry id (malloc'd). */
char *wenv_xadd(struct wenv *w, ...) __attribute__((sentinel));
/* XADD a user+assistant exchange as one `messages` entry. */
char *wenv_exchange(struct wenv *w, int user, const char *session, const char *msg_id, const char *user_text,
                    const char *assistant_text);
/* Waits until the group has read every entry and none is pending; asserts within timeout_ms. */
void wenv_wait_idle(struct wenv *w, int timeout_ms);
/* senv_count on the workers' store: keep the SQL portable (storeenv.h). */
long long wenv_count(struct wenv *w, const char *sql);
void wenv_redis_reconnect(struct wenv *w);
/* The worker's log so far (malloc'd). */
char *wenv_log(struct wenv *w);

#endif
