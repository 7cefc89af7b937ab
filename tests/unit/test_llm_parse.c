/*
 * llm_parse: embeddings replies read through jlift when that is safe and
 * whole through jansson when not (escaped values, the key elsewhere,
 * duplicate keys, keys spelt with escapes), with the same vectors and the
 * same errors either way.
 */
#include "b64.h"
#include "llm_parse.h"
#include "vec.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D 4

static const float rows[3][D] = {
        {0.5f, -1.0f, 0.25f, 3.0f},
        {1.5f, 2.0f, -0.125f, 0.0f},
        {-2.5f, 0.75f, 8.0f, 1e-3f},
};

/* base64 of dims little-endian float32s; escaped: its first character as \u00XX (same JSON string). */
static char *b64_floats(const float *v, int dims, bool escaped)
{
	unsigned char raw[4 * 16];
	char *b, *out;

	cr_assert(dims <= 16);
	vec_to_le_blob(v, dims, raw);
	b = b64_encode(raw, 4 * (size_t)dims);
	if (!escaped)
		return b;
	cr_assert(asprintf(&out, "\\u%04x%s", (unsigned)b[0], b + 1) > 0);
	free(b);
	return out;
}

static char *row64(int i)
{
	return b64_floats(rows[i], D, false);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	cr_assert(vasprintf(&s, f, ap) > 0);
	va_end(ap);
	return s;
}

/* body parses to rows[0..n-1], through the lifted values or not. */
static void expect_rows(char *body, int n, bool lifted)
{
	struct llm_embeddings e;
	char err[256] = "";
	int i;

	cr_assert_eq(llm_parse_embeddings(body, strlen(body), n, D, &e, err, sizeof(err)), LLM_PARSE_OK, "%s: %s", body,
	             err);
	cr_expect_eq(e.dims, D);
	cr_expect_eq(e.lifted, lifted, "%s: lifted %d", body, e.lifted);
	for (i = 0; i < n; i++)
		cr_expect_arr_eq(e.vecs + i * D, rows[i], sizeof(rows[i]), "%s: row %d", body, i);
	free(e.vecs);
	free(body);
}

static void expect_error(char *body, int n, int want_dims, int rc, const char *msg)
{
	struct llm_embeddings e;
	char err[256] = "";

	cr_expect_eq(llm_parse_embeddings(body, body ? strlen(body) : 0, n, want_dims, &e, err, sizeof(err)), rc, "%s",
	             body);
	cr_expect_null(e.vecs);
	cr_expect_str_eq(err, msg, "%s", body);
	free(body);
}

Test(llm_parse, base64_read_from_lifted_values)
{
	char *a = row64(0), *b = row64(1), *c = row64(2);
	struct llm_embeddings e;
	char err[256], *body;

	/* as OpenAI lays it out */
	body = fmt("{\n  \"object\": \"list\",\n  \"data\": [\n    {\n      \"object\": \"embedding\",\n      "
	           "\"index\": 0,\n"
	           "      \"embedding\": \"%s\"\n    },\n    {\n      \"object\": \"embedding\",\n      \"index\": 1,\n"
	           "      \"embedding\": \"%s\"\n    }\n  ],\n  \"model\": \"m\",\n"
	           "  \"usage\": {\n    \"prompt_tokens\": 7,\n    \"total_tokens\": 7\n  }\n}\n",
	           a, b);
	cr_assert_eq(llm_parse_embeddings(body, strlen(body), 2, 0, &e, err, sizeof(err)), LLM_PARSE_OK, "%s", err);
	cr_expect(e.lifted);
	cr_expect_eq(e.prompt_tokens, 7);
	free(e.vecs);
	expect_rows(body, 2, true);
	/* "index" decides the row, the lifted list follows the document */
	expect_rows(fmt("{\"data\":[{\"index\":2,\"embedding\":\"%s\"},{\"index\":0,\"embedding\":\"%s\"},"
	                "{\"index\":1,\"embedding\":\"%s\"}]}",
	                c, a, b),
	            3, true);
	/* no "index": array position */
	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}]}", a, b), 2, true);
	/* numbers beside base64 */
	expect_rows(fmt("{\"data\":[{\"embedding\":[0.5,-1,0.25,3]},{\"embedding\":\"%s\"}]}", b), 2, true);
	/* a key duplicated with an array first: jansson keeps the string, the one lifted */
	expect_rows(fmt("{\"data\":[{\"embedding\":[9,9,9,9],\"embedding\":\"%s\"}]}", a), 1, true);
	free(a);
	free(b);
	free(c);
}

Test(llm_parse, numbers_need_no_lifting)
{
	expect_rows(fmt("{\"data\":[{\"index\":1,\"embedding\":[1.5,2,-0.125,0]},"
	                "{\"index\":0,\"embedding\":[0.5,-1.0,0.25,3e0]}]}"),
	            2, false);
}

