/*
 * rstream: stream ids, operator time expressions, the trim script's reply;
 * and the reprocess key the worker derives from an entry (worker/entry.c).
 */
#include "entry.h"
#include "rstream.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

Test(rstream, ids_parse_compare_and_step)
{
	struct rstream_id a, b;
	char buf[RSTREAM_ID_MAX];

	cr_assert_eq(rstream_id_parse("1714567890123-7", &a), 0);
	cr_expect_eq(a.ms, 1714567890123ULL);
	cr_expect_eq(a.seq, 7);
	cr_assert_eq(rstream_id_parse("42", &b), 0);
	cr_expect_eq(b.seq, 0, "a bare millisecond is its first entry");
	cr_expect_lt(rstream_id_cmp(&b, &a), 0);
	cr_expect_eq(rstream_id_cmp(&a, &a), 0);
	cr_expect_str_eq(rstream_id_format(rstream_id_next(a), buf, sizeof(buf)), "1714567890123-8");
	a.seq = ULLONG_MAX;
	cr_expect_str_eq(rstream_id_format(rstream_id_next(a), buf, sizeof(buf)), "1714567890124-0");
	cr_expect_eq(rstream_id_parse("", &a), -1);
	cr_expect_eq(rstream_id_parse("-1-0", &a), -1);
	cr_expect_eq(rstream_id_parse("12-", &a), -1);
	cr_expect_eq(rstream_id_parse("12-x", &a), -1);
	cr_expect_eq(rstream_id_parse(" 12-1", &a), -1);
	cr_expect_eq(rstream_id_parse("99999999999999999999999-0", &a), -1);
}

Test(rstream, times_rfc3339_dates_ages_and_epoch)
{
	long long now = 1714567890123LL, ms;
	char err[256], buf[40];

	cr_assert_eq(rstream_parse_time("2024-05-01T12:00:00Z", now, &ms, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ms, 1714564800000LL);
	cr_assert_eq(rstream_parse_time("2024-05-01T14:00:00.250+02:00", now, &ms, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ms, 1714564800250LL);
	cr_assert_eq(rstream_parse_time("2024-05-01", now, &ms, err, sizeof(err)), 0);
	cr_expect_eq(ms, 1714521600000LL);
	cr_assert_eq(rstream_parse_time("2h", now, &ms, err, sizeof(err)), 0);
	cr_expect_eq(ms, now - 7200000LL);
	cr_assert_eq(rstream_parse_time("7d", now, &ms, err, sizeof(err)), 0);
	cr_expect_eq(ms, now - 7 * 86400000LL);
	cr_assert_eq(rstream_parse_time("90s", now, &ms, err, sizeof(err)), 0);
	cr_expect_eq(ms, now - 90000);
	cr_assert_eq(rstream_parse_time("1714564800000", now, &ms, err, sizeof(err)), 0);
	cr_expect_eq(ms, 1714564800000LL);
	cr_expect_eq(rstream_parse_time("yesterday", now, &ms, err, sizeof(err)), -1);
	cr_expect(strstr(err, "RFC 3339") != NULL, "%s", err);
	cr_expect_eq(rstream_parse_time("2024-05-01T12:00:00", now, &ms, err, sizeof(err)), -1, "offset required");
	cr_expect_eq(rstream_parse_time("2024-13-01", now, &ms, err, sizeof(err)), -1);
	cr_expect_eq(rstream_parse_time("5y", now, &ms, err, sizeof(err)), -1);
	cr_expect_str_eq(rstream_format_time(1714564800250LL, buf, sizeof(buf)), "2024-05-01T12:00:00.250Z");
}

Test(rstream, trim_reply)
{
	redisReply n = { .type = REDIS_REPLY_INTEGER, .integer = 5 };
	redisReply id = { .type = REDIS_REPLY_STRING, .str = (char *)"1000-2", .len = 6 };
	redisReply why = { .type = REDIS_REPLY_STRING, .str = (char *)"age", .len = 3 };
	redisReply *els[3] = { &n, &id, &why };
	redisReply arr = { .type = REDIS_REPLY_ARRAY, .elements = 3, .element = els };
	redisReply e = { .type = REDIS_REPLY_ERROR, .str = (char *)"NOSCRIPT x", .len = 10 };
	struct rstream_trim t;
	char err[128];

	cr_assert_eq(rstream_trim_parse(&arr, &t, err, sizeof(err)), 0);
	cr_expect_eq(t.deleted, 5);
	cr_expect_str_eq(t.minid, "1000-2");
	cr_expect_str_eq(t.why, "age");
	cr_expect_eq(rstream_trim_parse(&e, &t, err, sizeof(err)), -1);
	cr_expect_str_eq(err, "NOSCRIPT x");
	cr_expect_eq(rstream_trim_parse(NULL, &t, err, sizeof(err)), -1);
}

static int parse(struct entry *e, char *reason, const char *const *kv)
{
	static const struct entry_limits lim = { .max_content_bytes = 1024 };
	size_t lens[32];
	int n = 0;

	while (kv[n]) {
		lens[n] = strlen(kv[n]);
		n++;
	}
	return entry_parse(e, "1700000000000-0", kv, lens, n, &lim, reason, 256);
}

Test(reprocess, key_gets_the_run_suffix)
{
	struct entry e;
	char reason[256] = "";
	const char *with_id[] = { "user_db_id", "1", "session_id", "s", "content", "I like tea.", "message_id", "m1",
				  "reprocess", "20240501T120000Z", NULL };
	const char *without[] = { "user_db_id", "1", "session_id", "s", "content", "I like tea.", "reprocess", "r:2",
				  NULL };
	const char *bad[] = { "user_db_id", "1", "session_id", "s", "content", "I like tea.", "reprocess", "a b",
			      NULL };
	const char *empty[] = { "user_db_id", "1", "session_id", "s", "content", "I like tea.", "reprocess", "",
				NULL };

	cr_assert_eq(parse(&e, reason, with_id), 0, "%s", reason);
	cr_expect_str_eq(e.message_key, "m1#reprocess:20240501T120000Z");
	entry_free(&e);
	cr_assert_eq(parse(&e, reason, without), 0, "%s", reason);
	cr_expect_str_eq(e.message_key, "1700000000000-0#reprocess:r:2");
	entry_free(&e);
	cr_expect_eq(parse(&e, reason, bad), -1);
	cr_expect(strstr(reason, "reprocess:") == reason, "%s", reason);
	entry_free(&e);
	cr_assert_eq(parse(&e, reason, empty), 0, "an empty run id is no reprocess: %s", reason);
	cr_expect_str_eq(e.message_key, "1700000000000-0");
	entry_free(&e);
}
