/*
 * lfacts: the local fact extractor and memory decisions (MEM0_MODELS=local),
 * rules instead of a language model.
 *
 * Extraction reads one user turn: sentences and clauses; questions,
 * greetings, small talk, requests, words addressed to the assistant and
 * statements about others or the world are dropped; statements about the
 * user (preferences, possessions, relations, places, plans, work, health,
 * name, age) are rewritten in the third person: "I love sci-fi films" ->
 * "Loves sci-fi films", "My sister lives in Porto" -> "Sister lives in
 * Porto", "I'm vegetarian" -> "Is vegetarian". Retractions become "No
 * longer likes tea" / "Is no longer vegetarian".
 *
 * Decisions reconcile facts with existing memories, using the local
 * embedder for similarity: the same words (or cosine >= LFACTS_SAME_SIM)
 * -> NONE; a retraction of a similar memory sharing a content word ->
 * DELETE; a new value for the same single-valued predicate ("Lives in",
 * "Works as", "Name is", "Favorite color is", an age) of a similar memory,
 * the opposite statement about the same thing ("Does not like X" after
 * "Likes X"), or a close one-word attribute ("Is vegan" after "Is
 * vegetarian") -> UPDATE; otherwise ADD.
 *
 * Pure functions: no I/O, no state; the embedder is only read.
 */
#ifndef MW_LFACTS_H
#define MW_LFACTS_H

#include <stdbool.h>
#include <stddef.h>

struct lembed;

/* Similarities (cosine of lembed_text vectors) the decisions use. */
#define LFACTS_UPDATE_SIM     0.45 /* same single-valued predicate and at least this close: UPDATE */
#define LFACTS_DELETE_SIM     0.60 /* a retraction this close to a memory sharing a content word: DELETE */
#define LFACTS_DELETE_SIM_ANY 0.92 /* ... or this close with no shared word */
#define LFACTS_ATTRIBUTE_SIM  0.80 /* "Is X" after "Is Y" (one word each) this close: UPDATE */
#define LFACTS_SAME_SIM       0.97 /* a fact this close to a memory says nothing new: NONE */

struct lfacts_list {
	char **facts; /* n malloc'd strings, distinct */
	int n;
	int cap;
};

/*
 * Appends to out the facts one user turn states about the user, in order,
 * without repeating a fact already in out. text is UTF-8.
 */
void lfacts_extract(const char *text, struct lfacts_list *out);
void lfacts_list_free(struct lfacts_list *l);

/*
 * The positive fact a retraction takes back, malloc'd ("No longer likes
 * tea" -> "Likes tea", "Is no longer vegetarian" -> "Is vegetarian", "Used
 * to live in Lisbon" -> "Lives in Lisbon"), or NULL when fact is no
 * retraction.
 */
char *lfacts_retracted(const char *fact);

/*
 * A fact's predicate head, normalised: "Lives in Lisbon" -> "live in",
 * "Name is Sean" -> "name be", "Has a dog named Rex" -> "have dog".
 * *single: the predicate holds one value at a time (a new value replaces
 * the old). Writes at most outlen bytes, NUL included.
 */
void lfacts_head(const char *fact, char *out, size_t outlen, bool *single);

enum lfacts_event { LFACTS_ADD = 0, LFACTS_UPDATE, LFACTS_DELETE, LFACTS_NONE };

struct lfacts_decision {
	enum lfacts_event event;
	int memory; /* index into the existing memories; -1 for ADD */
	char *text; /* ADD/UPDATE: the new text; DELETE/NONE: the memory's text */
};

struct lfacts_decisions {
	struct lfacts_decision *d; /* at most one per existing memory, plus the ADDs, in fact order */
	int n;
};

/*
 * Decides what nf facts do to ne existing memories (texts borrowed). At
 * most one event per memory; a later fact on a memory changed earlier in
 * the same call replaces that change (the last word wins, as in a
 * conversation), and facts repeat or update ADDs of the same call the same
 * way. Free with lfacts_decisions_free.
 */
void lfacts_decide(const struct lembed *e, const char *const *facts, int nf, const char *const *existing, int ne,
                   struct lfacts_decisions *out);
void lfacts_decisions_free(struct lfacts_decisions *d);

#endif
