/*
 * The mock LLM server's rules and faults over HTTP: what other modules'
 * tests rely on when they point memworker at it.
 */
#include "b64.h"
#include "hashembed.h"
#include "mockllm.h"
#include "testenv.h"
#include "vec.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A chat request body with prompt (a JSON text) as the user message. */
static char *chat_body(const char *prompt)
{
	json_t *o = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:{s:s}}", "model", "m", "messages", "role", "system",
	                      "content", "Extract facts.", "role", "user", "content", prompt, "response_format", "type",
	                      "json_object");
	char *s;

	cr_assert(o, "bad prompt");
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* POSTs a chat; returns the assistant content as text (malloc'd); asserts HTTP 200. */
static char *chat_text(struct mockllm *m, const char *path, const char *prompt)
{
	struct mockllm_reply r;
	char *body = chat_body(prompt), *content;
	json_t *resp;

	mockllm_http(m, "POST", path, body, 0, &r);
	free(body);
	cr_assert_eq(r.status, 200, "HTTP %ld: %s", r.status, r.body);
	resp = json_loads(r.body, 0, NULL);
	cr_assert(resp, "not JSON: %s", r.body);
	content = strdup(json_string_value(json_object_get(
	        json_object_get(json_array_get(json_object_get(resp, "choices"), 0), "message"), "content")));
	cr_expect_str_eq(json_string_value(json_object_get(resp, "object")), "chat.completion");
	cr_expect_gt(json_integer_value(json_object_get(json_object_get(resp, "usage"), "total_tokens")), 0);
	json_decref(resp);
	mockllm_reply_free(&r);
	return content;
}

/* The content compared as compact JSON text. */
static void expect_chat(struct mockllm *m, const char *prompt, const char *want)
{
	char *content = chat_text(m, "/v1/chat/completions", prompt);
	json_t *got = json_loads(content, 0, NULL), *exp = json_loads(want, 0, NULL);

	cr_assert(exp, "bad expectation %s", want);
	cr_expect(got && json_equal(got, exp), "got  %s\nwant %s", content, want);
	json_decref(got);
	json_decref(exp);
	free(content);
}

Test(mockllm, fact_extraction_rules, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);

	expect_chat(m,
	            "{\"new_messages\":[{\"role\":\"user\",\"content\":\"My name is Ana. I love sci-fi movies! "
	            "I'm a vegetarian. I live in Lisbon.\\nMy favourite colour is blue. I have a dog named Rex. "
	            "I work as a nurse? I recently moved to Porto. I study physics. I am tired.\"}]}",
	            "{\"facts\":[\"Name is Ana\",\"Loves sci-fi movies\",\"Is a vegetarian\",\"Lives in Lisbon\","
	            "\"Favourite colour is blue\",\"Has a dog named Rex\",\"Works as a nurse\","
	            "\"Recently moved to Porto\",\"Studies physics\",\"Is tired\"]}");
	expect_chat(m,
	            "{\"new_messages\":[{\"role\":\"user\",\"content\":\"I no longer eat meat. "
	            "I don't like jazz anymore. i do not play chess anymore!\"}]}",
	            "{\"facts\":[\"No longer eat meat\",\"No longer like jazz\",\"No longer play chess\"]}");
	/* not about the user, or not from the user */
	expect_chat(m,
	            "{\"new_messages\":[{\"role\":\"user\",\"content\":\"What films do I love? The weather is "
	            "nice. Tell me a joke.\"},{\"role\":\"assistant\",\"content\":\"I love jazz. My name is Bot.\"},"
	            "{\"role\":\"system\",\"content\":\"I live on a server.\"}]}",
	            "{\"facts\":[]}");
	/* repeats within one exchange give one fact */
	expect_chat(m,
	            "{\"new_messages\":[{\"role\":\"user\",\"content\":\"I like tea.\"},"
	            "{\"role\":\"user\",\"content\":\"I like tea!\"}]}",
	            "{\"facts\":[\"Likes tea\"]}");
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(mockllm, decisions, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);

	/* decision mode: UPDATE (same subject key), DELETE (negation), NONE (repeat), ADD */
	expect_chat(m,
	            "{\"new_facts\":[\"Lives in Porto\",\"No longer like jazz\",\"Name is Ana\",\"Likes tea\"],"
	            "\"existing_memories\":[{\"id\":\"0\",\"text\":\"Lives in Lisbon\"},"
	            "{\"id\":\"1\",\"text\":\"Likes jazz\"},{\"id\":\"2\",\"text\":\"name is ana\"}]}",
	            "{\"memory\":[{\"id\":\"0\",\"text\":\"Lives in Porto\",\"event\":\"UPDATE\","
	            "\"old_memory\":\"Lives in Lisbon\"},{\"id\":\"1\",\"text\":\"Likes jazz\",\"event\":\"DELETE\"},"
	            "{\"id\":\"2\",\"text\":\"name is ana\",\"event\":\"NONE\"},"
	            "{\"id\":\"3\",\"text\":\"Likes tea\",\"event\":\"ADD\"}]}");
	/* a negation with nothing to retract says nothing; nothing existing: all ADD */
	expect_chat(m, "{\"new_facts\":[\"No longer eat meat\",\"Works as a nurse\"],\"existing_memories\":[]}",
	            "{\"memory\":[{\"id\":\"0\",\"text\":\"Works as a nurse\",\"event\":\"ADD\"}]}");
	/* single-call mode: extraction from user turns, then decisions */
	expect_chat(
	        m,
	        "{\"new_messages\":[{\"role\":\"user\",\"content\":\"I live in Porto now. I'm a vegetarian.\"},"
	        "{\"role\":\"assistant\",\"content\":\"I like Porto. My name is Bot.\"}],"
	        "\"existing_memories\":[{\"id\":\"0\",\"text\":\"Lives in Lisbon\"},"
	        "{\"id\":\"1\",\"text\":\"Is a vegetarian\"}]}",
	        "{\"memory\":[{\"id\":\"0\",\"text\":\"Lives in Porto now\",\"event\":\"UPDATE\","
	        "\"old_memory\":\"Lives in Lisbon\"},{\"id\":\"1\",\"text\":\"Is a vegetarian\",\"event\":\"NONE\"}]}");
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(mockllm, bad_prompts_and_paths, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	struct mockllm_reply r;
	char *body = chat_body("not json");
	json_t *reqs;

	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 400);
	cr_expect(strstr(r.body, "\"error\"") && strstr(r.body, "not a JSON object"), "%s", r.body);
	mockllm_reply_free(&r);
	free(body);
	body = chat_body("{\"hello\":1}");
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 400);
	mockllm_reply_free(&r);
	free(body);
	mockllm_http(m, "POST", "/v2/nothing", "{}", 0, &r);
	cr_expect_eq(r.status, 404);
	mockllm_reply_free(&r);
	mockllm_http(m, "GET", "/v1/embeddings", NULL, 0, &r);
	cr_expect_eq(r.status, 405);
	mockllm_reply_free(&r);

	reqs = mockllm_requests(m);
	cr_expect_eq(json_array_size(reqs), 4);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "kind")), "chat");
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 400);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 2), "kind")), "other");
	json_decref(reqs);
	cr_expect_eq(mockllm_stop(m), 0);
}

