/*
 * b64: see b64.h.
 */
#include "b64.h"

#include "log.h"

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

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	size_t i, o = 0, pad = 0;

	if (inlen % 4 != 0)
		return NULL;
	if (inlen >= 1 && in[inlen - 1] == '=')
		pad++;
	if (inlen >= 2 && in[inlen - 2] == '=')
		pad++;
	out = mw_malloc(inlen / 4 * 3 + 1);
	for (i = 0; i < inlen; i += 4) {
		int a = value_of(in[i]), b = value_of(in[i + 1]);
		int c = in[i + 2] == '=' && i + 4 == inlen ? 0 : value_of(in[i + 2]);
		int d = in[i + 3] == '=' && i + 4 == inlen ? 0 : value_of(in[i + 3]);
		uint32_t v;

		if (a < 0 || b < 0 || c < 0 || d < 0) {
			free(out);
			return NULL;
		}
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	*outlen = o - pad;
	return out;
}
