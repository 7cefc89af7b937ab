/*
 * base64 for embeddings: RFC 4648 vectors, round trips, bad input.
 */
#include "b64.h"

#include <criterion/criterion.h>
#include <stdbool.h>
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

/* '=' alone at each position of three quads: only the very last is padding. */
Test(b64, padding_only_at_the_end)
{
	char s[] = "Zm9vYmFyYmF6";
	size_t len = strlen(s), i, j, n;
	unsigned char *d;

	for (i = 0; i < len; i++) {
		char c = s[i];

		s[i] = '=';
		d = b64_decode(s, len, &n);
		if (i == len - 1) {
			cr_assert_not_null(d, "%s", s);
			cr_expect_eq(n, 8);
			cr_expect(memcmp(d, "foobarba", 8) == 0);
		} else {
			cr_expect_null(d, "'=' at %zu of %s", i, s);
		}
		free(d);
		/* and together with a '=' in the last place: only "xx==" is padding */
		s[len - 1] = '=';
		d = b64_decode(s, len, &n);
		if (i >= len - 2) {
			cr_assert_not_null(d, "%s", s);
			cr_expect_eq(n, i == len - 2 ? 7 : 8);
		} else {
			cr_expect_null(d, "'=' at %zu and %zu of %s", i, len - 1, s);
		}
		free(d);
		s[len - 1] = '6';
		s[i] = c;
	}
	/* '=' then a character is no padding, nor are three, nor a quad of them */
	cr_expect_null(b64_decode("Zm9vYm=h", 8, &n));
	cr_expect_null(b64_decode("Zm9vY===", 8, &n));
	cr_expect_null(b64_decode("Zm9v====", 8, &n));
	cr_expect_null(b64_decode("====", 4, &n));
	cr_expect_null(b64_decode("=", 1, &n));
	cr_expect_null(b64_decode("==", 2, &n));
	/* padding in an earlier quad, as two concatenated encodings would have it */
	cr_expect_null(b64_decode("Zg==Zg==", 8, &n));
	cr_expect_null(b64_decode("Zm8=Zm8=", 8, &n));
	for (j = 0; j < 4; j++) {
		d = b64_decode("Zm9v", j, &n);
		cr_expect(j == 0 ? d != NULL && n == 0 : d == NULL, "length %zu", j);
		free(d);
	}
}

/* Every byte value at every position of two quads: only the alphabet passes. */
Test(b64, every_byte_at_every_position)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char s[] = "QUJDREVG"; /* "ABCDEF" */
	size_t i, n;
	int c;

	for (i = 0; i < 8; i++) {
		char keep = s[i];

		for (c = 0; c < 256; c++) {
			bool in_alphabet = c != 0 && memchr(alphabet, c, 64) != NULL;
			unsigned char *d;

			s[i] = (char)c;
			d = b64_decode(s, 8, &n);
			if (in_alphabet) {
				char *e;

				cr_assert_not_null(d, "byte 0x%02x at %zu", c, i);
				cr_assert_eq(n, 6);
				/* no padding: every sextet is significant, so it encodes back */
				e = b64_encode(d, n);
				cr_expect(memcmp(e, s, 8) == 0, "byte 0x%02x at %zu", c, i);
				free(e);
			} else if (c == '=' && i == 7) {
				cr_expect(d != NULL && n == 5, "padding");
			} else {
				cr_expect_null(d, "byte 0x%02x at %zu", c, i);
			}
			free(d);
		}
		s[i] = keep;
	}
}

/* Random bytes of every length 0..300 through b64_encode and back. */
Test(b64, round_trips_of_every_length)
{
	unsigned char buf[300];
	unsigned seed = 12345;
	size_t len, i, n;

	for (len = 0; len <= sizeof(buf); len++) {
		char *e;
		unsigned char *d;

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (unsigned char)(seed >> 16);
		}
		e = b64_encode(buf, len);
		cr_assert_eq(strlen(e), (len + 2) / 3 * 4);
		d = b64_decode(e, strlen(e), &n);
		cr_assert_not_null(d, "length %zu", len);
		cr_assert_eq(n, len);
		cr_expect(len == 0 || memcmp(d, buf, len) == 0, "length %zu", len);
		free(e);
		free(d);
	}
}
