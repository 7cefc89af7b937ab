/*
 * rloop against the real Redis: every path of the adapter (connect, the
 * flush at the end of a turn, a write larger than the socket takes, the
 * command and connect timers, cleanup from inside its own handlers).
 */
#include "rloop.h"
#include "testenv.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

struct run {
	struct event_base *base;
	redisAsyncContext *ac;
	int connected;		/* 1 ok, -1 failed */
	int disconnected;	/* 1 clean, -1 with an error */
	char errstr[128];
	long long replies, nulls, last;
	long long chain_left;
	char key[64];
	size_t got_len;
};

static void on_connect(redisAsyncContext *ac, int status)
{
	struct run *r = ac->data;

	r->connected = status == REDIS_OK ? 1 : -1;
	if (status != REDIS_OK) {
		snprintf(r->errstr, sizeof(r->errstr), "%s", ac->errstr);
		event_base_loopbreak(r->base);
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct run *r = ac->data;

	r->disconnected = status == REDIS_OK ? 1 : -1;
	if (status != REDIS_OK)
		snprintf(r->errstr, sizeof(r->errstr), "%s", ac->errstr);
	event_base_loopbreak(r->base);
}

static redisAsyncContext *open_ctx(struct run *r, int port, int cmd_timeout_ms)
{
	redisOptions opt = { 0 };
	struct timeval ct = { 2, 0 }, cmdt = { cmd_timeout_ms / 1000, (cmd_timeout_ms % 1000) * 1000 };
	redisAsyncContext *ac;

	REDIS_OPTIONS_SET_TCP(&opt, "127.0.0.1", port);
	opt.connect_timeout = &ct;
	if (cmd_timeout_ms > 0)
		opt.command_timeout = &cmdt;
	ac = redisAsyncConnectWithOptions(&opt);
	cr_assert(ac && !ac->err, "connect: %s", ac ? ac->errstr : "oom");
	ac->data = r;
	cr_assert_eq(rloop_attach(ac, r->base), 0);
	cr_assert_eq(rloop_attach(ac, r->base), -1, "a second attach is refused");
	redisAsyncSetConnectCallbackNC(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	r->ac = ac;
	return ac;
}

/* Small fixed socket buffers (no autotuning, which on loopback takes tens of MB): writes fill them for sure. */
static void small_buffers(int fd, int opt)
{
	int size = 64 * 1024;

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)), 0);
}

static void loop_for(struct run *r, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(r->base, &tv);
	event_base_dispatch(r->base);
}

static void count_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct run *r = priv;
	redisReply *rep = reply;

	(void)ac;
	if (!rep) {
		r->nulls++;
		return;
	}
	r->replies++;
	if (rep->type == REDIS_REPLY_INTEGER)
		r->last = rep->integer;
}

static void setup_run(struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	tenv_unique("rloop", r->key, sizeof(r->key));
}

TestSuite(rloop, .init = tenv_require_servers, .timeout = 30);

Test(rloop, commands_of_one_turn_arrive_in_order)
{
	struct run r;
	int i;

	setup_run(&r);
	open_ctx(&r, tenv_redis_port(), 2000);
	/* queued before the connect finished and all in one turn: one flush writes them */
	for (i = 0; i < 5000; i++)
		redisAsyncCommand(r.ac, count_reply, &r, "INCR %s", r.key);
	redisAsyncCommand(r.ac, count_reply, &r, "DEL %s", r.key);
	loop_for(&r, 200);
	cr_assert_eq(r.connected, 1);
	while (r.replies < 5001 && !r.disconnected)
		loop_for(&r, 100);
	cr_assert_eq(r.replies, 5001, "replies %lld", r.replies);
	cr_assert_eq(r.nulls, 0);
	cr_assert_eq(r.last, 1, "DEL came last, after INCR reached 5000");
	redisAsyncDisconnect(r.ac);
	loop_for(&r, 1000);
	cr_assert_eq(r.disconnected, 1);
	event_base_free(r.base);
}

static void chain_step(redisAsyncContext *ac, void *reply, void *priv)
{
	struct run *r = priv;
	redisReply *rep = reply;

	if (!rep) {
		r->nulls++;
		return;
	}
	r->last = rep->integer;
	/* a command from inside a reply callback: written by the next flush */
	if (--r->chain_left > 0)
		redisAsyncCommand(ac, chain_step, r, "INCR %s", r->key);
	else
		redisAsyncDisconnect(ac);	/* from inside a callback as well */
}

