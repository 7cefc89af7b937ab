/*
 * memctl push: feeds chat messages to the ingest stream by hand, as the
 * chat backend does: one XADD to MEM0_STREAM per message with the entry
 * fields of DESIGN.md (user_db_id, session_id, role, content, and
 * message_id, user_id, metadata, infer when given; v=1). Blocking hiredis:
 * one operator, one connection.
 *
 *   memctl push --user N --session S [--role R] [--message-id ID] TEXT...
 *   memctl push [--user N] [--session S] --file conversation.jsonl
 *
 * A .jsonl line is {"role","content"} with optional "session_id",
 * "user_db_id", "message_id", "user_id", "metadata" (object), "infer"
 * (false); the flags give the defaults. "-" reads standard input.
 */
#include "ctl.h"
#include "progress.h"

#include "cfg.h"
#include "log.h"
#include "rcmd.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct push_opts {
	const char *user;
	const char *session;
	const char *role;
	const char *message_id;
	const char *user_id;
	const char *metadata;
	bool no_infer;
	bool quiet;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: memctl push --user N --session S [--role user|assistant|system] [--message-id ID]\n"
	             "                   [--user-id ID] [--metadata JSON] [--no-infer] [--quiet] TEXT...\n"
	             "       memctl push [--user N] [--session S] --file conversation.jsonl|-\n"
	             "Each TEXT (or .jsonl line {\"role\",\"content\",\"session_id\"?,\"user_db_id\"?,...}) is one\n"
	             "message XADDed to MEM0_STREAM; the entry ids are printed.\n");
}


static bool positive_int(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && v > 0;
}

