/*
 * jlift: string values of a key lifted out of JSON text as a tokenizer sees
 * them (escapes honoured, key-like text inside strings ignored), the copy
 * left for jansson, the cases that must fall back, and no read past len on
 * any prefix of a document (every input sits in an exact-size heap buffer,
 * no NUL, so ASan reports an overread).
 */
#include "jlift.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One lift of doc[0..len-1] from an exact-size copy (kept: the spans point into it). */
struct lifted {
	char *buf;
	size_t len;
	int rc;
	struct jlift jl;
};

static void lift_n(struct lifted *l, const char *doc, size_t len, const char *key)
{
	l->buf = malloc(len ? len : 1);
	cr_assert(l->buf);
	memcpy(l->buf, doc, len);
	l->len = len;
	l->rc = jlift_strings(l->buf, len, key, &l->jl);
}

static void lift(struct lifted *l, const char *doc)
{
	lift_n(l, doc, strlen(doc), "embedding");
}

static void lifted_free(struct lifted *l)
{
	jlift_free(&l->jl);
	free(l->buf);
}

static bool span_is(const struct lifted *l, size_t i, const char *want)
{
	return i < l->jl.n && l->jl.spans[i].len == strlen(want) && memcmp(l->jl.spans[i].at, want, strlen(want)) == 0;
}

/* doc lifts to copy with the spans want[0..n-1], in this order. */
static void expect_lift(const char *doc, const char *copy, const char *const *want, size_t n)
{
	struct lifted l;
	size_t i;

	lift(&l, doc);
	cr_assert_eq(l.rc, 0, "%s", doc);
	cr_expect_str_eq(l.jl.text, copy);
	cr_expect_eq(l.jl.len, strlen(copy));
	cr_assert_eq(l.jl.n, n, "%s: %zu values", doc, l.jl.n);
	for (i = 0; i < n; i++) {
		cr_expect(span_is(&l, i, want[i]), "%s: value %zu is \"%.*s\", want \"%s\"", doc, i,
		          (int)l.jl.spans[i].len, l.jl.spans[i].at, want[i]);
		cr_expect(l.jl.spans[i].at >= l.buf && l.jl.spans[i].at + l.jl.spans[i].len <= l.buf + l.len,
		          "spans point into the original");
	}
	lifted_free(&l);
}

static void expect_fallback(const char *doc)
{
	struct lifted l;

	lift(&l, doc);
	cr_expect_eq(l.rc, -1, "%s", doc);
	cr_expect(l.jl.text == NULL && l.jl.spans == NULL && l.jl.n == 0, "%s: out left empty", doc);
	lifted_free(&l);
}

Test(jlift, one_value)
{
	static const char *const want[] = {"QUJD"};

	expect_lift("{\"embedding\":\"QUJD\"}", "{\"embedding\":\"\"}", want, 1);
}

Test(jlift, nested_keys_in_document_order)
{
	static const char *const want[] = {"AA", "BB", "CC", "DD"};

	expect_lift("{\"data\":[{\"x\":{\"embedding\":\"AA\"}},{\"embedding\":\"BB\",\"y\":[{\"embedding\":\"CC\"}]}],"
	            "\"embedding\":\"DD\"}",
	            "{\"data\":[{\"x\":{\"embedding\":\"\"}},{\"embedding\":\"\",\"y\":[{\"embedding\":\"\"}]}],"
	            "\"embedding\":\"\"}",
	            want, 4);
}

Test(jlift, key_looking_text_inside_another_string)
{
	static const char *const want[] = {"QUJD"};

	expect_lift("{\"a\":\"\\\"embedding\\\": \\\"x\\\"\",\"embedding\":\"QUJD\"}",
	            "{\"a\":\"\\\"embedding\\\": \\\"x\\\"\",\"embedding\":\"\"}", want, 1);
	/* no escapes at all: the text is simply inside a string */
	expect_lift("{\"a\":\"embedding: x\",\"embedding\":\"QUJD\"}", "{\"a\":\"embedding: x\",\"embedding\":\"\"}",
	            want, 1);
	/* a string ending in an escaped quote, then what looks like a key and value but is still that string */
	expect_lift("{\"a\":\"x\\\",\\\"embedding\\\":\\\"no\",\"embedding\":\"QUJD\"}",
	            "{\"a\":\"x\\\",\\\"embedding\\\":\\\"no\",\"embedding\":\"\"}", want, 1);
}

