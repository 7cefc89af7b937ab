/*
 * intake: reads the ingest stream through the consumer group on the
 * connection reserved for XREADGROUP ... BLOCK, validates each entry and
 * hands it to the batcher (or to the dead-letter stream). Creates the group
 * (MKSTREAM, from the start of the stream) if missing, also after a Redis
 * that lost it. Reclaims entries other consumers left pending past
 * MEM0_CLAIM_IDLE_MS with XAUTOCLAIM, dead-lettering those delivered more
 * than MEM0_MAX_DELIVERIES times. Stops reading while too many entries are
 * held (backpressure) and when stopping.
 */
#include "app.h"
#include "cfg.h"
#include "entry.h"
#include "idset.h"
#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_next(struct app *app);
static void ensure_group(struct app *app);

static int max_held(const struct app *app)
{
	return app->cfg->max_held;
}

/* One stream entry [id, [field, value, ...]]; deliveries from XPENDING (0 = fresh). */
static void take_entry(struct app *app, const redisReply *item, long deliveries)
{
	const redisReply *id = rcmd_elem(item, 0), *fields = rcmd_elem(item, 1);
	struct entry_limits lim = { .max_content_bytes = (size_t)app->cfg->max_content_bytes };
	struct entry *e;
	char reason[512];
	const char **fv;
	size_t *lens, i;

	if (!id || id->type != REDIS_REPLY_STRING)
		return;
	if (idset_has(app->held_ids, id->str))
		return;		/* reclaimed while we still work on it */
	if (!fields || fields->type != REDIS_REPLY_ARRAY) {
		/* deleted from the stream while pending: nothing left to apply */
		const char *argv[4] = { "XACK", app->cfg->stream, app->cfg->group, id->str };
		log_warn("entry %s is gone from the stream (trimmed?); acking it", id->str);
		if (rcmd_command(app->rcmd, 4, argv, NULL, NULL, NULL) < 0)
			log_warn("XACK %s not sent: Redis not connected", id->str);
		return;
	}
	idset_add(app->held_ids, id->str);
	app->held++;
	app->stats.read++;
	fv = mw_calloc(fields->elements + 1, sizeof(char *));
	lens = mw_calloc(fields->elements + 1, sizeof(size_t));
	for (i = 0; i < fields->elements; i++) {
		const redisReply *f = fields->element[i];
		fv[i] = f->type == REDIS_REPLY_STRING ? f->str : "";
		lens[i] = f->type == REDIS_REPLY_STRING ? f->len : 0;
	}
	e = mw_calloc(1, sizeof(*e));
	if (entry_parse(e, id->str, fv, lens, (int)fields->elements, &lim, reason, sizeof(reason)) < 0) {
		app->stats.invalid++;
		e->deliveries = deliveries ? deliveries : 1;
		ack_dead_letter(app, e, reason);
	} else if (deliveries > app->cfg->max_deliveries) {
		e->deliveries = deliveries;
		snprintf(reason, sizeof(reason), "delivered %ld times without being applied (MEM0_MAX_DELIVERIES=%d)",
			 deliveries, app->cfg->max_deliveries);
		ack_dead_letter(app, e, reason);
	} else {
		e->deliveries = deliveries ? deliveries : 1;
		batcher_add(app->batcher, e);
	}
	free(fv);
	free(lens);
}

static void on_read(void *arg, redisReply *reply, const char *errstr)
{
	struct app *app = arg;
	const redisReply *stream, *entries;
	size_t i;

	app->reading = false;
	if (!reply) {
		log_warn("XREADGROUP: %s", errstr ? errstr : "no reply");
		return;		/* the connection's state callback restarts reading */
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "NOGROUP", 7) == 0) {
			log_warn("consumer group %s is gone (Redis restarted without data?); creating it again",
				 app->cfg->group);
			app->group_ready = false;
			ensure_group(app);
		} else {
			log_error("XREADGROUP: %s", reply->str);
		}
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0) {
		stream = reply->element[0];
		entries = rcmd_elem(stream, 1);
		for (i = 0; entries && i < entries->elements; i++)
			take_entry(app, entries->element[i], 0);
	}
	read_next(app);
}

