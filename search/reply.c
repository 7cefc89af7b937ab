/*
 * reply: the ack stage. One MULTI/EXEC on the command connection pushes the
 * reply onto reply_to, gives that key its expiry, acknowledges the entry and
 * deletes it from the stream. Atomic, so a request is never answered without
 * being acked (no second answer after a redelivery) nor acked without its
 * answer. XDEL right after XACK keeps the stream as long as the work in
 * flight: the group is the stream's only reader, an acked request is of no
 * further use, and trimming by age (XTRIM MINID) would have to guess how
 * long a queue may wait. Runs on the app's loop.
 */
#include "search.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Queued commands answer QUEUED: nothing to do with that. */
static void queued(void *arg, redisReply *reply, const char *errstr)
{
	(void)arg;
	(void)reply;
	(void)errstr;
}

static void exec_done(void *arg, redisReply *reply, const char *errstr)
{
	struct sreq *r = arg;
	const redisReply *push;

	r->refs--;
	if (!reply || reply->type != REDIS_REPLY_ARRAY) {
		/* not acked either: the entry stays pending and is reclaimed later */
		ulog_warn(r->rq.user, r->entry, "reply/ack transaction failed: %s",
			  reply && reply->type == REDIS_REPLY_ERROR ? reply->str : (errstr ? errstr : "aborted"));
	} else if (r->reply && (push = rcmd_elem(reply, 0)) && push->type == REDIS_REPLY_ERROR) {
		/* e.g. WRONGTYPE: reply_to names a key that is not a list; the entry is acked regardless */
		ulog_warn(r->rq.user, r->entry, "cannot push the reply to %s: %s", r->rq.reply_to, push->str);
	}
	sreq_release(r);
}

int reply_send(struct sreq *r, const char *json)
{
	struct app *a = r->app;
	char ttl[24];
	const char *multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
	const char *lpush[3] = { "LPUSH", r->rq.reply_to, json };
	const char *pexpire[3] = { "PEXPIRE", r->rq.reply_to, ttl };
	const char *xack[4] = { "XACK", a->cfg.search_stream, a->cfg.search_group, r->entry };
	const char *xdel[3] = { "XDEL", a->cfg.search_stream, r->entry };

	if (!a->cmd || !rcmd_connected(a->cmd))
		return -1;
	snprintf(ttl, sizeof(ttl), "%d", a->cfg.reply_ttl_ms);
	/* a failure to queue means the connection just dropped: Redis discards the open MULTI with it */
	if (rcmd_command(a->cmd, 1, multi, NULL, queued, NULL) < 0)
		return -1;
	if (json && (rcmd_command(a->cmd, 3, lpush, NULL, queued, NULL) < 0 ||
		     rcmd_command(a->cmd, 3, pexpire, NULL, queued, NULL) < 0))
		return -1;
	if (rcmd_command(a->cmd, 4, xack, NULL, queued, NULL) < 0 ||
	    rcmd_command(a->cmd, 3, xdel, NULL, queued, NULL) < 0 ||
	    rcmd_command(a->cmd, 1, exec, NULL, exec_done, r) < 0)
		return -1;
	r->refs++;
	return 0;
}