/* The vectors of one embeddings reply, as a JSON array of arrays (new reference). */
static json_t *embed(struct mockllm *m, const char *path, const char *body, int *dims_out)
{
	struct mockllm_reply r;
	json_t *resp, *out = json_array(), *item;
	size_t i;

	mockllm_http(m, "POST", path, body, 0, &r);
	cr_assert_eq(r.status, 200, "HTTP %ld: %s", r.status, r.body);
	resp = json_loads(r.body, 0, NULL);
	cr_assert(resp);
	cr_expect_str_eq(json_string_value(json_object_get(resp, "object")), "list");
	cr_expect_gt(json_integer_value(json_object_get(json_object_get(resp, "usage"), "prompt_tokens")), 0);
	json_array_foreach (json_object_get(resp, "data"), i, item) {
		cr_expect_eq(json_integer_value(json_object_get(item, "index")), (json_int_t)i);
		json_array_append(out, json_object_get(item, "embedding"));
	}
	*dims_out = (int)json_array_size(json_array_get(out, 0));
	json_decref(resp);
	mockllm_reply_free(&r);
	return out;
}

static double dot(const json_t *a, const json_t *b)
{
	double s = 0;
	size_t i;

	for (i = 0; i < json_array_size(a); i++)
		s += json_number_value(json_array_get(a, i)) * json_number_value(json_array_get(b, i));
	return s;
}

