/*
 * llm: see llm.h. Shape of curl's docs/examples/multi-event.c: curl tells us
 * which sockets to watch (llm_on_socket) and when to call it back
 * (llm_on_curl_timer); every socket_action is followed by draining
 * curl_multi_info_read (llm_check_done).
 *
 * A request lives in llm->queue (waiting for a slot) or llm->running (on the
 * wire or backing off; it keeps its slot and its easy handle between
 * attempts). User callbacks run only from loop callbacks or llm_free, so
 * llm_free from inside one is deferred until our outermost loop callback
 * returns (llm->depth, as hiredis counts its callback depth).
 */
#include "llm.h"

#include "llm_parse.h"
#include "log.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#define LLM_DEFAULT_TIMEOUT_MS      60000
#define LLM_DEFAULT_INFLIGHT        8
#define LLM_DEFAULT_BACKOFF_BASE_MS 200
#define LLM_DEFAULT_BACKOFF_MAX_MS  10000
/* A Retry-After asking for longer is obeyed only this far (or backoff_max_ms if larger). */
#define LLM_RETRY_AFTER_CAP_MS 60000
/* Thousands of 1536-dim vectors in JSON stay well below this. */
#define LLM_MAX_RESPONSE ((size_t)64 << 20)
#define LLM_ERR_MAX      512

enum llm_req_state {
	LLM_REQ_QUEUED = 0, /* in llm->queue, waiting for a slot */
	LLM_REQ_ACTIVE,     /* in llm->running, easy handle in the multi handle */
	LLM_REQ_OFF_WIRE,   /* in llm->running, between attempts (being judged or backing off) */
};

/* What became of one attempt. */
enum llm_verdict { LLM_DELIVERED = 0, LLM_TRANSIENT, LLM_PERMANENT };

struct llm_req {
	TAILQ_ENTRY(llm_req) link;
	struct llm *llm;
	enum llm_op op;
	enum llm_req_state state;
	char *body;   /* owned: curl does not copy CURLOPT_POSTFIELDS */
	int n_inputs; /* embeddings: texts sent */
	llm_chat_cb chat_cb;
	llm_embed_cb embed_cb;
	void *arg;
	CURL *easy;          /* from the first attempt until done */
	struct event *timer; /* backoff between attempts */
	char *resp;
	size_t resp_len, resp_cap;
	bool resp_too_big;
	int attempts;
	long long accepted_ms;
	char curl_err[CURL_ERROR_SIZE];
	char last_err[LLM_ERR_MAX]; /* why the last attempt failed */
};

TAILQ_HEAD(llm_req_list, llm_req);

/* One watched curl socket. */
struct llm_sock {
	LIST_ENTRY(llm_sock) link;
	struct event *ev;
};

struct llm {
	struct event_base *base;
	CURLM *multi;
	struct event *curl_timer;    /* CURLMOPT_TIMERFUNCTION */
	struct event *kick;          /* starts queued requests from the loop */
	struct curl_slist *headers;  /* holds the key: never logged */
	char *url[LLM_OP_COUNT];     /* NULL: operation not configured */
	char *url_log[LLM_OP_COUNT]; /* no query string, no credentials */
	char *model[LLM_OP_COUNT];
	char *api_key; /* kept only to scrub it from server text */
	int embedding_dims;
	bool send_dimensions;
	bool embedding_base64;
	int timeout_ms, max_retries, max_inflight, backoff_base_ms, backoff_max_ms;
	struct llm_req_list queue, running;
	size_t n_queued, n_running;
	LIST_HEAD(, llm_sock) socks;
	CURL **idle; /* easy handles kept for reuse, up to max_inflight */
	int n_idle;
	uint64_t rng;
	int depth;           /* our loop callbacks on the stack */
	bool free_requested; /* llm_free called at depth > 0 */
	bool freeing;
	struct llm_stats stats[LLM_OP_COUNT];
};

static const char *const op_names[LLM_OP_COUNT] = {"chat", "embeddings"};

static void llm_destroy(struct llm *llm);
static void llm_start_queued(struct llm *llm);

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: jitter only, no need for more. */
static uint64_t llm_random(struct llm *llm)
{
	llm->rng ^= llm->rng >> 12;
	llm->rng ^= llm->rng << 25;
	llm->rng ^= llm->rng >> 27;
	return llm->rng * 0x2545F4914F6CDD1DULL;
}

