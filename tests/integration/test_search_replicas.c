/*
 * memsearch replicas and Redis failures: two replicas share a burst of
 * requests and each request is answered exactly once; a private
 * redis-server is stopped and started again (empty: the stream and group
 * are gone) and memsearch reconnects, re-creates its group and answers.
 * Runs on both stores (MW_TEST_STORE: storeenv.h); on SQLite the replicas
 * share one file.
 */
#include "searchtest.h"
#include "testenv.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DIMS 8
#define BURST 300

/* "N answered" from the last line memsearch logs when it stops. */
static long answered_in_log(const char *path)
{
	char *log = tenv_slurp(path), *p;
	long n = -1;

	if (!log)
		return -1;
	p = strstr(log, "stopped; ");
	if (p)
		n = strtol(p + strlen("stopped; "), NULL, 10);
	free(log);
	return n;
}

Test(search_replicas, burst_answered_exactly_once, .init = tenv_require_servers, .timeout = 180)
{
	char keys[BURST][96], u[64];
	struct senv store;
	char *env[] = { (char *)"MEM0_READ_COUNT=4", NULL };
	struct stest_daemon d1, d2;
	redisContext *rc;
	float v[DIMS];
	char id[40];
	long a1, a2;
	int i;

	stest_store_setup(&store, "repl", DIMS);
	for (i = 0; i < 20; i++) {
		char text[32];

		snprintf(text, sizeof(text), "memory %d", i);
		stest_vec(v, DIMS, i, 0);
		stest_add(&store, 1 + i % 4, "s", text, NULL, v, DIMS, id);
	}
	stest_daemon_start(&d1, &store, DIMS, tenv_redis_port(), env);
	stest_daemon_start_replica(&d2, &d1, DIMS, tenv_redis_port(), env);
	rc = stest_redis(tenv_redis_port());

	/* one pipelined burst */
	for (i = 0; i < BURST; i++) {
		char user[8];

		snprintf(keys[i], sizeof(keys[i]), "mem0:reply:%s", tenv_unique("burst", u, sizeof(u)));
		snprintf(user, sizeof(user), "%d", 1 + i % 4);
		redisAppendCommand(rc, "XADD %s * op %s user_db_id %s reply_to %s request_id %d", d1.stream,
				   i % 2 ? "get_all" : "stats", user, keys[i], i);
	}
	for (i = 0; i < BURST; i++) {
		redisReply *r = NULL;

		cr_assert_eq(redisGetReply(rc, (void **)&r), REDIS_OK);
		freeReplyObject(r);
	}
	for (i = 0; i < BURST; i++) {
		redisReply *r = redisCommand(rc, "BLPOP %s 10", keys[i]);
		json_t *j;

		cr_assert(r && r->type == REDIS_REPLY_ARRAY, "request %d unanswered", i);
		j = json_loads(r->element[1]->str, 0, NULL);
		cr_expect(stest_ok(j), "request %d: %s", i, r->element[1]->str);
		cr_expect_eq(atoi(json_string_value(json_object_get(j, "request_id"))), i);
		json_decref(j);
		freeReplyObject(r);
	}
	usleep(300000);
	for (i = 0; i < BURST; i++) {
		redisReply *r = redisCommand(rc, "LLEN %s", keys[i]);

		cr_expect_eq(r->integer, 0, "request %d answered twice", i);
		freeReplyObject(r);
	}
	stest_daemon_stop(&d1);
	stest_daemon_stop(&d2);
	a1 = answered_in_log(d1.log);
	a2 = answered_in_log(d2.log);
	cr_expect_eq(a1 + a2, BURST, "answers: %ld + %ld", a1, a2);
	cr_expect(a1 > 0 && a2 > 0, "both replicas took a share: %ld and %ld", a1, a2);
	redisFree(rc);
	senv_teardown(&store);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static pid_t redis_start(int port, const char *dir)
{
	char p[16], bin[] = "/usr/bin/redis-server", logp[256];
	char *argv[] = { bin, (char *)"--port", p, (char *)"--bind", (char *)"127.0.0.1", (char *)"--save",
			 (char *)"", (char *)"--appendonly", (char *)"no", (char *)"--dir", (char *)dir, NULL };
	long long until = tenv_now_ms() + 5000;
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	snprintf(logp, sizeof(logp), "%s/redis-%d.log", dir, port);
	pid = stest_spawn(argv, NULL, logp);
	for (;;) {
		struct timeval tv = { 0, 200000 };
		redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
		bool up = c && !c->err;

		redisFree(c);
		if (up)
			return pid;
		cr_assert(tenv_now_ms() < until, "private redis-server did not start");
		usleep(20000);
	}
}

Test(search_replicas, redis_restart_reconnects, .init = tenv_require_servers, .timeout = 180)
{
	char dir[] = "/tmp/mwredis-XXXXXX", logp[256];
	struct senv store;
	struct stest_daemon d;
	redisContext *rc;
	json_t *j;
	pid_t redis;
	int port = free_port(), tries;
	long long t0;

	stest_store_setup(&store, "rrst", DIMS);
	cr_assert_not_null(mkdtemp(dir));
	redis = redis_start(port, dir);
	stest_daemon_start(&d, &store, DIMS, port, NULL);
	rc = stest_redis(port);
	j = stest_request(rc, d.stream, 5000, "op", "stats", "user_db_id", "1", NULL);
	cr_assert_not_null(j, "no answer before the restart");
	cr_expect(stest_ok(j));
	json_decref(j);
	redisFree(rc);

	/* stop Redis (nothing saved: it comes back empty), wait, start it again on the same port */
	cr_expect_eq(tenv_stop(redis, SIGTERM, 5000), 0);
	usleep(500000);
	redis = redis_start(port, dir);
	t0 = tenv_now_ms();
	rc = stest_redis(port);
	/* the first request may be sent before memsearch is back: it is then read from the re-created group */
	j = NULL;
	for (tries = 0; tries < 3 && !j; tries++)
		j = stest_request(rc, d.stream, 8000, "op", "stats", "user_db_id", "1", "request_id", "after", NULL);
	cr_assert_not_null(j, "no answer after the restart");
	cr_expect(stest_ok(j));
	cr_expect_str_eq(json_string_value(json_object_get(j, "request_id")), "after");
	json_decref(j);
	cr_expect(tenv_now_ms() - t0 < 15000);
	j = stest_request(rc, d.stream, 5000, "op", "get_all", "user_db_id", "1", NULL);
	cr_expect(j && stest_ok(j));
	json_decref(j);
	redisFree(rc);
	stest_daemon_stop(&d);
	tenv_stop(redis, SIGTERM, 5000);
	senv_teardown(&store);
	/* the private server's folder holds its log only (nothing is saved) */
	snprintf(logp, sizeof(logp), "%s/redis-%d.log", dir, port);
	unlink(logp);
	cr_expect_eq(rmdir(dir), 0, "%s: left behind", dir);
}
