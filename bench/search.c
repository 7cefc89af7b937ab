/*
 * bench search: the read path's benchmark (issue 4), in two steps.
 *
 *   load: COPY (binary) a deterministic corpus into mem0_memories: --users
 *         typical users with --per-user memories each, plus one heavy user
 *         (id users+1) with --heavy memories, rows interleaved in time order
 *         as a live system writes them. Texts are five words of a synthetic
 *         vocabulary; embeddings are common/hashembed.h's, of the
 *         --embedding kind the mock LLM is started with (bench/search.sh:
 *         dense, so the vectors neither compress nor flatter HNSW as sparse
 *         ones do), bit for bit what the mock returns, so the queries
 *         memsearch embeds through the mock land among them. One vector per
 *         vocabulary word is computed once; a row adds five of them.
 *   run:  for typical users and for the heavy user, at each concurrency:
 *         end-to-end latency through Redis (XADD + BLPOP, as the chat
 *         backend does), memsearch's own took_ms, QPS; the raw SQL floor
 *         (memsearch's exact statements under EXPLAIN ANALYZE, same
 *         concurrency); recall@10 against a brute-force scan (the queries
 *         embedded here, of the same --embedding kind).
 *
 * A driver, not a daemon: the end-to-end clients share one thread's event
 * loop (a connection each); the SQL floor's are blocking, a thread each.
 */
#include "bench.h"
#include "cpu.h"

#include "hashembed.h"
#include "mhash.h"
#include "rloop.h"
#include "store.h"
#include "store_pg_read.h"
#include "vec.h"

#include <ctype.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VOCAB 5000
#define MEMORY_WORDS 5
#define LIMIT 10

struct opts {
	const char *pg;
	int redis_port;
	const char *redis_socket;	/* --redis-socket: Redis's unix socket instead of the port */
	const char *stream;
	int users, per_user, heavy, dims;
	enum hashembed_kind embedding;
	uint64_t seed;
	int conc[8], nconc;
	int requests, heavy_requests;
	int recall;
	int ef_search;
	bool no_floor;
};

/* ---- deterministic corpus ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Memory i of user u: five vocabulary words (indices), the same on every run with the same seed. */
static void memory_words(const struct opts *o, int user, int i, unsigned words[MEMORY_WORDS])
{
	uint64_t s = o->seed ^ ((uint64_t)user * 0x100000001b3ULL) ^ ((uint64_t)i << 32);
	int w;

	for (w = 0; w < MEMORY_WORDS; w++)
		words[w] = (unsigned)(splitmix(&s) % VOCAB);
}

/* Word w of the vocabulary: "w123". */
static void vocab_word(unsigned w, char *out, size_t len)
{
	snprintf(out, len, "w%u", w);
}

static void words_text(const unsigned words[MEMORY_WORDS], char *out, size_t len)
{
	size_t n = 0;
	int w;

	for (w = 0; w < MEMORY_WORDS; w++) {
		char word[16];

		vocab_word(words[w], word, sizeof(word));
		n += (size_t)snprintf(out + n, len - n, "%s%s", w ? " " : "", word);
	}
}

static void memory_text(const struct opts *o, int user, int i, char *out, size_t len)
{
	unsigned words[MEMORY_WORDS];

	memory_words(o, user, i, words);
	words_text(words, out, len);
}

/* A query about one of the user's memories: two of its words and one at random. */
static void query_text(const struct opts *o, int user, int count, uint64_t *rng, char *out, size_t len)
{
	char mem[128], *words[MEMORY_WORDS], *save = NULL, *t;
	int n = 0;

	memory_text(o, user, (int)(splitmix(rng) % (uint64_t)count), mem, sizeof(mem));
	for (t = strtok_r(mem, " ", &save); t && n < MEMORY_WORDS; t = strtok_r(NULL, " ", &save))
		words[n++] = t;
	snprintf(out, len, "%s w%u %s", words[splitmix(rng) % (uint64_t)n], (unsigned)(splitmix(rng) % VOCAB),
		 words[splitmix(rng) % (uint64_t)n]);
}

/*
 * The corpus's embeddings: each vocabulary word's vector (hashembed_sum of
 * the word alone) once, as floats, which hashembed.h promises are exact; a
 * memory's vector is the sum of its words' in double, normalised: the same
 * floats as hashembed() of its text (checked now and then, see add_row), at a
 * fraction of the cost for the dense kind (1536 random components a word).
 */
struct vocab_vecs {
	enum hashembed_kind kind;
	int dims;
	float *v;	/* VOCAB x dims */
	double *acc;	/* dims: the row being summed */
};