static void llm_enter(struct llm *llm)
{
	llm->depth++;
}

/* Last statement of every loop callback: llm may be gone afterwards. */
static void llm_leave(struct llm *llm)
{
	if (--llm->depth == 0 && llm->free_requested)
		llm_destroy(llm);
}

/*
 * Makes server or curl text fit an errstr or a log line: one line, never the
 * key, whatever a server chooses to echo back.
 */
static void llm_scrub(const struct llm *llm, char *s)
{
	size_t klen = llm->api_key ? strlen(llm->api_key) : 0;
	char *p, *hit;

	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (klen == 0)
		return;
	while ((hit = strstr(s, llm->api_key)) != NULL) {
		size_t stars = klen < 3 ? klen : 3;

		memset(hit, '*', stars);
		memmove(hit + stars, hit + klen, strlen(hit + klen) + 1);
	}
}

/* ---- requests ---- */

static struct llm_req *req_new(struct llm *llm, enum llm_op op, char *body, void *arg)
{
	struct llm_req *req = mw_calloc(1, sizeof(*req));

	req->llm = llm;
	req->op = op;
	req->body = body;
	req->arg = arg;
	req->accepted_ms = now_ms();
	return req;
}

/* Frees req, keeping its easy handle for the next request. */
static void req_free(struct llm_req *req)
{
	struct llm *llm = req->llm;

	if (req->easy) {
		if (llm->n_idle < llm->max_inflight)
			llm->idle[llm->n_idle++] = req->easy;
		else
			curl_easy_cleanup(req->easy);
	}
	if (req->timer)
		event_free(req->timer);
	free(req->body);
	free(req->resp);
	free(req);
}

/* Takes req off its list before its callback, so the callback sees true counts. */
static void req_detach(struct llm_req *req, bool ok)
{
	struct llm *llm = req->llm;
	struct llm_stats *st = &llm->stats[req->op];
	long long took = now_ms() - req->accepted_ms;

	switch (req->state) {
	case LLM_REQ_QUEUED:
		TAILQ_REMOVE(&llm->queue, req, link);
		llm->n_queued--;
		break;
	case LLM_REQ_ACTIVE:
		curl_multi_remove_handle(llm->multi, req->easy);
		/* fall through */
	case LLM_REQ_OFF_WIRE:
		if (req->timer)
			evtimer_del(req->timer);
		TAILQ_REMOVE(&llm->running, req, link);
		llm->n_running--;
		break;
	default:
		log_error("llm: request in unknown state %d", (int)req->state);
		break;
	}
	if (ok)
		st->successes++;
	else
		st->failures++;
	st->latency_ms_sum += (unsigned long long)took;
	log_debug("llm: %s %s after %lld ms and %d attempts", op_names[req->op], ok ? "done" : "failed", took,
	          req->attempts);
}

/* Final failure: the callback fires once and req is freed. */
static void req_fail(struct llm_req *req, const char *errstr)
{
	req_detach(req, false);
	if (req->op == LLM_OP_CHAT)
		req->chat_cb(req->arg, -1, NULL, NULL, errstr);
	else
		req->embed_cb(req->arg, -1, NULL, 0, 0, errstr);
	req_free(req);
}

static size_t req_on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct llm_req *req = userp;
	size_t n = size * nmemb;

	if (req->resp_len + n + 1 > LLM_MAX_RESPONSE) {
		req->resp_too_big = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (req->resp_len + n + 1 > req->resp_cap) {
		size_t cap = req->resp_cap ? req->resp_cap : 4096;

		while (cap < req->resp_len + n + 1)
			cap *= 2;
		req->resp = mw_realloc(req->resp, cap);
		req->resp_cap = cap;
	}
	memcpy(req->resp + req->resp_len, data, n);
	req->resp_len += n;
	req->resp[req->resp_len] = '\0';
	return n;
}

/* Puts req on the wire; -1 with req->last_err set if curl refuses. */
static int req_send(struct llm_req *req) __attribute__((warn_unused_result));

