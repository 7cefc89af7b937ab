/*
 * ts: the SQLite store's timestamp text: fixed width, microseconds, UTC;
 * RFC 3339 in any zone reads back to the same instant; nonsense refused.
 */
#include "ts.h"

#include <criterion/criterion.h>
#include <string.h>

static void canon(const char *in, const char *want)
{
	char out[TS_LEN + 1];

	cr_assert_eq(ts_canonical(in, out), 0, "'%s' did not parse", in);
	cr_expect_str_eq(out, want, "'%s'", in);
}

Test(ts, format_epoch_and_fixed_width)
{
	char out[TS_LEN + 1];

	ts_format(0, out);
	cr_expect_str_eq(out, "1970-01-01T00:00:00.000000Z");
	ts_format(1751405731955000LL, out);
	cr_expect_str_eq(out, "2025-07-01T21:35:31.955000Z");
	ts_format(-1, out);
	cr_expect_str_eq(out, "1969-12-31T23:59:59.999999Z");
	cr_expect_eq(strlen(out), TS_LEN);
}

Test(ts, parse_mem0_and_postgres_forms)
{
	canon("2025-07-01T21:35:31.955Z", "2025-07-01T21:35:31.955000Z");
	canon("2025-07-01T21:35:31Z", "2025-07-01T21:35:31.000000Z");
	canon("2025-07-01 21:35:31.123456+00:00", "2025-07-01T21:35:31.123456Z");
	canon("2025-07-01t21:35:31.1z", "2025-07-01T21:35:31.100000Z");
	/* nanoseconds: truncated to microseconds */
	canon("2025-07-01T21:35:31.123456789Z", "2025-07-01T21:35:31.123456Z");
}

Test(ts, zones_are_applied)
{
	canon("2025-07-02T01:35:31.955+04:00", "2025-07-01T21:35:31.955000Z");
	canon("2025-06-30T23:05:00-01:30", "2025-07-01T00:35:00.000000Z");
	canon("2024-02-29T23:30:00-01:00", "2024-03-01T00:30:00.000000Z");
}

Test(ts, round_trip)
{
	long long samples[] = {0, 1, 951782400000000LL, 1751405731955123LL, -86400000000LL, 4102444800000000LL};
	size_t i;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char out[TS_LEN + 1];
		int64_t back;

		ts_format(samples[i], out);
		cr_assert_eq(ts_parse(out, &back), 0, "%s", out);
		cr_expect_eq(back, samples[i], "%s", out);
	}
}

Test(ts, text_order_is_time_order)
{
	char a[TS_LEN + 1], b[TS_LEN + 1];

	ts_format(1751405731955000LL, a);
	ts_format(1751405731955001LL, b);
	cr_expect(strcmp(a, b) < 0);
	ts_format(999999LL, a);
	ts_format(1000000LL, b);
	cr_expect(strcmp(a, b) < 0);
}

Test(ts, refuses_what_is_not_rfc3339)
{
	const char *bad[] = {
	        "",
	        "2025-07-01",
	        "2025-07-01T21:35:31",
	        "2025-13-01T00:00:00Z",
	        "2025-02-29T00:00:00Z",
	        "2025-07-01T24:00:00Z",
	        "2025-07-01T21:60:00Z",
	        "2025-07-01T21:35:31.Z",
	        "2025-07-01T21:35:31Zjunk",
	        "2025-07-01T21:35:31+0100",
	        "1751405731955",
	        "2025-07-01X21:35:31Z",
	        "0000-01-01T00:00:00Z",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t us;

		cr_expect_eq(ts_parse(bad[i], &us), -1, "'%s' parsed", bad[i]);
	}
	cr_expect_eq(ts_parse(NULL, &(int64_t){0}), -1);
}