static void read_next(struct app *app)
{
	char count[16], block[16];
	const char *argv[] = { "XREADGROUP", "GROUP", app->cfg->group, app->cfg->consumer, "COUNT", count,
			       "BLOCK", block, "STREAMS", app->cfg->stream, ">" };

	/* no reading while acks cannot be sent: the entries would only wait */
	if (app->reading || app->stopping || !app->group_ready || app->held >= max_held(app) ||
	    !rcmd_connected(app->rcmd))
		return;
	snprintf(count, sizeof(count), "%d", app->cfg->read_count);
	snprintf(block, sizeof(block), "%d", app->cfg->block_ms);
	if (rcmd_command(app->rread, 11, argv, NULL, on_read, app) == 0)
		app->reading = true;
}

void intake_kick(struct app *app)
{
	read_next(app);
}

static void group_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *app = arg;

	if (!reply) {
		log_warn("XGROUP CREATE: %s", errstr ? errstr : "no reply");
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		log_error("XGROUP CREATE %s %s: %s", app->cfg->stream, app->cfg->group, reply->str);
		return;
	}
	if (!app->group_ready)
		log_info("reading %s as %s in group %s", app->cfg->stream, app->cfg->consumer, app->cfg->group);
	app->group_ready = true;
	read_next(app);
}

static void ensure_group(struct app *app)
{
	/* from the stream's start: entries pushed before any worker ran are not lost */
	const char *argv[] = { "XGROUP", "CREATE", app->cfg->stream, app->cfg->group, "0", "MKSTREAM" };

	if (rcmd_command(app->rread, 6, argv, NULL, group_done, app) < 0)
		log_warn("XGROUP CREATE not sent: Redis not connected");
}

void intake_cmd_state(void *arg, bool connected)
{
	if (connected)
		read_next(arg);	/* reading waits for the command connection too */
}

void intake_redis_state(void *arg, bool connected)
{
	struct app *app = arg;

	if (connected) {
		ensure_group(app);
	} else {
		app->group_ready = false;
		app->reading = false;
	}
}

/* ---- reclaiming ---- */

struct claim {
	struct app *app;
	int n;
	char **ids;
	long *deliveries;
};

static void claim_free(struct claim *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		free(c->ids[i]);
	free(c->ids);
	free(c->deliveries);
	free(c);
}

static long claim_deliveries(const struct claim *c, const char *id)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->ids[i], id) == 0)
			return c->deliveries[i] + 1;	/* this claim is one more delivery */
	return 2;
}

static void autoclaim_done(void *arg, redisReply *reply, const char *errstr)
{
	struct claim *c = arg;
	struct app *app = c->app;
	const redisReply *entries = rcmd_elem(reply, 1);
	size_t i;

	app->claiming = false;
	if (rcmd_is_error(reply)) {
		log_warn("XAUTOCLAIM: %s", reply ? reply->str : errstr);
		claim_free(c);
		return;
	}
	for (i = 0; entries && i < entries->elements; i++) {
		const redisReply *id = rcmd_elem(entries->element[i], 0);
		if (!id || id->type != REDIS_REPLY_STRING || idset_has(app->held_ids, id->str))
			continue;
		app->stats.reclaimed++;
		log_info("reclaimed %s idle past MEM0_CLAIM_IDLE_MS", id->str);
		take_entry(app, entries->element[i], claim_deliveries(c, id->str));
	}
	claim_free(c);
}

