/*
 * lembed_build: see lembed_build.h. A small JSON reader of our own walks the
 * package file in place (jansson would hold 34 million numbers as objects:
 * gigabytes); only "dimensions", "l2NormIndex", "wordIndex" and "vectors"
 * are read, every other value is skipped.
 */
#include "lembed_build.h"

#include "lembed.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COMPONENTS 4096

struct jr {
	const char *p, *end;
	char err[160];
};

static void skip_ws(struct jr *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static bool expect(struct jr *j, char c)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	if (!j->err[0])
		snprintf(j->err, sizeof(j->err), "expected '%c'", c);
	return false;
}

static void put_utf8(char *out, size_t *n, size_t cap, unsigned cp)
{
	char b[4];
	size_t k = 0, i;

	if (cp < 0x80) {
		b[k++] = (char)cp;
	} else if (cp < 0x800) {
		b[k++] = (char)(0xc0 | cp >> 6);
		b[k++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		b[k++] = (char)(0xe0 | cp >> 12);
		b[k++] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[k++] = (char)(0x80 | (cp & 0x3f));
	} else {
		b[k++] = (char)(0xf0 | cp >> 18);
		b[k++] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[k++] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[k++] = (char)(0x80 | (cp & 0x3f));
	}
	for (i = 0; i < k; i++) {
		if (*n < cap)
			out[*n] = b[i];
		(*n)++;
	}
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * A JSON string into out (at most cap bytes kept; *len is the full length,
 * so len > cap means it did not fit). out may be NULL to skip.
 */
static bool read_string(struct jr *j, char *out, size_t cap, size_t *len)
{
	size_t n = 0;

	if (!expect(j, '"'))
		return false;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;

		if (c != '\\') {
			if (out && n < cap)
				out[n] = c;
			n++;
			continue;
		}
		if (j->p >= j->end)
			break;
		c = *j->p++;
		switch (c) {
		case 'n':
			c = '\n';
			break;
		case 't':
			c = '\t';
			break;
		case 'r':
			c = '\r';
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'u': {
			unsigned cp, lo;

			if (j->end - j->p < 4 || hex4(j->p, &cp) < 0)
				goto bad;
			j->p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
			    hex4(j->p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			}
			if (out)
				put_utf8(out, &n, cap, cp);
			else
				n++;
			continue;
		}
		default:
			break; /* \" \\ \/ */
		}
		if (out && n < cap)
			out[n] = c;
		n++;
	}
	if (j->p >= j->end)
		goto bad;
	j->p++;
	*len = n;
	return true;
bad:
	snprintf(j->err, sizeof(j->err), "unterminated or bad string");
	return false;
}

static bool read_number(struct jr *j, double *out)
{
	char *endp;

	skip_ws(j);
	/* the buffer is NUL-terminated past end, so strtod stops inside it */
	*out = strtod(j->p, &endp);
	if (endp == j->p || endp > j->end) {
		snprintf(j->err, sizeof(j->err), "expected a number");
		return false;
	}
	j->p = endp;
	return true;
}

static bool skip_value(struct jr *j, int depth)
{
	size_t len;
	double d;

	skip_ws(j);
	if (j->p >= j->end || depth > 64) {
		snprintf(j->err, sizeof(j->err), "truncated or too deeply nested JSON");
		return false;
	}
	switch (*j->p) {
	case '"':
		return read_string(j, NULL, 0, &len);
	case '{':
	case '[': {
		char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';

		j->p++;
		skip_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return true;
		}
		for (;;) {
			if (obj && (!read_string(j, NULL, 0, &len) || !expect(j, ':')))
				return false;
			if (!skip_value(j, depth + 1))
				return false;
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			return expect(j, close);
		}
	}
	case 't':
	case 'f':
	case 'n': {
		const char *w = *j->p == 't' ? "true" : *j->p == 'f' ? "false" : "null";
		size_t n = strlen(w);

		if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) {
			snprintf(j->err, sizeof(j->err), "bad literal");
			return false;
		}
		j->p += n;
		return true;
	}
	default:
		return read_number(j, &d);
	}
}

/* ---- the table being built ---- */

struct table {
	int dims;
	uint32_t row_size;
	unsigned char *rows;
	uint32_t n, cap;
	char *strs;
	size_t slen, scap;
	uint32_t *rank;
	float *fv; /* n x dims float copies, for weights and the component */
	uint32_t *slots;
	uint32_t nslots;
};

static struct lembed_row *trow(struct table *t, uint32_t i)
{
	return (struct lembed_row *)(void *)(t->rows + (size_t)i * t->row_size);
}

