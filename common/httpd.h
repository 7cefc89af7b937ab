/*
 * httpd: the daemons' operations endpoint (MEM0_METRICS_ADDR), libevent's
 * evhttp on the daemon's own loop:
 *   GET /metrics  Prometheus text format from a struct metrics
 *   GET /healthz  200 "ok" while the loop runs (liveness)
 *   GET /readyz   200 when every dependency the daemon reports is up, else
 *                 503; the JSON body names each: {"ready":false,
 *                 "checks":{"redis":"up","postgres":"down"}}, and any notes
 * Owns the evhttp and its listening socket; borrows the registry.
 */
#ifndef MW_HTTPD_H
#define MW_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct metrics;
struct httpd;
struct httpd_checks;

/* Fills the readiness checks, one httpd_check() per dependency; runs on the loop, per request. */
typedef void (*httpd_ready_cb)(void *arg, struct httpd_checks *c);
void httpd_check(struct httpd_checks *c, const char *name, bool up);
/*
 * A note beside the checks, for what works but not as configured (the
 * store's fallback): {"ready":true,"checks":{...},"notes":{"store":"..."}}.
 * Notes do not change readiness.
 */
void httpd_note(struct httpd_checks *c, const char *name, const char *text);

/*
 * Listens on addr ("host:port", "[v6]:port"; port 0 picks a free one)
 * before returning. NULL with a one-line reason in err if the address is
 * bad or taken. metrics and ready may be NULL (404 / always ready).
 */
struct httpd *httpd_new(struct event_base *base, const char *addr, struct metrics *metrics, httpd_ready_cb ready,
			void *arg, char *err, size_t errlen) __attribute__((warn_unused_result));
/* The bound port (useful with port 0). */
int httpd_port(const struct httpd *h);
/* Closes the socket and any open connection. */
void httpd_free(struct httpd *h);

#endif
