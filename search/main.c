/*
 * memsearch: the read-path daemon. Consumes MEM0_SEARCH_STREAM in the
 * consumer group MEM0_SEARCH_GROUP (N replicas share the requests) and
 * answers each request exactly once on its reply_to key (DESIGN.md,
 * "Request/reply"). main() owns the one struct app: configuration, the
 * libevent loop, two Redis connections (a blocking reader and a command
 * connection), the store's PostgreSQL connections (MEM0_SEARCH_DATABASE_URL
 * may point at a replica) and the embedding model. SIGTERM/SIGINT: stop
 * reading, finish the requests in flight, exit 0.
 */
#include "search.h"
#include "smetrics.h"

#include "cfg.h"
#include "log.h"
#include "models.h"
#include "qembed.h"
#include "store.h"
#include "store_open.h"

#include <event2/event.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_QUERY_CACHE 4096	/* query embeddings kept (about 6 KB each at 1536 dimensions) */
#define DEFAULT_MAX_INFLIGHT 1024
#define CMD_TIMEOUT_MS 5000
#define DRAIN_MAX_MS 15000
#define EXEC_CAP_MAX_MS 30000

struct opts {
	long query_cache;
	long max_inflight;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: memsearch [--env-file FILE] [--NAME VALUE ...] [--query-cache N] [--max-inflight N]\n"
		     "  --query-cache N   query embeddings kept in the LRU cache (default %d, 0 = none)\n"
		     "  --max-inflight N  requests worked on at once (default %d)\n"
		     "Configuration: the environment, .env, or flags (memctl config lists the variables).\n",
		DEFAULT_QUERY_CACHE, DEFAULT_MAX_INFLIGHT);
}

/* What cfg_load left: memsearch's own flags, --name=N or --name N. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct {
		const char *name;
		size_t off;
		long min, max;
	} flags[] = {
		{ "--query-cache", offsetof(struct opts, query_cache), 0, 10000000 },
		{ "--max-inflight", offsetof(struct opts, max_inflight), 1, 100000 },
	};
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *val = NULL;
		char *end;
		long v;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
			size_t n = strlen(flags[k].name);

			if (strncmp(argv[i], flags[k].name, n) == 0 && argv[i][n] == '=')
				val = argv[i] + n + 1;
			else if (strcmp(argv[i], flags[k].name) == 0 && i + 1 < argc)
				val = argv[++i];
			if (val)
				break;
		}
		if (!val) {
			fprintf(stderr, "memsearch: unknown argument '%s'\n", argv[i]);
			usage(stderr);
			return -1;
		}
		v = strtol(val, &end, 10);
		if (*val == '\0' || *end != '\0' || v < flags[k].min || v > flags[k].max) {
			fprintf(stderr, "%s: '%s' is not an integer from %ld to %ld\n", flags[k].name, val, flags[k].min,
				flags[k].max);
			return -1;
		}
		*(long *)((char *)o + flags[k].off) = v;
	}
	return 0;
}

void app_maybe_finish(struct app *a)
{
	if (a->stopping && a->inflight == 0 && !intake_busy(a))
		event_base_loopexit(a->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct app *a = arg;
	struct timeval drain = { DRAIN_MAX_MS / 1000, 0 };

	(void)what;
	if (a->stopping) {
		log_warn("signal %d again: exiting now with %d request(s) unanswered (they stay pending)", (int)sig,
			 a->inflight);
		event_base_loopexit(a->base, NULL);
		return;
	}
	a->stopping = true;
	log_info("signal %d: stopping; finishing %d request(s) in flight", (int)sig, a->inflight);
	intake_stop(a);
	evtimer_add(a->stop_ev, &drain);
	app_maybe_finish(a);
}

static void drain_expired(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;

	(void)fd;
	(void)what;
	log_warn("still %d request(s) in flight after %d ms: exiting; they stay pending and are reclaimed",
		 a->inflight, DRAIN_MAX_MS);
	event_base_loopexit(a->base, NULL);
}

/* Frees what remains after the loop: every outstanding callback fires (failing) first. */
static void app_teardown(struct app *a)
{
	struct rcmd *c;

	a->stopping = true;
	if (a->models)
		models_free(a->models);
	a->models = NULL;
	qembed_free(a->qembed);
	a->qembed = NULL;
	store_free(a->store);
	a->store = NULL;
	c = a->cmd;
	a->cmd = NULL;
	rcmd_free(c);
	c = a->rd;
	a->rd = NULL;
	rcmd_free(c);
	while (a->head) {
		/* no callback can come any more: whatever is left is dropped, still pending in Redis */
		struct sreq *r = a->head;

		r->answered = true;
		r->refs = 0;
		sreq_release(r);
	}
	if (a->sigterm)
		event_free(a->sigterm);
	if (a->sigint)
		event_free(a->sigint);
	if (a->claim_ev)
		event_free(a->claim_ev);
	if (a->retry_ev)
		event_free(a->retry_ev);
	if (a->stop_ev)
		event_free(a->stop_ev);
	if (a->store_wait_ev)
		event_free(a->store_wait_ev);
	/* last: the frees above may still answer requests, which count */
	sm_free(a->sm);
	a->sm = NULL;
}

