/*
 * prompt: the user messages parse back to exactly what was given; the
 * built-in prompts keep the contract (their own examples parse as replies);
 * reply repair on what models really send; fact and action parsing, above
 * all that an id the model was not shown never reaches an action.
 */
#include "prompt.h"
#include "log.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Dropped actions are logged as warnings; only the test that reads them wants them. */
static void quiet(void)
{
	log_setup(LOG_ERROR, LOG_TEXT, "test");
}

TestSuite(prompt_actions, .init = quiet);
TestSuite(prompt_system, .init = quiet);

/* ---------- user messages ---------- */

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v;

	cr_assert_not_null(text);
	v = json_loads(text, 0, &e);
	cr_assert_not_null(v, "not JSON (%s): %s", e.text, text);
	return v;
}

Test(prompt_user, single_has_exactly_the_candidates_and_messages)
{
	const struct prompt_msg msgs[] = {
		{"user", "I \"really\" like tea\nand C:\\path {braces} </think>"},
		{"assistant", "Caf\xc3\xa9 \xf0\x9f\x98\x80 \x01 tab\t"},
		{"user", ""},
	};
	const struct prompt_candidate c[] = {
		{"6f1c1a52-0000-4000-8000-000000000001", "Likes tea"},
		{"6f1c1a52-0000-4000-8000-000000000002", "Name is \"Sean\""},
	};
	char *text = prompt_user_single(msgs, 3, c, 2);
	json_t *root = load(text), *mem, *nm, *m;
	size_t i;

	cr_expect_eq(json_object_size(root), 2);
	cr_expect(strncmp(text, "{\"existing_memories\": [", 23) == 0, "keys in contract order: %s", text);
	cr_expect(strchr(text, '\n') == NULL, "one line");
	mem = json_object_get(root, "existing_memories");
	cr_assert_eq(json_array_size(mem), 2);
	for (i = 0; i < 2; i++) {
		char id[4];

		m = json_array_get(mem, i);
		snprintf(id, sizeof(id), "%zu", i);
		cr_expect_eq(json_object_size(m), 2, "id and text only: the UUID is never shown");
		cr_expect_str_eq(json_string_value(json_object_get(m, "id")), id);
		cr_expect_str_eq(json_string_value(json_object_get(m, "text")), c[i].text);
	}
	nm = json_object_get(root, "new_messages");
	cr_assert_eq(json_array_size(nm), 3);
	for (i = 0; i < 3; i++) {
		m = json_array_get(nm, i);
		cr_expect_eq(json_object_size(m), 2);
		cr_expect_str_eq(json_string_value(json_object_get(m, "role")), msgs[i].role);
		cr_expect_str_eq(json_string_value(json_object_get(m, "content")), msgs[i].content);
	}
	/* escapes as JSON wants them; UTF-8 left as it is (cheaper in tokens than \u escapes) */
	cr_expect(strstr(text, "I \\\"really\\\" like tea\\nand C:\\\\path") != NULL, "%s", text);
	cr_expect(strstr(text, "\\u0001") != NULL, "control characters escaped: %s", text);
	cr_expect(strstr(text, "\\t") != NULL);
	cr_expect(strstr(text, "Caf\xc3\xa9 \xf0\x9f\x98\x80") != NULL, "%s", text);
	json_decref(root);
	free(text);
}

Test(prompt_user, single_with_nothing_existing)
{
	const struct prompt_msg msgs[] = {{"user", "Hi"}};
	char *text = prompt_user_single(msgs, 1, NULL, 0);

	cr_expect_str_eq(text,
			 "{\"existing_memories\": [], \"new_messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
	free(text);
}

Test(prompt_user, facts_call_has_only_messages)
{
	const struct prompt_msg msgs[] = {{"user", "My name is Sean"}, {"assistant", "Hi Sean"}, {NULL, NULL}};
	char *text = prompt_user_facts(msgs, 3);
	json_t *root = load(text), *nm;

	cr_expect_eq(json_object_size(root), 1);
	nm = json_object_get(root, "new_messages");
	cr_assert_eq(json_array_size(nm), 3);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(nm, 1), "role")), "assistant");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(nm, 1), "content")), "Hi Sean");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(nm, 2), "content")), "", "NULL as \"\"");
	json_decref(root);
	free(text);
}

