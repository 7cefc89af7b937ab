/*
 * rloop: see rloop.h. One struct per context, four events: rd (read,
 * persistent, added once), wr (write, persistent, armed only while
 * connecting or while the socket is full), flush (made active when a
 * command is queued: writes at the end of the loop's turn) and tmo
 * (hiredis's connect or command timeout). hiredis may free the context,
 * and so call our cleanup, from inside any of our handlers: then the
 * struct is only marked and freed when the handler unwinds (the rule of
 * hiredis's own adapter).
 */
#include "rloop.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

struct rloop {
	redisAsyncContext *ac;
	struct event *rd, *wr, *flush, *tmo;
	struct timeval tv;
	bool reading;		/* rd added */
	bool writing;		/* wr armed */
	bool flush_due;		/* flush made active, not yet run */
	bool in_write;		/* inside redisAsyncHandleWrite: a write request now means the socket is full */
	int entered;		/* handlers on the stack */
	bool deleted;		/* cleaned up while entered */
};

static void rloop_free(struct rloop *l)
{
	if (l->rd)
		event_free(l->rd);
	if (l->wr)
		event_free(l->wr);
	if (l->flush)
		event_free(l->flush);
	if (l->tmo)
		event_free(l->tmo);
	free(l);
}

/* Leaves a handler; true when the struct is gone and must not be touched again. */
static bool leave(struct rloop *l)
{
	if (--l->entered == 0 && l->deleted) {
		free(l);
		return true;
	}
	return l->deleted;
}

static void handle_write(struct rloop *l)
{
	l->in_write = true;
	redisAsyncHandleWrite(l->ac);
	/* when the context was cleaned up inside, l is still ours (entered): only the flag is touched */
	l->in_write = false;
}

/* One of hiredis's handlers, with the struct kept alive while it runs. */
static void guarded(struct rloop *l, void (*handle)(redisAsyncContext *))
{
	l->entered++;
	handle(l->ac);
	leave(l);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	guarded(arg, redisAsyncHandleRead);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct rloop *l = arg;

	(void)fd;
	(void)what;
	l->entered++;
	handle_write(l);
	leave(l);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct rloop *l = arg;

	(void)fd;
	(void)what;
	l->flush_due = false;
	/* the socket was full: the write event goes on when it drains */
	if (l->writing)
		return;
	l->entered++;
	handle_write(l);
	leave(l);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	guarded(arg, redisAsyncHandleTimeout);
}

static void add_read(void *data)
{
	struct rloop *l = data;

	if (!l->reading && event_add(l->rd, NULL) == 0)
		l->reading = true;
}

static void del_read(void *data)
{
	struct rloop *l = data;

	if (l->reading) {
		event_del(l->rd);
		l->reading = false;
	}
}

static void arm_write(struct rloop *l)
{
	if (!l->writing && event_add(l->wr, NULL) == 0)
		l->writing = true;
}

static void add_write(void *data)
{
	struct rloop *l = data;

	/*
	 * Connecting: the first write event says the connect finished. Inside
	 * a write: hiredis could not write everything. Either way only the
	 * socket can say when to go on.
	 */
	if (!(l->ac->c.flags & REDIS_CONNECTED) || l->in_write) {
		arm_write(l);
		return;
	}
	if (l->writing || l->flush_due)
		return;
	l->flush_due = true;
	event_active(l->flush, EV_TIMEOUT, 0);
}

static void del_write(void *data)
{
	struct rloop *l = data;

	if (l->writing) {
		event_del(l->wr);
		l->writing = false;
	}
}

static void schedule_timer(void *data, struct timeval tv)
{
	struct rloop *l = data;

	l->tv = tv;
	evtimer_add(l->tmo, &l->tv);
}

static void cleanup(void *data)
{
	struct rloop *l = data;
	struct event **evs[4] = { &l->rd, &l->wr, &l->flush, &l->tmo };
	int i;

	if (!l)
		return;
	if (!l->entered) {
		rloop_free(l);
		return;
	}
	/* inside one of our handlers: the events go now, the struct when it unwinds */
	for (i = 0; i < 4; i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	l->deleted = true;
}

int rloop_attach(redisAsyncContext *ac, struct event_base *base)
{
	struct rloop *l;
	evutil_socket_t fd = ac->c.fd;

	if (ac->ev.data)
		return -1;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -1;
	l->ac = ac;
	l->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_read, l);
	l->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, l);
	l->flush = event_new(base, -1, 0, on_flush, l);
	l->tmo = evtimer_new(base, on_timeout, l);
	if (!l->rd || !l->wr || !l->flush || !l->tmo) {
		rloop_free(l);
		return -1;
	}
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.scheduleTimer = schedule_timer;
	ac->ev.data = l;
	return 0;
}