static int req_send(struct llm_req *req)
{
	struct llm *llm = req->llm;
	CURLMcode mc;
	CURL *e;

	if (!req->easy) {
		req->easy = llm->n_idle > 0 ? llm->idle[--llm->n_idle] : curl_easy_init();
		if (!req->easy) {
			snprintf(req->last_err, sizeof(req->last_err), "cannot create a curl handle");
			return -1;
		}
	}
	e = req->easy;
	curl_easy_reset(e);
	req->resp_len = 0;
	req->resp_too_big = false;
	req->curl_err[0] = '\0';

	curl_easy_setopt(e, CURLOPT_URL, llm->url[req->op]);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, llm->headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, req_on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_PRIVATE, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->curl_err);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)llm->timeout_ms);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "memworker/0.1");

	mc = curl_multi_add_handle(llm->multi, e);
	if (mc != CURLM_OK) {
		snprintf(req->last_err, sizeof(req->last_err), "curl: %s", curl_multi_strerror(mc));
		return -1;
	}
	req->state = LLM_REQ_ACTIVE;
	req->attempts++;
	llm->stats[req->op].attempts++;
	log_debug("llm: %s POST %s (attempt %d)", op_names[req->op], llm->url_log[req->op], req->attempts);
	return 0;
}

/* Connection-level failures worth another attempt. */
static bool curl_code_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

/*
 * Retry-After in milliseconds (seconds or an HTTP-date), or OpenAI's
 * retry-after-ms; -1 if the response has neither.
 */
static long retry_after_ms(CURL *e)
{
	struct curl_header *h;
	long ms = -1;

	if (curl_easy_header(e, "retry-after-ms", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
		char *end;
		double v = strtod(h->value, &end);

		if (end != h->value && v >= 0 && v < 1e9)
			ms = (long)v;
	}
	if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
		char *end;
		double v = strtod(h->value, &end);
		long from_header = -1;

		if (end != h->value && *end == '\0' && v >= 0 && v < 1e6) {
			from_header = (long)(v * 1000);
		} else {
			time_t when = curl_getdate(h->value, NULL);

			if (when != -1)
				from_header = when > time(NULL) ? (long)(when - time(NULL)) * 1000 : 0;
		}
		if (from_header > ms)
			ms = from_header;
	}
	return ms;
}

/* The server's error text from a non-2xx body: error.message, error, message or detail. */
static void server_message(const struct llm_req *req, char *out, size_t outlen)
{
	json_t *root, *err, *msg = NULL;

	out[0] = '\0';
	if (!req->resp || req->resp_len == 0)
		return;
	root = json_loadb(req->resp, req->resp_len, 0, NULL);
	if (!root) {
		/* plain text is worth a few words; an HTML error page is not */
		if (req->resp[0] != '<')
			snprintf(out, outlen, "%.160s", req->resp);
		return;
	}
	err = json_object_get(root, "error");
	if (json_is_object(err))
		msg = json_object_get(err, "message");
	else if (json_is_string(err))
		msg = err;
	if (!json_is_string(msg))
		msg = json_object_get(root, "message");
	if (!json_is_string(msg))
		msg = json_object_get(root, "detail");
	if (json_is_string(msg))
		snprintf(out, outlen, "%.300s", json_string_value(msg));
	json_decref(root);
}

