/*
 * memctl backfill: feed chat history that never went through the stream.
 *
 * Sources: the chat app's own tables (--from-db: chat_messages joined to
 * chat_sessions for the user id, type -> role; the configured PostgreSQL
 * or --source-url), or a JSONL file (--file: one {"user_db_id",
 * "session_id", "role", "content", "message_id"?, "created_at"?} per line).
 * One entry per message, XADDed to MEM0_STREAM in source order (by
 * chat_messages.id, so each user's messages in order), pipelined in chunks.
 *
 * Idempotent: each entry's message_id comes from its source row
 * ("chat_messages:<id>", or the line's message_id, else "<name>:<line>"),
 * so whatever is fed twice is a no-op in the worker's ingest log.
 *
 * Resumable: after every chunk the position (last chat_messages.id, or the
 * file's byte offset and line) goes to the Redis hash
 * <MEM0_STREAM>:backfill:<name>, next to the stream it feeds; a run starts
 * after it unless --restart. The position is written after the chunk's
 * XADDs succeeded: a crash in between re-sends at most one chunk, which the
 * message ids make harmless.
 *
 * Bounded memory whatever the history size: keyset pages of the table
 * (WHERE id > $last ORDER BY id LIMIT n), one line of the file at a time.
 * --max-lag keeps Redis bounded too: it waits while the workers are behind.
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"
#include "progress.h"
#include "rstream.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PAGE     500
#define PAGE_STR "500"

struct bf_msg {
	char *user, *session, *role, *content, *message_id, *created_at;
};

struct backfill {
	const struct cfg *cfg;
	redisContext *c;
	char name[256];
	char ckey[768]; /* the checkpoint hash */
	bool dry, restart, from_db;
	double rate, limit, max_lag;
	struct progress p;

	struct bf_msg *chunk; /* built, not yet sent */
	int n, cap;
	long long sent;
	long long consumed; /* source rows taken since the last flush (progress) */
	long long skip_empty, skip_user, skip_role, skip_large, skip_invalid;
	bool stop, failed;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: memctl backfill (--from-db [--source-url URL] [--user ID] [--until TIME] | --file PATH)\n"
		"                       [--name NAME] [--restart] [--rate N] [--limit N] [--max-lag N] [--dry-run]\n"
		"  --from-db       the chat app's chat_messages + chat_sessions (configured PostgreSQL or "
		"--source-url)\n"
		"  --user ID       only this user's messages\n"
		"  --until TIME    only messages created before TIME (when the live stream started)\n"
		"  --file PATH     JSONL: "
		"{\"user_db_id\",\"session_id\",\"role\",\"content\",\"message_id\"?,\"created_at\"?}\n"
		"  --name NAME     checkpoint name (default chat_messages[:user:ID] or file:<basename>)\n"
		"  --restart       ignore the checkpoint and start from the beginning\n"
		"  --rate N        at most N messages per second;  --limit N: stop after N messages\n"
		"  --max-lag N     pause while the workers' group lag is above N\n"
		"  --dry-run       read and count, send nothing, keep the checkpoint as it is\n");
}

static void msg_free(struct bf_msg *m)
{
	free(m->user);
	free(m->session);
	free(m->role);
	free(m->content);
	free(m->message_id);
	free(m->created_at);
	memset(m, 0, sizeof(*m));
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return false;
	return true;
}

/* Takes ownership of m's strings; false (and counted) if the message is skipped. */
static bool add_msg(struct backfill *bf, struct bf_msg *m)
{
	bf->consumed++;
	if (!m->user) {
		bf->skip_user++;
	} else if (!m->role || (strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0 &&
				strcmp(m->role, "system") != 0)) {
		bf->skip_role++;
	} else if (!m->content || blank(m->content)) {
		bf->skip_empty++;
	} else if (strlen(m->content) > (size_t)bf->cfg->max_content_bytes) {
		bf->skip_large++; /* the worker would dead-letter it */
	} else {
		if (bf->n == bf->cap) {
			bf->cap = bf->cap ? bf->cap * 2 : 64;
			bf->chunk = mw_realloc(bf->chunk, sizeof(*bf->chunk) * (size_t)bf->cap);
		}
		bf->chunk[bf->n++] = *m;
		memset(m, 0, sizeof(*m));
		return true;
	}
	msg_free(m);
	return false;
}

/*
 * Sends the chunk, then records pos (name/value pairs of the checkpoint) once
 * every XADD succeeded. Sets stop on Ctrl-C or --limit, failed on errors.
 */
