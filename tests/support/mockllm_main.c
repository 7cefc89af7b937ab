/*
 * mockllm: a deterministic OpenAI-compatible server for tests, on 127.0.0.1.
 *
 * Chat completions answer memworker's prompt contract (the user message is a
 * JSON object: new_messages, new_facts, existing_memories) with rule-based
 * fact extraction and ADD/UPDATE/DELETE/NONE decisions; embeddings are word
 * hashes (common/hashembed.h, sparse or --embedding dense), so texts sharing
 * words are close. The /_mock/ endpoints record
 * requests and inject one-shot faults (429, 500, hang, malformed bodies,
 * fenced or chatty content ...). One libevent loop, single-threaded; latency is timers,
 * never sleep. Owns every request it has not answered yet (struct pending).
 */
#include "b64.h"
#include "hashembed.h"
#include "log.h"
#include "vec.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

enum mock_kind { MOCK_CHAT = 0, MOCK_EMBED, MOCK_OTHER, MOCK_KINDS };

enum fault_kind {
	FAULT_STATUS = 0, /* an HTTP error status with an OpenAI error body */
	FAULT_HANG,       /* never answer */
	FAULT_MALFORMED,  /* 200, body not JSON */
	FAULT_FENCE,      /* content in ```json fences plus chatter */
	FAULT_THINK,      /* content after <think>...</think> */
	FAULT_INVENT_ID,  /* an UPDATE for an id nobody sent */
	FAULT_GARBAGE,    /* content no parser can repair */
	FAULT_REVERSE,    /* embeddings data in reverse order */
	FAULT_WRONG_DIMS, /* embeddings one dimension longer */
};

struct fault {
	TAILQ_ENTRY(fault) link;
	enum fault_kind kind;
	int status;
	int retry_after;       /* seconds; < 0: no header */
	bool retry_after_date; /* send Retry-After as an HTTP-date */
	int on;                /* enum mock_kind, or -1 for any */
};

struct reply {
	int status;
	char *body; /* owned */
	int retry_after;
	bool retry_after_date;
};

/* A request answered later (latency) or never (hang): owned until replied. */
struct pending {
	TAILQ_ENTRY(pending) link;
	struct mock *mock;
	struct evhttp_request *req;
	struct event *timer; /* NULL: hang */
	json_t *record;      /* our reference to its /_mock/requests entry */
	struct reply reply;
};

struct mock {
	struct event_base *base;
	struct evhttp *http;
	int dims;
	enum hashembed_kind embedding;
	int default_latency_ms, latency_ms;
	json_t *requests;
	TAILQ_HEAD(, fault) faults;
	TAILQ_HEAD(, pending) pendings;
	long counts[MOCK_KINDS];
	int outstanding, max_concurrent;
	unsigned long seq;
};

static const char *const kind_names[MOCK_KINDS] = {"chat", "embeddings", "other"};

/* ---- small text helpers ---- */

