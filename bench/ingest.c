/*
 * bench ingest: a deterministic corpus (users x exchanges of personal facts
 * with repeats and changes over time), XADDed as a chat backend would (one
 * entry per message), then waits until the group has acked everything and
 * reports throughput, model calls per message, XADD-to-commit latency and
 * the worker's peak RSS. Blocking clients: this is a driver, not a daemon.
 */
#include "bench.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const likes[] = { "sci-fi movies", "green tea", "jazz", "hiking", "chess", "sushi", "opera",
				     "cycling", "board games", "poetry", "running", "photography" };
static const char *const cities[] = { "Lisbon", "Porto", "Oslo", "Berlin", "Madrid", "Rome", "Paris", "Vienna" };
static const char *const jobs[] = { "a nurse", "a teacher", "an engineer", "a chef", "a pilot", "a lawyer" };
static const char *const pets[] = { "a dog named Rex", "a cat named Tom", "a parrot named Kiwi" };
static const char *const chatter[] = { "How are you today?", "Can you help me plan my week?",
				       "What's the weather like?", "Tell me a joke." };

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33);
}

#define PICK(a) a[rng() % (sizeof(a) / sizeof(a[0]))]

/* One user turn: facts, changes of earlier facts, repeats and chatter. */
static void user_turn(int k, char *out, size_t len)
{
	switch (rng() % 8) {
	case 0:
		snprintf(out, len, "I live in %s. I like %s.", PICK(cities), PICK(likes));
		break;
	case 1:
		snprintf(out, len, "I work as %s.", PICK(jobs));
		break;
	case 2:
		snprintf(out, len, "I have %s.", PICK(pets));
		break;
	case 3:
		snprintf(out, len, "I don't like %s anymore.", PICK(likes));
		break;
	case 4:
		snprintf(out, len, "%s", PICK(chatter));
		break;
	case 5:
		snprintf(out, len, "My name is User%d. I like %s.", k, PICK(likes));
		break;
	default:
		snprintf(out, len, "I like %s. I enjoy %s.", PICK(likes), PICK(likes));
		break;
	}
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static long long group_lag_pending(redisContext *r, const char *stream, const char *group)
{
	redisReply *rep = redisCommand(r, "XINFO GROUPS %s", stream);
	long long pending = -1, lag = -1;
	size_t i, j;

	for (i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
		redisReply *g = rep->element[i];
		bool ours = false;
		for (j = 0; j + 1 < g->elements; j += 2)
			if (strcmp(g->element[j]->str, "name") == 0 && strcmp(g->element[j + 1]->str, group) == 0)
				ours = true;
		for (j = 0; ours && j + 1 < g->elements; j += 2) {
			if (strcmp(g->element[j]->str, "pending") == 0)
				pending = g->element[j + 1]->integer;
			if (strcmp(g->element[j]->str, "lag") == 0 && g->element[j + 1]->type == REDIS_REPLY_INTEGER)
				lag = g->element[j + 1]->integer;
		}
	}
	freeReplyObject(rep);
	if (pending < 0 || lag < 0)
		return -1;
	return pending + lag;
}

static long vm_hwm_kb(int pid)
{
	char path[64], line[256];
	FILE *f;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = atol(line + 6);
	fclose(f);
	return kb;
}

static void usage(void)
{
	fprintf(stderr, "usage: mwbench ingest --redis-port P --pg CONNINFO --stream S [--group G] [--users N]\n"
			"       [--exchanges N] [--seed N] [--worker-pid PID] [--mock-url URL] [--timeout-s N]\n");
}

int bench_ingest(int argc, char **argv)
{
	const char *stream = NULL, *group = "memworker", *pg = NULL;
	int port = 0, users = 200, exchanges = 20, seed = 1, worker_pid = 0, timeout_s = 600, i, u, k;
	long long *xadd_ms, t0, t_sent, t_done;
	char **keys;
	int nmsg;
	redisContext *r;
	PGconn *conn;
	PGresult *res;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			usage();
			return 2;
		}
		if (strcmp(a, "--redis-port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--pg") == 0)
			pg = v;
		else if (strcmp(a, "--stream") == 0)
			stream = v;
		else if (strcmp(a, "--group") == 0)
			group = v;
		else if (strcmp(a, "--users") == 0)
			users = atoi(v);
		else if (strcmp(a, "--exchanges") == 0)
			exchanges = atoi(v);
		else if (strcmp(a, "--seed") == 0)
			seed = atoi(v);
		else if (strcmp(a, "--worker-pid") == 0)
			worker_pid = atoi(v);
		else if (strcmp(a, "--timeout-s") == 0)
			timeout_s = atoi(v);
		else {
			usage();
			return 2;
		}
		i++;
	}
	if (!stream || !pg || !port || users < 1 || exchanges < 1) {
		usage();
		return 2;
	}
	r = redisConnect("127.0.0.1", port);
	conn = PQconnectdb(pg);
	if (!r || r->err || PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "mwbench: cannot connect to Redis or PostgreSQL\n");
		return 1;
	}
	rng_state = (uint64_t)seed;
	nmsg = users * exchanges * 2;
	xadd_ms = calloc((size_t)nmsg, sizeof(long long));
	keys = calloc((size_t)nmsg, sizeof(char *));

	/* exchanges interleaved across users, as live traffic would be; pipelined XADDs */
	t0 = now_ms();
	for (k = 0, i = 0; k < exchanges; k++) {
		for (u = 0; u < users; u++) {
			char text[256], uid[16], sid[32], key[64];
			const char *reply = "Got it, thanks for telling me.";
			int m;

			user_turn(u, text, sizeof(text));
			snprintf(uid, sizeof(uid), "%d", 1000 + u);
			snprintf(sid, sizeof(sid), "sess-%d-%d", u, k / 10);
			for (m = 0; m < 2; m++, i++) {
				snprintf(key, sizeof(key), "bench-%d-%d-%d", u, k, m);
				keys[i] = strdup(key);
				redisAppendCommand(r, "XADD %s * user_db_id %s session_id %s role %s content %s message_id %s",
						   stream, uid, sid, m ? "assistant" : "user", m ? reply : text, key);
			}
		}
		/* read the replies of this round, stamping each XADD's time */
		for (int j = i - users * 2; j < i; j++) {
			redisReply *rep;
			if (redisGetReply(r, (void **)&rep) != REDIS_OK) {
				fprintf(stderr, "mwbench: XADD failed\n");
				return 1;
			}
			xadd_ms[j] = now_ms();
			freeReplyObject(rep);
		}
	}
	t_sent = now_ms();
	for (;;) {
		long long left = group_lag_pending(r, stream, group);
		if (left == 0)
			break;
		if (now_ms() - t0 > (long long)timeout_s * 1000) {
			fprintf(stderr, "mwbench: not done after %d s (%lld left)\n", timeout_s, left);
			return 1;
		}
		usleep(20000);
	}
	t_done = now_ms();

	/* commit times from the ingest log (transaction time of each batch) */
	res = PQexec(conn, "SELECT message_key, (extract(epoch FROM applied_at) * 1000)::bigint FROM mem0_ingest_log "
			   "WHERE message_key LIKE 'bench-%'");
	{
		int rows = PQntuples(res), n = 0;
		long long *lat = calloc((size_t)rows + 1, sizeof(long long));
		long long memories, history;

		for (i = 0; i < rows; i++) {
			const char *key = PQgetvalue(res, i, 0);
			long long at = atoll(PQgetvalue(res, i, 1));
			int uu, kk, mm;
			if (sscanf(key, "bench-%d-%d-%d", &uu, &kk, &mm) != 3)
				continue;
			/* index of the message in send order */
			{
				int idx = (kk * users + uu) * 2 + mm;
				if (idx >= 0 && idx < nmsg)
					lat[n++] = at - xadd_ms[idx];
			}
		}
		qsort(lat, (size_t)n, sizeof(long long), cmp_ll);
		PQclear(res);
		res = PQexec(conn, "SELECT (SELECT count(*) FROM mem0_memories), (SELECT count(*) FROM mem0_history)");
		memories = atoll(PQgetvalue(res, 0, 0));
		history = atoll(PQgetvalue(res, 0, 1));
		PQclear(res);
		printf("messages            %d (%d users x %d exchanges x 2)\n", nmsg, users, exchanges);
		printf("committed           %d\n", n);
		printf("xadd time           %.2f s\n", (t_sent - t0) / 1000.0);
		printf("total time          %.2f s (first XADD to last ack)\n", (t_done - t0) / 1000.0);
		printf("messages/s          %.0f\n", nmsg / ((t_done - t0) / 1000.0));
		printf("facts/s             %.0f (history rows: %lld; memories now %lld)\n",
		       history / ((t_done - t0) / 1000.0), history, memories);
		if (n > 0)
			printf("xadd->commit        p50 %lld ms, p99 %lld ms, max %lld ms\n", lat[n / 2], lat[(n * 99) / 100],
			       lat[n - 1]);
		if (worker_pid)
			printf("worker peak RSS     %.1f MB\n", vm_hwm_kb(worker_pid) / 1024.0);
		free(lat);
	}
	for (i = 0; i < nmsg; i++)
		free(keys[i]);
	free(keys);
	free(xadd_ms);
	PQfinish(conn);
	redisFree(r);
	return 0;
}
