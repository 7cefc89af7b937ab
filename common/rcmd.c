/*
 * rcmd: see rcmd.h. State: DISCONNECTED -> CONNECTING -> READY, back to
 * DISCONNECTED on error with a reconnect timer armed. hiredis frees its
 * context after the disconnect callback returns, so we only drop our pointer
 * there; rcmd_free() from inside a reply callback is deferred by hiredis.
 */
#include "rcmd.h"

#include "log.h"
#include "rloop.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000

enum rcmd_state { RCMD_DISCONNECTED = 0, RCMD_CONNECTING, RCMD_READY };

struct rcmd {
	struct event_base *base;
	struct redis_url url;
	int cmd_timeout_ms;
	char name[32];
	rcmd_state_cb state_cb;
	void *state_arg;

	redisAsyncContext *ac;
	enum rcmd_state state;
	int backoff_ms;
	struct event *reconnect_ev;
	int pending;
	bool closing;
};

struct rcmd_req {
	struct rcmd *r;
	rcmd_reply_cb cb;
	void *arg;
};

static void start_connect(struct rcmd *r);

int rcmd_parse_url(const char *url, struct redis_url *out, char *err, size_t errlen)
{
	const char *p, *at, *slash, *colon, *hostend;

	memset(out, 0, sizeof(*out));
	out->port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		const char *q = strchr(url + 7, '?');
		size_t n = q ? (size_t)(q - url - 7) : strlen(url + 7);

		if (n == 0 || n >= sizeof(out->path)) {
			snprintf(err, errlen, "REDIS_URL: bad unix socket path");
			return -1;
		}
		memcpy(out->path, url + 7, n);
		if (q && strncmp(q, "?db=", 4) == 0)
			out->db = atoi(q + 4);
		return 0;
	}
	if (strncmp(url, "redis://", 8) == 0) {
		p = url + 8;
	} else if (strncmp(url, "rediss://", 9) == 0) {
		p = url + 9;
		out->tls = true;
	} else {
		snprintf(err, errlen, "REDIS_URL: must start with redis://, rediss:// or unix://");
		return -1;
	}
	slash = strchr(p, '/');
	hostend = slash ? slash : p + strlen(p);
	at = NULL;
	for (const char *s = p; s < hostend; s++)
		if (*s == '@')
			at = s;
	if (at) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			snprintf(out->user, sizeof(out->user), "%.*s", (int)(colon - p), p);
			snprintf(out->password, sizeof(out->password), "%.*s", (int)(at - colon - 1), colon + 1);
		} else {
			/* redis://password@host is how some clients spell it */
			snprintf(out->password, sizeof(out->password), "%.*s", (int)(at - p), p);
		}
		p = at + 1;
	}
	colon = memchr(p, ':', (size_t)(hostend - p));
	if (p[0] == '[') {	/* [::1]:6379 */
		const char *rb = memchr(p, ']', (size_t)(hostend - p));
		if (!rb) {
			snprintf(err, errlen, "REDIS_URL: unterminated [ in host");
			return -1;
		}
		snprintf(out->host, sizeof(out->host), "%.*s", (int)(rb - p - 1), p + 1);
		colon = rb + 1 < hostend && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		snprintf(out->host, sizeof(out->host), "%.*s", (int)((colon ? colon : hostend) - p), p);
	}
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (end != hostend || port < 1 || port > 65535) {
			snprintf(err, errlen, "REDIS_URL: bad port");
			return -1;
		}
		out->port = (int)port;
	}
	if (!out->host[0])
		snprintf(out->host, sizeof(out->host), "127.0.0.1");
	if (slash && slash[1]) {
		char *end;
		long db = strtol(slash + 1, &end, 10);
		if (*end != '\0' || db < 0 || db > 10000) {
			snprintf(err, errlen, "REDIS_URL: bad database number");
			return -1;
		}
		out->db = (int)db;
	}
	if (out->tls) {
		snprintf(err, errlen, "REDIS_URL: rediss:// (TLS) is not supported yet; use redis:// on a trusted network");
		return -1;
	}
	return 0;
}

static void set_state(struct rcmd *r, enum rcmd_state st)
{
	bool was = r->state == RCMD_READY, now = st == RCMD_READY;

	r->state = st;
	if (was != now && r->state_cb && !r->closing)
		r->state_cb(r->state_arg, now);
}

static void schedule_reconnect(struct rcmd *r)
{
	struct timeval tv;
	int ms;

	if (r->closing)
		return;
	ms = r->backoff_ms ? r->backoff_ms : RECONNECT_MIN_MS;
	/* jitter: 75..100% of the step, so replicas do not reconnect in lockstep */
	ms = ms * 3 / 4 + rand() % (ms / 4 + 1);
	r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : RECONNECT_MIN_MS * 2;
	if (r->backoff_ms > RECONNECT_MAX_MS)
		r->backoff_ms = RECONNECT_MAX_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(r->reconnect_ev, &tv);
}

static void reply_trampoline(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rcmd_req *req = privdata;
	struct rcmd *r = req->r;
	redisReply *rep = reply;
	const char *err = NULL;

	if (!rep)
		err = ac->err ? ac->errstr : (r->closing ? "shutting down" : "disconnected");
	r->pending--;
	if (req->cb)
		req->cb(req->arg, rep, err);
	free(req);
}

static void auth_done(void *arg, redisReply *reply, const char *errstr)
{
	struct rcmd *r = arg;

	if (!reply || reply->type == REDIS_REPLY_ERROR) {
		/* never print the password: only Redis's answer */
		log_error("redis %s: AUTH/SELECT failed: %s", r->name,
			  reply ? reply->str : (errstr ? errstr : "no reply"));
		if (r->ac)
			redisAsyncDisconnect(r->ac);
	}
}