static char *str_lower(const char *s)
{
	char *t = mw_strdup(s), *p;

	for (p = t; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return t;
}

static void rtrim_punct(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && strchr(" \t\r\n.!?,;:", s[n - 1]))
		s[--n] = '\0';
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* "like jazz" -> "Like jazz" (a copy). */
static char *capitalised(const char *s, size_t n)
{
	char *t = mw_strndup(s, n);

	t[0] = (char)toupper((unsigned char)t[0]);
	return t;
}

static char *joined(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = mw_malloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* ---- facts ---- */

static const char *const fact_verbs[] = {"like", "love", "hate",  "have", "live",  "work",  "prefer", "own",
                                         "want", "play", "enjoy", "use",  "speak", "study", "visit",  NULL};

/* "have" -> "Has", "study" -> "Studies", "like" -> "Likes" */
static char *verb_s_form(const char *verb, size_t n)
{
	char *base = capitalised(verb, n), *s;

	if (strcmp(base, "Have") == 0) {
		free(base);
		return mw_strdup("Has");
	}
	if (n > 1 && base[n - 1] == 'y' && !strchr("aeiou", base[n - 2])) {
		base[n - 1] = '\0';
		s = joined(base, "ies");
	} else {
		s = joined(base, "s");
	}
	free(base);
	return s;
}

static bool in_list(const char *const *list, const char *word, size_t n)
{
	for (; *list; list++)
		if (strlen(*list) == n && strncmp(*list, word, n) == 0)
			return true;
	return false;
}

/* Length of a prefix of lower matching one of the alternatives, 0 if none. */
static size_t prefix_len(const char *lower, const char *const *alts)
{
	for (; *alts; alts++)
		if (strncmp(lower, *alts, strlen(*alts)) == 0)
			return strlen(*alts);
	return 0;
}

/* The fact a sentence states about the user, or NULL (the rules in tests/support/mockllm.h). */
static char *sentence_fact(const char *s)
{
	static const char *const i_am[] = {"i am ", "i'm ", "i\xe2\x80\x99m ", NULL};
	static const char *const dont[] = {"i don't ", "i don\xe2\x80\x99t ", "i do not ", "i dont ", NULL};
	static const char *const anymore[] = {" anymore", " any more", NULL};
	char *lower = str_lower(s), *fact = NULL;
	size_t len = strlen(s), n;

	if (strncmp(lower, "my name is ", 11) == 0 && len > 11) {
		fact = joined("Name is ", s + 11);
	} else if (strncmp(lower, "my ", 3) == 0) {
		const char *is = strstr(lower + 3, " is "), *are = strstr(lower + 3, " are ");
		const char *cop = is && (!are || is < are) ? is : are;

		if (cop && cop > lower + 3 && cop[cop == is ? 4 : 5]) {
			char *subject = capitalised(s + 3, (size_t)(cop - lower) - 3);

			fact = joined(subject, s + (cop - lower));
			free(subject);
		}
	} else if ((n = prefix_len(lower, i_am)) > 0 && len > n) {
		fact = joined("Is ", skip_space(s + n));
	} else if (strncmp(lower, "i no longer ", 12) == 0 && len > 12) {
		fact = joined("No longer ", s + 12);
	} else if ((n = prefix_len(lower, dont)) > 0) {
		size_t k;

		for (k = 0; anymore[k]; k++) {
			size_t al = strlen(anymore[k]);

			if (len > n + al && strcmp(lower + len - al, anymore[k]) == 0) {
				char *what = mw_strndup(s + n, len - n - al);

				fact = joined("No longer ", what);
				free(what);
				break;
			}
		}
		if (!fact)
			fact = capitalised(s + 2, len - 2);
	} else if (strncmp(lower, "i ", 2) == 0 && len > 2) {
		const char *verb = skip_space(s + 2), *rest;
		size_t vlen = strcspn(verb, " \t");

		rest = skip_space(verb + vlen);
		if (in_list(fact_verbs, lower + (verb - s), vlen) && *rest) {
			char *sv = verb_s_form(lower + (verb - s), vlen), *tail = joined(" ", rest);

			fact = joined(sv, tail);
			free(sv);
			free(tail);
		} else if (*verb) {
			fact = capitalised(verb, strlen(verb));
		}
	}
	free(lower);
	if (fact)
		rtrim_punct(fact);
	if (fact && !*fact) {
		free(fact);
		fact = NULL;
	}
	return fact;
}

static bool array_has_text(const json_t *arr, const char *text)
{
	size_t i;
	json_t *v;

	json_array_foreach (arr, i, v) {
		if (strcasecmp(json_string_value(v), text) == 0)
			return true;
	}
	return false;
}

/* Appends to facts (a JSON array) what text says about the user, without repeats. */
static void extract_facts(const char *text, json_t *facts)
{
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, ".!?\n");
		char *sentence = mw_strndup(p, n), *start = sentence, *fact;

		while (isspace((unsigned char)*start))
			start++;
		rtrim_punct(start);
		fact = *start ? sentence_fact(start) : NULL;
		if (fact && !array_has_text(facts, fact))
			json_array_append_new(facts, json_string(fact));
		free(fact);
		free(sentence);
		p += n;
		if (*p)
			p++;
	}
}

/* Facts from the user turns of new_messages; assistant and system turns are context only. */
static json_t *facts_of_messages(const json_t *messages)
{
	json_t *facts = json_array(), *m;
	size_t i;

	json_array_foreach (messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *content = json_string_value(json_object_get(m, "content"));

		if (role && content && strcmp(role, "user") == 0)
			extract_facts(content, facts);
	}
	return facts;
}

/* ---- decisions ---- */

/* "Lives in Lisbon" -> "lives in" (malloc'd). */
static char *subject_key(const char *text)
{
	const char *p = skip_space(text);
	size_t n = strcspn(p, " ");
	char *lower;

	if (p[n])
		n += 1 + strcspn(p + n + 1, " ");
	lower = str_lower(p);
	lower[n] = '\0';
	return lower;
}

static const char *memory_text(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "text"));

	return t ? t : json_string_value(json_object_get(m, "memory"));
}

/* The memory a "No longer V X" fact retracts, preferring one that also has V's s-form. */
static int negated_memory(const char *fact, const json_t *existing, const bool *claimed)
{
	const char *v = skip_space(fact + strlen("No longer "));
	size_t vlen = strcspn(v, " ");
	const char *x = skip_space(v + vlen);
	char *sv = verb_s_form(v, vlen);
	int best = -1;
	size_t i;
	json_t *m;

	if (!*x)
		x = v;
	json_array_foreach (existing, i, m) {
		const char *t = memory_text(m);

		if (claimed[i] || !t || !strcasestr(t, x))
			continue;
		if (strcasestr(t, sv)) {
			best = (int)i;
			break;
		}
		if (best < 0)
			best = (int)i;
	}
	free(sv);
	return best;
}

