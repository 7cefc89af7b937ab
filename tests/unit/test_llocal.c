/*
 * The local model's decisions (NONE / UPDATE / DELETE / ADD) on a table,
 * its answers to memworker's prompt contract (read back with the worker's
 * own parsers), and MEM0_MODELS=local through models.c on a libevent loop:
 * callbacks after the call, exactly once, failed on models_free.
 */
#include "cfg.h"
#include "lembed.h"
#include "lfacts.h"
#include "llocal.h"
#include "localenv.h"
#include "models.h"
#include "prompt.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lembed *e;

static void open_model(void)
{
	e = lenv_open();
}

static void close_model(void)
{
	lembed_close(e);
}

TestSuite(ldecide, .init = open_model, .fini = close_model);
TestSuite(llocal, .init = open_model, .fini = close_model);

#define MAXN 4

struct drow {
	const char *existing[MAXN];
	const char *facts[MAXN];
	const char *want; /* "EVENT idx|text; ..." in output order */
};

static const struct drow drows[] = {
        /* NONE: the same fact again (case, punctuation, plural, near-identical wording) */
        {{"Likes tea"}, {"Likes tea"}, "NONE 0"},
        {{"Likes tea"}, {"likes tea."}, "NONE 0"},
        {{"Loves sci-fi films"}, {"Loves sci-fi movies"}, "NONE 0"},
        {{"Name is Sean", "Likes tea"}, {"Likes tea", "Name is Sean"}, "NONE 0; NONE 1"},
        /* UPDATE: a new value of a single-valued predicate of a similar memory */
        {{"Lives in Lisbon"}, {"Lives in Porto"}, "UPDATE 0 Lives in Porto"},
        {{"Works as a nurse"}, {"Works as a teacher"}, "UPDATE 0 Works as a teacher"},
        {{"Works at Google as a nurse"}, {"Works at Microsoft"}, "UPDATE 0 Works at Microsoft"},
        {{"Name is Sean"}, {"Name is John"}, "UPDATE 0 Name is John"},
        {{"Favorite color is blue"}, {"Favorite color is green"}, "UPDATE 0 Favorite color is green"},
        {{"Is 30 years old"}, {"Is 31 years old"}, "UPDATE 0 Is 31 years old"},
        {{"User lives in Lisbon"}, {"Lives in Porto"}, "UPDATE 0 Lives in Porto"},
        {{"Likes tea", "Lives in Lisbon"}, {"Lives in Porto", "Lives in Madrid"}, "UPDATE 1 Lives in Madrid"},
        {{"Works as a nurse at Santa Maria hospital"}, {"Works as a teacher"}, "UPDATE 0 Works as a teacher"},
        /* UPDATE: the opposite statement about the same thing */
        {{"Is vegetarian", "Likes tea"}, {"Is vegan"}, "UPDATE 0 Is vegan"},
        {{"Is married"}, {"Is divorced"}, "UPDATE 0 Is divorced"},
        {{"Is happy"}, {"Is tired"}, "ADD Is tired"},
        {{"Likes mushrooms"}, {"Does not like mushrooms"}, "UPDATE 0 Does not like mushrooms"},
        {{"Does not like mushrooms"}, {"Likes mushrooms"}, "UPDATE 0 Likes mushrooms"},
        {{"Can eat gluten", "Likes tea"}, {"Cannot eat gluten"}, "UPDATE 0 Cannot eat gluten"},
        /* DELETE: a retraction of a similar memory */
        {{"Likes tea", "Lives in Lisbon"}, {"No longer likes tea"}, "DELETE 0"},
        {{"Is vegetarian"}, {"Is no longer vegetarian"}, "DELETE 0"},
        {{"Has a dog named Rex", "Likes tea"}, {"No longer has a dog"}, "DELETE 0"},
        {{"Eats meat"}, {"No longer eats meat"}, "DELETE 0"},
        {{"Likes coffee", "Lives in Lisbon"}, {"Used to live in Lisbon"}, "DELETE 1"},
        /* ADD: new facts, other values of many-valued predicates, retractions of nothing known */
        {{"Likes tea"}, {"Likes coffee"}, "ADD Likes coffee"},
        {{"Has a dog named Rex"}, {"Has a cat named Tom"}, "ADD Has a cat named Tom"},
        {{"Is allergic to peanuts"}, {"Is allergic to cats"}, "ADD Is allergic to cats"},
        {{"Lives in Lisbon"}, {"Lives in a small apartment"}, "ADD Lives in a small apartment"},
        {{"Sister lives in Porto"}, {"Lives in Porto"}, "ADD Lives in Porto"},
        {{"Lives in Porto"}, {"No longer lives in Lisbon"}, "ADD No longer lives in Lisbon"},
        {{"Likes mushrooms"}, {"Does not like jazz"}, "ADD Does not like jazz"},
        {{"Is going to Japan next month"},
         {"Is going to the dentist tomorrow"},
         "ADD Is going to the dentist tomorrow"},
        {{NULL}, {"No longer likes tea"}, "ADD No longer likes tea"},
        /* facts of the same call reconcile with each other */
        {{NULL}, {"Likes tea", "Likes tea"}, "ADD Likes tea"},
        {{NULL}, {"Lives in Lisbon", "Lives in Porto"}, "ADD Lives in Porto"},
        {{NULL}, {"Likes tea", "No longer likes tea"}, ""},
        {{"Name is Sean"}, {"Is vegetarian", "Plays chess"}, "ADD Is vegetarian; ADD Plays chess"},
};

