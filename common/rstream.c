/*
 * rstream: see rstream.h. The trim script compares ids as decimal strings
 * (length first, then bytes): Lua numbers are doubles and a sequence number
 * may exceed 2^53.
 */
#include "rstream.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_u64(const char *s, size_t len, unsigned long long *out)
{
	char buf[32], *end;

	if (len == 0 || len >= sizeof(buf) || !isdigit((unsigned char)s[0]))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno || *end ? -1 : 0;
}

int rstream_id_parse(const char *s, struct rstream_id *out)
{
	const char *dash = strchr(s, '-');

	if (!dash) {
		out->seq = 0;
		return parse_u64(s, strlen(s), &out->ms);
	}
	if (parse_u64(s, (size_t)(dash - s), &out->ms) < 0)
		return -1;
	return parse_u64(dash + 1, strlen(dash + 1), &out->seq);
}

int rstream_id_cmp(const struct rstream_id *a, const struct rstream_id *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

struct rstream_id rstream_id_next(struct rstream_id id)
{
	if (id.seq == ~0ULL) {
		id.ms++;
		id.seq = 0;
	} else {
		id.seq++;
	}
	return id;
}

char *rstream_id_format(struct rstream_id id, char *buf, size_t len)
{
	snprintf(buf, len, "%llu-%llu", id.ms, id.seq);
	return buf;
}

long long rstream_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *rstream_format_time(long long ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, len, "?");
		return buf;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

static int digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3339 date-time, or a bare date (UTC midnight). */
static int parse_rfc3339(const char *s, long long *ms_out)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, off = 0;
	const char *p = s;
	time_t t;

	if (strlen(s) < 10 || digits(p, 4, &y) < 0 || p[4] != '-' || digits(p + 5, 2, &mo) < 0 || p[7] != '-' ||
	    digits(p + 8, 2, &d) < 0)
		return -1;
	p += 10;
	if (*p) {
		if ((*p != 'T' && *p != 't' && *p != ' ') || strlen(p) < 9 || digits(p + 1, 2, &h) < 0 || p[3] != ':' ||
		    digits(p + 4, 2, &mi) < 0 || p[6] != ':' || digits(p + 7, 2, &sec) < 0)
			return -1;
		p += 9;
		if (*p == '.') {
			int scale = 100;

			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			for (; isdigit((unsigned char)*p); p++, scale /= 10)
				frac_ms += (*p - '0') * scale;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;

			if (strlen(p) != 6 || digits(p + 1, 2, &oh) < 0 || p[3] != ':' || digits(p + 4, 2, &om) < 0 ||
			    oh > 23 || om > 59)
				return -1;
			off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
			p += 6;
		} else {
			return -1;	/* RFC 3339 requires the offset */
		}
		if (*p)
			return -1;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*ms_out = ((long long)t - off) * 1000 + frac_ms;
	return 0;
}

int rstream_parse_time(const char *s, long long now_ms, long long *ms_out, char *err, size_t errlen)
{
	size_t n = strlen(s), i;
	unsigned long long v;
	long long unit = 0;

	if (n == 0)
		goto bad;
	for (i = 0; i < n && isdigit((unsigned char)s[i]); i++)
		;
	if (i == n) {	/* epoch milliseconds */
		if (parse_u64(s, n, &v) < 0 || v > (unsigned long long)now_ms * 2)
			goto bad;
		*ms_out = (long long)v;
		return 0;
	}
	if (i > 0 && i == n - 1) {
		switch (s[n - 1]) {
		case 's': unit = 1000LL; break;
		case 'm': unit = 60000LL; break;
		case 'h': unit = 3600000LL; break;
		case 'd': unit = 86400000LL; break;
		case 'w': unit = 7 * 86400000LL; break;
		default: goto bad;
		}
		if (parse_u64(s, i, &v) < 0 || v > 100000ULL * 365)
			goto bad;
		*ms_out = now_ms - (long long)v * unit;
		if (*ms_out < 0)
			*ms_out = 0;
		return 0;
	}
	if (parse_rfc3339(s, ms_out) == 0)
		return 0;
bad:
	snprintf(err, errlen, "'%s' is not a time: use RFC 3339 (2024-05-01T12:00:00Z), a date, or an age like 90s, "
			      "15m, 2h, 7d, 2w", s);
	return -1;
}

const char rstream_trim_script[] =
	"-- memworker safe trim (common/rstream.h)\n"
	"local key, keep, mode, nogroups = KEYS[1], tonumber(ARGV[1]), ARGV[2], ARGV[3] == '1'\n"
	"local function lt(a, b)\n"
	"  if #a ~= #b then return #a < #b end\n"
	"  return a < b\n"
	"end\n"
	"local function idlt(a, b)\n"
	"  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"
	"  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"
	"  if am ~= bm then return lt(am, bm) end\n"
	"  return lt(as, bs)\n"
	"end\n"
	"local function inc(d)\n"
	"  local res, carry = '', 1\n"
	"  for i = #d, 1, -1 do\n"
	"    local c = string.byte(d, i) - 48 + carry\n"
	"    if c == 10 then res, carry = '0' .. res, 1 else res, carry = string.char(c + 48) .. res, 0 end\n"
	"  end\n"
	"  if carry == 1 then res = '1' .. res end\n"
	"  return res\n"
	"end\n"
	"local function nextid(id)\n"
	"  local ms, seq = string.match(id, '^(%d+)-(%d+)$')\n"
	"  if seq == '18446744073709551615' then return inc(ms) .. '-0' end\n"
	"  return ms .. '-' .. inc(seq)\n"
	"end\n"
	"if redis.call('EXISTS', key) == 0 then return {0, '', 'no such stream'} end\n"
	"local t = redis.call('TIME')\n"
	"local cut = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - keep\n"
	"if cut < 0 then cut = 0 end\n"
	"local minid, why = string.format('%.0f', cut) .. '-0', 'age'\n"
	"local groups = redis.call('XINFO', 'GROUPS', key)\n"
	"if #groups == 0 and not nogroups then\n"
	"  return {0, '', 'no consumer group reads this stream: nothing is known to be delivered'}\n"
	"end\n"
	"for _, g in ipairs(groups) do\n"
	"  local f = {}\n"
	"  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
	"  local bound, reason\n"
	"  local p = redis.call('XPENDING', key, f['name'])\n"
	"  if p[1] > 0 then\n"
	"    bound, reason = p[2], 'oldest entry pending in group ' .. f['name']\n"
	"  else\n"
	"    bound, reason = nextid(f['last-delivered-id']), 'entries not yet delivered to group ' .. f['name']\n"
	"  end\n"
	"  if idlt(bound, minid) then minid, why = bound, reason end\n"
	"end\n"
	"if mode == 'dry' then return {-1, minid, why} end\n"
	"local n\n"
	"if mode == 'approx' then n = redis.call('XTRIM', key, 'MINID', '~', minid)\n"
	"else n = redis.call('XTRIM', key, 'MINID', minid) end\n"
	"return {n, minid, why}\n";

int rstream_trim_parse(const redisReply *r, struct rstream_trim *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (!r) {
		snprintf(err, errlen, "no reply");
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "%s", r->str);
		return -1;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING) {
		snprintf(err, errlen, "unexpected reply from the trim script");
		return -1;
	}
	out->deleted = r->element[0]->integer;
	snprintf(out->minid, sizeof(out->minid), "%s", r->element[1]->str);
	snprintf(out->why, sizeof(out->why), "%s", r->element[2]->str);
	return 0;
}