static void vocab_vecs_init(struct vocab_vecs *vv, const struct opts *o)
{
	char word[16];
	unsigned w;
	int d;

	vv->kind = o->embedding;
	vv->dims = o->dims;
	vv->v = malloc(sizeof(float) * VOCAB * (size_t)o->dims);
	vv->acc = malloc(sizeof(double) * (size_t)o->dims);
	if (!vv->v || !vv->acc)
		abort();
	for (w = 0; w < VOCAB; w++) {
		vocab_word(w, word, sizeof(word));
		hashembed_sum(vv->kind, word, vv->dims, vv->acc);
		for (d = 0; d < vv->dims; d++)
			vv->v[(size_t)w * (size_t)vv->dims + (size_t)d] = (float)vv->acc[d];
	}
}

static void vocab_vecs_embed(struct vocab_vecs *vv, const unsigned words[MEMORY_WORDS], float *out)
{
	int w, d;

	for (d = 0; d < vv->dims; d++)
		vv->acc[d] = 0;
	for (w = 0; w < MEMORY_WORDS; w++) {
		const float *wv = vv->v + (size_t)words[w] * (size_t)vv->dims;

		for (d = 0; d < vv->dims; d++)
			vv->acc[d] += wv[d];
	}
	hashembed_unit(vv->acc, vv->dims);
	for (d = 0; d < vv->dims; d++)
		out[d] = (float)vv->acc[d];
}

static void vocab_vecs_free(struct vocab_vecs *vv)
{
	free(vv->v);
	free(vv->acc);
}

/* ---- small helpers ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static long long epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	int i;

	if (n == 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	i = (int)ceil(p / 100.0 * n) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static PGconn *pg_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "mwbench: PostgreSQL: %s", PQerrorMessage(c));
		exit(1);
	}
	return c;
}

static void pg_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "mwbench: %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
	PQclear(r);
}

/* ---- load ---- */

struct copybuf {
	unsigned char *b;
	size_t len, cap;
};

static void put(struct copybuf *c, const void *p, size_t n)
{
	if (c->len + n > c->cap) {
		c->cap = (c->len + n) * 2;
		c->b = realloc(c->b, c->cap);
		if (!c->b)
			abort();
	}
	memcpy(c->b + c->len, p, n);
	c->len += n;
}

static void put16(struct copybuf *c, int v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(c, b, 2);
}

static void put32(struct copybuf *c, int32_t v)
{
	uint32_t u = (uint32_t)v;
	unsigned char b[4] = { (unsigned char)(u >> 24), (unsigned char)(u >> 16), (unsigned char)(u >> 8),
			       (unsigned char)u };

	put(c, b, 4);
}

static void put_field(struct copybuf *c, const void *p, size_t n)
{
	put32(c, (int32_t)n);
	put(c, p, n);
}

static void flush_copy(PGconn *pg, struct copybuf *c)
{
	if (c->len && PQputCopyData(pg, (const char *)c->b, (int)c->len) != 1) {
		fprintf(stderr, "mwbench: COPY: %s", PQerrorMessage(pg));
		exit(1);
	}
	c->len = 0;
}

/* The vocabulary's sums must be what the mock serves for the text: a bench of other vectors measures nothing. */
static void check_embedding(const struct opts *o, const char *text, const float *vec)
{
	float *want = malloc(sizeof(float) * (size_t)o->dims);

	if (!want)
		abort();
	hashembed(o->embedding, text, o->dims, want);
	if (memcmp(want, vec, sizeof(float) * (size_t)o->dims) != 0) {
		fprintf(stderr, "mwbench: the vocabulary's vector of \"%s\" is not hashembed's\n", text);
		exit(1);
	}
	free(want);
}

static void add_row(struct copybuf *c, const struct opts *o, int user, int i, struct vocab_vecs *vv, float *vec,
		    unsigned char *vbin, bool check)
{
	char text[128], hash[33], session[16], meta[40];
	unsigned words[MEMORY_WORDS];
	unsigned char jsonb[48];
	size_t mlen;

	memory_words(o, user, i, words);
	words_text(words, text, sizeof(text));
	mhash_memory(text, hash);
	vocab_vecs_embed(vv, words, vec);
	if (check)
		check_embedding(o, text, vec);
	if (vec_encode_pg(vec, o->dims, vbin, vec_pg_size(o->dims)) < 0)
		abort();
	snprintf(session, sizeof(session), "s%d", i % 5);
	mlen = (size_t)snprintf(meta, sizeof(meta), "{\"topic\": \"t%d\"}", i % 7);
	jsonb[0] = 1;	/* jsonb binary format version */
	memcpy(jsonb + 1, meta, mlen);
	put16(c, 6);
	put32(c, 4);
	put32(c, user);
	put_field(c, session, strlen(session));
	put_field(c, text, strlen(text));
	put_field(c, hash, 32);
	put_field(c, vbin, vec_pg_size(o->dims));
	put_field(c, jsonb, mlen + 1);
}

