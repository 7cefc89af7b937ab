/*
 * llm against the mock server over real HTTP: round trips, retries and
 * their timing, the in-flight cap, shutdown with requests pending, the Azure
 * flavour, and the API key kept out of logs and errstrs.
 */
#include "hashembed.h"
#include "llm.h"
#include "log.h"
#include "mockllm.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIMS 64

struct chat_res {
	int calls;
	int first_status;
	int status;
	char *content;
	char *err;
	struct llm_usage usage;
	long long at_ms;
	int *done;          /* shared completion counter */
	struct llm *llm;    /* for callbacks that call back into llm */
	int chat_rc_inside; /* llm_chat's result from inside the callback */
	bool free_inside;   /* call llm_free from the callback */
};

struct embed_res {
	int calls;
	int status;
	int n, dims;
	float *vecs;
	char *err;
	int *done;
};

static void on_chat(void *arg, int status, const char *content, const struct llm_usage *usage, const char *errstr)
{
	struct chat_res *r = arg;

	struct llm *llm = r->llm;

	if (++r->calls == 1)
		r->first_status = status;
	r->status = status;
	r->at_ms = tenv_now_ms();
	free(r->content);
	free(r->err);
	r->content = content ? strdup(content) : NULL;
	r->err = errstr ? strdup(errstr) : NULL;
	if (usage)
		r->usage = *usage;
	if (r->done)
		(*r->done)++;
	/* one shot: a request queued here reports to r too */
	r->llm = NULL;
	if (llm)
		r->chat_rc_inside = llm_chat(llm, NULL, "{}", false, on_chat, r);
	if (llm && r->free_inside)
		llm_free(llm);
}

