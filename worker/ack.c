/*
 * ack: the end of every entry. XACK after the transaction committed; a dead
 * letter is XADDed to <stream>:dlq with its reason and original fields
 * first, and acked only once that XADD succeeded, so an entry is never
 * dropped silently. If Redis is down, the entry stays pending and comes back
 * through XAUTOCLAIM; the ingest log makes the second pass a no-op.
 */
#include "app.h"
#include "cfg.h"
#include "entry.h"
#include "idset.h"
#include "log.h"
#include "wmetrics.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ack_req {
	struct app *app;
	struct entry **entries;
	int n;
	int tries;
};

/*
 * An XACK that could not be sent or got no answer (Redis restarting) is
 * sent again for a while, the entries still held: otherwise they would wait
 * a whole MEM0_CLAIM_IDLE_MS to be reclaimed and skipped. Past that they are
 * released and the reclaim path takes over.
 */
#define XACK_RETRY_MS 200
#define XACK_MAX_TRIES 100

static void send_req(struct ack_req *r);

static void xack_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_req(arg);
}

static void release(struct app *app, struct entry **entries, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		idset_del(app->held_ids, entries[i]->stream_id);
		entry_free(entries[i]);
		free(entries[i]);
	}
	app->held -= n;
	intake_kick(app);
}

static void xack_done(void *arg, redisReply *reply, const char *errstr)
{
	struct ack_req *r = arg;

	if (!reply && !r->app->stopping && ++r->tries < XACK_MAX_TRIES) {
		struct timeval tv = { 0, XACK_RETRY_MS * 1000 };

		if (r->tries == 1)
			log_warn("XACK of %d entries not done (%s): trying again", r->n, errstr ? errstr : "no reply");
		event_base_once(r->app->base, -1, EV_TIMEOUT, xack_retry, r, &tv);
		return;
	}
	if (rcmd_is_error(reply)) {
		log_warn("XACK of %d entries failed (%s): they will be redelivered and skipped", r->n,
			 reply ? reply->str : errstr);
	} else {
		r->app->stats.acked += r->n;
		wm_entries_done(r->app->wm, r->entries, r->n);
	}
	release(r->app, r->entries, r->n);
	free(r->entries);
	free(r);
}

static void send_req(struct ack_req *r)
{
	struct app *app = r->app;
	const char **argv = mw_calloc((size_t)r->n + 3, sizeof(char *));
	int i;

	argv[0] = "XACK";
	argv[1] = app->cfg->stream;
	argv[2] = app->cfg->group;
	for (i = 0; i < r->n; i++)
		argv[3 + i] = r->entries[i]->stream_id;
	if (rcmd_command(app->rcmd, r->n + 3, argv, NULL, xack_done, r) < 0)
		xack_done(r, NULL, "Redis not connected");
	free(argv);
}

static void send_xack(struct app *app, struct entry **entries, int n)
{
	struct ack_req *r = mw_calloc(1, sizeof(*r));

	r->app = app;
	r->entries = entries;
	r->n = n;
	send_req(r);
}

void ack_entries(struct app *app, struct entry **entries, int n)
{
	send_xack(app, entries, n);
}

struct dlq_req {
	struct app *app;
	struct entry *e;
};

static void dlq_done(void *arg, redisReply *reply, const char *errstr)
{
	struct dlq_req *r = arg;
	struct entry **one;

	if (rcmd_is_error(reply)) {
		/* not acked: the entry stays pending and is tried again */
		log_error("dead-lettering %s failed (%s); it stays pending", r->e->stream_id,
			  reply ? reply->str : errstr);
		release(r->app, &r->e, 1);
		free(r);
		return;
	}
	r->app->stats.dead_lettered++;
	one = mw_malloc(sizeof(*one));
	one[0] = r->e;
	send_xack(r->app, one, 1);
	free(r);
}

void ack_dead_letter(struct app *app, struct entry *e, const char *reason)
{
	int argc = 0, i;
	const char **argv = mw_calloc((size_t)e->nfields + 16, sizeof(char *));
	char deliveries[24], user[24];
	struct dlq_req *r = mw_calloc(1, sizeof(*r));

	snprintf(deliveries, sizeof(deliveries), "%ld", e->deliveries);
	snprintf(user, sizeof(user), "%lld", (long long)e->user);
	ulog_warn(e->user > 0 ? e->user : -1, e->stream_id, "dead-lettered: %s", reason);
	argv[argc++] = "XADD";
	argv[argc++] = app->dlq_stream;
	argv[argc++] = "*";
	argv[argc++] = "dlq_reason";
	argv[argc++] = reason;
	argv[argc++] = "dlq_entry_id";
	argv[argc++] = e->stream_id;
	argv[argc++] = "dlq_stream";
	argv[argc++] = app->cfg->stream;
	argv[argc++] = "dlq_deliveries";
	argv[argc++] = deliveries;
	/* the original fields, as they were (field names never start with dlq_) */
	for (i = 0; i + 1 < e->nfields; i += 2) {
		if (strncmp(e->fields[i], "dlq_", 4) == 0)
			continue;
		argv[argc++] = e->fields[i];
		argv[argc++] = e->fields[i + 1];
	}
	r->app = app;
	r->e = e;
	if (rcmd_command(app->rcmd, argc, argv, NULL, dlq_done, r) < 0)
		dlq_done(r, NULL, "Redis not connected");
	free(argv);
}
