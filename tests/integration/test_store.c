/*
 * The store contract (store.h) through the real backends, one suite for
 * both (MW_TEST_STORE, storeenv.h): exactly-once apply with its history and
 * counts, conflicts that change nothing, duplicate and vanished targets,
 * exact search with threshold, limit, session and metadata filters, users
 * kept apart, get/get_all/history/delete/delete_all/stats, and callbacks
 * that fire once and never inside the call (storesync.h checks every op).
 *
 * Until PostgreSQL's read path (store_pg_read.c) is built, its operations
 * refuse every call; the tests that need them skip on PostgreSQL then.
 */
#include "mhash.h"
#include "store.h"
#include "store_pg.h"
#include "store_sqlite.h"
#include "storeenv.h"
#include "storesync.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIMS 8

static struct senv env;
static struct event_base *base;
static struct store *st;

static void setup(void)
{
	char err[512];

	senv_setup(&env, senv_kind_from_env(), "st", DIMS, true);
	base = event_base_new();
	if (senv_is_pg(&env)) {
		char conninfo[256];
		time_t until = time(NULL) + 20;

		snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d user=postgres dbname=%s", tenv_pg_port(),
		         env.db);
		st = store_pg_new(base, conninfo, DIMS, 2);
		while (!store_ready(st) && time(NULL) < until)
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		cr_assert(store_ready(st), "PostgreSQL store never connected");
	} else {
		st = store_sqlite_new(base, env.sqlite_path, DIMS, NULL, err, sizeof(err));
		cr_assert_not_null(st, "%s", err);
	}
}

static void teardown(void)
{
	store_free(st);
	st = NULL;
	event_base_free(base);
	base = NULL;
	senv_teardown(&env);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static void stats_seen(void *arg, enum store_status stt, const struct store_stats *stats, const char *err)
{
	(void)stt, (void)stats, (void)err;
	(*(int *)arg)++;
}

/* Skips on a backend whose read path refuses calls (not built yet). */
static void need_read_path(void)
{
	int fired = 0;

	if (store_stats(st, 1, stats_seen, &fired) < 0)
		cr_skip_test("%s: the read path is not built yet", store_name(st));
	while (!fired)
		event_base_loop(base, EVLOOP_ONCE);
}

/* e_i plus a little of e_{i+1}: distinct, unit-ish directions. */
static void vec_for(int i, float v[DIMS])
{
	memset(v, 0, sizeof(float) * DIMS);
	v[i % DIMS] = 1.0f;
	v[(i + 1) % DIMS] = 0.1f;
}

struct change_set {
	struct store_change c[8];
	float v[8][DIMS];
	char hash[8][33];
	int n;
};

static void add(struct change_set *cs, const char *text, int vec, const char *session, const char *meta)
{
	struct store_change *c = &cs->c[cs->n];

	vec_for(vec, cs->v[cs->n]);
	mhash_memory(text, cs->hash[cs->n]);
	*c = (struct store_change){.kind = STORE_ADD,
	                           .text = text,
	                           .hash = cs->hash[cs->n],
	                           .embedding = cs->v[cs->n],
	                           .session_id = session,
	                           .metadata = meta};
	cs->n++;
}

static void update(struct change_set *cs, const char *id, const char *text, int vec)
{
	struct store_change *c = &cs->c[cs->n];

	vec_for(vec, cs->v[cs->n]);
	mhash_memory(text, cs->hash[cs->n]);
	*c = (struct store_change){.kind = STORE_UPDATE,
	                           .memory_id = id,
	                           .text = text,
	                           .hash = cs->hash[cs->n],
	                           .embedding = cs->v[cs->n]};
	cs->n++;
}

static void del(struct change_set *cs, const char *id)
{
	cs->c[cs->n++] = (struct store_change){.kind = STORE_DELETE, .memory_id = id};
}

static enum store_status apply(int64_t user, const char *const *keys, int nkeys, struct change_set *cs,
                               struct store_apply_result *r)
{
	struct store_batch b = {.user = user,
	                        .nkeys = nkeys,
	                        .keys = keys,
	                        .stream_ids = keys,
	                        .nchanges = cs ? cs->n : 0,
	                        .changes = cs ? cs->c : NULL,
	                        .history_meta = "{\"source_message_ids\":[\"t\"]}"};

	return ssync_apply(st, base, &b, r);
}

/* The id of user's memory with this text (asserts there is one). */
static void id_of(int64_t user, const char *text, char out[40])
{
	struct ssync_mems all;
	int i;

	out[0] = '\0';
	ssync_get_all(st, base, user, NULL, 1000, 0, &all);
	cr_assert_eq(all.st, STORE_OK, "%s", all.err);
	for (i = 0; i < all.n; i++)
		if (strcmp(all.m[i].text, text) == 0)
			snprintf(out, 40, "%s", all.m[i].id);
	ssync_mems_clear(&all);
	cr_assert(out[0], "user %lld has no memory '%s'", (long long)user, text);
}

Test(store, apply_writes_memories_history_counts_and_log)
{
	const char *k1[] = {"k1"};
	struct change_set cs = {.n = 0};
	struct store_apply_result r;
	bool seen[2];
	const char *probe[] = {"k1", "k2"};

	add(&cs, "Likes tea", 0, "s1", "{\"source\":\"web\"}");
	add(&cs, "Lives in Lisbon", 2, "s1", NULL);
	cr_assert_eq(apply(7, k1, 1, &cs, &r), STORE_OK);
	cr_expect_eq(r.added, 2);
	cr_expect_eq(r.skipped, 0);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 7 AND hash = md5(memory)"),
	             2);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 7 AND memory = 'Likes tea' "
	                              "AND metadata->>'source' = 'web' AND session_id = 's1'"),
	             1);
	cr_expect_eq(senv_count(&env,
	                        "SELECT count(*) FROM mem0_history WHERE user_id = 7 AND action = 'created' "
	                        "AND previous_content IS NULL AND metadata->>'source_message_ids' LIKE '%\"t\"%'"),
	             2);
	cr_expect_eq(senv_count(&env, "SELECT total_memories FROM mem0_metadata WHERE user_id = 7"), 2);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_ingest_log WHERE user_id = 7 AND message_key = 'k1' "
	                              "AND stream_id = 'k1'"),
	             1);
	cr_assert_eq(ssync_filter_keys(st, base, 7, probe, 2, seen), STORE_OK);
	cr_expect(seen[0]);
	cr_expect(!seen[1]);
	/* another user's log is another user's */
	cr_assert_eq(ssync_filter_keys(st, base, 8, probe, 2, seen), STORE_OK);
	cr_expect(!seen[0]);
}

