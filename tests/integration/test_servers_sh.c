/*
 * scripts/servers.sh as test.sh, run.sh and valgrind.sh use it: a script
 * under set -e starts the servers and stops them from its EXIT trap. The
 * trap must stop them and clean up also when the script exits non-zero
 * (failed tests): a bare return inside the trap once gave back that status
 * and set -e ended the cleanup, leaving PostgreSQL running. Redis gets a
 * unix socket in the folder only where its path fits the kernel's limit:
 * in a deeper folder redis-server would refuse to start.
 */
#include "testenv.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TestSuite(servers_sh, .init = tenv_require_servers, .timeout = 120);

static const char script[] =
	"set -euo pipefail\n"
	". \"$MW_SOURCE_DIR/scripts/servers.sh\"\n"
	"TMP=$(mktemp -d \"$MW_TEST_TMP/servers-sh.XXXXXX\")\n"
	"trap 'servers_stop \"$TMP\"; rm -rf \"$TMP\"' EXIT\n"
	"servers_start \"$TMP\"\n"
	"echo \"$TMP\"\n"
	"exit \"$STATUS\"\n";

static void run_and_check(const char *status, int want)
{
	char src[512], st[32], *out = NULL, *err = NULL, dir[512] = "", check[700];
	char *const argv[] = { "/bin/bash", "-c", (char *)script, NULL };
	char *const env[] = { src, st, NULL };
	struct stat sb;
	int rc;

	snprintf(src, sizeof(src), "MW_SOURCE_DIR=%s", MW_SOURCE_DIR);
	snprintf(st, sizeof(st), "STATUS=%s", status);
	rc = tenv_run(argv, env, &out, &err);
	cr_assert_eq(rc, want, "exit %d; stderr:\n%s", rc, err ? err : "");
	cr_assert(out && sscanf(out, "%511s", dir) == 1, "the script printed its folder: %s", out ? out : "");
	cr_assert(stat(dir, &sb) != 0, "%s is left behind after exit %s", dir, status);
	/* no PostgreSQL still serving from that folder ([-]: the pattern does not match the shell running pgrep) */
	snprintf(check, sizeof(check), "pgrep -f -- '[-]D %s/pg' >/dev/null", dir);
	cr_assert_neq(system(check), 0, "a PostgreSQL of %s still runs after exit %s", dir, status);
	free(out);
	free(err);
}

Test(servers_sh, the_exit_trap_stops_the_servers_after_success)
{
	run_and_check("0", 0);
}

Test(servers_sh, the_exit_trap_stops_the_servers_after_a_failure)
{
	run_and_check("8", 8);
}

/* SUB: a folder name appended to the temporary folder; prints "socket" or "no socket" once both servers answer. */
static const char socket_script[] =
	"set -euo pipefail\n"
	". \"$MW_SOURCE_DIR/scripts/servers.sh\"\n"
	"BASE=$(mktemp -d \"$MW_TEST_TMP/servers-sh.XXXXXX\")\n"
	"TMP=$BASE/$SUB\n"
	"mkdir -p \"$TMP\"\n"
	"trap 'servers_stop \"$TMP\"; rm -rf \"$BASE\"' EXIT\n"
	"servers_start \"$TMP\"\n"
	"redis-cli -p \"$REDIS_PORT\" ping >/dev/null\n"
	"if [ -S \"$TMP/redis.sock\" ]; then echo socket; else echo no socket; fi\n";

static void run_in(const char *sub, const char *want)
{
	char src[512], subv[300], *out = NULL, *err = NULL;
	char *const argv[] = { "/bin/bash", "-c", (char *)socket_script, NULL };
	char *const env[] = { src, subv, NULL };
	int rc;

	snprintf(src, sizeof(src), "MW_SOURCE_DIR=%s", MW_SOURCE_DIR);
	snprintf(subv, sizeof(subv), "SUB=%s", sub);
	rc = tenv_run(argv, env, &out, &err);
	cr_assert_eq(rc, 0, "servers did not start in .../%s: exit %d; stderr:\n%s", sub, rc, err ? err : "");
	cr_assert_not_null(out);
	out[strcspn(out, "\n")] = '\0';
	cr_expect_str_eq(out, want, "in .../%s", sub);
	free(out);
	free(err);
}

Test(servers_sh, redis_gets_a_socket_where_its_path_fits)
{
	run_in("s", "socket");
}

Test(servers_sh, a_folder_too_deep_for_a_socket_still_starts)
{
	char sub[200];

	memset(sub, 'd', 120);
	sub[120] = '\0';
	run_in(sub, "no socket");
}
