/*
 * bench embed: embedding throughput and latency of MEM0_MODELS=local (the
 * mapped word vectors, in-process) against an OpenAI-compatible server (the
 * project's mock over loopback HTTP), through the same models.c seam the
 * daemons use, on one libevent loop: texts/s, and p50/p99 of the time from
 * models_embed() to its callback, per request of B texts with K in flight.
 * Also this process's resident memory before and after mapping the model
 * file and after embedding (the pages the corpus touched), and the CPU one
 * embeddings reply costs to parse (--parse-inputs x --parse-dims, as OpenAI
 * sends them) through llm_parse_embeddings, the code llm.c runs on every
 * reply: base64, base64 with "\/" escapes (valid JSON some servers send)
 * and JSON numbers, with jansson and base64 alone beside them.
 * --only parse skips the rest (no model file, no server).
 */
#include "bench.h"

#include "b64.h"
#include "cfg.h"
#include "lembed.h"
#include "llm_parse.h"
#include "log.h"
#include "models.h"
#include "vec.h"

#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const subjects[] = {"I", "My sister", "My husband", "I really", "My best friend", "I usually"};
static const char *const verbs[] = {"love", "like", "hate", "enjoy", "live in", "work at", "play", "collect"};
static const char *const objects[] = {
        "sci-fi films", "green tea",       "Lisbon",      "jazz music",        "the piano",      "vintage cameras",
        "Porto",        "a small startup", "board games", "mountain hiking",   "spicy food",     "Japanese novels",
        "tennis",       "Berlin",          "a hospital",  "old vinyl records", "dark chocolate", "zyxwvutsrq",
};
static const char *const tails[] = {
        "", " on weekends", " since I was a kid", " with my family", " every morning", " these days"};

static uint64_t rng_state = 42;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

#define PICK(a) a[rng() % (sizeof(a) / sizeof(a[0]))]

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* VmRSS, RssAnon, RssFile of this process, in kB. */
static void rss(long *total, long *anon, long *file)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	*total = *anon = *file = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", total);
		sscanf(line, "RssAnon: %ld", anon);
		sscanf(line, "RssFile: %ld", file);
	}
	fclose(f);
}

struct run {
	struct event_base *base;
	struct models *m;
	const char **texts;
	int ntexts, batch, inflight_max;
	int next, inflight, done_reqs, failed;
	double *lat;
	int nlat;
};

struct req {
	struct run *r;
	double t0;
};

static void issue(struct run *r);

static void embed_done(void *arg, int status, const float *vecs, int n, int dims, const char *errstr)
{
	struct req *q = arg;
	struct run *r = q->r;

	(void)vecs;
	(void)n;
	(void)dims;
	if (status != 0) {
		if (r->failed++ == 0)
			fprintf(stderr, "mwbench embed: request failed: %s\n", errstr ? errstr : "?");
	}
	r->lat[r->nlat++] = now_us() - q->t0;
	r->inflight--;
	r->done_reqs++;
	free(q);
	issue(r);
	if (r->inflight == 0 && r->next >= r->ntexts)
		event_base_loopbreak(r->base);
}

