/*
 * sproto: request validation (every malformed kind names its field; bad
 * requests keep what a reply needs) and the reply shapes of DESIGN.md.
 */
#include "sproto.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_MAX 100

/* Parses "name", "value", ... pairs (NULL-terminated). */
static int parse(struct sproto_request *req, char *err, size_t errlen, ...)
{
	const char *names[32], *values[32];
	size_t nl[32], vl[32];
	va_list ap;
	int n = 0, rc;
	const char *k;

	va_start(ap, errlen);
	while ((k = va_arg(ap, const char *)) != NULL) {
		names[n] = k;
		values[n] = va_arg(ap, const char *);
		nl[n] = strlen(k);
		vl[n] = strlen(values[n]);
		n++;
	}
	va_end(ap);
	rc = sproto_parse(names, nl, values, vl, n, LIMIT_MAX, req, err, errlen);
	return rc;
}

#define BASE "reply_to", "mem0:reply:1", "user_db_id", "42"

Test(sproto, search_with_everything)
{
	struct sproto_request r;
	char err[256];

	cr_assert_eq(parse(&r, err, sizeof(err), BASE, "op", "search", "query", "tea?", "limit", "5", "threshold",
			   "0.25", "session_id", "s1", "filters", "{\"topic\":\"food\",\"n\":1.10}", "request_id",
			   "abc", "deadline_ms", "1700000000000", "unknown_field", "x", NULL),
		     0, "%s", err);
	cr_expect_eq(r.op, SPROTO_SEARCH);
	cr_expect_eq(r.user, 42);
	cr_expect_str_eq(r.reply_to, "mem0:reply:1");
	cr_expect_str_eq(r.query, "tea?");
	cr_expect_eq(r.limit, 5);
	cr_expect_float_eq(r.threshold, 0.25, 1e-12);
	cr_expect_str_eq(r.session_id, "s1");
	cr_expect_str_eq(r.filters, "{\"topic\":\"food\",\"n\":1.10}", "filters pass through as sent");
	cr_expect_str_eq(r.request_id, "abc");
	cr_expect_eq(r.deadline_ms, 1700000000000LL);
	sproto_request_clear(&r);
}

