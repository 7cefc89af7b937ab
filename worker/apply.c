/*
 * apply: turns a batch's model actions (and its infer=false entries) into
 * store changes, then writes them in one transaction with the batch's
 * message keys (store_apply). Exact duplicates by hash are dropped here,
 * before the database sees them.
 */
#include "app.h"
#include "batch.h"
#include "cfg.h"
#include "entry.h"
#include "log.h"
#include "mhash.h"
#include "wmetrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STORE_ERRORS 5
#define MAX_CONFLICTS 5

static bool hash_taken(const struct batch *b, const char *hash, int skip_cand)
{
	int i;

	for (i = 0; i < b->ncands; i++)
		if (i != skip_cand && strcmp(b->cands[i].hash, hash) == 0)
			return true;
	for (i = 0; i < b->nchanges; i++)
		if (b->changes[i].kind != STORE_DELETE && strcmp(b->change_hashes[i], hash) == 0)
			return true;
	return false;
}

static void add_change(struct batch *b, enum store_change_kind kind, const char *memory_id, const char *text)
{
	struct store_change *c;
	char hash[33] = "";

	if (text)
		mhash_memory(text, hash);
	c = &b->changes[b->nchanges];
	b->change_texts[b->nchanges] = text ? mw_strdup(text) : NULL;
	b->change_hashes[b->nchanges] = mw_strdup(hash);
	c->kind = kind;
	c->memory_id = memory_id;
	c->text = b->change_texts[b->nchanges];
	c->hash = b->change_hashes[b->nchanges];
	c->session_id = b->entries[0]->session_id;
	c->metadata = b->memory_meta;
	b->nchanges++;
}

/* Metadata of new memories: the entries' metadata merged in order, plus the app's user id. */
static char *memory_metadata(const struct batch *b)
{
	json_t *m = json_object();
	char *s;
	int i;

	for (i = 0; i < b->n; i++) {
		const struct entry *e = b->entries[i];

		if (b->applied && b->applied[i])
			continue;
		if (e->metadata) {
			json_t *em = json_loads(e->metadata, 0, NULL);
			if (json_is_object(em))
				json_object_update(m, em);
			json_decref(em);
		}
		if (e->user_id)
			json_object_set_new(m, "user_id", json_string(e->user_id));
	}
	s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(m);
	return s;
}

/* On each history row: which messages (and stream entries) caused the change. */
static char *history_metadata(const struct batch *b)
{
	json_t *h = json_object(), *keys = json_array(), *ids = json_array();
	const char *pipeline = b->app->cfg->pipeline == CFG_PIPELINE_TWO_PASS ? "two-pass" : "single";
	char *s;
	int i;

	for (i = 0; i < b->n; i++) {
		if (b->applied && b->applied[i])
			continue;
		json_array_append_new(keys, json_string(b->entries[i]->message_key));
		json_array_append_new(ids, json_string(b->entries[i]->stream_id));
	}
	json_object_set_new(h, "source_message_ids", keys);
	json_object_set_new(h, "stream_ids", ids);
	json_object_set_new(h, "session_id", json_string(b->entries[0]->session_id));
	json_object_set_new(h, "pipeline", json_string(b->nuser ? pipeline : "direct"));
	s = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	return s;
}