static void flush(struct backfill *bf, const char *const *pos, int npos)
{
	int i, sent = 0;

	if (bf->n > 0 && !bf->dry) {
		if (!ctl_wait_lag(bf->c, bf->cfg, (long long)bf->max_lag, &bf->p)) {
			/* interrupted before sending: the chunk is not recorded, the next run sends it */
			for (i = 0; i < bf->n; i++)
				msg_free(&bf->chunk[i]);
			bf->n = 0;
			bf->stop = true;
			return;
		}
		progress_pace(&bf->p, bf->n);
		for (i = 0; i < bf->n; i++) {
			const struct bf_msg *m = &bf->chunk[i];
			const char *argv[19] = { "XADD", bf->cfg->stream, "*", "user_db_id", m->user, "session_id",
						 m->session, "role", m->role, "content", m->content, "message_id",
						 m->message_id, "v", "1" };
			int argc = 15;

			if (m->created_at) {
				argv[argc++] = "created_at";
				argv[argc++] = m->created_at;
			}
			if (redisAppendCommandArgv(bf->c, argc, argv, NULL) != REDIS_OK)
				break;
			sent++;
		}
		for (i = 0; i < sent; i++) {
			redisReply *r = NULL;

			if (redisGetReply(bf->c, (void **)&r) != REDIS_OK) {
				fprintf(stderr, "memctl backfill: XADD: %s\n", bf->c->errstr);
				bf->failed = true;
				break;
			}
			if (r->type == REDIS_REPLY_ERROR) {
				fprintf(stderr, "memctl backfill: XADD of %s: %s\n", bf->chunk[i].message_id, r->str);
				bf->failed = true;
			}
			freeReplyObject(r);
		}
		if (sent < bf->n)
			bf->failed = true;
	}
	if (!bf->failed && !bf->dry) {
		const char *argv[24] = { "HSET", bf->ckey, "updated_at", NULL, "stream", bf->cfg->stream };
		char now[40], count[24];
		int argc = 6;
		redisReply *r;

		rstream_format_time(rstream_now_ms(), now, sizeof(now));
		argv[3] = now;
		for (i = 0; i < npos && argc < 22; i++)
			argv[argc++] = pos[i];
		r = ctl_redis_argv(bf->c, "HSET checkpoint", argc, argv, NULL);
		if (!r)
			bf->failed = true;
		freeReplyObject(r);
		snprintf(count, sizeof(count), "%d", bf->n);
		{
			const char *inc[] = { "HINCRBY", bf->ckey, "sent", count };

			freeReplyObject(ctl_redis_argv(bf->c, "HINCRBY checkpoint", 4, inc, NULL));
		}
	}
	if (!bf->failed) {
		bf->sent += bf->n;
		progress_add(&bf->p, bf->consumed);
		bf->consumed = 0;
	}
	for (i = 0; i < bf->n; i++)
		msg_free(&bf->chunk[i]);
	bf->n = 0;
	if (bf->failed || ctl_interrupted() || (bf->limit > 0 && bf->sent >= (long long)bf->limit))
		bf->stop = true;
}

/* Chunk size now: the rate limit's, and never past --limit. */
static int chunk_max(const struct backfill *bf)
{
	int n = progress_chunk(&bf->p, PAGE);

	if (bf->limit > 0 && (long long)n > (long long)bf->limit - bf->sent)
		n = (int)((long long)bf->limit - bf->sent);
	return n < 1 ? 1 : n;
}

/* The checkpoint's field, malloc'd, or NULL. */
static char *ckpt_get(struct backfill *bf, const char *field)
{
	const char *argv[] = { "HGET", bf->ckey, field };
	redisReply *r = ctl_redis_argv(bf->c, "HGET checkpoint", 3, argv, NULL);
	char *v = r && r->type == REDIS_REPLY_STRING ? mw_strdup(r->str) : NULL;

	freeReplyObject(r);
	return v;
}

/* ---- the chat app's tables ---- */

static void pg_oneline(PGconn *pg, char *out, size_t len)
{
	snprintf(out, len, "%s", PQerrorMessage(pg));
	out[strcspn(out, "\n")] = '\0';
}

