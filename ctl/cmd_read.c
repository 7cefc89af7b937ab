/*
 * memctl search / get-all / history / stats: the read path from the
 * operator's terminal, through the same request/reply protocol as the chat
 * backend (XADD to MEM0_SEARCH_STREAM, BLPOP on a reply key of our own), so
 * they exercise the real memsearch path. Blocking hiredis, no loop; output
 * is a readable table, or the reply itself with --json.
 */
#include "ctl.h"
#include "progress.h"

#include "cfg.h"
#include "rcmd.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 5000
#define MEMORY_COLUMN_CHARS 70

/* What the command line asked for. */
struct read_args {
	const char *op;
	const char *user;
	const char *session;
	const char *limit;
	const char *offset;
	const char *threshold;
	const char *filters;
	const char *memory_id;
	char *query;			/* words joined by spaces, malloc'd */
	long timeout_ms;
	bool json;
};

static long long epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage_of(const char *cmd)
{
	if (strcmp(cmd, "search") == 0)
		fprintf(stderr, "usage: memctl search --user N [--session S] [--limit L] [--threshold T] "
				"[--filters JSON] [--json] [--timeout-ms MS] QUERY...\n");
	else if (strcmp(cmd, "get-all") == 0)
		fprintf(stderr, "usage: memctl get-all --user N [--session S] [--limit L] [--offset O] [--json] "
				"[--timeout-ms MS]\n");
	else if (strcmp(cmd, "history") == 0)
		fprintf(stderr, "usage: memctl history MEMORY_ID --user N [--json] [--timeout-ms MS]\n");
	else
		fprintf(stderr, "usage: memctl stats --user N [--json] [--timeout-ms MS]\n");
	return 2;
}

/* Options anywhere; what is left is positional. Returns 0 or 2 (usage). */
static int parse_args(int argc, char **argv, struct read_args *a, const char **pos, int *npos)
{
	int i;
	size_t qlen = 0;

	*npos = 0;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	for (i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = NULL;
		const char **dst = NULL;

		if (strcmp(opt, "--json") == 0) {
			a->json = true;
			continue;
		}
		if (strcmp(opt, "--") == 0) {
			while (++i < argc)
				pos[(*npos)++] = argv[i];
			break;
		}
		if (strncmp(opt, "--", 2) != 0) {
			pos[(*npos)++] = opt;
			continue;
		}
		if (strcmp(opt, "--user") == 0)
			dst = &a->user;
		else if (strcmp(opt, "--session") == 0)
			dst = &a->session;
		else if (strcmp(opt, "--limit") == 0)
			dst = &a->limit;
		else if (strcmp(opt, "--offset") == 0)
			dst = &a->offset;
		else if (strcmp(opt, "--threshold") == 0)
			dst = &a->threshold;
		else if (strcmp(opt, "--filters") == 0)
			dst = &a->filters;
		else if (strcmp(opt, "--timeout-ms") != 0) {
			fprintf(stderr, "memctl %s: unknown option %s\n", argv[0], opt);
			return 2;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "memctl %s: %s needs a value\n", argv[0], opt);
			return 2;
		}
		val = argv[++i];
		if (dst) {
			*dst = val;
		} else {
			char *end;

			a->timeout_ms = strtol(val, &end, 10);
			if (*val == '\0' || *end != '\0' || a->timeout_ms < 1 || a->timeout_ms > 3600000) {
				fprintf(stderr, "memctl %s: --timeout-ms must be from 1 to 3600000\n", argv[0]);
				return 2;
			}
		}
	}
	if (!a->user) {
		fprintf(stderr, "memctl %s: --user is required (the user's database id)\n", argv[0]);
		return 2;
	}
	if (strcmp(a->op, "search") == 0) {
		if (*npos == 0)
			return usage_of(argv[0]);
		for (i = 0; i < *npos; i++)
			qlen += strlen(pos[i]) + 1;
		a->query = calloc(1, qlen + 1);
		if (!a->query)
			return 2;
		for (i = 0; i < *npos; i++) {
			if (i)
				strcat(a->query, " ");
			strcat(a->query, pos[i]);
		}
	} else if (strcmp(a->op, "history") == 0) {
		if (*npos != 1)
			return usage_of(argv[0]);
		a->memory_id = pos[0];
	} else if (*npos != 0) {
		return usage_of(argv[0]);
	}
	return 0;
}

