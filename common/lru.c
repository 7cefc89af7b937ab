/*
 * lru: see lru.h. Each entry is one allocation holding the value (first, so
 * it is aligned like max_align_t) and then the key. The bucket array has a
 * power-of-two size of at least twice the capacity, so chains stay short.
 */
#include "lru.h"

#include "log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct lru_entry {
	struct lru_entry *prev, *next;	/* recency: head is the most recent */
	struct lru_entry *chain;	/* next in the same bucket */
	uint64_t hash;
	size_t keylen, vallen;
	max_align_t data[];		/* value bytes, then key bytes and a NUL */
};

struct lru {
	struct lru_entry **buckets;
	size_t nbuckets;		/* power of two */
	size_t count, cap;
	struct lru_entry *head, *tail;
	unsigned long long hits, misses;
};

/* FNV-1a, 64 bit. */
static uint64_t hash_key(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static unsigned char *entry_value(struct lru_entry *e)
{
	return (unsigned char *)e->data;
}

static const char *entry_key(struct lru_entry *e)
{
	return (const char *)e->data + e->vallen;
}

struct lru *lru_new(size_t max_entries)
{
	struct lru *c = mw_calloc(1, sizeof(*c));

	c->cap = max_entries ? max_entries : 1;
	c->nbuckets = 16;
	while (c->nbuckets < 2 * c->cap)
		c->nbuckets *= 2;
	c->buckets = mw_calloc(c->nbuckets, sizeof(*c->buckets));
	return c;
}

/* The link that points at key's entry (or at the NULL ending its chain). */
static struct lru_entry **find_link(struct lru *c, const char *key, size_t len, uint64_t h)
{
	struct lru_entry **link = &c->buckets[h & (c->nbuckets - 1)];

	while (*link) {
		struct lru_entry *e = *link;

		if (e->hash == h && e->keylen == len && memcmp(entry_key(e), key, len) == 0)
			break;
		link = &e->chain;
	}
	return link;
}

static void list_unlink(struct lru *c, struct lru_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void list_push_front(struct lru *c, struct lru_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlinks the entry *link points at from both structures and frees it. */
static void drop(struct lru *c, struct lru_entry **link)
{
	struct lru_entry *e = *link;

	*link = e->chain;
	list_unlink(c, e);
	free(e);
	c->count--;
}

const void *lru_get(struct lru *c, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	struct lru_entry *e = *find_link(c, key, klen, hash_key(key, klen));

	if (!e) {
		c->misses++;
		return NULL;
	}
	c->hits++;
	if (c->head != e) {
		list_unlink(c, e);
		list_push_front(c, e);
	}
	if (len)
		*len = e->vallen;
	return entry_value(e);
}

void lru_put(struct lru *c, const char *key, const void *value, size_t len)
{
	size_t klen = strlen(key);
	uint64_t h = hash_key(key, klen);
	struct lru_entry **link = find_link(c, key, klen, h), *e;

	if (*link)
		drop(c, link);
	if (c->count >= c->cap) {
		struct lru_entry *old = c->tail;

		drop(c, find_link(c, entry_key(old), old->keylen, old->hash));
	}
	e = mw_malloc(sizeof(*e) + len + klen + 1);
	e->hash = h;
	e->keylen = klen;
	e->vallen = len;
	if (len)
		memcpy(entry_value(e), value, len);
	memcpy(entry_value(e) + len, key, klen + 1);
	/* the dropped entries may have been this bucket's: find its head again */
	link = &c->buckets[h & (c->nbuckets - 1)];
	e->chain = *link;
	*link = e;
	list_push_front(c, e);
	c->count++;
}

void lru_remove(struct lru *c, const char *key)
{
	size_t klen = strlen(key);
	struct lru_entry **link = find_link(c, key, klen, hash_key(key, klen));

	if (*link)
		drop(c, link);
}

size_t lru_count(const struct lru *c)
{
	return c->count;
}

size_t lru_capacity(const struct lru *c)
{
	return c->cap;
}

unsigned long long lru_hits(const struct lru *c)
{
	return c->hits;
}

unsigned long long lru_misses(const struct lru *c)
{
	return c->misses;
}

void lru_free(struct lru *c)
{
	struct lru_entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(c->buckets);
	free(c);
}