Test(sproto, defaults)
{
	struct sproto_request r;
	char err[256];

	cr_assert_eq(parse(&r, err, sizeof(err), BASE, "op", "context", "query", "q", NULL), 0, "%s", err);
	cr_expect_eq(r.limit, SPROTO_DEFAULT_LIMIT);
	cr_expect_eq(r.threshold, 0);
	cr_expect_null(r.session_id);
	cr_expect_null(r.filters);
	cr_expect_null(r.request_id);
	cr_expect_eq(r.deadline_ms, 0);
	sproto_request_clear(&r);

	cr_assert_eq(parse(&r, err, sizeof(err), BASE, "op", "get_all", "filters", "{}", "session_id", "", NULL), 0,
		     "%s", err);
	cr_expect_eq(r.limit, SPROTO_DEFAULT_PAGE);
	cr_expect_eq(r.offset, 0);
	cr_expect_null(r.filters, "an empty object filters nothing");
	cr_expect_null(r.session_id, "an empty session means any");
	sproto_request_clear(&r);

	cr_assert_eq(parse(&r, err, sizeof(err), BASE, "op", "get", "memory_id",
			   "0F8FAD5B-D9CB-469F-A165-70867728950E", NULL),
		     0, "%s", err);
	cr_expect_str_eq(r.memory_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
	sproto_request_clear(&r);

	cr_assert_eq(parse(&r, err, sizeof(err), BASE, "op", "delete_all", "purge", "true", NULL), 0, "%s", err);
	cr_expect(r.purge);
	sproto_request_clear(&r);
}

/* Each malformed request: the error starts with the field's name. */
struct bad_case {
	const char *field;
	const char *k1, *v1, *k2, *v2, *k3, *v3;
};

static void expect_bad(const struct bad_case *c)
{
	struct sproto_request r;
	char err[256], want[64];
	int rc;

	rc = parse(&r, err, sizeof(err), "reply_to", "mem0:reply:x", "request_id", "rid", c->k1, c->v1, c->k2 ? c->k2 : NULL,
		   c->v2, c->k3 ? c->k3 : NULL, c->v3, NULL);
	cr_expect_eq(rc, -1, "accepted a request with a bad %s", c->field);
	snprintf(want, sizeof(want), "%s: ", c->field);
	cr_expect(strncmp(err, want, strlen(want)) == 0, "error '%s' does not name %s", err, c->field);
	cr_expect_str_eq(r.reply_to, "mem0:reply:x", "a bad request is still answerable");
	cr_expect_str_eq(r.request_id, "rid");
	sproto_request_clear(&r);
}

Test(sproto, every_malformed_kind_names_its_field)
{
	static const struct bad_case cases[] = {
		{ "user_db_id", "op", "stats", NULL, NULL, NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", "", NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", "abc", NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", "0", NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", "-3", NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", "1.5", NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", "99999999999", NULL, NULL },
		{ "user_db_id", "op", "stats", "user_db_id", " 7", NULL, NULL },
		{ "op", "user_db_id", "7", NULL, NULL, NULL, NULL },
		{ "op", "user_db_id", "7", "op", "explode", NULL, NULL },
		{ "limit", "user_db_id", "7", "op", "stats", "limit", "0" },
		{ "limit", "user_db_id", "7", "op", "stats", "limit", "101" },
		{ "limit", "user_db_id", "7", "op", "stats", "limit", "ten" },
		{ "offset", "user_db_id", "7", "op", "get_all", "offset", "-1" },
		{ "threshold", "user_db_id", "7", "op", "stats", "threshold", "1.5" },
		{ "threshold", "user_db_id", "7", "op", "stats", "threshold", "-0.1" },
		{ "threshold", "user_db_id", "7", "op", "stats", "threshold", "nan" },
		{ "threshold", "user_db_id", "7", "op", "stats", "threshold", "high" },
		{ "filters", "user_db_id", "7", "op", "stats", "filters", "{not json" },
		{ "filters", "user_db_id", "7", "op", "stats", "filters", "[1,2]" },
		{ "filters", "user_db_id", "7", "op", "stats", "filters", "\"text\"" },
		{ "filters", "user_db_id", "7", "op", "stats", "filters", "{\"a\":{\"b\":1}}" },
		{ "filters", "user_db_id", "7", "op", "stats", "filters", "{\"a\":[1]}" },
		{ "filters", "user_db_id", "7", "op", "stats", "filters", "{\"a\":1,\"a\":2}" },
		{ "query", "user_db_id", "7", "op", "search", NULL, NULL },
		{ "query", "user_db_id", "7", "op", "context", "query", "" },
		{ "query", "user_db_id", "7", "op", "search", "query", "bad \xff utf8" },
		{ "memory_id", "user_db_id", "7", "op", "get", NULL, NULL },
		{ "memory_id", "user_db_id", "7", "op", "history", "memory_id", "42" },
		{ "memory_id", "user_db_id", "7", "op", "delete", "memory_id", "0f8fad5b-d9cb-469f-a165-70867728950" },
		{ "memory_id", "user_db_id", "7", "op", "delete", "memory_id", "0f8fad5b-d9cb-469f-a165-70867728950g" },
		{ "memory_id", "user_db_id", "7", "op", "get", "memory_id", "0f8fad5bxd9cb-469f-a165-70867728950e" },
		{ "deadline_ms", "user_db_id", "7", "op", "stats", "deadline_ms", "soon" },
		{ "purge", "user_db_id", "7", "op", "delete_all", "purge", "maybe" },
		{ "session_id", "user_db_id", "7", "op", "get_all", "session_id", "bad \xc3 utf8" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_bad(&cases[i]);
}

Test(sproto, no_usable_reply_to)
{
	struct sproto_request r;
	char err[256], longkey[SPROTO_REPLY_TO_MAX + 2];

	cr_expect_eq(parse(&r, err, sizeof(err), "user_db_id", "1", "op", "stats", NULL), 0);
	cr_expect_null(r.reply_to);
	sproto_request_clear(&r);
	cr_expect_eq(parse(&r, err, sizeof(err), "reply_to", "", "user_db_id", "1", "op", "stats", NULL), 0);
	cr_expect_null(r.reply_to);
	sproto_request_clear(&r);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	cr_expect_eq(parse(&r, err, sizeof(err), "reply_to", longkey, "user_db_id", "1", "op", "stats", NULL), 0);
	cr_expect_null(r.reply_to);
	sproto_request_clear(&r);
}

static json_t *load(char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);

	cr_assert_not_null(j, "reply is not JSON: %s: %s", e.text, s);
	free(s);
	return j;
}

Test(sproto, reply_shapes)
{
	struct store_memory m[2] = {
		{ .id = "0f8fad5b-d9cb-469f-a165-70867728950e", .text = "Likes green tea", .session_id = "s1",
		  .metadata = "{\"topic\": \"food\"}", .created_at = "2024-01-02T03:04:05.000Z",
		  .updated_at = "2024-01-02T03:04:05.000Z", .score = 0.875 },
		{ .id = "1f8fad5b-d9cb-469f-a165-70867728950e", .text = "Has a cat", .session_id = "s2",
		  .metadata = "not json", .created_at = "x", .updated_at = "y", .score = 0.5 },
	};
	struct store_history h = { .id = 9, .memory_id = "0f8fad5b-d9cb-469f-a165-70867728950e", .action = "deleted",
				   .previous_content = "Likes green tea", .new_content = NULL, .metadata = NULL,
				   .created_at = "z" };
	struct store_stats st = { .total_memories = 3, .last_memory_at = NULL, .history_rows = 5 };
	json_t *j, *r;

	j = load(sproto_reply_memories("rid", m, 2, true, 1.2345678));
	cr_expect(json_is_true(json_object_get(j, "ok")));
	cr_expect_str_eq(json_string_value(json_object_get(j, "request_id")), "rid");
	cr_expect_float_eq(json_real_value(json_object_get(j, "took_ms")), 1.235, 1e-9);
	r = json_array_get(json_object_get(j, "results"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(r, "memory")), "Likes green tea");
	cr_expect_float_eq(json_real_value(json_object_get(r, "score")), 0.875, 1e-9);
	cr_expect(json_is_object(json_object_get(r, "metadata")), "metadata is an object, not a string");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(r, "metadata"), "topic")), "food");
	cr_expect_str_eq(json_string_value(json_object_get(r, "session_id")), "s1");
	cr_expect_not_null(json_object_get(r, "created_at"));
	cr_expect_not_null(json_object_get(r, "updated_at"));
	r = json_array_get(json_object_get(j, "results"), 1);
	cr_expect(json_is_object(json_object_get(r, "metadata")));
	json_decref(j);

	j = load(sproto_reply_memories(NULL, m, 1, false, 0));
	cr_expect(json_is_null(json_object_get(j, "request_id")));
	cr_expect(json_is_null(json_object_get(json_array_get(json_object_get(j, "results"), 0), "score")));
	json_decref(j);

	j = load(sproto_reply_context("rid", m, 2, 0));
	r = json_array_get(json_object_get(j, "results"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(r, "role")), "system");
	cr_expect_str_eq(json_string_value(json_object_get(r, "content")), "[Relevant Context: Likes green tea]");
	json_decref(j);

	j = load(sproto_reply_history("rid", &h, 1, 0));
	r = json_array_get(json_object_get(j, "results"), 0);
	cr_expect_eq(json_integer_value(json_object_get(r, "id")), 9);
	cr_expect_str_eq(json_string_value(json_object_get(r, "action")), "deleted");
	cr_expect(json_is_null(json_object_get(r, "new_content")));
	cr_expect_str_eq(json_string_value(json_object_get(r, "previous_content")), "Likes green tea");
	json_decref(j);

	j = load(sproto_reply_stats("rid", &st, 0));
	r = json_object_get(j, "results");
	cr_expect_eq(json_integer_value(json_object_get(r, "total_memories")), 3);
	cr_expect(json_is_null(json_object_get(r, "last_memory_at")));
	cr_expect_eq(json_integer_value(json_object_get(r, "history_rows")), 5);
	json_decref(j);

	j = load(sproto_reply_deleted("rid", 4, 0));
	cr_expect(json_is_true(json_object_get(j, "ok")));
	cr_expect_eq(json_integer_value(json_object_get(j, "deleted")), 4);
	json_decref(j);

	j = load(sproto_reply_error("rid", "bad_request", "limit: must be an integer from 1 to 100", 0));
	cr_expect(json_is_false(json_object_get(j, "ok")));
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "bad_request");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
			 "limit: must be an integer from 1 to 100");
	json_decref(j);
}
