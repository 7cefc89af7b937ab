/*
 * mem0map: the pure parts of memctl import --mem0-sqlite: Mem0's history
 * actions in memworker's words, and the map from Mem0's string user ids to
 * the chat app's integer user ids (--user NAME=ID, --user-map FILE). No
 * I/O but usermap_load reading its file.
 */
#ifndef MW_MEM0MAP_H
#define MW_MEM0MAP_H

#include <stdbool.h>
#include <stddef.h>

/* ADD -> created, UPDATE -> updated, DELETE -> deleted (any case); NULL for anything else. */
const char *mem0_action_map(const char *action);

struct usermap {
	char **names;
	long long *ids;
	int n, cap;
};

/*
 * Adds "NAME=ID": NAME is Mem0's user id as stored (white space around it
 * trimmed; it may itself contain '=': the last one splits), ID a user id
 * 1..2147483647. The same name twice must map to the same id. -1 with one
 * line in err.
 */
int usermap_add(struct usermap *m, const char *spec, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Lines NAME=ID; blank lines and lines starting with # are skipped. Errors name the file and line. */
int usermap_load(struct usermap *m, const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));

bool usermap_get(const struct usermap *m, const char *name, long long *id);
void usermap_free(struct usermap *m);

#endif
