/*
 * vec: see vec.h. Byte orders are spelled out with shifts on uint32_t bit
 * patterns copied in and out with memcpy, so the code is correct on any host
 * and never type-puns through a pointer.
 */
#include "vec.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t float_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float bits_float(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static bool dims_ok(int dims)
{
	return dims >= 1 && dims <= VEC_MAX_DIMS;
}

static bool all_finite(const float *v, int dims)
{
	int i;

	for (i = 0; i < dims; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

size_t vec_pg_size(int dims)
{
	return dims > 0 ? 4 + 4 * (size_t)dims : 4;
}

int vec_encode_pg(const float *v, int dims, unsigned char *out, size_t outlen)
{
	size_t need = vec_pg_size(dims);
	int i;

	if (!dims_ok(dims) || outlen < need || !all_finite(v, dims))
		return -1;
	out[0] = (unsigned char)(dims >> 8);
	out[1] = (unsigned char)(dims & 0xff);
	out[2] = 0;
	out[3] = 0;
	for (i = 0; i < dims; i++) {
		uint32_t u = float_bits(v[i]);
		unsigned char *p = out + 4 + 4 * (size_t)i;

		p[0] = (unsigned char)(u >> 24);
		p[1] = (unsigned char)(u >> 16);
		p[2] = (unsigned char)(u >> 8);
		p[3] = (unsigned char)u;
	}
	return (int)need;
}

int vec_decode_pg(const unsigned char *in, size_t len, float *out, int dims)
{
	int hdr_dims, i;

	if (!dims_ok(dims) || len != vec_pg_size(dims))
		return -1;
	hdr_dims = (in[0] << 8) | in[1];
	if (hdr_dims != dims || in[2] != 0 || in[3] != 0)
		return -1;
	for (i = 0; i < dims; i++) {
		const unsigned char *p = in + 4 + 4 * (size_t)i;
		uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];

		out[i] = bits_float(u);
		if (!isfinite(out[i]))
			return -1;
	}
	return 0;
}

/* "-1.23456789e-38": the longest %.9g of a float is 15 characters. */
#define VEC_COMPONENT_MAX 16

size_t vec_text_size(int dims)
{
	return (dims > 0 ? (size_t)dims : 0) * VEC_COMPONENT_MAX + 3;
}

/* The shortest %g form of f that strtof reads back to f (9 digits always do). */
static int format_component(float f, char buf[VEC_COMPONENT_MAX + 8])
{
	int prec, n = 0;

	for (prec = 1; prec <= 9; prec++) {
		n = snprintf(buf, VEC_COMPONENT_MAX + 8, "%.*g", prec, (double)f);
		if (strtof(buf, NULL) == f)
			break;
	}
	return n;
}

int vec_text(const float *v, int dims, char *out, size_t outlen)
{
	char buf[VEC_COMPONENT_MAX + 8];
	size_t pos = 0;
	int i, n;

	if (outlen > 0)
		out[0] = '\0';
	if (!dims_ok(dims) || !all_finite(v, dims) || outlen < 3)
		return -1;
	out[pos++] = '[';
	for (i = 0; i < dims; i++) {
		n = format_component(v[i], buf);
		/* the component, a ',' or ']', and the NUL must fit */
		if (n <= 0 || pos + (size_t)n + 2 > outlen)
			goto fail;
		memcpy(out + pos, buf, (size_t)n);
		pos += (size_t)n;
		out[pos++] = i + 1 < dims ? ',' : ']';
	}
	out[pos] = '\0';
	return (int)pos;
fail:
	out[0] = '\0';
	return -1;
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

int vec_parse_text(const char *s, float *out, int maxdims)
{
	int n = 0;

	if (!s || maxdims < 1)
		return -1;
	s = skip_space(s);
	if (*s++ != '[')
		return -1;
	for (;;) {
		size_t toklen;
		char *end;
		float f;

		s = skip_space(s);
		/*
		 * Only plain decimal notation: strtof alone would also take
		 * "nan", "inf" and hex floats.
		 */
		toklen = strspn(s, "+-0123456789.eE");
		if (toklen == 0 || n >= maxdims)
			return -1;
		f = strtof(s, &end);
		if (end != s + toklen || !isfinite(f))
			return -1;
		out[n++] = f;
		s = skip_space(end);
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s != ']')
			return -1;
		s = skip_space(s + 1);
		return *s == '\0' ? n : -1;
	}
}

double vec_cosine_sim(const float *a, const float *b, int dims)
{
	double dot = 0, na = 0, nb = 0, sim;
	int i;

	for (i = 0; i < dims; i++) {
		dot += (double)a[i] * b[i];
		na += (double)a[i] * a[i];
		nb += (double)b[i] * b[i];
	}
	if (na == 0 || nb == 0)
		return 0;
	sim = dot / (sqrt(na) * sqrt(nb));
	if (sim > 1)
		return 1;
	if (sim < -1)
		return -1;
	return sim;
}

void vec_normalize(float *v, int dims)
{
	double sum = 0, norm;
	int i;

	for (i = 0; i < dims; i++)
		sum += (double)v[i] * v[i];
	if (sum == 0)
		return;
	norm = sqrt(sum);
	for (i = 0; i < dims; i++)
		v[i] = (float)(v[i] / norm);
}

bool vec_valid(const float *v, int dims)
{
	bool nonzero = false;
	int i;

	if (!dims_ok(dims))
		return false;
	for (i = 0; i < dims; i++) {
		if (!isfinite(v[i]))
			return false;
		if (v[i] != 0)
			nonzero = true;
	}
	return nonzero;
}

void vec_to_le_blob(const float *v, int dims, unsigned char *out)
{
	int i;

	for (i = 0; i < dims; i++) {
		uint32_t u = float_bits(v[i]);
		unsigned char *p = out + 4 * (size_t)i;

		p[0] = (unsigned char)u;
		p[1] = (unsigned char)(u >> 8);
		p[2] = (unsigned char)(u >> 16);
		p[3] = (unsigned char)(u >> 24);
	}
}

void vec_from_le_blob(const unsigned char *in, int dims, float *out)
{
	int i;

	for (i = 0; i < dims; i++) {
		const unsigned char *p = in + 4 * (size_t)i;

		out[i] = bits_float((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
	}
}