static json_t *event_obj(json_t *id, const char *text, const char *event)
{
	return json_pack("{s:O, s:s, s:s}", "id", id, "text", text, "event", event);
}

/* Next unused small integer id for ADDs, after the numeric ids shown. */
static long next_add_id(const json_t *existing)
{
	long next = (long)json_array_size(existing);
	size_t i;
	json_t *m;

	json_array_foreach (existing, i, m) {
		json_t *id = json_object_get(m, "id");
		const char *s = json_string_value(id);
		long v = json_is_integer(id) ? (long)json_integer_value(id) : s ? strtol(s, NULL, 10) : -1;

		if (v >= next)
			next = v + 1;
	}
	return next;
}

/* {"memory":[...]}: one event per fact, in fact order (NONE only for exact repeats). */
static json_t *decide(const json_t *facts, const json_t *existing)
{
	size_t nexist = json_array_size(existing), i, j;
	bool *claimed = mw_calloc(nexist + 1, sizeof(*claimed));
	json_t *out = json_array(), *f, *m;
	long add_id = next_add_id(existing);

	json_array_foreach (facts, i, f) {
		const char *fact = json_string_value(f);
		char *key;
		int hit = -1;

		if (!fact)
			continue;
		json_array_foreach (existing, j, m) {
			if (memory_text(m) && strcasecmp(memory_text(m), fact) == 0) {
				hit = (int)j;
				break;
			}
		}
		if (hit >= 0) {
			m = json_array_get(existing, (size_t)hit);
			json_array_append_new(out, event_obj(json_object_get(m, "id"), memory_text(m), "NONE"));
			continue;
		}
		if (strncmp(fact, "No longer ", 10) == 0) {
			hit = negated_memory(fact, existing, claimed);
			if (hit >= 0) {
				m = json_array_get(existing, (size_t)hit);
				claimed[hit] = true;
				json_array_append_new(out,
				                      event_obj(json_object_get(m, "id"), memory_text(m), "DELETE"));
			}
			continue;
		}
		key = subject_key(fact);
		json_array_foreach (existing, j, m) {
			char *k2 = memory_text(m) ? subject_key(memory_text(m)) : NULL;
			bool same = !claimed[j] && k2 && strcmp(key, k2) == 0;

			free(k2);
			if (same) {
				hit = (int)j;
				break;
			}
		}
		free(key);
		if (hit >= 0) {
			json_t *ev;

			m = json_array_get(existing, (size_t)hit);
			claimed[hit] = true;
			ev = event_obj(json_object_get(m, "id"), fact, "UPDATE");
			json_object_set_new(ev, "old_memory", json_string(memory_text(m)));
			json_array_append_new(out, ev);
		} else {
			char id[32];
			json_t *idv;

			snprintf(id, sizeof(id), "%ld", add_id++);
			idv = json_string(id);
			json_array_append_new(out, event_obj(idv, fact, "ADD"));
			json_decref(idv);
		}
	}
	free(claimed);
	return json_pack("{s:o}", "memory", out);
}

/* ---- embeddings ---- */

/*
 * The vector of text (hashembed.h, of the --embedding kind) as the JSON
 * value an embeddings reply carries: an array of numbers or, b64 (the
 * client asked for encoding_format "base64"), a string of little-endian
 * float32 bytes as OpenAI sends.
 */
static char *embed_b64(enum hashembed_kind kind, const char *text, int dims)
{
	float *f = mw_malloc(sizeof(float) * (size_t)dims);
	unsigned char *raw = mw_malloc(4 * (size_t)dims);
	char *txt;

	hashembed(kind, text, dims, f);
	vec_to_le_blob(f, dims, raw);
	txt = b64_encode(raw, 4 * (size_t)dims);
	free(raw);
	free(f);
	return txt;
}

static json_t *embed_text(enum hashembed_kind kind, const char *text, int dims)
{
	double *v = mw_malloc(sizeof(*v) * (size_t)dims);
	json_t *arr;
	int i;

	hashembed_sum(kind, text, dims, v);
	hashembed_unit(v, dims);
	arr = json_array();
	for (i = 0; i < dims; i++)
		json_array_append_new(arr, json_real(v[i]));
	free(v);
	return arr;
}

static long rough_tokens(const char *s)
{
	long n = 0;
	bool in_word = false;

	for (; s && *s; s++) {
		bool sp = isspace((unsigned char)*s);

		if (!sp && !in_word)
			n++;
		in_word = !sp;
	}
	return n;
}

/* ---- replies ---- */

static void reply_error(struct reply *r, int status, const char *type, const char *message)
{
	json_t *o = json_pack("{s:{s:s, s:s, s:n}}", "error", "message", message, "type", type, "code");

	r->status = status;
	r->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
}

static void reply_json(struct reply *r, json_t *o)
{
	r->status = 200;
	r->body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(o);
}

