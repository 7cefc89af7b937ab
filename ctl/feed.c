/*
 * feed: see feed.h.
 */
#include "feed.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

const redisReply *feed_field(const redisReply *fields, const char *name)
{
	size_t i, n = strlen(name);

	if (!fields || fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *k = fields->element[i];

		if (k->type == REDIS_REPLY_STRING && k->len == n && memcmp(k->str, name, n) == 0 &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1];
	}
	return NULL;
}

static void push(struct feed_cmd *f, const char *s, size_t len)
{
	f->argv[f->argc] = s;
	f->lens[f->argc] = len;
	f->argc++;
}

void feed_build(struct feed_cmd *f, const char *target, const redisReply *fields, const char *key, const char *run)
{
	size_t i, n = fields && fields->type == REDIS_REPLY_ARRAY ? fields->elements : 0;
	const redisReply *mid = feed_field(fields, "message_id");

	f->argc = 0;
	f->argv = mw_calloc(n + 8, sizeof(char *));
	f->lens = mw_calloc(n + 8, sizeof(size_t));
	push(f, "XADD", 4);
	push(f, target, strlen(target));
	push(f, "*", 1);
	for (i = 0; i + 1 < n; i += 2) {
		const redisReply *k = fields->element[i], *v = fields->element[i + 1];

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		if (k->len >= 4 && memcmp(k->str, "dlq_", 4) == 0)
			continue;
		if (run && k->len == 9 && memcmp(k->str, "reprocess", 9) == 0)
			continue;
		/* an empty message_id means "none" to the worker: the key goes in its place */
		if (k->len == 10 && memcmp(k->str, "message_id", 10) == 0 && v->len == 0)
			continue;
		push(f, k->str, k->len);
		push(f, v->str, v->len);
	}
	if ((!mid || mid->len == 0) && key && key[0]) {
		push(f, "message_id", 10);
		push(f, key, strlen(key));
	}
	if (run) {
		push(f, "reprocess", 9);
		push(f, run, strlen(run));
	}
}

void feed_free(struct feed_cmd *f)
{
	free(f->argv);
	free(f->lens);
	f->argv = NULL;
	f->lens = NULL;
	f->argc = 0;
}