static long json_long(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

static enum llm_verdict deliver_chat(struct llm_req *req, json_t *root)
{
	struct llm_stats *st = &req->llm->stats[LLM_OP_CHAT];
	json_t *choice, *content, *usage;
	struct llm_usage u;

	choice = json_array_get(json_object_get(root, "choices"), 0);
	content = json_object_get(json_object_get(choice, "message"), "content");
	if (!json_is_string(content)) {
		snprintf(req->last_err, sizeof(req->last_err), "response has no choices[0].message.content string");
		return LLM_TRANSIENT;
	}
	usage = json_object_get(root, "usage");
	u.prompt_tokens = json_long(usage, "prompt_tokens");
	u.completion_tokens = json_long(usage, "completion_tokens");
	u.total_tokens = json_long(usage, "total_tokens");
	if (u.total_tokens == 0)
		u.total_tokens = u.prompt_tokens + u.completion_tokens;
	st->prompt_tokens += (unsigned long long)(u.prompt_tokens > 0 ? u.prompt_tokens : 0);
	st->completion_tokens += (unsigned long long)(u.completion_tokens > 0 ? u.completion_tokens : 0);

	req_detach(req, true);
	req->chat_cb(req->arg, 0, json_string_value(content), &u, NULL);
	req_free(req);
	return LLM_DELIVERED;
}

/* Embeddings: llm_parse.c reads the body (a benchmark runs the same code). */
static enum llm_verdict deliver_embed(struct llm_req *req)
{
	struct llm_embeddings e;
	int rc = llm_parse_embeddings(req->resp, req->resp_len, req->n_inputs, req->llm->embedding_dims, &e,
	                              req->last_err, sizeof(req->last_err));

	if (rc != LLM_PARSE_OK)
		return rc == LLM_PARSE_WRONG_DIMS ? LLM_PERMANENT : LLM_TRANSIENT;
	req->llm->stats[LLM_OP_EMBED].prompt_tokens += (unsigned long long)e.prompt_tokens;
	req_detach(req, true);
	req->embed_cb(req->arg, 0, e.vecs, req->n_inputs, e.dims, NULL);
	req_free(req);
	free(e.vecs);
	return LLM_DELIVERED;
}

/* A 2xx body: delivered, or why not in req->last_err. */
static enum llm_verdict deliver(struct llm_req *req)
{
	json_t *root;
	enum llm_verdict v;

	if (req->op == LLM_OP_EMBED)
		return deliver_embed(req);
	root = llm_parse_object(req->resp, req->resp_len, req->last_err, sizeof(req->last_err));
	if (!root)
		return LLM_TRANSIENT;
	v = deliver_chat(req, root);
	json_decref(root);
	return v;
}

static void req_on_backoff(evutil_socket_t fd, short what, void *arg);

/* Schedules the next attempt after a transient failure. */
static void req_backoff(struct llm_req *req, long after_ms)
{
	struct llm *llm = req->llm;
	long cap = llm->backoff_base_ms, delay, ra_cap;
	struct timeval tv;
	int i;

	for (i = 1; i < req->attempts && cap < llm->backoff_max_ms; i++)
		cap *= 2;
	if (cap > llm->backoff_max_ms)
		cap = llm->backoff_max_ms;
	delay = (long)(llm_random(llm) % (uint64_t)(cap + 1)); /* full jitter */
	ra_cap = llm->backoff_max_ms > LLM_RETRY_AFTER_CAP_MS ? llm->backoff_max_ms : LLM_RETRY_AFTER_CAP_MS;
	if (after_ms > delay)
		delay = after_ms < ra_cap ? after_ms : ra_cap;

	log_warn("llm: %s %s: %s; retry %d/%d in %ld ms", op_names[req->op], llm->url_log[req->op], req->last_err,
	         req->attempts, llm->max_retries, delay);
	llm->stats[req->op].retries++;
	if (!req->timer)
		req->timer = evtimer_new(llm->base, req_on_backoff, req);
	if (!req->timer) {
		req_fail(req, "cannot create a timer");
		return;
	}
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(req->timer, &tv);
}

/* Judges a finished attempt: deliver, retry or fail. Fires at most one callback. */
static void req_attempt_done(struct llm_req *req, CURLcode cc)
{
	struct llm *llm = req->llm;
	char errstr[LLM_ERR_MAX + 64], msg[400];
	enum llm_verdict v;
	long http = 0, after = -1, connects = 0;

	curl_multi_remove_handle(llm->multi, req->easy);
	req->state = LLM_REQ_OFF_WIRE;
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &http);
	if (curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		llm->stats[req->op].connections += (unsigned long long)connects;

	if (cc != CURLE_OK) {
		if (req->resp_too_big) {
			snprintf(req->last_err, sizeof(req->last_err), "response larger than %zu bytes",
			         LLM_MAX_RESPONSE);
			v = LLM_PERMANENT;
		} else {
			snprintf(req->last_err, sizeof(req->last_err), "%s",
			         req->curl_err[0] ? req->curl_err : curl_easy_strerror(cc));
			v = curl_code_transient(cc) ? LLM_TRANSIENT : LLM_PERMANENT;
		}
	} else if (http >= 200 && http < 300) {
		v = deliver(req);
		if (v == LLM_DELIVERED)
			return;
	} else {
		server_message(req, msg, sizeof(msg));
		snprintf(req->last_err, sizeof(req->last_err), "HTTP %ld%s%s", http, msg[0] ? ": " : "", msg);
		v = http == 408 || http == 429 || http >= 500 ? LLM_TRANSIENT : LLM_PERMANENT;
		after = retry_after_ms(req->easy);
	}
	llm_scrub(llm, req->last_err);

	if (v == LLM_TRANSIENT && req->attempts <= llm->max_retries) {
		req_backoff(req, after);
		return;
	}
	if (v == LLM_TRANSIENT)
		snprintf(errstr, sizeof(errstr), "%s: %s (gave up after %d attempts)", op_names[req->op], req->last_err,
		         req->attempts);
	else
		snprintf(errstr, sizeof(errstr), "%s: %s", op_names[req->op], req->last_err);
	log_warn("llm: %s %s failed: %s", op_names[req->op], llm->url_log[req->op],
	         errstr + strlen(op_names[req->op]) + 2);
	req_fail(req, errstr);
}

static void req_on_backoff(evutil_socket_t fd, short what, void *arg)
{
	struct llm_req *req = arg;
	struct llm *llm = req->llm;
	char errstr[LLM_ERR_MAX + 16];

	(void)fd;
	(void)what;
	llm_enter(llm);
	if (req_send(req) < 0) {
		snprintf(errstr, sizeof(errstr), "%s: %s", op_names[req->op], req->last_err);
		req_fail(req, errstr);
		llm_start_queued(llm);
	}
	llm_leave(llm);
}

/* ---- curl multi on libevent ---- */

static void llm_check_done(struct llm *llm)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(llm->multi, &left)) != NULL) {
		CURLcode cc = msg->data.result;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		req_attempt_done((struct llm_req *)(void *)priv, cc);
	}
	llm_start_queued(llm);
}

