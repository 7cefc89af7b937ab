/*
 * feed: building the XADD that puts an entry back on the ingest stream
 * (memctl replay, dlq retry). The entry keeps its idempotency key: its
 * message_id field, or when it has none the key the worker gave it the
 * first time (its original stream entry id), so a message the worker
 * applied before is a no-op. dlq_* fields are dropped.
 */
#ifndef MW_FEED_H
#define MW_FEED_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct feed_cmd {
	int argc;
	const char **argv; /* borrowed from the reply and the caller */
	size_t *lens;
};

/*
 * fields: the entry's [field, value, ...] array (borrowed: keep the reply
 * alive until the command is sent). key (borrowed too): the original key
 * when the entry has no message_id. run: non-NULL for a reprocess run (any reprocess field
 * of the entry is replaced).
 */
void feed_build(struct feed_cmd *f, const char *target, const redisReply *fields, const char *key, const char *run);
void feed_free(struct feed_cmd *f);

/* A field's value in a [field, value, ...] reply array, or NULL. */
const redisReply *feed_field(const redisReply *fields, const char *name);

#endif