/*
 * The base64 reply, the same JSON as reply_json would make of it, written
 * out directly: base64 needs no escaping, and jansson copying and escaping
 * each ~8 KB string (1536-d) was most of the mock's CPU in the search
 * benchmark, where it shares the cores with what is measured.
 */
static void answer_embeddings_b64(struct mock *mock, const json_t *texts, int dims, bool reverse, const char *model,
				  struct reply *r)
{
	size_t i, n = json_array_size(texts), len, at;
	char **b64 = mw_calloc(n, sizeof(*b64));
	json_t *mj = json_string(model);
	char *mtxt = json_dumps(mj, JSON_ENCODE_ANY), *out;
	long tokens = 0;

	len = strlen(mtxt) + 128;
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(texts, reverse ? n - 1 - i : i));

		tokens += rough_tokens(s);
		b64[i] = embed_b64(mock->embedding, s, dims);
		len += strlen(b64[i]) + 64;
	}
	out = mw_malloc(len);
	at = (size_t)snprintf(out, len, "{\"object\":\"list\",\"data\":[");
	for (i = 0; i < n; i++) {
		at += (size_t)snprintf(out + at, len - at, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":\"%s\"}",
		                       i ? "," : "", reverse ? n - 1 - i : i, b64[i]);
		free(b64[i]);
	}
	snprintf(out + at, len - at, "],\"model\":%s,\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}", mtxt,
	         tokens, tokens);
	r->status = 200;
	r->body = out;
	free(b64);
	free(mtxt);
	json_decref(mj);
}

static void answer_embeddings(struct mock *mock, const json_t *body, const struct fault *f, struct reply *r)
{
	json_t *input = json_object_get(body, "input"), *dimv = json_object_get(body, "dimensions");
	json_t *data, *texts, *t;
	const char *model;
	int dims = mock->dims;
	bool b64;
	long tokens = 0;
	size_t i, n;

	if (json_is_integer(dimv) && json_integer_value(dimv) > 0 && json_integer_value(dimv) <= 65536)
		dims = (int)json_integer_value(dimv);
	if (f && f->kind == FAULT_WRONG_DIMS)
		dims++;
	b64 = json_is_string(json_object_get(body, "encoding_format")) &&
	      strcmp(json_string_value(json_object_get(body, "encoding_format")), "base64") == 0;
	texts = json_is_string(input) ? json_pack("[O]", input) : json_incref(input);
	if (!json_is_array(texts) || json_array_size(texts) == 0) {
		json_decref(texts);
		reply_error(r, 400, "invalid_request_error", "input must be a string or a non-empty array of strings");
		return;
	}
	json_array_foreach (texts, i, t) {
		if (!json_is_string(t)) {
			json_decref(texts);
			reply_error(r, 400, "invalid_request_error", "input must contain only strings");
			return;
		}
	}
	n = json_array_size(texts);
	model = json_is_string(json_object_get(body, "model")) ? json_string_value(json_object_get(body, "model"))
	                                                        : "mock-embedding";
	if (b64) {
		answer_embeddings_b64(mock, texts, dims, f && f->kind == FAULT_REVERSE, model, r);
		json_decref(texts);
		return;
	}
	data = json_array();
	for (i = 0; i < n; i++) {
		size_t at = f && f->kind == FAULT_REVERSE ? n - 1 - i : i;
		const char *s = json_string_value(json_array_get(texts, at));

		tokens += rough_tokens(s);
		json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", (int)at,
		                                      "embedding", embed_text(mock->embedding, s, dims)));
	}
	json_decref(texts);
	reply_json(r, json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model", model,
	                        "usage", "prompt_tokens", (json_int_t)tokens, "total_tokens", (json_int_t)tokens));
}

/* The content object for memworker's prompt contract, or NULL with an error reply set. */
static json_t *chat_content(const json_t *prompt, struct reply *r)
{
	json_t *messages = json_object_get(prompt, "new_messages");
	json_t *new_facts = json_object_get(prompt, "new_facts");
	json_t *existing = json_object_get(prompt, "existing_memories");
	json_t *facts, *out;

	if (existing && !json_is_array(existing)) {
		reply_error(r, 400, "invalid_request_error", "existing_memories must be an array");
		return NULL;
	}
	if (json_is_array(messages)) {
		facts = facts_of_messages(messages);
		if (!existing)
			return json_pack("{s:o}", "facts", facts);
		out = decide(facts, existing);
		json_decref(facts);
		return out;
	}
	if (json_is_array(new_facts))
		return decide(new_facts, existing);
	reply_error(r, 400, "invalid_request_error",
	            "mock: the user message must be a JSON object with new_messages or new_facts");
	return NULL;
}

