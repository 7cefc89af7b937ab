/*
 * lembed: see lembed.h. The mapping is the whole state; lookups read it in
 * place (a probe touches one slot line and one row), so a process's
 * resident size grows only by the pages of the words it actually meets.
 */
#include "lembed.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DIMS 4096

struct lembed {
	const unsigned char *map;
	size_t size;
	struct lembed_header h;
	const float *pc;
	const uint32_t *slots;
	const unsigned char *rows;
	const char *strs;
};

uint64_t lembed_hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static bool section_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off % 8 == 0 && off <= size && len <= size - off;
}

struct lembed *lembed_open(const char *path, char *err, size_t errlen)
{
	struct lembed *e = NULL;
	struct stat st;
	void *map = MAP_FAILED;
	const struct lembed_header *h;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s (build it with memctl local-model build)", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct lembed_header)) {
		snprintf(err, errlen, "%s: not a local model file (too short)", path);
		goto fail;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		goto fail;
	}
	h = map;
	if (memcmp(h->magic, LEMBED_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s: not a local model file (bad magic)", path);
		goto fail;
	}
	if (h->version != LEMBED_VERSION) {
		snprintf(err, errlen,
		         "%s: model file version %u, this build reads %d: rebuild it with memctl local-model build",
		         path, h->version, LEMBED_VERSION);
		goto fail;
	}
	if (h->file_size != (uint64_t)st.st_size || h->dims == 0 || h->dims > MAX_DIMS || h->nwords == 0 ||
	    h->nslots < h->nwords || (h->nslots & (h->nslots - 1)) != 0 ||
	    h->row_size < sizeof(struct lembed_row) + h->dims || h->row_size % 4 != 0 ||
	    !section_ok(h->pc_off, (uint64_t)h->dims * 4, h->file_size) ||
	    !section_ok(h->slots_off, (uint64_t)h->nslots * 8, h->file_size) ||
	    !section_ok(h->rows_off, (uint64_t)h->nwords * h->row_size, h->file_size) || h->strs_off > h->file_size ||
	    h->strs_len > h->file_size - h->strs_off || !(h->mean_norm > 0) ||
	    memchr(h->source, '\0', sizeof(h->source)) == NULL) {
		snprintf(err, errlen, "%s: corrupt local model file (header does not match its size)", path);
		goto fail;
	}
	e = mw_calloc(1, sizeof(*e));
	e->map = map;
	e->size = (size_t)st.st_size;
	e->h = *h;
	e->pc = (const float *)(const void *)(e->map + h->pc_off);
	e->slots = (const uint32_t *)(const void *)(e->map + h->slots_off);
	e->rows = e->map + h->rows_off;
	e->strs = (const char *)e->map + h->strs_off;
	close(fd);
	return e;
fail:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return NULL;
}

void lembed_close(struct lembed *e)
{
	if (!e)
		return;
	munmap((void *)e->map, e->size);
	free(e);
}

int lembed_dims(const struct lembed *e)
{
	return (int)e->h.dims;
}

uint32_t lembed_nwords(const struct lembed *e)
{
	return e->h.nwords;
}

const char *lembed_source(const struct lembed *e)
{
	return ((const struct lembed_header *)(const void *)e->map)->source;
}

size_t lembed_mapped_size(const struct lembed *e)
{
	return e->size;
}

static const struct lembed_row *row_at(const struct lembed *e, uint32_t i)
{
	return (const struct lembed_row *)(const void *)(e->rows + (size_t)i * e->h.row_size);
}

static const struct lembed_row *find(const struct lembed *e, const char *w, size_t n)
{
	uint64_t hash;
	uint32_t mask = e->h.nslots - 1, tag, i, probes;

	if (n == 0 || n > LEMBED_WORD_MAX)
		return NULL;
	hash = lembed_hash(w, n);
	tag = (uint32_t)(hash >> 32);
	for (i = (uint32_t)hash & mask, probes = 0; probes < e->h.nslots; i = (i + 1) & mask, probes++) {
		uint32_t stag = e->slots[2 * i], ref = e->slots[2 * i + 1];
		const struct lembed_row *r;

		if (ref == 0)
			return NULL;
		if (stag != tag || ref > e->h.nwords)
			continue;
		r = row_at(e, ref - 1);
		if (r->str_len == n && (uint64_t)r->str_off + n <= e->h.strs_len &&
		    memcmp(e->strs + r->str_off, w, n) == 0)
			return r;
	}
	return NULL;
}

static void dequantise(const struct lembed *e, const struct lembed_row *r, float *out)
{
	const signed char *q = (const signed char *)(r + 1);
	uint32_t d;

	for (d = 0; d < e->h.dims; d++)
		out[d] = (float)q[d] * r->scale;
}

bool lembed_word(const struct lembed *e, const char *word, size_t n, float *out, float *weight)
{
	const struct lembed_row *r = find(e, word, n);

	if (!r)
		return false;
	if (out)
		dequantise(e, r, out);
	if (weight)
		*weight = r->weight;
	return true;
}

/* ---- tokens ---- */

