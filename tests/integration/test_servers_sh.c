/*
 * scripts/servers.sh as test.sh, run.sh and valgrind.sh use it: a script
 * under set -e starts the servers and stops them from its EXIT trap. The
 * trap must stop them and clean up also when the script exits non-zero
 * (failed tests): a bare return inside the trap once gave back that status
 * and set -e ended the cleanup, leaving PostgreSQL running.
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
