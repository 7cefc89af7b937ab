/*
 * llm_parse: the bodies of 2xx replies as llm.c reads them, apart from the
 * HTTP client so that a benchmark or a test can run the very code the
 * daemons run on a reply they built. Pure functions: no state, no I/O; the
 * caller owns every buffer.
 */
#ifndef MW_LLM_PARSE_H
#define MW_LLM_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * The body as a JSON object (a new reference), or NULL with err set to
 * "malformed response: ..." (jansson's message, "not a JSON object" or
 * "empty body" when body is NULL).
 */
json_t *llm_parse_object(const char *body, size_t len, char *err, size_t errlen) __attribute__((warn_unused_result));

enum llm_parse_rc {
	LLM_PARSE_OK = 0,
	LLM_PARSE_BAD = -1,       /* not the expected shape: worth a retry */
	LLM_PARSE_WRONG_DIMS = -2 /* not the configured dimension: no retry changes the model */
};

struct llm_embeddings {
	float *vecs;        /* malloc'd n * dims floats, row i for input i (the reply's "index") */
	int dims;           /* of every row */
	long prompt_tokens; /* usage.prompt_tokens, 0 when absent */
	bool lifted;        /* base64 read from lifted spans (jlift.h), not jansson: for tests and the benchmark */
};

/*
 * An embeddings reply for n inputs: "data" holds n items, each with an
 * "embedding" array of numbers or base64 string of little-endian float32
 * (encoding_format "base64") and an optional "index". want_dims > 0: any
 * other dimension is LLM_PARSE_WRONG_DIMS. On LLM_PARSE_OK out->vecs is the
 * caller's to free; otherwise out->vecs is NULL and err says why in one line.
 * The base64 strings are lifted out before jansson parses the rest, when
 * that provably gives the same reading; else the body is parsed whole. The
 * result, errors included, is the same either way.
 */
int llm_parse_embeddings(const char *body, size_t len, int n, int want_dims, struct llm_embeddings *out, char *err,
                         size_t errlen) __attribute__((warn_unused_result));

#endif