/* One XADD; prints the entry id. 0, or -1 with a line on stderr. */
static int xadd(redisContext *c, const struct cfg *cfg, const struct push_opts *o, const char *user,
                const char *session, const char *role, const char *content, const char *message_id,
                const char *metadata)
{
	const char *argv[24];
	int argc = 0;
	redisReply *r;

	if (!positive_int(user)) {
		fprintf(stderr, "memctl push: user_db_id '%s' is not a positive integer (--user N)\n",
		        user ? user : "");
		return -1;
	}
	if (!session || !*session) {
		fprintf(stderr, "memctl push: no session id (--session S, or \"session_id\" in the line)\n");
		return -1;
	}
	if (!content || !*content) {
		fprintf(stderr, "memctl push: empty message\n");
		return -1;
	}
	argv[argc++] = "XADD";
	argv[argc++] = cfg->stream;
	argv[argc++] = "*";
	argv[argc++] = "v";
	argv[argc++] = "1";
	argv[argc++] = "user_db_id";
	argv[argc++] = user;
	argv[argc++] = "session_id";
	argv[argc++] = session;
	argv[argc++] = "role";
	argv[argc++] = role;
	argv[argc++] = "content";
	argv[argc++] = content;
	if (message_id && *message_id) {
		argv[argc++] = "message_id";
		argv[argc++] = message_id;
	}
	if (o->user_id && *o->user_id) {
		argv[argc++] = "user_id";
		argv[argc++] = o->user_id;
	}
	if (metadata && *metadata) {
		argv[argc++] = "metadata";
		argv[argc++] = metadata;
	}
	if (o->no_infer) {
		argv[argc++] = "infer";
		argv[argc++] = "false";
	}
	r = redisCommandArgv(c, argc, argv, NULL);
	if (!r || r->type != REDIS_REPLY_STRING) {
		fprintf(stderr, "memctl push: XADD %s failed: %s\n", cfg->stream,
		        r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
		freeReplyObject(r);
		return -1;
	}
	if (!o->quiet)
		printf("%s\n", r->str);
	freeReplyObject(r);
	return 0;
}

static bool valid_role(const char *r)
{
	return r && (strcmp(r, "user") == 0 || strcmp(r, "assistant") == 0 || strcmp(r, "system") == 0);
}

static int push_file(redisContext *c, const struct cfg *cfg, const struct push_opts *o, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0, sent = 0;

	if (!f) {
		fprintf(stderr, "memctl push: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		json_error_t jerr;
		json_t *j, *uid, *meta;
		const char *role, *content, *session, *mid;
		char user[32], *metatext = NULL;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		j = json_loads(line, 0, &jerr);
		if (!json_is_object(j)) {
			fprintf(stderr, "memctl push: %s line %d: not a JSON object: %s\n", path, lineno, jerr.text);
			json_decref(j);
			rc = 1;
			break;
		}
		role = json_string_value(json_object_get(j, "role"));
		content = json_string_value(json_object_get(j, "content"));
		session = json_string_value(json_object_get(j, "session_id"));
		mid = json_string_value(json_object_get(j, "message_id"));
		uid = json_object_get(j, "user_db_id");
		meta = json_object_get(j, "metadata");
		if (!role)
			role = o->role;
		if (json_is_integer(uid))
			snprintf(user, sizeof(user), "%lld", (long long)json_integer_value(uid));
		else
			snprintf(user, sizeof(user), "%s",
			         json_is_string(uid) ? json_string_value(uid)
			         : o->user           ? o->user
			                             : "");
		if (json_is_object(meta))
			metatext = json_dumps(meta, JSON_COMPACT);
		if (!valid_role(role)) {
			fprintf(stderr, "memctl push: %s line %d: role must be user, assistant or system\n", path,
			        lineno);
			rc = 1;
		} else {
			struct push_opts lo = *o;

			if (json_is_false(json_object_get(j, "infer")))
				lo.no_infer = true;
			if (json_string_value(json_object_get(j, "user_id")))
				lo.user_id = json_string_value(json_object_get(j, "user_id"));
			if (xadd(c, cfg, &lo, user, session ? session : o->session, role, content, mid,
			         metatext ? metatext : o->metadata) < 0) {
				fprintf(stderr, "memctl push: (%s line %d)\n", path, lineno);
				rc = 1;
			} else {
				sent++;
			}
		}
		free(metatext);
		json_decref(j);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (rc == 0 && !o->quiet)
		fprintf(stderr, "memctl push: %d messages to %s\n", sent, cfg->stream);
	return rc;
}

int ctl_push(const struct cfg *cfg, int argc, char **argv)
{
	struct push_opts o = {.role = "user"};
	const char *file = NULL;
	redisContext *c;
	int i, first_text = -1, rc = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (first_text < 0 && strncmp(a, "--", 2) == 0 && strcmp(a, "--") != 0) {
			if (strcmp(a, "--no-infer") == 0) {
				o.no_infer = true;
				continue;
			}
			if (strcmp(a, "--quiet") == 0) {
				o.quiet = true;
				continue;
			}
			if (!v) {
				usage(stderr);
				return 2;
			}
			if (strcmp(a, "--user") == 0)
				o.user = v;
			else if (strcmp(a, "--session") == 0)
				o.session = v;
			else if (strcmp(a, "--role") == 0)
				o.role = v;
			else if (strcmp(a, "--message-id") == 0)
				o.message_id = v;
			else if (strcmp(a, "--user-id") == 0)
				o.user_id = v;
			else if (strcmp(a, "--metadata") == 0)
				o.metadata = v;
			else if (strcmp(a, "--file") == 0)
				file = v;
			else {
				usage(stderr);
				return 2;
			}
			i++;
			continue;
		}
		if (strcmp(a, "--") == 0 && first_text < 0) {
			first_text = i + 1;
			break;
		}
		if (first_text < 0)
			first_text = i;
	}
	if (!valid_role(o.role)) {
		fprintf(stderr, "memctl push: --role must be user, assistant or system\n");
		return 2;
	}
	if (o.metadata) {
		json_t *m = json_loads(o.metadata, 0, NULL);
		bool ok = json_is_object(m);

		json_decref(m);
		if (!ok) {
			fprintf(stderr, "memctl push: --metadata must be a JSON object\n");
			return 2;
		}
	}
	if ((file != NULL) == (first_text >= 0 && first_text < argc)) {
		usage(stderr);
		return 2;
	}
	c = ctl_redis_connect(cfg);
	if (!c)
		return 1;
	if (file) {
		rc = push_file(c, cfg, &o, file);
	} else {
		for (i = first_text; i < argc && rc == 0; i++)
			if (xadd(c, cfg, &o, o.user, o.session, o.role, argv[i], o.message_id, o.metadata) < 0)
				rc = 1;
	}
	redisFree(c);
	return rc;
}