static void answer_chat(struct mock *mock, const json_t *body, const struct fault *f, struct reply *r)
{
	json_t *messages = json_object_get(body, "messages"), *m, *prompt = NULL, *content_obj;
	const char *user = NULL;
	long prompt_tokens = 0;
	char *content, id[48];
	size_t i;

	json_array_foreach (messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *c = json_string_value(json_object_get(m, "content"));

		prompt_tokens += rough_tokens(c);
		if (role && c && strcmp(role, "user") == 0)
			user = c;
	}
	if (!user) {
		reply_error(r, 400, "invalid_request_error", "messages must contain a user message");
		return;
	}
	prompt = json_loads(user, 0, NULL);
	if (!json_is_object(prompt)) {
		json_decref(prompt);
		reply_error(r, 400, "invalid_request_error", "mock: the user message is not a JSON object");
		return;
	}
	content_obj = chat_content(prompt, r);
	json_decref(prompt);
	if (!content_obj)
		return;
	if (f && f->kind == FAULT_INVENT_ID) {
		json_t *mem = json_object_get(content_obj, "memory");

		if (!json_is_array(mem)) {
			mem = json_array();
			json_object_set_new(content_obj, "memory", mem);
		}
		json_array_append_new(mem, json_pack("{s:s, s:s, s:s, s:s}", "id", "999", "text", "Invented memory",
		                                     "event", "UPDATE", "old_memory", "Never shown"));
	}
	content = json_dumps(content_obj, JSON_COMPACT);
	json_decref(content_obj);
	if (f && f->kind == FAULT_FENCE) {
		char *wrapped = mw_malloc(strlen(content) + 64);

		sprintf(wrapped, "```json\n%s\n```\nLet me know if you need anything else!", content);
		free(content);
		content = wrapped;
	} else if (f && f->kind == FAULT_THINK) {
		char *wrapped = joined("<think>The user states facts; I compare them with memory.</think>\n", content);

		free(content);
		content = wrapped;
	} else if (f && f->kind == FAULT_GARBAGE) {
		free(content);
		content = mw_strdup("Sorry, I cannot help with that.");
	}
	snprintf(id, sizeof(id), "chatcmpl-mock-%lu", ++mock->seq);
	reply_json(r, json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:I, s:I, s:I}}", "id", id,
	                        "object", "chat.completion", "created", (json_int_t)time(NULL), "model",
	                        json_is_string(json_object_get(body, "model"))
	                                ? json_string_value(json_object_get(body, "model"))
	                                : "mock-chat",
	                        "choices", "index", 0, "message", "role", "assistant", "content", content,
	                        "finish_reason", "stop", "usage", "prompt_tokens", (json_int_t)prompt_tokens,
	                        "completion_tokens", (json_int_t)rough_tokens(content), "total_tokens",
	                        (json_int_t)(prompt_tokens + rough_tokens(content))));
	free(content);
}

/* ---- faults ---- */

static void faults_clear(struct mock *mock)
{
	struct fault *f;

	while ((f = TAILQ_FIRST(&mock->faults)) != NULL) {
		TAILQ_REMOVE(&mock->faults, f, link);
		free(f);
	}
}

/* The first queued fault for this kind of request, taken off the queue (caller frees). */
static struct fault *fault_take(struct mock *mock, enum mock_kind kind)
{
	struct fault *f;

	if (kind == MOCK_OTHER)
		return NULL;
	TAILQ_FOREACH (f, &mock->faults, link) {
		if (f->on < 0 || f->on == (int)kind) {
			TAILQ_REMOVE(&mock->faults, f, link);
			return f;
		}
	}
	return NULL;
}

/* One fault from its JSON; NULL with errbuf set if unknown. */
static struct fault *fault_parse(const json_t *o, char *errbuf, size_t errlen)
{
	static const struct {
		const char *name;
		enum fault_kind kind;
		int on;
	} kinds[] = {
	        {"hang", FAULT_HANG, -1},
	        {"malformed", FAULT_MALFORMED, -1},
	        {"fence", FAULT_FENCE, MOCK_CHAT},
	        {"think", FAULT_THINK, MOCK_CHAT},
	        {"invent_id", FAULT_INVENT_ID, MOCK_CHAT},
	        {"garbage", FAULT_GARBAGE, MOCK_CHAT},
	        {"reverse", FAULT_REVERSE, MOCK_EMBED},
	        {"wrong_dims", FAULT_WRONG_DIMS, MOCK_EMBED},
	};
	const char *name = json_string_value(json_object_get(o, "kind"));
	const char *on = json_string_value(json_object_get(o, "on"));
	json_t *ra = json_object_get(o, "retry_after");
	struct fault *f;
	size_t i;