static int count(const char *const *a)
{
	int n = 0;

	while (n < MAXN && a[n])
		n++;
	return n;
}

static char *render(const struct lfacts_decisions *d)
{
	static const char *const names[] = {"ADD", "UPDATE", "DELETE", "NONE"};
	char *s = calloc(1, 2048);
	int i;

	for (i = 0; i < d->n; i++) {
		char one[400];

		if (d->d[i].event == LFACTS_ADD)
			snprintf(one, sizeof(one), "ADD %s", d->d[i].text);
		else if (d->d[i].event == LFACTS_UPDATE)
			snprintf(one, sizeof(one), "UPDATE %d %s", d->d[i].memory, d->d[i].text);
		else
			snprintf(one, sizeof(one), "%s %d", names[d->d[i].event], d->d[i].memory);
		if (i)
			strcat(s, "; ");
		strcat(s, one);
	}
	return s;
}

Test(ldecide, table)
{
	size_t i;

	for (i = 0; i < sizeof(drows) / sizeof(drows[0]); i++) {
		struct lfacts_decisions d;
		char *got;

		lfacts_decide(e, drows[i].facts, count(drows[i].facts), drows[i].existing, count(drows[i].existing),
		              &d);
		got = render(&d);
		cr_expect_str_eq(got, drows[i].want, "row %zu (%s ...): got \"%s\", want \"%s\"", i, drows[i].facts[0],
		                 got, drows[i].want);
		free(got);
		lfacts_decisions_free(&d);
	}
}

Test(ldecide, at_most_one_event_per_memory)
{
	const char *ex[] = {"Lives in Lisbon", "Likes tea"};
	const char *f[] = {"Lives in Porto", "No longer lives in Porto", "Likes tea", "No longer likes tea",
	                   "Lives in Madrid"};
	struct lfacts_decisions d;
	int i, seen[2] = {0, 0};

	lfacts_decide(e, f, 5, ex, 2, &d);
	for (i = 0; i < d.n; i++)
		if (d.d[i].memory >= 0)
			seen[d.d[i].memory]++;
	cr_expect_leq(seen[0], 1);
	cr_expect_leq(seen[1], 1);
	lfacts_decisions_free(&d);
}

/* ---- the prompt contract ---- */

static char *answer(const char *user)
{
	char err[256];
	char *r = llocal_answer(e, user, err, sizeof(err));

	cr_assert_not_null(r, "%s", err);
	return r;
}