static redisContext *redis_connect(const struct cfg *cfg, long timeout_ms)
{
	redisContext *c = ctl_redis_connect(cfg);
	struct timeval tv;

	if (!c)
		return NULL;
	/* BLPOP blocks up to the request's timeout: the socket waits a little longer */
	tv.tv_sec = (timeout_ms + 2000) / 1000;
	tv.tv_usec = ((timeout_ms + 2000) % 1000) * 1000;
	redisSetTimeout(c, tv);
	return c;
}

/* Fields the user did not give are not sent: memsearch applies its defaults. */
static void add_field(const char **argv, int *argc, const char *name, const char *value)
{
	if (!value)
		return;
	argv[(*argc)++] = name;
	argv[(*argc)++] = value;
}

/* XADD the request, BLPOP the answer. Returns the reply text (malloc'd) or NULL after printing why. */
static char *round_trip(const struct cfg *cfg, const struct read_args *a)
{
	const char *argv[40];
	char key[160], host[64] = "host", rid[96], deadline[32], secs[32];
	redisContext *c = redis_connect(cfg, a->timeout_ms);
	redisReply *r;
	char *out = NULL;
	int argc = 0;

	if (!c)
		return NULL;
	gethostname(host, sizeof(host) - 1);
	srand((unsigned)(epoch_ms() ^ getpid()));
	snprintf(key, sizeof(key), "mem0:reply:memctl:%s:%d:%d", host, (int)getpid(), rand());
	snprintf(rid, sizeof(rid), "memctl-%d-%lld", (int)getpid(), epoch_ms());
	snprintf(deadline, sizeof(deadline), "%lld", epoch_ms() + a->timeout_ms);
	argv[argc++] = "XADD";
	argv[argc++] = cfg->search_stream;
	argv[argc++] = "*";
	add_field(argv, &argc, "op", a->op);
	add_field(argv, &argc, "user_db_id", a->user);
	add_field(argv, &argc, "query", a->query);
	add_field(argv, &argc, "session_id", a->session);
	add_field(argv, &argc, "limit", a->limit);
	add_field(argv, &argc, "offset", a->offset);
	add_field(argv, &argc, "threshold", a->threshold);
	add_field(argv, &argc, "filters", a->filters);
	add_field(argv, &argc, "memory_id", a->memory_id);
	add_field(argv, &argc, "reply_to", key);
	add_field(argv, &argc, "request_id", rid);
	add_field(argv, &argc, "deadline_ms", deadline);
	r = redisCommandArgv(c, argc, argv, NULL);
	if (!r || r->type != REDIS_REPLY_STRING) {
		fprintf(stderr, "memctl: XADD to %s failed: %s\n", cfg->search_stream,
			r && r->str ? r->str : c->errstr);
		goto out;
	}
	freeReplyObject(r);
	snprintf(secs, sizeof(secs), "%.3f", (double)a->timeout_ms / 1000.0);
	r = redisCommand(c, "BLPOP %s %s", key, secs);
	if (!r) {
		fprintf(stderr, "memctl: BLPOP failed: %s\n", c->errstr);
		goto out;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING)
		out = strdup(r->element[1]->str);
	else
		fprintf(stderr, "memctl: no answer within %ld ms: is memsearch running on %s (group %s)?\n",
			a->timeout_ms, cfg->search_stream, cfg->search_group);
out:
	freeReplyObject(r);
	redisFree(c);
	return out;
}

/* ---- tables ---- */

static const char *str_of(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Prints at most max characters of s (UTF-8 aware), newlines as spaces, "…" if cut. */
static void print_clipped(const char *s, int max)
{
	int chars = 0;
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int len = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : 4;

		if (chars == max) {
			fputs("…", stdout);
			return;
		}
		if (*p == '\n' || *p == '\r' || *p == '\t')
			putchar(' ');
		else
			fwrite(p, 1, (size_t)len, stdout);
		while (len-- > 0 && *p)
			p++;
		chars++;
	}
}

/* "2024-01-02T03:04:05.000Z" -> "2024-01-02 03:04:05" */
static void print_time(const char *t)
{
	printf("%.10s %.8s", t, strlen(t) > 11 ? t + 11 : "");
}

