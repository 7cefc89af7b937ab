/*
 * bench embed: embedding throughput and latency of MEM0_MODELS=local (the
 * mapped word vectors, in-process) against an OpenAI-compatible server (the
 * project's mock over loopback HTTP), through the same models.c seam the
 * daemons use, on one libevent loop: texts/s, and p50/p99 of the time from
 * models_embed() to its callback, per request of B texts with K in flight.
 * Also this process's resident memory before and after mapping the model
 * file and after embedding (the pages the corpus touched).
 */
#include "bench.h"

#include "cfg.h"
#include "lembed.h"
#include "log.h"
#include "models.h"

#include <event2/event.h>
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

int bench_embed(int argc, char **argv)
{
	struct cfg cfg;
	int ntexts = 20000, inflight = 4, i, rc = 0, nb = 0, batches[8];
	const char *mock_url = NULL, *model = NULL, *batch_list = "1,16,256";
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
		else {
			fprintf(stderr, "usage: mwbench embed [--texts N] [--batch 1,16,256] [--inflight K] "
			                "[--model FILE] [--mock-url http://127.0.0.1:PORT/v1]\n");
			return 2;
		}
		i++;
	}
	if (ntexts < 1 || inflight < 1)
		return 2;
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
	for (i = 0; i < ntexts; i++)
		free(corpus[i]);
	free(corpus);
	cfg_free(&cfg);
	return rc;
}
