/*
 * entry: one ingest stream entry, parsed and validated (DESIGN.md "Ingest
 * entry"). Pure: no I/O. An entry that fails validation gets a one-line
 * reason and goes to the dead-letter stream.
 */
#ifndef MW_ENTRY_H
#define MW_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct entry_msg {
	char *role;			/* user | assistant | system */
	char *content;
};

struct entry {
	char *stream_id;		/* the stream entry id */
	int64_t user;			/* user_db_id */
	char *session_id;
	struct entry_msg *msgs;
	int nmsgs;
	char *message_key;		/* message_id, or the stream entry id; + "#reprocess:<run>" (see entry.c) */
	char *user_id;			/* the app's string id, may be NULL */
	char *created_at;		/* as given, may be NULL */
	char *metadata;			/* compact JSON object text, may be NULL */
	bool infer;			/* false: store content as is, no LLM */
	long deliveries;		/* from XPENDING when reclaimed; 1 when read fresh */
	/* the raw field list, kept for the dead-letter stream */
	int nfields;
	char **fields;			/* name, value, name, value, ... */
};

struct entry_limits {
	size_t max_content_bytes;
};

/*
 * Parses a stream entry from its field/value pairs (borrowed). Returns 0, or
 * -1 with a one-line reason naming the field (the entry's raw fields are
 * still filled so it can be dead-lettered).
 */
int entry_parse(struct entry *e, const char *stream_id, const char *const *fields, const size_t *lens, int nfields,
		const struct entry_limits *lim, char *reason, size_t reasonlen) __attribute__((warn_unused_result));

void entry_free(struct entry *e);

#endif