static int load(const struct opts *o)
{
	static const unsigned char header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0 };
	PGconn *pg = pg_connect(o->pg);
	struct copybuf c = { 0 };
	struct vocab_vecs vv;
	float *vec = malloc(sizeof(float) * (size_t)o->dims);
	double t0 = now_ms();
	unsigned char *vbin = malloc(vec_pg_size(o->dims));
	long long rows = 0, total = (long long)o->users * o->per_user + o->heavy;
	int heavy_user = o->users + 1, step, u, k, heavy_per_step;
	PGresult *r;

	vocab_vecs_init(&vv, o);
	/* triggers off for the load (counts are made once at the end), as pg_restore does */
	pg_ok(pg, "SET session_replication_role = replica");
	pg_ok(pg, "SET synchronous_commit = off");
	r = PQexec(pg, "COPY mem0_memories (user_id, session_id, memory, hash, embedding, metadata) FROM STDIN "
		       "(FORMAT binary)");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		fprintf(stderr, "mwbench: COPY: %s", PQerrorMessage(pg));
		return 1;
	}
	PQclear(r);
	put(&c, header, 11);
	put32(&c, 0);
	put32(&c, 0);
	/* time order: each step, every user gets one memory and the heavy user its share */
	heavy_per_step = o->per_user > 0 ? (o->heavy + o->per_user - 1) / o->per_user : o->heavy;
	for (step = 0; step < (o->per_user > 0 ? o->per_user : 1); step++) {
		for (u = 1; u <= o->users && step < o->per_user; u++) {
			add_row(&c, o, u, step, &vv, vec, vbin, rows % 10007 == 0);
			rows++;
			if (c.len > (1 << 20))
				flush_copy(pg, &c);
		}
		for (k = 0; k < heavy_per_step; k++) {
			int i = step * heavy_per_step + k;

			if (i >= o->heavy)
				break;
			add_row(&c, o, heavy_user, i, &vv, vec, vbin, rows % 10007 == 0);
			rows++;
		}
		if (c.len > (1 << 20))
			flush_copy(pg, &c);
		if (step % 10 == 9)
			fprintf(stderr, "\rmwbench: %lld / %lld rows (%.0f rows/s)", rows, total,
				rows / ((now_ms() - t0) / 1000.0));
	}
	put16(&c, -1);
	flush_copy(pg, &c);
	if (PQputCopyEnd(pg, NULL) != 1) {
		fprintf(stderr, "mwbench: COPY end: %s", PQerrorMessage(pg));
		return 1;
	}
	r = PQgetResult(pg);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "\nmwbench: COPY: %s", PQerrorMessage(pg));
		return 1;
	}
	PQclear(r);
	while ((r = PQgetResult(pg)))
		PQclear(r);
	fprintf(stderr, "\rmwbench: %lld rows copied in %.1f s%20s\n", rows, (now_ms() - t0) / 1000.0, "");
	pg_ok(pg, "INSERT INTO mem0_metadata (user_id, total_memories, last_memory_at) "
		  "SELECT user_id, count(*), max(created_at) FROM mem0_memories GROUP BY user_id "
		  "ON CONFLICT (collection_name, user_id) DO UPDATE SET total_memories = EXCLUDED.total_memories, "
		  "last_memory_at = EXCLUDED.last_memory_at");
	pg_ok(pg, "ANALYZE mem0_memories");
	pg_ok(pg, "ANALYZE mem0_metadata");
	printf("loaded %lld memories: %d users x %d + heavy user %d with %d, %d-d %s, in %.1f s\n", rows, o->users,
	       o->per_user, heavy_user, o->heavy, o->dims, hashembed_kind_name(o->embedding),
	       (now_ms() - t0) / 1000.0);
	PQfinish(pg);
	vocab_vecs_free(&vv);
	free(c.b);
	free(vec);
	free(vbin);
	return 0;
}

/* ---- run ---- */

struct population {
	const char *name;
	int first_user, nusers, count;	/* users first_user .. first_user+nusers-1, count memories each */
};

struct worker {
	const struct opts *o;
	const struct population *pop;
	pthread_t th;
	uint64_t rng;
	int todo;
	double *e2e, *took;
	int n, errors;
	char first_error[256];
	int *running;			/* mixed phase: the typical clients still sending (NULL elsewhere) */
	bool follower;			/* stops once *running is 0, however many it sent */
};

static int pick_user(const struct population *p, uint64_t *rng)
{
	return p->first_user + (int)(splitmix(rng) % (uint64_t)p->nusers);
}

/*
 * The end-to-end clients: each concurrent client its own Redis connection
 * (BLPOP blocks one), all driven by one thread's event loop, so the
 * driver's own CPU and scheduling (32 threads waking on a 2-core box) take
 * as little as they can from the processes measured. A client sends XADD
 * and BLPOP back to back and the next request once the reply is in.
 */
struct aclient {
	struct worker *w;
	redisAsyncContext *ac;
	char key[96];
	int sent;
	double t0;
};

