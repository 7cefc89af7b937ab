/*
 * request: one read-path request from the moment its stream entry arrives
 * to its one reply. Validates the fields (sproto), refuses what is past its
 * deadline, runs the op (ops.c) under a watchdog, and sends exactly one
 * answer with the ack (reply.c). A request is freed when it is answered and
 * no callback of the store, the embedder or Redis is still to come: late
 * results after the watchdog answered are dropped. Owned by the app's
 * in-flight list; runs on the app's loop.
 */
#include "search.h"
#include "smetrics.h"

#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double search_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

long long search_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sreq_elapsed_ms(const struct sreq *r)
{
	return search_now_ms() - r->t0;
}

bool sreq_in_flight(const struct app *a, const char *entry_id)
{
	const struct sreq *r;

	for (r = a->head; r; r = r->next)
		if (strcmp(r->entry, entry_id) == 0)
			return true;
	return false;
}

static void unlink_req(struct sreq *r)
{
	struct app *a = r->app;

	if (r->prev)
		r->prev->next = r->next;
	else
		a->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	a->inflight--;
}

void sreq_release(struct sreq *r)
{
	struct app *a = r->app;

	if (!r->answered || r->refs > 0)
		return;
	unlink_req(r);
	if (r->watchdog)
		event_free(r->watchdog);
	free(r->reply);
	sproto_request_clear(&r->rq);
	free(r);
	/* room for more, or the last one of a drain */
	intake_step(a);
	app_maybe_finish(a);
}

void sreq_answer(struct sreq *r, char *json)
{
	struct app *a = r->app;

	if (r->answered) {
		free(json);
		return;
	}
	r->answered = true;
	if (r->watchdog)
		event_del(r->watchdog);
	sm_request(a->sm, r, r->outcome[0] ? r->outcome : "ok", r->nresults);
	r->reply = json;
	a->answered++;
	ulog_debug(r->rq.user, r->entry, "%s answered in %.3f ms: %.200s", sproto_op_name(r->rq.op),
		   sreq_elapsed_ms(r), json);
	if (reply_send(r, json) < 0) {
		/*
		 * Redis is gone: the entry stays pending and is reclaimed
		 * (XAUTOCLAIM) once Redis is back, then answered again.
		 */
		ulog_warn(r->rq.user, r->entry, "reply to %s not sent: Redis is not connected", r->rq.reply_to);
		a->failures++;
	}
}

void sreq_answer_error(struct sreq *r, const char *code, const char *message)
{
	snprintf(r->outcome, sizeof(r->outcome), "%s", code);
	if (strcmp(code, "bad_request") == 0)
		r->app->bad++;
	else if (strcmp(code, "timeout") == 0)
		r->app->timeouts++;
	else
		r->app->failures++;
	sreq_answer(r, sproto_reply_error(r->rq.request_id, code, message, sreq_elapsed_ms(r)));
}

static void watchdog_fired(evutil_socket_t fd, short what, void *arg)
{
	struct sreq *r = arg;
	char msg[128];

	(void)fd;
	(void)what;
	if (r->rq.deadline_ms && search_epoch_ms() >= r->rq.deadline_ms)
		snprintf(msg, sizeof(msg), "deadline_ms passed while the request ran");
	else
		snprintf(msg, sizeof(msg), "not done after %d ms", r->app->exec_cap_ms);
	ulog_warn(r->rq.user, r->entry, "%s: %s", sproto_op_name(r->rq.op), msg);
	sreq_answer_error(r, "timeout", msg);
	sreq_release(r);
}

/* Stream fields arrive as a flat array: name, value, name, value, ... */
static void parse_fields(struct sreq *r, const redisReply *fields, int limit_max)
{
	const char *names[64], *values[64];
	size_t nl[64], vl[64];
	int n = 0;
	size_t i;

	for (i = 0; fields && fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements && n < 64; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		names[n] = k->str;
		nl[n] = k->len;
		values[n] = v->str;
		vl[n] = v->len;
		n++;
	}
	r->valid = sproto_parse(names, nl, values, vl, n, limit_max, &r->rq, r->err, sizeof(r->err)) == 0;
}

void sreq_start_entry(struct app *a, const char *entry_id, const redisReply *fields, long deliveries)
{
	struct sreq *r = mw_calloc(1, sizeof(*r));
	long long now;

	r->app = a;
	r->t0 = search_now_ms();
	r->nresults = -1;
	snprintf(r->entry, sizeof(r->entry), "%s", entry_id);
	r->next = a->head;
	if (a->head)
		a->head->prev = r;
	a->head = r;
	a->inflight++;

	parse_fields(r, fields, a->cfg.search_limit_max);
	if (!r->rq.reply_to) {
		/* nobody to answer: acknowledged so it does not come back */
		ulog_warn(r->valid ? r->rq.user : -1, r->entry, "request without a usable reply_to (missing, empty or "
			  "longer than %d bytes): acknowledged unanswered", SPROTO_REPLY_TO_MAX);
		r->answered = true;
		a->bad++;
		if (reply_send(r, NULL) < 0)
			ulog_warn(-1, r->entry, "ack not sent: Redis is not connected");
		sreq_release(r);
		return;
	}
	if (!r->valid) {
		ulog_info(-1, r->entry, "bad request: %s", r->err);
		sreq_answer_error(r, "bad_request", r->err);
		sreq_release(r);
		return;
	}
	if (deliveries > a->cfg.max_deliveries) {
		char msg[192];

		ulog_warn(r->rq.user, r->entry, "%s delivered %ld times without an answer (MEM0_MAX_DELIVERIES=%d): "
			  "answered internal, not run again", sproto_op_name(r->rq.op), deliveries,
			  a->cfg.max_deliveries);
		snprintf(msg, sizeof(msg), "the request was delivered %ld times without an answer (a replica that ran "
			 "it stopped or stalled); it is not run again", deliveries);
		sreq_answer_error(r, "internal", msg);
		sreq_release(r);
		return;
	}
	now = search_epoch_ms();
	if (r->rq.deadline_ms && now >= r->rq.deadline_ms) {
		char msg[96];

		snprintf(msg, sizeof(msg), "deadline_ms passed %lld ms before the request was read",
			 now - r->rq.deadline_ms);
		sreq_answer_error(r, "timeout", msg);
		sreq_release(r);
		return;
	}
	{
		long long ms = a->exec_cap_ms;
		struct timeval tv;

		if (r->rq.deadline_ms && r->rq.deadline_ms - now < ms)
			ms = r->rq.deadline_ms - now;
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
		r->watchdog = evtimer_new(a->base, watchdog_fired, r);
		evtimer_add(r->watchdog, &tv);
	}
	ops_run(r);
	sreq_release(r);
}
