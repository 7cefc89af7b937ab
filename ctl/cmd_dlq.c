/*
 * memctl dlq: the dead-letter stream <MEM0_STREAM>:dlq (worker/ack.c writes
 * it: dlq_reason, dlq_entry_id, dlq_stream, dlq_deliveries, then the
 * entry's own fields).
 *
 *   list [--limit N]     oldest first: id, time, reason, user, content start
 *   show ID...           every field
 *   retry ID... | --all  XADD the original fields to MEM0_STREAM again (the
 *                        dlq_* fields dropped; message_id set to the key the
 *                        worker used, the original entry id, when the entry
 *                        had none), then XDEL the dead letter. A retry that
 *                        fails again comes back as a new dead letter; --all
 *                        stops at the last dead letter there was at its
 *                        start, so it never chases its own.
 *   drop ID... | --all   XDEL
 *
 * Human-readable by default, --json for scripts.
 */
#include "ctl.h"

#include "cfg.h"
#include "feed.h"
#include "log.h"
#include "progress.h"
#include "rstream.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREVIEW 48

struct dlq {
	const struct cfg *cfg;
	redisContext *c;
	char key[512];
	bool json;
	json_t *out; /* --json: what is printed at the end */
	int failures;
};

static void usage(void)
{
	fprintf(stderr, "usage: memctl dlq list [--limit N] [--json]\n"
			"       memctl dlq show ID... [--json]\n"
			"       memctl dlq retry (ID... | --all) [--json]\n"
			"       memctl dlq drop (ID... | --all) [--json]\n");
}

static const char *str_field(const redisReply *fields, const char *name)
{
	const redisReply *v = feed_field(fields, name);
	return v ? v->str : NULL;
}

/* The first message's content: the content field, or messages[0].content. Caller frees. */
static char *first_content(const redisReply *fields)
{
	const char *c = str_field(fields, "content"), *m;
	json_t *arr;
	char *out = NULL;

	if (c)
		return mw_strdup(c);
	m = str_field(fields, "messages");
	if (!m)
		return NULL;
	arr = json_loads(m, 0, NULL);
	if (json_is_string(json_object_get(json_array_get(arr, 0), "content")))
		out = mw_strdup(json_string_value(json_object_get(json_array_get(arr, 0), "content")));
	else
		out = mw_strdup(m);
	json_decref(arr);
	return out;
}

