/*
 * sproto: see sproto.h. Parsing first picks the known fields out (the last
 * of a repeated name wins), then checks them in a fixed order so the error
 * always names the first bad field. JSON goes through jansson; every string
 * put in a reply is checked UTF-8 first (jansson refuses anything else).
 */
#include "sproto.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REQUEST_ID_MAX 256
#define SESSION_ID_MAX 255		/* mem0_memories.session_id is VARCHAR(255) */
#define FILTERS_MAX 8192

static const char *const op_names[SPROTO_OP_COUNT] = {
	"search", "context", "get", "get_all", "history", "delete", "delete_all", "stats",
};

const char *sproto_op_name(enum sproto_op op)
{
	return (unsigned)op < SPROTO_OP_COUNT ? op_names[op] : "?";
}

enum field_id { F_OP, F_USER, F_REPLY_TO, F_REQUEST_ID, F_DEADLINE, F_QUERY, F_LIMIT, F_OFFSET, F_THRESHOLD,
		F_SESSION, F_FILTERS, F_MEMORY_ID, F_PURGE, F_COUNT };

static const char *const field_names[F_COUNT] = {
	"op", "user_db_id", "reply_to", "request_id", "deadline_ms", "query", "limit", "offset", "threshold",
	"session_id", "filters", "memory_id", "purge",
};

struct raw {
	const char *v;
	size_t len;
	bool present;
};

static int fail(char *err, size_t errlen, enum field_id f, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, enum field_id f, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "%s: ", field_names[f]);

	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static bool valid_utf8(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);	/* NULL on invalid UTF-8 or an embedded NUL */

	if (!j)
		return false;
	json_decref(j);
	return true;
}