void batch_build_changes(struct batch *b)
{
	int i, j, max = b->actions.n;

	for (i = 0; i < b->n; i++)
		if (!b->applied[i] && !b->entries[i]->infer)
			max += b->entries[i]->nmsgs;
	b->changes = mw_calloc((size_t)(max ? max : 1), sizeof(*b->changes));
	b->change_texts = mw_calloc((size_t)(max ? max : 1), sizeof(char *));
	b->change_hashes = mw_calloc((size_t)(max ? max : 1), sizeof(char *));
	b->nchanges = 0;
	free(b->memory_meta);
	free(b->history_meta);
	b->memory_meta = memory_metadata(b);
	b->history_meta = history_metadata(b);

	/* infer=false: the content is the memory */
	for (i = 0; i < b->n; i++) {
		const struct entry *e = b->entries[i];

		if (b->applied[i] || e->infer)
			continue;
		for (j = 0; j < e->nmsgs; j++) {
			char hash[33];

			mhash_memory(e->msgs[j].content, hash);
			if (!hash_taken(b, hash, -1))
				add_change(b, STORE_ADD, NULL, e->msgs[j].content);
		}
	}
	for (i = 0; i < b->actions.n; i++) {
		const struct prompt_action *a = &b->actions.a[i];
		char hash[33];

		switch (a->event) {
		case PROMPT_ADD:
			mhash_memory(a->text, hash);
			if (hash_taken(b, hash, -1)) {
				b->app->stats.skipped++;
				continue;
			}
			add_change(b, STORE_ADD, NULL, a->text);
			break;
		case PROMPT_UPDATE:
			mhash_memory(a->text, hash);
			/* unchanged text, or a text another memory already holds */
			if (strcmp(hash, b->cands[a->cand].hash) == 0 || hash_taken(b, hash, a->cand)) {
				b->app->stats.skipped++;
				continue;
			}
			add_change(b, STORE_UPDATE, b->cands[a->cand].id, a->text);
			break;
		case PROMPT_DELETE:
			add_change(b, STORE_DELETE, b->cands[a->cand].id, NULL);
			break;
		case PROMPT_NONE:
		default:
			break;
		}
	}
}

static void apply_done(void *arg, enum store_status st, const struct store_apply_result *r, const char *errstr)
{
	struct batch *b = arg;
	struct app *app = b->app;
	char reason[512];

	wm_apply(app->wm, st, b->stage_t0);
	switch (st) {
	case STORE_OK:
		app->stats.added += r->added;
		app->stats.updated += r->updated;
		app->stats.deleted += r->deleted;
		app->stats.skipped += r->skipped;
		ulog_info(b->user, b->entries[0]->stream_id, "applied %d message(s): +%d ~%d -%d (%d skipped)", b->n,
			  r->added, r->updated, r->deleted, r->skipped);
		batch_finish(b, NULL);
		return;
	case STORE_CONFLICT:
		/* another delivery applied some of these messages meanwhile */
		app->stats.conflicts++;
		if (++b->conflicts > MAX_CONFLICTS) {
			batch_retry_later(b, "message keys keep being applied concurrently");
			b->state = BATCH_FILTER;
			return;
		}
		b->state = BATCH_FILTER;
		batch_step(b);
		return;
	case STORE_REJECTED:
		snprintf(reason, sizeof(reason), "rejected by the database: %s", errstr ? errstr : "?");
		batch_finish(b, reason);
		return;
	case STORE_ERROR:
		if (b->attempts + 1 >= MAX_STORE_ERRORS) {
			snprintf(reason, sizeof(reason), "store error after %d tries: %s", MAX_STORE_ERRORS,
				 errstr ? errstr : "?");
			batch_finish(b, reason);
			return;
		}
		batch_retry_later(b, errstr ? errstr : "store error");
		return;
	case STORE_TRANSIENT:
	default:
		batch_retry_later(b, errstr ? errstr : "store unavailable");
		return;
	}
}

void run_apply(struct batch *b)
{
	const char **keys = mw_calloc((size_t)b->n, sizeof(char *));
	const char **ids = mw_calloc((size_t)b->n, sizeof(char *));
	struct store_batch sb = { .user = b->user };
	int i;

	for (i = 0; i < b->n; i++) {
		if (b->applied[i])
			continue;
		keys[sb.nkeys] = b->entries[i]->message_key;
		ids[sb.nkeys] = b->entries[i]->stream_id;
		sb.nkeys++;
	}
	sb.keys = keys;
	sb.stream_ids = ids;
	sb.changes = b->changes;
	sb.nchanges = b->nchanges;
	sb.history_meta = b->history_meta;
	b->stage_t0 = metrics_now();
	if (store_apply(b->app->store, &sb, apply_done, b) < 0)
		batch_retry_later(b, "store not connected");
	free(keys);
	free(ids);
}