/* At most max bytes of s, cut on a UTF-8 boundary, control characters as spaces, "…" if cut. */
static void preview(const char *s, size_t max, char *out, size_t outlen)
{
	size_t n = 0, i = 0, len = s ? strlen(s) : 0;

	while (i < len && n + 4 < outlen && i < max) {
		unsigned char ch = (unsigned char)s[i];
		size_t w = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 1;

		if (i + w > max || i + w > len)
			break;
		if (w == 1) {
			out[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
		} else {
			memcpy(out + n, s + i, w);
			n += w;
		}
		i += w;
	}
	if (i < len && n + 4 <= outlen) {
		memcpy(out + n, "\xe2\x80\xa6", 3);
		n += 3;
	}
	out[n] = '\0';
}

static void id_time(const char *id, char *out, size_t len)
{
	struct rstream_id x;

	if (rstream_id_parse(id, &x) == 0)
		rstream_format_time((long long)x.ms, out, len);
	else
		snprintf(out, len, "?");
}

/* One dead letter as JSON: every field, plus id and time. */
static json_t *entry_json(const redisReply *e, bool all_fields)
{
	const redisReply *fields = e->element[1];
	char t[40], *content = first_content(fields);
	json_t *o = json_object(), *f;
	size_t i;

	id_time(e->element[0]->str, t, sizeof(t));
	json_object_set_new(o, "id", json_string(e->element[0]->str));
	json_object_set_new(o, "time", json_string(t));
	json_object_set_new(o, "reason",
			    json_string(str_field(fields, "dlq_reason") ? str_field(fields, "dlq_reason") : ""));
	json_object_set_new(o, "entry_id",
			    json_string(str_field(fields, "dlq_entry_id") ? str_field(fields, "dlq_entry_id") : ""));
	json_object_set_new(
		o, "deliveries",
		json_string(str_field(fields, "dlq_deliveries") ? str_field(fields, "dlq_deliveries") : ""));
	json_object_set_new(o, "user_db_id",
			    str_field(fields, "user_db_id") ? json_string(str_field(fields, "user_db_id"))
							    : json_null());
	json_object_set_new(o, "session_id",
			    str_field(fields, "session_id") ? json_string(str_field(fields, "session_id"))
							    : json_null());
	if (!all_fields) {
		char pv[PREVIEW * 2];

		preview(content, PREVIEW, pv, sizeof(pv));
		json_object_set_new(o, "content", content ? json_string(pv) : json_null());
	} else {
		f = json_object();
		for (i = 0; i + 1 < fields->elements; i += 2) {
			/* json_stringn keeps values that are not UTF-8 out rather than failing */
			json_t *val = json_stringn(fields->element[i + 1]->str, fields->element[i + 1]->len);
			json_object_set_new(f, fields->element[i]->str, val ? val : json_string("(not UTF-8)"));
		}
		json_object_set_new(o, "fields", f);
	}
	free(content);
	return o;
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	printf("%s\n", s ? s : "null");
	free(s);
}

static int cmd_list(struct dlq *d, long long limit)
{
	char count[24];
	const char *xr[] = { "XRANGE", d->key, "-", "+", "COUNT", count };
	const char *xl[] = { "XLEN", d->key };
	redisReply *r, *len;
	size_t i;

	snprintf(count, sizeof(count), "%lld", limit);
	len = ctl_redis_argv(d->c, "XLEN", 2, xl, NULL);
	r = ctl_redis_argv(d->c, "XRANGE", 6, xr, NULL);
	if (!r || !len) {
		freeReplyObject(r);
		freeReplyObject(len);
		return 1;
	}
	if (d->json) {
		json_t *a = json_array();

		for (i = 0; i < r->elements; i++)
			json_array_append_new(a, entry_json(r->element[i], false));
		print_json(a);
		json_decref(a);
	} else {
		printf("%lld dead letter%s in %s%s\n", len->integer, len->integer == 1 ? "" : "s", d->key,
		       (long long)r->elements < len->integer ? " (oldest first; --limit shows more)" : "");
		if (r->elements)
			printf("%-20s %-24s %-8s %-40s %s\n", "ID", "TIME (UTC)", "USER", "REASON", "CONTENT");
		for (i = 0; i < r->elements; i++) {
			const redisReply *f = r->element[i]->element[1];
			const char *user = str_field(f, "user_db_id"), *reason = str_field(f, "dlq_reason");
			char t[40], rs[100], us[24], pv[PREVIEW * 2], *content = first_content(f);

			id_time(r->element[i]->element[0]->str, t, sizeof(t));
			preview(reason, 40, rs, sizeof(rs));
			preview(user ? user : "-", 8, us, sizeof(us));
			preview(content ? content : "-", PREVIEW, pv, sizeof(pv));
			printf("%-20s %-24s %-8s %-40s %s\n", r->element[i]->element[0]->str, t, us, rs, pv);
			free(content);
		}
	}
	freeReplyObject(r);
	freeReplyObject(len);
	return 0;
}

/* XRANGE id id: the dead letter, or NULL (printed) if there is none. */
static redisReply *fetch(struct dlq *d, const char *id)
{
	struct rstream_id x;
	const char *xr[] = { "XRANGE", d->key, id, id };
	redisReply *r;

	if (rstream_id_parse(id, &x) < 0 || !strchr(id, '-')) {
		fprintf(stderr, "memctl dlq: '%s' is not an entry id (ms-seq)\n", id);
		d->failures++;
		return NULL;
	}
	r = ctl_redis_argv(d->c, "XRANGE", 4, xr, NULL);
	if (r && r->elements == 1)
		return r;
	if (r)
		fprintf(stderr, "memctl dlq: no dead letter %s in %s\n", id, d->key);
	freeReplyObject(r);
	d->failures++;
	return NULL;
}

static void show_one(struct dlq *d, const char *id)
{
	redisReply *r = fetch(d, id);
	const redisReply *e, *f;
	char t[40];
	size_t i;

	if (!r)
		return;
	e = r->element[0];
	f = e->element[1];
	if (d->json) {
		json_array_append_new(d->out, entry_json(e, true));
	} else {
		id_time(e->element[0]->str, t, sizeof(t));
		printf("id          %s\ntime        %s\n", e->element[0]->str, t);
		for (i = 0; i + 1 < f->elements; i += 2)
			printf("%-11s %.*s\n", f->element[i]->str, (int)f->element[i + 1]->len, f->element[i + 1]->str);
		printf("\n");
	}
	freeReplyObject(r);
}

/* Re-feeds one dead letter (e = [id, fields]) and deletes it. */
static int retry_entry(struct dlq *d, const redisReply *e)
{
	const char *id = e->element[0]->str;
	const char *orig = str_field(e->element[1], "dlq_entry_id");
	const char *xd[] = { "XDEL", d->key, id };
	struct feed_cmd f;
	redisReply *r;
	char new_id[RSTREAM_ID_MAX] = "";

	feed_build(&f, d->cfg->stream, e->element[1], orig, NULL);
	r = ctl_redis_argv(d->c, "XADD", f.argc, f.argv, f.lens);
	feed_free(&f);
	if (!r) {
		d->failures++;
		return -1;
	}
	snprintf(new_id, sizeof(new_id), "%s", r->str);
	freeReplyObject(r);
	/* if this XDEL is lost, a second retry is harmless: the key makes it a no-op */
	r = ctl_redis_argv(d->c, "XDEL", 3, xd, NULL);
	freeReplyObject(r);
	if (d->json)
		json_array_append_new(d->out, json_pack("{s:s, s:s}", "id", id, "new_id", new_id));
	else
		printf("retried %s as %s %s\n", id, d->cfg->stream, new_id);
	return 0;
}

static int drop_entry(struct dlq *d, const char *id)
{
	const char *xd[] = { "XDEL", d->key, id };
	redisReply *r = ctl_redis_argv(d->c, "XDEL", 3, xd, NULL);
	bool gone = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;

	freeReplyObject(r);
	if (!gone) {
		if (r)
			fprintf(stderr, "memctl dlq: no dead letter %s in %s\n", id, d->key);
		d->failures++;
		return -1;
	}
	if (d->json)
		json_array_append_new(d->out, json_pack("{s:s}", "id", id));
	else
		printf("dropped %s\n", id);
	return 0;
}

/* Every dead letter up to the last one now, page by page. */
static void for_all(struct dlq *d, bool retry)
{
	const char *last_argv[] = { "XREVRANGE", d->key, "+", "-", "COUNT", "1" };
	redisReply *last = ctl_redis_argv(d->c, "XREVRANGE", 6, last_argv, NULL);
	char end[RSTREAM_ID_MAX], from[RSTREAM_ID_MAX + 1] = "-";
	long long n = 0;

	if (!last || last->elements == 0) {
		if (last && !d->json)
			printf("no dead letters in %s\n", d->key);
		freeReplyObject(last);
		return;
	}
	snprintf(end, sizeof(end), "%s", last->element[0]->element[0]->str);
	freeReplyObject(last);
	ctl_trap_interrupt();
	while (!ctl_interrupted()) {
		const char *xr[] = { "XRANGE", d->key, from, end, "COUNT", "100" };
		redisReply *r = ctl_redis_argv(d->c, "XRANGE", 6, xr, NULL);
		size_t i, k;

		if (!r) {
			d->failures++;
			return;
		}
		k = r->elements;
		for (i = 0; i < k && !ctl_interrupted(); i++) {
			if (retry)
				retry_entry(d, r->element[i]);
			else
				drop_entry(d, r->element[i]->element[0]->str);
			n++;
		}
		if (k > 0)
			snprintf(from, sizeof(from), "(%s", r->element[k - 1]->element[0]->str);
		freeReplyObject(r);
		if (k < 100)
			break;
	}
	if (ctl_interrupted())
		fprintf(stderr, "memctl dlq: interrupted after %lld; run it again for the rest\n", n);
}

int ctl_dlq(const struct cfg *cfg, int argc, char **argv)
{
	struct dlq d = { .cfg = cfg };
	const char *sub, *v;
	double limit = 20;
	bool all = false;
	const char *ids[256];
	int nids = 0, i, rc = 0;

	if (argc < 2) {
		usage();
		return 2;
	}
	sub = argv[1];
	for (i = 2; i < argc; i++) {
		if ((rc = ctl_opt(argc, argv, &i, "--limit", &v))) {
			if (rc < 0 || ctl_opt_number("--limit", v, 1e9, &limit) < 0)
				return 2;
		} else if (strcmp(argv[i], "--json") == 0) {
			d.json = true;
		} else if (strcmp(argv[i], "--all") == 0) {
			all = true;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "memctl dlq: unexpected option '%s'\n", argv[i]);
			usage();
			return 2;
		} else if (nids < (int)(sizeof(ids) / sizeof(ids[0]))) {
			ids[nids++] = argv[i];
		} else {
			fprintf(stderr, "memctl dlq: at most %zu ids at once (or --all)\n",
				sizeof(ids) / sizeof(ids[0]));
			return 2;
		}
	}
	/* list: no ids; show: ids; retry and drop: ids or --all */
	if (!(strcmp(sub, "list") == 0 && !nids && !all) && !(strcmp(sub, "show") == 0 && nids && !all) &&
	    !((strcmp(sub, "retry") == 0 || strcmp(sub, "drop") == 0) && !nids != !all)) {
		usage();
		return 2;
	}
	snprintf(d.key, sizeof(d.key), "%s:dlq", cfg->stream);
	d.c = ctl_redis_connect(cfg);
	if (!d.c)
		return 1;
	d.out = json_array();
	if (strcmp(sub, "list") == 0) {
		rc = cmd_list(&d, (long long)limit);
	} else if (strcmp(sub, "show") == 0) {
		for (i = 0; i < nids; i++)
			show_one(&d, ids[i]);
	} else if (all) {
		for_all(&d, strcmp(sub, "retry") == 0);
	} else {
		for (i = 0; i < nids; i++) {
			if (strcmp(sub, "drop") == 0) {
				drop_entry(&d, ids[i]);
			} else {
				redisReply *r = fetch(&d, ids[i]);

				if (r)
					retry_entry(&d, r->element[0]);
				freeReplyObject(r);
			}
		}
	}
	if (d.json && strcmp(sub, "list") != 0) {
		if (strcmp(sub, "show") == 0 && nids == 1 && json_array_size(d.out) == 1)
			print_json(json_array_get(d.out, 0));
		else
			print_json(d.out);
	}
	json_decref(d.out);
	redisFree(d.c);
	if (rc)
		return rc;
	return d.failures ? 1 : ctl_interrupted() ? 130 : 0;
}
