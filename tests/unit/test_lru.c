/*
 * lru: hits and misses, recency order decides what is evicted, replacing a
 * key, removal, values of any size and alignment, and a long random run
 * checked against a naive model.
 */
#include "lru.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_int(struct lru *c, const char *key, int v)
{
	lru_put(c, key, &v, sizeof(v));
}

static int get_int(struct lru *c, const char *key)
{
	size_t len = 0;
	const int *v = lru_get(c, key, &len);

	if (!v)
		return -1;
	cr_assert_eq(len, sizeof(int));
	return *v;
}

Test(lru, miss_then_hit)
{
	struct lru *c = lru_new(4);

	cr_expect_eq(get_int(c, "a"), -1);
	put_int(c, "a", 1);
	cr_expect_eq(get_int(c, "a"), 1);
	cr_expect_eq(lru_count(c), 1);
	cr_expect_eq(lru_hits(c), 1);
	cr_expect_eq(lru_misses(c), 1);
	lru_free(c);
}

Test(lru, evicts_least_recent)
{
	struct lru *c = lru_new(3);

	put_int(c, "a", 1);
	put_int(c, "b", 2);
	put_int(c, "c", 3);
	/* touching a makes b the least recent */
	cr_expect_eq(get_int(c, "a"), 1);
	put_int(c, "d", 4);
	cr_expect_eq(lru_count(c), 3);
	cr_expect_eq(get_int(c, "b"), -1, "b was least recent and must be gone");
	cr_expect_eq(get_int(c, "a"), 1);
	cr_expect_eq(get_int(c, "c"), 3);
	cr_expect_eq(get_int(c, "d"), 4);
	/* now a is least recent (c, d touched after it) */
	put_int(c, "e", 5);
	cr_expect_eq(get_int(c, "a"), -1);
	lru_free(c);
}

Test(lru, replace_keeps_count_and_refreshes)
{
	struct lru *c = lru_new(2);

	put_int(c, "a", 1);
	put_int(c, "b", 2);
	put_int(c, "a", 10);	/* a is now the most recent */
	cr_expect_eq(lru_count(c), 2);
	put_int(c, "c", 3);	/* evicts b */
	cr_expect_eq(get_int(c, "a"), 10);
	cr_expect_eq(get_int(c, "b"), -1);
	cr_expect_eq(get_int(c, "c"), 3);
	lru_free(c);
}

Test(lru, remove_and_capacity_one)
{
	struct lru *c = lru_new(1);

	put_int(c, "a", 1);
	put_int(c, "b", 2);
	cr_expect_eq(get_int(c, "a"), -1);
	cr_expect_eq(get_int(c, "b"), 2);
	lru_remove(c, "b");
	lru_remove(c, "nothing");
	cr_expect_eq(lru_count(c), 0);
	cr_expect_eq(get_int(c, "b"), -1);
	put_int(c, "c", 3);
	cr_expect_eq(get_int(c, "c"), 3);
	lru_free(c);
}

Test(lru, embedding_sized_aligned_values)
{
	struct lru *c = lru_new(8);
	float v[1536];
	const float *got;
	size_t len;
	int i;

	for (i = 0; i < 1536; i++)
		v[i] = (float)i / 7.0f;
	lru_put(c, "a query with some words", v, sizeof(v));
	lru_put(c, "", NULL, 0);
	got = lru_get(c, "a query with some words", &len);
	cr_assert_not_null(got);
	cr_expect_eq(len, sizeof(v));
	cr_expect_eq((uintptr_t)got % _Alignof(max_align_t), 0, "value is aligned");
	cr_expect(memcmp(got, v, sizeof(v)) == 0);
	cr_expect_not_null(lru_get(c, "", &len));
	cr_expect_eq(len, 0);
	lru_free(c);
}

/* A model: arrays of keys in recency order (index 0 = most recent). */
struct model {
	char keys[64][16];
	int vals[64];
	int n, cap;
};

static int model_find(struct model *m, const char *k)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->keys[i], k) == 0)
			return i;
	return -1;
}

static void model_touch(struct model *m, int i)
{
	char k[16];
	int v = m->vals[i];

	memcpy(k, m->keys[i], sizeof(k));
	memmove(m->keys[1], m->keys[0], sizeof(m->keys[0]) * (size_t)i);
	memmove(&m->vals[1], &m->vals[0], sizeof(int) * (size_t)i);
	memcpy(m->keys[0], k, sizeof(k));
	m->vals[0] = v;
}

Test(lru, random_operations_match_a_model)
{
	struct lru *c = lru_new(16);
	struct model m = { .cap = 16 };
	unsigned seed = 12345;
	int step;

	for (step = 0; step < 200000; step++) {
		char key[16];
		int op, i;

		seed = seed * 1103515245u + 12345u;
		snprintf(key, sizeof(key), "k%u", (seed >> 8) % 40);
		op = (int)((seed >> 20) % 10);
		i = model_find(&m, key);
		if (op < 5) {
			int got = get_int(c, key);

			cr_assert_eq(got, i < 0 ? -1 : m.vals[i], "step %d get %s", step, key);
			if (i >= 0)
				model_touch(&m, i);
		} else if (op < 9) {
			put_int(c, key, step);
			if (i >= 0) {
				m.vals[i] = step;
				model_touch(&m, i);
			} else {
				if (m.n == m.cap)
					m.n--;	/* the tail goes */
				memmove(m.keys[1], m.keys[0], sizeof(m.keys[0]) * (size_t)m.n);
				memmove(&m.vals[1], &m.vals[0], sizeof(int) * (size_t)m.n);
				snprintf(m.keys[0], sizeof(m.keys[0]), "%s", key);
				m.vals[0] = step;
				m.n++;
			}
		} else {
			lru_remove(c, key);
			if (i >= 0) {
				memmove(m.keys[i], m.keys[i + 1], sizeof(m.keys[0]) * (size_t)(m.n - i - 1));
				memmove(&m.vals[i], &m.vals[i + 1], sizeof(int) * (size_t)(m.n - i - 1));
				m.n--;
			}
		}
		cr_assert_eq(lru_count(c), (size_t)m.n, "step %d", step);
	}
	lru_free(c);
}
