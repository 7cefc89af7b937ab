/*
 * memctl replay: re-feed a range of a stream into the ingest stream.
 *
 * Entries are read with XRANGE in pages and XADDed again, pipelined in
 * chunks, each with its idempotency key: its message_id, or the id of the
 * entry replayed (the key the worker gave it). So replaying what was
 * applied changes nothing and costs no model call: the worker finds every
 * key in mem0_ingest_log and acks.
 *
 * --reprocess derives memories again (a new prompt or model): every entry
 * also carries reprocess=<run id>, and the worker (worker/entry.c) keys it
 * <key>#reprocess:<run id>. That key is new, so the message reaches the
 * model again; the same run resumed or replayed twice is still applied once
 * per message. Whatever the model derives lands on the existing rows'
 * guards: an ADD of a text the user already has hits the per-user hash (no
 * row, no history), an UPDATE to the same text is skipped by apply.c (no
 * history row), a NONE is nothing. A reprocess of a range whose facts did
 * not change therefore leaves exactly the memories the first pass gave and
 * adds no history row; a fact the model now reads differently is updated
 * like any live change, with its history row.
 *
 * The range ends at --to/--until or at the stream's last entry when the
 * command starts, whichever is first: replaying a stream into itself never
 * reads its own additions. Ctrl-C stops after the chunk in flight (each
 * XADD is whole) and prints the command that resumes where it stopped.
 */
#include "ctl.h"

#include "cfg.h"
#include "feed.h"
#include "log.h"
#include "progress.h"
#include "rstream.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE     200
#define PAGE_STR "200"

struct replay {
	const struct cfg *cfg;
	redisContext *c;
	const char *src, *dst;
	struct rstream_id from, to;
	bool reprocess, dry;
	char run[72];
	double rate, limit, max_lag;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: memctl replay (--from ID | --since TIME) [--to ID | --until TIME] [--source-stream KEY]\n"
		"                     [--reprocess [--run-id ID]] [--rate N] [--limit N] [--max-lag N] [--dry-run]\n"
		"  --from ID      first entry id (ms or ms-seq; '-' for the stream's start)\n"
		"  --since TIME   entries from TIME: RFC 3339, a date, or an age (90s, 15m, 2h, 7d)\n"
		"  --to ID, --until TIME  last entry (inclusive) / before TIME; default: the last entry now\n"
		"  --source-stream KEY  stream to read (default MEM0_STREAM; a :dlq stream works too);\n"
		"                 entries always go to MEM0_STREAM (--stream sets MEM0_STREAM itself)\n"
		"  --reprocess    derive memories again (a new prompt or model); applied once per run id\n"
		"  --run-id ID    the reprocess run to resume (default: a new one, printed)\n"
		"  --rate N       at most N entries per second\n"
		"  --limit N      stop after N entries (prints how to go on)\n"
		"  --max-lag N    pause while the workers' group lag is above N\n");
}

/* The last entry of src now; false if the stream is empty or missing. */
static bool last_id(redisContext *c, const char *src, bool first, struct rstream_id *out)
{
	const char *argv[] = { first ? "XRANGE" : "XREVRANGE", src, first ? "-" : "+", first ? "+" : "-", "COUNT", "1" };
	redisReply *r = ctl_redis_argv(c, first ? "XRANGE" : "XREVRANGE", 6, argv, NULL);
	bool ok = false;

	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
		const redisReply *id = r->element[0]->element[0];
		ok = id->type == REDIS_REPLY_STRING && rstream_id_parse(id->str, out) == 0;
	}
	freeReplyObject(r);
	return ok;
}

