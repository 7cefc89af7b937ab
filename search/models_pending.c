/*
 * models_pending: stands in for common/models.c until that module is
 * merged, so memsearch links and serves every op that needs no embedding.
 * models_new() says why it cannot work; memsearch then answers search and
 * context with "unavailable". The moment common/models.c exists in the
 * tree this file compiles to nothing and the real module is linked.
 */
#if !__has_include("../common/models.c")

#include "models.h"

#include <stdio.h>

struct models *models_new(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen)
{
	(void)base;
	(void)cfg;
	snprintf(err, errlen, "MEM0_MODELS: the models module is not built into this binary yet");
	return NULL;
}

int models_embed(struct models *m, const char *const *texts, int n, models_embed_cb cb, void *arg)
{
	(void)m, (void)texts, (void)n, (void)cb, (void)arg;
	return -1;
}

int models_chat(struct models *m, const char *system_prompt, const char *user_prompt, models_chat_cb cb, void *arg)
{
	(void)m, (void)system_prompt, (void)user_prompt, (void)cb, (void)arg;
	return -1;
}

int models_dims(const struct models *m)
{
	(void)m;
	return 0;
}

int models_embed_batch_max(const struct models *m)
{
	(void)m;
	return 1;
}

void models_free(struct models *m)
{
	(void)m;
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int models_pending_unused;
#endif