Test(store, a_logged_key_conflicts_and_nothing_changes)
{
	const char *k1[] = {"a"}, *k2[] = {"b", "a"};
	struct change_set cs = {.n = 0}, cs2 = {.n = 0};
	bool seen[1];
	const char *b[] = {"b"};

	add(&cs, "Plays chess", 1, "s", NULL);
	cr_assert_eq(apply(3, k1, 1, &cs, NULL), STORE_OK);
	add(&cs2, "Plays go", 3, "s", NULL);
	cr_expect_eq(apply(3, k2, 2, &cs2, NULL), STORE_CONFLICT);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 3"), 1);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE user_id = 3"), 1);
	cr_assert_eq(ssync_filter_keys(st, base, 3, b, 1, seen), STORE_OK);
	cr_expect(!seen[0], "the conflicting batch's other key was logged");
	/* the same key for another user is no conflict */
	cr_expect_eq(apply(4, k1, 1, &cs2, NULL), STORE_OK);
}

Test(store, duplicates_and_vanished_targets_are_skipped)
{
	const char *k[] = {"d1"}, *k2[] = {"d2"}, *k3[] = {"d3"};
	struct change_set cs = {.n = 0}, cs2 = {.n = 0}, cs3 = {.n = 0};
	struct store_apply_result r;
	char tea[40], coffee[40];

	need_read_path();
	add(&cs, "Likes tea", 0, "s", NULL);
	add(&cs, "Likes coffee", 1, "s", NULL);
	cr_assert_eq(apply(5, k, 1, &cs, &r), STORE_OK);
	id_of(5, "Likes tea", tea);
	id_of(5, "Likes coffee", coffee);
	add(&cs2, "Likes tea", 4, "s", NULL);                                  /* exact duplicate */
	update(&cs2, coffee, "Likes tea", 5);                                  /* a text another memory holds */
	update(&cs2, "00000000-0000-4000-8000-000000000000", "Likes milk", 6); /* no such memory */
	del(&cs2, "00000000-0000-4000-8000-000000000001");
	cr_assert_eq(apply(5, k2, 1, &cs2, &r), STORE_OK);
	cr_expect_eq(r.added + r.updated + r.deleted, 0);
	cr_expect_eq(r.skipped, 4);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE user_id = 5"), 2);
	/* and another user cannot touch user 5's memory by its id */
	del(&cs3, tea);
	update(&cs3, coffee, "Likes beer", 6);
	cr_assert_eq(apply(6, k3, 1, &cs3, &r), STORE_OK);
	cr_expect_eq(r.skipped, 2);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 5"), 2);
}

