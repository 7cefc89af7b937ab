/*
 * mhash: Mem0's memory hash on known strings (expected values from
 * `printf %s TEXT | md5sum`) and the strict UTF-8 gate.
 */
#include "mhash.h"

#include <criterion/criterion.h>
#include <string.h>

Test(mhash, md5_of_known_texts)
{
	char out[33];

	mhash_memory("Likes tea", out);
	cr_expect_str_eq(out, "ed0d2a668f61805c737f938e64f1961d");
	mhash_memory("Name is Sean", out);
	cr_expect_str_eq(out, "504812cca69a721c45988847d5009da3");
	mhash_memory("", out);
	cr_expect_str_eq(out, "d41d8cd98f00b204e9800998ecf8427e");
	mhash_memory(NULL, out);
	cr_expect_str_eq(out, "d41d8cd98f00b204e9800998ecf8427e", "NULL hashes as \"\"");
	mhash_memory("Mag gr\xc3\xbcnen Tee", out);
	cr_expect_str_eq(out, "2e44c81dd69d04966e548b29f9259398", "UTF-8 bytes as they are");
	mhash_memory("Likes tea ", out);
	cr_expect_str_eq(out, "bdb2e09ab5fd24559a79209335b9a3c9", "no trimming");
}

struct utf8_case {
	const char *s;
	size_t len;
	bool valid;
	const char *what;
};

/* clang-format off */
#define U(lit, ok, what) { lit, sizeof(lit) - 1, ok, what }
/* clang-format on */

Test(mhash, utf8_validity_table)
{
	static const struct utf8_case cases[] = {
		U("", true, "empty"),
		U("plain ASCII", true, "ASCII"),
		U("caf\xc3\xa9", true, "2-byte"),
		U("\xe2\x82\xac 5", true, "3-byte euro sign"),
		U("\xf0\x9f\x98\x80", true, "4-byte emoji"),
		U("\xef\xbf\xbf", true, "U+FFFF"),
		U("\xf4\x8f\xbf\xbf", true, "U+10FFFF, the last code point"),
		U("\xed\x9f\xbf", true, "U+D7FF, just below the surrogates"),
		U("\xee\x80\x80", true, "U+E000, just above the surrogates"),
		U("\xc2\x80", true, "U+0080, smallest 2-byte"),
		U("\xe0\xa0\x80", true, "U+0800, smallest 3-byte"),
		U("\xf0\x90\x80\x80", true, "U+10000, smallest 4-byte"),
		U("\xc0\xaf", false, "overlong '/' in 2 bytes"),
		U("\xc1\xbf", false, "overlong 2-byte"),
		U("\xe0\x80\xaf", false, "overlong '/' in 3 bytes"),
		U("\xe0\x9f\xbf", false, "overlong U+07FF in 3 bytes"),
		U("\xf0\x80\x80\xaf", false, "overlong '/' in 4 bytes"),
		U("\xf0\x8f\xbf\xbf", false, "overlong U+FFFF in 4 bytes"),
		U("\xed\xa0\x80", false, "surrogate U+D800"),
		U("\xed\xbf\xbf", false, "surrogate U+DFFF"),
		U("\xed\xa0\xbd\xed\xb8\x80", false, "CESU-8 surrogate pair"),
		U("\xf4\x90\x80\x80", false, "U+110000"),
		U("\xf5\x80\x80\x80", false, "F5 lead byte"),
		U("\xff", false, "FF"),
		U("\x80", false, "lone continuation byte"),
		U("ab\xc3", false, "truncated 2-byte at the end"),
		U("\xe2\x82", false, "truncated 3-byte"),
		U("\xf0\x9f\x98", false, "truncated 4-byte"),
		U("\xe2\x82x", false, "3-byte interrupted by ASCII"),
		U("\xc3\xa9\xa9", false, "extra continuation byte"),
		U("a\0b", false, "NUL byte"),
	};
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		cr_expect_eq(mhash_utf8_valid(cases[k].s, cases[k].len), cases[k].valid, "%s", cases[k].what);
}

Test(mhash, utf8_checks_only_len_bytes)
{
	const char *s = "caf\xc3\xa9";

	cr_expect(mhash_utf8_valid(s, 3));
	cr_expect_not(mhash_utf8_valid(s, 4), "cut inside the sequence");
	cr_expect(mhash_utf8_valid(s, 5));
}
