/*
 * rstream: Redis stream helpers shared by memworker and memctl: entry ids
 * (parse, compare, successor, format), operator time expressions (RFC 3339
 * or relative, "2h"), and the safe trim: one Lua script that trims a stream
 * to a time cutoff without dropping any entry a consumer group still needs.
 * Pure functions and constant data; no I/O, no state.
 */
#ifndef MW_RSTREAM_H
#define MW_RSTREAM_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#define RSTREAM_ID_MAX 48	/* "18446744073709551615-18446744073709551615" + NUL, rounded */

/* A stream entry id: <milliseconds>-<sequence>. */
struct rstream_id {
	unsigned long long ms, seq;
};

/* Parses "ms-seq" or "ms" (seq 0). -1 on anything else (no sign, no spaces). */
int rstream_id_parse(const char *s, struct rstream_id *out) __attribute__((warn_unused_result));
int rstream_id_cmp(const struct rstream_id *a, const struct rstream_id *b);
/* The smallest id greater than id. */
struct rstream_id rstream_id_next(struct rstream_id id);
/* Writes "ms-seq" into buf (size >= RSTREAM_ID_MAX); returns buf. */
char *rstream_id_format(struct rstream_id id, char *buf, size_t len);

/*
 * An operator's point in time, as epoch milliseconds: RFC 3339
 * ("2024-05-01T12:00:00Z", fractions and +hh:mm offsets, or a bare date
 * "2024-05-01" meaning its UTC midnight), a duration before now_ms ("90s",
 * "15m", "2h", "7d", "2w"), or plain epoch milliseconds. -1 with a reason.
 */
int rstream_parse_time(const char *s, long long now_ms, long long *ms_out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Wall-clock epoch milliseconds. */
long long rstream_now_ms(void);
/* Epoch milliseconds as RFC 3339 UTC with milliseconds ("2024-05-01T12:00:00.000Z"); returns buf. */
char *rstream_format_time(long long ms, char *buf, size_t len);

/*
 * The safe trim, atomic on the Redis side (scripts run alone): computes
 * MINID = min(time cutoff, for every consumer group: its oldest pending
 * entry, or when nothing is pending the entry after its last-delivered id)
 * and XTRIMs to it, so no entry still pending or not yet delivered to any
 * group is dropped. A stream without groups is left alone unless no_groups
 * is allowed (a dead-letter stream has none).
 *
 * EVAL rstream_trim_script 1 <stream> <keep_ms> <mode> <no_groups>
 *   mode: "exact" (XTRIM MINID), "approx" (MINID ~: whole nodes only, may
 *   keep a little more; cheaper) or "dry" (trims nothing, deleted = -1);
 *   no_groups: "1" to trim a stream without consumer groups by time alone.
 * Cutoff = Redis TIME - keep_ms, so the clock is the one that made the ids.
 */
extern const char rstream_trim_script[];

struct rstream_trim {
	long long deleted;		/* entries removed; -1 on a dry run */
	char minid[RSTREAM_ID_MAX];	/* entries below it are (or would be) gone; "" = nothing to do */
	char why[200];			/* what limited MINID: "age", "pending in group g", ... */
};

/* Parses the script's reply. -1 with a reason (a Redis error included). */
int rstream_trim_parse(const redisReply *r, struct rstream_trim *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