Test(store, update_and_delete_keep_history_oldest_first)
{
	const char *k[] = {"u1"}, *k2[] = {"u2"}, *k3[] = {"u3"};
	struct change_set cs = {.n = 0}, cs2 = {.n = 0}, cs3 = {.n = 0};
	struct store_apply_result r;
	struct ssync_history h;
	struct ssync_mems m;
	char id[40], upper[40];
	long long total, rows;
	char last[32];
	size_t i;

	need_read_path();
	add(&cs, "Lives in Lisbon", 2, "s", NULL);
	cr_assert_eq(apply(9, k, 1, &cs, NULL), STORE_OK);
	id_of(9, "Lives in Lisbon", id);
	update(&cs2, id, "Lives in Porto", 3);
	cr_assert_eq(apply(9, k2, 1, &cs2, &r), STORE_OK);
	cr_expect_eq(r.updated, 1);
	ssync_get(st, base, 9, id, &m);
	cr_assert_eq(m.st, STORE_OK);
	cr_assert_eq(m.n, 1);
	cr_expect_str_eq(m.m[0].text, "Lives in Porto");
	ssync_mems_clear(&m);
	/* ids compare without case, as PostgreSQL's uuid does */
	for (i = 0; i <= strlen(id); i++)
		upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	ssync_get(st, base, 9, upper, &m);
	cr_expect_eq(m.st, STORE_OK);
	ssync_mems_clear(&m);
	ssync_get(st, base, 10, id, &m);
	cr_expect_eq(m.st, STORE_NOT_FOUND, "another user's memory was found");
	ssync_mems_clear(&m);

	del(&cs3, id);
	cr_assert_eq(apply(9, k3, 1, &cs3, &r), STORE_OK);
	cr_expect_eq(r.deleted, 1);
	ssync_history(st, base, 9, id, &h);
	cr_assert_eq(h.st, STORE_OK, "%s", h.err);
	cr_assert_eq(h.n, 3);
	cr_expect_str_eq(h.h[0].action, "created");
	cr_expect_str_eq(h.h[1].action, "updated");
	cr_expect_str_eq(h.h[1].previous_content, "Lives in Lisbon");
	cr_expect_str_eq(h.h[1].new_content, "Lives in Porto");
	cr_expect_str_eq(h.h[2].action, "deleted");
	cr_expect_str_eq(h.h[2].previous_content, "Lives in Porto");
	cr_expect_null(h.h[2].new_content);
	cr_expect(h.h[0].id < h.h[1].id && h.h[1].id < h.h[2].id);
	cr_expect_eq(strlen(h.h[0].created_at), 24, "RFC 3339 with milliseconds: %s", h.h[0].created_at);
	ssync_history_clear(&h);
	cr_assert_eq(ssync_stats(st, base, 9, &total, last, &rows), STORE_OK);
	cr_expect_eq(total, 0);
	cr_expect_eq(rows, 3);
	cr_expect_eq(strlen(last), 24, "%s", last);
}

