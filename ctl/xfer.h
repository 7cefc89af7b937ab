/*
 * xfer: memctl's whole-store readers and writers, blocking (libpq and
 * sqlite3 directly, no loop): what memctl export/import move between
 * PostgreSQL and SQLite store files, and what memctl import --mem0-sqlite
 * reads out of an old Mem0 store (mem0.c).
 *
 * A reader yields rows in a consistent snapshot: memories oldest first,
 * history in id order, the ingest log, the per-user counts. A writer takes
 * them in one transaction with these rules, so a second run changes
 * nothing and a move back and forth loses nothing:
 *  - memories keep their ids. A new id is inserted; when the user already
 *    has the same text under another id, the hash gets ":<id>" appended
 *    (what migration 002 does with the chat app's duplicates). An id already
 *    there is updated only when the incoming copy is newer (updated_at).
 *  - history rows are the same row when user, memory, action, time, both
 *    contents and the Mem0 history id (metadata) are equal; a new row keeps
 *    its id when that id is free. A new 'deleted' row deletes the target's
 *    copy of the memory unless that copy changed after the deletion.
 *  - ingest-log keys are inserted when missing.
 *  - counts are recounted for every user touched.
 */
#ifndef MW_XFER_H
#define MW_XFER_H

#include <stdbool.h>
#include <stddef.h>

/* Timestamps are ts.h's canonical text (RFC 3339 UTC, microseconds), or NULL. */
struct xfer_memory {
	char id[40]; /* lower-case UUID */
	long long user;
	const char *session_id;
	const char *text;
	const char *hash;
	const char *metadata; /* JSON object text */
	const char *created_at;
	const char *updated_at;
	const float *embedding; /* dims floats, or NULL */
};

struct xfer_history {
	long long id; /* the source's id; 0: none (the writer assigns one) */
	char memory_id[40];
	long long user;
	const char *action; /* created | updated | deleted */
	const char *previous_content;
	const char *new_content;
	const char *metadata;   /* JSON object text or NULL */
	const char *created_at; /* may be NULL (unknown) */
};

struct xfer_ingest {
	long long user;
	const char *message_key;
	const char *stream_id;
	const char *applied_at;
};

/* Row callbacks: 0 to go on, -1 to stop (the reader then returns -1). */
typedef int (*xfer_memory_fn)(void *arg, const struct xfer_memory *m);
typedef int (*xfer_history_fn)(void *arg, const struct xfer_history *h);
typedef int (*xfer_ingest_fn)(void *arg, const struct xfer_ingest *l);
typedef int (*xfer_counts_fn)(void *arg, long long user, const char *last_memory_at);

/* Internal to the readers: where one kind of row goes. */
struct row_to {
	xfer_memory_fn memory;
	xfer_history_fn history;
	xfer_ingest_fn ingest;
	xfer_counts_fn counts;
	void *arg;
};

enum xfer_put { XFER_FAILED = -1, XFER_PRESENT = 0, XFER_INSERTED, XFER_UPDATED };

struct xfer_store;

/* Readers may leave the write half NULL (Mem0) and the other way round. */
struct xfer_vt {
	int (*read_begin)(struct xfer_store *);
	int (*each_memory)(struct xfer_store *, xfer_memory_fn, void *);
	int (*each_history)(struct xfer_store *, xfer_history_fn, void *);
	int (*each_ingest)(struct xfer_store *, xfer_ingest_fn, void *);
	int (*each_counts)(struct xfer_store *, xfer_counts_fn, void *);

	int (*write_begin)(struct xfer_store *);
	/* *renamed: inserted or updated under a suffixed hash (a duplicate text) */
	enum xfer_put (*put_memory)(struct xfer_store *, const struct xfer_memory *, bool *renamed);
	/* *deleted: the row was a new 'deleted' row and took the memory away */
	enum xfer_put (*put_history)(struct xfer_store *, const struct xfer_history *, bool *deleted);
	enum xfer_put (*put_ingest)(struct xfer_store *, const struct xfer_ingest *);
	int (*fix_counts)(struct xfer_store *, long long user, const char *last_memory_at);
	int (*commit)(struct xfer_store *);
	void (*rollback)(struct xfer_store *);

	void (*close)(struct xfer_store *);
};

struct xfer_store {
	const struct xfer_vt *vt;
	int dims;       /* of the embeddings it holds */
	char name[320]; /* for messages: "PostgreSQL database \"x\"", "sqlite:PATH" */
	char err[1024]; /* one line, set when a call fails */
};

/* A PostgreSQL store (migrated: memctl migrate). NULL with one line in err. */
struct xfer_store *xfer_pg_open(const char *conninfo, char *err, size_t errlen);
/*
 * A SQLite store file (store_sqlite.h), created with dims (> 0) when
 * create is true and the file is missing.
 */
struct xfer_store *xfer_sqlite_open(const char *path, int dims, bool create, char *err, size_t errlen);
void xfer_close(struct xfer_store *s);

struct xfer_tally {
	long long mem_new, mem_updated, mem_present, mem_renamed, mem_deleted;
	long long hist_new, hist_present;
	long long log_new, log_present;
	long long users;
};

/*
 * Copies everything src holds into dst in one transaction (rolled back
 * when dry_run). The dimensions must agree. Returns 0, or -1 with one line
 * in err (nothing written).
 */
int xfer_copy(struct xfer_store *src, struct xfer_store *dst, bool dry_run, struct xfer_tally *t, char *err,
              size_t errlen) __attribute__((warn_unused_result));

/* The tally as memctl prints it, one line per kind. */
void xfer_print_tally(const struct xfer_tally *t, bool dry_run);

#endif