Test(prompt_user, decide_call_has_candidates_and_facts)
{
	const char *facts[] = {"Likes green tea", "Lives in \"Berlin\"\n"};
	const struct prompt_candidate c[] = {{"u1", "Likes tea"}};
	char *text = prompt_user_decide(facts, 2, c, 1);
	json_t *root = load(text), *nf;

	cr_expect(strncmp(text, "{\"existing_memories\": [{\"id\": \"0\", \"text\": \"Likes tea\"}], \"new_facts\": [",
			  70) == 0,
		  "%s", text);
	cr_expect_eq(json_object_size(root), 2);
	nf = json_object_get(root, "new_facts");
	cr_assert_eq(json_array_size(nf), 2);
	cr_expect_str_eq(json_string_value(json_array_get(nf, 0)), facts[0]);
	cr_expect_str_eq(json_string_value(json_array_get(nf, 1)), facts[1]);
	json_decref(root);
	free(text);
}

Test(prompt_user, invalid_utf8_gives_null)
{
	const struct prompt_msg bad[] = {{"user", "caf\xc3"}};
	const struct prompt_candidate cbad[] = {{"u", "\xed\xa0\x80"}};
	const struct prompt_msg ok[] = {{"user", "fine"}};
	const char *fbad[] = {"\xff"};

	cr_expect_null(prompt_user_single(bad, 1, NULL, 0));
	cr_expect_null(prompt_user_single(ok, 1, cbad, 1));
	cr_expect_null(prompt_user_facts(bad, 1));
	cr_expect_null(prompt_user_decide(fbad, 1, NULL, 0));
}

/* ---------- system prompts ---------- */

static void expect_contains(const char *s, const char *what, const char *name)
{
	cr_expect(strstr(s, what) != NULL, "%s prompt lacks %s", name, what);
}

Test(prompt_system, defaults_state_the_contract)
{
	const char *f = prompt_default_fact(), *u = prompt_default_update(), *s = prompt_default_single();

	expect_contains(f, "{today}", "fact");
	expect_contains(f, "\"new_messages\"", "fact");
	expect_contains(f, "{\"facts\": [", "fact");
	expect_contains(f, "same language", "fact");
	expect_contains(f, "role is \"user\"", "fact");
	expect_contains(u, "\"existing_memories\"", "update");
	expect_contains(u, "\"new_facts\"", "update");
	expect_contains(u, "{\"memory\": [", "update");
	expect_contains(u, "\"old_memory\"", "update");
	expect_contains(u, "only valid ids", "update");
	expect_contains(s, "{today}", "single");
	expect_contains(s, "\"existing_memories\"", "single");
	expect_contains(s, "\"new_messages\"", "single");
	expect_contains(s, "{\"memory\": [", "single");
	expect_contains(s, "only valid ids", "single");
	expect_contains(s, "role is \"user\"", "single");
	expect_contains(s, "same language", "single");
	cr_expect_lt(strlen(s), 16000, "a prompt costs tokens on every call");
}

/*
 * Every few-shot example is the contract itself: each "Input: " line is a
 * user message our builders could have produced, each "Output: " line a
 * reply our parsers take whole (nothing ignored, no id out of range).
 */
