/*
 * trim: the worker's automatic stream trim, on when MEM0_TRIM_KEEP_DAYS > 0.
 * A timer on the worker's loop runs the safe-trim script (common/rstream.h)
 * on the command connection shortly after start and then every
 * MEM0_TRIM_INTERVAL_MS: entries older than the cutoff go unless a consumer
 * group still needs them (pending, or not yet delivered), decided atomically
 * inside Redis. Replicas may all run it: a second trim finds nothing to do.
 */
#include "app.h"
#include "cfg.h"
#include "log.h"
#include "rstream.h"
#include "wmetrics.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#define TRIM_FIRST_MS 2000

static void trim_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *app = arg;
	struct rstream_trim t;
	char err[256];

	if (!reply) {
		log_warn("stream trim: %s", errstr ? errstr : "no reply");
		return;
	}
	if (rstream_trim_parse(reply, &t, err, sizeof(err)) < 0) {
		log_warn("stream trim: %s", err);
		return;
	}
	wm_trim(app->wm, t.deleted);
	if (t.deleted > 0)
		log_info("stream trim: %lld entries before %s removed (limit: %s)", t.deleted, t.minid, t.why);
	else
		log_debug("stream trim: nothing to remove (%s%s%s)", t.minid[0] ? "before " : "", t.minid,
			  t.minid[0] ? "" : t.why);
}

static void trim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;
	struct timeval tv = { app->cfg->trim_interval_ms / 1000, (app->cfg->trim_interval_ms % 1000) * 1000 };
	char keep[32];
	const char *argv[] = { "EVAL", rstream_trim_script, "1", app->cfg->stream, keep, "exact", "0" };

	(void)fd;
	(void)what;
	evtimer_add(app->trim_timer, &tv);
	if (app->stopping)
		return;
	snprintf(keep, sizeof(keep), "%lld", (long long)app->cfg->trim_keep_days * 86400000LL);
	if (rcmd_command(app->rcmd, 7, argv, NULL, trim_done, app) < 0)
		log_debug("stream trim skipped: Redis not connected");
}

void trim_start(struct app *app)
{
	int first = app->cfg->trim_interval_ms < TRIM_FIRST_MS ? app->cfg->trim_interval_ms : TRIM_FIRST_MS;
	struct timeval tv = { first / 1000, (first % 1000) * 1000 };

	if (app->cfg->trim_keep_days <= 0 || app->trim_timer)
		return;
	app->trim_timer = evtimer_new(app->base, trim_tick, app);
	evtimer_add(app->trim_timer, &tv);
	log_info("stream trim: every %d s, keeping %d days and everything a group still needs",
		 app->cfg->trim_interval_ms / 1000, app->cfg->trim_keep_days);
}