Test(llm_parse, escaped_values_parsed_whole)
{
	char *a = b64_floats(rows[0], D, true), *b = b64_floats(rows[1], D, true), *c = row64(2);

	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}]}", a, b), 2, false);
	/* one escaped value is enough: the lift is all or nothing */
	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}]}", a, b, c),
	            3, false);
	free(a);
	free(b);
	free(c);
}

Test(llm_parse, key_elsewhere_parsed_whole)
{
	char *a = row64(0), *b = row64(1);

	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}],\"embedding\":\"QUJD\"}", a, b), 2,
	            false);
	expect_rows(fmt("{\"embedding\":\"QUJD\",\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}]}", a, b), 2,
	            false);
	expect_rows(
	        fmt("{\"data\":[{\"embedding\":\"%s\",\"meta\":{\"embedding\":\"x\"}},{\"embedding\":\"%s\"}]}", a, b),
	        2, false);
	free(a);
	free(b);
}

Test(llm_parse, duplicate_keys_parsed_whole)
{
	char *a = row64(0), *b = row64(1);

	/* jansson keeps the last of a duplicated key: the lifted list has one value too many */
	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\",\"embedding\":\"%s\"}]}", b, a), 1, false);
	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\",\"embedding\":[0.5,-1,0.25,3]}]}", b), 1, false);
	/* a duplicated "data": the first one's values are lifted too */
	expect_rows(fmt("{\"data\":[{\"embedding\":\"%s\"}],\"data\":[{\"embedding\":\"%s\"}]}", b, a), 1, false);
	free(a);
	free(b);
}

Test(llm_parse, keys_spelt_with_escapes_parsed_whole)
{
	char *a = row64(0);

	expect_rows(fmt("{\"data\":[{\"embe\\u0064ding\":\"%s\"}]}", a), 1, false);
	/* an escaped key's "" must not take the value lifted from elsewhere */
	expect_error(fmt("{\"data\":[{\"embe\\u0064ding\":\"\"}],\"x\":{\"embedding\":\"%s\"}}", a), 1, D,
	             LLM_PARSE_BAD, "data[0].embedding is not base64 float32");
	free(a);
}

Test(llm_parse, errors_unchanged)
{
	static const float nan_row[D] = {NAN, 0, 0, 0};
	static const float wide[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	char *a = row64(0), *n = b64_floats(nan_row, D, false), *w = b64_floats(wide, 8, false);
	char jerr[256] = "", *bad;
	json_t *none;

	expect_error(NULL, 1, D, LLM_PARSE_BAD, "malformed response: empty body");
	expect_error(fmt("[]"), 1, D, LLM_PARSE_BAD, "malformed response: not a JSON object");
	bad = fmt("{\"data\":[{\"embedding\":\"%s\"}]", a);
	none = llm_parse_object(bad, strlen(bad), jerr, sizeof(jerr));
	cr_expect_null(none);
	cr_expect(strncmp(jerr, "malformed response: ", 20) == 0, "%s", jerr);
	expect_error(bad, 1, D, LLM_PARSE_BAD, jerr);
	expect_error(fmt("{\"data\":[]}"), 1, D, LLM_PARSE_BAD, "expected 1 embeddings in \"data\", got 0");
	expect_error(fmt("{\"data\":[{\"embedding\":\"%s\"}]}", a), 1, 8, LLM_PARSE_WRONG_DIMS,
	             "got 4-dimensional vectors, configured for 8");
	expect_error(fmt("{\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}]}", a, w), 2, 0, LLM_PARSE_BAD,
	             "vectors of 4 and 8 dimensions");
	expect_error(fmt("{\"data\":[{\"embedding\":\"QUJD\"}]}"), 1, D, LLM_PARSE_BAD,
	             "data[0].embedding is not base64 float32");
	expect_error(fmt("{\"data\":[{\"embedding\":\"\"}]}"), 1, D, LLM_PARSE_BAD,
	             "data[0].embedding is not base64 float32");
	expect_error(fmt("{\"data\":[{\"embedding\":\"%s\"},{\"embedding\":\"%s\"}]}", a, n), 2, D, LLM_PARSE_BAD,
	             "data[1].embedding[0] is not a finite number");
	expect_error(fmt("{\"data\":[{\"index\":0,\"embedding\":\"%s\"},{\"index\":0,\"embedding\":\"%s\"}]}", a, a), 2,
	             D, LLM_PARSE_BAD, "data[1] has a bad or repeated index");
	expect_error(fmt("{\"data\":[{\"embedding\":{}}]}"), 1, D, LLM_PARSE_BAD,
	             "data[0].embedding is not an array of floats");
	free(a);
	free(n);
	free(w);
}
