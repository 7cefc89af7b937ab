/*
 * ts: see ts.h. Civil-date arithmetic after Howard Hinnant's
 * days_from_civil / civil_from_days (proleptic Gregorian, no tables, no
 * time zone database, no locale).
 */
#include "ts.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_DAY 86400000000LL
#define MIN_US     (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define MAX_US     (253402300799999999LL) /* 9999-12-31T23:59:59.999999Z */

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

int64_t ts_now_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void ts_format(int64_t us, char out[TS_LEN + 1])
{
	int64_t days, rem;
	int y, mo, d;
	char buf[64];

	if (us < MIN_US)
		us = MIN_US;
	if (us > MAX_US)
		us = MAX_US;
	days = us / US_PER_DAY;
	rem = us % US_PER_DAY;
	if (rem < 0) {
		rem += US_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &mo, &d);
	/*
	 * The clamp above keeps the year to four digits, so the text is always
	 * TS_LEN long; the compiler cannot see that, hence the roomy buffer.
	 */
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, mo, d, (int)(rem / 3600000000LL),
	         (int)(rem / 60000000 % 60), (int)(rem / 1000000 % 60), (int)(rem % 1000000));
	memcpy(out, buf, TS_LEN);
	out[TS_LEN] = '\0';
}

/* n decimal digits at *p into *out; advances *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int ts_parse(const char *s, int64_t *us)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s;
	int y, mo, d, h, mi, sec, frac = 0, scale = 100000, zh = 0, zm = 0, sign = 0;
	int64_t v;

	if (!s || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int n = 0;

		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 6) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
			n++, p++;
		}
		if (n == 0 || n > 9)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &zh) || *p++ != ':' || !digits(&p, 2, &zm) || zh > 23 || zm > 59)
			return -1;
	} else {
		return -1;
	}
	if (*p != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -1;
	if (sec == 60) /* a leap second reads as the next second's start */
		sec = 59, frac = 999999;
	v = days_from_civil(y, mo, d) * US_PER_DAY + ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + frac;
	v -= (int64_t)sign * ((int64_t)zh * 3600 + zm * 60) * 1000000;
	*us = v;
	return 0;
}

int ts_canonical(const char *s, char out[TS_LEN + 1])
{
	int64_t us;

	if (ts_parse(s, &us) < 0)
		return -1;
	ts_format(us, out);
	return 0;
}
