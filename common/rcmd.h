/*
 * rcmd: one reconnecting hiredis async connection on a libevent base.
 *
 * Owns the redisAsyncContext and re-creates it with capped exponential
 * backoff after Redis goes away; AUTH and SELECT from the URL are sent first
 * on every connect. A daemon keeps two: one only for XREADGROUP/BLPOP ...
 * BLOCK (cmd_timeout_ms 0 or longer than BLOCK), one with a command timeout
 * for everything else (STYLE.md: a blocked client holds every command behind
 * it).
 */
#ifndef MW_RCMD_H
#define MW_RCMD_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct rcmd;

/* reply is NULL on error, timeout or disconnect (errstr says which); it is
 * freed by hiredis when the callback returns: copy out what you keep. */
typedef void (*rcmd_reply_cb)(void *arg, redisReply *reply, const char *errstr);
/* Called on every connect (after AUTH/SELECT) and every disconnect. */
typedef void (*rcmd_state_cb)(void *arg, bool connected);

struct redis_url {
	char host[256];
	int port;
	char path[256];		/* unix:// socket path, else empty */
	char user[128];
	char password[256];
	int db;
	bool tls;
};

/* Parses redis://[user[:password]@]host[:port][/db], rediss://, unix://path[?db=N]. */
int rcmd_parse_url(const char *url, struct redis_url *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Starts connecting at once; state_cb may be NULL. name appears in logs. */
struct rcmd *rcmd_new(struct event_base *base, const struct redis_url *url, int cmd_timeout_ms, const char *name,
		      rcmd_state_cb state_cb, void *arg);

/*
 * Sends one command. Returns 0 and cb fires exactly once later (never inside
 * this call), or -1 while disconnected (cb never fires). argv is copied.
 */
int rcmd_command(struct rcmd *r, int argc, const char **argv, const size_t *lens, rcmd_reply_cb cb, void *arg)
	__attribute__((warn_unused_result));

bool rcmd_connected(const struct rcmd *r);
/* Commands sent and not yet answered. */
int rcmd_pending(const struct rcmd *r);

/* Disconnects; pending callbacks fire with reply NULL ("shutting down"). */
void rcmd_free(struct rcmd *r);

/* Small helpers over a redisReply. */
const redisReply *rcmd_elem(const redisReply *r, size_t i);
bool rcmd_is_error(const redisReply *r);

#endif