static void on_embed(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct embed_res *r = arg;

	r->calls++;
	r->status = status;
	r->n = n;
	r->dims = dims;
	if (vecs) {
		r->vecs = malloc(sizeof(float) * (size_t)n * (size_t)dims);
		memcpy(r->vecs, vecs, sizeof(float) * (size_t)n * (size_t)dims);
	}
	if (errstr)
		r->err = strdup(errstr);
	if (r->done)
		(*r->done)++;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until *count reaches want or timeout_ms passes; true if reached. */
static bool run_until(struct event_base *base, const int *count, int want, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;
	struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	struct timeval tv = {0, 10000};

	event_add(tick, &tv);
	while (*count < want && tenv_now_ms() < until)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return *count >= want;
}

static struct llm_opts opts_for(const struct mockllm *m)
{
	struct llm_opts o;

	memset(&o, 0, sizeof(o));
	o.flavor = LLM_OPENAI;
	o.base_url = mockllm_base_url(m);
	o.api_key = "sk-test-key";
	o.chat_model = "mock-chat";
	o.embed_model = "mock-embed";
	o.embedding_dims = DIMS;
	o.timeout_ms = 5000;
	o.max_retries = 3;
	o.max_inflight = 4;
	o.backoff_base_ms = 5;
	o.backoff_max_ms = 50;
	return o;
}

static const char *const facts_prompt =
        "{\"new_messages\":[{\"role\":\"user\",\"content\":\"My name is Ana. I live in Lisbon.\"},"
        "{\"role\":\"assistant\",\"content\":\"I love Lisbon too.\"}]}";
static const char *const facts_answer = "{\"facts\":[\"Name is Ana\",\"Lives in Lisbon\"]}";

static void chat_res_free(struct chat_res *r)
{
	free(r->content);
	free(r->err);
}

/* Status codes the mock recorded, in order, as "429,200". */
static void recorded_statuses(struct mockllm *m, char *out, size_t outlen)
{
	json_t *reqs = mockllm_requests(m), *r;
	size_t i, len = 0;

	out[0] = '\0';
	json_array_foreach (reqs, i, r) {
		len += (size_t)snprintf(out + len, outlen - len, "%s%lld", i ? "," : "",
		                        (long long)json_integer_value(json_object_get(r, "status")));
		if (len >= outlen)
			break;
	}
	json_decref(reqs);
}

/* One chat with opts against m; fills res. */
static void one_chat(struct mockllm *m, const struct llm_opts *o, const char *prompt, struct chat_res *res)
{
	struct event_base *base = event_base_new();
	struct llm *llm = llm_new(base, o);
	int done = 0;

	(void)m;
	cr_assert(llm);
	memset(res, 0, sizeof(*res));
	res->done = &done;
	cr_assert_eq(llm_chat(llm, "You extract facts.", prompt, true, on_chat, res), 0);
	cr_assert(run_until(base, &done, 1, 20000), "no callback");
	cr_expect_eq(res->calls, 1);
	llm_free(llm);
	event_base_free(base);
	cr_expect_eq(res->calls, 1, "callback fired again on llm_free");
}

Test(llm, chat_round_trip, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm = llm_new(base, &o);
	struct chat_res a = {0}, b = {0};
	int done = 0;
	json_t *reqs, *body;
	const struct llm_stats *st;

	cr_assert(llm);
	a.done = b.done = &done;
	cr_assert_eq(llm_chat(llm, "You extract facts.", facts_prompt, true, on_chat, &a), 0);
	cr_assert_eq(llm_chat(llm, NULL, facts_prompt, false, on_chat, &b), 0);
	cr_expect_eq(a.calls + b.calls, 0, "a callback fired inside llm_chat");
	cr_expect_eq(llm_inflight(llm), 2);
	cr_assert(run_until(base, &done, 2, 10000));
	cr_expect_eq(llm_inflight(llm), 0);

	cr_assert_eq(a.status, 0, "%s", a.err);
	cr_expect_str_eq(a.content, facts_answer);
	cr_expect_gt(a.usage.prompt_tokens, 0);
	cr_expect_gt(a.usage.completion_tokens, 0);
	cr_expect_eq(a.usage.total_tokens, a.usage.prompt_tokens + a.usage.completion_tokens);
	cr_expect_eq(b.status, 0);
	cr_expect_str_eq(b.content, facts_answer);

	st = llm_stats(llm, LLM_OP_CHAT);
	cr_expect_eq(st->requests, 2);
	cr_expect_eq(st->attempts, 2);
	cr_expect_eq(st->successes, 2);
	cr_expect_eq(st->failures, 0);
	cr_expect_eq(st->prompt_tokens, (unsigned long long)(a.usage.prompt_tokens + b.usage.prompt_tokens));

	reqs = mockllm_requests(m);
	cr_assert_eq(json_array_size(reqs), 2);
	body = json_object_get(json_array_get(reqs, 0), "body");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")), "/v1/chat/completions");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "auth")), "bearer");
	cr_expect_str_eq(json_string_value(json_object_get(body, "model")), "mock-chat");
	cr_expect(json_is_number(json_object_get(body, "temperature")) &&
	          json_number_value(json_object_get(body, "temperature")) == 0.0);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(body, "response_format"), "type")),
	                 "json_object");
	cr_expect_eq(json_array_size(json_object_get(body, "messages")), 2);
	cr_expect_str_eq(
	        json_string_value(json_object_get(json_array_get(json_object_get(body, "messages"), 0), "role")),
	        "system");
	/* no json_mode, no system prompt */
	body = json_object_get(json_array_get(reqs, 1), "body");
	cr_expect_null(json_object_get(body, "response_format"));
	cr_expect_eq(json_array_size(json_object_get(body, "messages")), 1);
	json_decref(reqs);

	llm_free(llm);
	event_base_free(base);
	chat_res_free(&a);
	chat_res_free(&b);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, no_key_sends_no_auth, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	json_t *reqs;

	o.api_key = NULL;
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, 0, "%s", r.err);
	reqs = mockllm_requests(m);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "auth")), "none");
	json_decref(reqs);
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