Test(jlift, escapes_before_the_key)
{
	static const char *const want[] = {"QUJD"};

	/* "x\\" ends at its second quote: the backslash escapes a backslash, not the quote */
	expect_lift("{\"a\":\"x\\\\\",\"embedding\":\"QUJD\"}", "{\"a\":\"x\\\\\",\"embedding\":\"\"}", want, 1);
	expect_lift("{\"a\":\"\\\\\\\"\\\\\",\"embedding\":\"QUJD\"}", "{\"a\":\"\\\\\\\"\\\\\",\"embedding\":\"\"}",
	            want, 1);
	expect_lift("{\"a\":[\"\\u0022\",\"\\n\\t\\/\"],\"embedding\":\"QUJD\"}",
	            "{\"a\":[\"\\u0022\",\"\\n\\t\\/\"],\"embedding\":\"\"}", want, 1);
}

Test(jlift, whitespace_around_the_colon)
{
	static const char *const want[] = {"QUJD", "RUZH"};

	expect_lift("{\n  \"embedding\" \r\n:\t \"QUJD\",\n  \"x\": {\"embedding\"\n:\n\"RUZH\"}\n}\n",
	            "{\n  \"embedding\" \r\n:\t \"\",\n  \"x\": {\"embedding\"\n:\n\"\"}\n}\n", want, 2);
}

Test(jlift, key_as_a_value_is_not_a_key)
{
	expect_lift("{\"object\":\"embedding\",\"x\":\"QUJD\"}", "{\"object\":\"embedding\",\"x\":\"QUJD\"}", NULL, 0);
	expect_lift("[\"embedding\",\"QUJD\"]", "[\"embedding\",\"QUJD\"]", NULL, 0);
	expect_lift("[\"embedding\" , \"QUJD\"]", "[\"embedding\" , \"QUJD\"]", NULL, 0);
	/* another key's name, or the name as a prefix, is not the key */
	expect_lift("{\"embeddings\":\"QUJD\",\"embeddin\":\"QUJD\",\"Embedding\":\"QUJD\"}",
	            "{\"embeddings\":\"QUJD\",\"embeddin\":\"QUJD\",\"Embedding\":\"QUJD\"}", NULL, 0);
}

Test(jlift, non_string_values_left_alone)
{
	static const char *const want[] = {"QUJD"};

	expect_lift("{\"embedding\":[0.5,-1e-3]}", "{\"embedding\":[0.5,-1e-3]}", NULL, 0);
	expect_lift("{\"embedding\":null,\"x\":{\"embedding\":{\"embedding\":\"QUJD\"}}}",
	            "{\"embedding\":null,\"x\":{\"embedding\":{\"embedding\":\"\"}}}", want, 1);
	/* the array's strings are not the key's string value */
	expect_lift("{\"embedding\":[\"QUJD\"]}", "{\"embedding\":[\"QUJD\"]}", NULL, 0);
}

Test(jlift, empty_value)
{
	static const char *const want[] = {"", "QUJD"};

	expect_lift("{\"embedding\":\"\",\"embedding\":\"QUJD\"}", "{\"embedding\":\"\",\"embedding\":\"\"}", want, 2);
}

Test(jlift, empty_text_and_no_strings)
{
	expect_lift("", "", NULL, 0);
	expect_lift("[1,2,{}]", "[1,2,{}]", NULL, 0);
}