static int from_db(struct backfill *bf, const char *source_url, const char *user, const char *until)
{
	static const char where[] = " FROM chat_messages m LEFT JOIN chat_sessions s ON s.id = m.session_id "
				    "WHERE m.id > $1::bigint AND ($2::int IS NULL OR s.user_id = $2::int) "
				    "AND ($3::timestamptz IS NULL OR m.created_at < $3::timestamptz)";
	char sql[1024], last[32] = "0", err[512], *saved;
	const char *vals[4] = { last, user, until, PAGE_STR };
	PGconn *pg;
	PGresult *r;
	long long total;

	if (source_url) {
		pg = PQconnectdb(source_url);
		if (PQstatus(pg) != CONNECTION_OK) {
			pg_oneline(pg, err, sizeof(err));
			/* libpq's message names host and port, never the password */
			fprintf(stderr, "memctl backfill: cannot connect to --source-url: %s\n", err);
			PQfinish(pg);
			return 1;
		}
	} else if (!(pg = ctl_pg_connect(bf->cfg))) {
		return 1;
	}
	saved = bf->restart ? NULL : ckpt_get(bf, "last_id");
	if (saved) {
		snprintf(last, sizeof(last), "%s", saved);
		fprintf(stderr, "backfill: resuming %s after chat_messages.id %s (--restart to start over)\n", bf->name,
			last);
		free(saved);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*)%s", where);
	r = PQexecParams(pg, sql, 3, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_oneline(pg, err, sizeof(err));
		fprintf(stderr, "memctl backfill: reading chat_messages/chat_sessions: %s\n", err);
		PQclear(r);
		PQfinish(pg);
		return 1;
	}
	total = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (bf->limit > 0 && total > (long long)bf->limit)
		total = (long long)bf->limit;
	progress_init(&bf->p, bf->dry ? "backfill (dry run)" : "backfill", total, bf->rate);

	snprintf(sql, sizeof(sql),
		 "SELECT m.id, s.user_id, m.session_id, m.type, m.content, "
		 "to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')%s "
		 "ORDER BY m.id LIMIT $4::int",
		 where);
	while (!bf->stop) {
		int rows, i;

		r = PQexecParams(pg, sql, 4, NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			pg_oneline(pg, err, sizeof(err));
			fprintf(stderr, "memctl backfill: reading chat_messages: %s\n", err);
			PQclear(r);
			bf->failed = true;
			break;
		}
		rows = PQntuples(r);
		for (i = 0; i < rows && !bf->stop; i++) {
			struct bf_msg m = { 0 };
			char key[64];

			snprintf(key, sizeof(key), "chat_messages:%s", PQgetvalue(r, i, 0));
			m.message_id = mw_strdup(key);
			m.user = PQgetisnull(r, i, 1) ? NULL : mw_strdup(PQgetvalue(r, i, 1));
			m.session = PQgetisnull(r, i, 2) ? NULL : mw_strdup(PQgetvalue(r, i, 2));
			if (!m.session) {
				free(m.user);
				m.user = NULL; /* no session, no user */
			}
			m.role = mw_strdup(PQgetvalue(r, i, 3));
			m.content = PQgetisnull(r, i, 4) ? NULL : mw_strdup(PQgetvalue(r, i, 4));
			m.created_at = PQgetisnull(r, i, 5) ? NULL : mw_strdup(PQgetvalue(r, i, 5));
			add_msg(bf, &m);
			snprintf(last, sizeof(last), "%s", PQgetvalue(r, i, 0));
			if (bf->n >= chunk_max(bf)) {
				const char *pos[] = { "kind", "db", "last_id", last };

				flush(bf, pos, 4);
			}
		}
		PQclear(r);
		if (!bf->stop) {
			const char *pos[] = { "kind", "db", "last_id", last };

			flush(bf, pos, 4); /* also records rows that were all skipped */
		}
		if (rows < PAGE)
			break;
	}
	PQfinish(pg);
	if (!bf->dry)
		printf("backfill: checkpoint %s at chat_messages.id %s\n", bf->ckey, last);
	return 0;
}

/* ---- JSONL ---- */

/* A JSON string or integer as text (malloc'd), or NULL. */
static char *json_text(json_t *v)
{
	char buf[32];

	if (json_is_string(v))
		return mw_strdup(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return mw_strdup(buf);
	}
	return NULL;
}