static double cosine(const float *a, const float *b, int dims)
{
	double dot = 0, na = 0, nb = 0;
	int i;

	for (i = 0; i < dims; i++) {
		dot += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	return dot / (sqrt(na) * sqrt(nb));
}

Test(llm, embeddings_in_order_with_dims, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0); /* mock default 1536: "dimensions" must win */
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm = llm_new(base, &o);
	const char *texts[] = {"Loves sci-fi films", "What films do I love?", "Lives in Lisbon"};
	const char *again[] = {"Lives in Lisbon", "Loves sci-fi films"};
	struct embed_res a = {0}, b = {0};
	int done = 0, i;
	json_t *reqs, *body;

	cr_assert(llm);
	a.done = b.done = &done;
	cr_assert_eq(llm_embed(llm, texts, 3, on_embed, &a), 0);
	cr_assert(run_until(base, &done, 1, 10000));
	cr_assert_eq(a.status, 0, "%s", a.err);
	cr_assert_eq(a.n, 3);
	cr_assert_eq(a.dims, DIMS);
	for (i = 0; i < 3; i++)
		cr_expect_float_eq(cosine(a.vecs + i * DIMS, a.vecs + i * DIMS, DIMS), 1.0, 1e-6);
	cr_expect_gt(cosine(a.vecs, a.vecs + DIMS, DIMS), cosine(a.vecs, a.vecs + 2 * DIMS, DIMS) + 0.3,
	             "'Loves sci-fi films' should be nearer 'What films do I love?' than 'Lives in Lisbon'");

	/* the server sends data in reverse order: index decides */
	mockllm_fault(m, "{\"next\":[{\"kind\":\"reverse\"}]}");
	cr_assert_eq(llm_embed(llm, again, 2, on_embed, &b), 0);
	cr_assert(run_until(base, &done, 2, 10000));
	cr_assert_eq(b.status, 0, "%s", b.err);
	cr_expect(memcmp(b.vecs, a.vecs + 2 * DIMS, DIMS * sizeof(float)) == 0, "same text, same vector");
	cr_expect(memcmp(b.vecs + DIMS, a.vecs, DIMS * sizeof(float)) == 0, "same text, same vector");

	reqs = mockllm_requests(m);
	body = json_object_get(json_array_get(reqs, 0), "body");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")), "/v1/embeddings");
	cr_expect_eq(json_integer_value(json_object_get(body, "dimensions")), DIMS);
	cr_expect_str_eq(json_string_value(json_object_get(body, "model")), "mock-embed");
	cr_expect_eq(json_array_size(json_object_get(body, "input")), 3);
	json_decref(reqs);
	cr_expect_eq(llm_stats(llm, LLM_OP_EMBED)->successes, 2);

	llm_free(llm);
	event_base_free(base);
	free(a.vecs);
	free(b.vecs);
	cr_expect_eq(mockllm_stop(m), 0);
}

/*
 * encoding_format "base64" (read past jansson: llm_parse.c, jlift.c) and
 * JSON numbers both give the mock's vectors, hashembed's: base64 bit for
 * bit, numbers to float precision (the mock prints 9 digits of a double);
 * base64 with the data reversed too (the lifted values follow the document,
 * "index" the rows).
 */
