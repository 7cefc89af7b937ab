/*
 * entry: see entry.h. Field rules come from DESIGN.md; every message's
 * content is checked for emptiness, size and UTF-8 before anything else
 * sees it.
 */
#include "entry.h"

#include "log.h"
#include "mhash.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool valid_role(const char *r)
{
	return strcmp(r, "user") == 0 || strcmp(r, "assistant") == 0 || strcmp(r, "system") == 0;
}

static int check_content(const char *what, const char *s, size_t len, const struct entry_limits *lim, char *reason,
			 size_t rlen)
{
	size_t i;
	bool blank = true;

	for (i = 0; i < len && blank; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			blank = false;
	if (len == 0 || blank) {
		snprintf(reason, rlen, "%s: empty", what);
		return -1;
	}
	if (len > lim->max_content_bytes) {
		snprintf(reason, rlen, "%s: %zu bytes is over MEM0_MAX_CONTENT_BYTES=%zu", what, len,
			 lim->max_content_bytes);
		return -1;
	}
	if (memchr(s, '\0', len) || !mhash_utf8_valid(s, len)) {
		snprintf(reason, rlen, "%s: not valid UTF-8 text", what);
		return -1;
	}
	return 0;
}

static int parse_user_id(const char *v, size_t len, int64_t *out)
{
	char buf[32], *end;
	long long n;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	n = strtoll(buf, &end, 10);
	/* the chat app's ids are PostgreSQL INTEGER (SERIAL) */
	if (errno || *end != '\0' || n <= 0 || n > 2147483647LL)
		return -1;
	*out = n;
	return 0;
}

/* messages: [{"role": "...", "content": "..."}, ...] */
static int parse_messages(struct entry *e, const char *v, size_t len, const struct entry_limits *lim, char *reason,
			  size_t rlen)
{
	json_error_t jerr;
	json_t *arr = json_loadb(v, len, JSON_REJECT_DUPLICATES, &jerr);
	size_t i, n;
	int rc = -1;

	if (!arr || !json_is_array(arr) || json_array_size(arr) == 0) {
		snprintf(reason, rlen, "messages: not a non-empty JSON array of {role, content}");
		goto out;
	}
	n = json_array_size(arr);
	if (n > 1000) {
		snprintf(reason, rlen, "messages: %zu messages in one entry (at most 1000)", n);
		goto out;
	}
	e->msgs = mw_calloc(n, sizeof(*e->msgs));
	for (i = 0; i < n; i++) {
		json_t *m = json_array_get(arr, i);
		json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
		char what[48];

		if (!json_is_object(m) || !json_is_string(role) || !json_is_string(content)) {
			snprintf(reason, rlen, "messages[%zu]: needs string role and content", i);
			goto out;
		}
		if (!valid_role(json_string_value(role))) {
			snprintf(reason, rlen, "messages[%zu].role: must be user, assistant or system", i);
			goto out;
		}
		snprintf(what, sizeof(what), "messages[%zu].content", i);
		if (check_content(what, json_string_value(content), json_string_length(content), lim, reason, rlen) < 0)
			goto out;
		e->msgs[i].role = mw_strdup(json_string_value(role));
		e->msgs[i].content = mw_strdup(json_string_value(content));
		e->nmsgs++;
	}
	rc = 0;
out:
	json_decref(arr);
	return rc;
}

/* A reprocess run id: 1-64 of [A-Za-z0-9._:-]. */
static bool valid_run_id(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= '0' && v[i] <= '9') ||
		      v[i] == '.' || v[i] == '_' || v[i] == ':' || v[i] == '-'))
			return false;
	return true;
}

static const char *field(const char *const *fields, const size_t *lens, int nfields, const char *name, size_t *len)
{
	int i;

	for (i = 0; i + 1 < nfields; i += 2) {
		if (lens[i] == strlen(name) && memcmp(fields[i], name, lens[i]) == 0) {
			*len = lens[i + 1];
			return fields[i + 1];
		}
	}
	return NULL;
}

