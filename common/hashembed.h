/*
 * hashembed: deterministic word-hash embeddings for the mock LLM server
 * (tests/support/mockllm_main.c) and the benchmarks (bench/search.c), so a
 * benchmark can bulk-load the very vectors the mock returns for queries. Not
 * a model: texts are close only when they share words. Text is split into
 * words (runs of ASCII letters and digits and of bytes >= 0x80, so UTF-8 stays
 * inside words), ASCII-lowercased, stopwords dropped, a trailing 's' dropped
 * from words over three letters; each word's FNV-1a hash makes its vector; the
 * text's vector is the L2-normalised sum. A text without any such word is
 * hashed whole, as it is, so it still has a vector. Pure functions, no state.
 */
#ifndef MW_HASHEMBED_H
#define MW_HASHEMBED_H

enum hashembed_kind {
	/*
	 * Each word adds 1 at one component and +-0.5 at another: at most two
	 * non-zero components per word. What the mock has always served; the
	 * tests' similarities are built on it.
	 */
	HASHEMBED_SPARSE = 0,
	/*
	 * Each word's hash seeds splitmix64, which yields every component
	 * uniform in [-1, 1): unrelated texts have cosine ~0 +- 1/sqrt(dims),
	 * as real embeddings spread, and the vectors do not compress.
	 */
	HASHEMBED_DENSE,
};

/* "sparse" or "dense" into *out: 0, or -1 for any other name. */
int hashembed_kind_parse(const char *name, enum hashembed_kind *out) __attribute__((warn_unused_result));

/* "sparse" or "dense". */
const char *hashembed_kind_name(enum hashembed_kind kind);

/*
 * Writes the unnormalised sum of text's word vectors into acc[0..dims-1]
 * (dims >= 1). Every component of one word's vector is a multiple of 2^-23
 * in [-1.5, 1.5], so it is exactly a float and sums of up to 2^29 words are
 * exact in double: a caller may cache word vectors as floats and add
 * them in any order, getting the same sum (bench/search.c does, for its
 * vocabulary).
 */
void hashembed_sum(enum hashembed_kind kind, const char *text, int dims, double *acc);

/* L2-normalises v[0..dims-1] in place, in double; a zero vector stays zero. */
void hashembed_unit(double *v, int dims);

/*
 * out[0..dims-1] = the normalised embedding of text as floats: hashembed_sum
 * then hashembed_unit, each component rounded once. Allocates its work
 * buffer (aborts with a log line when memory runs out).
 */
void hashembed(enum hashembed_kind kind, const char *text, int dims, float *out);

#endif