Test(llm, embeddings_base64_and_numbers, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	const char *texts[] = {"Loves sci-fi films", "What films do I love?", "Lives in Lisbon", "Caf\xc3\xa9 / tea"};
	struct embed_res rn = {0}, rb = {0}, rr = {0};
	struct llm *num, *b64;
	float want[DIMS];
	int done = 0, i, k, asked_b64 = 0;
	json_t *reqs, *r;
	size_t at;

	num = llm_new(base, &o);
	o.embedding_base64 = true;
	b64 = llm_new(base, &o);
	cr_assert(num && b64);
	rn.done = rb.done = rr.done = &done;
	cr_assert_eq(llm_embed(num, texts, 4, on_embed, &rn), 0);
	cr_assert_eq(llm_embed(b64, texts, 4, on_embed, &rb), 0);
	cr_assert(run_until(base, &done, 2, 10000));
	mockllm_fault(m, "{\"next\":[{\"kind\":\"reverse\"}]}");
	cr_assert_eq(llm_embed(b64, texts, 4, on_embed, &rr), 0);
	cr_assert(run_until(base, &done, 3, 10000));
	cr_assert_eq(rn.status, 0, "%s", rn.err);
	cr_assert_eq(rb.status, 0, "%s", rb.err);
	cr_assert_eq(rr.status, 0, "%s", rr.err);
	cr_assert(rn.dims == DIMS && rb.dims == DIMS && rr.dims == DIMS);
	for (i = 0; i < 4; i++) {
		hashembed(HASHEMBED_SPARSE, texts[i], DIMS, want);
		cr_expect_arr_eq(rb.vecs + i * DIMS, want, sizeof(want), "base64 \"%s\"", texts[i]);
		cr_expect_arr_eq(rr.vecs + i * DIMS, want, sizeof(want), "base64 reversed \"%s\"", texts[i]);
		for (k = 0; k < DIMS; k++)
			cr_expect_float_eq(rn.vecs[i * DIMS + k], want[k], 1e-6, "numbers \"%s\"[%d]", texts[i], k);
	}
	reqs = mockllm_requests(m);
	json_array_foreach (reqs, at, r) {
		const char *f = json_string_value(json_object_get(json_object_get(r, "body"), "encoding_format"));

		asked_b64 += f && strcmp(f, "base64") == 0;
	}
	cr_expect_eq(json_array_size(reqs), 3);
	cr_expect_eq(asked_b64, 2);
	json_decref(reqs);
	llm_free(num);
	llm_free(b64);
	event_base_free(base);
	free(rn.vecs);
	free(rb.vecs);
	free(rr.vecs);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, wrong_dims_fail_without_retry, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm = llm_new(base, &o);
	const char *texts[] = {"hello"};
	struct embed_res r = {0};
	int done = 0;
	json_t *reqs;

	r.done = &done;
	mockllm_fault(m, "{\"next\":[{\"kind\":\"wrong_dims\"}]}");
	cr_assert_eq(llm_embed(llm, texts, 1, on_embed, &r), 0);
	cr_assert(run_until(base, &done, 1, 10000));
	cr_expect_eq(r.status, -1);
	cr_expect_null(r.vecs);
	cr_expect(r.err && strstr(r.err, "65-dimensional") && strstr(r.err, "64"), "%s", r.err);
	reqs = mockllm_requests(m);
	cr_expect_eq(json_array_size(reqs), 1);
	json_decref(reqs);
	llm_free(llm);
	event_base_free(base);
	free(r.err);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, omit_dimensions, .timeout = 30)
{
	struct mockllm *m = mockllm_start(DIMS); /* the server's own size is the configured one */
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm;
	const char *texts[] = {"hello"};
	struct embed_res r = {0};
	int done = 0;
	json_t *reqs;

	o.omit_dimensions = true;
	llm = llm_new(base, &o);
	r.done = &done;
	cr_assert_eq(llm_embed(llm, texts, 1, on_embed, &r), 0);
	cr_assert(run_until(base, &done, 1, 10000));
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect_eq(r.dims, DIMS);
	reqs = mockllm_requests(m);
	cr_expect_null(json_object_get(json_object_get(json_array_get(reqs, 0), "body"), "dimensions"));
	json_decref(reqs);
	llm_free(llm);
	event_base_free(base);
	free(r.vecs);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, retry_429_honours_retry_after, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	char statuses[64];
	long long t0;

	mockllm_fault(m, "{\"next\":[{\"kind\":\"429\",\"retry_after\":1,\"on\":\"chat\"}]}");
	t0 = tenv_now_ms();
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.content, facts_answer);
	/* backoff_max_ms is 50: only Retry-After explains a wait of a second */
	cr_expect_geq(r.at_ms - t0, 990, "waited %lld ms", r.at_ms - t0);
	cr_expect_lt(r.at_ms - t0, 5000, "waited %lld ms", r.at_ms - t0);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "429,200");
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, retry_after_http_date, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	char statuses[64];
	long long t0;

	mockllm_fault(m, "{\"next\":[{\"kind\":\"503\",\"retry_after\":2,\"retry_after_date\":true}]}");
	t0 = tenv_now_ms();
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, 0, "%s", r.err);
	/* an HTTP-date has whole seconds: "in 2 s" means somewhere in 1..2 s from here */
	cr_expect_geq(r.at_ms - t0, 900, "waited %lld ms", r.at_ms - t0);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "503,200");
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, retry_500_twice_then_success, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	char statuses[64];

	mockllm_fault(m, "{\"next\":[{\"kind\":\"500\"}],\"times\":2}");
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(r.content, facts_answer);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "500,500,200");
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, hang_times_out_then_retried, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	char statuses[64];
	long long t0;

	o.timeout_ms = 300;
	mockllm_fault(m, "{\"next\":[{\"kind\":\"hang\"}]}");
	t0 = tenv_now_ms();
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect_geq(r.at_ms - t0, 290, "waited %lld ms", r.at_ms - t0);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "0,200"); /* the hung one never got an answer */
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, malformed_body_retried, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm = llm_new(base, &o);
	const char *texts[] = {"one", "two"};
	struct chat_res c = {0};
	struct embed_res e = {0};
	char statuses[64];
	int done = 0;

	c.done = e.done = &done;
	mockllm_fault(m, "{\"next\":[{\"kind\":\"malformed\",\"on\":\"chat\"},"
	                 "{\"kind\":\"malformed\",\"on\":\"embeddings\"}]}");
	cr_assert_eq(llm_chat(llm, NULL, facts_prompt, true, on_chat, &c), 0);
	cr_assert(run_until(base, &done, 1, 10000));
	cr_assert_eq(llm_embed(llm, texts, 2, on_embed, &e), 0);
	cr_assert(run_until(base, &done, 2, 10000));
	cr_expect_eq(c.status, 0, "%s", c.err);
	cr_expect_eq(e.status, 0, "%s", e.err);
	cr_expect_eq(e.n, 2);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "200,200,200,200");
	cr_expect_eq(llm_stats(llm, LLM_OP_CHAT)->retries, 1);
	cr_expect_eq(llm_stats(llm, LLM_OP_EMBED)->retries, 1);
	llm_free(llm);
	event_base_free(base);
	chat_res_free(&c);
	free(e.vecs);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, retries_exhausted, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	char statuses[64];

	o.max_retries = 2;
	mockllm_fault(m, "{\"next\":[{\"kind\":\"500\"}],\"times\":3}");
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, -1);
	cr_expect_null(r.content);
	cr_assert(r.err);
	cr_expect(strstr(r.err, "HTTP 500: mock internal error") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "gave up after 3 attempts") != NULL, "%s", r.err);
	cr_expect(strchr(r.err, '\n') == NULL);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "500,500,500");
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, client_error_not_retried, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct chat_res r;
	char statuses[64];

	mockllm_fault(m, "{\"next\":[{\"kind\":\"400\"}]}");
	one_chat(m, &o, facts_prompt, &r);
	cr_expect_eq(r.status, -1);
	cr_expect(r.err && strstr(r.err, "chat: HTTP 400: mock client error"), "%s", r.err);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "400");
	chat_res_free(&r);

	/* the mock's own 400 for a prompt outside the contract carries its message */
	mockllm_reset(m);
	one_chat(m, &o, "hello", &r);
	cr_expect_eq(r.status, -1);
	cr_expect(r.err && strstr(r.err, "HTTP 400: mock: the user message is not a JSON object"), "%s", r.err);
	recorded_statuses(m, statuses, sizeof(statuses));
	cr_expect_str_eq(statuses, "400");
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, connection_refused_retried_then_fails, .timeout = 30)
{
	struct llm_opts o;
	struct chat_res r;
	struct event_base *base = event_base_new();
	struct llm *llm;
	int done = 0;

	memset(&o, 0, sizeof(o));
	o.base_url = "http://127.0.0.1:1/v1"; /* nothing listens on port 1 */
	o.max_retries = 1;
	o.backoff_base_ms = 5;
	o.backoff_max_ms = 10;
	llm = llm_new(base, &o);
	cr_assert(llm);
	memset(&r, 0, sizeof(r));
	r.done = &done;
	cr_assert_eq(llm_chat(llm, NULL, "{}", true, on_chat, &r), 0);
	cr_assert(run_until(base, &done, 1, 10000));
	cr_expect_eq(r.status, -1);
	cr_expect(r.err && strstr(r.err, "gave up after 2 attempts"), "%s", r.err);
	cr_expect_eq(llm_stats(llm, LLM_OP_CHAT)->attempts, 2);
	cr_expect_eq(llm_stats(llm, LLM_OP_CHAT)->failures, 1);
	llm_free(llm);
	event_base_free(base);
	chat_res_free(&r);
}

