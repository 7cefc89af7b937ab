/*
 * memctl export / memctl import: moves between the stores (xfer.h) and the
 * import of old Mem0 SQLite stores (mem0.h).
 *
 *   memctl export --to SPEC [--dry-run]        the configured store -> SPEC
 *   memctl import --from SPEC [--dry-run]      SPEC -> the configured store
 *   memctl import --mem0-sqlite DIR [--user NAME=ID]... [--user-map FILE]
 *                 [--orphan-user ID | --skip-orphans] [--dry-run]
 *
 * SPEC: sqlite:PATH (a SQLite store file; export creates it), postgres
 * (the configured PostgreSQL: DATABASE_URL or POSTGRES_*), or a
 * postgres:// or postgresql:// URL. The configured store is what the
 * daemons would use: MEM0_PROVIDER=pgvector PostgreSQL, memory the file
 * MEM0_SQLITE_PATH, auto whichever the daemons pick. Everything goes in one
 * transaction; a second run changes nothing.
 */
#include "ctl.h"

#include "cfg.h"
#include "log.h"
#include "mem0.h"
#include "mem0map.h"
#include "store_open.h"
#include "xfer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum spec_kind { SPEC_SQLITE, SPEC_PG };

struct spec {
	enum spec_kind kind;
	char *target;    /* path, or conninfo */
	bool configured; /* the configured store itself */
	char *scratch;   /* a dry run's stand-in for a SQLite file that does not exist */
};

static void spec_clear(struct spec *s)
{
	if (s->scratch) {
		char side[PATH_MAX + 8];

		unlink(s->scratch);
		snprintf(side, sizeof(side), "%s-wal", s->scratch);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", s->scratch);
		unlink(side);
		free(s->scratch);
		s->scratch = NULL;
	}
	free(s->target);
	s->target = NULL;
}

static int parse_spec(const struct cfg *cfg, const char *text, struct spec *out)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(text, "sqlite:", 7) == 0 && text[7]) {
		out->kind = SPEC_SQLITE;
		out->target = mw_strdup(text + 7);
		return 0;
	}
	if (strcmp(text, "postgres") == 0 || strcmp(text, "pgvector") == 0) {
		out->kind = SPEC_PG;
		out->target = cfg_pg_conninfo(cfg, false);
		return 0;
	}
	if (strncmp(text, "postgres://", 11) == 0 || strncmp(text, "postgresql://", 13) == 0) {
		out->kind = SPEC_PG;
		out->target = mw_strdup(text);
		return 0;
	}
	fprintf(stderr, "memctl: '%s' is not a store: sqlite:PATH, postgres or a postgres:// URL\n", text);
	return -1;
}

/* The store the daemons would use, decided as they decide (store_open.h). */
static int configured_spec(const struct cfg *cfg, struct spec *out)
{
	char why[512];

	memset(out, 0, sizeof(*out));
	out->configured = true;
	switch (cfg->provider) {
	case CFG_PROVIDER_MEMORY:
		out->kind = SPEC_SQLITE;
		out->target = mw_strdup(cfg->sqlite_path);
		return 0;
	case CFG_PROVIDER_AUTO:
		switch (store_probe_pgvector(cfg, false, why, sizeof(why))) {
		case STORE_PROBE_PGVECTOR:
			break;
		case STORE_PROBE_NO_VECTOR:
			fprintf(stderr, "memctl: MEM0_PROVIDER=auto: %s: the configured store is the SQLite file %s\n",
			        why, cfg->sqlite_path);
			out->kind = SPEC_SQLITE;
			out->target = mw_strdup(cfg->sqlite_path);
			return 0;
		case STORE_PROBE_UNREACHABLE:
			fprintf(stderr,
			        "memctl: MEM0_PROVIDER=auto: PostgreSQL not reachable (%s): cannot tell which "
			        "store is configured\n",
			        why);
			return -1;
		}
		/* fall through */
	case CFG_PROVIDER_PGVECTOR:
	default:
		out->kind = SPEC_PG;
		out->target = cfg_pg_conninfo(cfg, false);
		return 0;
	}
}

