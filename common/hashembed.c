/*
 * hashembed: see hashembed.h. The tokenisation is the mock LLM's since its
 * first version (lowercase, stopwords, 's' stem, whole-text fallback); it is
 * done here in ASCII without <ctype.h> so the vectors do not depend on the
 * locale, and without a lowercased copy of the text.
 */
#include "hashembed.h"

#include "log.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const stopwords[] = {
        "i",   "a",    "an",   "the", "my",  "me",   "mine", "is",    "am",    "are", "was", "were", "be",   "been",
        "do",  "does", "did",  "to",  "of",  "and",  "or",   "in",    "on",    "at",  "for", "with", "what", "which",
        "who", "you",  "your", "it",  "its", "that", "this", "these", "those", "as",  "by",  "from", "so",   NULL};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Bytes >= 0x80 count as letters: a UTF-8 word is one word, whatever its script. */
static bool word_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z') || c >= 0x80;
}

static bool is_stopword(const char *w, size_t n)
{
	const char *const *s;
	size_t i;

	for (s = stopwords; *s; s++) {
		if (strlen(*s) != n)
			continue;
		for (i = 0; i < n && lower((unsigned char)w[i]) == (unsigned char)(*s)[i]; i++)
			;
		if (i == n)
			return true;
	}
	return false;
}

/* FNV-1a over s[0..n-1], lowercased when fold is set. */
static uint64_t fnv1a(const char *s, size_t n, bool fold)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= fold ? lower((unsigned char)s[i]) : (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void add_sparse(double *acc, int dims, uint64_t h)
{
	acc[h % (uint64_t)dims] += 1.0;
	acc[(h >> 20) % (uint64_t)dims] += (h >> 63) ? -0.5 : 0.5;
}

/*
 * 24 random bits per component, centred: k * 2^-23 for k in [-2^23, 2^23).
 * Continuous enough that the vectors do not compress, and exactly a float
 * (hashembed.h promises callers exact sums).
 */
static void add_dense(double *acc, int dims, uint64_t h)
{
	uint64_t state = h;
	int i;

	for (i = 0; i < dims; i++)
		acc[i] += ((double)(int64_t)(splitmix64(&state) >> 40) - 0x1p23) * 0x1p-23;
}

static void add_hash(enum hashembed_kind kind, double *acc, int dims, uint64_t h)
{
	if (kind == HASHEMBED_DENSE)
		add_dense(acc, dims, h);
	else
		add_sparse(acc, dims, h);
}

int hashembed_kind_parse(const char *name, enum hashembed_kind *out)
{
	if (name && strcmp(name, "sparse") == 0)
		*out = HASHEMBED_SPARSE;
	else if (name && strcmp(name, "dense") == 0)
		*out = HASHEMBED_DENSE;
	else
		return -1;
	return 0;
}

const char *hashembed_kind_name(enum hashembed_kind kind)
{
	return kind == HASHEMBED_DENSE ? "dense" : "sparse";
}

void hashembed_sum(enum hashembed_kind kind, const char *text, int dims, double *acc)
{
	const char *p = text;
	int words = 0, i;

	for (i = 0; i < dims; i++)
		acc[i] = 0;
	while (*p) {
		size_t n = 0;

		while (*p && !word_byte((unsigned char)*p))
			p++;
		while (p[n] && word_byte((unsigned char)p[n]))
			n++;
		if (n == 0)
			break;
		if (!is_stopword(p, n)) {
			size_t stem = n > 3 && lower((unsigned char)p[n - 1]) == 's' ? n - 1 : n;

			add_hash(kind, acc, dims, fnv1a(p, stem, true));
			words++;
		}
		p += n;
	}
	/* "the of and", "?!": the text as it is, not lowercased, as the mock always did */
	if (words == 0)
		add_hash(kind, acc, dims, fnv1a(text, strlen(text), false));
}

void hashembed_unit(double *v, int dims)
{
	double norm = 0;
	int i;

	for (i = 0; i < dims; i++)
		norm += v[i] * v[i];
	norm = sqrt(norm);
	for (i = 0; i < dims; i++)
		v[i] = norm > 0 ? v[i] / norm : 0;
}

void hashembed(enum hashembed_kind kind, const char *text, int dims, float *out)
{
	double *acc = mw_malloc(sizeof(*acc) * (size_t)dims);
	int i;

	hashembed_sum(kind, text, dims, acc);
	hashembed_unit(acc, dims);
	for (i = 0; i < dims; i++)
		out[i] = (float)acc[i];
	free(acc);
}