static bool word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* ’ (U+2019) and ‘ (U+2018) read as '. */
static size_t apostrophe_at(const char *p)
{
	if (*p == '\'')
		return 1;
	if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
	    ((unsigned char)p[2] == 0x99 || (unsigned char)p[2] == 0x98))
		return 3;
	return 0;
}

static void emit(lembed_token_cb cb, void *arg, const char *t, size_t n, int *count)
{
	if (n == 0)
		return;
	cb(arg, t, n > LEMBED_WORD_MAX ? LEMBED_WORD_MAX : n);
	(*count)++;
}

/* A word (lower case, apostrophes as '), with its clitic split off. */
static void emit_word(lembed_token_cb cb, void *arg, const char *w, size_t n, int *count)
{
	static const struct {
		const char *suffix, *word;
	} clitics[] = {
	        {"n't", "not"},  {"'m", "am"},    {"'re", "are"}, {"'ve", "have"},
	        {"'ll", "will"}, {"'d", "would"}, {"'s", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(clitics) / sizeof(clitics[0]); i++) {
		size_t sl = strlen(clitics[i].suffix);

		if (n > sl && memcmp(w + n - sl, clitics[i].suffix, sl) == 0) {
			size_t bl = n - sl;

			/* can't -> can not, won't -> will not, don't -> do not */
			if (i == 0 && bl == 2 && memcmp(w, "wo", 2) == 0)
				emit(cb, arg, "will", 4, count);
			else if (i == 0 && bl == 2 && memcmp(w, "ca", 2) == 0)
				emit(cb, arg, "can", 3, count);
			else
				emit(cb, arg, w, bl, count);
			if (clitics[i].word)
				emit(cb, arg, clitics[i].word, strlen(clitics[i].word), count);
			return;
		}
	}
	/* other apostrophes (o'clock, rock'n'roll) stay inside the word */
	emit(cb, arg, w, n, count);
}

int lembed_tokens(const char *text, lembed_token_cb cb, void *arg)
{
	char buf[LEMBED_WORD_MAX * 2 + 8];
	const char *p = text;
	int count = 0;

	while (*p) {
		size_t n = 0, a;

		if (!word_byte((unsigned char)*p) || apostrophe_at(p)) {
			p += apostrophe_at(p) ? apostrophe_at(p) : 1;
			continue;
		}
		/* a run of word bytes, with single ' or - joining two of them */
		while (*p) {
			unsigned char c = (unsigned char)*p;

			if ((a = apostrophe_at(p)) > 0) {
				if (!word_byte((unsigned char)p[a]) || apostrophe_at(p + a))
					break;
				if (n < sizeof(buf) - 1)
					buf[n++] = '\'';
				p += a;
			} else if (word_byte(c)) {
				if (n < sizeof(buf) - 1)
					buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
				p++;
			} else if (c == '-' && word_byte((unsigned char)p[1])) {
				if (n < sizeof(buf) - 1)
					buf[n++] = '-';
				p++;
			} else {
				break;
			}
		}
		emit_word(cb, arg, buf, n, &count);
	}
	return count;
}

/* ---- sentence vectors ---- */

struct acc {
	const struct lembed *e;
	double *sum;
	float *tmp;
	int n;
	bool keep_stop; /* second pass over a text made of function words only */
};

/*
 * Function words: SIF's a/(a+p) leaves them too much weight in the short
 * texts memories and questions are ("What is my job?" is one content word
 * and four function words), so they are left out unless a text has nothing
 * else. Sorted, for bsearch.
 */
static const char *const stop_words[] = {
        "a",     "about",  "again", "also",  "am",         "an",    "and",   "any",       "anything", "are",   "as",
        "at",    "be",     "been",  "being", "but",        "by",    "can",   "could",     "did",      "do",    "does",
        "doing", "done",   "for",   "from",  "had",        "has",   "have",  "having",    "he",       "her",   "here",
        "him",   "his",    "how",   "i",     "if",         "in",    "into",  "is",        "it",       "its",   "just",
        "kind",  "may",    "me",    "might", "mine",       "must",  "my",    "myself",    "of",       "on",    "or",
        "our",   "please", "shall", "she",   "should",     "so",    "some",  "something", "sort",     "tell",  "than",
        "that",  "the",    "their", "them",  "themselves", "then",  "there", "these",     "they",     "this",  "those",
        "to",    "us",     "very",  "was",   "we",         "were",  "what",  "when",      "where",    "which", "who",
        "whom",  "whose",  "why",   "will",  "with",       "would", "you",   "your",
};

static int stop_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static bool stop_word(const char *t, size_t n)
{
	char w[16];

	if (n >= sizeof(w))
		return false;
	memcpy(w, t, n);
	w[n] = '\0';
	return bsearch(w, stop_words, sizeof(stop_words) / sizeof(stop_words[0]), sizeof(stop_words[0]), stop_cmp) !=
	       NULL;
}

/* A unit-free pseudo-random vector from character trigrams of "<w>" and the whole word. */
static void hashed_vector(int dims, const char *w, size_t n, float *out)
{
	char g[LEMBED_WORD_MAX + 2];
	size_t i, len;
	double norm = 0;
	int d;

	memset(out, 0, sizeof(float) * (size_t)dims);
	if (n > LEMBED_WORD_MAX)
		n = LEMBED_WORD_MAX;
	g[0] = '<';
	memcpy(g + 1, w, n);
	g[n + 1] = '>';
	len = n + 2;
	for (i = 0; i + 3 <= len; i++) {
		uint64_t h = lembed_hash(g + i, 3);

		out[h % (uint64_t)dims] += (h >> 63) ? -1.0f : 1.0f;
		out[(h >> 24) % (uint64_t)dims] += (h >> 62 & 1) ? -0.5f : 0.5f;
	}
	{
		uint64_t h = lembed_hash(w, n);
		int k;

		for (k = 0; k < 4; k++, h = h * 6364136223846793005ULL + 1442695040888963407ULL)
			out[(h >> 33) % (uint64_t)dims] += (h >> 63) ? -1.5f : 1.5f;
	}
	for (d = 0; d < dims; d++)
		norm += (double)out[d] * out[d];
	norm = sqrt(norm);
	for (d = 0; d < dims; d++)
		out[d] = norm > 0 ? (float)(out[d] / norm) : 0;
}

static void add_vec(struct acc *a, const float *v, float w)
{
	int d, dims = (int)a->e->h.dims;

	for (d = 0; d < dims; d++)
		a->sum[d] += (double)w * v[d];
	a->n++;
}

/* Known as is, or as its singular (films -> film, cities -> city, boxes -> box). */
static bool lookup_inflected(const struct lembed *e, const char *t, size_t n, float *out, float *w)
{
	char s[LEMBED_WORD_MAX + 1];

	if (lembed_word(e, t, n, out, w))
		return true;
	if (n < 4 || t[n - 1] != 's')
		return false;
	memcpy(s, t, n);
	if (n > 4 && memcmp(t + n - 3, "ies", 3) == 0) {
		s[n - 3] = 'y';
		if (lembed_word(e, s, n - 2, out, w))
			return true;
	}
	if (n > 4 && t[n - 2] == 'e' && lembed_word(e, t, n - 2, out, w))
		return true;
	return t[n - 2] != 's' && lembed_word(e, t, n - 1, out, w);
}

static void add_token(void *arg, const char *t, size_t n)
{
	struct acc *a = arg;
	const struct lembed *e = a->e;
	float w;

	if (!a->keep_stop && stop_word(t, n))
		return;
	if (lookup_inflected(e, t, n, a->tmp, &w)) {
		add_vec(a, a->tmp, w);
		return;
	}
	/* sci-fi is known; a compound that is not is its parts */
	if (memchr(t, '-', n)) {
		const char *p = t, *end = t + n;
		bool any = false;

		while (p < end) {
			const char *q = memchr(p, '-', (size_t)(end - p));
			size_t len = q ? (size_t)(q - p) : (size_t)(end - p);

			if (len && lookup_inflected(e, p, len, a->tmp, &w)) {
				add_vec(a, a->tmp, w);
				any = true;
			}
			p += len + 1;
		}
		if (any)
			return;
	}
	/* "i" and "a" are not in the package: a lone unknown letter is a stop word, not a meaning */
	if (n == 1)
		return;
	hashed_vector((int)e->h.dims, t, n, a->tmp);
	add_vec(a, a->tmp, e->h.oov_weight * e->h.mean_norm);
}

void lembed_text(const struct lembed *e, const char *text, float *out)
{
	int dims = (int)e->h.dims, d;
	double sum[MAX_DIMS], norm = 0, dot = 0;
	float tmp[MAX_DIMS];
	struct acc a = {.e = e, .sum = sum, .tmp = tmp};

	memset(sum, 0, sizeof(double) * (size_t)dims);
	lembed_tokens(text ? text : "", add_token, &a);
	if (a.n == 0) {
		a.keep_stop = true;
		lembed_tokens(text ? text : "", add_token, &a);
	}
	if (a.n == 0) {
		/* no word at all ("?!", ""): the text's own hash */
		hashed_vector(dims, text ? text : "", text ? strlen(text) : 0, tmp);
		for (d = 0; d < dims; d++)
			out[d] = tmp[d];
		return;
	}
	for (d = 0; d < dims; d++)
		sum[d] /= a.n;
	if (e->h.flags & LEMBED_F_PC) {
		for (d = 0; d < dims; d++)
			dot += sum[d] * e->pc[d];
		for (d = 0; d < dims; d++)
			sum[d] -= dot * e->pc[d];
	}
	for (d = 0; d < dims; d++)
		norm += sum[d] * sum[d];
	norm = sqrt(norm);
	if (!(norm > 1e-12) || !isfinite(norm)) {
		hashed_vector(dims, text, strlen(text), tmp);
		for (d = 0; d < dims; d++)
			out[d] = tmp[d];
		return;
	}
	for (d = 0; d < dims; d++)
		out[d] = (float)(sum[d] / norm);
}