Test(store, search_is_exact_per_user_with_threshold_limit_session_and_filters)
{
	const char *k[] = {"s1"}, *k2[] = {"s2"};
	struct change_set cs = {.n = 0}, cs2 = {.n = 0};
	struct store_search q = {.user = 11, .limit = 10};
	struct ssync_mems m;
	float qv[DIMS];
	int i;

	need_read_path();
	add(&cs, "Memory zero", 0, "sa", "{\"lang\":\"en\",\"n\":1}");
	add(&cs, "Memory one", 1, "sa", "{\"lang\":\"pt\"}");
	add(&cs, "Memory two", 2, "sb", "{\"lang\":\"en\",\"tags\":[\"x\",\"y\"]}");
	add(&cs, "Memory three", 3, "sb", NULL);
	cr_assert_eq(apply(11, k, 1, &cs, NULL), STORE_OK);
	add(&cs2, "Someone else's", 0, "sa", NULL);
	cr_assert_eq(apply(12, k2, 1, &cs2, NULL), STORE_OK);

	vec_for(0, qv);
	q.vec = qv;
	ssync_search(st, base, &q, &m);
	cr_assert_eq(m.st, STORE_OK, "%s", m.err);
	cr_assert_eq(m.n, 4);
	cr_expect_str_eq(m.m[0].text, "Memory zero");
	cr_expect_float_eq(m.m[0].score, 1.0, 1e-6);
	for (i = 1; i < m.n; i++)
		cr_expect(m.m[i - 1].score >= m.m[i].score, "not best first");
	for (i = 0; i < m.n; i++)
		cr_expect(strcmp(m.m[i].text, "Someone else's") != 0, "another user's memory in the results");
	ssync_mems_clear(&m);

	q.limit = 2;
	ssync_search(st, base, &q, &m);
	cr_expect_eq(m.n, 2);
	ssync_mems_clear(&m);

	q.limit = 10;
	q.threshold = 0.5; /* e0 + 0.1 e1 against e1 + 0.1 e2 scores ~0.1 */
	ssync_search(st, base, &q, &m);
	cr_expect_eq(m.n, 1);
	ssync_mems_clear(&m);

	q.threshold = 0;
	q.session_id = "sb";
	ssync_search(st, base, &q, &m);
	cr_expect_eq(m.n, 2);
	for (i = 0; i < m.n; i++)
		cr_expect_str_eq(m.m[i].session_id, "sb");
	ssync_mems_clear(&m);

	q.session_id = NULL;
	q.filters = "{\"lang\":\"en\"}";
	ssync_search(st, base, &q, &m);
	cr_expect_eq(m.n, 2);
	ssync_mems_clear(&m);
	q.filters = "{\"lang\":\"en\",\"n\":1}";
	ssync_search(st, base, &q, &m);
	cr_assert_eq(m.n, 1);
	cr_expect_str_eq(m.m[0].text, "Memory zero");
	ssync_mems_clear(&m);
	q.filters = "{\"tags\":[\"y\"]}";
	ssync_search(st, base, &q, &m);
	cr_assert_eq(m.n, 1);
	cr_expect_str_eq(m.m[0].text, "Memory two");
	ssync_mems_clear(&m);
	q.filters = "{\"lang\":\"fr\"}";
	ssync_search(st, base, &q, &m);
	cr_expect_eq(m.n, 0);
	ssync_mems_clear(&m);
}

Test(store, candidates_take_the_best_score_over_query_vectors)
{
	const char *k[] = {"c1"};
	struct change_set cs = {.n = 0};
	struct ssync_mems m;
	float a[DIMS], b[DIMS];
	const float *qv[2] = {a, b};

	add(&cs, "Zero", 0, "s", NULL);
	add(&cs, "Two", 2, "s", NULL);
	add(&cs, "Four", 4, "s", NULL);
	cr_assert_eq(apply(13, k, 1, &cs, NULL), STORE_OK);
	vec_for(0, a);
	vec_for(4, b);
	ssync_candidates(st, base, 13, qv, 2, 2, &m);
	cr_assert_eq(m.st, STORE_OK, "%s", m.err);
	cr_assert_eq(m.n, 2);
	cr_expect(strcmp(m.m[0].text, "Two") != 0 && strcmp(m.m[1].text, "Two") != 0);
	cr_expect_float_eq(m.m[0].score, 1.0, 1e-6);
	cr_expect_str_neq(m.m[0].id, m.m[1].id);
	ssync_mems_clear(&m);
	ssync_candidates(st, base, 14, qv, 2, 5, &m);
	cr_expect_eq(m.n, 0, "another user's memories");
	ssync_mems_clear(&m);
}