static void llm_on_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm *llm = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	llm_enter(llm);
	curl_multi_socket_action(llm->multi, fd, flags, &running);
	llm_check_done(llm);
	llm_leave(llm);
}

static void sock_free(struct llm_sock *s)
{
	LIST_REMOVE(s, link);
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl asks, or stop watching it. */
static int llm_on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct llm *llm = userp;
	struct llm_sock *s = socketp;
	short kind = EV_PERSIST;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			sock_free(s);
		return 0;
	}
	if (what == CURL_POLL_NONE) {
		if (s)
			event_del(s->ev);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!s) {
		s = mw_calloc(1, sizeof(*s));
		s->ev = event_new(llm->base, fd, kind, llm_on_sock_event, llm);
		if (!s->ev) {
			free(s);
			log_error("llm: cannot create an event for socket %d", (int)fd);
			return -1;
		}
		LIST_INSERT_HEAD(&llm->socks, s, link);
		curl_multi_assign(llm->multi, fd, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, llm->base, fd, kind, llm_on_sock_event, llm);
	}
	event_add(s->ev, NULL);
	return 0;
}

static void llm_on_curl_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct llm *llm = arg;
	int running;

	(void)fd;
	(void)what;
	llm_enter(llm);
	curl_multi_socket_action(llm->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	llm_check_done(llm);
	llm_leave(llm);
}

/* CURLMOPT_TIMERFUNCTION: one timer, re-armed or disarmed as curl asks. */
static int llm_on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct llm *llm = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(llm->curl_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(llm->curl_timer, &tv);
	return 0;
}

/* Moves queued requests onto the wire while slots are free (FIFO). */
static void llm_start_queued(struct llm *llm)
{
	char errstr[LLM_ERR_MAX + 16];
	struct llm_req *req;

	while (!llm->free_requested && llm->n_running < (size_t)llm->max_inflight &&
	       (req = TAILQ_FIRST(&llm->queue)) != NULL) {
		TAILQ_REMOVE(&llm->queue, req, link);
		llm->n_queued--;
		TAILQ_INSERT_TAIL(&llm->running, req, link);
		llm->n_running++;
		req->state = LLM_REQ_OFF_WIRE;
		if (req_send(req) < 0) {
			snprintf(errstr, sizeof(errstr), "%s: %s", op_names[req->op], req->last_err);
			req_fail(req, errstr);
		}
	}
}