static bool slot_insert(struct table *t, const char *w, size_t n, uint32_t row)
{
	uint64_t h = lembed_hash(w, n);
	uint32_t mask = t->nslots - 1, i;

	for (i = (uint32_t)h & mask;; i = (i + 1) & mask) {
		uint32_t ref = t->slots[2 * i + 1];

		if (ref == 0) {
			t->slots[2 * i] = (uint32_t)(h >> 32);
			t->slots[2 * i + 1] = row + 1;
			return true;
		}
		if (t->slots[2 * i] == (uint32_t)(h >> 32)) {
			const struct lembed_row *r = trow(t, ref - 1);

			if (r->str_len == n && memcmp(t->strs + r->str_off, w, n) == 0)
				return false; /* a repeat */
		}
	}
}

static void rehash(struct table *t, uint32_t nslots)
{
	uint32_t i;

	free(t->slots);
	t->nslots = nslots;
	t->slots = mw_calloc((size_t)nslots * 2, sizeof(uint32_t));
	for (i = 0; i < t->n; i++) {
		const struct lembed_row *r = trow(t, i);

		slot_insert(t, t->strs + r->str_off, r->str_len, i);
	}
}

/* Adds a word; false for a repeat (ignored). */
static bool table_add(struct table *t, const char *w, size_t n, const double *v, uint32_t rank)
{
	struct lembed_row *r;
	signed char *q;
	double maxabs = 0;
	int d;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 4096;
		t->rows = mw_realloc(t->rows, (size_t)t->cap * t->row_size);
		t->rank = mw_realloc(t->rank, sizeof(uint32_t) * t->cap);
		t->fv = mw_realloc(t->fv, sizeof(float) * (size_t)t->cap * (size_t)t->dims);
	}
	if ((t->n + 1) * 2 > t->nslots)
		rehash(t, t->nslots ? t->nslots * 2 : 8192);
	if (t->slen + n > t->scap) {
		t->scap = (t->slen + n) * 2 + 4096;
		t->strs = mw_realloc(t->strs, t->scap);
	}
	r = trow(t, t->n);
	memset(r, 0, t->row_size);
	r->str_off = (uint32_t)t->slen;
	r->str_len = (uint16_t)n;
	memcpy(t->strs + t->slen, w, n);
	if (!slot_insert(t, w, n, t->n))
		return false;
	t->slen += n;
	for (d = 0; d < t->dims; d++) {
		if (fabs(v[d]) > maxabs)
			maxabs = fabs(v[d]);
		t->fv[(size_t)t->n * (size_t)t->dims + (size_t)d] = (float)v[d];
	}
	r->scale = maxabs > 0 ? (float)(maxabs / 127.0) : 1.0f;
	q = (signed char *)(r + 1);
	for (d = 0; d < t->dims; d++) {
		long k = lrint(v[d] / r->scale);

		q[d] = (signed char)(k > 127 ? 127 : k < -127 ? -127 : k);
	}
	t->rank[t->n] = rank;
	t->n++;
	return true;
}

static void table_free(struct table *t)
{
	free(t->rows);
	free(t->strs);
	free(t->rank);
	free(t->fv);
	free(t->slots);
}

/* ---- the package file ---- */

struct wink {
	long dims, norm_index, rank_index;
};

static bool read_vectors_into(struct jr *j, struct wink *wk, struct table *t, struct lembed_build_stats *st,
                              double *comp)
{
	char word[LEMBED_WORD_MAX + 1];
	uint32_t order = 0;

	if (wk->dims <= 0 || wk->dims > MAX_COMPONENTS - 2) {
		snprintf(j->err, sizeof(j->err), "\"dimensions\" missing or out of range before \"vectors\"");
		return false;
	}
	t->dims = (int)wk->dims;
	t->row_size = (uint32_t)((sizeof(struct lembed_row) + (size_t)wk->dims + 3) / 4 * 4);
	if (!expect(j, '{'))
		return false;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return true;
	}
	for (;;) {
		size_t len;
		int nc = 0;

		if (!read_string(j, word, sizeof(word) - 1, &len) || !expect(j, ':') || !expect(j, '['))
			return false;
		skip_ws(j);
		while (j->p < j->end && *j->p != ']') {
			double d;

			if (!read_number(j, &d))
				return false;
			if (nc < MAX_COMPONENTS)
				comp[nc] = d;
			nc++;
			skip_ws(j);
			if (j->p < j->end && *j->p == ',')
				j->p++;
			skip_ws(j);
		}
		if (!expect(j, ']'))
			return false;
		{
			bool ok = len > 0 && len <= LEMBED_WORD_MAX && nc >= wk->dims && nc <= MAX_COMPONENTS;
			uint32_t rank = order;
			int d;

			if (ok && wk->rank_index >= 0 && wk->rank_index < nc && comp[wk->rank_index] >= 0 &&
			    comp[wk->rank_index] < 4e9)
				rank = (uint32_t)comp[wk->rank_index];
			for (d = 0; ok && d < wk->dims; d++)
				ok = isfinite(comp[d]);
			if (!ok || !table_add(t, word, len, comp, rank))
				st->skipped++;
			order++;
		}
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		return expect(j, '}');
	}
}

