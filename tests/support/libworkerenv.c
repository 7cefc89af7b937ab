/*
 * workerenv: see workerenv.h.
 */
#include "workerenv.h"

#include "cfg.h"
#include "localenv.h"
#include "mockllm.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void load_sql(PGconn *pg, const char *name)
{
	char path[512];
	char *sql;

	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", MW_SOURCE_DIR, name);
	sql = tenv_slurp(path);
	cr_assert_not_null(sql, "fixture %s", path);
	PQclear(tenv_pg_exec(pg, sql));
	free(sql);
}

static void setup(struct wenv *w, enum senv_kind kind, bool chat_app_schema, int pg_port, int redis_port, bool local)
{
	char name[64];

	tenv_require_servers();
	memset(w, 0, sizeof(*w));
	w->local = local;
	w->pg_port = pg_port ? pg_port : tenv_pg_port();
	w->redis_port = redis_port ? redis_port : tenv_redis_port();
	cr_assert(!chat_app_schema || kind == SENV_PG, "the chat app's schema is PostgreSQL's");
	senv_setup_on(&w->store, kind, "wk", local ? CFG_LOCAL_EMBEDDING_DIMS : WENV_DIMS, !chat_app_schema, pg_port);
	if (kind == SENV_PG) {
		w->pg = w->store.pg;
		snprintf(w->db, sizeof(w->db), "%s", w->store.db);
	}
	if (chat_app_schema) {
		load_sql(w->pg, "chatapp_001_users.sql");
		/* the chat app's 002 at the test's dimension */
		PQclear(tenv_pg_exec(w->pg, "CREATE EXTENSION IF NOT EXISTS vector"));
		senv_migrate(&w->store);
		PQclear(tenv_pg_exec(w->pg, "ALTER TABLE mem0_memories ADD CONSTRAINT mem0_memories_user_id_fkey "
		                            "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE"));
	}
	tenv_unique("s", name, sizeof(name));
	snprintf(w->stream, sizeof(w->stream), "mw:%s", name);
	snprintf(w->dlq, sizeof(w->dlq), "%s:dlq", w->stream);
	snprintf(w->log_path, sizeof(w->log_path), "%s/worker-%s.log",
	         getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp", name);
	w->redis = redisConnect("127.0.0.1", w->redis_port);
	cr_assert(w->redis && !w->redis->err, "redis connect");
	if (!local)
		w->mock = mockllm_start(WENV_DIMS);
}

void wenv_setup(struct wenv *w, bool chat_app_schema)
{
	setup(w, senv_kind_from_env(), chat_app_schema, 0, 0, false);
}

void wenv_setup_on(struct wenv *w, bool chat_app_schema, int pg_port, int redis_port)
{
	setup(w, pg_port ? SENV_PG : senv_kind_from_env(), chat_app_schema, pg_port, redis_port, false);
}

void wenv_setup_kind(struct wenv *w, enum senv_kind kind, bool chat_app_schema)
{
	setup(w, kind, chat_app_schema, 0, 0, false);
}

void wenv_setup_local(struct wenv *w)
{
	setup(w, SENV_PG, false, 0, 0, true);
}

int wenv_start_worker(struct wenv *w)
{
	char bin[512], e[16][160];
	char *env[40];
	char *argv[] = {(char *)tenv_bin("memworker", bin, sizeof(bin)), NULL};
	int n = 0, i, k = 0;

	cr_assert(w->nworkers < WENV_MAX_WORKERS);
	snprintf(e[n++], sizeof(e[0]), "REDIS_URL=redis://127.0.0.1:%d", w->redis_port);
	snprintf(e[n++], sizeof(e[0]), "MEM0_STREAM=%s", w->stream);
	if (w->local) {
		snprintf(e[n++], sizeof(e[0]), "MEM0_MODELS=local");
		snprintf(e[n++], sizeof(e[0]), "MEM0_LOCAL_MODEL_PATH=%s", lenv_model_path());
	} else {
		snprintf(e[n++], sizeof(e[0]), "MEM0_MODELS=openai");
		snprintf(e[n++], sizeof(e[0]), "OPENAI_BASE_URL=%s", mockllm_base_url(w->mock));
		snprintf(e[n++], sizeof(e[0]), "OPENAI_API_KEY=sk-test-SECRET-worker");
		snprintf(e[n++], sizeof(e[0]), "MEM0_EMBEDDING_DIMS=%d", WENV_DIMS);
	}
	snprintf(e[n++], sizeof(e[0]), "MEM0_BATCH_WINDOW_MS=30");
	snprintf(e[n++], sizeof(e[0]), "MEM0_BLOCK_MS=200");
	snprintf(e[n++], sizeof(e[0]), "MEM0_LOG_LEVEL=debug");
	/* getenv finds the first of two entries of one name: the test's own come first */
	for (i = 0; w->extra_env[i]; i++)
		env[k++] = (char *)w->extra_env[i];
	for (i = 0; i < w->store.nenv; i++)
		env[k++] = w->store.env[i];
	for (i = 0; i < n; i++)
		env[k++] = e[i];
	env[k] = NULL;
	w->workers[w->nworkers] = tenv_spawn(argv, env, w->log_path);
	return w->nworkers++;
}

int wenv_stop_worker(struct wenv *w, int i, int sig)
{
	int st;

	if (w->workers[i] <= 0)
		return 0;
	st = tenv_stop(w->workers[i], sig, 20000);
	w->workers[i] = 0;
	return st;
}

void wenv_teardown(struct wenv *w)
{
	int i;

	for (i = 0; i < w->nworkers; i++)
		if (w->workers[i] > 0)
			wenv_stop_worker(w, i, SIGTERM);
	if (w->mock)
		mockllm_stop(w->mock);
	w->mock = NULL;
	if (w->redis)
		redisFree(w->redis);
	w->redis = NULL;
	senv_teardown(&w->store);
	w->pg = NULL;
}

char *wenv_xadd(struct wenv *w, ...)
{
	const char *argv[64];
	int argc = 0;
	va_list ap;
	const char *s;
	redisReply *r;
	char *id;

	argv[argc++] = "XADD";
	argv[argc++] = w->stream;
	argv[argc++] = "*";
	va_start(ap, w);
	while ((s = va_arg(ap, const char *)) && argc < 62)
		argv[argc++] = s;
	va_end(ap);
	r = redisCommandArgv(w->redis, argc, argv, NULL);
	cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD failed: %s", r ? r->str : w->redis->errstr);
	id = strdup(r->str);
	freeReplyObject(r);
	return id;
}

char *wenv_exchange(struct wenv *w, int user, const char *session, const char *msg_id, const char *user_text,
                    const char *assistant_text)
{
	json_t *msgs = json_array();
	char uid[24], *text, *id;

	json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", user_text));
	if (assistant_text)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content", assistant_text));
	text = json_dumps(msgs, JSON_COMPACT);
	json_decref(msgs);
	snprintf(uid, sizeof(uid), "%d", user);
	if (msg_id)
		id = wenv_xadd(w, "user_db_id", uid, "session_id", session, "messages", text, "message_id", msg_id, "v",
		               "1", NULL);
	else
		id = wenv_xadd(w, "user_db_id", uid, "session_id", session, "messages", text, NULL);
	free(text);
	return id;
}

void wenv_wait_idle(struct wenv *w, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;
	long long pending = -1, lag = -1;

	while (tenv_now_ms() < until) {
		redisReply *r;

		if (w->redis->err) { /* Redis restarted under us */
			redisFree(w->redis);
			w->redis = redisConnect("127.0.0.1", w->redis_port);
		}
		r = redisCommand(w->redis, "XINFO GROUPS %s", w->stream);
		size_t i, j;

		pending = lag = -1;
		for (i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
			redisReply *g = r->element[i];
			for (j = 0; j + 1 < g->elements; j += 2) {
				if (strcmp(g->element[j]->str, "pending") == 0)
					pending = g->element[j + 1]->integer;
				if (strcmp(g->element[j]->str, "lag") == 0)
					lag = g->element[j + 1]->type == REDIS_REPLY_INTEGER
					              ? g->element[j + 1]->integer
					              : -1;
			}
		}
		freeReplyObject(r);
		if (pending == 0 && lag == 0)
			return;
		usleep(20000);
	}
	{
		char *log = wenv_log(w);
		cr_assert_fail("worker not idle after %d ms (pending %lld, lag %lld); log tail:\n%s", timeout_ms,
		               pending, lag, log ? (strlen(log) > 4000 ? log + strlen(log) - 4000 : log) : "(none)");
	}
}

long long wenv_count(struct wenv *w, const char *sql)
{
	return senv_count(&w->store, sql);
}

/* Reconnects the test's own Redis connection (after a restart). */
void wenv_redis_reconnect(struct wenv *w)
{
	redisFree(w->redis);
	w->redis = redisConnect("127.0.0.1", w->redis_port);
	cr_assert(w->redis && !w->redis->err, "redis reconnect");
}

char *wenv_log(struct wenv *w)
{
	return tenv_slurp(w->log_path);
}