static void llm_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct llm *llm = arg;

	(void)fd;
	(void)what;
	llm_enter(llm);
	llm_start_queued(llm);
	llm_leave(llm);
}

/* ---- public ---- */

static char *trim_slash(const char *s)
{
	char *t = mw_strdup(s);
	size_t n = strlen(t);

	while (n > 0 && t[n - 1] == '/')
		t[--n] = '\0';
	return t;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = mw_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

/* Azure: {endpoint}/openai/deployments/{deployment}/{what}?api-version=V */
static char *azure_url(const char *endpoint, const char *deployment, const char *what, const char *version)
{
	char *ep = trim_slash(endpoint);
	char *dep = curl_easy_escape(NULL, deployment, 0);
	char *ver = curl_easy_escape(NULL, version, 0);
	char *url = str_printf("%s/openai/deployments/%s/%s?api-version=%s", ep, dep ? dep : "", what, ver ? ver : "");

	free(ep);
	curl_free(dep);
	curl_free(ver);
	return url;
}

/* The URL as logs may show it: no query string, no user:password. */
static char *url_for_log(const char *url)
{
	size_t n = strcspn(url, "?#");
	char *bare = mw_strndup(url, n), *out = mw_malloc(n + 8);

	log_redact_url(bare, out, n + 8);
	free(bare);
	return out;
}

struct llm *llm_new(struct event_base *base, const struct llm_opts *opts)
{
	struct llm *llm = NULL;
	struct curl_slist *h;
	char *auth = NULL;
	int op;

	if (!base || !opts)
		return NULL;
	if (opts->flavor == LLM_AZURE) {
		if (empty(opts->azure_endpoint) || empty(opts->azure_api_version)) {
			log_error("llm: Azure needs an endpoint and an API version");
			return NULL;
		}
	} else if (empty(opts->base_url)) {
		log_error("llm: no base URL");
		return NULL;
	}
	if (opts->api_key && strpbrk(opts->api_key, "\r\n")) {
		log_error("llm: the API key contains a line break");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("llm: curl_global_init failed");
		return NULL;
	}

	llm = mw_calloc(1, sizeof(*llm));
	llm->base = base;
	TAILQ_INIT(&llm->queue);
	TAILQ_INIT(&llm->running);
	LIST_INIT(&llm->socks);
	llm->embedding_dims = opts->embedding_dims > 0 ? opts->embedding_dims : 0;
	llm->send_dimensions = llm->embedding_dims > 0 && !opts->omit_dimensions;
	llm->embedding_base64 = opts->embedding_base64;
	llm->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : LLM_DEFAULT_TIMEOUT_MS;
	llm->max_retries = opts->max_retries > 0 ? opts->max_retries : 0;
	llm->max_inflight = opts->max_inflight > 0 ? opts->max_inflight : LLM_DEFAULT_INFLIGHT;
	llm->backoff_base_ms = opts->backoff_base_ms > 0 ? opts->backoff_base_ms : LLM_DEFAULT_BACKOFF_BASE_MS;
	llm->backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : LLM_DEFAULT_BACKOFF_MAX_MS;
	if (llm->backoff_max_ms < llm->backoff_base_ms)
		llm->backoff_max_ms = llm->backoff_base_ms;
	llm->idle = mw_calloc((size_t)llm->max_inflight, sizeof(*llm->idle));
	llm->rng = ((uint64_t)now_ms() << 20) ^ (uint64_t)(uintptr_t)llm ^ (uint64_t)getpid();
	llm->rng |= 1;

	if (opts->flavor == LLM_AZURE) {
		if (!empty(opts->azure_chat_deployment))
			llm->url[LLM_OP_CHAT] = azure_url(opts->azure_endpoint, opts->azure_chat_deployment,
			                                  "chat/completions", opts->azure_api_version);
		if (!empty(opts->azure_embed_deployment))
			llm->url[LLM_OP_EMBED] = azure_url(opts->azure_endpoint, opts->azure_embed_deployment,
			                                   "embeddings", opts->azure_api_version);
		/* Azure routes on the deployment; "model" is informational there */
		if (llm->url[LLM_OP_CHAT])
			llm->model[LLM_OP_CHAT] =
			        mw_strdup(empty(opts->chat_model) ? opts->azure_chat_deployment : opts->chat_model);
		if (llm->url[LLM_OP_EMBED])
			llm->model[LLM_OP_EMBED] =
			        mw_strdup(empty(opts->embed_model) ? opts->azure_embed_deployment : opts->embed_model);
	} else {
		char *b = trim_slash(opts->base_url);

		llm->url[LLM_OP_CHAT] = str_printf("%s/chat/completions", b);
		llm->url[LLM_OP_EMBED] = str_printf("%s/embeddings", b);
		free(b);
		if (!empty(opts->chat_model))
			llm->model[LLM_OP_CHAT] = mw_strdup(opts->chat_model);
		if (!empty(opts->embed_model))
			llm->model[LLM_OP_EMBED] = mw_strdup(opts->embed_model);
	}
	for (op = 0; op < LLM_OP_COUNT; op++)
		if (llm->url[op])
			llm->url_log[op] = url_for_log(llm->url[op]);

	h = curl_slist_append(NULL, "Content-Type: application/json");
	h = h ? curl_slist_append(h, "Accept: application/json") : NULL;
	/* no "Expect: 100-continue" round trip for large bodies */
	h = h ? curl_slist_append(h, "Expect:") : NULL;
	if (h && !empty(opts->api_key)) {
		struct curl_slist *with_auth;

		llm->api_key = mw_strdup(opts->api_key);
		auth = opts->flavor == LLM_AZURE ? str_printf("api-key: %s", opts->api_key)
		                                 : str_printf("Authorization: Bearer %s", opts->api_key);
		with_auth = curl_slist_append(h, auth);
		explicit_bzero(auth, strlen(auth));
		free(auth);
		if (!with_auth) {
			curl_slist_free_all(h);
			h = NULL;
		}
	}
	llm->headers = h;
	if (!h)
		goto fail;

	llm->multi = curl_multi_init();
	llm->curl_timer = evtimer_new(base, llm_on_curl_timeout, llm);
	llm->kick = evtimer_new(base, llm_on_kick, llm);
	if (!llm->multi || !llm->curl_timer || !llm->kick)
		goto fail;
	curl_multi_setopt(llm->multi, CURLMOPT_SOCKETFUNCTION, llm_on_socket);
	curl_multi_setopt(llm->multi, CURLMOPT_SOCKETDATA, llm);
	curl_multi_setopt(llm->multi, CURLMOPT_TIMERFUNCTION, llm_on_curl_timer);
	curl_multi_setopt(llm->multi, CURLMOPT_TIMERDATA, llm);
	curl_multi_setopt(llm->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)llm->max_inflight);
	curl_multi_setopt(llm->multi, CURLMOPT_MAXCONNECTS, (long)llm->max_inflight);
	return llm;
fail:
	log_error("llm: cannot set up the HTTP client");
	llm_destroy(llm);
	return NULL;
}

