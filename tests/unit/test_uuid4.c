/*
 * uuid4: version and variant bits, the text form, randomness that differs
 * call to call, and what counts as canonical.
 */
#include "uuid4.h"

#include <criterion/criterion.h>
#include <string.h>

Test(uuid4, from_bytes_sets_version_and_variant)
{
	unsigned char zero[16] = {0}, ones[16];
	char out[UUID4_LEN + 1];

	uuid4_from_bytes(zero, out);
	cr_expect_str_eq(out, "00000000-0000-4000-8000-000000000000");
	memset(ones, 0xff, sizeof(ones));
	uuid4_from_bytes(ones, out);
	cr_expect_str_eq(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

Test(uuid4, from_bytes_is_lower_case_hex_in_order)
{
	const unsigned char b[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	                             0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	char out[UUID4_LEN + 1];

	uuid4_from_bytes(b, out);
	cr_expect_str_eq(out, "01234567-89ab-4def-8123-456789abcdef");
	cr_expect(uuid4_is_canonical(out));
}

Test(uuid4, generate_gives_distinct_v4_ids)
{
	char a[UUID4_LEN + 1], b[UUID4_LEN + 1];
	int i;

	for (i = 0; i < 100; i++) {
		uuid4_generate(a);
		uuid4_generate(b);
		cr_assert_str_neq(a, b);
		cr_assert(uuid4_is_canonical(a), "%s", a);
		cr_assert_eq(a[14], '4', "%s", a);
		cr_assert(strchr("89ab", a[19]) != NULL, "%s", a);
	}
}

Test(uuid4, canonical_form)
{
	cr_expect(uuid4_is_canonical("e2e48559-e42e-44c0-94a0-18e6faa4cc44"));
	cr_expect(uuid4_is_canonical("E2E48559-E42E-44C0-94A0-18E6FAA4CC44"));
	cr_expect(!uuid4_is_canonical(NULL));
	cr_expect(!uuid4_is_canonical(""));
	cr_expect(!uuid4_is_canonical("e2e48559e42e44c094a018e6faa4cc44"));
	cr_expect(!uuid4_is_canonical("e2e48559-e42e-44c0-94a0-18e6faa4cc4"));
	cr_expect(!uuid4_is_canonical("e2e48559-e42e-44c0-94a0-18e6faa4cc44x"));
	cr_expect(!uuid4_is_canonical("g2e48559-e42e-44c0-94a0-18e6faa4cc44"));
	cr_expect(!uuid4_is_canonical("e2e48559_e42e-44c0-94a0-18e6faa4cc44"));
}
