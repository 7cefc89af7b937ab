/*
 * memctl trim: remove old entries from the ingest stream without ever
 * dropping one a consumer group still needs. The decision and the XTRIM run
 * in one Lua script inside Redis (common/rstream.h): MINID is the smaller of
 * the time cutoff and, for every group, its oldest pending entry or (none
 * pending) the entry after its last-delivered id. No worker can read, ack or
 * claim in between. A stream no group reads is left alone; --dlq trims the
 * dead-letter stream (which no group reads) by age alone.
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"
#include "progress.h"
#include "rstream.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: memctl trim --keep-days N [--dlq] [--dry-run] [--json]\n"
			"  removes entries older than N days from MEM0_STREAM, except any entry still pending\n"
			"  or not yet delivered to a consumer group; --dlq: the dead-letter stream instead\n");
}

/* Entries below minid (a dry run's answer). */
static long long count_below(redisContext *c, const char *stream, const char *minid)
{
	char from[RSTREAM_ID_MAX + 1] = "-", to[RSTREAM_ID_MAX + 2];
	long long n = 0;

	snprintf(to, sizeof(to), "(%s", minid);
	for (;;) {
		const char *argv[] = { "XRANGE", stream, from, to, "COUNT", "1000" };
		redisReply *r = ctl_redis_argv(c, "XRANGE", 6, argv, NULL);
		size_t k;

		if (!r)
			return -1;
		k = r->elements;
		n += (long long)k;
		if (k > 0)
			snprintf(from, sizeof(from), "(%s", r->element[k - 1]->element[0]->str);
		freeReplyObject(r);
		if (k < 1000)
			return n;
	}
}

int ctl_trim(const struct cfg *cfg, int argc, char **argv)
{
	const char *v = NULL;
	double days = -1;
	bool dlq = false, dry = false, json = false;
	char keep[32], stream[512], err[256];
	struct rstream_trim t;
	redisContext *c;
	redisReply *r;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if ((rc = ctl_opt(argc, argv, &i, "--keep-days", &v))) {
			if (rc < 0 || ctl_opt_number("--keep-days", v, 36500, &days) < 0)
				return 2;
		} else if (strcmp(argv[i], "--dlq") == 0) {
			dlq = true;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			dry = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "memctl trim: unexpected argument '%s'\n", argv[i]);
			usage();
			return 2;
		}
	}
	if (days < 0) {
		usage();
		return 2;
	}
	snprintf(stream, sizeof(stream), "%s%s", cfg->stream, dlq ? ":dlq" : "");
	snprintf(keep, sizeof(keep), "%.0f", days * 86400000.0);
	c = ctl_redis_connect(cfg);
	if (!c)
		return 1;
	{
		const char *ev[] = { "EVAL", rstream_trim_script, "1", stream, keep, dry ? "dry" : "exact",
				     dlq ? "1" : "0" };

		r = redisCommandArgv(c, 7, ev, NULL);
	}
	if (rstream_trim_parse(r, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "memctl trim: %s\n", r ? err : c->errstr);
		freeReplyObject(r);
		redisFree(c);
		return 1;
	}
	freeReplyObject(r);
	if (dry && t.minid[0])
		t.deleted = count_below(c, stream, t.minid);
	redisFree(c);
	if (json) {
		json_t *o = json_pack("{s:s, s:b, s:I, s:s, s:s}", "stream", stream, "dry_run", dry, "deleted",
				      (json_int_t)t.deleted, "minid", t.minid, "limited_by", t.why);
		char *s = json_dumps(o, JSON_COMPACT);

		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else if (!t.minid[0]) {
		printf("trim: nothing done on %s: %s\n", stream, t.why);
	} else {
		printf("trim: %lld entries of %s %s (everything before %s; limited by %s)\n", t.deleted, stream,
		       dry ? "would be removed" : "removed", t.minid, t.why);
	}
	return 0;
}