/* The "vectors" object; comp is scratch for one row's components. */
static bool read_vectors(struct jr *j, struct wink *wk, struct table *t, struct lembed_build_stats *st)
{
	double *comp = mw_calloc(MAX_COMPONENTS, sizeof(double));
	bool ok = read_vectors_into(j, wk, t, st, comp);

	free(comp);
	return ok;
}

static bool read_package(struct jr *j, struct table *t, struct lembed_build_stats *st)
{
	struct wink wk = {.dims = 0, .norm_index = -1, .rank_index = -1};
	bool have_vectors = false;

	if (!expect(j, '{'))
		return false;
	for (;;) {
		char key[32];
		size_t len;

		if (!read_string(j, key, sizeof(key) - 1, &len) || !expect(j, ':'))
			return false;
		key[len < sizeof(key) - 1 ? len : sizeof(key) - 1] = '\0';
		if (strcmp(key, "vectors") == 0) {
			if (!read_vectors(j, &wk, t, st))
				return false;
			have_vectors = true;
		} else if (strcmp(key, "dimensions") == 0 || strcmp(key, "l2NormIndex") == 0 ||
		           strcmp(key, "wordIndex") == 0) {
			double d;

			if (!read_number(j, &d))
				return false;
			if (key[0] == 'd')
				wk.dims = (long)d;
			else if (key[0] == 'l')
				wk.norm_index = (long)d;
			else
				wk.rank_index = (long)d;
		} else if (!skip_value(j, 0)) {
			return false;
		}
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (!expect(j, '}'))
			return false;
		break;
	}
	if (!have_vectors || t->n == 0) {
		snprintf(j->err, sizeof(j->err), "no \"vectors\" object with words in it");
		return false;
	}
	return true;
}

/* ---- weights, the common component, the file ---- */

static void sif_weights(struct table *t, double a, struct lembed_build_stats *st, float *pc, bool want_pc)
{
	uint32_t i, maxrank = 0;
	double harmonic = 0, norm_sum = 0, *m, *v, *nv;
	int dims = t->dims, d, e, it;

	for (i = 0; i < t->n; i++)
		if (t->rank[i] > maxrank)
			maxrank = t->rank[i];
	for (i = 1; i <= maxrank + 1; i++)
		harmonic += 1.0 / i;
	m = mw_calloc((size_t)dims * (size_t)dims, sizeof(double));
	v = mw_calloc((size_t)dims, sizeof(double));
	nv = mw_calloc((size_t)dims, sizeof(double));
	for (i = 0; i < t->n; i++) {
		struct lembed_row *r = trow(t, i);
		const float *x = t->fv + (size_t)i * (size_t)dims;
		double p = 1.0 / ((t->rank[i] + 1.0) * harmonic), w = a / (a + p), n2 = 0;

		r->weight = (float)w;
		for (d = 0; d < dims; d++)
			n2 += (double)x[d] * x[d];
		norm_sum += sqrt(n2);
		/* past the first 100k ranks p(w) is too small to move the component */
		if (!want_pc || t->rank[i] >= 100000)
			continue;
		for (d = 0; d < dims; d++)
			for (e = 0; e <= d; e++)
				m[d * dims + e] += p * w * w * x[d] * x[e];
	}
	st->mean_norm = norm_sum / t->n;
	for (d = 0; d < dims; d++)
		for (e = d + 1; e < dims; e++)
			m[d * dims + e] = m[e * dims + d];
	memset(pc, 0, sizeof(float) * (size_t)dims);
	if (want_pc) {
		/* power iteration from a fixed start: deterministic */
		for (d = 0; d < dims; d++)
			v[d] = 1.0 / sqrt(dims);
		for (it = 0; it < 500; it++) {
			double n2 = 0;

			for (d = 0; d < dims; d++) {
				nv[d] = 0;
				for (e = 0; e < dims; e++)
					nv[d] += m[d * dims + e] * v[e];
			}
			for (d = 0; d < dims; d++)
				n2 += nv[d] * nv[d];
			n2 = sqrt(n2);
			if (!(n2 > 0))
				break;
			for (d = 0; d < dims; d++)
				v[d] = nv[d] / n2;
		}
		for (d = 0; d < dims; d++)
			pc[d] = (float)v[d];
	}
	free(m);
	free(v);
	free(nv);
}

static size_t align8(size_t n)
{
	return (n + 7) / 8 * 8;
}