Test(jlift, values_that_need_decoding_fall_back)
{
	expect_fallback("{\"embedding\":\"QU\\/JD\"}");
	expect_fallback("{\"embedding\":\"\\u0041\"}");
	expect_fallback("{\"embedding\":\"a\\\"b\"}");
	expect_fallback("{\"embedding\":\"ab\\\\\"}");
	/* bytes jansson must judge: UTF-8, control characters */
	expect_fallback("{\"embedding\":\"caf\xc3\xa9\"}");
	expect_fallback("{\"embedding\":\"\xff\"}");
	expect_fallback("{\"embedding\":\"a\tb\"}");
	expect_fallback("{\"embedding\":\"a\nb\"}");
	/* a value is only checked if lifted: the same bytes elsewhere are fine */
	expect_lift("{\"x\":\"caf\xc3\xa9\\/\"}", "{\"x\":\"caf\xc3\xa9\\/\"}", NULL, 0);
}

Test(jlift, nul_inside_a_value_falls_back)
{
	static const char doc[] = "{\"embedding\":\"QU\0JD\"}";
	struct lifted l;

	lift_n(&l, doc, sizeof(doc) - 1, "embedding");
	cr_expect_eq(l.rc, -1);
	lifted_free(&l);
}

Test(jlift, escaped_keys_fall_back)
{
	/* "embe\u0064ding" is the key once decoded: never guess, let jansson read it */
	expect_fallback("{\"embe\\u0064ding\":\"QUJD\"}");
	expect_fallback("{\"a\\n\" : 1,\"embedding\":\"QUJD\"}");
	/* an escaped value is no key */
	expect_lift("{\"a\":\"\\n\" , \"b\":\"\\t\"}", "{\"a\":\"\\n\" , \"b\":\"\\t\"}", NULL, 0);
}

Test(jlift, unterminated_strings_fall_back)
{
	expect_fallback("{\"embedding\":\"QUJD");
	expect_fallback("{\"embedding\":\"QUJD\\\"}");
	expect_fallback("{\"a\":\"xx");
	expect_fallback("{\"a\":\"x\\\"}");
	expect_fallback("{\"a\":\"x\\");
	expect_fallback("\"");
	expect_fallback("\"\\");
}

Test(jlift, other_key)
{
	static const char *const want[] = {"v"};
	struct lifted l;

	lift_n(&l, "{\"embedding\":\"QUJD\",\"k\":\"v\"}", 28, "k");
	cr_assert_eq(l.rc, 0);
	cr_expect_str_eq(l.jl.text, "{\"embedding\":\"QUJD\",\"k\":\"\"}");
	cr_expect(span_is(&l, 0, want[0]));
	lifted_free(&l);
}

Test(jlift, many_values_in_order)
{
	size_t n = 3000, i, cap = n * 64 + 16;
	char *doc = malloc(cap), *copy = malloc(cap), *p = doc, *c = copy;
	struct lifted l;

	cr_assert(doc && copy);
	p += sprintf(p, "{\"data\":[");
	c += sprintf(c, "{\"data\":[");
	for (i = 0; i < n; i++) {
		p += sprintf(p, "%s{\"index\":%zu,\"embedding\":\"V%zu\"}", i ? "," : "", i, i);
		c += sprintf(c, "%s{\"index\":%zu,\"embedding\":\"\"}", i ? "," : "", i);
	}
	sprintf(p, "]}");
	sprintf(c, "]}");
	lift(&l, doc);
	cr_assert_eq(l.rc, 0);
	cr_assert_eq(l.jl.n, n);
	cr_expect_str_eq(l.jl.text, copy);
	for (i = 0; i < n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "V%zu", i);
		if (!span_is(&l, i, want)) {
			cr_expect_fail("value %zu is \"%.*s\"", i, (int)l.jl.spans[i].len, l.jl.spans[i].at);
			break;
		}
	}
	lifted_free(&l);
	free(doc);
	free(copy);
}

static const char sample[] =
        "{\n  \"object\": \"list\",\n  \"data\": [\n    {\"object\": \"embedding\", \"index\": 0,\n"
        "     \"embedding\": \"AACAPwAAAEA=\"},\n    {\"object\": \"embedding\", \"index\": 1, \"note\": "
        "\"a \\\"quoted\\\" \\\\ \\u00e9 \\\"embedding\\\": \\\"x\\\"\",\n     \"embedding\" : \"AABAQAAAgEA=\"},\n"
        "    {\"index\": 2, \"embedding\": [1.5, 2.5]}\n  ],\n  \"model\": \"m\",\n"
        "  \"usage\": {\"prompt_tokens\": 3, \"total_tokens\": 3}\n}\n";

