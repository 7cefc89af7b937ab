/*
 * idset: chained hash set of strings; grows by doubling at load 1.
 */
#include "idset.h"

#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct idnode {
	struct idnode *next;
	char id[];
};

struct idset {
	struct idnode **b;
	size_t nb, n;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

struct idset *idset_new(void)
{
	struct idset *s = mw_calloc(1, sizeof(*s));

	s->nb = 256;
	s->b = mw_calloc(s->nb, sizeof(*s->b));
	return s;
}

static void grow(struct idset *s)
{
	size_t nb = s->nb * 2, i;
	struct idnode **b = mw_calloc(nb, sizeof(*b));

	for (i = 0; i < s->nb; i++) {
		struct idnode *n, *next;
		for (n = s->b[i]; n; n = next) {
			size_t k = fnv1a(n->id) % nb;
			next = n->next;
			n->next = b[k];
			b[k] = n;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
}

bool idset_has(const struct idset *s, const char *id)
{
	const struct idnode *n;

	for (n = s->b[fnv1a(id) % s->nb]; n; n = n->next)
		if (strcmp(n->id, id) == 0)
			return true;
	return false;
}

bool idset_add(struct idset *s, const char *id)
{
	size_t len = strlen(id), k;
	struct idnode *n;

	if (idset_has(s, id))
		return false;
	if (s->n >= s->nb)
		grow(s);
	k = fnv1a(id) % s->nb;
	n = mw_malloc(sizeof(*n) + len + 1);
	memcpy(n->id, id, len + 1);
	n->next = s->b[k];
	s->b[k] = n;
	s->n++;
	return true;
}

void idset_del(struct idset *s, const char *id)
{
	struct idnode **pp;

	for (pp = &s->b[fnv1a(id) % s->nb]; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, id) == 0) {
			struct idnode *n = *pp;
			*pp = n->next;
			free(n);
			s->n--;
			return;
		}
	}
}

size_t idset_count(const struct idset *s)
{
	return s->n;
}

void idset_each(const struct idset *s, void (*fn)(const char *id, void *arg), void *arg)
{
	size_t i;

	for (i = 0; i < s->nb; i++) {
		const struct idnode *n;
		for (n = s->b[i]; n; n = n->next)
			fn(n->id, arg);
	}
}

void idset_free(struct idset *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nb; i++) {
		struct idnode *n, *next;
		for (n = s->b[i]; n; n = next) {
			next = n->next;
			free(n);
		}
	}
	free(s->b);
	free(s);
}
