/*
 * progress: see progress.h. The interrupt flag is the one piece of global
 * state in memctl: a signal handler can reach nothing else.
 */
#include "progress.h"

#include "cfg.h"
#include "log.h"
#include "rcmd.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DRAW_TTY_S  0.1
#define DRAW_LINE_S 5.0
#define BAR_WIDTH   28

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

void ctl_trap_interrupt(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	/* no SA_RESTART: sleeps end at once; SA_RESETHAND: a second signal kills */
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

bool ctl_interrupted(void)
{
	return interrupted != 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0 || interrupted)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL); /* EINTR on Ctrl-C: the caller sees the flag */
}

void progress_init(struct progress *p, const char *what, long long total, double rate)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->rate = rate;
	p->t0 = p->last_draw = now_s();
	p->tty = isatty(STDERR_FILENO) == 1;
}

static void fmt_duration(double s, char *out, size_t len)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
	else
		snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

static void draw(struct progress *p, bool force)
{
	double now = now_s(), el = now - p->t0;
	double rate = el > 0 ? (double)p->done / el : 0;
	char eta[32] = "", tot[32] = "?", pct[16] = "";

	if (!force && now - p->last_draw < (p->tty ? DRAW_TTY_S : DRAW_LINE_S))
		return;
	p->last_draw = now;
	if (p->total >= 0) {
		snprintf(tot, sizeof(tot), "%lld", p->total);
		if (p->total > 0)
			snprintf(pct, sizeof(pct), " %3d%%", (int)(100.0 * (double)p->done / (double)p->total));
		if (rate > 0 && p->total > p->done) {
			char d[24];

			fmt_duration((double)(p->total - p->done) / rate, d, sizeof(d));
			snprintf(eta, sizeof(eta), " ETA %s", d);
		}
	}
	if (p->tty) {
		char bar[BAR_WIDTH + 1];
		int fill = p->total > 0 ? (int)((double)BAR_WIDTH * (double)p->done / (double)p->total) : 0, i;

		for (i = 0; i < BAR_WIDTH; i++)
			bar[i] = i < fill ? '#' : '-';
		bar[BAR_WIDTH] = '\0';
		fprintf(stderr, "\r\033[K%s [%s] %lld/%s%s %.0f/s%s%s%s", p->what, p->total > 0 ? bar : "", p->done,
			tot, pct, rate, eta, p->note[0] ? "  " : "", p->note);
	} else {
		fprintf(stderr, "%s: %lld/%s%s, %.0f/s%s%s%s\n", p->what, p->done, tot, pct, rate, eta,
			p->note[0] ? "; " : "", p->note);
	}
	fflush(stderr);
	p->drawn = true;
}

void progress_pace(struct progress *p, long long n)
{
	if (p->rate > 0) {
		double due = p->t0 + (double)(p->done + n - 1) / p->rate;

		sleep_s(due - now_s());
	}
}

void progress_add(struct progress *p, long long n)
{
	p->done += n;
	draw(p, false);
}

void progress_note(struct progress *p, const char *note)
{
	snprintf(p->note, sizeof(p->note), "%s", note ? note : "");
	draw(p, true);
}

void progress_end(struct progress *p)
{
	p->note[0] = '\0';
	if (p->tty) {
		if (p->drawn) {
			draw(p, true);
			fputc('\n', stderr);
		}
	} else if (p->done > 0 || p->drawn) {
		draw(p, true);
	}
}

int progress_chunk(const struct progress *p, int max)
{
	int n = max;

	if (p->rate > 0) {
		n = (int)ceil(p->rate / 10);
		if (n < 1)
			n = 1;
		if (n > max)
			n = max;
	}
	return n;
}

/* ---- Redis ---- */