Test(llocal, single_call_extracts_from_user_turns_and_decides)
{
	char *reply = answer("{\"existing_memories\":[{\"id\":\"0\",\"text\":\"Lives in Lisbon\"},"
	                     "{\"id\":\"1\",\"text\":\"Likes tea\"}],\"new_messages\":["
	                     "{\"role\":\"user\",\"content\":\"Hi! I live in Porto now. I love jazz. I don't like tea "
	                     "anymore. What's the weather like?\"},"
	                     "{\"role\":\"assistant\",\"content\":\"I love opera and I live in the cloud.\"}]}");
	struct prompt_action_list l;
	char err[256];

	cr_assert_eq(prompt_parse_actions(reply, 2, &l, err, sizeof(err)), 0, "%s: %s", err, reply);
	cr_expect_eq(l.ignored, 0, "%s", reply);
	cr_assert_eq(l.n, 3, "%s", reply);
	cr_expect_eq(l.a[0].event, PROMPT_UPDATE);
	cr_expect_eq(l.a[0].cand, 0);
	cr_expect_str_eq(l.a[0].text, "Lives in Porto");
	cr_expect_str_eq(l.a[0].old_memory, "Lives in Lisbon");
	cr_expect_eq(l.a[1].event, PROMPT_DELETE);
	cr_expect_eq(l.a[1].cand, 1);
	cr_expect_eq(l.a[2].event, PROMPT_ADD);
	cr_expect_str_eq(l.a[2].text, "Loves jazz");
	prompt_action_list_free(&l);
	cr_expect_null(strstr(reply, "opera"), "assistant turns are context only: %s", reply);
	free(reply);
}