static int serve(struct app *a, const struct opts *o)
{
	char err[512], redacted[512];
	char *conninfo;
	int claim_ms;
	struct timeval tv;

	a->max_inflight = (int)o->max_inflight;
	a->exec_cap_ms = a->cfg.claim_idle_ms / 2 < EXEC_CAP_MAX_MS ? a->cfg.claim_idle_ms / 2 : EXEC_CAP_MAX_MS;
	a->reader_id = -1;

	a->store = store_open(a->base, &a->cfg, true, err, sizeof(err));
	if (!a->store) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	conninfo = cfg_pg_conninfo(&a->cfg, true);
	log_redact_url(conninfo, redacted, sizeof(redacted));
	free(conninfo);

	a->models = models_new(a->base, &a->cfg, err, sizeof(err));
	if (!a->models)
		log_error("embeddings unavailable, search and context will answer 'unavailable': %s", err);
	a->qembed = qembed_new(a->base, a->models, a->cfg.embedding_dims, (size_t)(o->query_cache > 0 ? o->query_cache : 1));

	a->rd = rcmd_new(a->base, &a->url, 0, "read", intake_state_cb, a);
	a->cmd = rcmd_new(a->base, &a->url, CMD_TIMEOUT_MS, "cmd", NULL, NULL);
	a->sm = sm_new(a, err, sizeof(err));
	if (!a->sm && err[0]) {
		fprintf(stderr, "MEM0_METRICS_ADDR: %s\n", err);
		app_teardown(a);
		return 2;
	}

	a->sigterm = evsignal_new(a->base, SIGTERM, on_signal, a);
	a->sigint = evsignal_new(a->base, SIGINT, on_signal, a);
	evsignal_add(a->sigterm, NULL);
	evsignal_add(a->sigint, NULL);
	a->retry_ev = evtimer_new(a->base, intake_retry_tick, a);
	a->stop_ev = evtimer_new(a->base, drain_expired, a);
	a->store_wait_ev = evtimer_new(a->base, intake_store_wait_tick, a);
	/* look for a dead replica's entries a few times per idle period */
	claim_ms = a->cfg.claim_idle_ms / 4;
	if (claim_ms < 50)
		claim_ms = 50;
	if (claim_ms > 30000)
		claim_ms = 30000;
	tv.tv_sec = claim_ms / 1000;
	tv.tv_usec = (claim_ms % 1000) * 1000;
	a->claim_ev = event_new(a->base, -1, EV_PERSIST, intake_claim_tick, a);
	event_add(a->claim_ev, &tv);

	log_info("memsearch: stream %s, group %s, consumer %s; PostgreSQL %s; "
		 "%d dimensions; query cache %ld; at most %d in flight, each answered within %d ms",
		 a->cfg.search_stream, a->cfg.search_group, a->cfg.consumer, redacted,
		 a->cfg.embedding_dims, o->query_cache, a->max_inflight, a->exec_cap_ms);
	event_base_dispatch(a->base);
	log_info("memsearch: stopped; %llu answered (%llu bad requests, %llu timeouts, %llu failures); "
		 "query cache %llu hits, %llu misses",
		 a->answered, a->bad, a->timeouts, a->failures, qembed_hits(a->qembed), qembed_misses(a->qembed));
	app_teardown(a);
	return 0;
}

/* MEM0_ENABLED=false: start, say so, and wait for the signal to stop. */
static void idle_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int idle(struct app *a)
{
	struct event *t = evsignal_new(a->base, SIGTERM, idle_signal, a->base);
	struct event *i = evsignal_new(a->base, SIGINT, idle_signal, a->base);

	log_warn("MEM0_ENABLED=false: memsearch does not serve requests");
	evsignal_add(t, NULL);
	evsignal_add(i, NULL);
	event_base_dispatch(a->base);
	event_free(t);
	event_free(i);
	return 0;
}

int main(int argc, char **argv)
{
	struct app app;
	struct opts o = { .query_cache = DEFAULT_QUERY_CACHE, .max_inflight = DEFAULT_MAX_INFLIGHT };
	char err[256];
	int rc = 2;

	memset(&app, 0, sizeof(app));
	if (cfg_load(&app.cfg, &argc, argv, NULL, stderr) < 0 || cfg_check_models(&app.cfg, stderr) < 0 ||
	    parse_opts(argc, argv, &o) < 0)
		goto out;
	log_setup((enum log_level)app.cfg.log_level, (enum log_format)app.cfg.log_format, "memsearch");
	if (rcmd_parse_url(app.cfg.redis_url ? app.cfg.redis_url : "redis://127.0.0.1:6379", &app.url, err,
			   sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	/* a peer closing a socket must not kill the daemon: the write reports it */
	signal(SIGPIPE, SIG_IGN);
	app.base = event_base_new();
	if (!app.base) {
		log_error("cannot create the event loop");
		rc = 1;
		goto out;
	}
	rc = app.cfg.enabled ? serve(&app, &o) : idle(&app);
	event_base_free(app.base);
out:
	cfg_free(&app.cfg);
	return rc;
}