static bool same_store(const struct spec *a, const struct spec *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == SPEC_SQLITE) {
		char ra[PATH_MAX], rb[PATH_MAX];

		if (realpath(a->target, ra) && realpath(b->target, rb))
			return strcmp(ra, rb) == 0;
	}
	return strcmp(a->target, b->target) == 0;
}

/*
 * dims > 0: a SQLite file that does not exist yet is made for dims
 * (create); a dry run makes a scratch file instead, so it leaves nothing.
 */
static struct xfer_store *open_spec(struct spec *s, int dims, bool create, bool dry_run)
{
	char err[1024];
	struct xfer_store *x;

	if (s->kind == SPEC_SQLITE && create && dry_run && access(s->target, F_OK) != 0) {
		const char *tmp = getenv("TMPDIR");
		char path[PATH_MAX];
		int fd;

		snprintf(path, sizeof(path), "%s/memctl-dry-run-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
		fd = mkstemp(path);
		if (fd < 0) {
			fprintf(stderr, "memctl: %s: %s\n", path, strerror(errno));
			return NULL;
		}
		close(fd);
		s->scratch = mw_strdup(path);
	}
	if (s->kind == SPEC_SQLITE)
		x = xfer_sqlite_open(s->scratch ? s->scratch : s->target, dims, create, err, sizeof(err));
	else
		x = xfer_pg_open(s->target, err, sizeof(err));
	if (!x)
		fprintf(stderr, "memctl: %s\n", err);
	else if (s->scratch)
		snprintf(x->name, sizeof(x->name), "sqlite:%s (new)", s->target);
	return x;
}

static int run_copy(struct xfer_store *src, struct xfer_store *dst, bool dry_run, const char *verb)
{
	struct xfer_tally t;
	char err[1024];

	printf("%s: %s -> %s\n", verb, src->name, dst->name);
	if (xfer_copy(src, dst, dry_run, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "memctl %s: %s; nothing was written\n", verb, err);
		return 1;
	}
	xfer_print_tally(&t, dry_run);
	return 0;
}

static void move_usage(FILE *out)
{
	fprintf(out, "usage: memctl export --to sqlite:PATH|postgres|postgres://URL [--dry-run]\n"
	             "       memctl import --from sqlite:PATH|postgres|postgres://URL [--dry-run]\n"
	             "       memctl import --mem0-sqlite DIR [--user NAME=ID]... [--user-map FILE]\n"
	             "                     [--orphan-user ID | --skip-orphans] [--dry-run]\n");
}

int ctl_export(const struct cfg *cfg, int argc, char **argv)
{
	struct spec from = {0}, to = {0};
	struct xfer_store *src = NULL, *dst = NULL;
	const char *to_text = NULL;
	bool dry_run = false;
	int i, rc = 2;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to_text = argv[++i];
		else if (strncmp(argv[i], "--to=", 5) == 0)
			to_text = argv[i] + 5;
		else if (strcmp(argv[i], "--dry-run") == 0)
			dry_run = true;
		else
			goto usage;
	}
	if (!to_text)
		goto usage;
	if (parse_spec(cfg, to_text, &to) < 0 || configured_spec(cfg, &from) < 0)
		goto out;
	rc = 1;
	if (same_store(&from, &to)) {
		fprintf(stderr, "memctl export: %s is the configured store itself\n", to_text);
		goto out;
	}
	src = open_spec(&from, 0, false, false);
	if (!src)
		goto out;
	dst = open_spec(&to, src->dims, true, dry_run);
	if (!dst)
		goto out;
	rc = run_copy(src, dst, dry_run, "export");
	goto out;
usage:
	move_usage(stderr);
out:
	xfer_close(src);
	xfer_close(dst);
	spec_clear(&from);
	spec_clear(&to);
	return rc;
}

