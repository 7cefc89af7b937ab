/*
 * ops: the eight read-path ops of a validated request. search and context
 * embed the query (qembed: cache, then the model) and search the store;
 * the others are one store call each. Every callback takes the request's
 * reference back, answers unless the watchdog already did, and releases.
 * Store outcomes map to reply codes: not found -> not_found, transient
 * (connection, timeout, deadlock) -> unavailable, anything else -> internal.
 */
#include "search.h"

#include "log.h"
#include "qembed.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void answer_status(struct sreq *r, enum store_status st, const char *errstr)
{
	switch (st) {
	case STORE_NOT_FOUND:
		sreq_answer_error(r, "not_found", "no such memory for this user");
		break;
	case STORE_TRANSIENT:
		ulog_warn(r->rq.user, r->entry, "%s: store unavailable: %s", sproto_op_name(r->rq.op),
			  errstr ? errstr : "");
		sreq_answer_error(r, "unavailable", "the memory store is unavailable; try again");
		break;
	default:
		ulog_error(r->rq.user, r->entry, "%s: store error: %s", sproto_op_name(r->rq.op), errstr ? errstr : "");
		sreq_answer_error(r, "internal", "the memory store failed (see memsearch's log)");
		break;
	}
}

static void not_submitted(struct sreq *r)
{
	r->refs--;
	sreq_answer_error(r, "unavailable", "the memory store is not connected; try again");
}

static void mems_done(void *arg, enum store_status st, const struct store_memory *m, int n, const char *errstr)
{
	struct sreq *r = arg;

	r->refs--;
	if (st == STORE_OK && (r->rq.op == SPROTO_SEARCH || r->rq.op == SPROTO_CONTEXT))
		r->nresults = n;
	if (st != STORE_OK)
		answer_status(r, st, errstr);
	else if (r->rq.op == SPROTO_CONTEXT)
		sreq_answer(r, sproto_reply_context(r->rq.request_id, m, n, sreq_elapsed_ms(r)));
	else
		sreq_answer(r, sproto_reply_memories(r->rq.request_id, m, n, r->rq.op == SPROTO_SEARCH,
						     sreq_elapsed_ms(r)));
	sreq_release(r);
}

static void history_done(void *arg, enum store_status st, const struct store_history *h, int n, const char *errstr)
{
	struct sreq *r = arg;

	r->refs--;
	if (st != STORE_OK)
		answer_status(r, st, errstr);
	else
		sreq_answer(r, sproto_reply_history(r->rq.request_id, h, n, sreq_elapsed_ms(r)));
	sreq_release(r);
}

static void count_done(void *arg, enum store_status st, long long n, const char *errstr)
{
	struct sreq *r = arg;

	r->refs--;
	if (st != STORE_OK) {
		answer_status(r, st, errstr);
	} else {
		ulog_info(r->rq.user, r->entry, "%s: %lld memories deleted%s", sproto_op_name(r->rq.op), n,
			  r->rq.purge && r->rq.op == SPROTO_DELETE_ALL ? " (purged with history and ingest log)" : "");
		sreq_answer(r, sproto_reply_deleted(r->rq.request_id, n, sreq_elapsed_ms(r)));
	}
	sreq_release(r);
}

static void stats_done(void *arg, enum store_status st, const struct store_stats *s, const char *errstr)
{
	struct sreq *r = arg;

	r->refs--;
	if (st != STORE_OK)
		answer_status(r, st, errstr);
	else
		sreq_answer(r, sproto_reply_stats(r->rq.request_id, s, sreq_elapsed_ms(r)));
	sreq_release(r);
}

static void embedded(void *arg, int status, const float *vec, const char *errstr)
{
	struct sreq *r = arg;
	struct store_search q;

	r->refs--;
	if (r->answered) {
		sreq_release(r);
		return;
	}
	if (status != 0) {
		ulog_warn(r->rq.user, r->entry, "query embedding failed: %s", errstr ? errstr : "");
		sreq_answer_error(r, "unavailable", "the embedding model is unavailable; try again");
		sreq_release(r);
		return;
	}
	q = (struct store_search){ .user = r->rq.user, .vec = vec, .limit = r->rq.limit,
				   .threshold = r->rq.threshold, .session_id = r->rq.session_id,
				   .filters = r->rq.filters };
	r->refs++;
	if (store_search(r->app->store, &q, mems_done, r) < 0)
		not_submitted(r);
	sreq_release(r);
}

/* Stored on the history rows a delete writes: who asked. */
static char *delete_meta(const struct sreq *r)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "source", json_string("memsearch"));
	if (r->rq.request_id)
		json_object_set_new(o, "request_id", json_string(r->rq.request_id));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

void ops_run(struct sreq *r)
{
	struct app *a = r->app;
	const struct sproto_request *q = &r->rq;
	char *meta = NULL;
	int rc = 0;

	r->refs++;
	switch (q->op) {
	case SPROTO_SEARCH:
	case SPROTO_CONTEXT:
		rc = qembed_get(a->qembed, q->query, embedded, r);
		if (rc < 0) {
			r->refs--;
			sreq_answer_error(r, "unavailable", "the embedding model is unavailable; try again");
		}
		return;
	case SPROTO_GET:
		rc = store_get(a->store, q->user, q->memory_id, mems_done, r);
		break;
	case SPROTO_GET_ALL:
		rc = store_get_all(a->store, q->user, q->session_id, q->limit, q->offset, mems_done, r);
		break;
	case SPROTO_HISTORY:
		rc = store_history(a->store, q->user, q->memory_id, history_done, r);
		break;
	case SPROTO_DELETE:
		meta = delete_meta(r);
		rc = store_delete(a->store, q->user, q->memory_id, meta, count_done, r);
		break;
	case SPROTO_DELETE_ALL:
		meta = delete_meta(r);
		rc = store_delete_all(a->store, q->user, q->purge, meta, count_done, r);
		break;
	case SPROTO_STATS:
		rc = store_stats(a->store, q->user, stats_done, r);
		break;
	default:
		ulog_error(q->user, r->entry, "unknown op %d", (int)q->op);
		r->refs--;
		sreq_answer_error(r, "internal", "unknown op");
		return;
	}
	free(meta);
	if (rc < 0)
		not_submitted(r);
}
