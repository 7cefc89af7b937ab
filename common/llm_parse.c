/*
 * llm_parse: see llm_parse.h. The messages written to err end up in the
 * llm's errstr and log lines: llm.c scrubs them, nothing here does.
 */
#include "llm_parse.h"

#include "b64.h"
#include "jlift.h"
#include "log.h"
#include "vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A vector longer than this is no embedding we know of. */
#define LLM_PARSE_MAX_DIMS 65536

json_t *llm_parse_object(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = body ? json_loadb(body, len, 0, &jerr) : NULL;

	if (json_is_object(root))
		return root;
	snprintf(err, errlen, "malformed response: %s", root ? "not a JSON object" : body ? jerr.text : "empty body");
	json_decref(root);
	return NULL;
}

/* The rows being filled and why they stopped. */
struct emb_fill {
	int n, want_dims, dims;
	float *vecs;
	int rc;
	char *err;
	size_t errlen;
	const struct jlift *jl; /* NULL: the base64 strings are in the tree */
	size_t next_lifted;
};

/*
 * The first vector fixes the dimension (and allocates the n rows); later ones
 * must match. A size other than the configured one is permanent: no retry
 * changes the model's dimension.
 */
static int fill_dims(struct emb_fill *f, size_t d)
{
	if (f->dims == 0) {
		f->dims = (int)d;
		if (f->want_dims > 0 && f->dims != f->want_dims) {
			snprintf(f->err, f->errlen, "got %d-dimensional vectors, configured for %d", f->dims,
			         f->want_dims);
			f->rc = LLM_PARSE_WRONG_DIMS;
			return -1;
		}
		f->vecs = mw_malloc((size_t)f->n * d * sizeof(*f->vecs));
	} else if ((int)d != f->dims) {
		snprintf(f->err, f->errlen, "vectors of %d and %zu dimensions", f->dims, d);
		return -1;
	}
	return 0;
}

/* encoding_format "base64": little-endian float32 bytes into row at. */
static int fill_base64(struct emb_fill *f, int i, size_t at, const char *s, size_t len)
{
	size_t blen = 0, d, k;
	unsigned char *raw = b64_decode(s, len, &blen);
	float *row;

	if (!raw || blen == 0 || blen % 4 != 0 || blen / 4 > LLM_PARSE_MAX_DIMS) {
		free(raw);
		snprintf(f->err, f->errlen, "data[%d].embedding is not base64 float32", i);
		return -1;
	}
	d = blen / 4;
	if (fill_dims(f, d) < 0) {
		free(raw);
		return -1;
	}
	row = f->vecs + at * d;
	vec_from_le_blob(raw, (int)d, row);
	free(raw);
	for (k = 0; k < d; k++) {
		if (!isfinite(row[k])) {
			snprintf(f->err, f->errlen, "data[%d].embedding[%zu] is not a finite number", i, k);
			return -1;
		}
	}
	return 0;
}

/* An array of JSON numbers into row at. */
static int fill_numbers(struct emb_fill *f, int i, size_t at, const json_t *emb)
{
	size_t d, k;

	if (!json_is_array(emb) || json_array_size(emb) == 0 || json_array_size(emb) > LLM_PARSE_MAX_DIMS) {
		snprintf(f->err, f->errlen, "data[%d].embedding is not an array of floats", i);
		return -1;
	}
	d = json_array_size(emb);
	if (fill_dims(f, d) < 0)
		return -1;
	for (k = 0; k < d; k++) {
		json_t *x = json_array_get(emb, k);
		float v = (float)json_number_value(x);

		if (!json_is_number(x) || !isfinite(v)) {
			snprintf(f->err, f->errlen, "data[%d].embedding[%zu] is not a finite number", i, k);
			return -1;
		}
		f->vecs[at * d + k] = v;
	}
	return 0;
}