Test(rloop, commands_sent_from_reply_callbacks)
{
	struct run r;

	setup_run(&r);
	open_ctx(&r, tenv_redis_port(), 2000);
	r.chain_left = 2000;
	redisAsyncCommand(r.ac, chain_step, &r, "INCR %s", r.key);
	loop_for(&r, 10000);
	cr_assert_eq(r.disconnected, 1, "disconnected cleanly from a reply callback (%s)", r.errstr);
	cr_assert_eq(r.last, 2000);
	cr_assert_eq(r.nulls, 0);
	event_base_free(r.base);
}

static void got_value(redisAsyncContext *ac, void *reply, void *priv)
{
	struct run *r = priv;
	redisReply *rep = reply;

	(void)ac;
	if (rep && rep->type == REDIS_REPLY_STRING)
		r->got_len = rep->len;
	event_base_loopbreak(r->base);
}

Test(rloop, a_write_larger_than_the_socket_takes)
{
	size_t len = 8u << 20;	/* far past the 64 KB socket buffer: the write event must carry it */
	char *big = malloc(len);
	struct run r;

	cr_assert(big);
	memset(big, 'x', len);
	big[len / 2] = 'y';
	setup_run(&r);
	open_ctx(&r, tenv_redis_port(), 20000);
	small_buffers(r.ac->c.fd, SO_SNDBUF);
	/* connected and idle first: the write event of the connect is off again, so the flush meets the full socket */
	redisAsyncCommand(r.ac, count_reply, &r, "PING");
	while (r.replies < 1 && !r.disconnected)
		loop_for(&r, 50);
	r.replies = 0;
	redisAsyncCommand(r.ac, count_reply, &r, "SET %s %b", r.key, big, len);
	redisAsyncCommand(r.ac, got_value, &r, "GET %s", r.key);
	loop_for(&r, 25000);	/* got_value breaks the loop; valgrind needs seconds for this */
	cr_assert_eq(r.replies, 1, "SET answered");
	cr_assert_eq(r.got_len, len, "GET gave %zu bytes", r.got_len);
	redisAsyncCommand(r.ac, count_reply, &r, "DEL %s", r.key);
	redisAsyncDisconnect(r.ac);
	loop_for(&r, 2000);
	cr_assert_eq(r.disconnected, 1);
	free(big);
	event_base_free(r.base);
}

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

Test(rloop, a_full_socket_is_waited_for_not_polled)
{
	size_t len = 4u << 20;
	char *big = malloc(len);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	double cpu0, spent;
	struct run r;

	/* a peer that accepts the connection and never reads from it */
	cr_assert(big && lfd >= 0);
	memset(big, 'x', len);
	small_buffers(lfd, SO_RCVBUF);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	setup_run(&r);
	open_ctx(&r, ntohs(sa.sin_port), 0);
	small_buffers(r.ac->c.fd, SO_SNDBUF);
	loop_for(&r, 100);
	cr_assert_eq(r.connected, 1);
	/* queued on an idle connection: the flush writes, the socket fills, the rest must wait for it */
	redisAsyncCommand(r.ac, count_reply, &r, "SET %s %b", r.key, big, len);
	loop_for(&r, 100);
	/* the socket is full now: the loop should sleep until it drains, not retry every turn */
	cpu0 = cpu_ms();
	loop_for(&r, 500);
	spent = cpu_ms() - cpu0;
	cr_assert(spent < 150, "%.0f ms of CPU in 500 ms of waiting on a full socket", spent);
	cr_assert_eq(r.replies, 0);
	redisAsyncFree(r.ac);	/* the pending SET's callback gets no reply */
	cr_assert_eq(r.nulls, 1);
	close(lfd);
	free(big);
	event_base_free(r.base);
}

