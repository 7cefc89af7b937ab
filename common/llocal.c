/*
 * llocal: see llocal.h. jansson in, jansson out; the thinking is lfacts'.
 */
#include "llocal.h"

#include "lfacts.h"
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *memory_text(const json_t *m)
{
	const char *t = json_string_value(json_object_get(m, "text"));

	return t ? t : json_string_value(json_object_get(m, "memory"));
}

/* The shown id as text ("3"), whether the prompt sent a string or a number. */
static json_t *memory_id(const json_t *m, size_t index)
{
	json_t *id = json_object_get(m, "id");
	char buf[32];

	if (json_is_string(id))
		return json_string(json_string_value(id));
	if (json_is_integer(id))
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(id));
	else
		snprintf(buf, sizeof(buf), "%zu", index);
	return json_string(buf);
}

/* The first integer id not shown: ADDs are numbered from there. */
static long next_free_id(const json_t *existing)
{
	long next = (long)json_array_size(existing);
	size_t i;
	json_t *m;

	json_array_foreach (existing, i, m) {
		json_t *id = json_object_get(m, "id");
		long v = json_is_integer(id)  ? (long)json_integer_value(id)
		         : json_is_string(id) ? strtol(json_string_value(id), NULL, 10)
		                              : -1;

		if (v >= next)
			next = v + 1;
	}
	return next;
}

static json_t *facts_of_messages(const json_t *messages)
{
	struct lfacts_list l = {0};
	json_t *arr = json_array(), *m;
	size_t i;
	int k;

	json_array_foreach (messages, i, m) {
		const char *role = json_string_value(json_object_get(m, "role"));
		const char *content = json_string_value(json_object_get(m, "content"));

		if (role && content && strcmp(role, "user") == 0)
			lfacts_extract(content, &l);
	}
	for (k = 0; k < l.n; k++)
		json_array_append_new(arr, json_string(l.facts[k]));
	lfacts_list_free(&l);
	return arr;
}

static json_t *decide(const struct lembed *e, const json_t *facts, const json_t *existing)
{
	size_t nf = json_array_size(facts), ne = json_array_size(existing), i;
	const char **f = mw_calloc(nf + 1, sizeof(*f)), **x = mw_calloc(ne + 1, sizeof(*x));
	struct lfacts_decisions d;
	json_t *out = json_array();
	long add_id = next_free_id(existing);
	int k;

	for (i = 0; i < nf; i++)
		f[i] = json_string_value(json_array_get(facts, i));
	for (i = 0; i < ne; i++) {
		x[i] = memory_text(json_array_get(existing, i));
		if (!x[i])
			x[i] = "";
	}
	lfacts_decide(e, f, (int)nf, x, (int)ne, &d);
	for (k = 0; k < d.n; k++) {
		const struct lfacts_decision *dk = &d.d[k];
		static const char *const names[] = {"ADD", "UPDATE", "DELETE", "NONE"};
		json_t *o = json_object();

		if (dk->event == LFACTS_ADD) {
			char id[32];

			snprintf(id, sizeof(id), "%ld", add_id++);
			json_object_set_new(o, "id", json_string(id));
		} else {
			json_object_set_new(
			        o, "id", memory_id(json_array_get(existing, (size_t)dk->memory), (size_t)dk->memory));
		}
		json_object_set_new(o, "text", json_string(dk->text));
		json_object_set_new(o, "event", json_string(names[dk->event]));
		if (dk->event == LFACTS_UPDATE || dk->event == LFACTS_DELETE)
			json_object_set_new(o, "old_memory", json_string(x[dk->memory]));
		json_array_append_new(out, o);
	}
	lfacts_decisions_free(&d);
	free(f);
	free(x);
	return out;
}

char *llocal_answer(const struct lembed *e, const char *user_message, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *in = json_loads(user_message ? user_message : "", 0, &jerr), *msgs, *facts, *existing, *reply = NULL;
	char *text = NULL;

	if (!json_is_object(in)) {
		snprintf(err, errlen, "local model: the user message is not a JSON object (%s)", jerr.text);
		goto out;
	}
	msgs = json_object_get(in, "new_messages");
	facts = json_object_get(in, "new_facts");
	existing = json_object_get(in, "existing_memories");
	if (existing && !json_is_array(existing)) {
		snprintf(err, errlen, "local model: existing_memories is not an array");
		goto out;
	}
	if (json_is_array(msgs) && existing) {
		json_t *f = facts_of_messages(msgs);

		reply = json_pack("{s:o}", "memory", decide(e, f, existing));
		json_decref(f);
	} else if (json_is_array(msgs)) {
		reply = json_pack("{s:o}", "facts", facts_of_messages(msgs));
	} else if (json_is_array(facts) && existing) {
		reply = json_pack("{s:o}", "memory", decide(e, facts, existing));
	} else {
		snprintf(err, errlen,
		         "local model: the user message has neither new_messages nor new_facts with existing_memories");
		goto out;
	}
	text = json_dumps(reply, JSON_COMPACT);
out:
	json_decref(reply);
	json_decref(in);
	return text;
}
