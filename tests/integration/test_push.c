/*
 * memctl push: the binary against the shared Redis, each test on a stream
 * of its own: the entry fields of DESIGN.md, a .jsonl conversation, and one
 * line naming what is wrong.
 */
#include "testenv.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char stream[96], stream_env[128], redis_env[64];
static redisContext *rc;

static void setup(void)
{
	char name[64];

	tenv_require_servers();
	tenv_unique("push", name, sizeof(name));
	snprintf(stream, sizeof(stream), "mw:%s", name);
	snprintf(stream_env, sizeof(stream_env), "MEM0_STREAM=%s", stream);
	snprintf(redis_env, sizeof(redis_env), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	rc = redisConnect("127.0.0.1", tenv_redis_port());
	cr_assert(rc && !rc->err);
}

static void teardown(void)
{
	if (rc)
		redisFree(rc);
}

TestSuite(push, .init = setup, .fini = teardown);

static int memctl(char **out, char **err, const char *const *args)
{
	char bin[512];
	char *argv[24];
	char *env[] = {redis_env, stream_env, NULL};
	int n = 0;

	argv[n++] = (char *)tenv_bin("memctl", bin, sizeof(bin));
	argv[n++] = (char *)"push";
	while (*args && n < 23)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	return tenv_run(argv, env, out, err);
}

/* Field value of entry i of the stream, or NULL. */
static char *field(size_t i, const char *name)
{
	redisReply *r = redisCommand(rc, "XRANGE %s - +", stream);
	char *v = NULL;
	size_t k;

	cr_assert(r && r->type == REDIS_REPLY_ARRAY);
	if (i < r->elements) {
		redisReply *fv = r->element[i]->element[1];

		for (k = 0; k + 1 < fv->elements; k += 2)
			if (strcmp(fv->element[k]->str, name) == 0)
				v = strdup(fv->element[k + 1]->str);
	}
	freeReplyObject(r);
	return v;
}

static long long xlen(void)
{
	redisReply *r = redisCommand(rc, "XLEN %s", stream);
	long long n = r ? r->integer : -1;

	freeReplyObject(r);
	return n;
}

#define EXPECT_FIELD(i, name, want)                                                                                    \
	do {                                                                                                           \
		char *v_ = field(i, name);                                                                             \
		cr_expect(v_ &&strcmp(v_, want) == 0, "entry %d %s: %s, want %s", (int)(i), name, v_ ? v_ : "(none)",  \
		          want);                                                                                       \
		free(v_);                                                                                              \
	} while (0)

Test(push, messages_from_the_command_line)
{
	const char *args[] = {"--user",
	                      "7",
	                      "--session",
	                      "s1",
	                      "--message-id",
	                      "m-1",
	                      "--user-id",
	                      "sean",
	                      "--metadata",
	                      "{\"source\":\"cli\"}",
	                      "I love sci-fi films.",
	                      NULL};
	const char *two[] = {"--user", "7", "--session", "s1", "--role", "assistant", "Noted!", "And more.", NULL};
	char *out, *err;

	cr_assert_eq(memctl(&out, &err, args), 0, "%s", err);
	cr_expect(strchr(out, '-') != NULL, "prints the entry id: %s", out);
	free(out);
	free(err);
	cr_assert_eq(xlen(), 1);
	EXPECT_FIELD(0, "user_db_id", "7");
	EXPECT_FIELD(0, "session_id", "s1");
	EXPECT_FIELD(0, "role", "user");
	EXPECT_FIELD(0, "content", "I love sci-fi films.");
	EXPECT_FIELD(0, "message_id", "m-1");
	EXPECT_FIELD(0, "user_id", "sean");
	EXPECT_FIELD(0, "metadata", "{\"source\":\"cli\"}");
	EXPECT_FIELD(0, "v", "1");
	cr_assert_eq(memctl(&out, &err, two), 0, "%s", err);
	free(out);
	free(err);
	cr_assert_eq(xlen(), 3);
	EXPECT_FIELD(1, "role", "assistant");
	EXPECT_FIELD(2, "content", "And more.");
}

Test(push, a_jsonl_conversation)
{
	char path[256], *out, *err;
	const char *args[] = {"--user", "3", "--file", path, NULL};
	FILE *f;

	snprintf(path, sizeof(path), "%s/conv-%d.jsonl", getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp",
	         (int)getpid());
	f = fopen(path, "w");
	fputs("{\"role\":\"user\",\"content\":\"I live in Lisbon.\",\"session_id\":\"a\"}\n"
	      "\n"
	      "{\"role\":\"assistant\",\"content\":\"Nice city!\",\"session_id\":\"a\"}\n"
	      "{\"role\":\"user\",\"content\":\"I have a dog.\",\"session_id\":\"b\",\"user_db_id\":4,"
	      "\"metadata\":{\"k\":1},\"infer\":false,\"message_id\":\"x9\"}\n",
	      f);
	fclose(f);
	cr_assert_eq(memctl(&out, &err, args), 0, "%s", err);
	cr_expect(strstr(err, "3 messages") != NULL, "%s", err);
	free(out);
	free(err);
	cr_assert_eq(xlen(), 3);
	EXPECT_FIELD(0, "user_db_id", "3");
	EXPECT_FIELD(0, "session_id", "a");
	EXPECT_FIELD(1, "role", "assistant");
	EXPECT_FIELD(2, "user_db_id", "4");
	EXPECT_FIELD(2, "session_id", "b");
	EXPECT_FIELD(2, "infer", "false");
	EXPECT_FIELD(2, "metadata", "{\"k\":1}");
	EXPECT_FIELD(2, "message_id", "x9");

	/* a bad line stops with its number; what came before it was sent */
	f = fopen(path, "w");
	fputs("{\"role\":\"user\",\"content\":\"ok\",\"session_id\":\"a\"}\n{\"role\":\"robot\",\"content\":\"x\"}\n",
	      f);
	fclose(f);
	cr_expect_eq(memctl(&out, &err, args), 1);
	cr_expect(strstr(err, "line 2") && strstr(err, "role"), "%s", err);
	free(out);
	free(err);
	cr_expect_eq(xlen(), 4);
	unlink(path);
}

Test(push, mistakes_are_one_line_and_send_nothing)
{
	static const char *const cases[][8] = {
	        {"--user", "abc", "--session", "s", "text", NULL},
	        {"--user", "0", "--session", "s", "text", NULL},
	        {"--user", "5", "text", NULL},
	        {"--user", "5", "--session", "s", "", NULL},
	};
	const char *usage[] = {"--user", "5", "--session", "s", NULL};
	const char *role[] = {"--user", "5", "--session", "s", "--role", "bot", "x", NULL};
	const char *meta[] = {"--user", "5", "--session", "s", "--metadata", "[1]", "x", NULL};
	size_t i;
	char *out, *err;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(memctl(&out, &err, cases[i]), 1, "case %zu", i);
		cr_expect(strncmp(err, "memctl push: ", 13) == 0 && strchr(err, '\n') == err + strlen(err) - 1,
		          "case %zu: %s", i, err);
		free(out);
		free(err);
	}
	cr_expect_eq(memctl(&out, &err, usage), 2);
	cr_expect(strstr(err, "usage:") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(memctl(&out, &err, role), 2);
	cr_expect(strstr(err, "--role") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(memctl(&out, &err, meta), 2);
	cr_expect(strstr(err, "--metadata") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(xlen(), 0);
}
