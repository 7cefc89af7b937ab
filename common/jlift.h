/*
 * jlift: takes the long string values of one key out of a JSON text before
 * a parser sees it. jansson reads a string byte by byte (escapes, UTF-8
 * checks, a growing buffer) and then copies it; an embeddings reply in
 * base64 carries ~8 KB of such string per input and little else, so most of
 * its parse went there. jlift finds those values with memchr, hands them
 * back as spans into the original text and leaves "" in their place in a
 * copy, which jansson then parses in a fraction of the time. Pure functions
 * on caller-owned text: no state, safe on any thread or loop.
 */
#ifndef MW_JLIFT_H
#define MW_JLIFT_H

#include <stddef.h>

struct jlift_span {
	const char *at; /* into the original text: borrowed from the caller */
	size_t len;
};

struct jlift {
	char *text;               /* the copy, lifted values emptied, NUL-terminated: owned */
	size_t len;               /* of text, the NUL not counted */
	struct jlift_span *spans; /* the lifted values in document order: owned */
	size_t n;
	size_t cap; /* of spans: jlift's business */
};

/*
 * Lifts from text[0..len-1] (no NUL needed; text[len] is never read) the
 * string value of every object member named key, at any depth: a string
 * token whose raw bytes are key, optional whitespace, ':', optional
 * whitespace, a string token. Strings are tokenized as JSON does (a
 * backslash escapes the next byte), so key-like text inside another string
 * never matches.
 *
 * Returns 0 with out filled (out->n may be 0): out->text is text with the
 * contents of the lifted values removed and nothing else changed, so it is
 * valid JSON exactly when text is and parses to the same tree but for those
 * values, now "". A span holds a value's exact contents: no escapes, only
 * bytes 0x20..0x7f. Free out with jlift_free.
 *
 * Returns -1 with out empty (nothing to free) when a value to lift holds an
 * escape (not decoded here) or a byte outside 0x20..0x7f (UTF-8 and control
 * characters are jansson's to judge), when an object key holds an escape
 * ("embe\u0064ding" may be key in disguise), or when a string never ends.
 * The caller then parses the original text as if jlift did not exist.
 */
int jlift_strings(const char *text, size_t len, const char *key, struct jlift *out) __attribute__((warn_unused_result));

/* Frees what jlift_strings filled; out is empty afterwards. */
void jlift_free(struct jlift *jl);

#endif