Test(llocal, two_pass_facts_then_decisions)
{
	char *reply = answer("{\"new_messages\":[{\"role\":\"user\",\"content\":\"My name is Ana. I'm a nurse and I "
	                     "have two cats.\"},{\"role\":\"assistant\",\"content\":\"My name is Bot.\"}]}");
	struct prompt_fact_list f;
	struct prompt_action_list l;
	char err[256];

	cr_assert_eq(prompt_parse_facts(reply, &f, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(f.n, 3, "%s", reply);
	cr_expect_str_eq(f.facts[0], "Name is Ana");
	cr_expect_str_eq(f.facts[1], "Is a nurse");
	cr_expect_str_eq(f.facts[2], "Has two cats");
	prompt_fact_list_free(&f);
	free(reply);

	/* ids: numbers or strings as shown; ADDs numbered after the largest shown id */
	reply = answer("{\"existing_memories\":[{\"id\":0,\"text\":\"Name is Anna\"},{\"id\":\"1\",\"text\":\"Likes "
	               "tea\"}],\"new_facts\":[\"Name is Ana\",\"Likes tea\",\"Plays chess\"]}");
	cr_assert_eq(prompt_parse_actions(reply, 2, &l, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(l.ignored, 0);
	cr_expect_eq(l.unchanged, 1, "%s", reply);
	cr_assert_eq(l.n, 2, "%s", reply);
	cr_expect_eq(l.a[0].event, PROMPT_UPDATE);
	cr_expect_str_eq(l.a[0].text, "Name is Ana");
	cr_expect_eq(l.a[1].event, PROMPT_ADD);
	cr_expect_str_eq(l.a[1].text, "Plays chess");
	cr_expect(strstr(reply, "\"id\":\"2\"") != NULL, "%s", reply);
	prompt_action_list_free(&l);
	free(reply);
}

Test(llocal, refuses_what_is_not_the_contract)
{
	char err[256];
	const char *bad[] = {"hello",
	                     "",
	                     "[1,2]",
	                     "{\"foo\":1}",
	                     "{\"existing_memories\":3,\"new_facts\":[]}",
	                     "{\"new_facts\":[\"x\"]}"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *r = llocal_answer(e, bad[i], err, sizeof(err));

		cr_expect_null(r, "%s -> %s", bad[i], r);
		cr_expect(strstr(err, "local model") != NULL, "%s", err);
		free(r);
	}
	cr_expect_null(llocal_answer(e, NULL, err, sizeof(err)));
}

/* ---- through models.c ---- */

struct got {
	int calls, status, n, dims;
	bool inside;
	float first[100];
	char *content;
};

static bool in_call;

static void on_embed(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct got *g = arg;

	(void)errstr;
	g->calls++;
	g->inside = in_call;
	g->status = status;
	g->n = n;
	g->dims = dims;
	if (status == 0 && n > 0)
		memcpy(g->first, vecs, sizeof(float) * 100);
}

static void on_chat(void *arg, int status, const char *content, const char *errstr)
{
	struct got *g = arg;

	g->calls++;
	g->inside = in_call;
	g->status = status;
	g->content = strdup(status == 0 ? content : errstr);
}

static void local_cfg(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->models = CFG_MODELS_LOCAL;
	c->local_model_path = (char *)lenv_model_path();
	c->embedding_dims = 100;
	c->embed_batch_max = 64;
}

Test(llocal, models_local_answers_from_the_loop)
{
	struct event_base *base = event_base_new();
	struct cfg c;
	struct models *m;
	struct got ge = {0}, gc = {0};
	const char *texts[] = {"I love sci-fi films", "Has a dog", ""};
	char err[256];
	float want[100];

	local_cfg(&c);
	m = models_new(base, &c, err, sizeof(err));
	cr_assert_not_null(m, "%s", err);
	cr_expect_eq(models_dims(m), 100);
	in_call = true;
	cr_assert_eq(models_embed(m, texts, 3, on_embed, &ge), 0);
	cr_assert_eq(models_chat(m, "ignored", "{\"new_messages\":[{\"role\":\"user\",\"content\":\"I like tea\"}]}",
	                         on_chat, &gc),
	             0);
	in_call = false;
	cr_expect_eq(ge.calls + gc.calls, 0, "callbacks never fire inside the call");
	event_base_dispatch(base);
	cr_expect_eq(ge.calls, 1);
	cr_expect_not(ge.inside);
	cr_expect_eq(ge.status, 0);
	cr_expect_eq(ge.n, 3);
	cr_expect_eq(ge.dims, 100);
	lembed_text(e, "I love sci-fi films", want);
	cr_expect_arr_eq(ge.first, want, sizeof(want));
	cr_expect_eq(gc.calls, 1);
	cr_expect_eq(gc.status, 0);
	cr_expect_str_eq(gc.content, "{\"facts\":[\"Likes tea\"]}");
	free(gc.content);

	/* not the contract: an error, still from the loop */
	memset(&gc, 0, sizeof(gc));
	cr_assert_eq(models_chat(m, "s", "not json", on_chat, &gc), 0);
	cr_expect_eq(gc.calls, 0);
	event_base_dispatch(base);
	cr_expect_eq(gc.calls, 1);
	cr_expect_eq(gc.status, -1);
	free(gc.content);

	/* pending work fails on free, once */
	memset(&ge, 0, sizeof(ge));
	cr_assert_eq(models_embed(m, texts, 2, on_embed, &ge), 0);
	models_free(m);
	cr_expect_eq(ge.calls, 1);
	cr_expect_eq(ge.status, -1);
	event_base_dispatch(base);
	cr_expect_eq(ge.calls, 1);
	event_base_free(base);
}

Test(llocal, models_local_start_errors_name_the_variable)
{
	struct event_base *base = event_base_new();
	struct cfg c;
	char err[512];

	local_cfg(&c);
	c.embedding_dims = 64;
	cr_expect_null(models_new(base, &c, err, sizeof(err)));
	cr_expect(strncmp(err, "MEM0_EMBEDDING_DIMS:", 20) == 0, "%s", err);
	local_cfg(&c);
	c.local_model_path = (char *)"/nonexistent/model.lemb";
	cr_expect_null(models_new(base, &c, err, sizeof(err)));
	cr_expect(strncmp(err, "MEM0_LOCAL_MODEL_PATH:", 22) == 0 && strstr(err, "/nonexistent/model.lemb"), "%s", err);
	event_base_free(base);
}