Test(llm, inflight_cap, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm;
	struct chat_res r[10];
	int done = 0, i;
	long long t0;
	json_t *st;

	o.max_inflight = 2;
	llm = llm_new(base, &o);
	memset(r, 0, sizeof(r));
	mockllm_fault(m, "{\"latency_ms\":100}");
	t0 = tenv_now_ms();
	for (i = 0; i < 10; i++) {
		r[i].done = &done;
		cr_assert_eq(llm_chat(llm, NULL, facts_prompt, true, on_chat, &r[i]), 0);
	}
	cr_expect_eq(llm_inflight(llm), 10);
	cr_expect_eq(llm_queued(llm), 10);
	cr_assert(run_until(base, &done, 10, 20000));
	for (i = 0; i < 10; i++) {
		cr_expect_eq(r[i].calls, 1);
		cr_expect_eq(r[i].status, 0, "%s", r[i].err);
		if (i > 0)
			cr_expect_geq(r[i].at_ms, r[i - 1].at_ms - 50, "FIFO: request %d finished well before %d", i,
			              i - 1);
		chat_res_free(&r[i]);
	}
	cr_expect_geq(tenv_now_ms() - t0, 480, "10 requests, 2 at a time, 100 ms each");
	st = mockllm_stats(m);
	cr_expect_leq(json_integer_value(json_object_get(st, "max_concurrent")), 2);
	cr_expect_eq(json_integer_value(json_object_get(st, "max_concurrent")), 2);
	cr_expect_eq(json_integer_value(json_object_get(st, "chat")), 10);
	json_decref(st);
	cr_expect(llm_stats(llm, LLM_OP_CHAT)->connections >= 1 && llm_stats(llm, LLM_OP_CHAT)->connections <= 2,
	          "connections are reused: %llu opened", llm_stats(llm, LLM_OP_CHAT)->connections);
	llm_free(llm);
	event_base_free(base);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, free_fails_pending_once, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	const char *texts[] = {"a", "b"};
	struct llm *llm;
	struct chat_res c[4];
	struct embed_res e[2];
	int done = 0, i;
	json_t *st;

	o.max_inflight = 2;
	llm = llm_new(base, &o);
	memset(c, 0, sizeof(c));
	memset(e, 0, sizeof(e));
	mockllm_fault(m, "{\"latency_ms\":5000}");
	for (i = 0; i < 4; i++) {
		c[i].done = &done;
		c[i].llm = llm; /* the callback tries llm_chat: refused while freeing */
		c[i].chat_rc_inside = 99;
		cr_assert_eq(llm_chat(llm, NULL, facts_prompt, true, on_chat, &c[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		e[i].done = &done;
		cr_assert_eq(llm_embed(llm, texts, 2, on_embed, &e[i]), 0);
	}
	/* let two reach the mock, where they wait */
	run_until(base, &done, 1, 300);
	cr_assert_eq(done, 0);
	st = mockllm_stats(m);
	cr_expect_eq(json_integer_value(json_object_get(st, "outstanding")), 2);
	json_decref(st);

	llm_free(llm);
	cr_expect_eq(done, 6);
	for (i = 0; i < 4; i++) {
		cr_expect_eq(c[i].calls, 1);
		cr_expect_eq(c[i].status, -1);
		cr_expect_str_eq(c[i].err, "shutting down");
		cr_expect_eq(c[i].chat_rc_inside, -1);
		chat_res_free(&c[i]);
	}
	for (i = 0; i < 2; i++) {
		cr_expect_eq(e[i].calls, 1);
		cr_expect_eq(e[i].status, -1);
		cr_expect_str_eq(e[i].err, "shutting down");
		free(e[i].err);
	}
	/* nothing of the client is left on the loop */
	run_until(base, &done, 7, 100);
	cr_expect_eq(done, 6);
	event_base_free(base);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, free_from_inside_a_callback, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	struct llm *llm;
	struct chat_res c[3];
	int done = 0, i;

	o.max_inflight = 1;
	llm = llm_new(base, &o);
	memset(c, 0, sizeof(c));
	for (i = 0; i < 3; i++) {
		c[i].done = &done;
		cr_assert_eq(llm_chat(llm, NULL, facts_prompt, true, on_chat, &c[i]), 0);
	}
	c[0].llm = llm;
	c[0].free_inside = true;
	cr_assert(run_until(base, &done, 3, 10000));
	cr_expect_eq(c[0].first_status, 0);
	cr_expect_eq(c[0].chat_rc_inside, 0, "llm_chat before llm_free is accepted");
	for (i = 1; i < 3; i++) {
		cr_expect_eq(c[i].calls, 1);
		cr_expect_eq(c[i].status, -1);
		cr_expect_str_eq(c[i].err, "shutting down");
	}
	/* the request queued from inside the callback failed too: 4 callbacks in all */
	run_until(base, &done, 5, 200);
	cr_expect_eq(done, 4);
	cr_expect_eq(c[0].calls, 2);
	cr_expect_eq(c[0].status, -1);
	for (i = 0; i < 3; i++)
		chat_res_free(&c[i]);
	event_base_free(base);
	cr_expect_eq(mockllm_stop(m), 0);
}

/* Runs fn's requests with stderr in a file at debug level; returns the log. */
static char *with_captured_stderr(void (*fn)(struct mockllm *, struct chat_res *), struct mockllm *m,
                                  struct chat_res *res)
{
	char path[] = "/tmp/mwtest-llmlog-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	char *log;

	cr_assert(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	log_setup(LOG_DEBUG, LOG_TEXT, "test_llm");
	fn(m, res);
	log_setup(LOG_INFO, LOG_TEXT, "test_llm");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	log = tenv_slurp(path);
	unlink(path);
	return log;
}

static void leak_openai(struct mockllm *m, struct chat_res *res)
{
	struct llm_opts o = opts_for(m);

	o.api_key = "sk-test-SECRET";
	/* a retry (logged), then a 401 whose message echoes the key */
	mockllm_fault(m, "{\"next\":[{\"kind\":\"500\"},{\"kind\":\"401\"}]}");
	one_chat(m, &o, facts_prompt, res);
}

static void leak_azure(struct mockllm *m, struct chat_res *res)
{
	struct llm_opts o = opts_for(m);

	o.flavor = LLM_AZURE;
	o.api_key = "azure-SECRET-key";
	o.azure_endpoint = mockllm_endpoint(m);
	o.azure_api_version = "2024-06-01";
	o.azure_chat_deployment = "chat-dep";
	mockllm_fault(m, "{\"next\":[{\"kind\":\"429\"},{\"kind\":\"401\"}]}");
	one_chat(m, &o, facts_prompt, res);
}

Test(llm, api_key_never_logged, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct chat_res r;
	char *log;

	log = with_captured_stderr(leak_openai, m, &r);
	cr_assert(log);
	cr_expect_eq(r.status, -1);
	cr_expect(r.err && strstr(r.err, "HTTP 401: Incorrect API key provided: ***"), "%s", r.err);
	cr_expect(r.err && !strstr(r.err, "SECRET"), "%s", r.err);
	cr_expect(strstr(log, "/v1/chat/completions") && strstr(log, "retry 1/3"), "nothing logged? %s", log);
	cr_expect(!strstr(log, "SECRET"), "key in the log: %s", log);
	cr_expect(!strstr(log, "Bearer"), "%s", log);
	free(log);
	chat_res_free(&r);

	mockllm_reset(m);
	log = with_captured_stderr(leak_azure, m, &r);
	cr_assert(log);
	cr_expect_eq(r.status, -1);
	cr_expect(r.err && !strstr(r.err, "SECRET"), "%s", r.err);
	cr_expect(strstr(log, "/openai/deployments/chat-dep/chat/completions"), "%s", log);
	cr_expect(!strstr(log, "SECRET"), "key in the log: %s", log);
	cr_expect(!strstr(log, "api-version"), "URL logged with its query: %s", log);
	free(log);
	chat_res_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, azure_flavour, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct llm_opts o = opts_for(m);
	struct event_base *base = event_base_new();
	const char *texts[] = {"Lives in Lisbon"};
	struct chat_res c = {0};
	struct embed_res e = {0};
	struct llm *llm;
	int done = 0;
	json_t *reqs, *r0, *r1;

	o.flavor = LLM_AZURE;
	o.base_url = NULL;
	o.api_key = "azure-key";
	o.chat_model = NULL;
	o.embed_model = NULL;
	o.azure_endpoint = mockllm_endpoint(m);
	o.azure_api_version = "2024-06-01";
	o.azure_chat_deployment = "gpt-4o-mini-dep";
	o.azure_embed_deployment = "emb-dep";
	llm = llm_new(base, &o);
	cr_assert(llm);
	c.done = e.done = &done;
	cr_assert_eq(llm_chat(llm, "sys", facts_prompt, true, on_chat, &c), 0);
	cr_assert_eq(llm_embed(llm, texts, 1, on_embed, &e), 0);
	cr_assert(run_until(base, &done, 2, 10000));
	cr_expect_eq(c.status, 0, "%s", c.err);
	cr_expect_str_eq(c.content, facts_answer);
	cr_expect_eq(e.status, 0, "%s", e.err);
	cr_expect_eq(e.dims, DIMS);

	reqs = mockllm_requests(m);
	cr_assert_eq(json_array_size(reqs), 2);
	r0 = json_array_get(reqs, 0);
	r1 = json_array_get(reqs, 1);
	if (strcmp(json_string_value(json_object_get(r0, "kind")), "chat") != 0) {
		json_t *t = r0;
		r0 = r1;
		r1 = t;
	}
	cr_expect_str_eq(json_string_value(json_object_get(r0, "path")),
	                 "/openai/deployments/gpt-4o-mini-dep/chat/completions");
	cr_expect_str_eq(json_string_value(json_object_get(r0, "query")), "api-version=2024-06-01");
	cr_expect_str_eq(json_string_value(json_object_get(r0, "auth")), "api-key");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r0, "body"), "model")), "gpt-4o-mini-dep");
	cr_expect_str_eq(json_string_value(json_object_get(r1, "path")), "/openai/deployments/emb-dep/embeddings");
	cr_expect_str_eq(json_string_value(json_object_get(r1, "query")), "api-version=2024-06-01");
	cr_expect_str_eq(json_string_value(json_object_get(r1, "auth")), "api-key");
	json_decref(reqs);

	llm_free(llm);
	event_base_free(base);
	chat_res_free(&c);
	free(e.vecs);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(llm, refused_calls_have_no_callback)
{
	struct event_base *base = event_base_new();
	struct llm_opts o;
	struct llm *llm;
	struct embed_res e = {0};
	struct chat_res c = {0};
	const char *texts[] = {"x"};
	const char bad_utf8[] = {'a', (char)0xff, 0};

	memset(&o, 0, sizeof(o));
	cr_expect_null(llm_new(base, &o), "no base URL");
	o.flavor = LLM_AZURE;
	cr_expect_null(llm_new(base, &o), "no Azure endpoint");
	o.azure_endpoint = "http://127.0.0.1:1";
	o.azure_api_version = "2024-06-01";
	o.azure_embed_deployment = "emb";
	llm = llm_new(base, &o);
	cr_assert(llm);
	cr_expect_eq(llm_chat(llm, NULL, "{}", true, on_chat, &c), -1, "no chat deployment");
	cr_expect_eq(llm_embed(llm, texts, 0, on_embed, &e), -1);
	cr_expect_eq(llm_embed(llm, NULL, 1, on_embed, &e), -1);
	texts[0] = bad_utf8;
	cr_expect_eq(llm_embed(llm, texts, 1, on_embed, &e), -1, "invalid UTF-8");
	cr_expect_eq(llm_inflight(llm), 0);
	llm_free(llm);
	cr_expect_eq(c.calls + e.calls, 0);
	event_base_free(base);
}
