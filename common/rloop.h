/*
 * rloop: a hiredis async context on a libevent loop, in place of hiredis's
 * own adapter (adapters/libevent.h). That one re-registers the socket with
 * epoll (event_del + event_add) whenever hiredis wants to write, stops
 * writing or refreshes its timeout, which it does for every command: a
 * request/reply daemon paid several epoll_ctl calls per request. Here the
 * read event is added once; what the loop's turn queued is written when
 * that turn's callbacks are done, in one send, as Redis's server writes its
 * replies before it sleeps; a write event is armed only while connecting or
 * while the socket takes no more; the timeout is a timer of its own, which
 * libevent moves without a system call. Runs on the base it is given.
 */
#ifndef MW_RLOOP_H
#define MW_RLOOP_H

#include <hiredis/async.h>

struct event_base;

/*
 * Attaches ac (just created, nothing attached yet) to base. hiredis owns
 * what this allocates and frees it through its cleanup hook, also when that
 * happens inside one of the callbacks this installs. Returns 0, or -1 (out
 * of memory, or something already attached).
 */
int rloop_attach(redisAsyncContext *ac, struct event_base *base) __attribute__((warn_unused_result));

#endif
