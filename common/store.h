/*
 * store: where memories live, behind one interface with two backends:
 * PostgreSQL + pgvector (store_pg.c, async on the loop) and SQLite
 * (MEM0_PROVIDER=memory, later). The ingest apply step and the read path
 * call only this. Every operation takes the user's id and touches only that
 * user's rows: there is no operation across users.
 *
 * Every operation is asynchronous: it returns 0 and its callback fires
 * exactly once, never inside the call; or it returns -1 (store not
 * connected) and the callback never fires. Result memory is borrowed until
 * the callback returns.
 */
#ifndef MW_STORE_H
#define MW_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* Outcome of an operation. */
enum store_status {
	STORE_OK = 0,
	STORE_TRANSIENT = -1,	/* connection lost, timeout, deadlock: retry later */
	STORE_CONFLICT = -2,	/* apply: some message keys were applied meanwhile: filter again */
	STORE_REJECTED = -3,	/* apply: the data is refused for good (unknown user id, ...) */
	STORE_NOT_FOUND = -4,	/* read path: no such memory for this user */
	STORE_ERROR = -5,	/* anything else: a bug or a schema problem */
};

struct store_memory {
	char id[40];
	const char *text;
	const char *hash;
	const char *session_id;
	const char *metadata;		/* JSON object text */
	const char *created_at;		/* RFC 3339 */
	const char *updated_at;
	double score;			/* similarity (1 - cosine distance); 0 when not a search */
};

struct store_history {
	long long id;
	char memory_id[40];
	const char *action;		/* created | updated | deleted */
	const char *previous_content;	/* may be NULL */
	const char *new_content;	/* may be NULL */
	const char *metadata;		/* JSON object text, may be NULL */
	const char *created_at;
};

struct store_stats {
	long long total_memories;
	const char *last_memory_at;	/* NULL if never */
	long long history_rows;
};

/* ---- ingest ---- */

/* seen[i]: keys[i] is already in the ingest log (applied before). */
typedef void (*store_keys_cb)(void *arg, enum store_status st, const bool *seen, int n, const char *errstr);
int store_filter_keys(struct store *s, int64_t user, const char *const *keys, int n, store_keys_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* The user's k memories most similar to any of the query vectors, best first, deduplicated. */
typedef void (*store_mems_cb)(void *arg, enum store_status st, const struct store_memory *m, int n,
			      const char *errstr);
int store_candidates(struct store *s, int64_t user, const float *const *vecs, int nvec, int k, store_mems_cb cb,
		     void *arg) __attribute__((warn_unused_result));

enum store_change_kind { STORE_ADD, STORE_UPDATE, STORE_DELETE };

struct store_change {
	enum store_change_kind kind;
	const char *memory_id;		/* UPDATE, DELETE */
	const char *text;		/* ADD, UPDATE */
	const char *hash;		/* ADD, UPDATE: mhash of text */
	const float *embedding;		/* ADD, UPDATE: dims floats */
	const char *session_id;		/* ADD */
	const char *metadata;		/* ADD: JSON object for the memory; NULL = {} */
};

struct store_batch {
	int64_t user;
	int nkeys;
	const char *const *keys;	/* message keys (idempotency) */
	const char *const *stream_ids;	/* the stream entry of each key, for the log */
	int nchanges;
	const struct store_change *changes;
	const char *history_meta;	/* JSON object stored on each history row (source message ids) */
};

struct store_apply_result {
	int added, updated, deleted;
	int skipped;			/* exact duplicates, vanished targets */
};

/*
 * One transaction: per-user lock, every key into the ingest log (any key
 * already there -> STORE_CONFLICT and nothing changes), the changes, one
 * history row per change that took effect.
 */
typedef void (*store_apply_cb)(void *arg, enum store_status st, const struct store_apply_result *r,
			       const char *errstr);
int store_apply(struct store *s, const struct store_batch *b, store_apply_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* ---- read path ---- */

struct store_search {
	int64_t user;
	const float *vec;
	int limit;
	double threshold;		/* minimum score; 0 = none */
	const char *session_id;		/* NULL = any */
	const char *filters;		/* JSON object of metadata equalities, NULL = none */
};
int store_search(struct store *s, const struct store_search *q, store_mems_cb cb, void *arg)
	__attribute__((warn_unused_result));
int store_get(struct store *s, int64_t user, const char *memory_id, store_mems_cb cb, void *arg)
	__attribute__((warn_unused_result));
/* Newest first; session_id NULL = all sessions. */
int store_get_all(struct store *s, int64_t user, const char *session_id, int limit, int offset, store_mems_cb cb,
		  void *arg) __attribute__((warn_unused_result));

typedef void (*store_history_cb)(void *arg, enum store_status st, const struct store_history *h, int n,
				 const char *errstr);
/* Oldest first. */
int store_history(struct store *s, int64_t user, const char *memory_id, store_history_cb cb, void *arg)
	__attribute__((warn_unused_result));

typedef void (*store_count_cb)(void *arg, enum store_status st, long long n, const char *errstr);
/* Under the user's lock, with a 'deleted' history row; STORE_NOT_FOUND if not this user's. */
int store_delete(struct store *s, int64_t user, const char *memory_id, const char *history_meta, store_count_cb cb,
		 void *arg) __attribute__((warn_unused_result));
/* purge: also the user's history, ingest log and counts (erasure requests). */
int store_delete_all(struct store *s, int64_t user, bool purge, const char *history_meta, store_count_cb cb,
		     void *arg) __attribute__((warn_unused_result));

typedef void (*store_stats_cb)(void *arg, enum store_status st, const struct store_stats *stats, const char *errstr);
int store_stats(struct store *s, int64_t user, store_stats_cb cb, void *arg) __attribute__((warn_unused_result));

/* ---- lifetime ---- */

bool store_ready(const struct store *s);
int store_dims(const struct store *s);
const char *store_name(const struct store *s);
/*
 * NULL, or why this store is not the one configured: MEM0_PROVIDER=auto
 * found no pgvector and fell back to SQLite (logged as a warning at start;
 * for /readyz and the start-up line). Borrowed from the store.
 */
const char *store_fallback_reason(const struct store *s);
void store_free(struct store *s);

/*
 * The backend's table of operations; a backend fills one and embeds struct
 * store_base first in its own struct.
 */
struct store_vt {
	const char *name;
	int (*filter_keys)(struct store *, int64_t, const char *const *, int, store_keys_cb, void *);
	int (*candidates)(struct store *, int64_t, const float *const *, int, int, store_mems_cb, void *);
	int (*apply)(struct store *, const struct store_batch *, store_apply_cb, void *);
	int (*search)(struct store *, const struct store_search *, store_mems_cb, void *);
	int (*get)(struct store *, int64_t, const char *, store_mems_cb, void *);
	int (*get_all)(struct store *, int64_t, const char *, int, int, store_mems_cb, void *);
	int (*history)(struct store *, int64_t, const char *, store_history_cb, void *);
	int (*delete_one)(struct store *, int64_t, const char *, const char *, store_count_cb, void *);
	int (*delete_all)(struct store *, int64_t, bool, const char *, store_count_cb, void *);
	int (*stats)(struct store *, int64_t, store_stats_cb, void *);
	bool (*ready)(const struct store *);
	void (*free)(struct store *);
};

struct store {
	const struct store_vt *vt;
	int dims;
	char *fallback_reason;		/* owned; freed by store_free */
};

/* Advisory-lock namespace shared by every writer of a user's rows ("mw"). */
#define STORE_LOCK_CLASS 0x6d77

#endif
