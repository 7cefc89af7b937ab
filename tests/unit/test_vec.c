/*
 * vec: pgvector's binary layout byte for byte, round trips, what must be
 * refused before it reaches PostgreSQL, the text form, cosine similarity
 * and the little-endian BLOBs of SQLite stores.
 */
#include "vec.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

Test(vec, pg_binary_layout_is_big_endian_byte_for_byte)
{
	const float v[] = {1.0f, -2.5f};
	const unsigned char want[] = {0x00, 0x02, 0x00, 0x00, 0x3f, 0x80, 0x00, 0x00, 0xc0, 0x20, 0x00, 0x00};
	unsigned char out[32];

	cr_assert_eq(vec_pg_size(2), 12);
	cr_assert_eq(vec_encode_pg(v, 2, out, sizeof(out)), 12);
	cr_expect_arr_eq(out, want, sizeof(want));
}

Test(vec, pg_binary_header_holds_large_dims)
{
	float *v = calloc(1536, sizeof(float));
	unsigned char *out = malloc(vec_pg_size(1536));

	v[0] = 0.5f;
	cr_assert_eq(vec_encode_pg(v, 1536, out, vec_pg_size(1536)), 4 + 4 * 1536);
	cr_expect_eq(out[0], 0x06); /* 1536 = 0x0600 */
	cr_expect_eq(out[1], 0x00);
	free(v);
	free(out);
}

Test(vec, pg_roundtrip)
{
	float v[64], back[64];
	unsigned char buf[4 + 4 * 64];
	int i;

	for (i = 0; i < 64; i++)
		v[i] = (float)sin(i * 0.7) * (i % 3 ? 1e-3f : 42.0f);
	v[5] = -0.0f;
	v[6] = 1.17549435e-38f; /* FLT_MIN */
	v[7] = 3.40282347e38f;  /* FLT_MAX */
	cr_assert_eq(vec_encode_pg(v, 64, buf, sizeof(buf)), (int)sizeof(buf));
	cr_assert_eq(vec_decode_pg(buf, sizeof(buf), back, 64), 0);
	cr_expect_arr_eq(back, v, sizeof(v), "every bit comes back");
}

Test(vec, pg_encode_refuses_nan_inf_bad_dims_short_buffer)
{
	float v[3] = {1, 2, 3};
	unsigned char buf[64];

	v[1] = NAN;
	cr_expect_eq(vec_encode_pg(v, 3, buf, sizeof(buf)), -1, "NaN");
	v[1] = INFINITY;
	cr_expect_eq(vec_encode_pg(v, 3, buf, sizeof(buf)), -1, "+Inf");
	v[1] = -INFINITY;
	cr_expect_eq(vec_encode_pg(v, 3, buf, sizeof(buf)), -1, "-Inf");
	v[1] = 2;
	cr_expect_eq(vec_encode_pg(v, 0, buf, sizeof(buf)), -1, "0 dims");
	cr_expect_eq(vec_encode_pg(v, -1, buf, sizeof(buf)), -1, "negative dims");
	cr_expect_eq(vec_encode_pg(v, VEC_MAX_DIMS + 1, buf, sizeof(buf)), -1, "past pgvector's limit");
	cr_expect_eq(vec_encode_pg(v, 3, buf, 15), -1, "one byte short");
	cr_expect_eq(vec_encode_pg(v, 3, buf, 16), 16, "exactly enough");
}

Test(vec, pg_decode_refuses_wrong_dims_length_header)
{
	const float v[] = {1.0f, -2.5f, 3.0f};
	unsigned char buf[16];
	float out[4];

	cr_assert_eq(vec_encode_pg(v, 3, buf, sizeof(buf)), 16);
	cr_expect_eq(vec_decode_pg(buf, 16, out, 3), 0);
	cr_expect_eq(vec_decode_pg(buf, 16, out, 2), -1, "header says 3, caller 2");
	cr_expect_eq(vec_decode_pg(buf, 12, out, 2), -1, "header says 3, length fits 2");
	cr_expect_eq(vec_decode_pg(buf, 15, out, 3), -1, "short");
	cr_expect_eq(vec_decode_pg(buf, 16, out, 4), -1, "caller wants 4");
	buf[3] = 1;
	cr_expect_eq(vec_decode_pg(buf, 16, out, 3), -1, "unused field must be 0");
	buf[3] = 0;
	/* a NaN bit pattern in component 1 */
	buf[8] = 0x7f;
	buf[9] = 0xc0;
	buf[10] = 0;
	buf[11] = 0;
	cr_expect_eq(vec_decode_pg(buf, 16, out, 3), -1, "NaN");
}

