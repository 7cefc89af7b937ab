/*
 * memsearch internals: the state main() owns (struct app) and the stages a
 * request goes through, one file each: intake.c (consumer group, XREADGROUP,
 * XAUTOCLAIM), request.c (one request's life: validation, deadline,
 * watchdog, exactly one answer), ops.c (the eight ops against the store),
 * qembed.c (query embeddings: LRU cache, batching), reply.c (LPUSH +
 * PEXPIRE + XACK + XDEL in one MULTI/EXEC). Everything runs on main's one
 * libevent loop.
 */
#ifndef MW_SEARCH_H
#define MW_SEARCH_H

#include "cfg.h"
#include "rcmd.h"
#include "sproto.h"

#include <event2/util.h>
#include <stdbool.h>
#include <stdint.h>

struct event;
struct event_base;
struct models;
struct qembed;
struct store;
struct sreq;
struct smetrics;

enum intake_state {
	INTAKE_DOWN = 0,	/* read connection not connected */
	INTAKE_HELLO,		/* CLIENT ID sent (kept for CLIENT UNBLOCK at shutdown) */
	INTAKE_GROUP,		/* XGROUP CREATE ... MKSTREAM sent */
	INTAKE_WAITING,		/* connected; reads when below the in-flight cap */
	INTAKE_READING,		/* XREADGROUP ... BLOCK sent */
	INTAKE_STOPPED,		/* shutting down: no more reads */
};

struct app {
	struct event_base *base;
	struct cfg cfg;
	struct redis_url url;
	struct rcmd *rd;		/* XREADGROUP only: no command timeout */
	struct rcmd *cmd;		/* replies, acks, XAUTOCLAIM, CLIENT UNBLOCK: with a timeout */
	struct store *store;
	struct models *models;		/* NULL: no embeddings (search/context answer unavailable) */
	struct qembed *qembed;
	struct smetrics *sm;		/* NULL when MEM0_METRICS_ADDR is unset */
	struct event *sigterm, *sigint, *claim_ev, *retry_ev, *stop_ev, *store_wait_ev;
	double store_down_since;	/* monotonic ms the store was first seen not ready; 0 = ready */

	/* intake (intake.c) */
	enum intake_state istate;
	long long reader_id;		/* CLIENT ID of the read connection, -1 unknown */
	bool reading_logged;		/* "reading ..." said since the read connection (re)connected */
	bool claiming;			/* an XPENDING + XAUTOCLAIM in flight */
	int claim_asked;		/* the XPENDING's COUNT */

	/* requests in flight (request.c) */
	struct sreq *head;
	int inflight;
	int max_inflight;
	int exec_cap_ms;		/* a request is answered (timeout) at most this long after it was read */

	bool stopping;
	unsigned long long answered, bad, timeouts, failures;
};

/* main.c: called whenever a request finishes or the reader stops, to end a drain. */
void app_maybe_finish(struct app *a);

/* intake.c */
void intake_state_cb(void *arg, bool connected);
/* Issues the next XREADGROUP if the state and the in-flight cap allow. */
void intake_step(struct app *a);
/* Stops reading: unblocks a blocked XREADGROUP through the command connection. */
void intake_stop(struct app *a);
void intake_claim_tick(evutil_socket_t fd, short what, void *arg);
void intake_retry_tick(evutil_socket_t fd, short what, void *arg);
void intake_store_wait_tick(evutil_socket_t fd, short what, void *arg);
/* True while a read may still deliver entries. */
bool intake_busy(const struct app *a);

/* request.c: one request's life. */
struct sreq {
	struct app *app;
	struct sreq *prev, *next;	/* app's in-flight list */
	char entry[48];			/* stream entry id */
	struct sproto_request rq;
	bool valid;
	char err[256];			/* why not valid */
	double t0;			/* monotonic ms when read */
	struct event *watchdog;
	int refs;			/* callbacks still to come (store, embeddings, Redis) */
	bool answered;			/* the one reply (or the ack of an unanswerable entry) is decided */
	char *reply;			/* being sent */
	char outcome[16];		/* for metrics: "" (ok) or the error code */
	int nresults;			/* search/context results, -1 otherwise */
};

/* Takes a stream entry (id + flat field/value array) just delivered; starts it. */
/* deliveries: 1 for a first read; a reclaim's count (over MEM0_MAX_DELIVERIES: answered, not run). */
void sreq_start_entry(struct app *a, const char *entry_id, const redisReply *fields, long deliveries);
/* Is this entry already being worked on here? */
bool sreq_in_flight(const struct app *a, const char *entry_id);
/*
 * The one answer: json (taken over) is sent to reply_to with the ack.
 * Later calls (a late store callback after the watchdog fired) free json
 * and do nothing.
 */
void sreq_answer(struct sreq *r, char *json);
void sreq_answer_error(struct sreq *r, const char *code, const char *message);
/* Frees r once answered and no callback is outstanding; the caller does not touch r afterwards. */
void sreq_release(struct sreq *r);
double sreq_elapsed_ms(const struct sreq *r);
double search_now_ms(void);
long long search_epoch_ms(void);

/* ops.c */
void ops_run(struct sreq *r);

/* reply.c: MULTI, [LPUSH, PEXPIRE,] XACK, XDEL, EXEC on the command connection. */
int reply_send(struct sreq *r, const char *json) __attribute__((warn_unused_result));

#endif
