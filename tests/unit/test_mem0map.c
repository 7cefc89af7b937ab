/*
 * mem0map: Mem0's history actions in memworker's words, and the user map
 * from Mem0's string user ids to integer ids (--user, --user-map): what is
 * accepted, what is refused and how the refusal reads.
 */
#include "mem0map.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(mem0map, actions)
{
	cr_expect_str_eq(mem0_action_map("ADD"), "created");
	cr_expect_str_eq(mem0_action_map("UPDATE"), "updated");
	cr_expect_str_eq(mem0_action_map("DELETE"), "deleted");
	cr_expect_str_eq(mem0_action_map("add"), "created");
	cr_expect_null(mem0_action_map("NONE"));
	cr_expect_null(mem0_action_map(""));
	cr_expect_null(mem0_action_map("ADDED"));
	cr_expect_null(mem0_action_map(NULL));
}

Test(mem0map, user_specs)
{
	struct usermap m = {0};
	char err[256];
	long long id = 0;

	cr_assert_eq(usermap_add(&m, "default=1", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(usermap_add(&m, " 2 = 42 ", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(usermap_add(&m, "a=b=7", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(usermap_add(&m, "default=1", err, sizeof(err)), 0, "the same pair twice is fine: %s", err);
	cr_expect_eq(m.n, 3);
	cr_expect(usermap_get(&m, "default", &id));
	cr_expect_eq(id, 1);
	cr_expect(usermap_get(&m, "2", &id));
	cr_expect_eq(id, 42);
	cr_expect(usermap_get(&m, "a=b", &id), "the last '=' splits");
	cr_expect_eq(id, 7);
	cr_expect(!usermap_get(&m, "Default", &id), "names are exact");
	cr_expect(!usermap_get(&m, "3", &id));
	usermap_free(&m);
}

Test(mem0map, bad_user_specs_say_why)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
	        {"default", "expected NAME=ID"},
	        {"=5", "empty user name"},
	        {"default=", "is not a user id"},
	        {"default=abc", "'abc' is not a user id"},
	        {"default=0", "is not a user id"},
	        {"default=-3", "is not a user id"},
	        {"default=2147483648", "is not a user id"},
	        {"default=1.5", "is not a user id"},
	};
	struct usermap m = {0};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_expect_eq(usermap_add(&m, bad[i].spec, err, sizeof(err)), -1, "'%s' accepted", bad[i].spec);
		cr_expect(strstr(err, bad[i].says) != NULL, "'%s': %s", bad[i].spec, err);
	}
	cr_expect_eq(m.n, 0);
	cr_assert_eq(usermap_add(&m, "default=1", err, sizeof(err)), 0);
	cr_expect_eq(usermap_add(&m, "default=2", err, sizeof(err)), -1, "one name, two ids");
	cr_expect(strstr(err, "already mapped to 1") != NULL, "%s", err);
	usermap_free(&m);
}

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/mw-usermap-XXXXXX");
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

Test(mem0map, user_map_file)
{
	struct usermap m = {0};
	char err[512],
	        *path = write_tmp("# chatSG users\n\ndefault=1\r\n  2=2\n   # indented comment\nsean@example.com=3");
	long long id;

	cr_assert_eq(usermap_load(&m, path, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(m.n, 3);
	cr_expect(usermap_get(&m, "default", &id) && id == 1);
	cr_expect(usermap_get(&m, "2", &id) && id == 2);
	cr_expect(usermap_get(&m, "sean@example.com", &id) && id == 3);
	usermap_free(&m);
	unlink(path);
	free(path);
}

Test(mem0map, user_map_file_errors_name_file_and_line)
{
	struct usermap m = {0};
	char err[512], *path = write_tmp("default=1\n2=two\n");

	cr_expect_eq(usermap_load(&m, path, err, sizeof(err)), -1);
	cr_expect(strstr(err, path) != NULL && strstr(err, "line 2") != NULL && strstr(err, "'two'") != NULL, "%s",
	          err);
	usermap_free(&m);
	unlink(path);
	free(path);
	cr_expect_eq(usermap_load(&m, "/nonexistent/users.map", err, sizeof(err)), -1);
	cr_expect(strstr(err, "/nonexistent/users.map") != NULL, "%s", err);
}