Test(store, get_all_newest_first_paged_and_by_session)
{
	const char *keys[4] = {"g0", "g1", "g2", "g3"};
	struct ssync_mems m;
	int i;

	need_read_path();
	for (i = 0; i < 4; i++) {
		struct change_set cs = {.n = 0};
		char text[32];

		snprintf(text, sizeof(text), "Fact %d", i);
		add(&cs, text, i, i % 2 ? "odd" : "even", NULL);
		cr_assert_eq(apply(15, &keys[i], 1, &cs, NULL), STORE_OK);
	}
	ssync_get_all(st, base, 15, NULL, 2, 0, &m);
	cr_assert_eq(m.n, 2);
	cr_expect_str_eq(m.m[0].text, "Fact 3");
	cr_expect_str_eq(m.m[1].text, "Fact 2");
	ssync_mems_clear(&m);
	ssync_get_all(st, base, 15, NULL, 2, 2, &m);
	cr_assert_eq(m.n, 2);
	cr_expect_str_eq(m.m[0].text, "Fact 1");
	ssync_mems_clear(&m);
	ssync_get_all(st, base, 15, "odd", 10, 0, &m);
	cr_assert_eq(m.n, 2);
	cr_expect_str_eq(m.m[0].text, "Fact 3");
	cr_expect_str_eq(m.m[1].text, "Fact 1");
	cr_expect_eq(m.m[0].score, 0);
	ssync_mems_clear(&m);
}

Test(store, delete_one_and_all_write_history_and_purge_erases)
{
	const char *k[] = {"x1"}, *k2[] = {"x2"};
	struct change_set cs = {.n = 0}, cs2 = {.n = 0};
	long long n = -1, total, rows;
	char id[40], last[32];

	need_read_path();
	add(&cs, "One", 0, "s", NULL);
	add(&cs, "Two", 1, "s", NULL);
	add(&cs, "Three", 2, "s", NULL);
	cr_assert_eq(apply(16, k, 1, &cs, NULL), STORE_OK);
	add(&cs2, "Other user", 0, "s", NULL);
	cr_assert_eq(apply(17, k, 1, &cs2, NULL), STORE_OK);
	id_of(16, "One", id);
	cr_expect_eq(ssync_delete(st, base, 17, id, &n), STORE_NOT_FOUND, "deleted another user's memory");
	cr_expect_eq(ssync_delete(st, base, 16, id, &n), STORE_OK);
	cr_expect_eq(n, 1);
	cr_expect_eq(ssync_delete(st, base, 16, id, &n), STORE_NOT_FOUND);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE user_id = 16 AND action = 'deleted' "
	                              "AND previous_content = 'One' AND metadata->>'by' = 'test'"),
	             1);
	cr_expect_eq(ssync_delete_all(st, base, 16, false, &n), STORE_OK);
	cr_expect_eq(n, 2);
	cr_assert_eq(ssync_stats(st, base, 16, &total, last, &rows), STORE_OK);
	cr_expect_eq(total, 0);
	cr_expect_eq(rows, 6);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_ingest_log WHERE user_id = 16"), 1);

	cr_expect_eq(ssync_delete_all(st, base, 16, true, &n), STORE_OK);
	cr_expect_eq(n, 0);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE user_id = 16"), 0);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_ingest_log WHERE user_id = 16"), 0);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_metadata WHERE user_id = 16"), 0);
	cr_assert_eq(ssync_stats(st, base, 16, &total, last, &rows), STORE_OK);
	cr_expect_eq(total, 0);
	cr_expect_eq(rows, 0);
	cr_expect_str_eq(last, "");
	/* user 17 untouched */
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 17"), 1);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_history WHERE user_id = 17"), 1);
	/* a purged user's message keys may be applied again */
	cr_expect_eq(apply(16, k2, 1, NULL, NULL), STORE_OK);
	cr_expect_eq(apply(16, k, 1, NULL, NULL), STORE_OK);
}

static void never_cb(void *arg, enum store_status stt, const struct store_memory *m, int n, const char *err)
{
	(void)arg, (void)stt, (void)m, (void)n, (void)err;
	cr_assert_fail("a refused call's callback fired");
}

