/*
 * hashembed: both kinds deterministic and unit length, the sparse kind's
 * components for a fixed text (indices from FNV-1a computed outside C, and
 * what the mock served before the module existed), the dense kind continuous
 * and spread, similarity following shared words, and the tokenisation
 * (case, stopwords, 's' stem, fallback) the same for both kinds.
 */
#include "hashembed.h"
#include "vec.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIMS 1536

static const enum hashembed_kind kinds[] = {HASHEMBED_SPARSE, HASHEMBED_DENSE};

static float *embed(enum hashembed_kind kind, const char *text)
{
	float *v = malloc(sizeof(float) * DIMS);

	cr_assert(v);
	hashembed(kind, text, DIMS, v);
	return v;
}

static double norm(const float *v)
{
	double s = 0;
	int i;

	for (i = 0; i < DIMS; i++)
		s += (double)v[i] * v[i];
	return sqrt(s);
}

static int nonzero(const float *v)
{
	int i, n = 0;

	for (i = 0; i < DIMS; i++)
		n += v[i] != 0;
	return n;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static int distinct(const float *v)
{
	float *s = malloc(sizeof(float) * DIMS);
	int i, n = 1;

	cr_assert(s);
	memcpy(s, v, sizeof(float) * DIMS);
	qsort(s, DIMS, sizeof(float), cmp_float);
	for (i = 1; i < DIMS; i++)
		n += s[i] != s[i - 1];
	free(s);
	return n;
}

/* Both texts give the very same floats. */
static void expect_same(enum hashembed_kind kind, const char *a, const char *b)
{
	float *va = embed(kind, a), *vb = embed(kind, b);

	cr_expect_arr_eq(va, vb, sizeof(float) * DIMS, "%s: \"%s\" and \"%s\" differ", hashembed_kind_name(kind), a, b);
	free(va);
	free(vb);
}

Test(hashembed, kind_names)
{
	enum hashembed_kind k = HASHEMBED_SPARSE;

	cr_expect_eq(hashembed_kind_parse("dense", &k), 0);
	cr_expect_eq(k, HASHEMBED_DENSE);
	cr_expect_eq(hashembed_kind_parse("sparse", &k), 0);
	cr_expect_eq(k, HASHEMBED_SPARSE);
	cr_expect_eq(hashembed_kind_parse("Dense", &k), -1);
	cr_expect_eq(hashembed_kind_parse("", &k), -1);
	cr_expect_eq(hashembed_kind_parse(NULL, &k), -1);
	cr_expect_str_eq(hashembed_kind_name(HASHEMBED_SPARSE), "sparse");
	cr_expect_str_eq(hashembed_kind_name(HASHEMBED_DENSE), "dense");
}

Test(hashembed, deterministic_and_unit_length)
{
	static const char *const texts[] = {"Coffee beans roast",
	                                    "Lives in Lisbon",
	                                    "the of and",
	                                    "?!",
	                                    "",
	                                    "Caf\xc3\xa9 cr\xc3\xa8me in S\xc3\xa3o Paulo"};
	size_t k, t;

	for (k = 0; k < 2; k++) {
		for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
			float *a = embed(kinds[k], texts[t]), *b = embed(kinds[k], texts[t]);

			cr_expect_arr_eq(a, b, sizeof(float) * DIMS, "%s \"%s\": not deterministic",
			                 hashembed_kind_name(kinds[k]), texts[t]);
			cr_expect_float_eq(norm(a), 1.0, 1e-6, "%s \"%s\": norm %f", hashembed_kind_name(kinds[k]),
			                   texts[t], norm(a));
			free(a);
			free(b);
		}
	}
}

/*
 * FNV-1a (Python, outside this code) at 1536 dims: coffee 0xa26426344ed41b41
 * -> 833 +1, 749 -0.5; bean 0x75e7589b95102d67 -> 871 +1, 849 +0.5; roast
 * 0xc8bf1e4663d4aafa -> 250 +1, 573 -0.5. The mock served exactly these
 * before hashembed existed (0.516397779 and 0.25819889 in its JSON).
 */
Test(hashembed, sparse_components_of_a_known_text)
{
	static const int idx[] = {833, 749, 871, 849, 250, 573};
	static const double raw[] = {1, -0.5, 1, 0.5, 1, -0.5};
	float *v = embed(HASHEMBED_SPARSE, "Coffee beans roast");
	size_t i;

	cr_expect_eq(nonzero(v), 6, "two components per word, %d non-zero", nonzero(v));
	for (i = 0; i < 6; i++)
		cr_expect_eq(v[idx[i]], (float)(raw[i] / sqrt(3.75)), "component %d: %.9g", idx[i], v[idx[i]]);
	free(v);
}