static void on_connect(redisAsyncContext *ac, int status)
{
	struct rcmd *r = ac->data;

	if (status != REDIS_OK) {
		log_warn("redis %s: connect to %s:%d failed: %s", r->name, r->url.path[0] ? r->url.path : r->url.host,
			 r->url.port, ac->errstr);
		/* hiredis frees the context after this callback */
		r->ac = NULL;
		set_state(r, RCMD_DISCONNECTED);
		schedule_reconnect(r);
		return;
	}
	if (r->url.password[0]) {
		const char *argv[3] = { "AUTH", r->url.user[0] ? r->url.user : r->url.password, r->url.password };
		int argc = r->url.user[0] ? 3 : 2;
		struct rcmd_req *req = mw_calloc(1, sizeof(*req));

		req->r = r;
		req->cb = auth_done;
		req->arg = r;
		r->pending++;
		if (redisAsyncCommandArgv(r->ac, reply_trampoline, req, argc, argv, NULL) != REDIS_OK) {
			r->pending--;
			free(req);
		}
	}
	if (r->url.db) {
		char db[16];
		const char *argv[2] = { "SELECT", db };
		struct rcmd_req *req = mw_calloc(1, sizeof(*req));

		snprintf(db, sizeof(db), "%d", r->url.db);
		req->r = r;
		req->cb = auth_done;
		req->arg = r;
		r->pending++;
		if (redisAsyncCommandArgv(r->ac, reply_trampoline, req, 2, argv, NULL) != REDIS_OK) {
			r->pending--;
			free(req);
		}
	}
	if (r->backoff_ms)
		log_info("redis %s: connected", r->name);
	r->backoff_ms = 0;
	set_state(r, RCMD_READY);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rcmd *r = ac->data;

	r->ac = NULL;
	if (r->closing)
		return;
	if (status != REDIS_OK)
		log_warn("redis %s: connection lost: %s", r->name, ac->errstr);
	set_state(r, RCMD_DISCONNECTED);
	schedule_reconnect(r);
}

static void start_connect(struct rcmd *r)
{
	redisOptions opt = { 0 };
	struct timeval ct = { 2, 0 }, cmdt;
	redisAsyncContext *ac;

	if (r->url.path[0])
		REDIS_OPTIONS_SET_UNIX(&opt, r->url.path);
	else
		REDIS_OPTIONS_SET_TCP(&opt, r->url.host, r->url.port);
	opt.connect_timeout = &ct;
	if (r->cmd_timeout_ms > 0) {
		cmdt.tv_sec = r->cmd_timeout_ms / 1000;
		cmdt.tv_usec = (r->cmd_timeout_ms % 1000) * 1000;
		opt.command_timeout = &cmdt;
	}
	ac = redisAsyncConnectWithOptions(&opt);
	if (!ac) {
		log_error("redis %s: out of memory creating a connection", r->name);
		schedule_reconnect(r);
		return;
	}
	if (ac->err) {
		log_warn("redis %s: %s", r->name, ac->errstr);
		redisAsyncFree(ac);
		schedule_reconnect(r);
		return;
	}
	if (rloop_attach(ac, r->base) < 0) {
		log_error("redis %s: out of memory attaching a connection to the loop", r->name);
		redisAsyncFree(ac);
		schedule_reconnect(r);
		return;
	}
	ac->data = r;
	r->ac = ac;
	redisAsyncSetConnectCallbackNC(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->state = RCMD_CONNECTING;
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_connect(arg);
}

struct rcmd *rcmd_new(struct event_base *base, const struct redis_url *url, int cmd_timeout_ms, const char *name,
		      rcmd_state_cb state_cb, void *arg)
{
	struct rcmd *r = mw_calloc(1, sizeof(*r));

	r->base = base;
	r->url = *url;
	r->cmd_timeout_ms = cmd_timeout_ms;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->state_cb = state_cb;
	r->state_arg = arg;
	r->reconnect_ev = evtimer_new(base, reconnect_cb, r);
	start_connect(r);
	return r;
}

int rcmd_command(struct rcmd *r, int argc, const char **argv, const size_t *lens, rcmd_reply_cb cb, void *arg)
{
	struct rcmd_req *req;

	if (r->state != RCMD_READY || !r->ac || r->closing)
		return -1;
	req = mw_calloc(1, sizeof(*req));
	req->r = r;
	req->cb = cb;
	req->arg = arg;
	if (redisAsyncCommandArgv(r->ac, reply_trampoline, req, argc, argv, lens) != REDIS_OK) {
		free(req);
		return -1;
	}
	r->pending++;
	return 0;
}

bool rcmd_connected(const struct rcmd *r)
{
	return r->state == RCMD_READY;
}

int rcmd_pending(const struct rcmd *r)
{
	return r->pending;
}

void rcmd_free(struct rcmd *r)
{
	if (!r)
		return;
	r->closing = true;
	if (r->ac) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		/* fires every pending callback with a NULL reply */
		redisAsyncFree(ac);
	}
	event_free(r->reconnect_ev);
	free(r);
}

const redisReply *rcmd_elem(const redisReply *r, size_t i)
{
	if (!r || (r->type != REDIS_REPLY_ARRAY && r->type != REDIS_REPLY_MAP) || i >= r->elements)
		return NULL;
	return r->element[i];
}

bool rcmd_is_error(const redisReply *r)
{
	return !r || r->type == REDIS_REPLY_ERROR;
}