Test(rloop, a_command_past_its_timeout_fails_the_connection)
{
	struct tenv_server s = { 0 };
	redisContext *other;
	struct run r;
	redisReply *rep;
	long long t0, took;

	/* a private server: CLIENT PAUSE holds every client of the server, the other tests' too */
	tenv_redis_start(&s);
	other = redisConnect("127.0.0.1", s.port);
	cr_assert(other && !other->err);
	setup_run(&r);
	open_ctx(&r, s.port, 300);
	redisAsyncCommand(r.ac, count_reply, &r, "PING");
	while (r.replies < 1 && !r.disconnected)
		loop_for(&r, 50);
	cr_assert_eq(r.replies, 1);
	/* the server holds every client's commands for 1.5 s; ours gives up at 300 ms */
	rep = redisCommand(other, "CLIENT PAUSE 1500 ALL");
	cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
	freeReplyObject(rep);
	t0 = tenv_now_ms();
	redisAsyncCommand(r.ac, count_reply, &r, "INCR %s", r.key);
	loop_for(&r, 3000);
	took = tenv_now_ms() - t0;
	cr_assert_eq(r.disconnected, -1, "the connection failed");
	cr_assert(strstr(r.errstr, "Timeout"), "error: %s", r.errstr);
	cr_assert_eq(r.nulls, 1, "the pending command's callback got no reply");
	cr_assert(took >= 250 && took < 1400, "failed after %lld ms", took);
	redisFree(other);
	tenv_server_stop(&s);
	event_base_free(r.base);
}

Test(rloop, an_idle_connection_outlives_its_timeout)
{
	struct tenv_server s = { 0 };
	struct run r;

	/* a private server: a shared one busy with the other tests' large values may well pass 200 ms */
	tenv_redis_start(&s);
	setup_run(&r);
	open_ctx(&r, s.port, 200);
	redisAsyncCommand(r.ac, count_reply, &r, "PING");
	loop_for(&r, 1000);	/* five timeouts long, nothing pending after the PING */
	cr_assert_eq(r.replies, 1);
	cr_assert_eq(r.disconnected, 0, "idle is not a timeout (%s)", r.errstr);
	redisAsyncCommand(r.ac, count_reply, &r, "PING");
	while (r.replies < 2 && !r.disconnected)
		loop_for(&r, 50);
	cr_assert_eq(r.replies, 2);
	redisAsyncDisconnect(r.ac);
	loop_for(&r, 1000);
	cr_assert_eq(r.disconnected, 1);
	tenv_server_stop(&s);
	event_base_free(r.base);
}

Test(rloop, a_refused_connect_fails_once)
{
	struct tenv_server s = { 0 };
	struct run r;

	/* a port that was just Redis's and is closed now */
	tenv_redis_start(&s);
	tenv_server_stop(&s);
	setup_run(&r);
	open_ctx(&r, s.port, 1000);
	redisAsyncCommand(r.ac, count_reply, &r, "PING");
	loop_for(&r, 3000);
	cr_assert_eq(r.connected, -1, "connect failed");
	cr_assert_eq(r.nulls, 1, "the queued command's callback got no reply");
	cr_assert_eq(r.replies, 0);
	event_base_free(r.base);
}

Test(rloop, a_connection_the_server_closes)
{
	redisContext *other = redisConnect("127.0.0.1", tenv_redis_port());
	struct run r;
	redisReply *rep;

	cr_assert(other && !other->err);
	setup_run(&r);
	open_ctx(&r, tenv_redis_port(), 5000);
	redisAsyncCommand(r.ac, count_reply, &r, "CLIENT SETNAME %s", "rloop-victim");
	while (r.replies < 1 && !r.disconnected)
		loop_for(&r, 50);
	rep = redisCommand(other, "CLIENT LIST");
	cr_assert(rep && rep->type == REDIS_REPLY_STRING);
	{
		/* kill ours by its name's id */
		char *p = strstr(rep->str, "name=rloop-victim"), *line;
		long long id = -1;

		cr_assert(p, "our client is listed");
		for (line = p; line > rep->str && line[-1] != '\n'; line--)
			;
		cr_assert_eq(sscanf(line, "id=%lld", &id), 1);
		freeReplyObject(rep);
		rep = redisCommand(other, "CLIENT KILL ID %lld", id);
		cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1);
		freeReplyObject(rep);
	}
	loop_for(&r, 3000);
	cr_assert_eq(r.disconnected, -1, "the loss was noticed");
	redisFree(other);
	event_base_free(r.base);
}