static void print_memories(const json_t *results, bool scored)
{
	size_t i;
	json_t *m;

	if (scored)
		printf("%-6s  ", "SCORE");
	printf("%-36s  %-16s  %-19s  %s\n", "ID", "SESSION", "CREATED (UTC)", "MEMORY");
	json_array_foreach(results, i, m) {
		if (scored)
			printf("%-6.3f  ", json_number_value(json_object_get(m, "score")));
		printf("%-36s  %-16.16s  ", str_of(m, "id"), str_of(m, "session_id"));
		print_time(str_of(m, "created_at"));
		printf("  ");
		print_clipped(str_of(m, "memory"), MEMORY_COLUMN_CHARS);
		putchar('\n');
	}
}

static void print_history(const json_t *results)
{
	size_t i;
	json_t *h;

	printf("%-8s  %-8s  %-19s  %s\n", "ID", "ACTION", "AT (UTC)", "CHANGE");
	json_array_foreach(results, i, h) {
		const char *prev = str_of(h, "previous_content"), *next = str_of(h, "new_content");

		printf("%-8lld  %-8s  ", (long long)json_integer_value(json_object_get(h, "id")), str_of(h, "action"));
		print_time(str_of(h, "created_at"));
		printf("  ");
		if (*prev && *next) {
			print_clipped(prev, MEMORY_COLUMN_CHARS / 2);
			printf(" -> ");
			print_clipped(next, MEMORY_COLUMN_CHARS / 2);
		} else {
			print_clipped(*next ? next : prev, MEMORY_COLUMN_CHARS);
		}
		putchar('\n');
	}
}

static void print_stats(const json_t *s)
{
	const char *last = str_of(s, "last_memory_at");

	printf("total_memories  %lld\n", (long long)json_integer_value(json_object_get(s, "total_memories")));
	printf("last_memory_at  %s\n", *last ? last : "-");
	printf("history_rows    %lld\n", (long long)json_integer_value(json_object_get(s, "history_rows")));
}

static int run_read(const struct cfg *cfg, const char *op, int argc, char **argv)
{
	struct read_args a = { .op = op };
	const char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	char *text = NULL;
	json_t *reply = NULL, *results;
	json_error_t jerr;
	int npos, rc;

	if (!pos)
		return 1;
	rc = parse_args(argc, argv, &a, pos, &npos);
	if (rc != 0)
		goto out;
	rc = 1;
	text = round_trip(cfg, &a);
	if (!text)
		goto out;
	if (a.json) {
		printf("%s\n", text);
		reply = json_loads(text, 0, &jerr);
		rc = json_is_true(json_object_get(reply, "ok")) ? 0 : 1;
		goto out;
	}
	reply = json_loads(text, 0, &jerr);
	if (!reply) {
		fprintf(stderr, "memctl: the reply is not JSON (%s): %s\n", jerr.text, text);
		goto out;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const json_t *e = json_object_get(reply, "error");

		fprintf(stderr, "memctl %s: %s: %s\n", argv[0], str_of(e, "code"), str_of(e, "message"));
		goto out;
	}
	results = json_object_get(reply, "results");
	if (strcmp(op, "stats") == 0)
		print_stats(results);
	else if (strcmp(op, "history") == 0)
		print_history(results);
	else
		print_memories(results, strcmp(op, "search") == 0);
	if (json_is_array(results))
		printf("(%zu result%s, %.3f ms in memsearch)\n", json_array_size(results),
		       json_array_size(results) == 1 ? "" : "s", json_number_value(json_object_get(reply, "took_ms")));
	rc = 0;
out:
	json_decref(reply);
	free(text);
	free(a.query);
	free(pos);
	return rc;
}

int ctl_search(const struct cfg *cfg, int argc, char **argv)
{
	return run_read(cfg, "search", argc, argv);
}

int ctl_get_all(const struct cfg *cfg, int argc, char **argv)
{
	return run_read(cfg, "get_all", argc, argv);
}

int ctl_history(const struct cfg *cfg, int argc, char **argv)
{
	return run_read(cfg, "history", argc, argv);
}

int ctl_stats(const struct cfg *cfg, int argc, char **argv)
{
	return run_read(cfg, "stats", argc, argv);
}