int entry_parse(struct entry *e, const char *stream_id, const char *const *fields, const size_t *lens, int nfields,
		const struct entry_limits *lim, char *reason, size_t reasonlen)
{
	const char *v;
	size_t len;
	int i;

	memset(e, 0, sizeof(*e));
	e->stream_id = mw_strdup(stream_id);
	e->infer = true;
	e->deliveries = 1;
	e->nfields = nfields;
	e->fields = mw_calloc((size_t)(nfields ? nfields : 1), sizeof(char *));
	for (i = 0; i < nfields; i++)
		e->fields[i] = mw_strndup(fields[i], lens[i]);

	if ((v = field(fields, lens, nfields, "v", &len)) && !(len == 1 && v[0] == '1')) {
		snprintf(reason, reasonlen, "v: unsupported entry format version (this worker reads 1)");
		return -1;
	}
	if (!(v = field(fields, lens, nfields, "user_db_id", &len))) {
		snprintf(reason, reasonlen, "user_db_id: missing");
		return -1;
	}
	if (parse_user_id(v, len, &e->user) < 0) {
		snprintf(reason, reasonlen, "user_db_id: '%.*s' is not a positive integer id", (int)(len > 40 ? 40 : len),
			 v);
		return -1;
	}
	if (!(v = field(fields, lens, nfields, "session_id", &len)) || len == 0) {
		snprintf(reason, reasonlen, "session_id: missing");
		return -1;
	}
	if (len > 255 || !mhash_utf8_valid(v, len)) {
		snprintf(reason, reasonlen, "session_id: longer than 255 bytes or not UTF-8");
		return -1;
	}
	e->session_id = mw_strndup(v, len);

	if ((v = field(fields, lens, nfields, "messages", &len))) {
		if (parse_messages(e, v, len, lim, reason, reasonlen) < 0)
			return -1;
	} else {
		const char *role = field(fields, lens, nfields, "role", &len);
		size_t rlen = len;
		const char *content;

		if (!role) {
			role = "user";
			rlen = 4;
		}
		if (!(rlen == 4 && memcmp(role, "user", 4) == 0) && !(rlen == 9 && memcmp(role, "assistant", 9) == 0) &&
		    !(rlen == 6 && memcmp(role, "system", 6) == 0)) {
			snprintf(reason, reasonlen, "role: must be user, assistant or system");
			return -1;
		}
		if (!(content = field(fields, lens, nfields, "content", &len))) {
			snprintf(reason, reasonlen, "content: missing (give role + content, or messages)");
			return -1;
		}
		if (check_content("content", content, len, lim, reason, reasonlen) < 0)
			return -1;
		e->msgs = mw_calloc(1, sizeof(*e->msgs));
		e->msgs[0].role = mw_strndup(role, rlen);
		e->msgs[0].content = mw_strndup(content, len);
		e->nmsgs = 1;
	}

	if ((v = field(fields, lens, nfields, "message_id", &len)) && len > 0) {
		if (len > 255 || !mhash_utf8_valid(v, len)) {
			snprintf(reason, reasonlen, "message_id: longer than 255 bytes or not UTF-8");
			return -1;
		}
		e->message_key = mw_strndup(v, len);
	} else {
		e->message_key = mw_strdup(stream_id);
	}
	/*
	 * reprocess=<run> (memctl replay --reprocess): derive this message's
	 * memories again. The key becomes <key>#reprocess:<run>, absent from
	 * the ingest log, so the message goes through the model once more; a
	 * second delivery within the same run is still a no-op. What the model
	 * derives again lands on the per-user hash (an ADD of a text the user
	 * has is skipped) and apply's same-hash check (an unchanged UPDATE is
	 * skipped): no duplicate memory, no history row for an unchanged fact.
	 */
	if ((v = field(fields, lens, nfields, "reprocess", &len)) && len > 0) {
		size_t klen = strlen(e->message_key);
		char *key;

		if (!valid_run_id(v, len)) {
			snprintf(reason, reasonlen, "reprocess: a run id of 1-64 letters, digits, '.', '_', ':' or '-'");
			return -1;
		}
		key = mw_malloc(klen + 11 + len + 1);
		memcpy(key, e->message_key, klen);
		memcpy(key + klen, "#reprocess:", 11);
		memcpy(key + klen + 11, v, len);
		key[klen + 11 + len] = '\0';
		free(e->message_key);
		e->message_key = key;
	}
	if ((v = field(fields, lens, nfields, "user_id", &len)) && len > 0) {
		if (len > 255 || !mhash_utf8_valid(v, len)) {
			snprintf(reason, reasonlen, "user_id: longer than 255 bytes or not UTF-8");
			return -1;
		}
		e->user_id = mw_strndup(v, len);
	}
	if ((v = field(fields, lens, nfields, "created_at", &len)) && len > 0) {
		if (len > 64 || !mhash_utf8_valid(v, len)) {
			snprintf(reason, reasonlen, "created_at: not RFC 3339 or epoch milliseconds");
			return -1;
		}
		e->created_at = mw_strndup(v, len);
	}
	if ((v = field(fields, lens, nfields, "metadata", &len)) && len > 0) {
		json_error_t jerr;
		json_t *m = json_loadb(v, len, JSON_REJECT_DUPLICATES, &jerr);

		if (!m || !json_is_object(m)) {
			json_decref(m);
			snprintf(reason, reasonlen, "metadata: not a JSON object");
			return -1;
		}
		e->metadata = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(m);
	}
	if ((v = field(fields, lens, nfields, "infer", &len))) {
		if ((len == 5 && memcmp(v, "false", 5) == 0) || (len == 1 && v[0] == '0'))
			e->infer = false;
		else if (!((len == 4 && memcmp(v, "true", 4) == 0) || (len == 1 && v[0] == '1'))) {
			snprintf(reason, reasonlen, "infer: must be true or false");
			return -1;
		}
	}
	return 0;
}

void entry_free(struct entry *e)
{
	int i;

	if (!e)
		return;
	free(e->stream_id);
	free(e->session_id);
	for (i = 0; i < e->nmsgs; i++) {
		free(e->msgs[i].role);
		free(e->msgs[i].content);
	}
	free(e->msgs);
	free(e->message_key);
	free(e->user_id);
	free(e->created_at);
	free(e->metadata);
	for (i = 0; i < e->nfields; i++)
		free(e->fields[i]);
	free(e->fields);
	memset(e, 0, sizeof(*e));
}
