/*
 * Config: defaults, sources and their precedence, one line per bad value
 * naming the variable, secrets masked in the dump, URL redaction.
 */
#include "cfg.h"
#include "log.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void clear_env(void)
{
	size_t k;

	for (k = 0; k < cfg_var_count; k++)
		unsetenv(cfg_vars[k].name);
}

/* Loads with argv words; err text goes to *errout (malloc'd). */
static int load(struct cfg *cfg, char **errout, int n, const char **words)
{
	char *argv[32];
	int argc = 0, i, rc;
	char *buf = NULL;
	size_t len = 0;
	FILE *err = open_memstream(&buf, &len);

	argv[argc++] = (char *)"memctl";
	for (i = 0; i < n; i++)
		argv[argc++] = (char *)words[i];
	argv[argc] = NULL;
	rc = cfg_load(cfg, &argc, argv, NULL, err);
	fclose(err);
	*errout = buf;
	return rc;
}

Test(cfg, defaults)
{
	struct cfg cfg;
	char *err;
	FILE *f;

	clear_env();
	/* no env file at all is fine when not asked for explicitly */
	f = open_memstream(&err, &(size_t){ 0 });
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, f), 0);
	fclose(f);
	cr_expect_str_eq(cfg.stream, "mem0:ingest");
	cr_expect_str_eq(cfg.group, "memworker");
	cr_expect_str_eq(cfg.search_stream, "mem0:search");
	cr_expect_str_eq(cfg.redis_url, "redis://127.0.0.1:6379");
	/* local, the default, embeds in 100 dimensions */
	cr_expect_eq(cfg.embedding_dims, 100);
	cr_expect_eq(cfg.models, CFG_MODELS_LOCAL);
	cr_expect_str_eq(cfg.local_model_path, CFG_DEFAULT_LOCAL_MODEL_PATH);
	cr_expect_eq(cfg.pipeline, CFG_PIPELINE_SINGLE);
	cr_expect_eq(cfg.provider, CFG_PROVIDER_PGVECTOR);
	cr_expect_eq(cfg.hnsw, false);
	cr_expect_not_null(cfg.consumer);
	cr_expect(strchr(cfg.consumer, ':') != NULL, "consumer is host:pid, got %s", cfg.consumer);
	cfg_free(&cfg);
	free(err);
}

Test(cfg, env_then_flags_win)
{
	struct cfg cfg;
	char *err;
	const char *w[] = { "--batch-max", "7", "--redis-url=redis://127.0.0.1:7000", "--hnsw", "migrate", "--verbose" };

	clear_env();
	setenv("MEM0_BATCH_MAX", "3", 1);
	setenv("MEM0_PIPELINE", "two-pass", 1);
	setenv("MEM0_SIMILARITY_THRESHOLD", "0.75", 1);
	cr_assert_eq(load(&cfg, &err, 6, w), 0, "%s", err);
	cr_expect_eq(cfg.batch_max, 7);
	cr_expect_str_eq(cfg.redis_url, "redis://127.0.0.1:7000");
	cr_expect_eq(cfg.hnsw, true, "a bool flag with no value means true");
	cr_expect_eq(cfg.pipeline, CFG_PIPELINE_TWO_PASS);
	cr_expect_float_eq(cfg.similarity_threshold, 0.75, 1e-9);
	free(err);
	cfg_free(&cfg);
}

Test(cfg, named_env_file_must_exist)
{
	struct cfg cfg;
	char *err;
	const char *w[] = { "--env-file", "/nonexistent/memworker.env" };

	clear_env();
	cr_assert_eq(load(&cfg, &err, 2, w), -1);
	cr_expect(strstr(err, "/nonexistent/memworker.env") != NULL, "%s", err);
	free(err);
	cfg_free(&cfg);
}