Test(mockllm, embeddings, .timeout = 30)
{
	struct mockllm *m = mockllm_start(32);
	json_t *v;
	int dims;

	v = embed(m, "/v1/embeddings",
	          "{\"model\":\"e\",\"input\":[\"Loves sci-fi films\",\"What films do I love?\",\"Lives in Lisbon\","
	          "\"Loves sci-fi films\",\"the of and\"]}",
	          &dims);
	cr_expect_eq(dims, 32, "--dims is the default");
	cr_assert_eq(json_array_size(v), 5);
	cr_expect_float_eq(dot(json_array_get(v, 0), json_array_get(v, 0)), 1.0, 1e-6, "L2-normalised");
	cr_expect_float_eq(dot(json_array_get(v, 4), json_array_get(v, 4)), 1.0, 1e-6,
	                   "only stopwords: still a vector");
	cr_expect(json_equal(json_array_get(v, 0), json_array_get(v, 3)), "same text, same vector");
	cr_expect_gt(dot(json_array_get(v, 0), json_array_get(v, 1)), 0.5);
	cr_expect_gt(dot(json_array_get(v, 0), json_array_get(v, 1)), dot(json_array_get(v, 0), json_array_get(v, 2)));
	json_decref(v);

	/* a single string, "dimensions", and the Azure path */
	v = embed(m, "/openai/deployments/emb/embeddings?api-version=2024-06-01",
	          "{\"input\":\"Lives in Lisbon\",\"dimensions\":8}", &dims);
	cr_expect_eq(dims, 8);
	cr_expect_eq(json_array_size(v), 1);
	json_decref(v);
	cr_expect_eq(mockllm_stop(m), 0);
}

/*
 * One embeddings reply checked against hashembed (what the mock claims to
 * serve), in the given encoding_format: base64 carries hashembed()'s floats
 * bit for bit; a JSON number is the normalised double printed with 9
 * significant digits (the mock dumps with JSON_REAL_PRECISION(9)).
 */
static void expect_hashembed_reply(struct mockllm *m, enum hashembed_kind kind, int dims, const char *format)
{
	static const char *const texts[] = {"Coffee beans roast", "the of and", "Caf\xc3\xa9 in S\xc3\xa3o Paulo", ""};
	json_t *req = json_pack("{s:s, s:[s, s, s, s], s:i, s:s}", "model", "e", "input", texts[0], texts[1], texts[2],
	                        texts[3], "dimensions", dims, "encoding_format", format);
	char *body = json_dumps(req, JSON_COMPACT);
	double *want = malloc(sizeof(double) * (size_t)dims);
	float *wantf = malloc(sizeof(float) * (size_t)dims), *got = malloc(sizeof(float) * (size_t)dims);
	struct mockllm_reply r;
	json_t *resp, *item;
	size_t i;

	cr_assert(body && want && wantf && got);
	mockllm_http(m, "POST", "/v1/embeddings", body, 0, &r);
	cr_assert_eq(r.status, 200, "HTTP %ld: %s", r.status, r.body);
	resp = json_loads(r.body, 0, NULL);
	cr_assert_eq(json_array_size(json_object_get(resp, "data")), 4);
	json_array_foreach (json_object_get(resp, "data"), i, item) {
		json_t *e = json_object_get(item, "embedding");
		const char *text = texts[json_integer_value(json_object_get(item, "index"))];
		int d;

		hashembed_sum(kind, text, dims, want);
		hashembed_unit(want, dims);
		hashembed(kind, text, dims, wantf);
		if (strcmp(format, "base64") == 0) {
			size_t len = 0;
			unsigned char *raw = b64_decode(json_string_value(e), strlen(json_string_value(e)), &len);

			cr_assert(raw && len == 4 * (size_t)dims, "\"%s\": %zu bytes", text, len);
			vec_from_le_blob(raw, dims, got);
			cr_expect_arr_eq(got, wantf, sizeof(float) * (size_t)dims, "%s \"%s\" at %d dims, base64",
			                 hashembed_kind_name(kind), text, dims);
			free(raw);
			continue;
		}
		cr_assert_eq(json_array_size(e), (size_t)dims);
		for (d = 0; d < dims; d++) {
			char num[32];

			snprintf(num, sizeof(num), "%.9g", want[d]);
			if (json_number_value(json_array_get(e, (size_t)d)) != strtod(num, NULL)) {
				cr_expect_fail("%s \"%s\" at %d dims, component %d: %.17g, want %s",
				               hashembed_kind_name(kind), text, dims, d,
				               json_number_value(json_array_get(e, (size_t)d)), num);
				break;
			}
		}
	}
	json_decref(resp);
	json_decref(req);
	mockllm_reply_free(&r);
	free(body);
	free(want);
	free(wantf);
	free(got);
}

Test(mockllm, embeddings_are_hashembed_of_the_chosen_kind, .timeout = 30)
{
	struct mockllm *sparse = mockllm_start(0), *dense = mockllm_start_embedding(0, "dense");
	static const int dims[] = {1536, 48};
	size_t i;

	for (i = 0; i < 2; i++) {
		expect_hashembed_reply(sparse, HASHEMBED_SPARSE, dims[i], "float");
		expect_hashembed_reply(sparse, HASHEMBED_SPARSE, dims[i], "base64");
		expect_hashembed_reply(dense, HASHEMBED_DENSE, dims[i], "float");
		expect_hashembed_reply(dense, HASHEMBED_DENSE, dims[i], "base64");
	}
	cr_expect_eq(mockllm_stop(sparse), 0);
	cr_expect_eq(mockllm_stop(dense), 0);
}

