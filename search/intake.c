/*
 * intake: where requests come from. On the read connection, after every
 * (re)connect: CLIENT ID (so shutdown can CLIENT UNBLOCK it), XGROUP CREATE
 * ... 0 MKSTREAM (BUSYGROUP is fine), then XREADGROUP ... BLOCK in a loop,
 * as long as fewer than max_inflight requests are in flight. NOGROUP (Redis
 * restarted empty) creates the group again. On the command connection, a
 * timer XAUTOCLAIMs entries another consumer (a dead replica) left pending
 * longer than MEM0_CLAIM_IDLE_MS; they are answered like new ones (timeout
 * if past their deadline). One state machine, one handler per reply; runs on
 * the app's loop.
 */
#include "search.h"

#include "log.h"
#include "store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 1000
#define CLAIM_COUNT 100
/*
 * While PostgreSQL is not connected, reading waits this long (a start, a
 * short blip) so requests are not failed for nothing, or left to a healthy
 * replica; after that requests are read again and answered 'unavailable',
 * so clients fail fast instead of waiting out their timeouts.
 */
#define STORE_GRACE_MS 3000
#define STORE_POLL_MS 50

static void read_done(void *arg, redisReply *reply, const char *errstr);
static void group_done(void *arg, redisReply *reply, const char *errstr);

static void retry_later(struct app *a)
{
	struct timeval tv = { RETRY_MS / 1000, (RETRY_MS % 1000) * 1000 };

	a->istate = INTAKE_WAITING;
	evtimer_add(a->retry_ev, &tv);
}

static void create_group(struct app *a)
{
	const char *argv[6] = { "XGROUP", "CREATE", a->cfg.search_stream, a->cfg.search_group, "0", "MKSTREAM" };

	a->istate = INTAKE_GROUP;
	if (rcmd_command(a->rd, 6, argv, NULL, group_done, a) < 0)
		a->istate = INTAKE_DOWN;	/* the state callback brings us back */
}

static void hello_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *a = arg;

	(void)errstr;
	if (!reply) {
		if (a->istate != INTAKE_STOPPED)
			a->istate = INTAKE_DOWN;
		app_maybe_finish(a);
		return;
	}
	a->reader_id = reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
	if (a->istate == INTAKE_STOPPED || a->stopping) {
		a->istate = INTAKE_STOPPED;
		app_maybe_finish(a);
		return;
	}
	create_group(a);
}

static void group_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *a = arg;

	if (!reply) {
		if (a->istate != INTAKE_STOPPED)
			a->istate = INTAKE_DOWN;
		app_maybe_finish(a);
		return;
	}
	if (a->stopping) {
		a->istate = INTAKE_STOPPED;
		app_maybe_finish(a);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
		log_error("XGROUP CREATE %s %s: %s", a->cfg.search_stream, a->cfg.search_group, reply->str);
		(void)errstr;
		retry_later(a);
		return;
	}
	if (reply->type != REDIS_REPLY_ERROR)
		log_info("created consumer group %s on %s", a->cfg.search_group, a->cfg.search_stream);
	a->istate = INTAKE_WAITING;
	intake_step(a);
}

void intake_state_cb(void *arg, bool connected)
{
	struct app *a = arg;
	const char *argv[2] = { "CLIENT", "ID" };

	if (!connected) {
		a->reader_id = -1;
		a->reading_logged = false;
		if (a->istate != INTAKE_STOPPED)
			a->istate = INTAKE_DOWN;
		evtimer_del(a->retry_ev);
		app_maybe_finish(a);
		return;
	}
	if (a->stopping) {
		a->istate = INTAKE_STOPPED;
		return;
	}
	a->istate = INTAKE_HELLO;
	if (rcmd_command(a->rd, 2, argv, NULL, hello_done, a) < 0)
		a->istate = INTAKE_DOWN;
}

void intake_retry_tick(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;

	(void)fd;
	(void)what;
	if (a->istate == INTAKE_WAITING)
		create_group(a);	/* also re-checks the group before reading again */
}

/* The store's grace (STORE_GRACE_MS): false while reading should wait for it; a timer then steps again. */
static bool store_may_read(struct app *a)
{
	struct timeval tv = { 0, STORE_POLL_MS * 1000 };
	double now;

	if (store_ready(a->store)) {
		if (a->store_down_since > 0)
			log_info("PostgreSQL connected: reading requests");
		a->store_down_since = 0;
		return true;
	}
	now = search_now_ms();
	if (a->store_down_since == 0) {
		a->store_down_since = now;
		log_info("PostgreSQL not connected: reading waits up to %d ms for it", STORE_GRACE_MS);
	}
	if (now - a->store_down_since >= STORE_GRACE_MS)
		return true;
	if (!evtimer_pending(a->store_wait_ev, NULL))
		evtimer_add(a->store_wait_ev, &tv);
	return false;
}