Test(hashembed, dense_is_continuous_and_spread)
{
	float *v = embed(HASHEMBED_DENSE, "Coffee beans roast");
	double *one = malloc(sizeof(double) * DIMS), lo = 0, hi = 0;
	int i;

	cr_assert(one);
	cr_expect_geq(nonzero(v), DIMS - 2, "%d of %d non-zero", nonzero(v), DIMS);
	cr_expect_geq(distinct(v), DIMS * 9 / 10, "%d distinct values", distinct(v));
	/* one word: every component k * 2^-23 in [-1, 1), so exactly a float (hashembed.h) */
	hashembed_sum(HASHEMBED_DENSE, "coffee", DIMS, one);
	for (i = 0; i < DIMS; i++) {
		double k = one[i] * 0x1p23;

		cr_expect(k == floor(k) && one[i] >= -1 && one[i] < 1, "component %d: %.17g", i, one[i]);
		cr_expect_eq((double)(float)one[i], one[i]);
		lo = fmin(lo, one[i]);
		hi = fmax(hi, one[i]);
	}
	cr_expect(lo < -0.9 && hi > 0.9, "components in [%f, %f]", lo, hi);
	free(one);
	free(v);
}

Test(hashembed, similarity_follows_shared_words)
{
	size_t k;

	for (k = 0; k < 2; k++) {
		float *a = embed(kinds[k], "coffee beans roast"), *b = embed(kinds[k], "coffee beans");
		float *c = embed(kinds[k], "Lives in Lisbon");
		double ab = vec_cosine_sim(a, b, DIMS), ac = vec_cosine_sim(a, c, DIMS);

		/* two of three words shared: 2 / sqrt(3 * 2) = 0.82 give or take the noise */
		cr_expect_gt(ab, 0.7, "%s: cos %f", hashembed_kind_name(kinds[k]), ab);
		cr_expect_lt(fabs(ac), 0.15, "%s: unrelated cos %f", hashembed_kind_name(kinds[k]), ac);
		free(a);
		free(b);
		free(c);
	}
}

Test(hashembed, dense_unrelated_texts_spread_around_zero)
{
	float *a = embed(HASHEMBED_DENSE, "w1 w2 w3 w4 w5");
	char text[64];
	double sum = 0, sum2 = 0;
	int i, n = 200;

	for (i = 0; i < n; i++) {
		float *b;
		double c;

		snprintf(text, sizeof(text), "x%d y%d z%d", i, i, i);
		b = embed(HASHEMBED_DENSE, text);
		c = vec_cosine_sim(a, b, DIMS);
		sum += c;
		sum2 += c * c;
		cr_expect_lt(fabs(c), 0.15, "\"%s\": cos %f", text, c);
		free(b);
	}
	/* the spread of random directions: 1/sqrt(1536) = 0.026 */
	cr_expect_lt(fabs(sum / n), 0.01, "mean %f", sum / n);
	cr_expect_float_eq(sqrt(sum2 / n), 1 / sqrt(DIMS), 0.008, "rms %f", sqrt(sum2 / n));
	free(a);
}

Test(hashembed, tokenisation_is_the_same_for_both_kinds)
{
	size_t k;

	for (k = 0; k < 2; k++) {
		float *a, *b;

		expect_same(kinds[k], "COFFEE Beans", "coffee bean");
		expect_same(kinds[k], "The beans of my coffee, and that's it!", "bean coffee s");
		expect_same(kinds[k], "bus gas roasts", "bus gas roast");
		expect_same(kinds[k], "Caf\xc3\xa9s", "caf\xc3\xa9");
		/* word sums are exact, so order does not matter */
		expect_same(kinds[k], "a b c", "c b a");
		/* only stopwords: the text hashed whole, as it is, still a unit vector */
		a = embed(kinds[k], "the of and");
		b = embed(kinds[k], "THE OF AND");
		cr_expect_float_eq(norm(a), 1.0, 1e-6);
		cr_expect(memcmp(a, b, sizeof(float) * DIMS) != 0, "%s: the fallback is not lowercased",
		          hashembed_kind_name(kinds[k]));
		free(a);
		free(b);
	}
}
