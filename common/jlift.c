/*
 * jlift: see jlift.h. One pass over the text from quote to quote: outside
 * strings only '"' matters to JSON's string tokens, inside them only '"' and
 * '\\', so memchr does the walking (glibc's is vectorised) and every
 * pointer stays below end.
 */
#include "jlift.h"

#include "log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

/*
 * The closing quote of the string whose contents start at s, or NULL if the
 * text ends first. *escaped tells whether a backslash was seen. Each byte is
 * looked at a bounded number of times, however many escapes there are.
 */
static const char *string_end(const char *s, const char *end, bool *escaped)
{
	const char *q = s - 1, *bs;

	*escaped = false;
	for (;;) {
		if (q < s) {
			q = memchr(s, '"', (size_t)(end - s));
			if (!q)
				return NULL;
		}
		bs = memchr(s, '\\', (size_t)(q - s));
		if (!bs)
			return q;
		*escaped = true;
		/* bs < q < end: the escaped byte exists; s may land just past q */
		s = bs + 2;
	}
}

/* p just past a string: true if a ':' follows, i.e. the string was a key. */
static bool followed_by_colon(const char *p, const char *end)
{
	p = skip_space(p, end);
	return p < end && *p == ':';
}

/* p just past a key: the contents of its value if that is a string, else NULL. */
static const char *string_value(const char *p, const char *end)
{
	p = skip_space(p, end);
	if (p == end || *p != ':')
		return NULL;
	p = skip_space(p + 1, end);
	if (p == end || *p != '"')
		return NULL;
	return p + 1;
}

/* No backslash, no control character, no byte >= 0x80: contents that need no decoding. */
static bool plain_ascii(const char *s, size_t n)
{
	unsigned bad = 0;
	size_t i;

	/* branch-free so the compiler can vectorise it: values run to kilobytes */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		bad |= (unsigned char)(c - 0x20) > 0x5f;
		bad |= c == '\\';
	}
	return !bad;
}

static void add_span(struct jlift *jl, const char *at, size_t len)
{
	if (jl->n == jl->cap) {
		jl->cap = jl->cap ? 2 * jl->cap : 16;
		jl->spans = mw_realloc(jl->spans, jl->cap * sizeof(*jl->spans));
	}
	jl->spans[jl->n].at = at;
	jl->spans[jl->n].len = len;
	jl->n++;
}

/* Appends text[from..to) to the copy. */
static void copy_out(struct jlift *jl, const char *from, const char *to)
{
	memcpy(jl->text + jl->len, from, (size_t)(to - from));
	jl->len += (size_t)(to - from);
}

int jlift_strings(const char *text, size_t len, const char *key, struct jlift *out)
{
	const char *end = text + len, *p = text, *copied = text;
	size_t klen = strlen(key);

	memset(out, 0, sizeof(*out));
	out->text = mw_malloc(len + 1);
	while (p < end && (p = memchr(p, '"', (size_t)(end - p))) != NULL) {
		const char *s = p + 1, *q, *v, *vq;
		bool escaped;

		q = string_end(s, end, &escaped);
		if (!q)
			goto fail;
		p = q + 1;
		if (escaped) {
			if (followed_by_colon(p, end))
				goto fail;
			continue;
		}
		if ((size_t)(q - s) != klen || memcmp(s, key, klen) != 0)
			continue;
		v = string_value(p, end);
		if (!v)
			continue; /* a value, or a key whose value is no string: scanned on as usual */
		vq = memchr(v, '"', (size_t)(end - v));
		if (!vq || !plain_ascii(v, (size_t)(vq - v)))
			goto fail;
		copy_out(out, copied, v);
		copied = vq;
		add_span(out, v, (size_t)(vq - v));
		p = vq + 1;
	}
	copy_out(out, copied, end);
	out->text[out->len] = '\0';
	return 0;
fail:
	jlift_free(out);
	return -1;
}

void jlift_free(struct jlift *jl)
{
	free(jl->text);
	free(jl->spans);
	memset(jl, 0, sizeof(*jl));
}