/* Every item of data into its row, by "index" (array position when absent). */
static int fill_rows(struct emb_fill *f, const json_t *data)
{
	bool *seen = mw_calloc((size_t)f->n, sizeof(*seen));
	int i, rc = -1;

	for (i = 0; i < f->n; i++) {
		json_t *item = json_array_get(data, (size_t)i);
		json_t *index = json_object_get(item, "index");
		json_t *emb = json_object_get(item, "embedding");
		json_int_t at = index ? (json_is_integer(index) ? json_integer_value(index) : -1) : i;

		if (at < 0 || at >= f->n || seen[at]) {
			snprintf(f->err, f->errlen, "data[%d] has a bad or repeated index", i);
			goto fail;
		}
		seen[at] = true;
		if (json_is_string(emb)) {
			const char *s = json_string_value(emb);
			size_t slen = json_string_length(emb);

			/* load_lifted vouched for the order: the next lifted value is this one */
			if (f->jl && f->next_lifted < f->jl->n) {
				s = f->jl->spans[f->next_lifted].at;
				slen = f->jl->spans[f->next_lifted++].len;
			}
			if (fill_base64(f, i, (size_t)at, s, slen) < 0)
				goto fail;
		} else if (fill_numbers(f, i, (size_t)at, emb) < 0) {
			goto fail;
		}
	}
	rc = 0;
fail:
	free(seen);
	return rc;
}

/*
 * The body with its "embedding" strings lifted out (jlift.h), parsed: for
 * base64 replies most of jansson's work was reading those strings. jlift
 * empties every string value of every "embedding" key, in document order,
 * so the lifted list belongs to the items of "data" in array order exactly
 * when it holds one value per item whose embedding is a string (each of
 * them now ""). Anything else -- the key elsewhere in the reply, a
 * duplicate key, a lift that failed, a copy jansson refuses -- returns NULL
 * with jl empty, and the caller parses the original body.
 */
static json_t *load_lifted(const char *body, size_t len, struct jlift *jl)
{
	json_t *root, *data, *item;
	size_t i, strings = 0;
	bool all_empty = true;

	memset(jl, 0, sizeof(*jl));
	if (!body || jlift_strings(body, len, "embedding", jl) < 0)
		return NULL;
	root = json_loadb(jl->text, jl->len, 0, NULL);
	data = json_object_get(root, "data");
	json_array_foreach (data, i, item) {
		json_t *e = json_object_get(item, "embedding");

		if (json_is_string(e)) {
			strings++;
			all_empty = all_empty && json_string_length(e) == 0;
		}
	}
	if (json_is_object(root) && strings == jl->n && all_empty)
		return root;
	json_decref(root);
	jlift_free(jl);
	return NULL;
}

static long json_long(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

int llm_parse_embeddings(const char *body, size_t len, int n, int want_dims, struct llm_embeddings *out, char *err,
                         size_t errlen)
{
	struct emb_fill f = {.n = n, .want_dims = want_dims, .rc = LLM_PARSE_BAD, .err = err, .errlen = errlen};
	struct jlift jl;
	json_t *root, *data;

	memset(out, 0, sizeof(*out));
	root = load_lifted(body, len, &jl);
	if (root)
		f.jl = &jl;
	else
		root = llm_parse_object(body, len, err, errlen);
	if (!root)
		return LLM_PARSE_BAD;
	data = json_object_get(root, "data");
	if (!json_is_array(data) || json_array_size(data) != (size_t)n) {
		snprintf(err, errlen, "expected %d embeddings in \"data\", got %zu", n,
		         json_is_array(data) ? json_array_size(data) : (size_t)0);
		goto fail;
	}
	if (fill_rows(&f, data) < 0)
		goto fail;
	out->vecs = f.vecs;
	out->dims = f.dims;
	out->prompt_tokens = json_long(json_object_get(root, "usage"), "prompt_tokens");
	out->lifted = f.next_lifted > 0;
	jlift_free(&jl);
	json_decref(root);
	return LLM_PARSE_OK;
fail:
	free(f.vecs);
	jlift_free(&jl);
	json_decref(root);
	return f.rc;
}
