/*
 * opsenv: see opsenv.h.
 */
#include "opsenv.h"

#include "testenv.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

int oenv_memctl(struct wenv *w, const char *const *extra_env, char **out, char **err, ...)
{
	char bin[512], e[8][192];
	char *argv[32], *env[32];
	int argc = 0, n = 0, i;
	va_list ap;
	const char *a;

	argv[argc++] = (char *)tenv_bin("memctl", bin, sizeof(bin));
	va_start(ap, err);
	while ((a = va_arg(ap, const char *)) && argc < 31)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_HOST=127.0.0.1");
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_PORT=%d", tenv_pg_port());
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_USER=postgres");
	snprintf(e[n++], sizeof(e[0]), "POSTGRES_DB=%s", w->db);
	snprintf(e[n++], sizeof(e[0]), "REDIS_URL=redis://127.0.0.1:%d", tenv_redis_port());
	snprintf(e[n++], sizeof(e[0]), "MEM0_STREAM=%s", w->stream);
	/* the workers' models: MEM0_MODELS=local would refuse any dimension but 100 */
	snprintf(e[n++], sizeof(e[0]), "MEM0_MODELS=openai");
	snprintf(e[n++], sizeof(e[0]), "MEM0_EMBEDDING_DIMS=%d", WENV_DIMS);
	for (i = 0; i < n; i++)
		env[i] = e[i];
	for (i = 0; extra_env && extra_env[i] && n < 31; i++)
		env[n++] = (char *)extra_env[i];
	env[n] = NULL;
	return tenv_run(argv, env, out, err);
}

struct body {
	char *s;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	b->s = realloc(b->s, b->len + n + 1);
	cr_assert(b->s);
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
	return n;
}

long oenv_http_get(int port, const char *path, char **body)
{
	CURL *c = curl_easy_init();
	struct body b = { .s = strdup("") };
	char url[256];
	long status = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (body)
		*body = b.s;
	else
		free(b.s);
	return status;
}

int oenv_metrics_port(const char *log_path, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;

	do {
		char *log = tenv_slurp(log_path), *p = log ? strstr(log, "/readyz on port ") : NULL;
		int port = p ? atoi(p + strlen("/readyz on port ")) : 0;

		free(log);
		if (port > 0)
			return port;
		usleep(20000);
	} while (tenv_now_ms() < until);
	cr_assert_fail("no metrics port in %s", log_path);
	return 0;
}

/* ---- Prometheus text format ---- */

struct fam {
	char name[128];
	char type[16];
	bool help, typed, closed;
};

static bool name_char(int c, bool first, bool colon)
{
	return isalpha(c) || c == '_' || (colon && c == ':') || (!first && isdigit(c));
}

static int find_fam(struct fam *f, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return i;
	return -1;
}

/* The family a sample name belongs to (histogram suffixes stripped when the family is one). */
static int sample_family(struct fam *f, int n, const char *sample, const char **suffix)
{
	static const char *const sfx[] = { "_bucket", "_sum", "_count" };
	size_t len = strlen(sample), k;
	int i = find_fam(f, n, sample);

	*suffix = "";
	if (i >= 0 && strcmp(f[i].type, "histogram") != 0)
		return i;
	for (k = 0; k < 3; k++) {
		size_t sl = strlen(sfx[k]);
		char base[128];

		if (len > sl && strcmp(sample + len - sl, sfx[k]) == 0 && len - sl < sizeof(base)) {
			memcpy(base, sample, len - sl);
			base[len - sl] = '\0';
			i = find_fam(f, n, base);
			if (i >= 0 && strcmp(f[i].type, "histogram") == 0) {
				*suffix = sfx[k];
				return i;
			}
		}
	}
	return -1;
}

static bool parse_value(const char *s, double *v)
{
	char *end;

	if (strcmp(s, "NaN") == 0) {
		*v = NAN;
		return true;
	}
	if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0) {
		*v = s[0] == '+' ? INFINITY : -INFINITY;
		return true;
	}
	*v = strtod(s, &end);
	return end != s && *end == '\0';
}