redisContext *ctl_redis_connect(const struct cfg *cfg)
{
	struct redis_url u;
	struct timeval tv = { 10, 0 };
	redisContext *c;
	redisReply *r;
	char err[256];

	if (rcmd_parse_url(cfg->redis_url, &u, err, sizeof(err)) < 0) {
		fprintf(stderr, "memctl: %s\n", err);
		return NULL;
	}
	c = u.path[0] ? redisConnectUnixWithTimeout(u.path, tv) : redisConnectWithTimeout(u.host, u.port, tv);
	if (!c || c->err) {
		fprintf(stderr, "memctl: cannot connect to Redis at %s:%d: %s\n", u.path[0] ? u.path : u.host,
			u.path[0] ? 0 : u.port, c ? c->errstr : "out of memory");
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, (struct timeval){ 30, 0 });
	if (u.password[0]) {
		const char *argv[3] = { "AUTH", u.user[0] ? u.user : u.password, u.password };

		r = redisCommandArgv(c, u.user[0] ? 3 : 2, argv, NULL);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			/* the reply names no secret; ours does not either */
			fprintf(stderr, "memctl: Redis AUTH failed: %s\n", r ? r->str : c->errstr);
			freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	if (u.db) {
		r = redisCommand(c, "SELECT %d", u.db);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			fprintf(stderr, "memctl: Redis SELECT %d failed: %s\n", u.db, r ? r->str : c->errstr);
			freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

redisReply *ctl_redis_argv(redisContext *c, const char *what, int argc, const char **argv, const size_t *lens)
{
	redisReply *r = redisCommandArgv(c, argc, argv, lens);

	if (!r) {
		fprintf(stderr, "memctl: %s: %s\n", what, c->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "memctl: %s: %s\n", what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* The group's lag from XINFO GROUPS; -1 when unknown (no group, no stream, nil lag). */
static long long group_lag(redisContext *c, const struct cfg *cfg)
{
	redisReply *r = redisCommand(c, "XINFO GROUPS %s", cfg->stream);
	long long lag = -1;
	size_t i, j;

	for (i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *g = r->element[i];
		bool ours = false;
		long long v = -1;

		for (j = 0; g->type == REDIS_REPLY_ARRAY && j + 1 < g->elements; j += 2) {
			const redisReply *k = g->element[j], *val = g->element[j + 1];

			if (k->type != REDIS_REPLY_STRING)
				continue;
			if (strcmp(k->str, "name") == 0 && val->type == REDIS_REPLY_STRING)
				ours = strcmp(val->str, cfg->group) == 0;
			else if (strcmp(k->str, "lag") == 0 && val->type == REDIS_REPLY_INTEGER)
				v = val->integer;
		}
		if (ours)
			lag = v;
	}
	freeReplyObject(r);
	return lag;
}

bool ctl_wait_lag(redisContext *c, const struct cfg *cfg, long long max_lag, struct progress *p)
{
	bool waited = false;

	if (max_lag <= 0)
		return !interrupted;
	for (;;) {
		long long lag = group_lag(c, cfg);
		char note[96];

		if (interrupted)
			return false;
		if (lag < 0 || lag <= max_lag)
			break;
		snprintf(note, sizeof(note), "waiting for the workers: group lag %lld > --max-lag %lld", lag, max_lag);
		progress_note(p, note);
		waited = true;
		sleep_s(0.5);
	}
	if (waited)
		progress_note(p, NULL);
	return !interrupted;
}

int ctl_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*value = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "memctl: %s needs a value\n", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

int ctl_opt_number(const char *name, const char *value, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || *end || !(v >= 0) || v > max) {
		fprintf(stderr, "memctl: %s: '%s' is not a number in [0, %.0f]\n", name, value, max);
		return -1;
	}
	*out = v;
	return 0;
}

void ctl_shell_word(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(out);
	const char *q;
	bool plain = *s != '\0';

	for (q = s; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		      strchr("-_.:/=+@%,", *q)))
			plain = false;
	if (plain) {
		snprintf(out + n, outlen - n, "%s", s);
		return;
	}
	if (n + 1 < outlen)
		out[n++] = '\'';
	for (q = s; *q && n + 5 < outlen; q++) {
		if (*q == '\'') {
			memcpy(out + n, "'\\''", 4);
			n += 4;
		} else {
			out[n++] = *q;
		}
	}
	if (n + 1 < outlen)
		out[n++] = '\'';
	out[n] = '\0';
}