Test(cfg, precedence_env_file_env_flag)
{
	char path[] = "/tmp/mwcfg-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# comment\nexport MEM0_BATCH_MAX=5\nMEM0_BATCH_WINDOW_MS = 40 # trailing\n"
			   "MEM0_STREAM='from:file'\nPOSTGRES_PASSWORD=\"p w\"\nUNRELATED=1\n";
	struct cfg cfg;
	int argc;
	char *argv[8];
	FILE *err = fopen("/dev/null", "w");

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	clear_env();
	setenv("MEM0_STREAM", "from:env", 1);
	argv[0] = (char *)"x";
	argv[1] = (char *)"--batch-window-ms";
	argv[2] = (char *)"9";
	argv[3] = (char *)"rest";
	argv[4] = NULL;
	argc = 4;
	cr_assert_eq(cfg_load(&cfg, &argc, argv, path, err), 0);
	cr_expect_eq(cfg.batch_max, 5);		/* file */
	cr_expect_str_eq(cfg.stream, "from:env");	/* env over file */
	cr_expect_eq(cfg.batch_window_ms, 9);	/* flag over file */
	cr_expect_str_eq(cfg.pg_password, "p w");
	cr_expect_eq(argc, 2, "our flags are taken out of argv");
	cr_expect_str_eq(argv[1], "rest");
	cfg_free(&cfg);
	fclose(err);
	unlink(path);
}

/* Each bad value: exactly one line, and it names the variable. */
Test(cfg, every_bad_value_is_one_line_naming_the_variable)
{
	static const char *const cases[][2] = {
		{ "MEM0_BATCH_MAX", "zero" },		{ "MEM0_BATCH_MAX", "0" },
		{ "MEM0_BATCH_MAX", "100000" },		{ "MEM0_EMBEDDING_DIMS", "-1" },
		{ "MEM0_PIPELINE", "three-pass" },	{ "MEM0_MODELS", "gpt" },
		{ "MEM0_HNSW", "maybe" },		{ "REDIS_URL", "http://x" },
		{ "OPENAI_BASE_URL", "ftp://x" },	{ "MEM0_SIMILARITY_THRESHOLD", "1.5" },
		{ "MEM0_SIMILARITY_THRESHOLD", "nan" },	{ "POSTGRES_PORT", "70000" },
		{ "DATABASE_URL", "mysql://u:pw@h/db" },	{ "MEM0_PROVIDER", "redis" },
		{ "MEM0_METRICS_ADDR", "9090" },	{ "MEM0_LOG_LEVEL", "loud" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg cfg;
		char *err = NULL;
		size_t len = 0, lines = 0;
		FILE *f = open_memstream(&err, &len);
		const char *p;

		clear_env();
		setenv(cases[i][0], cases[i][1], 1);
		cr_expect_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, f), -1, "%s=%s accepted", cases[i][0], cases[i][1]);
		fclose(f);
		for (p = err; *p; p++)
			lines += *p == '\n';
		cr_expect_eq(lines, 1, "%s=%s: expected one line, got: %s", cases[i][0], cases[i][1], err);
		cr_expect(strncmp(err, cases[i][0], strlen(cases[i][0])) == 0, "line does not start with %s: %s",
			  cases[i][0], err);
		cr_expect(strstr(err, "pw@") == NULL, "a password reached the message: %s", err);
		free(err);
		cfg_free(&cfg);
	}
}