/* A strict decimal integer: optional '-', digits, nothing else. */
static bool parse_ll(const struct raw *r, long long *out)
{
	char buf[32], *end;
	size_t i = 0;

	if (r->len == 0 || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->v, r->len);
	buf[r->len] = '\0';
	if (buf[0] == '-')
		i = 1;
	if (!buf[i])
		return false;
	for (; buf[i]; i++)
		if (!isdigit((unsigned char)buf[i]))
			return false;
	errno = 0;
	*out = strtoll(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_double(const struct raw *r, double *out)
{
	char buf[64], *end;

	if (r->len == 0 || r->len >= sizeof(buf) || memchr(r->v, '\0', r->len))
		return false;
	memcpy(buf, r->v, r->len);
	buf[r->len] = '\0';
	if (isspace((unsigned char)buf[0]))
		return false;
	errno = 0;
	*out = strtod(buf, &end);
	return errno == 0 && *end == '\0' && isfinite(*out);
}

static bool parse_flag(const struct raw *r, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (r->len == strlen(yes[i]) && strncasecmp(r->v, yes[i], r->len) == 0) {
			*out = true;
			return true;
		}
		if (r->len == strlen(no[i]) && strncasecmp(r->v, no[i], r->len) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* 8-4-4-4-12 hex digits, written lower-case into out[37]. */
static bool parse_uuid(const struct raw *r, char out[37])
{
	size_t i;

	if (r->len != 36)
		return false;
	for (i = 0; i < 36; i++) {
		char c = r->v[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!isxdigit((unsigned char)c)) {
			return false;
		}
		out[i] = (char)tolower((unsigned char)c);
	}
	out[36] = '\0';
	return true;
}

/*
 * filters: a JSON object whose values are scalars. The text goes to SQL as
 * it came (jsonb parses numbers exactly; re-printing doubles would not).
 */
static int check_filters(const struct raw *r, char **out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o, *v;
	const char *k;

	if (r->len > FILTERS_MAX)
		return fail(err, errlen, F_FILTERS, "longer than %d bytes", FILTERS_MAX);
	o = json_loadb(r->v, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return fail(err, errlen, F_FILTERS, "not valid JSON: %s", jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return fail(err, errlen, F_FILTERS, "must be a JSON object of metadata equalities");
	}
	json_object_foreach(o, k, v) {
		if (json_is_object(v) || json_is_array(v)) {
			char key[64];

			snprintf(key, sizeof(key), "%s", k);
			json_decref(o);
			return fail(err, errlen, F_FILTERS,
				    "value of '%s' must be a string, number, boolean or null", key);
		}
	}
	if (json_object_size(o) > 0)
		*out = mw_strndup(r->v, r->len);
	json_decref(o);
	return 0;
}

int sproto_parse(const char *const *names, const size_t *name_lens, const char *const *values,
		 const size_t *value_lens, int n, int limit_max, struct sproto_request *req, char *err, size_t errlen)
{
	struct raw f[F_COUNT];
	long long ll;
	int i, k;

	memset(req, 0, sizeof(*req));
	memset(f, 0, sizeof(f));
	err[0] = '\0';
	for (i = 0; i < n; i++) {
		for (k = 0; k < F_COUNT; k++) {
			if (name_lens[i] == strlen(field_names[k]) && memcmp(names[i], field_names[k], name_lens[i]) == 0) {
				f[k].v = values[i];
				f[k].len = value_lens[i];
				f[k].present = true;
			}
		}
	}

	/* What a reply needs comes first: even a bad request is answered. */
	if (f[F_REPLY_TO].present && f[F_REPLY_TO].len > 0 && f[F_REPLY_TO].len <= SPROTO_REPLY_TO_MAX &&
	    !memchr(f[F_REPLY_TO].v, '\0', f[F_REPLY_TO].len))
		req->reply_to = mw_strndup(f[F_REPLY_TO].v, f[F_REPLY_TO].len);
	if (f[F_REQUEST_ID].present) {
		if (f[F_REQUEST_ID].len > REQUEST_ID_MAX)
			return fail(err, errlen, F_REQUEST_ID, "longer than %d bytes", REQUEST_ID_MAX);
		if (!valid_utf8(f[F_REQUEST_ID].v, f[F_REQUEST_ID].len))
			return fail(err, errlen, F_REQUEST_ID, "not valid UTF-8 text");
		req->request_id = mw_strndup(f[F_REQUEST_ID].v, f[F_REQUEST_ID].len);
	}
	if (f[F_DEADLINE].present && f[F_DEADLINE].len > 0) {
		if (!parse_ll(&f[F_DEADLINE], &ll) || ll < 0)
			return fail(err, errlen, F_DEADLINE, "must be an absolute time in epoch milliseconds");
		req->deadline_ms = ll;
	}

	if (!f[F_USER].present || f[F_USER].len == 0)
		return fail(err, errlen, F_USER, "required for every op");
	if (!parse_ll(&f[F_USER], &ll) || ll < 1 || ll > INT32_MAX)
		return fail(err, errlen, F_USER, "must be a positive integer (the user's database id)");
	req->user = ll;

	if (!f[F_OP].present || f[F_OP].len == 0)
		return fail(err, errlen, F_OP, "required (search, context, get, get_all, history, delete, delete_all, stats)");
	for (k = 0; k < SPROTO_OP_COUNT; k++)
		if (f[F_OP].len == strlen(op_names[k]) && memcmp(f[F_OP].v, op_names[k], f[F_OP].len) == 0)
			break;
	if (k == SPROTO_OP_COUNT)
		return fail(err, errlen, F_OP,
			    "unknown op (search, context, get, get_all, history, delete, delete_all, stats)");
	req->op = (enum sproto_op)k;

	req->limit = req->op == SPROTO_GET_ALL ? (limit_max < SPROTO_DEFAULT_PAGE ? limit_max : SPROTO_DEFAULT_PAGE)
					       : (limit_max < SPROTO_DEFAULT_LIMIT ? limit_max : SPROTO_DEFAULT_LIMIT);
	if (f[F_LIMIT].present) {
		if (!parse_ll(&f[F_LIMIT], &ll) || ll < 1 || ll > limit_max)
			return fail(err, errlen, F_LIMIT, "must be an integer from 1 to %d", limit_max);
		req->limit = (int)ll;
	}
	if (f[F_OFFSET].present) {
		if (!parse_ll(&f[F_OFFSET], &ll) || ll < 0 || ll > 1000000000)
			return fail(err, errlen, F_OFFSET, "must be an integer from 0 to 1000000000");
		req->offset = (int)ll;
	}
	if (f[F_THRESHOLD].present) {
		double t;

		if (!parse_double(&f[F_THRESHOLD], &t) || t < 0 || t > 1)
			return fail(err, errlen, F_THRESHOLD, "must be a number from 0 to 1");
		req->threshold = t;
	}
	if (f[F_SESSION].present && f[F_SESSION].len > 0) {
		if (f[F_SESSION].len > SESSION_ID_MAX)
			return fail(err, errlen, F_SESSION, "longer than %d bytes", SESSION_ID_MAX);
		if (!valid_utf8(f[F_SESSION].v, f[F_SESSION].len))
			return fail(err, errlen, F_SESSION, "not valid UTF-8 text");
		req->session_id = mw_strndup(f[F_SESSION].v, f[F_SESSION].len);
	}
	if (f[F_FILTERS].present && f[F_FILTERS].len > 0 &&
	    check_filters(&f[F_FILTERS], &req->filters, err, errlen) < 0)
		return -1;
	if (f[F_PURGE].present && !parse_flag(&f[F_PURGE], &req->purge))
		return fail(err, errlen, F_PURGE, "must be true or false");

	switch (req->op) {
	case SPROTO_SEARCH:
	case SPROTO_CONTEXT:
		if (!f[F_QUERY].present || f[F_QUERY].len == 0)
			return fail(err, errlen, F_QUERY, "required for %s", op_names[req->op]);
		if (f[F_QUERY].len > SPROTO_QUERY_MAX)
			return fail(err, errlen, F_QUERY, "longer than %d bytes", SPROTO_QUERY_MAX);
		if (!valid_utf8(f[F_QUERY].v, f[F_QUERY].len))
			return fail(err, errlen, F_QUERY, "not valid UTF-8 text");
		req->query = mw_strndup(f[F_QUERY].v, f[F_QUERY].len);
		break;
	case SPROTO_GET:
	case SPROTO_HISTORY:
	case SPROTO_DELETE:
		if (!f[F_MEMORY_ID].present || f[F_MEMORY_ID].len == 0)
			return fail(err, errlen, F_MEMORY_ID, "required for %s", op_names[req->op]);
		if (!parse_uuid(&f[F_MEMORY_ID], req->memory_id))
			return fail(err, errlen, F_MEMORY_ID, "must be a UUID (8-4-4-4-12 hex digits)");
		break;
	default:
		break;
	}
	return 0;
}

void sproto_request_clear(struct sproto_request *req)
{
	free(req->reply_to);
	free(req->request_id);
	free(req->query);
	free(req->session_id);
	free(req->filters);
	memset(req, 0, sizeof(*req));
}

/* ---- replies ---- */

/* A JSON string, or null for NULL (or text jansson refuses). */
static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;

	return j ? j : json_null();
}

/* Metadata text as a JSON object; anything else becomes {}. */
static json_t *jobject_text(const char *s)
{
	json_t *o = s ? json_loads(s, 0, NULL) : NULL;

	if (o && json_is_object(o))
		return o;
	json_decref(o);
	return json_object();
}

static json_t *reply_head(const char *request_id, bool ok)
{
	json_t *o = json_object();

	json_object_set_new(o, "ok", json_boolean(ok));
	json_object_set_new(o, "request_id", jstr(request_id));
	return o;
}

/* Microseconds are enough; fewer digits read better. */
static double round_ms(double ms)
{
	return round(ms * 1000.0) / 1000.0;
}

static char *finish(json_t *o, double took_ms)
{
	char *s;

	json_object_set_new(o, "took_ms", json_real(round_ms(took_ms)));
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(o);
	if (!s) {
		log_error("sproto: cannot serialise a reply");
		abort();
	}
	return s;
}

char *sproto_reply_error(const char *request_id, const char *code, const char *message, double took_ms)
{
	json_t *o = reply_head(request_id, false), *e = json_object();

	json_object_set_new(e, "code", jstr(code));
	json_object_set_new(e, "message", jstr(message));
	json_object_set_new(o, "error", e);
	return finish(o, took_ms);
}

static json_t *memory_json(const struct store_memory *m, bool scored)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", jstr(m->id));
	json_object_set_new(o, "memory", jstr(m->text));
	json_object_set_new(o, "score", scored ? json_real(m->score) : json_null());
	json_object_set_new(o, "session_id", jstr(m->session_id));
	json_object_set_new(o, "metadata", jobject_text(m->metadata));
	json_object_set_new(o, "created_at", jstr(m->created_at));
	json_object_set_new(o, "updated_at", jstr(m->updated_at));
	return o;
}

char *sproto_reply_memories(const char *request_id, const struct store_memory *m, int n, bool scored,
			    double took_ms)
{
	json_t *o = reply_head(request_id, true), *a = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, memory_json(&m[i], scored));
	json_object_set_new(o, "results", a);
	return finish(o, took_ms);
}

char *sproto_reply_context(const char *request_id, const struct store_memory *m, int n, double took_ms)
{
	json_t *o = reply_head(request_id, true), *a = json_array();
	int i;

	for (i = 0; i < n; i++) {
		json_t *msg = json_object();
		size_t len = strlen(m[i].text ? m[i].text : "") + 32;
		char *content = mw_malloc(len);

		snprintf(content, len, "[Relevant Context: %s]", m[i].text ? m[i].text : "");
		json_object_set_new(msg, "role", json_string("system"));
		json_object_set_new(msg, "content", jstr(content));
		free(content);
		json_array_append_new(a, msg);
	}
	json_object_set_new(o, "results", a);
	return finish(o, took_ms);
}

char *sproto_reply_history(const char *request_id, const struct store_history *h, int n, double took_ms)
{
	json_t *o = reply_head(request_id, true), *a = json_array();
	int i;

	for (i = 0; i < n; i++) {
		json_t *r = json_object();

		json_object_set_new(r, "id", json_integer(h[i].id));
		json_object_set_new(r, "memory_id", jstr(h[i].memory_id));
		json_object_set_new(r, "action", jstr(h[i].action));
		json_object_set_new(r, "previous_content", jstr(h[i].previous_content));
		json_object_set_new(r, "new_content", jstr(h[i].new_content));
		json_object_set_new(r, "metadata", h[i].metadata ? jobject_text(h[i].metadata) : json_null());
		json_object_set_new(r, "created_at", jstr(h[i].created_at));
		json_array_append_new(a, r);
	}
	json_object_set_new(o, "results", a);
	return finish(o, took_ms);
}

char *sproto_reply_stats(const char *request_id, const struct store_stats *st, double took_ms)
{
	json_t *o = reply_head(request_id, true), *r = json_object();

	json_object_set_new(r, "total_memories", json_integer(st->total_memories));
	json_object_set_new(r, "last_memory_at", jstr(st->last_memory_at));
	json_object_set_new(r, "history_rows", json_integer(st->history_rows));
	json_object_set_new(o, "results", r);
	return finish(o, took_ms);
}

char *sproto_reply_deleted(const char *request_id, long long deleted, double took_ms)
{
	json_t *o = reply_head(request_id, true);

	json_object_set_new(o, "deleted", json_integer(deleted));
	return finish(o, took_ms);
}
