/*
 * xfer: the copy between two stores (see xfer.h); the readers and writers
 * are in xfer_pg.c and xfer_sqlite.c, the Mem0 reader in mem0.c.
 */
#include "xfer.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct user_set {
	long long *ids;
	size_t n, cap;
};

static void user_add(struct user_set *u, long long id)
{
	if (u->n && u->ids[u->n - 1] == id)
		return; /* rows come grouped often enough */
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 256;
		u->ids = mw_realloc(u->ids, u->cap * sizeof(*u->ids));
	}
	u->ids[u->n++] = id;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void user_sort_unique(struct user_set *u)
{
	size_t i, o = 0;

	if (u->n == 0)
		return;
	qsort(u->ids, u->n, sizeof(*u->ids), cmp_ll);
	for (i = 0; i < u->n; i++)
		if (o == 0 || u->ids[o - 1] != u->ids[i])
			u->ids[o++] = u->ids[i];
	u->n = o;
}

static bool user_has(const struct user_set *u, long long id)
{
	return u->n && bsearch(&id, u->ids, u->n, sizeof(*u->ids), cmp_ll) != NULL;
}

struct copy {
	struct xfer_store *dst;
	struct xfer_tally *t;
	struct user_set touched; /* users of every row copied */
	struct user_set counted; /* users whose counts the source had */
};

static int copy_memory(void *arg, const struct xfer_memory *m)
{
	struct copy *c = arg;
	bool renamed = false;

	user_add(&c->touched, m->user);
	switch (c->dst->vt->put_memory(c->dst, m, &renamed)) {
	case XFER_INSERTED:
		c->t->mem_new++;
		break;
	case XFER_UPDATED:
		c->t->mem_updated++;
		break;
	case XFER_PRESENT:
		c->t->mem_present++;
		break;
	case XFER_FAILED:
	default:
		return -1;
	}
	c->t->mem_renamed += renamed;
	return 0;
}

static int copy_history(void *arg, const struct xfer_history *h)
{
	struct copy *c = arg;
	bool deleted = false;

	user_add(&c->touched, h->user);
	switch (c->dst->vt->put_history(c->dst, h, &deleted)) {
	case XFER_INSERTED:
		c->t->hist_new++;
		break;
	case XFER_PRESENT:
		c->t->hist_present++;
		break;
	case XFER_UPDATED:
	case XFER_FAILED:
	default:
		return -1;
	}
	c->t->mem_deleted += deleted;
	return 0;
}

static int copy_ingest(void *arg, const struct xfer_ingest *l)
{
	struct copy *c = arg;

	user_add(&c->touched, l->user);
	switch (c->dst->vt->put_ingest(c->dst, l)) {
	case XFER_INSERTED:
		c->t->log_new++;
		return 0;
	case XFER_PRESENT:
		c->t->log_present++;
		return 0;
	case XFER_UPDATED:
	case XFER_FAILED:
	default:
		return -1;
	}
}

static int copy_counts(void *arg, long long user, const char *last)
{
	struct copy *c = arg;

	user_add(&c->counted, user);
	user_add(&c->touched, user);
	return c->dst->vt->fix_counts(c->dst, user, last);
}

int xfer_copy(struct xfer_store *src, struct xfer_store *dst, bool dry_run, struct xfer_tally *t, char *err,
              size_t errlen)
{
	struct copy c = {.dst = dst, .t = t};
	const char *who = NULL;
	size_t i;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (src->dims != dst->dims) {
		snprintf(err, errlen, "%s holds %d-dimension embeddings, %s %d: one store holds one dimension",
		         src->name, src->dims, dst->name, dst->dims);
		return -1;
	}
	if (src->vt->read_begin(src) < 0) {
		who = src->err;
		goto out;
	}
	if (dst->vt->write_begin(dst) < 0) {
		who = dst->err;
		goto out;
	}
	/* memories before history: a new 'deleted' row then finds the copy it deletes */
	if (src->vt->each_memory(src, copy_memory, &c) < 0 || src->vt->each_history(src, copy_history, &c) < 0 ||
	    src->vt->each_ingest(src, copy_ingest, &c) < 0 || src->vt->each_counts(src, copy_counts, &c) < 0)
		goto fail;
	user_sort_unique(&c.touched);
	user_sort_unique(&c.counted);
	for (i = 0; i < c.touched.n; i++)
		if (!user_has(&c.counted, c.touched.ids[i]) && dst->vt->fix_counts(dst, c.touched.ids[i], NULL) < 0)
			goto fail;
	t->users = (long long)c.touched.n;
	if (dry_run) {
		dst->vt->rollback(dst);
		rc = 0;
		goto out;
	}
	if (dst->vt->commit(dst) < 0) {
		who = dst->err;
		goto out;
	}
	rc = 0;
	goto out;
fail:
	/* whichever side stopped has said why */
	who = dst->err[0] ? dst->err : src->err;
	dst->vt->rollback(dst);
out:
	if (rc < 0)
		snprintf(err, errlen, "%s", who && who[0] ? who : "copy failed");
	free(c.touched.ids);
	free(c.counted.ids);
	return rc;
}

void xfer_print_tally(const struct xfer_tally *t, bool dry_run)
{
	const char *would = dry_run ? " (dry run: would be)" : "";

	printf("memories%s: %lld new, %lld updated, %lld already there, %lld deleted", would, t->mem_new,
	       t->mem_updated, t->mem_present, t->mem_deleted);
	if (t->mem_renamed)
		printf(" (%lld exact duplicates of another memory of the user kept under a suffixed hash)",
		       t->mem_renamed);
	printf("\nhistory%s: %lld new, %lld already there\n", would, t->hist_new, t->hist_present);
	printf("ingest log%s: %lld new, %lld already there\n", would, t->log_new, t->log_present);
	printf("users: %lld\n", t->users);
	if (dry_run)
		printf("dry run: nothing was written\n");
}

void xfer_close(struct xfer_store *s)
{
	if (s)
		s->vt->close(s);
}
