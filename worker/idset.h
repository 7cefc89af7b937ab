/*
 * idset: a set of stream entry ids (strings), for the entries this process
 * holds, so a reclaim never hands us an entry we are still working on.
 */
#ifndef MW_IDSET_H
#define MW_IDSET_H

#include <stdbool.h>
#include <stddef.h>

struct idset;

struct idset *idset_new(void);
/* Returns false if id was already there. */
bool idset_add(struct idset *s, const char *id);
bool idset_has(const struct idset *s, const char *id);
void idset_del(struct idset *s, const char *id);
size_t idset_count(const struct idset *s);
/* Calls fn for every id (no changes to the set during the walk). */
void idset_each(const struct idset *s, void (*fn)(const char *id, void *arg), void *arg);
void idset_free(struct idset *s);

#endif