static int from_file(struct backfill *bf, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, off_s[32], line_s[32], *saved;
	size_t cap = 0;
	long long lineno = 0, offset = 0, total = 0, bad_shown = 0;
	struct stat st;
	ssize_t len;

	if (!f) {
		fprintf(stderr, "memctl backfill: %s: %s\n", path, strerror(errno));
		return 1;
	}
	saved = bf->restart ? NULL : ckpt_get(bf, "offset");
	if (saved) {
		char *l = ckpt_get(bf, "line");

		offset = atoll(saved);
		lineno = l ? atoll(l) : 0;
		free(l);
		free(saved);
		if (fstat(fileno(f), &st) != 0 || offset > (long long)st.st_size ||
		    fseeko(f, (off_t)offset, SEEK_SET) != 0) {
			fprintf(stderr,
				"memctl backfill: the checkpoint is past the end of %s (a different file?): "
				"use --restart or --name\n",
				path);
			fclose(f);
			return 1;
		}
		fprintf(stderr, "backfill: resuming %s after line %lld (--restart to start over)\n", bf->name, lineno);
	}
	while ((len = getline(&line, &cap, f)) > 0)
		total++;
	fseeko(f, (off_t)offset, SEEK_SET);
	if (bf->limit > 0 && total > (long long)bf->limit)
		total = (long long)bf->limit;
	progress_init(&bf->p, bf->dry ? "backfill (dry run)" : "backfill", total, bf->rate);

	while (!bf->stop && (len = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		json_t *o;
		struct bf_msg m = { 0 };
		char key[320];

		lineno++;
		offset += len;
		o = json_loadb(line, (size_t)len, 0, &jerr);
		if (!blank(line)) {
			json_t *u = json_object_get(o, "user_db_id");
			long long uid = json_is_integer(u)  ? (long long)json_integer_value(u)
					: json_is_string(u) ? atoll(json_string_value(u))
							    : 0;

			if (!json_is_object(o) || uid <= 0 || uid > 2147483647LL ||
			    !(m.session = json_text(json_object_get(o, "session_id"))) || !m.session[0] ||
			    !json_is_string(json_object_get(o, "content"))) {
				if (bad_shown++ < 10)
					fprintf(stderr, "memctl backfill: %s line %lld skipped: %s\n", path, lineno,
						!json_is_object(o) ? "not a JSON object"
								   : "needs user_db_id, session_id and content");
				bf->skip_invalid++;
				bf->consumed++;
				msg_free(&m);
			} else {
				snprintf(key, sizeof(key), "%lld", uid);
				m.user = mw_strdup(key);
				m.role = json_object_get(o, "role") ? json_text(json_object_get(o, "role"))
								    : mw_strdup("user");
				m.content = json_text(json_object_get(o, "content"));
				m.created_at = json_text(json_object_get(o, "created_at"));
				m.message_id = json_text(json_object_get(o, "message_id"));
				if (!m.message_id || !m.message_id[0]) {
					free(m.message_id);
					snprintf(key, sizeof(key), "%s:%lld", bf->name, lineno);
					m.message_id = mw_strdup(key);
				}
				add_msg(bf, &m);
			}
		}
		json_decref(o);
		snprintf(off_s, sizeof(off_s), "%lld", offset);
		snprintf(line_s, sizeof(line_s), "%lld", lineno);
		if (bf->n >= chunk_max(bf)) {
			const char *pos[] = { "kind", "file", "offset", off_s, "line", line_s };

			flush(bf, pos, 6);
		}
	}
	if (!bf->stop) {
		const char *pos[] = { "kind", "file", "offset", off_s, "line", line_s };

		snprintf(off_s, sizeof(off_s), "%lld", offset);
		snprintf(line_s, sizeof(line_s), "%lld", lineno);
		flush(bf, pos, 6);
	}
	if (bad_shown > 10)
		fprintf(stderr, "memctl backfill: ... %lld more lines skipped\n", bad_shown - 10);
	free(line);
	fclose(f);
	if (!bf->dry)
		printf("backfill: checkpoint %s at line %lld\n", bf->ckey, lineno);
	return 0;
}

int ctl_backfill(const struct cfg *cfg, int argc, char **argv)
{
	struct backfill bf = { .cfg = cfg };
	const char *file = NULL, *source_url = NULL, *user = NULL, *until = NULL, *name = NULL, *v;
	char until_s[40], user_s[24], err[256];
	int i, rc;

	for (i = 1; i < argc; i++) {
		if ((rc = ctl_opt(argc, argv, &i, "--file", &file)) ||
		    (rc = ctl_opt(argc, argv, &i, "--source-url", &source_url)) ||
		    (rc = ctl_opt(argc, argv, &i, "--user", &user)) ||
		    (rc = ctl_opt(argc, argv, &i, "--until", &until)) ||
		    (rc = ctl_opt(argc, argv, &i, "--name", &name))) {
			if (rc < 0)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--rate", &v))) {
			if (rc < 0 || ctl_opt_number("--rate", v, 1e9, &bf.rate) < 0)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--limit", &v))) {
			if (rc < 0 || ctl_opt_number("--limit", v, 1e15, &bf.limit) < 0)
				return 2;
		} else if ((rc = ctl_opt(argc, argv, &i, "--max-lag", &v))) {
			if (rc < 0 || ctl_opt_number("--max-lag", v, 1e15, &bf.max_lag) < 0)
				return 2;
		} else if (strcmp(argv[i], "--from-db") == 0) {
			bf.from_db = true;
		} else if (strcmp(argv[i], "--restart") == 0) {
			bf.restart = true;
		} else if (strcmp(argv[i], "--dry-run") == 0) {
			bf.dry = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage();
			return 0;
		} else {
			fprintf(stderr, "memctl backfill: unexpected argument '%s'\n", argv[i]);
			usage();
			return 2;
		}
	}
	if (bf.from_db == (file != NULL)) {
		fprintf(stderr, "memctl backfill: give one source: --from-db or --file PATH\n");
		return 2;
	}
	if (file && (source_url || user || until)) {
		fprintf(stderr, "memctl backfill: --source-url, --user and --until go with --from-db\n");
		return 2;
	}
	if (user) {
		double u;

		if (ctl_opt_number("--user", user, 2147483647.0, &u) < 0 || u < 1 || u != (double)(long long)u)
			return 2;
		snprintf(user_s, sizeof(user_s), "%lld", (long long)u);
		user = user_s;
	}
	if (until) {
		long long ms;

		if (rstream_parse_time(until, rstream_now_ms(), &ms, err, sizeof(err)) < 0) {
			fprintf(stderr, "memctl backfill: --until: %s\n", err);
			return 2;
		}
		until = rstream_format_time(ms, until_s, sizeof(until_s));
	}
	if (name) {
		snprintf(bf.name, sizeof(bf.name), "%s", name);
	} else if (file) {
		const char *base = strrchr(file, '/');
		snprintf(bf.name, sizeof(bf.name), "file:%s", base ? base + 1 : file);
	} else {
		snprintf(bf.name, sizeof(bf.name), "chat_messages%s%s", user ? ":user:" : "", user ? user : "");
	}
	snprintf(bf.ckey, sizeof(bf.ckey), "%s:backfill:%s", cfg->stream, bf.name);

	bf.c = ctl_redis_connect(cfg);
	if (!bf.c)
		return 1;
	{
		char *kind = ckpt_get(&bf, "kind");

		if (kind && !bf.restart && strcmp(kind, bf.from_db ? "db" : "file") != 0) {
			fprintf(stderr,
				"memctl backfill: checkpoint %s belongs to a --%s backfill: use --name or --restart\n",
				bf.ckey, strcmp(kind, "db") == 0 ? "from-db" : "file");
			free(kind);
			redisFree(bf.c);
			return 2;
		}
		free(kind);
	}
	if (bf.restart && !bf.dry) {
		const char *del[] = { "DEL", bf.ckey };
		freeReplyObject(ctl_redis_argv(bf.c, "DEL checkpoint", 2, del, NULL));
	}
	ctl_trap_interrupt();
	rc = bf.from_db ? from_db(&bf, source_url, user, until) : from_file(&bf, file);
	if (rc == 0) {
		char skipped[256] = "";
		const long long counts[] = { bf.skip_empty, bf.skip_user, bf.skip_role, bf.skip_large, bf.skip_invalid };
		static const char *const why[] = { "empty", "without a user", "of another type",
						  "over MEM0_MAX_CONTENT_BYTES", "invalid lines" };
		size_t k, used = 0;

		for (k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
			if (counts[k] && used < sizeof(skipped))
				used += (size_t)snprintf(skipped + used, sizeof(skipped) - used, "%s%lld %s",
							 used ? ", " : "; skipped: ", counts[k], why[k]);
		progress_end(&bf.p);
		printf("backfill%s: %lld messages %s %s%s\n", bf.dry ? " (dry run)" : "", bf.sent,
		       bf.dry ? "would be fed to" : "fed to", cfg->stream, skipped);
		if (bf.stop && !bf.failed && !bf.dry)
			fprintf(stderr, "backfill %s: run the same command again to continue from the checkpoint\n",
				ctl_interrupted() ? "interrupted" : "stopped at --limit");
	}
	free(bf.chunk);
	redisFree(bf.c);
	if (rc)
		return rc;
	if (bf.failed)
		return 1;
	return ctl_interrupted() ? 130 : 0;
}
