/*
 * batch: one user's batch of entries going through the pipeline, and the
 * per-user queues that form batches (flush on MEM0_BATCH_MAX entries or
 * MEM0_BATCH_WINDOW_MS; at most one batch per user in flight per process).
 *
 * A batch is a state machine driven by batch_step(): each stage starts async
 * work and its completion sets the next state and steps again.
 */
#ifndef MW_BATCH_H
#define MW_BATCH_H

#include "prompt.h"
#include "store.h"

#include <stdint.h>

struct app;
struct entry;
struct event;
struct user_queue;

enum batch_state {
	BATCH_FILTER = 0,	/* which message keys were applied before */
	BATCH_EMBED_QUERY,	/* embed the user turns */
	BATCH_RETRIEVE,		/* the user's most similar memories */
	BATCH_EXTRACT,		/* one model call (two in two-pass) */
	BATCH_EMBED_NEW,	/* embed the new and changed texts */
	BATCH_APPLY,		/* one transaction */
	BATCH_DONE,		/* acked or dead-lettered; freed */
};

/* A memory shown to the model: its UUID kept, its index is the prompt id. */
struct batch_cand {
	char id[40];
	char *text;
	char *hash;
	double score;
};

struct batch {
	struct app *app;
	struct user_queue *q;
	int64_t user;
	enum batch_state state;
	int attempts;			/* retries of the current stage */
	int conflicts;			/* times the apply found keys applied meanwhile */
	struct event *retry_timer;

	struct entry **entries;		/* owned */
	int n;
	bool *applied;			/* entries[i] already in the ingest log */

	/* Work derived from the live (not yet applied) entries. */
	struct prompt_msg *msgs;	/* turns shown to the model (borrowed from entries) */
	int nmsgs;
	const char **user_turns;	/* texts embedded for retrieval (borrowed) */
	int nuser;
	float *qvecs;			/* nuser x dims */
	struct batch_cand *cands;
	int ncands;
	char **facts;			/* two-pass: extracted facts */
	int nfacts;
	bool facts_ready;		/* two-pass: the fact call answered */
	bool cands_ready;		/* two-pass: candidates fetched for the facts */
	struct prompt_action_list actions;
	int llm_parse_failures;
	double stage_t0;		/* model call or apply started (metrics) */

	/* Changes to apply: texts owned here, vectors in newvecs. */
	struct store_change *changes;
	int nchanges;
	char **change_texts;
	char **change_hashes;
	float *newvecs;
	char *memory_meta;		/* metadata of added memories */
	char *history_meta;
};

void batch_step(struct batch *b);
/* Stage functions (extract.c, apply.c) and their shared helpers. */
/* store_mems_cb for candidate retrieval: keeps them and goes on extracting. */
void batch_candidates_done(void *arg, enum store_status st, const struct store_memory *m, int n,
			   const char *errstr);
void run_extract(struct batch *b);
void run_apply(struct batch *b);
void batch_build_changes(struct batch *b);
/* Ends the batch: acks (ok) or dead-letters every live entry with reason. */
void batch_finish(struct batch *b, const char *dead_letter_reason);
/* Transient failure: try the current stage again after a capped backoff. */
void batch_retry_later(struct batch *b, const char *why);

#endif