static void issue(struct run *r)
{
	while (r->inflight < r->inflight_max && r->next < r->ntexts) {
		struct req *q = mw_calloc(1, sizeof(*q));
		int n = r->ntexts - r->next < r->batch ? r->ntexts - r->next : r->batch;

		q->r = r;
		q->t0 = now_us();
		r->inflight++;
		if (models_embed(r->m, r->texts + r->next, n, embed_done, q) < 0) {
			fprintf(stderr, "mwbench embed: models_embed refused\n");
			r->inflight--;
			free(q);
			r->next = r->ntexts;
			return;
		}
		r->next += n;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	return n ? v[i] : 0;
}

/* One backend at one batch size; prints a row. */
static int bench_one(const char *name, struct cfg *cfg, const char **texts, int ntexts, int batch, int inflight)
{
	struct run r = {0};
	char err[512];
	double t0, wall;

	r.base = event_base_new();
	r.m = models_new(r.base, cfg, err, sizeof(err));
	if (!r.m) {
		fprintf(stderr, "mwbench embed: %s: %s\n", name, err);
		event_base_free(r.base);
		return -1;
	}
	r.texts = texts;
	r.ntexts = ntexts;
	r.batch = batch;
	r.inflight_max = inflight;
	r.lat = mw_calloc((size_t)ntexts + 1, sizeof(double));
	t0 = now_us();
	issue(&r);
	event_base_dispatch(r.base);
	wall = now_us() - t0;
	qsort(r.lat, (size_t)r.nlat, sizeof(double), cmp_double);
	printf("%-7s %6d %9d %12.0f %11.3f %11.3f %11.3f%s\n", name, batch, r.done_reqs, ntexts / (wall / 1e6),
	       pct(r.lat, r.nlat, 0.50) / 1e3, pct(r.lat, r.nlat, 0.99) / 1e3, r.lat[r.nlat ? r.nlat - 1 : 0] / 1e3,
	       r.failed ? "  (failures!)" : "");
	models_free(r.m);
	event_base_free(r.base);
	free(r.lat);
	return r.failed ? -1 : 0;
}

/* ---- parsing one reply ---- */

enum reply_form { REPLY_BASE64 = 0, REPLY_BASE64_ESCAPED, REPLY_NUMBERS };

/* One "embedding" value: base64 of the float32 bytes ("/" as "\/" if escaped), or numbers. */
static char *put_embedding(char *p, const float *v, int dims, enum reply_form form)
{
	unsigned char *raw;
	char *b, *c;
	int k;

	if (form == REPLY_NUMBERS) {
		*p++ = '[';
		for (k = 0; k < dims; k++)
			p += sprintf(p, "%s%.9g", k ? ", " : "", (double)v[k]);
		*p++ = ']';
		return p;
	}
	raw = mw_malloc(4 * (size_t)dims);
	vec_to_le_blob(v, dims, raw);
	b = b64_encode(raw, 4 * (size_t)dims);
	*p++ = '"';
	for (c = b; *c; c++) {
		if (*c == '/' && form == REPLY_BASE64_ESCAPED)
			*p++ = '\\';
		*p++ = *c;
	}
	*p++ = '"';
	free(b);
	free(raw);
	return p;
}

/* A reply laid out as OpenAI's API sends it (pretty-printed, 2-space indent). */
static char *reply_text(const float *vecs, int n, int dims, enum reply_form form)
{
	char *out = mw_malloc((size_t)n * ((size_t)dims * 24 + 256) + 256), *p = out;
	int i;

	p += sprintf(p, "{\n  \"object\": \"list\",\n  \"data\": [\n");
	for (i = 0; i < n; i++) {
		p += sprintf(p,
		             "    {\n      \"object\": \"embedding\",\n      \"index\": %d,\n      \"embedding\": ", i);
		p = put_embedding(p, vecs + (size_t)i * dims, dims, form);
		p += sprintf(p, "\n    }%s\n", i + 1 < n ? "," : "");
	}
	sprintf(p,
	        "  ],\n  \"model\": \"text-embedding-3-small\",\n  \"usage\": {\n    \"prompt_tokens\": %d,\n"
	        "    \"total_tokens\": %d\n  }\n}\n",
	        8 * n, 8 * n);
	return out;
}

/* Unit vectors with random components, as dense embeddings look. */
static float *random_vectors(int n, int dims)
{
	float *v = mw_malloc(sizeof(float) * (size_t)n * (size_t)dims);
	int i, k;

	for (i = 0; i < n; i++) {
		float *row = v + (size_t)i * dims;
		double norm = 0;

		for (k = 0; k < dims; k++) {
			row[k] = (float)((double)rng() / 4294967296.0 - 0.5);
			norm += (double)row[k] * row[k];
		}
		for (k = 0; k < dims; k++)
			row[k] = (float)(row[k] / sqrt(norm));
	}
	return v;
}

enum parse_step { STEP_PARSE = 0, STEP_JANSSON, STEP_B64 };

/* One timed round of step on body; false if the result is wrong. *lifted: llm_parse read past jansson. */
static bool parse_round(enum parse_step step, const char *body, size_t len, const float *want, int n, int dims,
                        char **b64s, bool *lifted)
{
	char err[512];
	struct llm_embeddings e;
	bool ok = true;
	int i;

	if (step == STEP_JANSSON) {
		json_t *root = json_loadb(body, len, 0, NULL);

		ok = root != NULL;
		json_decref(root);
		return ok;
	}
	if (step == STEP_B64) {
		for (i = 0; i < n; i++) {
			size_t blen;
			unsigned char *raw = b64_decode(b64s[i], strlen(b64s[i]), &blen);

			ok = ok && raw && blen == 4 * (size_t)dims;
			free(raw);
		}
		return ok;
	}
	if (llm_parse_embeddings(body, len, n, dims, &e, err, sizeof(err)) != LLM_PARSE_OK) {
		fprintf(stderr, "mwbench embed: parse: %s\n", err);
		return false;
	}
	*lifted = e.lifted;
	/* numbers went through %.9g: equal to the float, not only close */
	ok = e.dims == dims && memcmp(e.vecs, want, sizeof(float) * (size_t)n * (size_t)dims) == 0;
	free(e.vecs);
	return ok;
}

/* Median and p90 microseconds of rounds runs of step; prints a row. */
static int parse_case(const char *name, enum parse_step step, const char *body, const float *want, int n, int dims,
                      char **b64s, int rounds)
{
	double *t = mw_calloc((size_t)rounds, sizeof(double));
	size_t len = strlen(body);
	int r, warm = rounds / 10 + 1;
	bool ok = true, lifted = false;

	for (r = -warm; r < rounds; r++) {
		double t0 = now_us();

		ok = parse_round(step, body, len, want, n, dims, b64s, &lifted) && ok;
		if (r >= 0)
			t[r] = now_us() - t0;
	}
	qsort(t, (size_t)rounds, sizeof(double), cmp_double);
	printf("%-26s %10zu %10.1f %10.1f %10.0f %6s%s\n", name, len, pct(t, rounds, 0.50), pct(t, rounds, 0.90),
	       (double)len / pct(t, rounds, 0.50),
	       step != STEP_PARSE ? ""
	       : lifted           ? "lifted"
	                          : "whole",
	       ok ? "" : "  (wrong result!)");
	free(t);
	return ok ? 0 : -1;
}

static int bench_parse(int n, int dims, int rounds)
{
	float *vecs = random_vectors(n, dims);
	char *b64 = reply_text(vecs, n, dims, REPLY_BASE64);
	char *esc = reply_text(vecs, n, dims, REPLY_BASE64_ESCAPED);
	char *num = reply_text(vecs, n, dims, REPLY_NUMBERS);
	char **b64s = mw_calloc((size_t)n, sizeof(char *));
	unsigned char *raw = mw_malloc(4 * (size_t)dims);
	int i, rc = 0;

	for (i = 0; i < n; i++) {
		vec_to_le_blob(vecs + (size_t)i * dims, dims, raw);
		b64s[i] = b64_encode(raw, 4 * (size_t)dims);
	}
	printf("== parsing one embeddings reply: %d inputs x %d dims, %d rounds; microseconds per reply\n", n, dims,
	       rounds);
	/* read: llm_parse took the base64 from jlift's lifted values, or from jansson's tree of the whole body */
	printf("%-26s %10s %10s %10s %10s %6s\n", "case", "bytes", "p50 us", "p90 us", "MB/s", "read");
	rc |= parse_case("llm_parse base64", STEP_PARSE, b64, vecs, n, dims, b64s, rounds);
	rc |= parse_case("llm_parse base64 \\/", STEP_PARSE, esc, vecs, n, dims, b64s, rounds);
	rc |= parse_case("llm_parse numbers", STEP_PARSE, num, vecs, n, dims, b64s, rounds);
	rc |= parse_case("  json_loadb base64 reply", STEP_JANSSON, b64, vecs, n, dims, b64s, rounds);
	rc |= parse_case("  b64_decode x inputs", STEP_B64, b64, vecs, n, dims, b64s, rounds);
	for (i = 0; i < n; i++)
		free(b64s[i]);
	free(b64s);
	free(raw);
	free(num);
	free(esc);
	free(b64);
	free(vecs);
	return rc;
}

int bench_embed(int argc, char **argv)
{
	struct cfg cfg;
	int ntexts = 20000, inflight = 4, i, rc = 0, nb = 0, batches[8];
	int parse_inputs = 32, parse_dims = 1536, parse_rounds = 1000;
	const char *mock_url = NULL, *model = NULL, *batch_list = "1,16,256", *only = NULL;
	char **corpus, *list, *tok;
	long r0, a0, f0, r1, a1, f1;

	for (i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "mwbench embed: %s needs a value\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--texts") == 0)
			ntexts = atoi(v);
		else if (strcmp(argv[i], "--batch") == 0)
			batch_list = v;
		else if (strcmp(argv[i], "--inflight") == 0)
			inflight = atoi(v);
		else if (strcmp(argv[i], "--mock-url") == 0)
			mock_url = v;
		else if (strcmp(argv[i], "--model") == 0)
			model = v;
		else if (strcmp(argv[i], "--parse-inputs") == 0)
			parse_inputs = atoi(v);
		else if (strcmp(argv[i], "--parse-dims") == 0)
			parse_dims = atoi(v);
		else if (strcmp(argv[i], "--parse-rounds") == 0)
			parse_rounds = atoi(v);
		else if (strcmp(argv[i], "--only") == 0 && strcmp(v, "parse") == 0)
			only = v;
		else {
			fprintf(stderr, "usage: mwbench embed [--texts N] [--batch 1,16,256] [--inflight K] "
			                "[--model FILE] [--mock-url http://127.0.0.1:PORT/v1]\n"
			                "       [--parse-inputs 32] [--parse-dims 1536] [--parse-rounds 1000] "
			                "[--only parse]\n");
			return 2;
		}
		i++;
	}
	if (ntexts < 1 || inflight < 1 || parse_inputs < 1 || parse_dims < 1 || parse_dims > 65536 || parse_rounds < 1)
		return 2;
	if (only)
		return bench_parse(parse_inputs, parse_dims, parse_rounds) < 0 ? 1 : 0;
	list = mw_strdup(batch_list);
	for (tok = strtok(list, ","); tok && nb < 8; tok = strtok(NULL, ","))
		if (atoi(tok) > 0)
			batches[nb++] = atoi(tok);
	free(list);

	corpus = mw_calloc((size_t)ntexts, sizeof(char *));
	for (i = 0; i < ntexts; i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s %s %s%s.", PICK(subjects), PICK(verbs), PICK(objects), PICK(tails));
		corpus[i] = mw_strdup(buf);
	}
	log_setup(LOG_WARN, LOG_TEXT, "mwbench");
	if (cfg_load(&cfg, &(int){0}, NULL, NULL, stderr) < 0)
		return 2;

	printf("== embeddings: %d texts, %d requests in flight, 100-d; latency = models_embed() to its callback\n",
	       ntexts, inflight);
	printf("%-7s %6s %9s %12s %11s %11s %11s\n", "models", "batch", "requests", "texts/s", "p50 ms", "p99 ms",
	       "max ms");
	rss(&r0, &a0, &f0);
	cfg.models = CFG_MODELS_LOCAL;
	cfg.embedding_dims = CFG_LOCAL_EMBEDDING_DIMS;
	if (model) {
		free(cfg.local_model_path);
		cfg.local_model_path = mw_strdup(model);
	}
	{
		/* the mapping alone, before any lookup */
		char err[512];
		struct lembed *e = lembed_open(cfg.local_model_path, err, sizeof(err));

		if (!e) {
			fprintf(stderr, "mwbench embed: %s\n", err);
			return 1;
		}
		rss(&r1, &a1, &f1);
		lembed_close(e);
	}
	for (i = 0; i < nb; i++)
		if (bench_one("local", &cfg, (const char **)corpus, ntexts, batches[i], inflight) < 0)
			rc = 1;
	if (mock_url) {
		cfg.models = CFG_MODELS_OPENAI;
		free(cfg.openai_base_url);
		cfg.openai_base_url = mw_strdup(mock_url);
		free(cfg.openai_api_key);
		cfg.openai_api_key = mw_strdup("bench");
		cfg.llm_max_inflight = inflight;
		for (i = 0; i < nb; i++)
			if (bench_one("mock", &cfg, (const char **)corpus, ntexts, batches[i], inflight) < 0)
				rc = 1;
	}
	{
		long r2, a2, f2;
		struct lembed *e;
		char err[512];
		float v[CFG_LOCAL_EMBEDDING_DIMS];

		e = lembed_open(cfg.local_model_path, err, sizeof(err));
		if (e) {
			for (i = 0; i < ntexts; i++)
				lembed_text(e, corpus[i], v);
			rss(&r2, &a2, &f2);
			printf("== resident memory (this process): %.1f MB before; model mapped (%.1f MB file): +%.1f "
			       "MB; "
			       "after embedding the corpus: %.1f MB (file-backed %.1f MB, anonymous %.1f MB)\n",
			       r0 / 1024.0, (double)lembed_mapped_size(e) / 1e6, (r1 - r0) / 1024.0, r2 / 1024.0,
			       f2 / 1024.0, a2 / 1024.0);
			lembed_close(e);
		}
	}
	if (bench_parse(parse_inputs, parse_dims, parse_rounds) < 0)
		rc = 1;
	for (i = 0; i < ntexts; i++)
		free(corpus[i]);
	free(corpus);
	cfg_free(&cfg);
	return rc;
}