void intake_store_wait_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	intake_step(arg);
}

void intake_step(struct app *a)
{
	char count[16], block[16];
	const char *argv[11] = { "XREADGROUP", "GROUP", a->cfg.search_group, a->cfg.consumer, "COUNT", count,
				 "BLOCK", block, "STREAMS", a->cfg.search_stream, ">" };
	int room = a->max_inflight - a->inflight;

	switch (a->istate) {
	case INTAKE_DOWN:	/* the read connection's state callback starts over */
	case INTAKE_HELLO:	/* a command is in flight: its reply steps on */
	case INTAKE_GROUP:
	case INTAKE_READING:
	case INTAKE_STOPPED:
		return;
	case INTAKE_WAITING:
		break;
	default:
		log_error("intake: unknown state %d", (int)a->istate);
		return;
	}
	if (a->stopping) {
		a->istate = INTAKE_STOPPED;
		return;
	}
	if (evtimer_pending(a->retry_ev, NULL) || room <= 0)
		return;
	if (!store_may_read(a))
		return;
	snprintf(count, sizeof(count), "%d", room < a->cfg.read_count ? room : a->cfg.read_count);
	snprintf(block, sizeof(block), "%d", a->cfg.block_ms);
	if (!a->reading_logged) {
		/* once per connection: operators (and the replica tests) see when requests start flowing */
		log_info("reading %s as consumer %s of group %s", a->cfg.search_stream, a->cfg.consumer,
			 a->cfg.search_group);
		a->reading_logged = true;
	}
	a->istate = INTAKE_READING;
	if (rcmd_command(a->rd, 11, argv, NULL, read_done, a) < 0)
		a->istate = INTAKE_DOWN;
}

/*
 * A reclaim: the idle pending requests XPENDING listed, with how often
 * each was delivered before (XAUTOCLAIM then delivers it once more).
 */
struct claim {
	struct app *a;
	int n;
	char **ids;
	long *deliveries;
	bool full;			/* XPENDING gave all it was asked for: more may wait */
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

/* Deliveries counting the reclaim's own; 1 for an entry that became idle after XPENDING looked. */
static long claim_deliveries(const struct claim *c, const char *id)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->ids[i], id) == 0)
			return c->deliveries[i] + 1;
	return 1;
}

/* [[id, [field, value, ...]], ...]; c: a reclaim's (NULL for a read: first deliveries). */
static int start_entries(struct app *a, const redisReply *entries, const struct claim *c)
{
	int n = 0;
	size_t i;

	if (!entries || entries->type != REDIS_REPLY_ARRAY)
		return 0;
	for (i = 0; i < entries->elements; i++) {
		const redisReply *e = entries->element[i], *id = rcmd_elem(e, 0);

		if (!id || id->type != REDIS_REPLY_STRING)
			continue;
		if (c && sreq_in_flight(a, id->str))
			continue;
		sreq_start_entry(a, id->str, rcmd_elem(e, 1), c ? claim_deliveries(c, id->str) : 1);
		n++;
	}
	return n;
}

static void read_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *a = arg;
	size_t s;

	if (!reply) {
		/* disconnected or shutting down: the state callback takes over */
		if (a->istate == INTAKE_READING)
			a->istate = a->stopping ? INTAKE_STOPPED : INTAKE_DOWN;
		if (!a->stopping && errstr)
			log_debug("XREADGROUP: %s", errstr);
		app_maybe_finish(a);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (strncmp(reply->str, "NOGROUP", 7) == 0 && !a->stopping) {
			log_warn("consumer group %s on %s is gone (Redis restarted empty?): creating it again",
				 a->cfg.search_group, a->cfg.search_stream);
			create_group(a);
			return;
		}
		log_error("XREADGROUP %s: %s", a->cfg.search_stream, reply->str);
		if (a->stopping) {
			a->istate = INTAKE_STOPPED;
			app_maybe_finish(a);
		} else {
			retry_later(a);
		}
		return;
	}
	/* entries are started while the state still says READING: releases do not read again meanwhile */
	for (s = 0; reply->type == REDIS_REPLY_ARRAY && s < reply->elements; s++)
		start_entries(a, rcmd_elem(reply->element[s], 1), false);
	a->istate = a->stopping ? INTAKE_STOPPED : INTAKE_WAITING;
	intake_step(a);
	app_maybe_finish(a);
}

static void unblock_done(void *arg, redisReply *reply, const char *errstr)
{
	(void)arg;
	if (!reply || reply->type == REDIS_REPLY_ERROR)
		log_debug("CLIENT UNBLOCK: %s", reply ? reply->str : errstr);
}