json_t *prom_parse(const char *text, char *err, size_t errlen)
{
	struct fam fams[256];
	int nf = 0, cur = -1, lineno = 0;
	json_t *out = json_object();
	const char *p = text;
	/* histogram checks: the current series' last cumulative bucket */
	char hist_series[1200] = "";
	double hist_last = -1, hist_inf = -1;

#define FAIL(...)                                                      \
	do {                                                           \
		int off_ = snprintf(err, errlen, "line %d: ", lineno); \
		snprintf(err + off_, errlen - (size_t)off_, __VA_ARGS__); \
		json_decref(out);                                      \
		return NULL;                                           \
	} while (0)

	while (*p) {
		const char *eol = strchr(p, '\n');
		char line[2048];
		size_t len;

		lineno++;
		if (!eol)
			FAIL("no newline at the end of the text");
		len = (size_t)(eol - p);
		if (len >= sizeof(line))
			FAIL("line too long");
		memcpy(line, p, len);
		line[len] = '\0';
		p = eol + 1;
		if (len == 0)
			continue;
		if (line[0] == '#') {
			char kw[8], name[128], rest[1024] = "";
			int i;

			if (sscanf(line, "# %7s %127s %1023[^\n]", kw, name, rest) < 2 ||
			    (strcmp(kw, "HELP") != 0 && strcmp(kw, "TYPE") != 0))
				continue;	/* a plain comment */
			for (i = 0; name[i]; i++)
				if (!name_char((unsigned char)name[i], i == 0, true))
					FAIL("bad metric name '%s'", name);
			i = find_fam(fams, nf, name);
			if (i < 0) {
				if (nf == 256)
					FAIL("too many families");
				i = nf++;
				memset(&fams[i], 0, sizeof(fams[i]));
				snprintf(fams[i].name, sizeof(fams[i].name), "%s", name);
			}
			if (fams[i].closed)
				FAIL("%s %s after its samples", kw, name);
			if (strcmp(kw, "HELP") == 0) {
				if (fams[i].help)
					FAIL("second HELP for %s", name);
				fams[i].help = true;
			} else {
				if (fams[i].typed)
					FAIL("second TYPE for %s", name);
				if (strcmp(rest, "counter") && strcmp(rest, "gauge") && strcmp(rest, "histogram") &&
				    strcmp(rest, "summary") && strcmp(rest, "untyped"))
					FAIL("unknown type '%s'", rest);
				fams[i].typed = true;
				snprintf(fams[i].type, sizeof(fams[i].type), "%.15s", rest);
			}
			if (cur >= 0 && cur != i)
				fams[cur].closed = true;
			cur = i;
			continue;
		}
		{
			char name[128], series[1024], valbuf[64], le[64] = "", labels_wo_le[900] = "";
			size_t i = 0, n = 0, ll = 0;
			const char *suffix;
			double v;
			int f;

			while (i < len && name_char((unsigned char)line[i], i == 0, true) && n + 1 < sizeof(name))
				name[n++] = line[i++];
			name[n] = '\0';
			if (n == 0)
				FAIL("a sample must start with a metric name: %s", line);
			snprintf(series, sizeof(series), "%s", name);
			if (line[i] == '{') {
				i++;
				for (;;) {
					char lname[64];
					size_t ln = 0, vstart;

					if (line[i] == '}')
						break;
					while (i < len && name_char((unsigned char)line[i], ln == 0, false) &&
					       ln + 1 < sizeof(lname))
						lname[ln++] = line[i++];
					lname[ln] = '\0';
					if (ln == 0 || line[i] != '=' || line[i + 1] != '"')
						FAIL("bad label in: %s", line);
					i += 2;
					vstart = i;
					while (i < len && line[i] != '"') {
						if (line[i] == '\\') {
							if (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n')
								FAIL("bad escape in: %s", line);
							i++;
						}
						i++;
					}
					if (i >= len)
						FAIL("unterminated label value in: %s", line);
					if (strcmp(lname, "le") == 0) {
						snprintf(le, sizeof(le), "%.*s", (int)(i - vstart), line + vstart);
					} else {
						ll += (size_t)snprintf(labels_wo_le + ll, sizeof(labels_wo_le) - ll, "%s%s=\"%.*s\"",
								       ll ? "," : "", lname, (int)(i - vstart), line + vstart);
					}
					i++;	/* closing quote */
					if (line[i] == ',')
						i++;
					else if (line[i] != '}')
						FAIL("expected , or } in: %s", line);
				}
				snprintf(series, sizeof(series), "%.*s", (int)(i + 1), line);
				i++;
			}
			if (line[i] != ' ')
				FAIL("expected a space before the value: %s", line);
			i++;
			if (sscanf(line + i, "%63s", valbuf) != 1 || !parse_value(valbuf, &v))
				FAIL("bad value in: %s", line);
			f = sample_family(fams, nf, name, &suffix);
			if (f < 0 || !fams[f].typed)
				FAIL("sample %s has no TYPE before it", name);
			if (fams[f].closed || f != cur)
				FAIL("samples of %s are not together", fams[f].name);
			if (strcmp(fams[f].type, "histogram") == 0) {
				char key[1200];

				snprintf(key, sizeof(key), "%s{%s}", fams[f].name, labels_wo_le);
				if (strcmp(suffix, "_bucket") == 0) {
					if (!le[0])
						FAIL("bucket without le: %s", line);
					if (strcmp(key, hist_series) != 0) {
						snprintf(hist_series, sizeof(hist_series), "%s", key);
						hist_last = -1;
						hist_inf = -1;
					}
					if (v < hist_last)
						FAIL("buckets not cumulative: %s", line);
					hist_last = v;
					if (strcmp(le, "+Inf") == 0)
						hist_inf = v;
				} else if (strcmp(suffix, "_count") == 0) {
					if (strcmp(key, hist_series) != 0 || hist_inf < 0)
						FAIL("_count without a +Inf bucket before it: %s", line);
					if (v != hist_inf)
						FAIL("_count %g differs from the +Inf bucket %g", v, hist_inf);
				}
			} else if (le[0]) {
				FAIL("le label outside a histogram: %s", line);
			}
			if (json_object_get(out, series))
				FAIL("duplicate sample %s", series);
			json_object_set_new(out, series, json_real(v));
		}
	}
	return out;
#undef FAIL
}

double prom_get(json_t *samples, const char *series)
{
	json_t *v = json_object_get(samples, series);

	return v ? json_real_value(v) : NAN;
}

/* ---- a private PostgreSQL ---- */

int oenv_sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

#define AS_PG "$( [ \"$(id -u)\" -eq 0 ] && echo 'runuser -u postgres --' )"

void privpg_init(struct privpg *p)
{
	const char *tmp = getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp";
	const char *bin = getenv("MW_TEST_PG_BIN") ? getenv("MW_TEST_PG_BIN") : "/usr/lib/postgresql/15/bin";
	char name[64];

	tenv_unique("pg", name, sizeof(name));
	snprintf(p->dir, sizeof(p->dir), "%s/%s", tmp, name);
	cr_assert_eq(oenv_sh("mkdir -p %s/sock && { [ \"$(id -u)\" -ne 0 ] || chown -R postgres:postgres %s; } && "
			     "%s %s/initdb -D %s/pg -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 "
			     ">%s/initdb.log 2>&1",
			     p->dir, p->dir, AS_PG, bin, p->dir, p->dir),
		     0, "initdb failed: see %s/initdb.log", p->dir);
	p->port = free_port();
	privpg_start(p);
}

void privpg_start(struct privpg *p)
{
	const char *bin = getenv("MW_TEST_PG_BIN") ? getenv("MW_TEST_PG_BIN") : "/usr/lib/postgresql/15/bin";

	cr_assert_eq(oenv_sh("%s %s/pg_ctl -D %s/pg -l %s/pg.log -w -t 60 -o \"-p %d -k %s/sock "
			     "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50\" start >/dev/null",
			     AS_PG, bin, p->dir, p->dir, p->port, p->dir),
		     0, "private PostgreSQL did not start: see %s/pg.log", p->dir);
}

void privpg_stop(struct privpg *p)
{
	const char *bin = getenv("MW_TEST_PG_BIN") ? getenv("MW_TEST_PG_BIN") : "/usr/lib/postgresql/15/bin";

	oenv_sh("%s %s/pg_ctl -D %s/pg -m fast -w stop >/dev/null 2>&1", AS_PG, bin, p->dir);
}

void privpg_destroy(struct privpg *p)
{
	if (!p->dir[0])
		return;
	privpg_stop(p);
	oenv_sh("rm -rf %s", p->dir);
	p->dir[0] = '\0';
}