static void aclient_next(struct aclient *c);

static void aclient_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct aclient *c = priv;
	struct worker *w = c->w;
	redisReply *r = reply;
	json_t *j;

	(void)ac;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		if (!w->errors++)
			snprintf(w->first_error, sizeof(w->first_error), "%s",
				 r ? "no reply within 10 s" : "Redis connection lost");
		if (!r)
			return;
	} else {
		w->e2e[w->n] = now_ms() - c->t0;
		j = json_loads(r->element[1]->str, 0, NULL);
		if (!j || !json_is_true(json_object_get(j, "ok"))) {
			if (!w->errors++)
				snprintf(w->first_error, sizeof(w->first_error), "%.255s", r->element[1]->str);
		} else {
			w->took[w->n] = json_number_value(json_object_get(j, "took_ms"));
			w->n++;
		}
		json_decref(j);
	}
	aclient_next(c);
}

static void aclient_next(struct aclient *c)
{
	struct worker *w = c->w;
	char query[128], user[16], deadline[32], rid[32];
	int u;

	if (c->sent == w->todo || (w->follower && *w->running == 0)) {
		if (w->running && !w->follower)
			--*w->running;
		redisAsyncDisconnect(c->ac);
		return;
	}
	u = pick_user(w->pop, &w->rng);
	query_text(w->o, u, w->pop->count, &w->rng, query, sizeof(query));
	snprintf(user, sizeof(user), "%d", u);
	snprintf(deadline, sizeof(deadline), "%lld", epoch_ms() + 10000);
	snprintf(rid, sizeof(rid), "%d", c->sent++);
	c->t0 = now_ms();
	redisAsyncCommand(c->ac, NULL, NULL, "XADD %s * op search user_db_id %s query %s limit 10 reply_to %s "
			  "request_id %s deadline_ms %s", w->o->stream, user, query, c->key, rid, deadline);
	redisAsyncCommand(c->ac, aclient_reply, c, "BLPOP %s 10", c->key);
}

static void run_clients(struct worker *w, int conc)
{
	struct event_base *base = event_base_new();
	struct aclient *c = calloc((size_t)conc, sizeof(*c));
	int i;

	for (i = 0; i < conc; i++) {
		c[i].w = &w[i];
		c[i].ac = w[i].o->redis_socket ? redisAsyncConnectUnix(w[i].o->redis_socket)
		                               : redisAsyncConnect("127.0.0.1", w[i].o->redis_port);
		if (!c[i].ac || c[i].ac->err) {
			fprintf(stderr, "mwbench: redis: %s\n", c[i].ac ? c[i].ac->errstr : "oom");
			exit(1);
		}
		if (rloop_attach(c[i].ac, base) < 0) {
			fprintf(stderr, "mwbench: redis: cannot attach to the loop\n");
			exit(1);
		}
		snprintf(c[i].key, sizeof(c[i].key), "bench:reply:%d:%d", (int)getpid(), i);
		aclient_next(&c[i]);
	}
	event_base_dispatch(base);	/* returns when every client has disconnected */
	event_base_free(base);
	free(c);
}

/* Appends a plan line with its vector literals ('[0.1,...]') cut to '[…]': a 1536-d one is 20 KB. */
static size_t plan_line(char *out, size_t cap, const char *line)
{
	size_t n = 0;

	while (*line && n + 8 < cap) {
		if (line[0] == '\'' && line[1] == '[') {
			const char *end = strchr(line, ']');

			if (end) {
				n += (size_t)snprintf(out + n, cap - n, "'[…]");
				line = end + 1;
				continue;
			}
		}
		out[n++] = *line++;
	}
	n += (size_t)snprintf(out + n, cap - n, "\n");
	return n;
}

/* EXPLAIN (ANALYZE) of sql with the given parameters: planning + execution ms, or the text plan into *plan_out. */
static double explain_one(PGconn *pg, const char *sql, int n, const char *const *vals, const int *lens,
			  const int *fmts, char **plan_out)
{
	size_t tlen = strlen(sql) + 64;
	char *text = malloc(tlen);
	double ms = NAN;
	PGresult *r;

	snprintf(text, tlen, "EXPLAIN (ANALYZE, BUFFERS, FORMAT %s) %s", plan_out ? "TEXT" : "JSON", sql);
	r = PQexecParams(pg, text, n, NULL, vals, lens, fmts, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && plan_out) {
		size_t len = 0, cap = 1;
		int i;

		for (i = 0; i < PQntuples(r); i++)
			cap += strlen(PQgetvalue(r, i, 0)) + 16;
		*plan_out = malloc(cap);
		(*plan_out)[0] = '\0';
		for (i = 0; i < PQntuples(r); i++)
			len += plan_line(*plan_out + len, cap - len, PQgetvalue(r, i, 0));
		ms = 0;
	} else if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		json_t *j = json_loads(PQgetvalue(r, 0, 0), 0, NULL);

		ms = json_number_value(json_object_get(json_array_get(j, 0), "Planning Time")) +
		     json_number_value(json_object_get(json_array_get(j, 0), "Execution Time"));
		json_decref(j);
	} else {
		fprintf(stderr, "mwbench: EXPLAIN: %s", PQerrorMessage(pg));
	}
	PQclear(r);
	free(text);
	return ms;
}