/* Fails what is left, then tears down curl before the events it uses. */
static void llm_destroy(struct llm *llm)
{
	struct llm_req *req;
	struct llm_sock *s;
	int op;

	llm->freeing = true;
	/* off the wire first: no callback below runs with a transfer half done */
	TAILQ_FOREACH (req, &llm->running, link) {
		if (req->state == LLM_REQ_ACTIVE) {
			curl_multi_remove_handle(llm->multi, req->easy);
			req->state = LLM_REQ_OFF_WIRE;
		}
	}
	while ((req = TAILQ_FIRST(&llm->running)) != NULL)
		req_fail(req, "shutting down");
	while ((req = TAILQ_FIRST(&llm->queue)) != NULL)
		req_fail(req, "shutting down");

	if (llm->multi)
		curl_multi_cleanup(llm->multi);
	while ((s = LIST_FIRST(&llm->socks)) != NULL)
		sock_free(s);
	while (llm->n_idle > 0)
		curl_easy_cleanup(llm->idle[--llm->n_idle]);
	if (llm->curl_timer)
		event_free(llm->curl_timer);
	if (llm->kick)
		event_free(llm->kick);
	curl_slist_free_all(llm->headers);
	for (op = 0; op < LLM_OP_COUNT; op++) {
		free(llm->url[op]);
		free(llm->url_log[op]);
		free(llm->model[op]);
	}
	if (llm->api_key) {
		explicit_bzero(llm->api_key, strlen(llm->api_key));
		free(llm->api_key);
	}
	free(llm->idle);
	free(llm);
	curl_global_cleanup();
}

