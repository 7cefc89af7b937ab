/*
 * extract: the model calls of a batch. single (default): one call that
 * extracts facts from the user's turns and reconciles them with the
 * candidates. two-pass (the Mem0 paper): a fact call, retrieval per fact,
 * and a decision call that is skipped when nothing similar exists.
 * Candidates are shown under their index ("0", "1", ...); the parser drops
 * any other id, so a model can never touch a row it was not shown.
 */
#include "app.h"
#include "batch.h"
#include "cfg.h"
#include "embed.h"
#include "entry.h"
#include "log.h"
#include "models.h"
#include "prompt.h"
#include "wmetrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARSE_TRIES 3
#define MAX_FACT_QUERIES 16

static struct prompt_candidate *shown(const struct batch *b)
{
	struct prompt_candidate *c = mw_calloc((size_t)(b->ncands ? b->ncands : 1), sizeof(*c));
	int i;

	for (i = 0; i < b->ncands; i++) {
		c[i].uuid = b->cands[i].id;
		c[i].text = b->cands[i].text;
	}
	return c;
}

/* A reply that cannot be used: ask again, then give up on the batch. */
static void unusable(struct batch *b, const char *err)
{
	char reason[512];

	b->llm_parse_failures++;
	b->app->stats.llm_failures++;
	ulog_warn(b->user, b->entries[0]->stream_id, "model reply unusable (%d/%d): %s", b->llm_parse_failures,
		  MAX_PARSE_TRIES, err);
	if (b->llm_parse_failures < MAX_PARSE_TRIES) {
		batch_step(b);
		return;
	}
	snprintf(reason, sizeof(reason), "model reply unusable after %d tries: %s", MAX_PARSE_TRIES, err);
	batch_finish(b, reason);
}

/* A model call ended: counted; a failure retries the batch later. True when there is an answer to read. */
static bool chat_answered(struct batch *b, int status, const char *errstr)
{
	wm_llm(b->app->wm, METRICS_LLM_CHAT, status == 0, b->stage_t0);
	if (status != 0) {
		b->app->stats.llm_failures++;
		batch_retry_later(b, errstr ? errstr : "model call failed");
		return false;
	}
	b->attempts = 0;
	return true;
}

/* Sends the system prompt template (rendered for today) and user (taken over) to the model. */
static void ask_model(struct batch *b, const char *tmpl, char *user, models_chat_cb cb)
{
	char *sys = prompt_render(tmpl, time(NULL));

	b->app->stats.llm_calls++;
	b->stage_t0 = metrics_now();
	if (models_chat(b->app->models, sys, user, cb, b) < 0)
		batch_retry_later(b, "model client not available");
	free(sys);
	free(user);
}

static void actions_done(void *arg, int status, const char *content, const char *errstr)
{
	struct batch *b = arg;
	char err[256];

	if (!chat_answered(b, status, errstr))
		return;
	prompt_action_list_free(&b->actions);
	if (prompt_parse_actions(content, b->ncands, &b->actions, err, sizeof(err)) < 0) {
		unusable(b, err);
		return;
	}
	if (b->actions.ignored)
		ulog_warn(b->user, b->entries[0]->stream_id,
			  "ignored %d model action(s) naming ids that were not shown", b->actions.ignored);
	batch_build_changes(b);
	b->state = BATCH_EMBED_NEW;
	batch_step(b);
}

static void run_single(struct batch *b)
{
	struct prompt_candidate *c = shown(b);

	ask_model(b, b->app->prompt_single, prompt_user_single(b->msgs, b->nmsgs, c, b->ncands), actions_done);
	free(c);
}

/* ---- two-pass ---- */

static void facts_done(void *arg, int status, const char *content, const char *errstr)
{
	struct batch *b = arg;
	struct prompt_fact_list facts = { 0 };
	char err[256];

	if (!chat_answered(b, status, errstr))
		return;
	if (prompt_parse_facts(content, &facts, err, sizeof(err)) < 0) {
		unusable(b, err);
		return;
	}
	b->facts = facts.facts;
	b->nfacts = facts.n;
	b->facts_ready = true;
	if (b->nfacts == 0) {
		batch_build_changes(b);
		b->state = BATCH_EMBED_NEW;
	}
	batch_step(b);
}

static void fact_vecs_done(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct batch *b = arg;
	const float *q[MAX_FACT_QUERIES];
	int i, nq = n < MAX_FACT_QUERIES ? n : MAX_FACT_QUERIES;

	if (status != 0) {
		batch_retry_later(b, errstr);
		return;
	}
	free(b->qvecs);
	b->qvecs = mw_malloc(sizeof(float) * (size_t)n * (size_t)dims);
	memcpy(b->qvecs, vecs, sizeof(float) * (size_t)n * (size_t)dims);
	for (i = 0; i < nq; i++)
		q[i] = b->qvecs + (size_t)i * (size_t)dims;
	if (store_candidates(b->app->store, b->user, q, nq, b->app->cfg->top_k, batch_candidates_done, b) < 0)
		batch_retry_later(b, "store not connected");
}

/* No candidate is similar enough: every fact is new, no decision call. */
static void add_all_facts(struct batch *b)
{
	int i;

	prompt_action_list_free(&b->actions);
	b->actions.a = mw_calloc((size_t)b->nfacts, sizeof(*b->actions.a));
	for (i = 0; i < b->nfacts; i++) {
		b->actions.a[i].event = PROMPT_ADD;
		b->actions.a[i].cand = -1;
		b->actions.a[i].text = mw_strdup(b->facts[i]);
	}
	b->actions.n = b->nfacts;
	batch_build_changes(b);
	b->state = BATCH_EMBED_NEW;
	batch_step(b);
}

static void run_two_pass(struct batch *b)
{
	int i;

	if (!b->facts_ready) {
		ask_model(b, b->app->prompt_fact, prompt_user_facts(b->msgs, b->nmsgs), facts_done);
		return;
	}
	if (!b->cands_ready) {
		emb_request(b->app->embedder, (const char *const *)b->facts, b->nfacts, fact_vecs_done, b);
		return;
	}
	for (i = 0; i < b->ncands; i++)
		if (b->cands[i].score >= b->app->cfg->similarity_threshold)
			break;
	if (i == b->ncands) {
		add_all_facts(b);
		return;
	}
	{
		struct prompt_candidate *c = shown(b);

		ask_model(b, b->app->prompt_update,
			  prompt_user_decide((const char *const *)b->facts, b->nfacts, c, b->ncands), actions_done);
		free(c);
	}
}

void run_extract(struct batch *b)
{
	if (b->app->cfg->pipeline == CFG_PIPELINE_TWO_PASS)
		run_two_pass(b);
	else
		run_single(b);
}