Test(mockllm, azure_chat_path_and_auth_kinds, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	char *content = chat_text(m, "/openai/deployments/gpt/chat/completions?api-version=2024-06-01",
	                          "{\"new_messages\":[{\"role\":\"user\",\"content\":\"I like tea\"}]}");
	json_t *reqs;

	cr_expect_str_eq(content, "{\"facts\":[\"Likes tea\"]}");
	free(content);
	reqs = mockllm_requests(m);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "path")),
	                 "/openai/deployments/gpt/chat/completions");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "query")),
	                 "api-version=2024-06-01");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(reqs, 0), "auth")), "none");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(json_array_get(reqs, 0), "body"), "model")),
	                 "m");
	json_decref(reqs);
	cr_expect_eq(mockllm_stop(m), 0);
}

static const char *const prompt_tea = "{\"new_messages\":[{\"role\":\"user\",\"content\":\"I like tea\"}]}";

Test(mockllm, status_faults, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	char *body = chat_body(prompt_tea);
	struct mockllm_reply r;
	json_t *st;

	mockllm_fault(m, "{\"next\":[{\"kind\":\"429\",\"retry_after\":3},{\"kind\":\"500\"},"
	                 "{\"kind\":\"429\",\"retry_after\":1,\"retry_after_date\":true}]}");
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 429);
	cr_expect_str_eq(r.retry_after, "3");
	cr_expect(strstr(r.body, "rate_limit_error"), "%s", r.body);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 500);
	cr_expect_null(r.retry_after);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 429);
	cr_expect(r.retry_after && strstr(r.retry_after, " GMT"), "%s", r.retry_after);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 200, "faults are one-shot");
	mockllm_reply_free(&r);

	/* "on" picks the requests a fault waits for; "times" repeats the list */
	mockllm_fault(m, "{\"next\":[{\"kind\":\"503\",\"on\":\"embeddings\"}],\"times\":2}");
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 200);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/embeddings", "{\"input\":\"x\"}", 0, &r);
	cr_expect_eq(r.status, 503);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/embeddings", "{\"input\":\"x\"}", 0, &r);
	cr_expect_eq(r.status, 503);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/embeddings", "{\"input\":\"x\"}", 0, &r);
	cr_expect_eq(r.status, 200);
	mockllm_reply_free(&r);

	st = mockllm_stats(m);
	cr_expect_eq(json_integer_value(json_object_get(st, "chat")), 5);
	cr_expect_eq(json_integer_value(json_object_get(st, "embeddings")), 3);
	json_decref(st);

	/* reset clears faults and recordings */
	mockllm_fault(m, "{\"next\":[{\"kind\":\"500\"}]}");
	mockllm_reset(m);
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 200);
	mockllm_reply_free(&r);
	st = mockllm_requests(m);
	cr_expect_eq(json_array_size(st), 1);
	json_decref(st);

	mockllm_http(m, "POST", "/_mock/faults", "{\"next\":[{\"kind\":\"explode\"}]}", 0, &r);
	cr_expect_eq(r.status, 400);
	cr_expect(strstr(r.body, "explode"), "%s", r.body);
	mockllm_reply_free(&r);
	free(body);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(mockllm, hang_and_malformed, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	char *body = chat_body(prompt_tea);
	struct mockllm_reply r;
	json_t *reqs, *st;
	long long t0;

	mockllm_fault(m, "{\"next\":[{\"kind\":\"hang\"},{\"kind\":\"malformed\"}]}");
	t0 = tenv_now_ms();
	mockllm_http(m, "POST", "/v1/chat/completions", body, 300, &r);
	cr_expect_eq(r.status, 0, "a hung request gets no answer");
	cr_expect_geq(tenv_now_ms() - t0, 290);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_null(json_loads(r.body, 0, NULL), "malformed must not parse: %s", r.body);
	mockllm_reply_free(&r);

	reqs = mockllm_requests(m);
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 0);
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(reqs, 1), "status")), 200);
	json_decref(reqs);
	st = mockllm_stats(m);
	cr_expect_eq(json_integer_value(json_object_get(st, "outstanding")), 1, "the hung one");
	json_decref(st);
	free(body);
	/* shuts down cleanly with a hung request whose client left */
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(mockllm, content_faults, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	const char *decide = "{\"new_facts\":[\"Likes tea\"],\"existing_memories\":[{\"id\":\"0\",\"text\":\"x\"}]}";
	char *c;
	json_t *j, *mem;

	mockllm_fault(m, "{\"next\":[{\"kind\":\"fence\"},{\"kind\":\"think\"},{\"kind\":\"invent_id\"},"
	                 "{\"kind\":\"garbage\"}]}");
	c = chat_text(m, "/v1/chat/completions", prompt_tea);
	{
		const char *fenced = "```json\n{\"facts\":[\"Likes tea\"]}\n```";

		cr_expect(strncmp(c, fenced, strlen(fenced)) == 0, "%s", c);
		cr_expect_gt(strlen(c), strlen(fenced) + 5, "trailing chatter: %s", c);
	}
	free(c);
	c = chat_text(m, "/v1/chat/completions", prompt_tea);
	cr_expect(strncmp(c, "<think>", 7) == 0 && strstr(c, "</think>"), "%s", c);
	cr_expect(strstr(c, "</think>\n{\"facts\":[\"Likes tea\"]}") != NULL, "%s", c);
	free(c);
	c = chat_text(m, "/v1/chat/completions", decide);
	j = json_loads(c, 0, NULL);
	mem = json_object_get(j, "memory");
	cr_assert_eq(json_array_size(mem), 2, "%s", c);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(mem, 1), "id")), "999");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(mem, 1), "event")), "UPDATE");
	json_decref(j);
	free(c);
	c = chat_text(m, "/v1/chat/completions", prompt_tea);
	cr_expect_str_eq(c, "Sorry, I cannot help with that.");
	free(c);
	/* content faults wait for a chat: embeddings pass untouched */
	mockllm_fault(m, "{\"next\":[{\"kind\":\"garbage\"}]}");
	{
		int dims;
		json_t *v = embed(m, "/v1/embeddings", "{\"input\":[\"a\"]}", &dims);

		cr_expect_eq(json_array_size(v), 1);
		json_decref(v);
	}
	c = chat_text(m, "/v1/chat/completions", prompt_tea);
	cr_expect_str_eq(c, "Sorry, I cannot help with that.");
	free(c);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(mockllm, embedding_faults, .timeout = 30)
{
	struct mockllm *m = mockllm_start(16);
	struct mockllm_reply r;
	json_t *resp, *data;

	mockllm_fault(m, "{\"next\":[{\"kind\":\"reverse\"},{\"kind\":\"wrong_dims\"}]}");
	mockllm_http(m, "POST", "/v1/embeddings", "{\"input\":[\"a\",\"b\",\"c\"]}", 0, &r);
	resp = json_loads(r.body, 0, NULL);
	data = json_object_get(resp, "data");
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(data, 0), "index")), 2);
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(data, 2), "index")), 0);
	json_decref(resp);
	mockllm_reply_free(&r);
	mockllm_http(m, "POST", "/v1/embeddings", "{\"input\":[\"a\"]}", 0, &r);
	resp = json_loads(r.body, 0, NULL);
	data = json_object_get(resp, "data");
	cr_expect_eq(json_array_size(json_object_get(json_array_get(data, 0), "embedding")), 17);
	json_decref(resp);
	mockllm_reply_free(&r);
	cr_expect_eq(mockllm_stop(m), 0);
}

Test(mockllm, latency, .timeout = 30)
{
	struct mockllm *m = mockllm_start(0);
	char *body = chat_body(prompt_tea);
	struct mockllm_reply r;
	long long t0;
	json_t *st;

	mockllm_fault(m, "{\"latency_ms\":200}");
	t0 = tenv_now_ms();
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_eq(r.status, 200);
	cr_expect_geq(tenv_now_ms() - t0, 195);
	mockllm_reply_free(&r);
	st = mockllm_stats(m);
	cr_expect_eq(json_integer_value(json_object_get(st, "latency_ms")), 200);
	json_decref(st);
	mockllm_reset(m);
	t0 = tenv_now_ms();
	mockllm_http(m, "POST", "/v1/chat/completions", body, 0, &r);
	cr_expect_lt(tenv_now_ms() - t0, 150, "reset restores --latency-ms (0)");
	mockllm_reply_free(&r);
	/* a delayed answer pending at shutdown */
	mockllm_fault(m, "{\"latency_ms\":5000}");
	mockllm_http(m, "POST", "/v1/chat/completions", body, 100, &r);
	cr_expect_eq(r.status, 0);
	mockllm_reply_free(&r);
	free(body);
	cr_expect_eq(mockllm_stop(m), 0);
}