void llm_free(struct llm *llm)
{
	if (!llm || llm->freeing || llm->free_requested)
		return;
	if (llm->depth > 0) {
		llm->free_requested = true; /* llm_leave finishes the job */
		return;
	}
	llm_destroy(llm);
}

/* Queues req and makes sure the loop looks at the queue soon. */
static void llm_enqueue(struct llm *llm, struct llm_req *req)
{
	static const struct timeval now = {0, 0};

	req->state = LLM_REQ_QUEUED;
	TAILQ_INSERT_TAIL(&llm->queue, req, link);
	llm->n_queued++;
	llm->stats[req->op].requests++;
	evtimer_add(llm->kick, &now);
}

int llm_chat(struct llm *llm, const char *system_prompt, const char *user_prompt, bool json_mode, llm_chat_cb cb,
             void *arg)
{
	json_t *root = NULL, *messages, *m;
	struct llm_req *req;
	char *body;

	if (llm->freeing || llm->free_requested || !llm->url[LLM_OP_CHAT] || !cb || !user_prompt)
		return -1;
	root = json_object();
	messages = json_array();
	json_object_set_new(root, "messages", messages);
	if (!empty(system_prompt)) {
		m = json_pack("{s:s, s:s}", "role", "system", "content", system_prompt);
		if (!m)
			goto fail;
		json_array_append_new(messages, m);
	}
	m = json_pack("{s:s, s:s}", "role", "user", "content", user_prompt);
	if (!m)
		goto fail;
	json_array_append_new(messages, m);
	if (llm->model[LLM_OP_CHAT])
		json_object_set_new(root, "model", json_string(llm->model[LLM_OP_CHAT]));
	json_object_set_new(root, "temperature", json_integer(0));
	if (json_mode)
		json_object_set_new(root, "response_format", json_pack("{s:s}", "type", "json_object"));
	body = json_dumps(root, JSON_COMPACT);
	if (!body)
		goto fail;
	json_decref(root);

	req = req_new(llm, LLM_OP_CHAT, body, arg);
	req->chat_cb = cb;
	llm_enqueue(llm, req);
	return 0;
fail:
	log_warn("llm: chat prompt is not valid UTF-8");
	json_decref(root);
	return -1;
}

int llm_embed(struct llm *llm, const char *const *texts, int n, llm_embed_cb cb, void *arg)
{
	json_t *root = NULL, *input;
	struct llm_req *req;
	char *body;
	int i;

	if (llm->freeing || llm->free_requested || !llm->url[LLM_OP_EMBED] || !cb || !texts || n < 1)
		return -1;
	root = json_object();
	input = json_array();
	json_object_set_new(root, "input", input);
	for (i = 0; i < n; i++) {
		json_t *s = texts[i] ? json_string(texts[i]) : NULL;

		if (!s)
			goto fail;
		json_array_append_new(input, s);
	}
	if (llm->model[LLM_OP_EMBED])
		json_object_set_new(root, "model", json_string(llm->model[LLM_OP_EMBED]));
	if (llm->send_dimensions)
		json_object_set_new(root, "dimensions", json_integer(llm->embedding_dims));
	if (llm->embedding_base64)
		json_object_set_new(root, "encoding_format", json_string("base64"));
	body = json_dumps(root, JSON_COMPACT);
	if (!body)
		goto fail;
	json_decref(root);

	req = req_new(llm, LLM_OP_EMBED, body, arg);
	req->embed_cb = cb;
	req->n_inputs = n;
	llm_enqueue(llm, req);
	return 0;
fail:
	log_warn("llm: embeddings input %d is NULL or not valid UTF-8", i);
	json_decref(root);
	return -1;
}

size_t llm_inflight(const struct llm *llm)
{
	return llm->n_queued + llm->n_running;
}

size_t llm_queued(const struct llm *llm)
{
	return llm->n_queued;
}

const struct llm_stats *llm_stats(const struct llm *llm, enum llm_op op)
{
	return &llm->stats[op < LLM_OP_COUNT ? op : LLM_OP_CHAT];
}
