/*
 * progress: what memctl's long commands (replay, backfill, dlq retry --all)
 * share: a progress display on stderr (a redrawn bar on a terminal, a plain
 * line every few seconds otherwise), an entries-per-second limit, Ctrl-C
 * turned into a flag the command checks between whole steps, and the
 * blocking Redis connection they feed. Blocking code, no event loop: one
 * operator, one command.
 */
#ifndef MW_PROGRESS_H
#define MW_PROGRESS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>

struct cfg;

struct progress {
	const char *what; /* "replay", "backfill" */
	long long total;  /* < 0: unknown */
	long long done;
	double rate; /* entries/s limit; 0 = none */
	double t0, last_draw;
	bool tty, drawn;
	char note[96]; /* shown after the numbers ("waiting for workers") */
};

void progress_init(struct progress *p, const char *what, long long total, double rate);
/* Before sending n more entries: sleeps as long as the rate limit asks (cut short by Ctrl-C). */
void progress_pace(struct progress *p, long long n);
void progress_add(struct progress *p, long long n);
/* Redraws now with a note (NULL clears it). */
void progress_note(struct progress *p, const char *note);
/* Clears the bar (terminal) or prints the last line. */
void progress_end(struct progress *p);
/* Entries per chunk: small enough for a smooth rate limit, big enough to pipeline. */
int progress_chunk(const struct progress *p, int max);

/*
 * After this, SIGINT/SIGTERM only set a flag (the command stops after the
 * step in flight, so every XADD is whole); a second one exits at once.
 */
void ctl_trap_interrupt(void);
bool ctl_interrupted(void);

/* The configured Redis (REDIS_URL), AUTH/SELECT done; NULL with a line on stderr. */
redisContext *ctl_redis_connect(const struct cfg *cfg);
/* Runs a command; on a transport error or an error reply prints "memctl: what: ..." and returns NULL. */
redisReply *ctl_redis_argv(redisContext *c, const char *what, int argc, const char **argv, const size_t *lens);

/*
 * Waits while the ingest group's lag (entries not yet read by the workers)
 * is above max_lag; 0 = never waits. Returns false if interrupted.
 */
bool ctl_wait_lag(redisContext *c, const struct cfg *cfg, long long max_lag, struct progress *p);

/*
 * Option parsing for the subcommands: "--name VALUE" or "--name=VALUE" at
 * argv[*i]. 1: *value set (and *i moved past it); 0: another argument;
 * -1: the value is missing (a line on stderr).
 */
int ctl_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* A non-negative number option's value; -1 with a line on stderr. */
int ctl_opt_number(const char *name, const char *value, double max, double *out);

/* Appends s to out as one shell word (quoted when needed), for resume hints. */
void ctl_shell_word(char *out, size_t outlen, const char *s);

#endif
