/*
 * Ingest entry validation: every field rule, with the reason naming the field.
 */
#include "entry.h"

#include <criterion/criterion.h>
#include <string.h>

static const struct entry_limits lim = { .max_content_bytes = 64 };

/* Parses NULL-terminated name/value pairs. */
static int parse(struct entry *e, char *reason, const char *const *kv)
{
	size_t lens[64];
	int n = 0;

	while (kv[n]) {
		lens[n] = strlen(kv[n]);
		n++;
	}
	return entry_parse(e, "1700000000000-0", kv, lens, n, &lim, reason, 256);
}

Test(entry, single_message_with_defaults)
{
	struct entry e;
	char reason[256] = "";
	const char *kv[] = { "user_db_id", "42", "session_id", "s1", "content", "I like tea.", NULL };

	cr_assert_eq(parse(&e, reason, kv), 0, "%s", reason);
	cr_expect_eq(e.user, 42);
	cr_expect_str_eq(e.session_id, "s1");
	cr_expect_eq(e.nmsgs, 1);
	cr_expect_str_eq(e.msgs[0].role, "user");
	cr_expect_str_eq(e.msgs[0].content, "I like tea.");
	cr_expect_str_eq(e.message_key, "1700000000000-0", "default key is the entry id");
	cr_expect(e.infer);
	cr_expect_null(e.metadata);
	cr_expect_eq(e.nfields, 6);
	entry_free(&e);
}

Test(entry, exchange_metadata_and_keys)
{
	struct entry e;
	char reason[256] = "";
	const char *kv[] = { "user_db_id", "7", "session_id", "s", "v", "1",
			     "messages", "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yo\"}]",
			     "metadata", "{\"b\":1, \"a\":\"x\"}", "message_id", "msg-9", "user_id", "sean",
			     "infer", "false", "created_at", "2026-11-25T10:00:00Z", NULL };

	cr_assert_eq(parse(&e, reason, kv), 0, "%s", reason);
	cr_expect_eq(e.nmsgs, 2);
	cr_expect_str_eq(e.msgs[1].role, "assistant");
	cr_expect_str_eq(e.metadata, "{\"a\":\"x\",\"b\":1}");
	cr_expect_str_eq(e.message_key, "msg-9");
	cr_expect_str_eq(e.user_id, "sean");
	cr_expect_not(e.infer);
	cr_expect_str_eq(e.created_at, "2026-11-25T10:00:00Z");
	entry_free(&e);
}

Test(entry, every_bad_field_names_itself)
{
	static const struct {
		const char *kv[12];
		const char *reason;
	} cases[] = {
		{ { "session_id", "s", "content", "x", NULL }, "user_db_id: missing" },
		{ { "user_db_id", "", "session_id", "s", "content", "x", NULL }, "user_db_id:" },
		{ { "user_db_id", "12a", "session_id", "s", "content", "x", NULL }, "user_db_id:" },
		{ { "user_db_id", "0", "session_id", "s", "content", "x", NULL }, "user_db_id:" },
		{ { "user_db_id", "-3", "session_id", "s", "content", "x", NULL }, "user_db_id:" },
		{ { "user_db_id", "99999999999", "session_id", "s", "content", "x", NULL }, "user_db_id:" },
		{ { "user_db_id", "1", "content", "x", NULL }, "session_id: missing" },
		{ { "user_db_id", "1", "session_id", "s", NULL }, "content: missing" },
		{ { "user_db_id", "1", "session_id", "s", "content", "", NULL }, "content: empty" },
		{ { "user_db_id", "1", "session_id", "s", "content", " \n\t ", NULL }, "content: empty" },
		{ { "user_db_id", "1", "session_id", "s", "content",
		    "0123456789012345678901234567890123456789012345678901234567890123456789", NULL },
		  "content: 70 bytes is over MEM0_MAX_CONTENT_BYTES=64" },
		{ { "user_db_id", "1", "session_id", "s", "content", "bad \xff byte", NULL }, "content: not valid UTF-8" },
		{ { "user_db_id", "1", "session_id", "s", "role", "bot", "content", "x", NULL }, "role:" },
		{ { "user_db_id", "1", "session_id", "s", "messages", "{}", NULL }, "messages:" },
		{ { "user_db_id", "1", "session_id", "s", "messages", "[]", NULL }, "messages:" },
		{ { "user_db_id", "1", "session_id", "s", "messages", "[{\"role\":\"user\"}]", NULL }, "messages[0]:" },
		{ { "user_db_id", "1", "session_id", "s", "messages", "[{\"role\":\"x\",\"content\":\"y\"}]", NULL },
		  "messages[0].role:" },
		{ { "user_db_id", "1", "session_id", "s", "messages", "[{\"role\":\"user\",\"content\":\"\"}]", NULL },
		  "messages[0].content: empty" },
		{ { "user_db_id", "1", "session_id", "s", "content", "x", "metadata", "[1,2]", NULL }, "metadata:" },
		{ { "user_db_id", "1", "session_id", "s", "content", "x", "metadata", "{bad", NULL }, "metadata:" },
		{ { "user_db_id", "1", "session_id", "s", "content", "x", "infer", "maybe", NULL }, "infer:" },
		{ { "user_db_id", "1", "session_id", "s", "content", "x", "v", "2", NULL }, "v:" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct entry e;
		char reason[256] = "";

		cr_expect_eq(parse(&e, reason, cases[i].kv), -1, "case %zu accepted", i);
		cr_expect(strncmp(reason, cases[i].reason, strlen(cases[i].reason)) == 0, "case %zu: got '%s', want '%s'",
			  i, reason, cases[i].reason);
		cr_expect(e.nfields > 0, "case %zu: raw fields kept for the dead letter", i);
		entry_free(&e);
	}
}
