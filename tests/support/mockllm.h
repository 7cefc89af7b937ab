/*
 * mockllm: start and steer the mock OpenAI-compatible server
 * (tests/support/mockllm_main.c) from a Criterion test. Each test starts its
 * own server on a free loopback port, so tests run in parallel without
 * sharing recordings or faults. Helpers block (a plain libcurl easy call)
 * and assert on failure: call them from the test, never from an event loop
 * callback that the mock must answer first.
 *
 * What the mock answers (deterministic):
 *   POST /v1/embeddings, /openai/deployments/{d}/embeddings: word-hash
 *     vectors (common/hashembed.h: sparse, or dense with --embedding dense),
 *     L2-normalised; "dimensions" in the request wins over --dims. Texts
 *     sharing words are close; equal texts give equal vectors.
 *   POST /v1/chat/completions, /openai/deployments/{d}/chat/completions: the
 *     last user message must be a JSON object:
 *       {"new_messages":[{role,content}...]}            -> {"facts":[...]}
 *       {"new_facts":[...],"existing_memories":[{id,text}...]}
 *                                                        -> {"memory":[...]}
 *       {"new_messages":[...],"existing_memories":[...]} -> {"memory":[...]}
 *     Facts come from user turns only, per sentence: "My name is X" -> "Name
 *     is X"; "My X is Y" -> "X is Y"; "I am X"/"I'm X" -> "Is X"; "I no
 *     longer V X", "I don't V X anymore" -> "No longer V X"; "I like X" ->
 *     "Likes X" (love, hate, have -> Has, live, work, prefer, own, want,
 *     play, enjoy, use, speak, study -> Studies, visit); other "I V ..." ->
 *     "V ...". Decisions per fact: same text -> NONE (its id); "No longer V
 *     X" -> DELETE of the memory containing X; same first two words ("lives
 *     in") -> UPDATE with old_memory; else ADD with the next small integer id.
 *   A user message that is not such an object gets HTTP 400.
 *
 * Control (JSON):
 *   GET  /_mock/requests  [{"path","query","method","kind","auth":"bearer"|
 *                         "api-key"|"none","body","status"}] in arrival
 *                         order; status 0 = not answered (yet).
 *   GET  /_mock/stats     {"chat","embeddings","other","outstanding",
 *                         "max_concurrent","latency_ms"}
 *   POST /_mock/reset     clears recordings, faults, counters; latency back
 *                         to --latency-ms.
 *   POST /_mock/faults    {"latency_ms":N} sets the latency of every answer;
 *                         {"next":[fault...],"times":N} appends the list N
 *                         times to a FIFO; each API request takes the first
 *                         fault matching it. A fault: {"kind":K,
 *                         "on":"chat"|"embeddings"|"any", "retry_after":S,
 *                         "retry_after_date":true}. Kinds: any HTTP status
 *                         ("429", "500", "400", "401" echoes the key back as
 *                         careless servers do), "hang" (never answered),
 *                         "malformed" (200, not JSON), and on chat by
 *                         default: "fence", "think", "invent_id" (an UPDATE
 *                         of id "999"), "garbage"; on embeddings by default:
 *                         "reverse" (data in reverse order), "wrong_dims".
 */
#ifndef MW_MOCKLLM_H
#define MW_MOCKLLM_H

#include <jansson.h>

struct mockllm;

/* Starts the mock on a free port with --dims dims (0: its default, 1536); asserts it came up. */
struct mockllm *mockllm_start(int dims);

/* The same with --embedding embedding ("sparse" or "dense"; NULL: the mock's default, sparse). */
struct mockllm *mockllm_start_embedding(int dims, const char *embedding);

/* SIGTERM, wait, free. Returns the mock's exit status: 0 when it shut down cleanly. */
int mockllm_stop(struct mockllm *m);

int mockllm_port(const struct mockllm *m);

/* "http://127.0.0.1:PORT/v1": llm_opts.base_url. Valid until mockllm_stop. */
const char *mockllm_base_url(const struct mockllm *m);

/* "http://127.0.0.1:PORT": llm_opts.azure_endpoint. Valid until mockllm_stop. */
const char *mockllm_endpoint(const struct mockllm *m);

/* GET /_mock/requests: a new reference the caller json_decrefs. */
json_t *mockllm_requests(struct mockllm *m);

/* GET /_mock/stats: a new reference the caller json_decrefs. */
json_t *mockllm_stats(struct mockllm *m);

/* POST /_mock/faults with fault_json (e.g. "{\"next\":[{\"kind\":\"500\"}]}"); asserts HTTP 200. */
void mockllm_fault(struct mockllm *m, const char *fault_json);

/* POST /_mock/reset. */
void mockllm_reset(struct mockllm *m);

/* One blocking HTTP exchange with the mock, for tests of the mock itself. */
struct mockllm_reply {
	long status;       /* 0: no answer (timeout, refused) */
	char *body;        /* malloc'd, NUL-terminated, "" if none */
	char *retry_after; /* malloc'd Retry-After value, NULL if absent */
};

/*
 * method "GET" or "POST" (body may be NULL), path like "/v1/embeddings";
 * timeout_ms 0 = 10 s. Fills out (free with mockllm_reply_free).
 */
void mockllm_http(struct mockllm *m, const char *method, const char *path, const char *body, long timeout_ms,
                  struct mockllm_reply *out);
void mockllm_reply_free(struct mockllm_reply *r);

#endif