/*
 * memsearch's statements for one search (store_pg_search_sql), each under
 * EXPLAIN ANALYZE: planning + execution ms of the kNN (the plan choice asked
 * first, as memsearch's list of HNSW users would answer it).
 * With plan_out, the kNN's text plan instead (and the choice in *heavy).
 */
static double explain_search(PGconn *pg, const struct opts *o, int user, const float *vec, char **plan_out,
			     bool *heavy)
{
	struct store_search q = { .user = user, .vec = vec, .limit = LIMIT };
	struct store_pg_search_sql sql;
	char uid[16], lim[16], ef[16], minrows[16];
	unsigned char *vbin = malloc(vec_pg_size(o->dims));
	const char *cv[2] = { uid, minrows }, *ev[1] = { ef }, *sv[3] = { uid, (const char *)vbin, lim };
	int sl[3] = { 0, (int)vec_pg_size(o->dims), 0 }, sf[3] = { 0, 1, 0 };
	bool hnsw = false;
	double ms = 0, m;
	PGresult *r;

	store_pg_search_sql(&q, o->ef_search, &sql);
	snprintf(uid, sizeof(uid), "%d", user);
	snprintf(lim, sizeof(lim), "%d", LIMIT);
	snprintf(ef, sizeof(ef), "%d", sql.ef_search);
	snprintf(minrows, sizeof(minrows), "%d", STORE_PG_HNSW_MIN_ROWS);
	if (vec_encode_pg(vec, o->dims, vbin, vec_pg_size(o->dims)) < 0)
		abort();
	r = PQexecParams(pg, sql.choice, 2, NULL, cv, NULL, NULL, 0);
	hnsw = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (heavy)
		*heavy = hnsw;
	/* memsearch keeps the list of HNSW users (refreshed in the background): a search runs the kNN alone */
	if (hnsw) {
		pg_ok(pg, "BEGIN");
		PQclear(PQexecParams(pg, sql.hnsw_setup, 1, NULL, ev, NULL, NULL, 0));
		m = explain_one(pg, sql.hnsw, sql.nparams, sv, sl, sf, plan_out);
		pg_ok(pg, "COMMIT");
	} else {
		m = explain_one(pg, sql.exact, sql.nparams, sv, sl, sf, plan_out);
	}
	free(vbin);
	return ms + m;
}

static void *floor_worker(void *arg)
{
	struct worker *w = arg;
	PGconn *pg = pg_connect(w->o->pg);
	float *vec = malloc(sizeof(float) * (size_t)w->o->dims);
	char query[128];
	int i;

	for (i = 0; i < w->todo; i++) {
		int u = pick_user(w->pop, &w->rng);
		double t0, ms;

		query_text(w->o, u, w->pop->count, &w->rng, query, sizeof(query));
		hashembed(w->o->embedding, query, w->o->dims, vec);
		t0 = now_ms();
		ms = explain_search(pg, w->o, u, vec, NULL, NULL);
		if (isnan(ms)) {
			w->errors++;
			continue;
		}
		w->e2e[w->n] = now_ms() - t0;
		w->took[w->n++] = ms;
	}
	PQfinish(pg);
	free(vec);
	return NULL;
}

