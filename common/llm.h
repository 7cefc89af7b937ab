/*
 * llm: non-blocking client for OpenAI-compatible chat completions and
 * embeddings (OpenAI, Azure OpenAI, vLLM, Ollama, LM Studio ...).
 *
 * libcurl's multi socket API driven by the caller's libevent loop: one event
 * per curl socket, one timer for curl's timeouts, no threads, no blocking
 * call. The client owns its curl handles, a FIFO of waiting requests and the
 * request bodies; a cap on requests in flight queues the rest. Transient
 * failures (timeouts, connection errors, HTTP 408/429/5xx, a 2xx whose body
 * is not the expected shape) are retried with capped exponential backoff and
 * full jitter, honouring Retry-After (seconds or HTTP-date) and
 * retry-after-ms when they ask for longer, up to 60 s (or backoff_max_ms).
 * Other 4xx fail at once. The API key goes into one header and nowhere
 * else: never into a log line or an errstr, even when a server echoes it.
 */
#ifndef MW_LLM_H
#define MW_LLM_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;

enum llm_flavor { LLM_OPENAI = 0, LLM_AZURE };

struct llm_opts {
	enum llm_flavor flavor;
	/* OpenAI: POST {base_url}/chat/completions and {base_url}/embeddings */
	const char *base_url;
	/* NULL or "" for local servers. OpenAI: "Authorization: Bearer", Azure: "api-key:" */
	const char *api_key;
	const char *chat_model; /* "model" field; may be NULL for Azure */
	const char *embed_model;
	/* > 0: sent as "dimensions" (both flavours, as Mem0 does); other lengths fail the request */
	int embedding_dims;
	/* true: check embedding_dims but never send "dimensions" (servers that reject it) */
	bool omit_dimensions;
	/* ask for encoding_format "base64" (float32 bytes); array replies are still read */
	bool embedding_base64;
	/* Azure: POST {azure_endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V */
	const char *azure_endpoint;
	const char *azure_api_version;
	const char *azure_chat_deployment;
	const char *azure_embed_deployment;
	int timeout_ms;      /* per attempt; <= 0: 60000 */
	int max_retries;     /* retries after the first attempt; < 0: 0 */
	int max_inflight;    /* requests in flight (backoff included); <= 0: 8 */
	int backoff_base_ms; /* <= 0: 200 */
	int backoff_max_ms;  /* <= 0: 10000 */
};

struct llm_usage {
	long prompt_tokens, completion_tokens, total_tokens;
};

/*
 * status 0: success; content is the assistant message's "content" string,
 * usage the response's token counts (0 where absent). status -1: final
 * failure; errstr is one line (content and usage are NULL). Every pointer is
 * borrowed until the callback returns.
 */
typedef void (*llm_chat_cb)(void *arg, int status, const char *content, const struct llm_usage *usage,
                            const char *errstr);

/*
 * status 0: vecs holds n * dims floats, vector i for input i (the
 * response's "index", whatever order the server sent them in). status -1:
 * vecs is NULL, errstr one line. Borrowed until the callback returns.
 */
typedef void (*llm_embed_cb)(void *arg, int status, const float *vecs, int n, int dims, const char *errstr);

enum llm_op { LLM_OP_CHAT = 0, LLM_OP_EMBED, LLM_OP_COUNT };

/* Counters since llm_new, per operation, for metrics. */
struct llm_stats {
	unsigned long long requests;    /* accepted by llm_chat / llm_embed */
	unsigned long long attempts;    /* HTTP requests sent */
	unsigned long long retries;     /* attempts after a transient failure */
	unsigned long long connections; /* new connections opened (the rest reused one) */
	unsigned long long successes;   /* callbacks with status 0 */
	unsigned long long failures;    /* callbacks with status -1 (shutdown included) */
	unsigned long long prompt_tokens, completion_tokens;
	unsigned long long latency_ms_sum; /* accept to callback, over successes + failures */
};

/*
 * Creates a client on base; copies every string of opts. NULL (with a log
 * line) if opts lack the URL of their flavour. Calls curl_global_init, which
 * is not thread-safe: create clients before starting any thread.
 */
struct llm *llm_new(struct event_base *base, const struct llm_opts *opts) __attribute__((warn_unused_result));

/*
 * Fails every request not yet completed: each callback fires once with
 * status -1 and errstr "shutting down", in submission order, before this
 * returns (or, when called from inside one of this client's callbacks, as
 * soon as that callback returns). The event base must outlive the call.
 */
void llm_free(struct llm *llm);

/*
 * Queues one chat completion: a system message (omitted if system_prompt is
 * NULL or empty) and one user message, temperature 0, json_mode asking for
 * {"type":"json_object"}. Copies both prompts. The callback fires exactly
 * once, from the event loop, never inside this call. Returns -1 without a
 * callback if the client has no chat URL (Azure without a chat deployment),
 * a prompt is not valid UTF-8, or the client is being freed.
 */
int llm_chat(struct llm *llm, const char *system_prompt, const char *user_prompt, bool json_mode, llm_chat_cb cb,
             void *arg) __attribute__((warn_unused_result));

/*
 * Queues one embeddings request for texts[0..n-1] (copied; n >= 1). The
 * callback fires exactly once, from the event loop, never inside this call.
 * Returns -1 without a callback on n < 1, a NULL or invalid UTF-8 text, no
 * embeddings URL (Azure without an embeddings deployment), or while the
 * client is being freed.
 */
int llm_embed(struct llm *llm, const char *const *texts, int n, llm_embed_cb cb, void *arg)
        __attribute__((warn_unused_result));

/* Requests accepted whose callback has not fired yet (queued, on the wire, backing off). */
size_t llm_inflight(const struct llm *llm);

/* Of those, the ones waiting for a free slot under max_inflight. */
size_t llm_queued(const struct llm *llm);

/* Counters for one operation; valid while llm lives. */
const struct llm_stats *llm_stats(const struct llm *llm, enum llm_op op);

#endif
