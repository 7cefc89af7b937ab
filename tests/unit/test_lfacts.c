/*
 * lfacts extraction: a table of user turns and the facts the local model
 * keeps from them (rewritten in the third person), or none (dropped), and
 * the parts the decisions read back: retractions and predicate heads. Pure:
 * no model file needed.
 */
#include "lfacts.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	const char *turn;
	const char *facts; /* joined with " | "; "" = nothing kept */
};

static const struct row rows[] = {
        /* rewritten in the third person */
        {"I love sci-fi films", "Loves sci-fi films"},
        {"I have a dog named Rex.", "Has a dog named Rex"},
        {"My sister lives in Porto.", "Sister lives in Porto"},
        {"I'm vegetarian.", "Is vegetarian"},
        {"I'm going to Japan next month!", "Is going to Japan next month"},
        {"I work at Google as a nurse.", "Works at Google as a nurse"},
        {"My name is Sean.", "Name is Sean"},
        {"Hi, I'm Sean.", "Name is Sean"},
        {"Call me Bob.", "Name is Bob"},
        {"I'm 34 years old.", "Is 34 years old"},
        {"I am 34.", "Is 34 years old"},
        {"My favorite color is blue.", "Favorite color is blue"},
        {"I'm allergic to peanuts.", "Is allergic to peanuts"},
        {"I was born in 1990.", "Was born in 1990"},
        {"I prefer window seats.", "Prefers window seats"},
        {"I usually cycle to work.", "Usually cycles to work"},
        {"I study biology at the university.", "Studies biology at the university"},
        {"I'm a software engineer at a startup.", "Is a software engineer at a startup"},
        {"I'm from Portugal.", "Is from Portugal"},
        {"I can speak French and German.", "Can speak French and German"},
        {"I want to learn Spanish.", "Wants to learn Spanish"},
        {"I'd like to visit Peru someday.", "Would like to visit Peru someday"},
        {"I've been playing piano for ten years.", "Has been playing piano for ten years"},
        {"I just adopted a cat named Luna.", "Adopted a cat named Luna"},
        {"I got married last month.", "Got married last month"},
        {"Last year, I moved to Berlin.", "Moved to Berlin last year"},
        {"My wife and I love hiking.", "Loves hiking with wife"},
        {"I love my job.", "Loves their job"},
        {"I live with my sister.", "Lives with sister"},
        {"I don't like mushrooms.", "Does not like mushrooms"},
        {"I can't eat gluten.", "Cannot eat gluten"},
        {"My dog's name is Rex.", "Dog's name is Rex"},
        {"I live in Porto now.", "Lives in Porto"},
        {"I'm allergic to cats, by the way.", "Is allergic to cats"},
        {"Please remember that I'm allergic to shellfish.", "Is allergic to shellfish"},
        {"Remember that my birthday is on May 3rd.", "Birthday is on May 3rd"},
        {"I'm trying to lose weight before my wedding in June.",
         "Is trying to lose weight before their wedding in June"},
        {"I'm trying to understand this error.", ""},
        {"I love jazz too!", "Loves jazz"},
        {"i like pizza", "Likes pizza"},
        {"I\xe2\x80\x99m vegan and I\xe2\x80\x99ve got two cats.", "Is vegan | Has two cats"},
        /* several facts in one turn; markers and fillers go */
        {"I live in Lisbon and I like tea.", "Lives in Lisbon | Likes tea"},
        {"I love hiking and play guitar on weekends.", "Loves hiking | Plays guitar on weekends"},
        {"I'm a nurse. I work nights at the hospital.", "Is a nurse | Works nights at the hospital"},
        {"Actually, I really love jazz music.", "Loves jazz music"},
        {"By the way, I have two kids.", "Has two kids"},
        {"I love jazz, do you?", "Loves jazz"},
        {"Hello! My name is Ana and I work as a teacher. What should I cook tonight?",
         "Name is Ana | Works as a teacher"},
        /* retractions */
        {"I don't like tea anymore.", "No longer likes tea"},
        {"I no longer live in Lisbon.", "No longer lives in Lisbon"},
        {"I stopped eating meat.", "No longer eats meat"},
        {"I quit smoking.", "No longer smokes"},
        {"I'm not vegetarian anymore.", "Is no longer vegetarian"},
        {"I don't have a car anymore.", "No longer has a car"},
        {"I used to live in Madrid.", "Used to live in Madrid"},
        /* dropped: questions, greetings, small talk, requests, words to the assistant, others, the world */
        {"What movies do you recommend?", ""},
        {"Hello!", ""},
        {"Good morning!", ""},
        {"Thanks, that's very helpful.", ""},
        {"How are you?", ""},
        {"I'm fine, thanks.", ""},
        {"lol", ""},
        {"The weather is nice today.", ""},
        {"Paris is the capital of France.", ""},
        {"She lives in Paris.", ""},
        {"We went to Paris last summer.", ""},
        {"I think you're right.", ""},
        {"Can you help me with my code?", ""},
        {"I need help with a recipe.", ""},
        {"I want to know how this works.", ""},
        {"I have a question about Python.", ""},
        {"I love it!", ""},
        {"I agree.", ""},
        {"Tell me a joke.", ""},
        {"Write me a poem about cats.", ""},
        {"I'm looking for a restaurant in Lisbon.", ""},
        {"I'm sorry to hear that.", ""},
        {"I'm thinking about it.", ""},
        {"Do I like horror movies?", ""},
        {"My question is about SQL.", ""},
};

