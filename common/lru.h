/*
 * lru: a bounded least-recently-used map from text keys to byte values
 * (memsearch keeps query text -> embedding in one). A hash table with
 * chaining finds an entry in O(1); a doubly linked list keeps recency, so
 * a hit moves to the front and a put past capacity evicts the tail, both
 * O(1). Keys and values are copied in. No locking: one loop owns it.
 */
#ifndef MW_LRU_H
#define MW_LRU_H

#include <stddef.h>

struct lru;

/* max_entries >= 1. */
struct lru *lru_new(size_t max_entries);

/*
 * The value stored under key, made most recent, or NULL. The pointer (suitably
 * aligned for any type) is borrowed until the next lru_put or lru_free.
 */
const void *lru_get(struct lru *c, const char *key, size_t *len);

/* Copies key and value in, replacing an entry under the same key; evicts the least recent when full. */
void lru_put(struct lru *c, const char *key, const void *value, size_t len);

/* Drops the entry under key, if any. */
void lru_remove(struct lru *c, const char *key);

size_t lru_count(const struct lru *c);
size_t lru_capacity(const struct lru *c);
unsigned long long lru_hits(const struct lru *c);
unsigned long long lru_misses(const struct lru *c);

void lru_free(struct lru *c);

#endif