/* Runs conc workers (fn) sharing total requests; prints a line of figures. */
static void run_phase(const struct opts *o, const struct population *p, int conc, int total, bool sql_floor,
		      bool print)
{
	struct worker *w = calloc((size_t)conc, sizeof(*w));
	double *e2e = calloc((size_t)total + 1, sizeof(double)), *took = calloc((size_t)total + 1, sizeof(double));
	struct cpu_snap cpu0, cpu1;
	double t0, secs;
	int i, n = 0, errors = 0, off = 0;

	cpu_snap_take(&cpu0);
	t0 = now_ms();
	for (i = 0; i < conc; i++) {
		w[i].o = o;
		w[i].pop = p;
		w[i].rng = o->seed * 7919 + (uint64_t)i * 104729 + (uint64_t)conc * 31 + (sql_floor ? 17 : 0);
		w[i].todo = total / conc + (i < total % conc);
		w[i].e2e = e2e + off;
		w[i].took = took + off;
		off += w[i].todo;
		if (sql_floor)
			pthread_create(&w[i].th, NULL, floor_worker, &w[i]);
	}
	if (sql_floor) {
		for (i = 0; i < conc; i++)
			pthread_join(w[i].th, NULL);
	} else {
		run_clients(w, conc);
	}
	secs = (now_ms() - t0) / 1000.0;
	cpu_snap_take(&cpu1);
	/* compact the workers' slices */
	for (i = 0, off = 0; i < conc; i++) {
		memmove(e2e + n, w[i].e2e, sizeof(double) * (size_t)w[i].n);
		memmove(took + n, w[i].took, sizeof(double) * (size_t)w[i].n);
		n += w[i].n;
		errors += w[i].errors;
		if (w[i].errors && !off++)
			fprintf(stderr, "mwbench: first error: %s\n", w[i].first_error);
	}
	if (print && sql_floor)
		printf("  %-8s c=%-3d SQL floor  %6d q %7.0f QPS | EXPLAIN ANALYZE (plan+exec) p50 %7.3f p99 %7.3f ms"
		       " | client round trips p50 %7.3f ms\n",
		       p->name, conc, n, n / secs, pct(took, n, 50), pct(took, n, 99), pct(e2e, n, 50));
	else if (print)
		printf("  %-8s c=%-3d memsearch  %6d q %7.0f QPS | end-to-end p50 %7.3f p99 %7.3f ms | took_ms p50 "
		       "%7.3f p99 %7.3f ms%s\n",
		       p->name, conc, n, n / secs, pct(e2e, n, 50), pct(e2e, n, 99), pct(took, n, 50), pct(took, n, 99),
		       errors ? " (ERRORS)" : "");
	if (print && !sql_floor)
		cpu_snap_print(stdout, &cpu0, &cpu1, n + errors);
	cpu_snap_clear(&cpu0);
	cpu_snap_clear(&cpu1);
	if (print && errors)
		printf("  %d requests failed\n", errors);
	fflush(stdout);
	free(w);
	free(e2e);
	free(took);
}

/* recall@10: memsearch's answers against an exact scan without any index order. */
static void recall(const struct opts *o, const struct population *p, int nq)
{
	struct timeval tv = { 30, 0 };
	redisContext *rc = o->redis_socket ? redisConnectUnixWithTimeout(o->redis_socket, tv)
	                                   : redisConnectWithTimeout("127.0.0.1", o->redis_port, tv);
	PGconn *pg = pg_connect(o->pg);
	float *vec = malloc(sizeof(float) * (size_t)o->dims);
	double sum = 0, worst = 1;
	unsigned char *vbin = malloc(vec_pg_size(o->dims));
	uint64_t rng = o->seed * 31337 + 5;
	char key[64], query[128], user[16];
	int q, done = 0;

	redisSetTimeout(rc, tv);
	snprintf(key, sizeof(key), "bench:recall:%d", (int)getpid());
	pg_ok(pg, "SET enable_indexscan = off");	/* no HNSW order: a brute-force top 10 */
	for (q = 0; q < nq; q++) {
		int u = pick_user(p, &rng), i, hits = 0;
		const char *vals[2] = { user, (const char *)vbin };
		int lens[2] = { 0, (int)vec_pg_size(o->dims) }, fmts[2] = { 0, 1 };
		double kth;
		redisReply *r;
		json_t *j, *res;
		PGresult *pr;

		query_text(o, u, p->count, &rng, query, sizeof(query));
		snprintf(user, sizeof(user), "%d", u);
		r = redisCommand(rc, "XADD %s * op search user_db_id %s query %s limit 10 reply_to %s", o->stream, user,
				 query, key);
		freeReplyObject(r);
		r = redisCommand(rc, "BLPOP %s 30", key);
		if (!r || r->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			continue;
		}
		j = json_loads(r->element[1]->str, 0, NULL);
		freeReplyObject(r);
		res = json_object_get(j, "results");
		hashembed(o->embedding, query, o->dims, vec);
		if (vec_encode_pg(vec, o->dims, vbin, vec_pg_size(o->dims)) < 0)
			abort();
		pr = PQexecParams(pg, "SELECT embedding <=> $2::vector AS d FROM mem0_memories WHERE user_id = $1 "
				      "ORDER BY d LIMIT 10", 2, NULL, vals, lens, fmts, 0);
		if (PQresultStatus(pr) != PGRES_TUPLES_OK || PQntuples(pr) == 0) {
			PQclear(pr);
			json_decref(j);
			continue;
		}
		kth = atof(PQgetvalue(pr, PQntuples(pr) - 1, 0));
		/* a result counts when no true top-10 neighbour is strictly closer than it (ties are equal) */
		for (i = 0; i < (int)json_array_size(res) && i < 10; i++) {
			double d = 1 - json_number_value(json_object_get(json_array_get(res, (size_t)i), "score"));

			if (d <= kth + 1e-6)
				hits++;
		}
		sum += (double)hits / PQntuples(pr);
		if ((double)hits / PQntuples(pr) < worst)
			worst = (double)hits / PQntuples(pr);
		done++;
		PQclear(pr);
		json_decref(j);
	}
	printf("  %-8s recall@10 mean %.4f, worst %.2f over %d queries\n", p->name, done ? sum / done : 0, worst,
	       done);
	redisFree(rc);
	PQfinish(pg);
	free(vec);
	free(vbin);
}