static bool write_all(FILE *f, const void *p, size_t n)
{
	return n == 0 || fwrite(p, 1, n, f) == n;
}

static bool write_pad(FILE *f, size_t from, size_t to)
{
	static const char zeros[8];

	return to == from || write_all(f, zeros, to - from);
}

static int write_file(const struct lembed_build_opts *o, struct table *t, const float *pc, double a,
                      struct lembed_build_stats *st, char *err, size_t errlen)
{
	struct lembed_header h = {0};
	char tmp[4096];
	FILE *f;
	size_t off;

	memcpy(h.magic, LEMBED_MAGIC, 8);
	h.version = LEMBED_VERSION;
	h.dims = (uint32_t)t->dims;
	h.nwords = t->n;
	rehash(t, t->nslots); /* rows are final: rebuild for a clean layout */
	h.nslots = t->nslots;
	h.row_size = t->row_size;
	h.flags = o->no_pc ? 0 : LEMBED_F_PC;
	h.pc_off = align8(sizeof(h));
	h.slots_off = align8(h.pc_off + sizeof(float) * (size_t)t->dims);
	h.rows_off = align8(h.slots_off + (size_t)t->nslots * 8);
	h.strs_off = align8(h.rows_off + (size_t)t->n * t->row_size);
	h.strs_len = t->slen;
	h.file_size = h.strs_off + t->slen;
	h.sif_a = (float)a;
	h.oov_weight = 1.0f;
	h.mean_norm = (float)st->mean_norm;
	snprintf(h.source, sizeof(h.source), "%s", o->source ? o->source : "unknown");

	snprintf(tmp, sizeof(tmp), "%s.tmp", o->out_path);
	f = fopen(tmp, "wb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	off = sizeof(h);
	if (!write_all(f, &h, sizeof(h)) || !write_pad(f, off, h.pc_off) ||
	    !write_all(f, pc, sizeof(float) * (size_t)t->dims) ||
	    !write_pad(f, h.pc_off + sizeof(float) * (size_t)t->dims, h.slots_off) ||
	    !write_all(f, t->slots, (size_t)t->nslots * 8) ||
	    !write_pad(f, h.slots_off + (size_t)t->nslots * 8, h.rows_off) ||
	    !write_all(f, t->rows, (size_t)t->n * t->row_size) ||
	    !write_pad(f, h.rows_off + (size_t)t->n * t->row_size, h.strs_off) || !write_all(f, t->strs, t->slen)) {
		snprintf(err, errlen, "%s: write: %s", tmp, strerror(errno));
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, o->out_path) != 0) {
		snprintf(err, errlen, "%s: %s", o->out_path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	st->bytes = h.file_size;
	return 0;
}

static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	char *buf;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &sb) < 0 || sb.st_size <= 0) {
		snprintf(err, errlen, "%s: empty or unreadable", path);
		fclose(f);
		return NULL;
	}
	buf = mw_malloc((size_t)sb.st_size + 1);
	if (fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		snprintf(err, errlen, "%s: short read", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[sb.st_size] = '\0';
	*len = (size_t)sb.st_size;
	return buf;
}

int lembed_build(const struct lembed_build_opts *o, struct lembed_build_stats *st, char *err, size_t errlen)
{
	struct table t = {0};
	struct jr j = {0};
	double a = o->sif_a > 0 ? o->sif_a : LEMBED_DEFAULT_SIF_A;
	float pc[MAX_COMPONENTS];
	size_t len;
	char *buf;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	buf = slurp(o->json_path, &len, err, errlen);
	if (!buf)
		return -1;
	j.p = buf;
	j.end = buf + len;
	if (!read_package(&j, &t, st)) {
		snprintf(err, errlen, "%s: not a wink embeddings file: %s (near byte %zu)", o->json_path, j.err,
		         (size_t)(j.p - buf));
		goto fail;
	}
	sif_weights(&t, a, st, pc, !o->no_pc);
	if (write_file(o, &t, pc, a, st, err, errlen) < 0)
		goto fail;
	st->words = t.n;
	st->dims = t.dims;
	rc = 0;
fail:
	table_free(&t);
	free(buf);
	return rc;
}

char *lembed_build_find_json(const char *dir)
{
	static const char *const subdirs[] = {"package", ".", NULL};
	int i;

	for (i = 0; subdirs[i]; i++) {
		char path[4096];
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			size_t n = strlen(de->d_name);

			if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0 &&
			    strcmp(de->d_name, "package.json") != 0) {
				char *full = mw_malloc(strlen(path) + n + 2);

				sprintf(full, "%s/%s", path, de->d_name);
				closedir(d);
				return full;
			}
		}
		closedir(d);
	}
	return NULL;
}
