/*
 * models: see models.h. openai and azure map one to one onto the HTTP
 * client (llm.c); JSON mode is always on for chat, since every memworker
 * prompt asks for a JSON object.
 */
#include "models.h"

#include "cfg.h"
#include "llm.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct models {
	struct llm *llm;
	int dims;
	int embed_batch_max;
};

struct chat_req {
	models_chat_cb cb;
	void *arg;
};

struct models *models_new(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen)
{
	struct llm_opts o = { 0 };
	struct models *m;

	if (cfg->models == CFG_MODELS_LOCAL) {
		snprintf(err, errlen,
			 "MEM0_MODELS: local (the embedded models) is not built yet; use MEM0_MODELS=openai with "
			 "OPENAI_BASE_URL pointing at any OpenAI-compatible server");
		return NULL;
	}
	o.flavor = cfg->models == CFG_MODELS_AZURE ? LLM_AZURE : LLM_OPENAI;
	o.base_url = cfg->openai_base_url;
	o.api_key = cfg->models == CFG_MODELS_AZURE ? cfg->azure_api_key : cfg->openai_api_key;
	o.chat_model = cfg->llm_model;
	o.embed_model = cfg->embedding_model;
	o.embedding_dims = cfg->embedding_dims;
	o.embedding_base64 = cfg->embedding_base64;
	o.azure_endpoint = cfg->azure_endpoint;
	o.azure_api_version = cfg->azure_api_version;
	o.azure_chat_deployment = cfg->azure_llm_deployment;
	o.azure_embed_deployment = cfg->azure_embedding_deployment;
	o.timeout_ms = cfg->llm_timeout_ms;
	o.max_retries = cfg->llm_max_retries;
	o.max_inflight = cfg->llm_max_inflight;
	m = mw_calloc(1, sizeof(*m));
	m->llm = llm_new(base, &o);
	if (!m->llm) {
		snprintf(err, errlen, "MEM0_MODELS: could not create the HTTP client");
		free(m);
		return NULL;
	}
	m->dims = cfg->embedding_dims;
	m->embed_batch_max = cfg->embed_batch_max;
	return m;
}

int models_embed(struct models *m, const char *const *texts, int n, models_embed_cb cb, void *arg)
{
	return llm_embed(m->llm, texts, n, cb, arg);
}

static void chat_done(void *arg, int status, const char *content, const struct llm_usage *usage, const char *errstr)
{
	struct chat_req *r = arg;

	(void)usage;
	r->cb(r->arg, status, content, errstr);
	free(r);
}

int models_chat(struct models *m, const char *system_prompt, const char *user_prompt, models_chat_cb cb, void *arg)
{
	struct chat_req *r = mw_calloc(1, sizeof(*r));

	r->cb = cb;
	r->arg = arg;
	if (llm_chat(m->llm, system_prompt, user_prompt, true, chat_done, r) < 0) {
		free(r);
		return -1;
	}
	return 0;
}

int models_dims(const struct models *m)
{
	return m->dims;
}

int models_embed_batch_max(const struct models *m)
{
	return m->embed_batch_max;
}

void models_free(struct models *m)
{
	if (!m)
		return;
	llm_free(m->llm);
	free(m);
}