static void check_examples(const char *prompt, const char *name, bool memory_reply)
{
	const char *p = prompt;
	int examples = 0;
	size_t nc = 0;

	while ((p = strstr(p, "\nInput: "))) {
		const char *line = p + 8, *eol = strchr(line, '\n');
		char *in = strndup(line, (size_t)(eol - line)), *out;
		json_t *v = load(in), *keys;
		const char *oline;

		keys = json_object_get(v, memory_reply ? "existing_memories" : "new_messages");
		cr_assert(json_is_array(keys), "%s example input lacks its key: %s", name, in);
		nc = memory_reply ? json_array_size(keys) : 0;
		if (memory_reply && !json_object_get(v, "new_facts"))
			cr_expect(json_is_array(json_object_get(v, "new_messages")), "%s: %s", name, in);
		json_decref(v);
		oline = eol + 1;
		cr_assert(strncmp(oline, "Output: ", 8) == 0, "%s: Input without Output", name);
		oline += 8;
		out = strndup(oline, strcspn(oline, "\n"));
		json_decref(load(out));
		if (memory_reply) {
			struct prompt_action_list l;
			char err[128];

			cr_expect_eq(prompt_parse_actions(out, (int)nc, &l, err, sizeof(err)), 0, "%s", err);
			cr_expect_eq(l.ignored, 0, "%s example reply drops an action: %s", name, out);
			prompt_action_list_free(&l);
		} else {
			struct prompt_fact_list l;
			char err[128];

			cr_expect_eq(prompt_parse_facts(out, &l, err, sizeof(err)), 0, "%s", err);
			prompt_fact_list_free(&l);
		}
		free(in);
		free(out);
		examples++;
		p = oline;
	}
	cr_expect_geq(examples, 4, "%s prompt has %d examples", name, examples);
}

Test(prompt_system, examples_are_valid_contract_json)
{
	check_examples(prompt_default_fact(), "fact", false);
	check_examples(prompt_default_update(), "update", true);
	check_examples(prompt_default_single(), "single", true);
}

Test(prompt_system, render_inserts_the_date)
{
	char *out;

	setenv("TZ", "UTC", 1);
	tzset();
	out = prompt_render("a {today} b {today}{today} c", (time_t)1700000000);
	cr_expect_str_eq(out, "a 2023-11-14 b 2023-11-142023-11-14 c");
	free(out);
	out = prompt_render("no placeholder {tod", 0);
	cr_expect_str_eq(out, "no placeholder {tod");
	free(out);
	out = prompt_render(prompt_default_single(), (time_t)1700000000);
	cr_expect(strstr(out, "Today's date is 2023-11-14.") != NULL);
	cr_expect(strstr(out, "{today}") == NULL);
	free(out);
}

/* ---------- custom prompt files ---------- */

