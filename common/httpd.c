/*
 * httpd: see httpd.h. Requests are answered inside evhttp's callback: the
 * registry renders in microseconds, so nothing here waits on anything.
 */
#include "httpd.h"

#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_CHECKS 8

struct httpd {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	struct metrics *metrics;
	httpd_ready_cb ready;
	void *arg;
	int port;
};

struct httpd_checks {
	int n, nnotes;
	struct {
		char name[32];
		bool up;
	} c[MAX_CHECKS];
	struct {
		char name[32];
		char text[512];
	} notes[MAX_CHECKS];
};

void httpd_check(struct httpd_checks *c, const char *name, bool up)
{
	if (c->n == MAX_CHECKS)
		return;
	snprintf(c->c[c->n].name, sizeof(c->c[c->n].name), "%s", name);
	c->c[c->n].up = up;
	c->n++;
}

void httpd_note(struct httpd_checks *c, const char *name, const char *text)
{
	if (c->nnotes == MAX_CHECKS)
		return;
	snprintf(c->notes[c->nnotes].name, sizeof(c->notes[c->nnotes].name), "%s", name);
	snprintf(c->notes[c->nnotes].text, sizeof(c->notes[c->nnotes].text), "%s", text);
	c->nnotes++;
}

static void reply(struct evhttp_request *req, int code, const char *reason, const char *type, const char *body,
		  size_t len)
{
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evbuffer_add(out, body, len);
	evhttp_send_reply(req, code, reason, out);
	evbuffer_free(out);
}

static void serve_ready(struct httpd *h, struct evhttp_request *req)
{
	struct httpd_checks c = { 0 };
	json_t *o = json_object(), *checks = json_object();
	bool ok = true;
	char *body;
	int i;

	if (h->ready)
		h->ready(h->arg, &c);
	for (i = 0; i < c.n; i++) {
		ok = ok && c.c[i].up;
		json_object_set_new(checks, c.c[i].name, json_string(c.c[i].up ? "up" : "down"));
	}
	json_object_set_new(o, "ready", json_boolean(ok));
	json_object_set_new(o, "checks", checks);
	if (c.nnotes) {
		json_t *notes = json_object();

		for (i = 0; i < c.nnotes; i++)
			json_object_set_new(notes, c.notes[i].name, json_string(c.notes[i].text));
		json_object_set_new(o, "notes", notes);
	}
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "application/json", body, strlen(body));
	free(body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct httpd *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	if (!path)
		path = "/";
	if (strcmp(path, "/metrics") == 0 && h->metrics) {
		size_t len;
		char *text = metrics_render(h->metrics, &len);

		reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
		free(text);
	} else if (strcmp(path, "/healthz") == 0) {
		reply(req, 200, "OK", "text/plain; charset=utf-8", "ok\n", 3);
	} else if (strcmp(path, "/readyz") == 0) {
		serve_ready(h, req);
	} else {
		reply(req, 404, "Not Found", "text/plain; charset=utf-8", "not found: try /metrics, /healthz, /readyz\n",
		      43);
	}
}

/* "host:port" or "[v6]:port" into host and port; -1 if malformed. */
static int split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t n;
	char *end;
	long p;

	if (!colon)
		return -1;
	n = (size_t)(colon - addr);
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		h = addr + 1;
		n -= 2;
	}
	if (n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (!host[0])
		snprintf(host, hostlen, "0.0.0.0");
	p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

struct httpd *httpd_new(struct event_base *base, const char *addr, struct metrics *metrics, httpd_ready_cb ready,
			void *arg, char *err, size_t errlen)
{
	struct httpd *h;
	char host[256];
	int port;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (split_addr(addr, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "MEM0_METRICS_ADDR: '%s' is not host:port", addr);
		return NULL;
	}
	h = mw_calloc(1, sizeof(*h));
	h->metrics = metrics;
	h->ready = ready;
	h->arg = arg;
	h->http = evhttp_new(base);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(h->http, 10);
	evhttp_set_max_headers_size(h->http, 8192);
	evhttp_set_max_body_size(h->http, 1024);
	evhttp_set_gencb(h->http, on_request, h);
	h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port);
	if (!h->sock) {
		snprintf(err, errlen, "MEM0_METRICS_ADDR: cannot listen on %s (taken, or not an address of this host)",
			 addr);
		evhttp_free(h->http);
		free(h);
		return NULL;
	}
	h->port = port;
	if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &sl) == 0) {
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;

		if (ss.ss_family == AF_INET) {
			memcpy(&v4, &ss, sizeof(v4));
			h->port = ntohs(v4.sin_port);
		} else if (ss.ss_family == AF_INET6) {
			memcpy(&v6, &ss, sizeof(v6));
			h->port = ntohs(v6.sin6_port);
		}
	}
	return h;
}

int httpd_port(const struct httpd *h)
{
	return h ? h->port : 0;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	evhttp_free(h->http);
	free(h);
}