	if (!name) {
		snprintf(errbuf, errlen, "fault without a \"kind\"");
		return NULL;
	}
	f = mw_calloc(1, sizeof(*f));
	f->retry_after = json_is_integer(ra) ? (int)json_integer_value(ra) : -1;
	f->retry_after_date = json_is_true(json_object_get(o, "retry_after_date"));
	f->on = -2;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(name, kinds[i].name) == 0) {
			f->kind = kinds[i].kind;
			f->on = kinds[i].on;
		}
	if (f->on == -2) {
		char *end;
		long st = strtol(name, &end, 10);

		if (*end || st < 100 || st > 599) {
			snprintf(errbuf, errlen, "unknown fault kind \"%s\"", name);
			free(f);
			return NULL;
		}
		f->kind = FAULT_STATUS;
		f->status = (int)st;
		f->on = -1;
	}
	if (on && strcmp(on, "chat") == 0)
		f->on = MOCK_CHAT;
	else if (on && strcmp(on, "embeddings") == 0)
		f->on = MOCK_EMBED;
	else if (on && strcmp(on, "any") == 0)
		f->on = -1;
	return f;
}

/* POST /_mock/faults: {"latency_ms":N} and/or {"next":[...], "times":N}. */
static void control_faults(struct mock *mock, const json_t *body, struct reply *r)
{
	json_t *latency = json_object_get(body, "latency_ms"), *next = json_object_get(body, "next");
	json_t *times = json_object_get(body, "times");
	int n = json_is_integer(times) ? (int)json_integer_value(times) : 1, k, count = 0;
	TAILQ_HEAD(, fault) staged = TAILQ_HEAD_INITIALIZER(staged);
	struct fault *f;
	char err[128];
	size_t i;
	json_t *o;

	if (!json_is_object(body) || (next && !json_is_array(next))) {
		reply_error(r, 400, "invalid_request_error", "expected {\"latency_ms\":N} or {\"next\":[...]}");
		return;
	}
	for (k = 0; k < n; k++) {
		json_array_foreach (next, i, o) {
			f = fault_parse(o, err, sizeof(err));
			if (!f) {
				while ((f = TAILQ_FIRST(&staged)) != NULL) {
					TAILQ_REMOVE(&staged, f, link);
					free(f);
				}
				reply_error(r, 400, "invalid_request_error", err);
				return;
			}
			TAILQ_INSERT_TAIL(&staged, f, link);
		}
	}
	while ((f = TAILQ_FIRST(&staged)) != NULL) {
		TAILQ_REMOVE(&staged, f, link);
		TAILQ_INSERT_TAIL(&mock->faults, f, link);
	}
	if (json_is_integer(latency))
		mock->latency_ms = (int)json_integer_value(latency);
	TAILQ_FOREACH (f, &mock->faults, link)
		count++;
	reply_json(r, json_pack("{s:b, s:i, s:i}", "ok", 1, "pending", count, "latency_ms", mock->latency_ms));
}

/* ---- HTTP ---- */

static void send_reply(struct mock *mock, struct evhttp_request *req, json_t *record, struct reply *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evbuffer_new();
	char value[64];

	evhttp_add_header(h, "Content-Type", "application/json");
	if (r->retry_after >= 0) {
		if (r->retry_after_date) {
			time_t when = time(NULL) + r->retry_after;
			struct tm tm;

			gmtime_r(&when, &tm);
			strftime(value, sizeof(value), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		} else {
			snprintf(value, sizeof(value), "%d", r->retry_after);
		}
		evhttp_add_header(h, "Retry-After", value);
	}
	if (r->body)
		evbuffer_add(buf, r->body, strlen(r->body));
	if (record) {
		json_object_set_new(record, "status", json_integer(r->status));
		mock->outstanding--;
	}
	evhttp_send_reply(req, r->status, NULL, buf);
	evbuffer_free(buf);
}

static void pending_free(struct pending *p)
{
	TAILQ_REMOVE(&p->mock->pendings, p, link);
	if (p->timer)
		event_free(p->timer);
	json_decref(p->record);
	free(p->reply.body);
	free(p);
}

static void pending_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	/* a request whose client left is freed by evhttp_send_reply */
	send_reply(p->mock, p->req, p->record, &p->reply);
	pending_free(p);
}

/* Sends r now, after the configured latency, or never (hang). Takes r->body. */
static void respond(struct mock *mock, struct evhttp_request *req, json_t *record, struct reply *r, bool hang)
{
	struct pending *p;

	if (!hang && (mock->latency_ms <= 0 || !record)) {
		send_reply(mock, req, record, r);
		free(r->body);
		return;
	}
	p = mw_calloc(1, sizeof(*p));
	p->mock = mock;
	p->req = req;
	p->record = json_incref(record);
	p->reply = *r;
	TAILQ_INSERT_TAIL(&mock->pendings, p, link);
	if (!hang) {
		struct timeval tv = {mock->latency_ms / 1000, (mock->latency_ms % 1000) * 1000};

		p->timer = evtimer_new(mock->base, pending_on_timer, p);
		evtimer_add(p->timer, &tv);
	}
}