/* Every prefix: no overread (ASan), and what succeeds keeps the invariants. */
Test(jlift, every_prefix_stays_within_len)
{
	size_t len = sizeof(sample) - 1, k, i, oks = 0;

	for (k = 0; k <= len; k++) {
		struct lifted l;
		size_t lifted_bytes = 0;

		lift_n(&l, sample, k, "embedding");
		if (l.rc == 0) {
			oks++;
			for (i = 0; i < l.jl.n; i++) {
				cr_assert(l.jl.spans[i].at >= l.buf &&
				          l.jl.spans[i].at + l.jl.spans[i].len <= l.buf + k);
				lifted_bytes += l.jl.spans[i].len;
			}
			cr_assert_eq(l.jl.len + lifted_bytes, k, "prefix %zu", k);
			cr_assert_eq(l.jl.text[l.jl.len], '\0');
		}
		lifted_free(&l);
	}
	cr_expect_gt(oks, 0);
	{
		static const char *const want[] = {"AACAPwAAAEA=", "AABAQAAAgEA="};
		struct lifted l;

		lift(&l, sample);
		cr_assert_eq(l.rc, 0);
		cr_assert_eq(l.jl.n, 2);
		cr_expect(span_is(&l, 0, want[0]) && span_is(&l, 1, want[1]));
		lifted_free(&l);
	}
}

/*
 * The copy is valid JSON exactly when the original is, and parses to the
 * same tree once the lifted values are put back: on the sample's prefixes
 * (mostly invalid) and on a few documents.
 */
static void expect_same_tree(const char *doc, size_t len)
{
	struct lifted l;
	json_t *orig, *copy;
	size_t i, at;

	lift_n(&l, doc, len, "embedding");
	if (l.rc != 0) {
		lifted_free(&l);
		return;
	}
	orig = json_loadb(doc, len, 0, NULL);
	copy = json_loadb(l.jl.text, l.jl.len, 0, NULL);
	cr_assert_eq(orig != NULL, copy != NULL, "%.*s: original %s, copy %s", (int)len, doc,
	             orig ? "valid" : "invalid", copy ? "valid" : "invalid");
	if (orig) {
		/* put the lifted values back where the copy has "" (document order = array order here) */
		json_t *data = json_object_get(copy, "data"), *item;

		i = 0;
		json_array_foreach (data, at, item) {
			json_t *e = json_object_get(item, "embedding");

			if (json_is_string(e) && i < l.jl.n) {
				cr_assert_eq(json_string_length(e), 0);
				json_object_set_new(item, "embedding",
				                    json_stringn(l.jl.spans[i].at, l.jl.spans[i].len));
				i++;
			}
		}
		cr_expect_eq(i, l.jl.n);
		cr_expect(json_equal(orig, copy), "%s", doc);
	}
	json_decref(orig);
	json_decref(copy);
	lifted_free(&l);
}

Test(jlift, copy_is_valid_exactly_when_the_original_is)
{
	static const char *const docs[] = {
	        "{\"data\":[{\"embedding\":\"QUJD\"},{\"embedding\":\"\"}]}",
	        "{\"data\":[{\"embedding\":\"QUJD\"}]",                 /* unclosed */
	        "{\"data\":[{\"embedding\":\"QUJD\" \"x\":1}]}",        /* missing comma */
	        "{\"data\":[{\"embedding\":\"QUJD\",}]}",               /* trailing comma */
	        "{\"data\":[{\"embedding\":\"QUJD\"}]} trailing",       /* garbage after */
	        "{\"data\":[{\"embedding\":\"QUJD\", \"x\":\"\\q\"}]}", /* bad escape elsewhere */
	};
	size_t i, k;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		expect_same_tree(docs[i], strlen(docs[i]));
	for (k = 0; k <= sizeof(sample) - 1; k++)
		expect_same_tree(sample, k);
}