/* Entries in [from, to], by paging (or XLEN when that is the whole stream). -1 on error. */
static long long count_range(struct replay *rp, const struct rstream_id *first, const struct rstream_id *last)
{
	struct rstream_id cur = rp->from;
	char a[RSTREAM_ID_MAX], b[RSTREAM_ID_MAX];
	long long n = 0;

	if (rstream_id_cmp(&rp->from, first) <= 0 && rstream_id_cmp(&rp->to, last) >= 0) {
		const char *argv[] = { "XLEN", rp->src };
		redisReply *r = ctl_redis_argv(rp->c, "XLEN", 2, argv, NULL);

		n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
		freeReplyObject(r);
		return n;
	}
	rstream_id_format(rp->to, b, sizeof(b));
	for (;;) {
		const char *argv[] = { "XRANGE", rp->src, a, b, "COUNT", "1000" };
		redisReply *r;
		size_t k;

		rstream_id_format(cur, a, sizeof(a));
		r = ctl_redis_argv(rp->c, "XRANGE", 6, argv, NULL);
		if (!r)
			return -1;
		k = r->elements;
		n += (long long)k;
		if (k > 0 && rstream_id_parse(r->element[k - 1]->element[0]->str, &cur) == 0)
			cur = rstream_id_next(cur);
		freeReplyObject(r);
		if (k < 1000 || ctl_interrupted())
			return n;
	}
}

static void print_resume(const struct replay *rp, const struct rstream_id *next)
{
	char cmd[1024] = "memctl replay --from ", id[RSTREAM_ID_MAX];

	ctl_shell_word(cmd, sizeof(cmd), rstream_id_format(*next, id, sizeof(id)));
	strncat(cmd, " --to ", sizeof(cmd) - strlen(cmd) - 1);
	ctl_shell_word(cmd, sizeof(cmd), rstream_id_format(rp->to, id, sizeof(id)));
	if (strcmp(rp->src, rp->cfg->stream) != 0) {
		strncat(cmd, " --source-stream ", sizeof(cmd) - strlen(cmd) - 1);
		ctl_shell_word(cmd, sizeof(cmd), rp->src);
	}
	if (rp->reprocess) {
		strncat(cmd, " --reprocess --run-id ", sizeof(cmd) - strlen(cmd) - 1);
		ctl_shell_word(cmd, sizeof(cmd), rp->run);
	}
	fprintf(stderr, "to go on: %s\n", cmd);
}

/*
 * Sends entries[0..n-1] of a page as one pipelined chunk. Returns how many
 * were added before the first failure (n when all were).
 */
static int send_chunk(struct replay *rp, redisReply *const *entries, int n)
{
	int i, ok = n, sent = 0;

	for (i = 0; i < n; i++) {
		const redisReply *id = entries[i]->element[0], *fields = entries[i]->element[1];
		/* a dead letter's key is its original entry's id (replaying a :dlq stream) */
		const redisReply *orig = feed_field(fields, "dlq_entry_id");
		struct feed_cmd f;

		feed_build(&f, rp->dst, fields, orig ? orig->str : id->str, rp->reprocess ? rp->run : NULL);
		if (redisAppendCommandArgv(rp->c, f.argc, f.argv, f.lens) == REDIS_OK)
			sent++;
		feed_free(&f);
		if (sent != i + 1)
			break;
	}
	for (i = 0; i < sent; i++) {
		redisReply *r = NULL;

		if (redisGetReply(rp->c, (void **)&r) != REDIS_OK) {
			fprintf(stderr, "memctl replay: XADD: %s\n", rp->c->errstr);
			return i < ok ? i : ok; /* the connection is gone: nothing after this is known */
		}
		if (r->type == REDIS_REPLY_ERROR && i < ok) {
			fprintf(stderr, "memctl replay: XADD of %s: %s\n", entries[i]->element[0]->str, r->str);
			ok = i;
		}
		freeReplyObject(r);
	}
	return sent < ok ? sent : ok;
}

