/*
 * b64: see b64.h.
 */
#include "b64.h"

#include "log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const unsigned char *in, size_t len)
{
	char *out = mw_malloc(4 * ((len + 2) / 3) + 1), *p = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = alphabet[(v >> 6) & 63];
		*p++ = alphabet[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
		*p++ = alphabet[v >> 18];
		*p++ = alphabet[(v >> 12) & 63];
		*p++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

/*
 * Sextet of every byte, BAD for the rest ('=' included: only decode_tail
 * reads padding). One load a character instead of a chain of range tests:
 * embeddings replies carry ~8 KB of base64 a vector.
 */
#define BAD 0xff
/* clang-format off */
static const unsigned char sextet[256] = {
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,  62, BAD, BAD, BAD,  63,
	 52,  53,  54,  55,  56,  57,  58,  59,  60,  61, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
	 15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, BAD, BAD, BAD, BAD, BAD,
	BAD,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
	 41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
	BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
};
/* clang-format on */

/* Three bytes from four characters; false if one is not of the alphabet. */
static bool decode_quad(const char *in, unsigned char *out)
{
	unsigned a = sextet[(unsigned char)in[0]], b = sextet[(unsigned char)in[1]];
	unsigned c = sextet[(unsigned char)in[2]], d = sextet[(unsigned char)in[3]];
	uint32_t v;

	/* BAD is the only value with bit 7 set */
	if ((a | b | c | d) & 0x80)
		return false;
	v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
	out[0] = (unsigned char)(v >> 16);
	out[1] = (unsigned char)(v >> 8);
	out[2] = (unsigned char)v;
	return true;
}

/* The last quad, "xx==" (pad 2) or "xxx=" (pad 1): 1 or 2 bytes. */
static bool decode_tail(const char *in, size_t pad, unsigned char *out)
{
	unsigned a = sextet[(unsigned char)in[0]], b = sextet[(unsigned char)in[1]];
	unsigned c = pad == 2 ? 0 : sextet[(unsigned char)in[2]];
	uint32_t v;

	if ((a | b | c) & 0x80)
		return false;
	v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
	out[0] = (unsigned char)(v >> 16);
	if (pad == 1)
		out[1] = (unsigned char)(v >> 8);
	return true;
}

unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	size_t i, o = 0, pad = 0, full;

	if (inlen % 4 != 0)
		return NULL;
	/* padding is one or two '=' at the very end; any other '=' is BAD */
	if (inlen >= 4 && in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	full = pad ? inlen - 4 : inlen;
	out = mw_malloc(inlen / 4 * 3 + 1);
	for (i = 0; i < full; i += 4, o += 3)
		if (!decode_quad(in + i, out + o))
			goto fail;
	if (pad) {
		if (!decode_tail(in + full, pad, out + o))
			goto fail;
		o += 3 - pad;
	}
	*outlen = o;
	return out;
fail:
	free(out);
	return NULL;
}