static int parse_id(const char *flag, const char *text, long long *out)
{
	char *end;
	long long v = strtoll(text, &end, 10);

	if (end == text || *end || v < 1 || v > 2147483647LL) {
		fprintf(stderr, "memctl import: %s '%s' is not a user id (1..2147483647)\n", flag, text);
		return -1;
	}
	*out = v;
	return 0;
}

static int import_mem0(const struct cfg *cfg, const char *dir, const struct mem0_opts *o, bool dry_run)
{
	struct spec into = {0};
	struct xfer_store *src = NULL, *dst = NULL;
	char err[4096];
	int rc = 1;

	src = mem0_open(dir, o, stdout, err, sizeof(err));
	if (!src) {
		fprintf(stderr, "memctl import: %s\n", err);
		return 1;
	}
	if (configured_spec(cfg, &into) < 0)
		goto out;
	dst = open_spec(&into, cfg->embedding_dims, true, dry_run);
	if (!dst)
		goto out;
	rc = run_copy(src, dst, dry_run, "import");
out:
	xfer_close(src);
	xfer_close(dst);
	spec_clear(&into);
	return rc;
}

int ctl_import(const struct cfg *cfg, int argc, char **argv)
{
	struct usermap users = {0};
	struct mem0_opts o = {.users = &users, .want_dims = cfg->embedding_dims};
	struct spec from = {0}, into = {0};
	struct xfer_store *src = NULL, *dst = NULL;
	const char *from_text = NULL, *mem0_dir = NULL;
	bool dry_run = false;
	char err[1024];
	int i, rc = 2;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--dry-run") == 0) {
			dry_run = true;
		} else if (strcmp(a, "--skip-orphans") == 0) {
			o.skip_orphans = true;
		} else if (strcmp(a, "--from") == 0 && v) {
			from_text = v, i++;
		} else if (strcmp(a, "--mem0-sqlite") == 0 && v) {
			mem0_dir = v, i++;
		} else if (strcmp(a, "--user") == 0 && v) {
			i++;
			if (usermap_add(&users, v, err, sizeof(err)) < 0) {
				fprintf(stderr, "memctl import: --user %s\n", err);
				goto out;
			}
		} else if (strcmp(a, "--user-map") == 0 && v) {
			i++;
			if (usermap_load(&users, v, err, sizeof(err)) < 0) {
				fprintf(stderr, "memctl import: %s\n", err);
				goto out;
			}
		} else if (strcmp(a, "--orphan-user") == 0 && v) {
			i++;
			if (parse_id("--orphan-user", v, &o.orphan_user) < 0)
				goto out;
		} else {
			goto usage;
		}
	}
	if (!from_text == !mem0_dir || (o.orphan_user && o.skip_orphans))
		goto usage;
	if (mem0_dir) {
		rc = import_mem0(cfg, mem0_dir, &o, dry_run);
		goto out;
	}
	if (users.n || o.orphan_user || o.skip_orphans)
		goto usage;
	if (parse_spec(cfg, from_text, &from) < 0 || configured_spec(cfg, &into) < 0)
		goto out;
	rc = 1;
	if (same_store(&from, &into)) {
		fprintf(stderr, "memctl import: %s is the configured store itself\n", from_text);
		goto out;
	}
	src = open_spec(&from, 0, false, false);
	if (!src)
		goto out;
	dst = open_spec(&into, cfg->embedding_dims, true, dry_run);
	if (!dst)
		goto out;
	rc = run_copy(src, dst, dry_run, "import");
	goto out;
usage:
	move_usage(stderr);
	rc = 2;
out:
	xfer_close(src);
	xfer_close(dst);
	spec_clear(&from);
	spec_clear(&into);
	usermap_free(&users);
	return rc;
}
