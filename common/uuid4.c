/*
 * uuid4: see uuid4.h.
 */
#include "uuid4.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void uuid4_from_bytes(const unsigned char b[16], char out[UUID4_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char v[16];
	int i, o = 0;

	memcpy(v, b, sizeof(v));
	v[6] = (unsigned char)((v[6] & 0x0f) | 0x40); /* version 4 */
	v[8] = (unsigned char)((v[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[v[i] >> 4];
		out[o++] = hex[v[i] & 0x0f];
	}
	out[o] = '\0';
}

void uuid4_generate(char out[UUID4_LEN + 1])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("getrandom: %s", strerror(errno));
			abort();
		}
		got += (size_t)n;
	}
	uuid4_from_bytes(b, out);
}

bool uuid4_is_canonical(const char *s)
{
	int i;

	if (!s || strlen(s) != UUID4_LEN)
		return false;
	for (i = 0; i < UUID4_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];

		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}