Test(store, refusals_and_not_found)
{
	float v[DIMS];
	struct store_search q = {.user = 1, .vec = v, .limit = 0};
	struct ssync_history h;

	need_read_path();
	vec_for(0, v);
	/* refused calls: -1 and no callback, ever */
	cr_expect_eq(store_search(st, &q, never_cb, NULL), -1, "limit 0");
	q.limit = 5;
	v[3] = 0.0f / 0.0f;
	cr_expect_eq(store_search(st, &q, never_cb, NULL), -1, "a NaN in the query");
	cr_expect_eq(store_get_all(st, 1, NULL, 0, 0, never_cb, NULL), -1, "limit 0");
	cr_expect_eq(store_get_all(st, 1, NULL, 10, -1, never_cb, NULL), -1, "negative offset");
	cr_expect_eq(store_candidates(st, 1, NULL, 0, 5, never_cb, NULL), -1, "no query vector");
	event_base_loop(base, EVLOOP_NONBLOCK);
	/* a memory with no history for this user */
	ssync_history(st, base, 1, "00000000-0000-4000-8000-000000000000", &h);
	cr_expect_eq(h.st, STORE_NOT_FOUND);
	ssync_history_clear(&h);
}

static void count_fired(void *arg, enum store_status stt, const struct store_memory *m, int n, const char *err)
{
	(void)stt, (void)m, (void)n, (void)err;
	(*(int *)arg)++;
}

Test(store, free_fires_pending_callbacks_once)
{
	const float *qv[1];
	float v[DIMS];
	int fired = 0;

	vec_for(0, v);
	qv[0] = v;
	cr_assert_eq(store_candidates(st, 1, qv, 1, 5, count_fired, &fired), 0);
	cr_assert_eq(fired, 0, "fired inside the call");
	store_free(st);
	st = NULL;
	cr_expect_eq(fired, 1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_expect_eq(fired, 1);
}

/* ---- SQLite only ---- */

static void sqlite_only(void)
{
	if (senv_is_pg(&env))
		cr_skip_test("SQLite store only");
}

/* Another process holding the write lock past the busy timeout: a transient failure, nothing written. */
Test(store, sqlite_write_lock_held_elsewhere_is_transient)
{
	const char *k[] = {"l1"};
	struct change_set cs = {.n = 0};
	sqlite3 *other;
	time_t t0;

	sqlite_only();
	other = senv_sqlite_open(env.sqlite_path);
	cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	add(&cs, "Blocked", 0, "s", NULL);
	t0 = time(NULL);
	cr_expect_eq(apply(18, k, 1, &cs, NULL), STORE_TRANSIENT);
	cr_expect_geq(time(NULL) - t0, STORE_SQLITE_BUSY_MS / 1000 - 1);
	cr_assert_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_ingest_log WHERE user_id = 18"), 0);
	cr_expect_eq(apply(18, k, 1, &cs, NULL), STORE_OK);
	cr_expect_eq(senv_count(&env, "SELECT count(*) FROM mem0_memories WHERE user_id = 18"), 1);
}

Test(store, sqlite_file_is_versioned_wal_and_keeps_its_dimension)
{
	char err[512];
	struct store *other;
	sqlite3 *db;

	sqlite_only();
	cr_expect_eq(senv_count(&env, "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);
	db = senv_sqlite_open(env.sqlite_path);
	{
		sqlite3_stmt *s;

		cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
		cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
		cr_expect_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	other = store_sqlite_new(base, env.sqlite_path, DIMS * 2, NULL, err, sizeof(err));
	cr_expect_null(other);
	cr_expect(strstr(err, "MEM0_EMBEDDING_DIMS: 16, but") && strstr(err, "holds 8-dimension"), "%s", err);
	/* a file of something else is refused, not taken over */
	{
		char path[300];

		snprintf(path, sizeof(path), "%s.other", env.sqlite_path);
		cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
		cr_assert_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		other = store_sqlite_new(base, path, DIMS, NULL, err, sizeof(err));
		cr_expect_null(other);
		cr_expect(strstr(err, "something else") != NULL, "%s", err);
		remove(path);
	}
}
