/*
 * mem0map: see mem0map.h.
 */
#include "mem0map.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *mem0_action_map(const char *action)
{
	if (!action)
		return NULL;
	if (strcasecmp(action, "ADD") == 0)
		return "created";
	if (strcasecmp(action, "UPDATE") == 0)
		return "updated";
	if (strcasecmp(action, "DELETE") == 0)
		return "deleted";
	return NULL;
}

/* s[0..n) without surrounding white space, as a new string. */
static char *trimmed(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return mw_strndup(s, n);
}

int usermap_add(struct usermap *m, const char *spec, char *err, size_t errlen)
{
	const char *eq = strrchr(spec, '=');
	char *name, *idtext, *end;
	long long id;
	int i;

	if (!eq) {
		snprintf(err, errlen, "'%s': expected NAME=ID", spec);
		return -1;
	}
	name = trimmed(spec, (size_t)(eq - spec));
	idtext = trimmed(eq + 1, strlen(eq + 1));
	errno = 0;
	id = strtoll(idtext, &end, 10);
	if (!name[0]) {
		snprintf(err, errlen, "'%s': empty user name", spec);
		goto fail;
	}
	if (errno || end == idtext || *end || id < 1 || id > 2147483647LL) {
		snprintf(err, errlen, "'%s': '%s' is not a user id (1..2147483647)", spec, idtext);
		goto fail;
	}
	for (i = 0; i < m->n; i++) {
		if (strcmp(m->names[i], name) == 0) {
			if (m->ids[i] != id) {
				snprintf(err, errlen, "'%s': \"%s\" is already mapped to %lld", spec, name, m->ids[i]);
				goto fail;
			}
			free(name);
			free(idtext);
			return 0;
		}
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 8;
		m->names = mw_realloc(m->names, sizeof(*m->names) * (size_t)m->cap);
		m->ids = mw_realloc(m->ids, sizeof(*m->ids) * (size_t)m->cap);
	}
	m->names[m->n] = name;
	m->ids[m->n] = id;
	m->n++;
	free(idtext);
	return 0;
fail:
	free(name);
	free(idtext);
	return -1;
}

int usermap_load(struct usermap *m, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, msg[512];
	size_t cap = 0;
	int lineno = 0, rc = 0;
	ssize_t len;

	if (!f) {
		snprintf(err, errlen, "--user-map %s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s = line;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#')
			continue;
		if (usermap_add(m, s, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "--user-map %s line %d: %s", path, lineno, msg);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

bool usermap_get(const struct usermap *m, const char *name, long long *id)
{
	int i;

	for (i = 0; i < m->n; i++) {
		if (strcmp(m->names[i], name) == 0) {
			*id = m->ids[i];
			return true;
		}
	}
	return false;
}

void usermap_free(struct usermap *m)
{
	int i;

	for (i = 0; i < m->n; i++)
		free(m->names[i]);
	free(m->names);
	free(m->ids);
	memset(m, 0, sizeof(*m));
}
