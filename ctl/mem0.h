/*
 * mem0: an old Mem0 TypeScript SDK store (vector_store.db + memory.db, see
 * shared/fixtures/mem0ai-sqlite/README.md) as an xfer reader, for memctl
 * import --mem0-sqlite. Opening reads both files once (read-only) and
 * refuses, naming what is wrong, before anything is written: Mem0 users
 * without an integer id in the map, history whose memory is gone (its user
 * is unknown) unless the operator says where it goes, embeddings of another
 * dimension, unknown history actions, ids that are not UUIDs.
 *
 * What becomes of the data: a memory keeps Mem0's id, text, session
 * (sessionId), timestamps (createdAt, updatedAt) and embedding; its hash
 * is md5 of the text (Mem0's own); the rest of the payload becomes its
 * metadata, with Mem0's string user id as "user_id". A history row gets
 * Mem0's action as created/updated/deleted, the event's time (ADD:
 * created_at; UPDATE and DELETE: updated_at, else created_at; Mem0 writes
 * neither on DELETE, so the memory's previous event's time, flagged
 * "created_at_estimated") and metadata {"imported_from":"mem0-sqlite",
 * "mem0_history_id":N}, which keeps repeated imports from duplicating it.
 */
#ifndef MW_MEM0_H
#define MW_MEM0_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct usermap;
struct xfer_store;

struct mem0_opts {
	const struct usermap *users;
	long long orphan_user; /* > 0: history of vanished memories goes to this user */
	bool skip_orphans;     /* or is left out */
	int want_dims;         /* MEM0_EMBEDDING_DIMS */
};

/*
 * Opens DIR/vector_store.db and DIR/memory.db and prints what they hold
 * (per user: memories, history rows, a few texts) to plan. NULL with a
 * message in err (may be several lines) when they cannot be imported.
 */
struct xfer_store *mem0_open(const char *dir, const struct mem0_opts *o, FILE *plan, char *err, size_t errlen);

#endif