/* One class of a mixed phase: its latencies (sorted in place). */
static void print_class(const char *name, double *e2e, double *took, int n)
{
	printf("  %-8s       end-to-end p50 %7.3f p99 %7.3f ms | took_ms p50 %7.3f p99 %7.3f ms (%d q)\n", name,
	       pct(e2e, n, 50), pct(e2e, n, 99), pct(took, n, 50), pct(took, n, 99), n);
}

/*
 * The heavy user amid the others: at concurrency conc, one client searches
 * as the heavy user and conc - 1 as typical users, each class's latency
 * reported on its own line. One person has one chat open, so this is how a
 * heavy user meets production traffic; the heavy phase above (every client
 * the heavy user) is the stress case.
 */
static void run_mixed(const struct opts *o, const struct population *typical, const struct population *heavy,
		      int conc, int total)
{
	struct worker *w = calloc((size_t)conc, sizeof(*w));
	double *e2e = calloc(2 * (size_t)total, sizeof(double)), *took = calloc(2 * (size_t)total, sizeof(double));
	struct cpu_snap cpu0, cpu1;
	double t0, secs;
	int i, off = 0, n[2] = { 0, 0 }, errors = 0, running = conc - 1;

	/* the heavy client sends for as long as the typical ones do: none of its searches meets an idle box */
	for (i = 0; i < conc; i++) {
		w[i].o = o;
		w[i].pop = i == 0 ? heavy : typical;
		w[i].rng = o->seed * 6151 + (uint64_t)i * 104729 + (uint64_t)conc * 37;
		w[i].todo = i == 0 ? total : total / conc;
		w[i].running = &running;
		w[i].follower = i == 0;
		w[i].e2e = e2e + off;
		w[i].took = took + off;
		off += w[i].todo;
	}
	cpu_snap_take(&cpu0);
	t0 = now_ms();
	run_clients(w, conc);
	secs = (now_ms() - t0) / 1000.0;
	cpu_snap_take(&cpu1);
	/* the heavy client's results stay first; the typical ones are compacted after them */
	n[0] = w[0].n;
	for (i = 1, off = w[0].n; i < conc; i++) {
		memmove(e2e + off, w[i].e2e, sizeof(double) * (size_t)w[i].n);
		memmove(took + off, w[i].took, sizeof(double) * (size_t)w[i].n);
		off += w[i].n;
		n[1] += w[i].n;
	}
	for (i = 0; i < conc; i++)
		if (w[i].errors && !errors++)
			fprintf(stderr, "mwbench: first error: %s\n", w[i].first_error);
	printf("  mixed    c=%-3d %d heavy + %d typical clients, %d q, %.0f QPS in all%s\n", conc, 1, conc - 1,
	       n[0] + n[1], (n[0] + n[1]) / secs, errors ? " (ERRORS)" : "");
	print_class("heavy", e2e, took, n[0]);
	print_class("typical", e2e + n[0], took + n[0], n[1]);
	cpu_snap_print(stdout, &cpu0, &cpu1, n[0] + n[1]);
	fflush(stdout);
	cpu_snap_clear(&cpu0);
	cpu_snap_clear(&cpu1);
	free(w);
	free(e2e);
	free(took);
}

static int run(const struct opts *o)
{
	struct population pops[2] = {
		{ "typical", 1, o->users, o->per_user },
		{ "heavy", o->users + 1, 1, o->heavy },
	};
	int npop = o->heavy > 0 ? 2 : 1, p, c;

	for (p = 0; p < npop; p++) {
		int total = p == 0 ? o->requests : o->heavy_requests;

		if (total < 1)	/* --requests 0 / --heavy-requests 0: that class is left out */
			continue;
		printf("== %s users (%d memories each)\n", pops[p].name, pops[p].count);
		/* warm the connections and caches a little, unmeasured */
		run_phase(o, &pops[p], 4, total < 400 ? total : 400, false, false);
		for (c = 0; c < o->nconc; c++) {
			run_phase(o, &pops[p], o->conc[c], total, false, true);
			if (!o->no_floor)
				run_phase(o, &pops[p], o->conc[c], total, true, true);
		}
		if (o->recall > 0)
			recall(o, &pops[p], p == 0 ? o->recall : (o->recall + 3) / 4);
	}
	if (npop == 2 && o->requests > 0 && o->heavy_requests > 0) {
		printf("== the heavy user amid typical users\n");
		for (c = 0; c < o->nconc; c++)
			if (o->conc[c] > 1)
				run_mixed(o, &pops[0], &pops[1], o->conc[c], o->requests);
	}
	return 0;
}

