/*
 * log: see log.h. Lines go to stderr in one write(2) each so that lines of
 * concurrent processes (replicas under one supervisor) do not interleave.
 */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level cur_level = LOG_INFO;
static enum log_format cur_format = LOG_TEXT;
static char cur_component[32] = "memworker";

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_setup(enum log_level level, enum log_format format, const char *component)
{
	cur_level = level;
	cur_format = format;
	if (component)
		snprintf(cur_component, sizeof(cur_component), "%s", component);
}

bool log_enabled(enum log_level level)
{
	return level <= cur_level;
}

static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void log_write(enum log_level level, int64_t user_db_id, const char *entry, const char *fmt, ...)
{
	char msg[4096], ts[40], line[4608];
	struct timespec now;
	struct tm tm;
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);

	if (cur_format == LOG_JSON) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ts", ts, "level", level_names[level],
				      "component", cur_component, "pid", (int)getpid(), "msg", msg);
		char *s;

		if (!o)
			return;
		if (user_db_id >= 0)
			json_object_set_new(o, "user_db_id", json_integer(user_db_id));
		if (entry)
			json_object_set_new(o, "entry", json_string(entry));
		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (!s)
			return;
		n = snprintf(line, sizeof(line), "%s\n", s);
		free(s);
	} else {
		char ctx[96] = "";

		if (user_db_id >= 0 && entry)
			snprintf(ctx, sizeof(ctx), " user=%lld entry=%s", (long long)user_db_id, entry);
		else if (user_db_id >= 0)
			snprintf(ctx, sizeof(ctx), " user=%lld", (long long)user_db_id);
		else if (entry)
			snprintf(ctx, sizeof(ctx), " entry=%s", entry);
		n = snprintf(line, sizeof(line), "%s %s[%d] %s%s: %s\n", ts, cur_component, (int)getpid(),
			     level_names[level], ctx, msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	write_all(line, (size_t)n);
}

char *log_redact_url(const char *url, char *out, size_t outlen)
{
	const char *scheme, *at, *colon, *kw;
	size_t len = 0;

	if (outlen == 0)
		return out;
	if (!url)
		url = "";
	snprintf(out, outlen, "%s", url);

	scheme = strstr(url, "://");
	if (scheme) {
		const char *auth = scheme + 3;
		const char *end = auth + strcspn(auth, "/?#");

		at = memchr(auth, '@', (size_t)(end - auth));
		if (at) {
			/* the last '@' before the path ends the credentials */
			const char *p;
			for (p = at; p < end; p++)
				if (*p == '@')
					at = p;
			colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				len = (size_t)(colon + 1 - url);
				snprintf(out, outlen, "%.*s***%s", (int)len, url, at);
			}
		}
		return out;
	}
	/* libpq keyword/value string: password=secret or password='se cret' */
	kw = strstr(url, "password");
	if (kw) {
		const char *v = kw + strlen("password");
		const char *rest;

		while (*v == ' ')
			v++;
		if (*v != '=')
			return out;
		v++;
		while (*v == ' ')
			v++;
		if (*v == '\'') {
			rest = v + 1;
			while (*rest && *rest != '\'') {
				if (*rest == '\\' && rest[1])
					rest++;
				rest++;
			}
			if (*rest)
				rest++;
		} else {
			rest = v + strcspn(v, " ");
		}
		snprintf(out, outlen, "%.*s***%s", (int)(v - url), url, rest);
	}
	return out;
}

static void oom(size_t n)
{
	log_error("out of memory allocating %zu bytes", n);
	abort();
}

void *mw_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *mw_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *mw_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *mw_strdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		oom(strlen(s));
	return p;
}

char *mw_strndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom(n);
	return p;
}