Test(cfg, embedding_dims_follow_the_models)
{
	struct cfg cfg;
	char *err = NULL;
	size_t len = 0;
	FILE *f;

	clear_env();
	setenv("MEM0_MODELS", "openai", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	cr_expect_eq(cfg.embedding_dims, 1536);
	cfg_free(&cfg);
	setenv("MEM0_EMBEDDING_DIMS", "64", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	cr_expect_eq(cfg.embedding_dims, 64);
	cfg_free(&cfg);

	clear_env();
	setenv("MEM0_EMBEDDING_DIMS", "100", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	cr_expect_eq(cfg.embedding_dims, 100);
	cfg_free(&cfg);

	/* local allows no other dimension: one line naming the variable */
	setenv("MEM0_EMBEDDING_DIMS", "1536", 1);
	f = open_memstream(&err, &len);
	cr_expect_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, f), -1);
	fclose(f);
	cr_expect(strncmp(err, "MEM0_EMBEDDING_DIMS: 1536, but MEM0_MODELS=local", 48) == 0, "%s", err);
	cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
	free(err);
	cfg_free(&cfg);
}

Test(cfg, models_need_their_keys)
{
	struct cfg cfg;
	char *err = NULL;
	size_t len = 0;
	FILE *f;

	clear_env();
	setenv("MEM0_MODELS", "openai", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	f = open_memstream(&err, &len);
	cr_expect_eq(cfg_check_models(&cfg, f), -1);
	fclose(f);
	cr_expect(strncmp(err, "OPENAI_API_KEY:", 15) == 0, "%s", err);
	free(err);
	cfg_free(&cfg);

	/* a local OpenAI-compatible server needs no key */
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	cr_expect_eq(cfg_check_models(&cfg, stderr), 0);
	cfg_free(&cfg);

	clear_env();
	setenv("MEM0_MODELS", "azure", 1);
	setenv("AZURE_OPENAI_API_KEY", "k", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	err = NULL;
	f = open_memstream(&err, &len);
	cr_expect_eq(cfg_check_models(&cfg, f), -1);
	fclose(f);
	cr_expect(strstr(err, "AZURE_OPENAI_ENDPOINT:") != NULL, "%s", err);
	cr_expect(strstr(err, "MEM0_LLM_MODEL_AZURE:") != NULL, "%s", err);
	free(err);
	cfg_free(&cfg);
}

Test(cfg, dump_never_shows_secrets)
{
	struct cfg cfg;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	clear_env();
	setenv("OPENAI_API_KEY", "sk-test-SECRET-1234", 1);
	setenv("POSTGRES_PASSWORD", "pg-SECRET-pw", 1);
	setenv("DATABASE_URL", "postgres://app:url-SECRET@db.internal:5432/chat", 1);
	setenv("REDIS_URL", "redis://:redis-SECRET@127.0.0.1:6379/0", 1);
	setenv("AZURE_OPENAI_API_KEY", "az-SECRET", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	f = open_memstream(&out, &len);
	cfg_dump(&cfg, f);
	fclose(f);
	cr_expect(strstr(out, "SECRET") == NULL, "secret printed:\n%s", out);
	cr_expect(strstr(out, "OPENAI_API_KEY=(set)\n") != NULL, "%s", out);
	cr_expect(strstr(out, "DATABASE_URL=postgres://app:***@db.internal:5432/chat\n") != NULL, "%s", out);
	cr_expect(strstr(out, "REDIS_URL=redis://:***@127.0.0.1:6379/0\n") != NULL, "%s", out);
	free(out);
	cfg_free(&cfg);
}

Test(cfg, conninfo_quotes_values)
{
	struct cfg cfg;
	char *ci;

	clear_env();
	setenv("POSTGRES_PASSWORD", "it's a \\ pw", 1);
	setenv("POSTGRES_DB", "chat db", 1);
	cr_assert_eq(cfg_load(&cfg, &(int){ 0 }, NULL, NULL, stderr), 0);
	ci = cfg_pg_conninfo(&cfg, false);
	cr_expect(strstr(ci, "dbname='chat db'") != NULL, "%s", ci);
	cr_expect(strstr(ci, "password='it\\'s a \\\\ pw'") != NULL, "%s", ci);
	free(ci);
	cfg_free(&cfg);
}

Test(log, redact_url)
{
	char out[256];

	cr_expect_str_eq(log_redact_url("postgres://u:pw@h:5432/db", out, sizeof(out)), "postgres://u:***@h:5432/db");
	cr_expect_str_eq(log_redact_url("redis://:pw@h:6379", out, sizeof(out)), "redis://:***@h:6379");
	cr_expect_str_eq(log_redact_url("redis://h:6379", out, sizeof(out)), "redis://h:6379");
	cr_expect_str_eq(log_redact_url("postgres://u@h/db", out, sizeof(out)), "postgres://u@h/db");
	cr_expect_str_eq(log_redact_url("postgres://u:p@ss@h/db", out, sizeof(out)), "postgres://u:***@h/db");
	cr_expect_str_eq(log_redact_url("host=h password=pw user=u", out, sizeof(out)), "host=h password=*** user=u");
	cr_expect_str_eq(log_redact_url("host=h password='p w' user=u", out, sizeof(out)),
			 "host=h password=*** user=u");
}

/* Sharding is designed, not built: anything but one stream is refused in one line, not ignored. */
Test(cfg, stream_shards_other_than_one_refused)
{
	const char *words[] = { "--stream-shards", "4" };
	struct cfg cfg;
	char *err = NULL;

	clear_env();
	cr_expect_eq(load(&cfg, &err, 2, words), -1);
	cr_expect(strncmp(err, "MEM0_STREAM_SHARDS: 4, but", 26) == 0, "%s", err);
	cr_expect_eq(strchr(err, '\n'), err + strlen(err) - 1, "one line: %s", err);
	free(err);
	cfg_free(&cfg);
	cr_expect_eq(load(&cfg, &err, 0, words), 0, "%s", err);
	cr_expect_eq(cfg.stream_shards, 1);
	free(err);
	cfg_free(&cfg);
}