/* "bearer", "api-key" or "none": the kind of credential sent, never its value. */
static const char *auth_kind(struct evkeyvalq *in)
{
	const char *a = evhttp_find_header(in, "Authorization");

	if (a && strncasecmp(a, "Bearer ", 7) == 0)
		return "bearer";
	if (evhttp_find_header(in, "api-key"))
		return "api-key";
	return "none";
}

static enum mock_kind path_kind(const char *path)
{
	static const char azure[] = "/openai/deployments/";
	const char *rest;

	if (strcmp(path, "/v1/chat/completions") == 0)
		return MOCK_CHAT;
	if (strcmp(path, "/v1/embeddings") == 0)
		return MOCK_EMBED;
	if (strncmp(path, azure, sizeof(azure) - 1) != 0)
		return MOCK_OTHER;
	rest = path + sizeof(azure) - 1;
	rest += strcspn(rest, "/");
	if (rest == path + sizeof(azure) - 1)
		return MOCK_OTHER;
	if (strcmp(rest, "/chat/completions") == 0)
		return MOCK_CHAT;
	if (strcmp(rest, "/embeddings") == 0)
		return MOCK_EMBED;
	return MOCK_OTHER;
}

static void control(struct mock *mock, struct evhttp_request *req, const char *path, const json_t *body)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	struct reply r = {404, NULL, -1, false};
	int i;

	if (strcmp(path, "/_mock/requests") == 0 && method == EVHTTP_REQ_GET) {
		reply_json(&r, json_incref(mock->requests));
	} else if (strcmp(path, "/_mock/stats") == 0 && method == EVHTTP_REQ_GET) {
		reply_json(&r, json_pack("{s:i, s:i, s:i, s:i, s:i, s:i}", "chat", (int)mock->counts[MOCK_CHAT],
		                         "embeddings", (int)mock->counts[MOCK_EMBED], "other",
		                         (int)mock->counts[MOCK_OTHER], "outstanding", mock->outstanding,
		                         "max_concurrent", mock->max_concurrent, "latency_ms", mock->latency_ms));
	} else if (strcmp(path, "/_mock/reset") == 0 && method == EVHTTP_REQ_POST) {
		json_array_clear(mock->requests);
		faults_clear(mock);
		for (i = 0; i < MOCK_KINDS; i++)
			mock->counts[i] = 0;
		mock->latency_ms = mock->default_latency_ms;
		/* delayed answers still go out, hung ones stay hung */
		mock->max_concurrent = mock->outstanding;
		reply_json(&r, json_pack("{s:b}", "ok", 1));
	} else if (strcmp(path, "/_mock/faults") == 0 && method == EVHTTP_REQ_POST) {
		control_faults(mock, body, &r);
	} else {
		reply_error(&r, 404, "invalid_request_error", "unknown /_mock endpoint or method");
	}
	respond(mock, req, NULL, &r, false);
}

/*
 * Replies go out at once: without TCP_NODELAY the tail of a reply larger
 * than one segment waits for the client's delayed ACK (40 ms on Linux),
 * a stall real model servers do not have and benchmarks must not measure.
 */
static void no_delay(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct mock *mock = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *raw = mw_malloc(len + 1);
	struct reply r = {0, NULL, -1, false};
	enum mock_kind kind;
	struct fault *f = NULL;
	json_t *body, *record;
	bool hang = false;

	no_delay(req);
	evbuffer_copyout(in, raw, len);
	raw[len] = '\0';
	body = json_loadb(raw, len, 0, NULL);
	if (!path)
		path = "/";
	if (strncmp(path, "/_mock/", 7) == 0) {
		control(mock, req, path, body);
		goto done;
	}

	kind = path_kind(path);
	mock->counts[kind]++;
	record = json_pack("{s:s, s:s, s:s, s:s, s:i}", "path", path, "kind", kind_names[kind], "method",
	                   evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" : "OTHER", "auth",
	                   auth_kind(evhttp_request_get_input_headers(req)), "status", 0);
	json_object_set_new(record, "query", query ? json_string(query) : json_null());
	json_object_set_new(record, "body", body ? json_incref(body) : json_string(raw));
	json_array_append_new(mock->requests, json_incref(record));
	if (++mock->outstanding > mock->max_concurrent)
		mock->max_concurrent = mock->outstanding;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST)
		f = fault_take(mock, kind);
	if (kind == MOCK_OTHER) {
		reply_error(&r, 404, "invalid_request_error", "mock: unknown path");
	} else if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		reply_error(&r, 405, "invalid_request_error", "mock: use POST");
	} else if (f && f->kind == FAULT_HANG) {
		hang = true;
	} else if (f && f->kind == FAULT_MALFORMED) {
		r.status = 200;
		r.body = mw_strdup("{\"id\": this is not JSON");
	} else if (f && f->kind == FAULT_STATUS) {
		char msg[128];

		if (f->status == 401) {
			/* as a careless server would: the caller must scrub it */
			const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
			const char *k = evhttp_find_header(evhttp_request_get_input_headers(req), "api-key");

			snprintf(msg, sizeof(msg), "Incorrect API key provided: %.60s",
			         a && strlen(a) > 7 ? a + 7
			         : k                ? k
			                            : "(none)");
		} else {
			snprintf(msg, sizeof(msg), "%s",
			         f->status == 429   ? "Rate limit reached for requests (mock)"
			         : f->status >= 500 ? "mock internal error"
			                            : "mock client error");
		}
		reply_error(&r, f->status, f->status == 429 ? "rate_limit_error" : "mock_error", msg);
		r.retry_after = f->retry_after;
		r.retry_after_date = f->retry_after_date;
	} else if (!json_is_object(body)) {
		reply_error(&r, 400, "invalid_request_error", "mock: the body is not a JSON object");
	} else if (kind == MOCK_CHAT) {
		answer_chat(mock, body, f, &r);
	} else {
		answer_embeddings(mock, body, f, &r);
	}
	respond(mock, req, record, &r, hang);
	json_decref(record);
