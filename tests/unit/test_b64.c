/*
 * base64 for embeddings: RFC 4648 vectors, round trips, bad input.
 */
#include "b64.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(b64, rfc4648_vectors)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	size_t i;

	for (i = 0; i < 7; i++) {
		char *e = b64_encode((const unsigned char *)plain[i], strlen(plain[i]));
		size_t n = 99;
		unsigned char *d = b64_decode(enc[i], strlen(enc[i]), &n);

		cr_expect_str_eq(e, enc[i]);
		cr_assert_not_null(d);
		cr_expect_eq(n, strlen(plain[i]));
		cr_expect(memcmp(d, plain[i], n) == 0);
		free(e);
		free(d);
	}
}

Test(b64, binary_round_trip_and_rejects)
{
	unsigned char buf[1024];
	size_t i, n;
	char *e;
	unsigned char *d;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	e = b64_encode(buf, sizeof(buf));
	d = b64_decode(e, strlen(e), &n);
	cr_assert_eq(n, sizeof(buf));
	cr_expect(memcmp(d, buf, n) == 0);
	free(e);
	free(d);
	cr_expect_null(b64_decode("abc", 3, &n), "length not a multiple of 4");
	cr_expect_null(b64_decode("ab!d", 4, &n), "bad character");
	cr_expect_null(b64_decode("a=bc", 4, &n), "padding in the middle");
}