void intake_stop(struct app *a)
{
	evtimer_del(a->retry_ev);
	evtimer_del(a->claim_ev);
	evtimer_del(a->store_wait_ev);
	if (a->istate == INTAKE_READING) {
		char id[24];
		const char *argv[3] = { "CLIENT", "UNBLOCK", id };

		/* the blocked read returns at once (as a timeout) and delivers nothing more */
		snprintf(id, sizeof(id), "%lld", a->reader_id);
		if (a->reader_id < 0 || rcmd_command(a->cmd, 3, argv, NULL, unblock_done, NULL) < 0)
			log_info("waiting up to %d ms for the blocked read to return", a->cfg.block_ms);
		return;
	}
	if (a->istate != INTAKE_HELLO && a->istate != INTAKE_GROUP)
		a->istate = INTAKE_STOPPED;
}

bool intake_busy(const struct app *a)
{
	return a->istate == INTAKE_READING || a->istate == INTAKE_HELLO || a->istate == INTAKE_GROUP || a->claiming;
}

/* ---- reclaiming a dead replica's entries ---- */

/*
 * XPENDING (idle past MEM0_CLAIM_IDLE_MS) first, for the delivery counts,
 * then XAUTOCLAIM: a request delivered more than MEM0_MAX_DELIVERIES times
 * took down or stalled every replica that ran it, so it is answered
 * "internal" and acknowledged rather than run again (sreq_start_entry).
 */
static void claim_done(void *arg, redisReply *reply, const char *errstr)
{
	struct claim *c = arg;
	struct app *a = c->a;
	int n;

	a->claiming = false;
	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOGROUP", 7) != 0)
			log_warn("XAUTOCLAIM %s: %s", a->cfg.search_stream, reply->str);
		else if (!reply)
			log_debug("XAUTOCLAIM: %s", errstr);
		claim_free(c);
		app_maybe_finish(a);
		return;
	}
	n = start_entries(a, rcmd_elem(reply, 1), c);
	if (n > 0)
		log_info("reclaimed %d request(s) left pending by another consumer", n);
	/* more to claim: go on at once rather than at the next tick */
	if (n > 0 && c->full && !a->stopping)
		intake_claim_tick(-1, 0, a);
	claim_free(c);
	app_maybe_finish(a);
}

static void pending_done(void *arg, redisReply *reply, const char *errstr)
{
	struct app *a = arg;
	char idle[16], count[16];
	const char *argv[8] = { "XAUTOCLAIM", a->cfg.search_stream, a->cfg.search_group, a->cfg.consumer, idle,
				"0-0", "COUNT", count };
	struct claim *c;
	size_t i;

	if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || a->stopping) {
		if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOGROUP", 7) != 0)
			log_warn("XPENDING %s: %s", a->cfg.search_stream, reply->str);
		else if (!reply)
			log_debug("XPENDING: %s", errstr);
		a->claiming = false;
		app_maybe_finish(a);
		return;
	}
	c = mw_calloc(1, sizeof(*c));
	c->a = a;
	c->full = reply->elements >= (size_t)a->claim_asked;
	c->ids = mw_calloc(reply->elements, sizeof(*c->ids));
	c->deliveries = mw_calloc(reply->elements, sizeof(*c->deliveries));
	for (i = 0; i < reply->elements; i++) {
		const redisReply *id = rcmd_elem(reply->element[i], 0), *d = rcmd_elem(reply->element[i], 3);

		if (!id || id->type != REDIS_REPLY_STRING || !d || d->type != REDIS_REPLY_INTEGER)
			continue;
		c->ids[c->n] = mw_strdup(id->str);
		c->deliveries[c->n] = (long)d->integer;
		c->n++;
	}
	snprintf(idle, sizeof(idle), "%d", a->cfg.claim_idle_ms);
	snprintf(count, sizeof(count), "%zu", reply->elements);
	if (rcmd_command(a->cmd, 8, argv, NULL, claim_done, c) < 0) {
		claim_free(c);
		a->claiming = false;
		app_maybe_finish(a);
	}
}

void intake_claim_tick(evutil_socket_t fd, short what, void *arg)
{
	struct app *a = arg;
	char idle[16], count[16];
	const char *argv[8] = { "XPENDING", a->cfg.search_stream, a->cfg.search_group, "IDLE", idle, "-", "+", count };
	int room = a->max_inflight - a->inflight;

	(void)fd;
	(void)what;
	if (a->stopping || a->claiming || room <= 0 || !rcmd_connected(a->cmd) || !store_ready(a->store))
		return;
	snprintf(idle, sizeof(idle), "%d", a->cfg.claim_idle_ms);
	a->claim_asked = room < CLAIM_COUNT ? room : CLAIM_COUNT;
	snprintf(count, sizeof(count), "%d", a->claim_asked);
	if (rcmd_command(a->cmd, 8, argv, NULL, pending_done, a) == 0)
		a->claiming = true;
}