done:
	free(f);
	json_decref(body);
	free(raw);
}

/* ---- main ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int int_arg(const char *name, const char *v, int min, int max, int *out)
{
	char *end;
	long n = v ? strtol(v, &end, 10) : 0;

	if (!v || *end || n < min || n > max) {
		fprintf(stderr, "mockllm: %s wants an integer in [%d, %d]\n", name, min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int kind_arg(const char *v, enum hashembed_kind *out)
{
	if (hashembed_kind_parse(v, out) < 0) {
		fprintf(stderr, "mockllm: --embedding wants sparse or dense\n");
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: mockllm [--port N] [--dims D] [--latency-ms L] [--embedding sparse|dense]\n"
	                "  --port        0 (default): a free port, printed as \"mockllm listening on ...\"\n"
	                "  --dims        embedding size when a request has no \"dimensions\" (1536)\n"
	                "  --latency-ms  delay of every answer (0)\n"
	                "  --embedding   word-hash vectors (common/hashembed.h): sparse (default), two\n"
	                "                components per word, what the tests expect; dense, every\n"
	                "                component of every word random, as real embeddings spread\n");
}

int main(int argc, char **argv)
{
	struct mock mock = {0};
	struct evhttp_bound_socket *bound;
	struct event *sigterm = NULL, *sigint = NULL;
	struct sockaddr_in addr;
	socklen_t alen = sizeof(addr);
	struct pending *p;
	int port = 0, i, rc = 1;

	mock.dims = 1536;
	mock.embedding = HASHEMBED_SPARSE;
	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--port") == 0 && int_arg("--port", v, 0, 65535, &port) == 0)
			i++;
		else if (strcmp(argv[i], "--dims") == 0 && int_arg("--dims", v, 1, 65536, &mock.dims) == 0)
			i++;
		else if (strcmp(argv[i], "--latency-ms") == 0 &&
		         int_arg("--latency-ms", v, 0, 600000, &mock.default_latency_ms) == 0)
			i++;
		else if (strcmp(argv[i], "--embedding") == 0 && kind_arg(v, &mock.embedding) == 0)
			i++;
		else {
			usage();
			return 2;
		}
	}
	log_setup(LOG_WARN, LOG_TEXT, "mockllm");
	signal(SIGPIPE, SIG_IGN);
	mock.latency_ms = mock.default_latency_ms;
	mock.requests = json_array();
	TAILQ_INIT(&mock.faults);
	TAILQ_INIT(&mock.pendings);
	mock.base = event_base_new();
	mock.http = mock.base ? evhttp_new(mock.base) : NULL;
	if (!mock.http)
		goto fail;
	evhttp_set_allowed_methods(mock.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
	evhttp_set_gencb(mock.http, on_request, &mock);
	bound = evhttp_bind_socket_with_handle(mock.http, "127.0.0.1", (ev_uint16_t)port);
	if (!bound || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&addr, &alen) < 0) {
		fprintf(stderr, "mockllm: cannot listen on 127.0.0.1:%d\n", port);
		goto fail;
	}
	sigterm = evsignal_new(mock.base, SIGTERM, on_signal, mock.base);
	sigint = evsignal_new(mock.base, SIGINT, on_signal, mock.base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0)
		goto fail;
	printf("mockllm listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
	fflush(stdout);

	event_base_dispatch(mock.base);
	rc = 0;
fail:
	/* requests whose client left are ours to free; the rest go with their connection */
	while ((p = TAILQ_FIRST(&mock.pendings)) != NULL) {
		if (!evhttp_request_get_connection(p->req))
			evhttp_request_free(p->req);
		pending_free(p);
	}
	if (mock.http)
		evhttp_free(mock.http);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (mock.base)
		event_base_free(mock.base);
	faults_clear(&mock);
	json_decref(mock.requests);
	return rc;
}
