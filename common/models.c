/*
 * models: see models.h. openai and azure map one to one onto the HTTP
 * client (llm.c); JSON mode is always on for chat, since every memworker
 * prompt asks for a JSON object. local computes in the call (microseconds
 * per text: the word vectors are mapped, the rules are code) and delivers
 * the result from the loop on a zero timer, so its callbacks fire after
 * the call returns like the HTTP ones; models owns those deliveries until
 * they fire, and fails them on models_free.
 */
#include "models.h"

#include "cfg.h"
#include "lembed.h"
#include "llm.h"
#include "llocal.h"
#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A local result waiting for the loop. */
struct local_req {
	struct local_req *prev, *next;
	struct models *m;
	struct event *ev;
	models_embed_cb embed_cb;
	models_chat_cb chat_cb;
	void *arg;
	float *vecs; /* embed: n x dims */
	int n;
	char *content; /* chat: the reply, or NULL with errstr */
	char errstr[256];
};

struct models {
	struct llm *llm;       /* openai, azure */
	struct lembed *lembed; /* local */
	struct event_base *base;
	struct local_req *pending; /* local results not delivered yet */
	int dims;
	int embed_batch_max;
};

static struct models *local_new(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen)
{
	char why[512];
	struct lembed *e = lembed_open(cfg->local_model_path, why, sizeof(why));
	struct models *m;

	if (!e) {
		snprintf(err, errlen, "MEM0_LOCAL_MODEL_PATH: %s", why);
		return NULL;
	}
	if (lembed_dims(e) != cfg->embedding_dims) {
		snprintf(err, errlen, "MEM0_EMBEDDING_DIMS: %d, but the local model %s has %d dimensions",
			 cfg->embedding_dims, cfg->local_model_path, lembed_dims(e));
		lembed_close(e);
		return NULL;
	}
	m = mw_calloc(1, sizeof(*m));
	m->lembed = e;
	m->base = base;
	m->dims = cfg->embedding_dims;
	m->embed_batch_max = cfg->embed_batch_max;
	log_info("local models: %s (%s, %u words x %d dims, mapped)", cfg->local_model_path, lembed_source(e),
		 lembed_nwords(e), lembed_dims(e));
	return m;
}

static void local_unlink(struct local_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->m->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

/* Delivers one local result (status -1: shutting down) and frees it. */
static void local_fire(struct local_req *r, int status)
{
	local_unlink(r);
	if (r->embed_cb) {
		if (status == 0)
			r->embed_cb(r->arg, 0, r->vecs, r->n, r->m->dims, NULL);
		else
			r->embed_cb(r->arg, -1, NULL, 0, r->m->dims, "shutting down");
	} else if (status == 0 && r->content) {
		r->chat_cb(r->arg, 0, r->content, NULL);
	} else {
		r->chat_cb(r->arg, -1, NULL, status == 0 ? r->errstr : "shutting down");
	}
	event_free(r->ev);
	free(r->vecs);
	free(r->content);
	free(r);
}

static void local_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	local_fire(arg, 0);
}

static void local_queue(struct models *m, struct local_req *r)
{
	struct timeval zero = { 0, 0 };

	r->m = m;
	r->ev = evtimer_new(m->base, local_ready, r);
	r->next = m->pending;
	if (m->pending)
		m->pending->prev = r;
	m->pending = r;
	evtimer_add(r->ev, &zero);
}

struct chat_req {
	models_chat_cb cb;
	void *arg;
};

struct models *models_new(struct event_base *base, const struct cfg *cfg, char *err, size_t errlen)
{
	struct llm_opts o = { 0 };
	struct models *m;

	if (cfg->models == CFG_MODELS_LOCAL)
		return local_new(base, cfg, err, errlen);
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
	struct local_req *r;
	int i;

	if (!m->lembed)
		return llm_embed(m->llm, texts, n, cb, arg);
	if (n < 0)
		return -1;
	r = mw_calloc(1, sizeof(*r));
	r->embed_cb = cb;
	r->arg = arg;
	r->n = n;
	r->vecs = mw_malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)m->dims);
	for (i = 0; i < n; i++)
		lembed_text(m->lembed, texts[i], r->vecs + (size_t)i * (size_t)m->dims);
	local_queue(m, r);
	return 0;
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
	struct chat_req *r;

	if (m->lembed) {
		struct local_req *l = mw_calloc(1, sizeof(*l));

		(void)system_prompt;
		l->chat_cb = cb;
		l->arg = arg;
		l->content = llocal_answer(m->lembed, user_prompt, l->errstr, sizeof(l->errstr));
		local_queue(m, l);
		return 0;
	}
	r = mw_calloc(1, sizeof(*r));
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
	while (m->pending)
		local_fire(m->pending, -1);
	if (m->llm)
		llm_free(m->llm);
	lembed_close(m->lembed);
	free(m);
}

const struct llm_stats *models_llm_stats(const struct models *m, bool embed)
{
	return m && m->llm ? llm_stats(m->llm, embed ? LLM_OP_EMBED : LLM_OP_CHAT) : NULL;
}
