/*
 * mhash: see mhash.h. MD5 through OpenSSL's EVP interface (the low-level
 * MD5() is deprecated in OpenSSL 3); UTF-8 checked against RFC 3629's table
 * of well-formed byte sequences.
 */
#include "mhash.h"

#include "log.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void mhash_memory(const char *text, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	if (!text)
		text = "";
	if (!EVP_Digest(text, strlen(text), md, &len, EVP_md5(), NULL) || len != 16) {
		log_error("MD5 unavailable in libcrypto (FIPS mode?): memory hashes cannot be computed");
		abort();
	}
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[32] = '\0';
}

static bool cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

bool mhash_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0; /* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f; /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90; /* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false; /* stray continuation, C0/C1 overlong, F5..FF */
		}
		if (len - i <= need)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		if (need >= 2 && !cont(p[i + 2]))
			return false;
		if (need == 3 && !cont(p[i + 3]))
			return false;
		i += need + 1;
	}
	return true;
}
