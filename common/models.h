/*
 * models: the two model capabilities memworker needs, behind one interface:
 * embeddings, and chat completions for extraction/decision. MEM0_MODELS
 * picks the implementation: openai/azure go through the non-blocking HTTP
 * client (llm.c); local runs in-process: lembed's mapped word vectors for
 * embeddings, llocal's rules answering the same JSON prompt contract for
 * chat (the system prompt is not read). Both daemons call only this, on
 * their event loop.
 *
 * Callbacks fire exactly once, never inside the call; buffers passed to them
 * are borrowed until they return.
 */
#ifndef MW_MODELS_H
#define MW_MODELS_H

#include <stdbool.h>
#include <stddef.h>

struct cfg;
struct event_base;
struct models;
struct llm_stats;

/* vecs: n rows of dims floats, in input order. */
typedef void (*models_embed_cb)(void *arg, int status, const float *vecs, int n, int dims, const char *errstr);
/* content: the assistant message text (JSON by our prompt contract). */
typedef void (*models_chat_cb)(void *arg, int status, const char *content, const char *errstr);

/* NULL with a one-line reason in err when the configuration cannot work. */
struct models *models_new(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen);
int models_embed(struct models *m, const char *const *texts, int n, models_embed_cb cb, void *arg)
	__attribute__((warn_unused_result));
int models_chat(struct models *m, const char *system_prompt, const char *user_prompt, models_chat_cb cb, void *arg)
	__attribute__((warn_unused_result));
int models_dims(const struct models *m);
/* Largest number of inputs one embeddings request should carry. */
int models_embed_batch_max(const struct models *m);
/* Fails pending work (callbacks fire with status -1) and frees. */
void models_free(struct models *m);
/* The HTTP client's counters (metrics) for chat or embeddings; NULL when no HTTP client is used. */
const struct llm_stats *models_llm_stats(const struct models *m, bool embed);

#endif