int ctl_replay(const struct cfg *cfg, int argc, char **argv)
{
	struct replay rp = { .cfg = cfg, .src = cfg->stream, .dst = cfg->stream };
	const char *from = NULL, *since = NULL, *to = NULL, *until = NULL, *run = NULL, *v;
	struct rstream_id first, last, cur, done_to = { 0, 0 };
	struct progress p;
	char err[256], a[RSTREAM_ID_MAX], b[RSTREAM_ID_MAX];
	long long total, sent = 0;
	bool failed = false, stopped = false, any = false;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if ((rc = ctl_opt(argc, argv, &i, "--from", &from)) ||
		    (rc = ctl_opt(argc, argv, &i, "--since", &since)) || (rc = ctl_opt(argc, argv, &i, "--to", &to)) ||
		    (rc = ctl_opt(argc, argv, &i, "--until", &until)) ||
		    (rc = ctl_opt(argc, argv, &i, "--source-stream", &rp.src)) ||
		    (rc = ctl_opt(argc, argv, &i, "--run-id", &run))) {
			if (rc < 0)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--rate", &v))) {
			if (rc < 0 || ctl_opt_number("--rate", v, 1e9, &rp.rate) < 0)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--limit", &v))) {
			if (rc < 0 || ctl_opt_number("--limit", v, 1e15, &rp.limit) < 0)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--max-lag", &v))) {
			if (rc < 0 || ctl_opt_number("--max-lag", v, 1e15, &rp.max_lag) < 0)
				return 2;
		} else if (strcmp(argv[i], "--reprocess") == 0) {
			rp.reprocess = true;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			rp.dry = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "memctl replay: unexpected argument '%s'\n", argv[i]);
			usage();
			return 2;
		}
	}
	if (!from == !since) {
		fprintf(stderr, "memctl replay: give one of --from ID (or --from - for everything) and --since TIME\n");
		return 2;
	}
	if (to && until) {
		fprintf(stderr, "memctl replay: --to and --until exclude each other\n");
		return 2;
	}
	if (run && !rp.reprocess) {
		fprintf(stderr, "memctl replay: --run-id goes with --reprocess\n");
		return 2;
	}
	if (from && strcmp(from, "-") == 0) {
		rp.from = (struct rstream_id){ 0, 0 };
	} else if (from && rstream_id_parse(from, &rp.from) < 0) {
		fprintf(stderr, "memctl replay: --from: '%s' is not a stream id (ms or ms-seq)\n", from);
		return 2;
	} else if (since) {
		long long ms;

		if (rstream_parse_time(since, rstream_now_ms(), &ms, err, sizeof(err)) < 0) {
			fprintf(stderr, "memctl replay: --since: %s\n", err);
			return 2;
		}
		rp.from = (struct rstream_id){ (unsigned long long)ms, 0 };
	}
	rp.to = (struct rstream_id){ ULLONG_MAX, ULLONG_MAX };
	if (to && strcmp(to, "+") != 0) {
		if (rstream_id_parse(to, &rp.to) < 0) {
			fprintf(stderr, "memctl replay: --to: '%s' is not a stream id (ms or ms-seq)\n", to);
			return 2;
		}
		if (!strchr(to, '-'))
			rp.to.seq = ULLONG_MAX; /* a bare millisecond means all of it */
	} else if (until) {
		long long ms;

		if (rstream_parse_time(until, rstream_now_ms(), &ms, err, sizeof(err)) < 0) {
			fprintf(stderr, "memctl replay: --until: %s\n", err);
			return 2;
		}
		rp.to = ms > 0 ? (struct rstream_id){ (unsigned long long)ms - 1, ULLONG_MAX }
			       : (struct rstream_id){ 0, 0 };
	}
	if (rp.reprocess) {
		if (run) {
			snprintf(rp.run, sizeof(rp.run), "%s", run);
		} else {
			time_t t = time(NULL);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(rp.run, sizeof(rp.run), "%Y%m%dT%H%M%SZ", &tm);
		}
		if (strlen(rp.run) > 64 ||
		    strspn(rp.run, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") !=
			    strlen(rp.run)) {
			fprintf(stderr, "memctl replay: --run-id: 1-64 letters, digits, '.', '_', ':' or '-'\n");
			return 2;
		}
	}

	rp.c = ctl_redis_connect(cfg);
	if (!rp.c)
		return 1;
	if (!last_id(rp.c, rp.src, false, &last) || !last_id(rp.c, rp.src, true, &first)) {
		printf("replay: %s is empty: nothing to replay\n", rp.src);
		redisFree(rp.c);
		return 0;
	}
	/* entries added from now on, ours included, are not part of the range */
	if (rstream_id_cmp(&last, &rp.to) < 0)
		rp.to = last;
	if (rstream_id_cmp(&rp.from, &rp.to) > 0) {
		printf("replay: no entry of %s in that range\n", rp.src);
		redisFree(rp.c);
		return 0;
	}
	ctl_trap_interrupt();
	total = count_range(&rp, &first, &last);
	if (total < 0) {
		redisFree(rp.c);
		return 1;
	}
	if (rp.limit > 0 && total > (long long)rp.limit)
		total = (long long)rp.limit;
	if (rp.reprocess && !rp.dry)
		fprintf(stderr, "replay: reprocess run %s (resume it with --run-id %s)\n", rp.run, rp.run);
	progress_init(&p, rp.dry ? "replay (dry run)" : "replay", total, rp.rate);

	cur = rp.from;
	rstream_id_format(rp.to, b, sizeof(b));
	while (!failed && !stopped) {
		const char *xr[] = { "XRANGE", rp.src, a, b, "COUNT", PAGE_STR };
		redisReply *page;
		size_t k = 0;

		rstream_id_format(cur, a, sizeof(a));
		page = ctl_redis_argv(rp.c, "XRANGE", 6, xr, NULL);
		if (!page) {
			failed = true;
			break;
		}
		if (page->elements == 0) {
			freeReplyObject(page);
			break;
		}
		while (k < page->elements) {
			int n = progress_chunk(&p, PAGE), got;

			if (rp.limit > 0 && sent >= (long long)rp.limit) {
				stopped = true;
				break;
			}
			if (!ctl_wait_lag(rp.c, cfg, (long long)rp.max_lag, &p)) {
				stopped = true;
				break;
			}
			if ((size_t)n > page->elements - k)
				n = (int)(page->elements - k);
			if (rp.limit > 0 && n > (long long)rp.limit - sent)
				n = (int)((long long)rp.limit - sent);
			progress_pace(&p, n);
			got = rp.dry ? n : send_chunk(&rp, page->element + k, n);
			if (got > 0) {
				any = true;
				if (rstream_id_parse(page->element[k + (size_t)got - 1]->element[0]->str, &done_to) < 0)
					failed = true;
			}
			sent += got;
			progress_add(&p, got);
			k += (size_t)got;
			if (got < n)
				failed = true;
			if (failed || ctl_interrupted()) {
				stopped = true;
				break;
			}
		}
		if (!stopped && rstream_id_parse(page->element[page->elements - 1]->element[0]->str, &cur) == 0)
			cur = rstream_id_next(cur);
		k = page->elements;
		freeReplyObject(page);
		if (k < PAGE)
			break;
	}
	progress_end(&p);
	if (rp.dry)
		printf("replay (dry run): %lld entries of %s would be re-fed to %s%s%s\n", sent, rp.src, rp.dst,
		       rp.reprocess ? " for reprocess run " : "", rp.reprocess ? rp.run : "");
	else
		printf("replay: %lld entries of %s re-fed to %s%s%s\n", sent, rp.src, rp.dst,
		       rp.reprocess ? ", reprocess run " : "", rp.reprocess ? rp.run : "");
	if (stopped || failed) {
		struct rstream_id next = any ? rstream_id_next(done_to) : rp.from;

		if (rstream_id_cmp(&next, &rp.to) <= 0 && !rp.dry)
			print_resume(&rp, &next);
	}
	redisFree(rp.c);
	if (failed)
		return 1;
	return ctl_interrupted() ? 130 : 0;
}