static char *joined(const struct lfacts_list *l)
{
	size_t cap = 1;
	char *s;
	int i;

	for (i = 0; i < l->n; i++)
		cap += strlen(l->facts[i]) + 3;
	s = calloc(1, cap);
	for (i = 0; i < l->n; i++) {
		if (i)
			strcat(s, " | ");
		strcat(s, l->facts[i]);
	}
	return s;
}

Test(lfacts, table_of_turns)
{
	size_t i, kept = 0, dropped = 0;

	cr_assert_geq(sizeof(rows) / sizeof(rows[0]), 30);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct lfacts_list l = {0};
		char *got;

		lfacts_extract(rows[i].turn, &l);
		got = joined(&l);
		cr_expect_str_eq(got, rows[i].facts, "\"%s\" -> \"%s\", want \"%s\"", rows[i].turn, got, rows[i].facts);
		if (rows[i].facts[0])
			kept++;
		else
			dropped++;
		free(got);
		lfacts_list_free(&l);
	}
	cr_expect_geq(kept, 10);
	cr_expect_geq(dropped, 10);
}

Test(lfacts, no_repeats_across_turns_and_appends)
{
	struct lfacts_list l = {0};

	lfacts_extract("I like tea.", &l);
	lfacts_extract("I like tea! I like TEA. I live in Lisbon.", &l);
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(l.facts[0], "Likes tea");
	cr_expect_str_eq(l.facts[1], "Lives in Lisbon");
	lfacts_list_free(&l);
}

Test(lfacts, odd_input_is_harmless)
{
	struct lfacts_list l = {0};
	char big[5000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	lfacts_extract("", &l);
	lfacts_extract(NULL, &l);
	lfacts_extract("...!?;;\n\n", &l);
	lfacts_extract("I", &l);
	lfacts_extract("I'm", &l);
	lfacts_extract("My", &l);
	lfacts_extract("I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I I", &l);
	lfacts_extract(big, &l);
	lfacts_extract("\xc3\xa9\xc3\xa9 \xe2\x80\x99 \xe2\x80\x9c", &l);
	cr_expect_eq(l.n, 0, "first: %s", l.n ? l.facts[0] : "");
	lfacts_list_free(&l);
	/* a very long statement is no memory either */
	{
		char s[1200] = "I like ";

		memset(s + 7, 'x', 1000);
		s[1007] = '\0';
		lfacts_extract(s, &l);
		cr_expect_eq(l.n, 0);
		lfacts_list_free(&l);
	}
}

Test(lfacts, retractions_read_back)
{
	static const struct {
		const char *fact, *positive;
	} r[] = {
	        {"No longer likes tea", "Likes tea"},
	        {"No longer lives in Lisbon", "Lives in Lisbon"},
	        {"Is no longer vegetarian", "Is vegetarian"},
	        {"Used to live in Madrid", "Lives in Madrid"},
	        {"User no longer eats meat", "Eats meat"},
	        {"Likes tea", NULL},
	        {"Is vegetarian", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		char *p = lfacts_retracted(r[i].fact);

		if (r[i].positive)
			cr_expect(p && strcmp(p, r[i].positive) == 0, "%s -> %s", r[i].fact, p ? p : "(none)");
		else
			cr_expect_null(p, "%s -> %s", r[i].fact, p ? p : "");
		free(p);
	}
}

Test(lfacts, predicate_heads)
{
	static const struct {
		const char *fact, *head;
		bool single;
	} h[] = {
	        {"Lives in Lisbon", "live in", true},
	        {"Lives in a small flat", "live in", true},
	        {"Works as a nurse", "work as", true},
	        {"Works at Google as a nurse", "work at", true},
	        {"Name is Sean", "name be", true},
	        {"The user's name is Sean", "name be", true},
	        {"Favorite color is blue", "favorite color be", true},
	        {"Sister lives in Porto", "sister live in", true},
	        {"Is 34 years old", "age", true},
	        {"Is from Portugal", "be from", true},
	        {"Is going to Japan next month", "be going to", true},
	        {"Is allergic to peanuts", "be allergic to", false},
	        {"Is vegetarian", "be vegetarian", false},
	        {"Is a nurse", "be a", false},
	        {"Has a dog named Rex", "have dog", false},
	        {"Likes tea", "like tea", false},
	        {"Really loves sci-fi films", "love sci-fi", false},
	};
	size_t i;

	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		char out[96];
		bool single;

		lfacts_head(h[i].fact, out, sizeof(out), &single);
		cr_expect_str_eq(out, h[i].head, "%s -> \"%s\"", h[i].fact, out);
		cr_expect_eq(single, h[i].single, "%s: single %d", h[i].fact, single);
	}
}
