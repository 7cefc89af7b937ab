/*
 * memctl as a program: migrate through the binary with config from the
 * environment, and no secret in anything it prints.
 */
#include "schema.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(memctl, migrate_via_binary_twice, .init = tenv_require_servers)
{
	char db[64], bin[512], port[32], dbenv[96], *out, *err;
	PGconn *conn = tenv_pg_new_db("ctl", db);
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"migrate", NULL };
	char *env[] = { port, dbenv, (char *)"POSTGRES_HOST=127.0.0.1", (char *)"POSTGRES_USER=postgres",
			(char *)"MEM0_MODELS=openai", (char *)"MEM0_EMBEDDING_DIMS=64", NULL };

	snprintf(port, sizeof(port), "POSTGRES_PORT=%d", tenv_pg_port());
	snprintf(dbenv, sizeof(dbenv), "POSTGRES_DB=%s", db);
	char want[64];

	cr_assert_eq(tenv_run(argv, env, &out, &err), 0, "memctl migrate: %s", err);
	snprintf(want, sizeof(want), "%d applied", schema_file_count);
	cr_expect(strstr(out, want) != NULL, "%s", out);
	free(out);
	free(err);
	cr_assert_eq(tenv_run(argv, env, &out, &err), 0, "%s", err);
	snprintf(want, sizeof(want), "0 applied, %d already applied", schema_file_count);
	cr_expect(strstr(out, want) != NULL, "%s", out);
	free(out);
	free(err);
	PQfinish(conn);
}

Test(memctl, bad_config_is_one_line_and_exit_2)
{
	char bin[512], *out, *err;
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"migrate", NULL };
	char *env[] = { (char *)"MEM0_BATCH_MAX=lots", NULL };

	cr_assert_eq(tenv_run(argv, env, &out, &err), 2);
	cr_expect_str_eq(err, "MEM0_BATCH_MAX: 'lots' is not an integer\n");
	free(out);
	free(err);
}

Test(memctl, secrets_never_printed)
{
	char bin[512], *out, *err;
	char *argv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"migrate", NULL };
	char *cfgv[] = { (char *)tenv_bin("memctl", bin, sizeof(bin)), (char *)"config", NULL };
	/* port 1 on loopback: the connection fails at once and the error is printed */
	char *env[] = { (char *)"POSTGRES_HOST=127.0.0.1", (char *)"POSTGRES_PORT=1",
			(char *)"POSTGRES_PASSWORD=pg-SECRET-pw", (char *)"OPENAI_API_KEY=sk-SECRET-key",
			(char *)"REDIS_URL=redis://:redis-SECRET@127.0.0.1:1", (char *)"MEM0_LOG_LEVEL=debug", NULL };
	char *env_url[] = { (char *)"DATABASE_URL=postgres://u:url-SECRET@127.0.0.1:1/db", NULL };

	cr_expect_eq(tenv_run(argv, env, &out, &err), 1);
	cr_expect(strstr(err, "cannot connect to PostgreSQL") != NULL, "%s", err);
	cr_expect(strstr(out, "SECRET") == NULL && strstr(err, "SECRET") == NULL, "%s%s", out, err);
	free(out);
	free(err);
	cr_expect_eq(tenv_run(argv, env_url, &out, &err), 1);
	cr_expect(strstr(out, "SECRET") == NULL && strstr(err, "SECRET") == NULL, "%s%s", out, err);
	free(out);
	free(err);
	cr_expect_eq(tenv_run(cfgv, env, &out, &err), 0);
	cr_expect(strstr(out, "POSTGRES_PASSWORD=(set)") != NULL, "%s", out);
	cr_expect(strstr(out, "SECRET") == NULL && strstr(err, "SECRET") == NULL, "%s%s", out, err);
	free(out);
	free(err);
}