static void pending_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *app = arg;
	char idle[16], count[16];
	const char *argv[] = { "XAUTOCLAIM", app->cfg->stream, app->cfg->group, app->cfg->consumer, idle, "0-0",
			       "COUNT", count };
	struct claim *c;
	size_t i;

	if (rcmd_is_error(reply) || reply->type != REDIS_REPLY_ARRAY) {
		if (rcmd_is_error(reply))
			log_warn("XPENDING: %s", reply ? reply->str : errstr);
		app->claiming = false;
		return;
	}
	c = mw_calloc(1, sizeof(*c));
	c->app = app;
	c->ids = mw_calloc(reply->elements + 1, sizeof(char *));
	c->deliveries = mw_calloc(reply->elements + 1, sizeof(long));
	for (i = 0; i < reply->elements; i++) {
		const redisReply *id = rcmd_elem(reply->element[i], 0), *d = rcmd_elem(reply->element[i], 3);
		if (!id || id->type != REDIS_REPLY_STRING || !d || d->type != REDIS_REPLY_INTEGER)
			continue;
		if (idset_has(app->held_ids, id->str))
			continue;
		c->ids[c->n] = mw_strdup(id->str);
		c->deliveries[c->n] = (long)d->integer;
		c->n++;
	}
	if (c->n == 0) {
		claim_free(c);
		app->claiming = false;
		return;
	}
	snprintf(idle, sizeof(idle), "%d", app->cfg->claim_idle_ms);
	snprintf(count, sizeof(count), "%d", app->cfg->read_count);
	if (rcmd_command(app->rcmd, 8, argv, NULL, autoclaim_done, c) < 0) {
		claim_free(c);
		app->claiming = false;
	}
}

static void claim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct app *app = arg;
	char idle[16], count[16];
	const char *argv[] = { "XPENDING", app->cfg->stream, app->cfg->group, "IDLE", idle, "-", "+", count };

	(void)fd;
	(void)what;
	if (app->claiming || app->stopping || !app->group_ready || app->held >= max_held(app))
		return;
	snprintf(idle, sizeof(idle), "%d", app->cfg->claim_idle_ms);
	snprintf(count, sizeof(count), "%d", app->cfg->read_count);
	if (rcmd_command(app->rcmd, 8, argv, NULL, pending_done, app) == 0)
		app->claiming = true;
}

/* ---- heartbeat ---- */

/*
 * Entries we hold (a batch retrying through an outage, say) must not look
 * idle to other replicas' reclaim: XCLAIM them to ourselves with JUSTID,
 * which resets their idle time and does not count as a delivery.
 */
struct beat {
	const char **argv;
	int argc, cap;
};

static void beat_add(const char *id, void *arg)
{
	struct beat *b = arg;

	if (b->argc == b->cap) {
		b->cap *= 2;
		b->argv = mw_realloc(b->argv, sizeof(char *) * (size_t)b->cap);
	}
	b->argv[b->argc++] = id;
}

static void heartbeat_done(void *arg, redisReply *reply, const char *errstr)
{
	(void)arg;
	if (rcmd_is_error(reply))
		log_warn("heartbeat XCLAIM: %s", reply ? reply->str : errstr);
}

static void heartbeat(struct app *app)
{
	struct beat b = { .cap = 64 };

	if (idset_count(app->held_ids) == 0 || !app->group_ready)
		return;
	b.argv = mw_malloc(sizeof(char *) * (size_t)b.cap);
	beat_add("XCLAIM", &b);
	beat_add(app->cfg->stream, &b);
	beat_add(app->cfg->group, &b);
	beat_add(app->cfg->consumer, &b);
	beat_add("0", &b);
	idset_each(app->held_ids, beat_add, &b);
	beat_add("JUSTID", &b);
	if (rcmd_command(app->rcmd, b.argc, b.argv, NULL, heartbeat_done, app) < 0)
		log_debug("heartbeat skipped: Redis not connected");
	free(b.argv);
}

static void beat_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	heartbeat(arg);
}

void intake_start(struct app *app)
{
	int ms = app->cfg->claim_idle_ms / 2;
	struct timeval tv;

	if (ms < 200)
		ms = 200;
	if (ms > 30000)
		ms = 30000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	app->claim_timer = event_new(app->base, -1, EV_PERSIST, claim_tick, app);
	event_add(app->claim_timer, &tv);
	/* three beats per idle period: a held entry never looks idle to others */
	ms = app->cfg->claim_idle_ms / 3;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	app->beat_timer = event_new(app->base, -1, EV_PERSIST, beat_tick, app);
	event_add(app->beat_timer, &tv);
	trim_start(app);
}
