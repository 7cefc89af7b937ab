/*
 * memworker: the ingest daemon. Loads the configuration, checks the schema
 * once (blocking, before the loop), then runs everything on one libevent
 * loop until SIGTERM/SIGINT: stop reading, flush and finish the batches in
 * flight (or give up after a drain timeout: unacked entries are redelivered
 * to another consumer), exit 0.
 */
#include "app.h"
#include "cfg.h"
#include "embed.h"
#include "idset.h"
#include "log.h"
#include "models.h"
#include "prompt.h"
#include "schema.h"
#include "store.h"
#include "store_open.h"
#include "wmetrics.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_TIMEOUT_MS 30000

/*
 * A blocking look at the schema before the loop starts: migrations applied
 * and the embedding dimension matching. PostgreSQL being down is not fatal
 * (the store reconnects); a wrong schema is.
 */
static int check_schema(const struct cfg *cfg)
{
	char *ci = cfg_pg_conninfo(cfg, false);
	PGconn *c = PQconnectdb(ci);
	PGresult *r;
	int rc = 0;

	free(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
		msg[strcspn(msg, "\n")] = '\0';
		log_warn("PostgreSQL not reachable at start (%s); will keep trying", msg);
		PQfinish(c);
		return 0;
	}
	r = PQexec(c, "SELECT coalesce(max(version), 0), "
		      "(SELECT a.atttypmod FROM pg_attribute a WHERE a.attrelid = to_regclass('mem0_memories') "
		      "AND a.attname = 'embedding' AND NOT a.attisdropped) "
		      "FROM memworker_migrations");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "memworker: the schema is not there: run memctl migrate first\n");
		rc = -1;
	} else if (atoi(PQgetvalue(r, 0, 0)) < schema_file_count) {
		fprintf(stderr, "memworker: the schema is at migration %s of %d: run memctl migrate\n",
			PQgetvalue(r, 0, 0), schema_file_count);
		rc = -1;
	} else if (atoi(PQgetvalue(r, 0, 1)) != cfg->embedding_dims) {
		fprintf(stderr,
			"MEM0_EMBEDDING_DIMS: %d, but mem0_memories.embedding is vector(%s); one table holds one dimension\n",
			cfg->embedding_dims, PQgetvalue(r, 0, 1));
		rc = -1;
	}
	PQclear(r);
	PQfinish(c);
	return rc;
}

static int load_prompts(struct app *app, const struct cfg *cfg)
{
	char err[256];

	app->prompt_fact = mw_strdup(prompt_default_fact());
	app->prompt_update = mw_strdup(prompt_default_update());
	if (cfg->fact_prompt_file && cfg->fact_prompt_file[0]) {
		free(app->prompt_fact);
		app->prompt_fact = NULL;
		if (prompt_load_file(cfg->fact_prompt_file, &app->prompt_fact, err, sizeof(err)) < 0) {
			fprintf(stderr, "MEM0_FACT_PROMPT_FILE: %s\n", err);
			return -1;
		}
	}
	if (cfg->update_prompt_file && cfg->update_prompt_file[0]) {
		free(app->prompt_update);
		app->prompt_update = NULL;
		if (prompt_load_file(cfg->update_prompt_file, &app->prompt_update, err, sizeof(err)) < 0) {
			fprintf(stderr, "MEM0_UPDATE_PROMPT_FILE: %s\n", err);
			return -1;
		}
	}
	/* single mode with custom prompts: both instructions, in order, in one call */
	if ((cfg->fact_prompt_file && cfg->fact_prompt_file[0]) ||
	    (cfg->update_prompt_file && cfg->update_prompt_file[0])) {
		size_t n = strlen(app->prompt_fact) + strlen(app->prompt_update) + 4;
		app->prompt_single = mw_malloc(n);
		snprintf(app->prompt_single, n, "%s\n\n%s", app->prompt_fact, app->prompt_update);
	} else {
		app->prompt_single = mw_strdup(prompt_default_single());
	}
	return 0;
}

static void idle_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static void idle_until_signal(void)
{
	struct event_base *base = event_base_new();
	struct event *t = evsignal_new(base, SIGTERM, idle_signal, base);
	struct event *i = evsignal_new(base, SIGINT, idle_signal, base);

	event_add(t, NULL);
	event_add(i, NULL);
	event_base_dispatch(base);
	event_free(t);
	event_free(i);
	event_base_free(base);
}

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;

	(void)fd;
	(void)what;
	app->drain_waited_ms += 100;
	batcher_flush_all(app->batcher);
	if ((!app->reading && app->held == 0 && batcher_active(app->batcher) == 0 && rcmd_pending(app->rcmd) == 0) ||
	    app->drain_waited_ms >= DRAIN_TIMEOUT_MS) {
		if (app->held)
			log_warn("drain timeout: %d entries left pending; another consumer will take them", app->held);
		event_base_loopbreak(app->base);
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *app = arg;
	struct timeval tv = { 0, 100000 };

	(void)what;
	if (app->stopping) {
		log_warn("second signal: exiting now; unacked entries will be redelivered");
		event_base_loopbreak(app->base);
		return;
	}
	log_info("signal %d: stop reading, finish %d held entries", (int)sig, app->held);
	app->stopping = true;
	app->stop_timer = event_new(app->base, -1, EV_PERSIST, drain_check, app);
	event_add(app->stop_timer, &tv);
}