Test(vec, text_form)
{
	const float v[] = {0.1f, -2.5f, 1.0f, 1e-7f, 0.0f};
	char buf[128];
	float back[8];
	int n, i;

	n = vec_text(v, 5, buf, sizeof(buf));
	cr_assert_str_eq(buf, "[0.1,-2.5,1,1e-07,0]");
	cr_expect_eq(n, (int)strlen(buf));
	cr_assert_eq(vec_parse_text(buf, back, 8), 5);
	for (i = 0; i < 5; i++)
		cr_expect_eq(back[i], v[i], "component %d reads back exactly", i);
	cr_expect_eq(vec_text(v, 5, buf, 10), -1, "too short");
	cr_expect_str_eq(buf, "", "empty on failure");
	cr_expect_leq((size_t)n + 1, vec_text_size(5));
}

Test(vec, text_roundtrip_is_exact_for_awkward_floats)
{
	float v[100], back[100];
	char *buf = malloc(vec_text_size(100));
	int i;

	for (i = 0; i < 100; i++)
		v[i] = (float)(exp(i * 0.9 - 45) * (i % 2 ? -1 : 1) / 3.0);
	cr_assert_gt(vec_text(v, 100, buf, vec_text_size(100)), 0);
	cr_assert_eq(vec_parse_text(buf, back, 100), 100);
	cr_expect_arr_eq(back, v, sizeof(v));
	free(buf);
}

Test(vec, parse_text_accepts_spaces_refuses_junk)
{
	float out[4];

	cr_expect_eq(vec_parse_text(" [ 1 , -2.5e-3,3 ] \n", out, 4), 3);
	cr_expect_float_eq(out[1], -2.5e-3f, 1e-9);
	cr_expect_eq(vec_parse_text("[]", out, 4), -1, "empty");
	cr_expect_eq(vec_parse_text("[1,2,3,4,5]", out, 4), -1, "too many");
	cr_expect_eq(vec_parse_text("[1,nan]", out, 4), -1);
	cr_expect_eq(vec_parse_text("[1,inf]", out, 4), -1);
	cr_expect_eq(vec_parse_text("[1,1e39]", out, 4), -1, "overflows float");
	cr_expect_eq(vec_parse_text("[0x10]", out, 4), -1, "hex");
	cr_expect_eq(vec_parse_text("[1,,2]", out, 4), -1);
	cr_expect_eq(vec_parse_text("[1,2", out, 4), -1);
	cr_expect_eq(vec_parse_text("[1,2] x", out, 4), -1);
	cr_expect_eq(vec_parse_text("1,2", out, 4), -1);
	cr_expect_eq(vec_parse_text(NULL, out, 4), -1);
	cr_expect_eq(vec_text((const float[]){NAN}, 1, (char[8]){0}, 8), -1, "NaN has no text form");
}

Test(vec, cosine_similarity)
{
	const float a[] = {1, 2, 3}, b[] = {4, 5, 6}, neg[] = {-1, -2, -3}, zero[] = {0, 0, 0};
	const float x[] = {1, 0}, y[] = {0, 1};

	cr_expect_float_eq(vec_cosine_sim(a, b, 3), 0.9746318461970762, 1e-12);
	cr_expect_float_eq(vec_cosine_sim(a, a, 3), 1.0, 1e-12);
	cr_expect_float_eq(vec_cosine_sim(a, neg, 3), -1.0, 1e-12);
	cr_expect_float_eq(vec_cosine_sim(x, y, 2), 0.0, 1e-12);
	cr_expect_eq(vec_cosine_sim(a, zero, 3), 0.0, "zero vector: 0, not NaN");
	cr_expect_eq(vec_cosine_sim(zero, zero, 3), 0.0);
}

Test(vec, normalize_and_valid)
{
	float v[] = {3, 4}, zero[] = {0, 0}, bad[] = {1, NAN};

	vec_normalize(v, 2);
	cr_expect_float_eq(v[0], 0.6f, 1e-7);
	cr_expect_float_eq(v[1], 0.8f, 1e-7);
	vec_normalize(zero, 2);
	cr_expect_eq(zero[0], 0.0f);
	cr_expect_eq(zero[1], 0.0f);
	cr_expect(vec_valid(v, 2));
	cr_expect_not(vec_valid(zero, 2), "all zero");
	cr_expect_not(vec_valid(bad, 2), "NaN");
	bad[1] = -INFINITY;
	cr_expect_not(vec_valid(bad, 2), "Inf");
	cr_expect_not(vec_valid(v, 0), "no dims");
}

Test(vec, le_blob)
{
	const float v[] = {1.0f, -2.5f};
	const unsigned char want[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0};
	unsigned char blob[8];
	float back[2];

	vec_to_le_blob(v, 2, blob);
	cr_expect_arr_eq(blob, want, sizeof(want));
	vec_from_le_blob(blob, 2, back);
	cr_expect_arr_eq(back, v, sizeof(v));
}