static char *tmp_file(const char *data, size_t len)
{
	char *path = strdup("/tmp/mwprompt-XXXXXX");
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static int load_file(const char *data, size_t len, char **out, char *err, size_t errlen)
{
	char *path = tmp_file(data, len);
	int rc = prompt_load_file(path, out, err, errlen);

	unlink(path);
	free(path);
	return rc;
}

Test(prompt_file, loads_whole_file)
{
	char *out, err[256];
	const char text[] = "Extract facts. Reply {\"facts\": []}.\nDate: {today}\n";

	cr_assert_eq(load_file(text, sizeof(text) - 1, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(out, text);
	free(out);
	cr_assert_eq(load_file("\xef\xbb\xbfZ\xc3\xbcrich", 10, &out, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(out, "Z\xc3\xbcrich", "BOM dropped");
	free(out);
}

Test(prompt_file, refuses_with_a_clear_line)
{
	char *out = (char *)1, err[256], *big;
	char *path;

	cr_expect_eq(load_file("", 0, &out, err, sizeof(err)), -1);
	cr_expect_null(out);
	cr_expect(strstr(err, "empty") != NULL, "%s", err);
	cr_expect_eq(load_file(" \n\t\n", 4, &out, err, sizeof(err)), -1);
	cr_expect(strstr(err, "empty") != NULL, "%s", err);
	cr_expect_eq(load_file("abc\xff", 4, &out, err, sizeof(err)), -1);
	cr_expect(strstr(err, "UTF-8") != NULL, "%s", err);
	cr_expect_eq(load_file("a\0b", 3, &out, err, sizeof(err)), -1, "NUL byte");

	big = malloc(PROMPT_FILE_MAX + 1);
	memset(big, 'x', PROMPT_FILE_MAX + 1);
	cr_expect_eq(load_file(big, PROMPT_FILE_MAX + 1, &out, err, sizeof(err)), -1);
	cr_expect(strstr(err, "64 KiB") != NULL, "%s", err);
	cr_expect_eq(load_file(big, PROMPT_FILE_MAX, &out, err, sizeof(err)), 0, "exactly the limit is fine");
	cr_expect_eq(strlen(out), PROMPT_FILE_MAX);
	free(out);
	free(big);

	cr_expect_eq(prompt_load_file("/nonexistent/fact.txt", &out, err, sizeof(err)), -1);
	cr_expect(strstr(err, "/nonexistent/fact.txt") != NULL && strstr(err, "No such file") != NULL, "%s", err);
	path = strdup("/tmp/mwpromptdir-XXXXXX");
	cr_assert_not_null(mkdtemp(path));
	cr_expect_eq(prompt_load_file(path, &out, err, sizeof(err)), -1, "a directory");
	cr_expect(strstr(err, path) != NULL, "%s", err);
	rmdir(path);
	free(path);
}

/* ---------- repair ---------- */

struct repair_case {
	const char *reply;
	const char *want; /* NULL: unrepairable */
};

Test(prompt_repair, table)
{
	static const struct repair_case cases[] = {
		{"{\"facts\": [\"a\"]}", "{\"facts\": [\"a\"]}"},
		{"  \n {\"facts\": []} \n\n", "{\"facts\": []}"},
		{"\xef\xbb\xbf{\"a\": 1}", "{\"a\": 1}"},
		{"```json\n{\"facts\": [\"Likes tea\"]}\n```", "{\"facts\": [\"Likes tea\"]}"},
		{"```JSON\n{\"a\": 1}\n```\n", "{\"a\": 1}"},
		{"```\n{\"a\": 1}\n```", "{\"a\": 1}"},
		{"```{\"a\": 1}```", "{\"a\": 1}"},
		{"Here is the JSON:\n```json\n{\"a\": 1}\n```\nLet me know if {you} need more.", "{\"a\": 1}"},
		{"```json\n{\"a\": 1}", "{\"a\": 1}"},
		{"<think>The user likes tea. Output {\"facts\": [\"x\"]}? {maybe</think>\n{\"facts\": [\"Likes tea\"]}",
		 "{\"facts\": [\"Likes tea\"]}"},
		{"<think>a</think><think>b {</think>\n```json\n{\"a\": 1}\n```", "{\"a\": 1}"},
		{"<think>one</think> Sure. <think>two { [</think> {\"a\": 2}", "{\"a\": 2}"},
		{"<THINK>shouting</THINK>{\"a\": 3}", "{\"a\": 3}"},
		{"reasoning whose <think> tag the server ate {\"a\": 0}</think>\n{\"a\": 4}", "{\"a\": 4}"},
		{"Sure! {\"a\": 5} Hope this helps :) {", "{\"a\": 5}"},
		{"Sure! Here: {\"a\": \"}{ \\\" ] [ brace in a string\"} and more } text",
		 "{\"a\": \"}{ \\\" ] [ brace in a string\"}"},
		{"Result: {\"memory\": [{\"id\": \"0\", \"text\": \"a\", \"event\": \"NONE\", \"x\": {\"y\": [1, "
		 "{\"z\": 2}]}}]} done",
		 "{\"memory\": [{\"id\": \"0\", \"text\": \"a\", \"event\": \"NONE\", \"x\": {\"y\": [1, {\"z\": "
		 "2}]}}]}"},
		{"I think {this} is it: {\"a\": 6}", "{\"a\": 6}"},
		{"{\"facts\": [\"a\", \"b\",],}", "{\"facts\": [\"a\", \"b\"]}"},
		{"{\"facts\": [\"commas ,] inside, } stay\",\n ]}", "{\"facts\": [\"commas ,] inside, } stay\"]}"},
		{"{\"facts\": [\"Writes ``` fences\"]}", "{\"facts\": [\"Writes ``` fences\"]}"},
		{"Sure: {\"facts\": [\"Writes ``` fences\"]}", "{\"facts\": [\"Writes ``` fences\"]}"},
		{"{\"facts\": [\"Types </think> and <think> tags\"]}",
		 "{\"facts\": [\"Types </think> and <think> tags\"]}"},
		{"Sure: {\"facts\": [\"Types </think> tags\"]}", "{\"facts\": [\"Types </think> tags\"]}"},
		{"<think>x</think>{\"facts\": [\"Types <think> tags\"]}", "{\"facts\": [\"Types <think> tags\"]}"},
		{"```json\n{\"facts\": [\"Types </think> tags\"]}\n```", "{\"facts\": [\"Types </think> tags\"]}"},
		{"{\"a\": \"\\u00e9\\n\"}", "{\"a\": \"\\u00e9\\n\"}"},
		/* unrepairable */
		{"Sorry, I can't help with that.", NULL},
		{"", NULL},
		{"   \n", NULL},
		{"{\"facts\": [\"a\", \"b", NULL},
		{"```json\n{\"memory\": [{\"id\": \"0\", \"text\": \"x\", \"event\": \"ADD\"}, {\"id\"", NULL},
		{"<think>I should answer {\"facts\": [\"from the reasoning\"]} but", NULL},
		{"<think>{\"facts\": [\"from the reasoning\"]}</think>{\"facts\": [\"cut", NULL},
		{"[\"a bare array\"]", NULL},
		{"{not: json}", NULL},
		{"{\"a\": 1 \"b\": 2}", NULL},
	};
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char *got = prompt_repair_json(cases[k].reply);

		if (!cases[k].want) {
			cr_expect_null(got, "case %zu should be unrepairable, got %s", k, got);
		} else {
			json_t *g, *w = json_loads(cases[k].want, 0, NULL);

			cr_assert_not_null(w, "case %zu: bad expectation", k);
			cr_expect_not_null(got, "case %zu: %s", k, cases[k].reply);
			g = got ? json_loads(got, 0, NULL) : NULL;
			cr_expect(json_equal(g, w), "case %zu: got %s", k, got ? got : "NULL");
			json_decref(g);
			json_decref(w);
		}
		free(got);
	}
	cr_expect_null(prompt_repair_json(NULL));
}

Test(prompt_repair, keeps_the_object_text_as_sent)
{
	char *got = prompt_repair_json("ok: {\"b\": 1,   \"a\": [ 2 ]} bye");

	cr_expect_str_eq(got, "{\"b\": 1,   \"a\": [ 2 ]}");
	free(got);
}

/* ---------- facts ---------- */

Test(prompt_facts, object_trimmed_and_filtered)
{
	struct prompt_fact_list l;
	char err[128];

	cr_assert_eq(prompt_parse_facts("{\"facts\": [\"Likes tea\", \"  Name is Sean \\n\", \"\", \"   \", 42, null, "
					"[\"x\"], {\"f\": 1}, \"Likes tea\", \"Ist Vegetarierin\"]}",
					&l, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(l.n, 3);
	cr_expect_str_eq(l.facts[0], "Likes tea");
	cr_expect_str_eq(l.facts[1], "Name is Sean");
	cr_expect_str_eq(l.facts[2], "Ist Vegetarierin");
	prompt_fact_list_free(&l);
	cr_expect_null(l.facts);
	cr_expect_eq(l.n, 0);
}

Test(prompt_facts, bare_array_fenced_think_empty)
{
	struct prompt_fact_list l;
	char err[128];

	cr_assert_eq(prompt_parse_facts("[\"a\", \"b\"]", &l, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(l.n, 2);
	prompt_fact_list_free(&l);
	cr_assert_eq(prompt_parse_facts("Facts:\n```json\n[\"a\", {\"odd\": 1}]\n```", &l, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(l.n, 1);
	prompt_fact_list_free(&l);
	cr_assert_eq(prompt_parse_facts("<think>hmm</think>\n```json\n{\"facts\": [\"Likes tea\"]}\n```", &l, err,
					sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(l.n, 1);
	cr_expect_str_eq(l.facts[0], "Likes tea");
	prompt_fact_list_free(&l);
	cr_assert_eq(prompt_parse_facts("{\"facts\": []}", &l, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(l.n, 0);
	prompt_fact_list_free(&l);
}

Test(prompt_facts, errors)
{
	struct prompt_fact_list l;
	char err[128];

	cr_expect_eq(prompt_parse_facts("{\"memory\": []}", &l, err, sizeof(err)), -1,
		     "an array inside some other object is no answer");
	cr_expect(strstr(err, "\"facts\"") != NULL, "%s", err);
	cr_expect_eq(l.n, 0);
	prompt_fact_list_free(&l);
	cr_expect_eq(prompt_parse_facts("{\"facts\": \"Likes tea\"}", &l, err, sizeof(err)), -1);
	prompt_fact_list_free(&l);
	cr_expect_eq(prompt_parse_facts("Sorry, no.", &l, err, sizeof(err)), -1);
	cr_expect(strstr(err, "no JSON") != NULL, "%s", err);
	prompt_fact_list_free(&l);
	cr_expect_eq(prompt_parse_facts("{\"facts\": [\"Likes", &l, err, sizeof(err)), -1);
	cr_expect(strstr(err, "cut short") != NULL, "%s", err);
	prompt_fact_list_free(&l);
}

/* ---------- actions ---------- */

static void expect_action(const struct prompt_action *a, enum prompt_event ev, int cand, const char *text,
			  const char *old)
{
	cr_expect_eq(a->event, ev, "event %s, want %s", prompt_event_name(a->event), prompt_event_name(ev));
	cr_expect_eq(a->cand, cand);
	cr_expect_str_eq(a->text, text);
	if (old)
		cr_expect_str_eq(a->old_memory, old);
	else
		cr_expect_null(a->old_memory);
}

Test(prompt_actions, valid_reply)
{
	struct prompt_action_list l;
	char err[128];
	const char *reply =
		"{\"memory\": ["
		"{\"id\": \"7\", \"text\": \" Name is Sean \", \"event\": \"ADD\"},"
		"{\"id\": \"0\", \"text\": \"Loves green tea\", \"event\": \"UPDATE\", \"old_memory\": \"Likes tea\"},"
		"{\"id\": 1, \"text\": \"Has a dog\", \"event\": \"DELETE\"},"
		"{\"id\": \"2\", \"text\": \"Lives in Berlin\", \"event\": \"NONE\"},"
		"{\"text\": \"Plans a trip to Japan\", \"event\": \"ADD\"}"
		"]}";

	cr_assert_eq(prompt_parse_actions(reply, 3, &l, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(l.n, 4);
	cr_expect_eq(l.ignored, 0);
	cr_expect_eq(l.unchanged, 1);
	expect_action(&l.a[0], PROMPT_ADD, -1, "Name is Sean", NULL);
	expect_action(&l.a[1], PROMPT_UPDATE, 0, "Loves green tea", "Likes tea");
	expect_action(&l.a[2], PROMPT_DELETE, 1, "Has a dog", NULL);
	expect_action(&l.a[3], PROMPT_ADD, -1, "Plans a trip to Japan", NULL);
	prompt_action_list_free(&l);
	cr_expect_null(l.a);
	cr_expect_eq(l.n, 0);
}

Test(prompt_actions, event_case_and_id_forms)
{
	struct prompt_action_list l;
	char err[128];
	const char *reply = "```json\n{\"memory\": ["
			    "{\"id\": 2, \"text\": \"a\", \"event\": \"update\"},"
			    "{\"id\": \"1\", \"event\": \"Delete\"},"
			    "{\"id\": 0.0, \"text\": \"b\", \"event\": \" UpDaTe \"},"
			    "{\"text\": \"c\", \"event\": \"add\"},"
			    "{\"id\": \"3\", \"event\": \"none\"}"
			    "]}\n```";

	cr_assert_eq(prompt_parse_actions(reply, 4, &l, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(l.n, 4);
	cr_expect_eq(l.ignored, 0);
	cr_expect_eq(l.unchanged, 1);
	expect_action(&l.a[0], PROMPT_UPDATE, 2, "a", NULL);
	expect_action(&l.a[1], PROMPT_DELETE, 1, "", NULL);
	expect_action(&l.a[2], PROMPT_UPDATE, 0, "b", NULL);
	expect_action(&l.a[3], PROMPT_ADD, -1, "c", NULL);
	prompt_action_list_free(&l);
}

/* Runs prompt_parse_actions with stderr captured (log lines go there). */
static int parse_capturing(const char *reply, int nc, struct prompt_action_list *l, char **log)
{
	char path[] = "/tmp/mwpromptlog-XXXXXX", err[128];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO), rc;

	cr_assert(fd >= 0 && saved >= 0);
	dup2(fd, STDERR_FILENO);
	rc = prompt_parse_actions(reply, nc, l, err, sizeof(err));
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	*log = calloc(1, 65536);
	cr_assert(read(fd, *log, 65535) >= 0);
	close(fd);
	unlink(path);
	return rc;
}

Test(prompt_actions, unknown_ids_are_dropped_counted_and_logged)
{
	struct prompt_action_list l;
	char *log;
	const char *reply =
		"{\"memory\": ["
		"{\"id\": \"999\", \"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"id\": \"3f2b8c1e-9d4a-4f6b-8e7d-1a2b3c4d5e6f\", \"text\": \"x\", \"event\": \"DELETE\"},"
		"{\"id\": \"2\", \"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"id\": -1, \"text\": \"x\", \"event\": \"DELETE\"},"
		"{\"id\": \"01\", \"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"id\": \" 1\", \"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"id\": 1.5, \"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"id\": true, \"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"text\": \"x\", \"event\": \"UPDATE\"},"
		"{\"id\": null, \"event\": \"DELETE\"},"
		"{\"id\": \"42\", \"event\": \"NONE\"},"
		"{\"id\": \"1\", \"text\": \"kept\", \"event\": \"UPDATE\"}"
		"]}";

	log_setup(LOG_INFO, LOG_TEXT, "test");
	cr_assert_eq(parse_capturing(reply, 2, &l, &log), 0);
	cr_assert_eq(l.n, 1, "only the update of a shown memory survives");
	expect_action(&l.a[0], PROMPT_UPDATE, 1, "kept", NULL);
	cr_expect_eq(l.ignored, 11);
	cr_expect_eq(l.unchanged, 0);
	cr_expect(strstr(log, "id \"999\": names no memory shown (2 shown); dropped") != NULL, "%s", log);
	cr_expect(strstr(log, "\"3f2b8c1e-9d4a-4f6b-8e7d-1a2b3c4d5e6f\"") != NULL, "%s", log);
	cr_expect(strstr(log, "warn") != NULL, "%s", log);
	cr_expect(strstr(log, "\"x\"") == NULL, "memory texts stay out of the log: %s", log);
	prompt_action_list_free(&l);
	free(log);
}

Test(prompt_actions, no_candidates_means_no_update_or_delete)
{
	struct prompt_action_list l;
	char err[128];

	cr_assert_eq(prompt_parse_actions("{\"memory\": [{\"id\": \"0\", \"text\": \"x\", \"event\": \"UPDATE\"},"
					  "{\"id\": 0, \"event\": \"DELETE\"},"
					  "{\"id\": \"0\", \"text\": \"y\", \"event\": \"ADD\"}]}",
					  0, &l, err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(l.n, 1);
	expect_action(&l.a[0], PROMPT_ADD, -1, "y", NULL);
	cr_expect_eq(l.ignored, 2);
	prompt_action_list_free(&l);
}

Test(prompt_actions, empty_texts_bad_events_repeats)
{
	struct prompt_action_list l;
	char err[128];
	const char *reply = "{\"memory\": ["
			    "{\"text\": \"\", \"event\": \"ADD\"},"
			    "{\"text\": \"  \\n \", \"event\": \"ADD\"},"
			    "{\"event\": \"ADD\"},"
			    "{\"text\": 5, \"event\": \"ADD\"},"
			    "{\"id\": \"0\", \"text\": \"\", \"event\": \"UPDATE\"},"
			    "{\"id\": \"0\", \"event\": \"UPDATE\"},"
			    "{\"id\": \"0\", \"text\": \"m\", \"event\": \"MERGE\"},"
			    "{\"id\": \"0\", \"text\": \"m\"},"
			    "{\"id\": \"0\", \"text\": \"m\", \"event\": 3},"
			    "\"not an object\","
			    "{\"id\": \"1\", \"event\": \"NONE\"},"
			    "{\"id\": \"1\", \"text\": \"changed after all\", \"event\": \"UPDATE\"},"
			    "{\"id\": \"0\", \"text\": \"first\", \"event\": \"UPDATE\"},"
			    "{\"id\": \"0\", \"event\": \"DELETE\"},"
			    "{\"id\": \"0\", \"text\": \"third\", \"event\": \"UPDATE\"},"
			    "{\"text\": \"Likes tea\", \"event\": \"ADD\"},"
			    "{\"text\": \" Likes tea\", \"event\": \"ADD\"}"
			    "]}";

	cr_assert_eq(prompt_parse_actions(reply, 2, &l, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(l.n, 3);
	expect_action(&l.a[0], PROMPT_UPDATE, 1, "changed after all", NULL);
	expect_action(&l.a[1], PROMPT_UPDATE, 0, "first", NULL);
	expect_action(&l.a[2], PROMPT_ADD, -1, "Likes tea", NULL);
	cr_expect_eq(l.unchanged, 1, "NONE does not claim the memory");
	cr_expect_eq(l.ignored, 13);
	prompt_action_list_free(&l);
}

Test(prompt_actions, errors)
{
	struct prompt_action_list l;
	char err[128];

	cr_expect_eq(prompt_parse_actions("{\"facts\": [\"a\"]}", 2, &l, err, sizeof(err)), -1);
	cr_expect(strstr(err, "\"memory\"") != NULL, "%s", err);
	cr_expect_eq(l.n, 0);
	prompt_action_list_free(&l);
	cr_expect_eq(prompt_parse_actions("{\"memory\": {\"id\": \"0\"}}", 2, &l, err, sizeof(err)), -1);
	prompt_action_list_free(&l);
	cr_expect_eq(prompt_parse_actions("[{\"id\": \"0\", \"event\": \"DELETE\"}]", 2, &l, err, sizeof(err)), -1);
	prompt_action_list_free(&l);
	cr_expect_eq(prompt_parse_actions("Sorry, I cannot do that.", 2, &l, err, sizeof(err)), -1);
	cr_expect(strstr(err, "no JSON") != NULL, "%s", err);
	prompt_action_list_free(&l);
	cr_expect_eq(prompt_parse_actions("{\"memory\": [{\"id\": \"0\", \"text\": \"Lik", 2, &l, err, sizeof(err)),
		     -1);
	cr_expect(strstr(err, "cut short") != NULL, "%s", err);
	prompt_action_list_free(&l);
	cr_expect_eq(prompt_parse_actions(NULL, 2, &l, err, sizeof(err)), -1);
	prompt_action_list_free(&l);
	cr_assert_eq(prompt_parse_actions("<think>nothing new</think>{\"memory\": []}", 2, &l, err, sizeof(err)), 0);
	cr_expect_eq(l.n, 0);
	cr_expect_eq(l.ignored, 0);
	prompt_action_list_free(&l);
}

Test(prompt_actions, event_names)
{
	cr_expect_str_eq(prompt_event_name(PROMPT_ADD), "ADD");
	cr_expect_str_eq(prompt_event_name(PROMPT_UPDATE), "UPDATE");
	cr_expect_str_eq(prompt_event_name(PROMPT_DELETE), "DELETE");
	cr_expect_str_eq(prompt_event_name(PROMPT_NONE), "NONE");
}