int main(int argc, char **argv)
{
	struct cfg cfg;
	struct app app = { 0 };
	struct event *sigterm = NULL, *sigint = NULL;
	char err[512];
	int rc = 2;

	if (cfg_load(&cfg, &argc, argv, NULL, stderr) < 0 || cfg_check_models(&cfg, stderr) < 0)
		goto out_cfg;
	if (argc > 1) {
		fprintf(stderr, "memworker: unexpected argument '%s' (configuration flags are --name value)\n", argv[1]);
		goto out_cfg;
	}
	log_setup((enum log_level)cfg.log_level, (enum log_format)cfg.log_format, "memworker");
	if (rcmd_parse_url(cfg.redis_url, &app.redis, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		goto out_cfg;
	}
	if (!cfg.enabled) {
		/* idle rather than exit, so a supervisor does not restart us in a loop */
		log_info("MEM0_ENABLED=false: idle until SIGTERM");
		idle_until_signal();
		rc = 0;
		goto out_cfg;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	signal(SIGPIPE, SIG_IGN);

	app.cfg = &cfg;
	app.base = event_base_new();
	app.models = models_new(app.base, &cfg, err, sizeof(err));
	if (!app.models) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (load_prompts(&app, &cfg) < 0)
		goto out;
	{
		size_t n = strlen(cfg.stream) + 5;
		app.dlq_stream = mw_malloc(n);
		snprintf(app.dlq_stream, n, "%s:dlq", cfg.stream);
	}
	app.store = store_open(app.base, &cfg, false, err, sizeof(err));
	if (!app.store) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	/* MEM0_PROVIDER=auto may have chosen either store */
	if (strcmp(store_name(app.store), "pgvector") == 0 && check_schema(&cfg) < 0)
		goto out;
	app.wm = wm_new(&app, err, sizeof(err));
	if (!app.wm) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	app.held_ids = idset_new();
	app.embedder = emb_new(app.base, app.models, &app.stats, app.wm);
	app.batcher = batcher_new(&app);
	app.rcmd = rcmd_new(app.base, &app.redis, 5000, "cmd", intake_cmd_state, &app);
	/* the read connection has no command timeout: XREADGROUP BLOCK waits on it */
	app.rread = rcmd_new(app.base, &app.redis, 0, "read", intake_redis_state, &app);
	intake_start(&app);
	sigterm = evsignal_new(app.base, SIGTERM, on_signal, &app);
	sigint = evsignal_new(app.base, SIGINT, on_signal, &app);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);

	log_info("memworker started: stream %s, group %s, pipeline %s, store %s%s%s%s, batch %d msgs / %d ms",
		 cfg.stream, cfg.group, cfg.pipeline == CFG_PIPELINE_TWO_PASS ? "two-pass" : "single",
		 store_name(app.store), store_fallback_reason(app.store) ? " (" : "",
		 store_fallback_reason(app.store) ? store_fallback_reason(app.store) : "",
		 store_fallback_reason(app.store) ? ")" : "", cfg.batch_max, cfg.batch_window_ms);
	event_base_dispatch(app.base);
	log_info("stopped: read %lld, acked %lld, dead-lettered %lld; +%lld ~%lld -%lld memories", app.stats.read,
		 app.stats.acked, app.stats.dead_lettered, app.stats.added, app.stats.updated, app.stats.deleted);
	rc = 0;
out:
	/*
	 * Teardown order: whatever is still in flight fails back into the
	 * batches (which only arm retry timers now), and acks still find a
	 * command connection: it goes last.
	 */
	app.stopping = true;
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (app.stop_timer)
		event_free(app.stop_timer);
	if (app.claim_timer)
		event_free(app.claim_timer);
	if (app.beat_timer)
		event_free(app.beat_timer);
	if (app.trim_timer)
		event_free(app.trim_timer);
	rcmd_free(app.rread);
	store_free(app.store);
	models_free(app.models);
	emb_free(app.embedder);
	batcher_free(app.batcher);
	rcmd_free(app.rcmd);
	wm_free(app.wm);
	idset_free(app.held_ids);
	free(app.dlq_stream);
	free(app.prompt_single);
	free(app.prompt_fact);
	free(app.prompt_update);
	if (app.base)
		event_base_free(app.base);
out_cfg:
	cfg_free(&cfg);
	return rc;
}
