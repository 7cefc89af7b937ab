/*
 * app: memworker's process state, owned by main() and passed to every stage
 * (STYLE.md: context objects, not globals). One libevent loop drives all of
 * it: two Redis connections (reads; everything else), the store's
 * PostgreSQL connections and the model client.
 *
 * Stages (one file each): intake.c reads and validates entries; batch.c
 * groups them per user and runs each batch's state machine; embed.c shares
 * embedding requests across batches; extract.c asks the model; apply.c
 * writes one transaction; ack.c acknowledges and dead-letters.
 */
#ifndef MW_APP_H
#define MW_APP_H

#include "rcmd.h"

#include <stdbool.h>
#include <stdint.h>

struct cfg;
struct entry;
struct event;
struct event_base;
struct models;
struct store;
struct batcher;
struct embedder;
struct idset;
struct wmetrics;

struct app_stats {
	long long read, acked, dead_lettered, invalid, reclaimed;
	long long batches, batches_failed, llm_calls, llm_failures, embed_requests, embed_inputs;
	long long added, updated, deleted, skipped, conflicts, replayed;
};

struct app {
	struct event_base *base;
	const struct cfg *cfg;
	struct redis_url redis;
	struct rcmd *rread;		/* XREADGROUP ... BLOCK only */
	struct rcmd *rcmd;		/* XACK, XADD, XAUTOCLAIM, XGROUP */
	struct store *store;
	struct models *models;
	struct batcher *batcher;
	struct embedder *embedder;
	struct wmetrics *wm;		/* metrics and the /metrics endpoint */

	char *dlq_stream;		/* <stream>:dlq */
	char *prompt_single, *prompt_fact, *prompt_update;

	bool group_ready;
	bool reading;			/* an XREADGROUP is in flight */
	bool claiming;
	bool stopping;
	int held;			/* entries read and not yet acked or dead-lettered */
	struct idset *held_ids;		/* their stream ids */
	struct event *claim_timer;
	struct event *beat_timer;
	struct event *stop_timer;
	struct event *trim_timer;	/* trim.c, MEM0_TRIM_KEEP_DAYS */
	long long drain_waited_ms;
	struct app_stats stats;
};

/* intake.c */
void intake_start(struct app *app);
void intake_kick(struct app *app);	/* read more if allowed (after acks free room) */
void intake_redis_state(void *arg, bool connected);
void intake_cmd_state(void *arg, bool connected);

/* trim.c: starts the periodic stream trim if MEM0_TRIM_KEEP_DAYS > 0. */
void trim_start(struct app *app);

/* ack.c: both take ownership of the entries and free them when done. */
void ack_entries(struct app *app, struct entry **entries, int n);
void ack_dead_letter(struct app *app, struct entry *e, const char *reason);
/* Dead-letters a raw entry that could not even be parsed into struct entry. */
void ack_dead_letter_raw(struct app *app, const char *stream_id, const char *reason);

/* batch.c */
struct batcher *batcher_new(struct app *app);
/* Takes ownership of e. */
void batcher_add(struct batcher *b, struct entry *e);
/* Flushes every pending entry now (shutdown). */
void batcher_flush_all(struct batcher *b);
int batcher_active(const struct batcher *b);	/* batches in flight + entries pending */
void batcher_free(struct batcher *b);

#endif