/* EXPLAIN (ANALYZE, BUFFERS) of one typical and one heavy search, for search/PLANS.md. */
static int explain(const struct opts *o)
{
	PGconn *pg = pg_connect(o->pg);
	float *vec = malloc(sizeof(float) * (size_t)o->dims);
	uint64_t rng = o->seed;
	int users[2] = { 1 + o->users / 2, o->users + 1 }, counts[2] = { o->per_user, o->heavy }, k;

	for (k = 0; k < (o->heavy > 0 ? 2 : 1); k++) {
		char query[128], *plan = NULL;

		query_text(o, users[k], counts[k], &rng, query, sizeof(query));
		hashembed(o->embedding, query, o->dims, vec);
		bool heavy = false;

		explain_search(pg, o, users[k], vec, NULL, NULL);	/* warm */
		explain_search(pg, o, users[k], vec, &plan, &heavy);
		printf("-- %s user %d (%d memories), query \"%s\": %s plan\n%s\n", k ? "heavy" : "typical", users[k],
		       counts[k], query, heavy ? "HNSW" : "exact", plan ? plan : "(failed)");
		free(plan);
	}
	PQfinish(pg);
	free(vec);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: mwbench search load|run|explain --pg CONNINFO [--users 10000] [--per-user 100] [--heavy 50000]\n"
		"         [--dims 1536] [--embedding sparse|dense] [--seed 1]\n"
		"       --embedding: the mock LLM's (common/hashembed.h), sparse unless told: the same for load,\n"
		"         run and explain as for the mock\n"
		"       run: --redis-port P [--redis-socket PATH] [--stream mem0:search] [--concurrency 1,32] [--requests 2000]\n"
		"         [--heavy-requests 500] [--recall 200] [--no-floor] [--ef-search 100]\n"
		"       --ef-search: memsearch's MEM0_HNSW_EF_SEARCH, for the SQL floor and explain\n");
}

int bench_search(int argc, char **argv)
{
	struct opts o = { .stream = "mem0:search", .users = 10000, .per_user = 100, .heavy = 50000, .dims = 1536,
			  .embedding = HASHEMBED_SPARSE, .seed = 1, .conc = { 1, 32 }, .nconc = 2, .requests = 2000,
			  .heavy_requests = 500, .recall = 200, .ef_search = STORE_PG_EF_SEARCH_DEFAULT };
	const char *mode;
	int i;

	if (argc < 2) {
		usage();
		return 2;
	}
	mode = argv[1];
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-floor") == 0) {
			o.no_floor = true;
			continue;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (strcmp(a, "--pg") == 0)
			o.pg = v;
		else if (strcmp(a, "--redis-port") == 0)
			o.redis_port = atoi(v);
		else if (strcmp(a, "--redis-socket") == 0)
			o.redis_socket = v;
		else if (strcmp(a, "--stream") == 0)
			o.stream = v;
		else if (strcmp(a, "--users") == 0)
			o.users = atoi(v);
		else if (strcmp(a, "--per-user") == 0)
			o.per_user = atoi(v);
		else if (strcmp(a, "--heavy") == 0)
			o.heavy = atoi(v);
		else if (strcmp(a, "--dims") == 0)
			o.dims = atoi(v);
		else if (strcmp(a, "--embedding") == 0) {
			if (hashembed_kind_parse(v, &o.embedding) < 0) {
				usage();
				return 2;
			}
		} else if (strcmp(a, "--seed") == 0)
			o.seed = strtoull(v, NULL, 10);
		else if (strcmp(a, "--requests") == 0)
			o.requests = atoi(v);
		else if (strcmp(a, "--heavy-requests") == 0)
			o.heavy_requests = atoi(v);
		else if (strcmp(a, "--recall") == 0)
			o.recall = atoi(v);
		else if (strcmp(a, "--ef-search") == 0)
			o.ef_search = atoi(v);
		else if (strcmp(a, "--concurrency") == 0) {
			char *copy = strdup(v), *save = NULL, *t;

			o.nconc = 0;
			for (t = strtok_r(copy, ",", &save); t && o.nconc < 8; t = strtok_r(NULL, ",", &save))
				o.conc[o.nconc++] = atoi(t);
			free(copy);
		} else {
			usage();
			return 2;
		}
	}
	if (!o.pg || o.users < 1 || o.per_user < 1 || o.heavy < 0 || o.dims < 1 || o.dims > VEC_MAX_DIMS) {
		usage();
		return 2;
	}
	if (strcmp(mode, "load") == 0)
		return load(&o);
	if (strcmp(mode, "explain") == 0)
		return explain(&o);
	if (strcmp(mode, "run") == 0 && (o.redis_port > 0 || o.redis_socket))
		return run(&o);
	usage();
	return 2;
}
