/*
 * memworker through outages, each test on private servers it may stop:
 * Redis restarted (losing its data: the group is created again), PostgreSQL
 * down for a while (batches retry, nothing is lost, nothing doubles), the
 * model down long enough that another replica would reclaim the entries if
 * the worker did not keep them fresh.
 */
#include "mockllm.h"
#include "testenv.h"
#include "workerenv.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct wenv w;
static struct tenv_server redis, pg;

static void teardown(void)
{
	wenv_teardown(&w);
	tenv_server_stop(&redis);
	tenv_server_stop(&pg);
}

TestSuite(outage, .fini = teardown, .timeout = 120);

Test(outage, redis_restart_then_work_goes_on)
{
	tenv_require_servers();
	tenv_redis_start(&redis);
	wenv_setup_on(&w, false, 0, redis.port);
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 1, "s", "before", "I like tea.", NULL));
	wenv_wait_idle(&w, 20000);

	tenv_server_stop(&redis);
	usleep(300000);
	tenv_server_restart(&redis);	/* empty: no stream, no group */
	wenv_redis_reconnect(&w);
	/* the worker reconnects and creates the group again (MKSTREAM) before reading */
	{
		long long until = tenv_now_ms() + 15000;
		redisReply *r = NULL;

		for (;;) {
			r = redisCommand(w.redis, "XINFO GROUPS %s", w.stream);
			if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
				break;
			freeReplyObject(r);
			r = NULL;
			cr_assert(tenv_now_ms() < until, "the worker never came back to Redis");
			usleep(50000);
		}
		freeReplyObject(r);
	}
	free(wenv_exchange(&w, 1, "s", "after", "I like coffee.", NULL));
	wenv_wait_idle(&w, 20000);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 1"), 2);
}

Test(outage, postgres_down_then_back_nothing_lost_nothing_doubled)
{
	char *log;

	tenv_require_servers();
	tenv_pg_start(&pg);
	wenv_setup_on(&w, false, pg.port, 0);
	wenv_start_worker(&w);
	free(wenv_exchange(&w, 2, "s", "a", "I live in Lisbon.", NULL));
	wenv_wait_idle(&w, 20000);

	tenv_server_stop(&pg);
	free(wenv_exchange(&w, 2, "s", "b", "I work as a pilot.", NULL));
	free(wenv_exchange(&w, 3, "s", "c", "I play the cello.", NULL));
	sleep(2);	/* batches fail and retry while PostgreSQL is away */
	tenv_server_restart(&pg);
	PQreset(w.pg);	/* the test's own connection died with the server */
	wenv_wait_idle(&w, 40000);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories"), 3);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_history"), 3);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_ingest_log"), 3);
	log = wenv_log(&w);
	cr_expect(strstr(log, "retrying in") != NULL, "no retry was logged:\n%s", log);
	free(log);
}

Test(outage, model_outage_longer_than_claim_idle_is_not_reclaimed)
{
	char *log;
	int a, b;

	wenv_setup(&w, false);
	w.extra_env[0] = "MEM0_CLAIM_IDLE_MS=300";
	w.extra_env[1] = "MEM0_LLM_MAX_RETRIES=0";
	mockllm_fault(w.mock, "{\"next\":[{\"kind\":\"500\",\"on\":\"chat\"}],\"times\":5}");
	a = wenv_start_worker(&w);
	free(wenv_exchange(&w, 4, "s", "o1", "I like sailing.", NULL));
	usleep(500000);
	b = wenv_start_worker(&w);
	wenv_wait_idle(&w, 60000);
	cr_expect_eq(wenv_count(&w, "SELECT count(*) FROM mem0_memories WHERE user_id = 4"), 1);
	wenv_stop_worker(&w, a, SIGTERM);
	wenv_stop_worker(&w, b, SIGTERM);
	log = wenv_log(&w);
	cr_expect(strstr(log, "reclaimed") == NULL, "an entry the first worker held was reclaimed:\n%s", log);
	free(log);
}
