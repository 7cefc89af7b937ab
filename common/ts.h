/*
 * ts: timestamps as the SQLite store keeps them, RFC 3339 UTC text with
 * microseconds, "2025-07-01T21:35:31.955000Z": fixed width, so text order is
 * time order, and as precise as PostgreSQL's timestamptz, so rows moved
 * between the two stores compare equal. Pure functions but ts_now_us.
 */
#ifndef MW_TS_H
#define MW_TS_H

#include <stdint.h>

#define TS_LEN 27 /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */

/* Microseconds since the Unix epoch, from the real-time clock. */
int64_t ts_now_us(void);

/* Writes us in the canonical form above; years 0001..9999 (others are clamped). */
void ts_format(int64_t us, char out[TS_LEN + 1]);

/*
 * Parses RFC 3339: "YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|+HH:MM|-HH:MM)"
 * (fraction: 1 to 9 digits, beyond microseconds truncated), into
 * microseconds since the epoch. Returns 0, or -1 on anything else
 * (out-of-range fields, trailing text, no zone).
 */
int ts_parse(const char *s, int64_t *us) __attribute__((warn_unused_result));

/* ts_parse then ts_format: any RFC 3339 text into the canonical form; -1 if it does not parse. */
int ts_canonical(const char *s, char out[TS_LEN + 1]) __attribute__((warn_unused_result));

#endif
