/*
 * mockllm helpers: see mockllm.h. The mock is a child process with its
 * stdout on a pipe until it has said which port it took; it dies with the
 * test process (PR_SET_PDEATHSIG) if a test crashes before mockllm_stop.
 */
#include "mockllm.h"

#include "testenv.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct mockllm {
	pid_t pid;
	int port;
	char base_url[64];
	char endpoint[64];
};

/* Reads one line from fd within timeout_ms; "" on timeout or EOF. */
static void read_line(int fd, char *out, size_t outlen, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;
	size_t len = 0;

	out[0] = '\0';
	while (len + 1 < outlen) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long long left = until - tenv_now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		n = read(fd, out + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || out[len] == '\n') {
			out[len] = '\0';
			break;
		}
		out[++len] = '\0';
	}
}

struct mockllm *mockllm_start(int dims)
{
	return mockllm_start_embedding(dims, NULL);
}

struct mockllm *mockllm_start_embedding(int dims, const char *embedding)
{
	struct mockllm *m = calloc(1, sizeof(*m));
	char bin[512], dimsarg[16], line[128];
	int pipefd[2];
	pid_t parent = getpid();

	cr_assert(m);
	tenv_bin("mockllm", bin, sizeof(bin));
	snprintf(dimsarg, sizeof(dimsarg), "%d", dims > 0 ? dims : 1536);
	cr_assert(pipe(pipefd) == 0);
	m->pid = fork();
	cr_assert(m->pid >= 0);
	if (m->pid == 0) {
		char *argv[8] = {bin, (char *)"--port", (char *)"0", (char *)"--dims", dimsarg, NULL};
		int devnull = open("/dev/null", O_RDONLY);

		if (embedding) {
			argv[5] = (char *)"--embedding";
			argv[6] = (char *)embedding;
		}
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		dup2(devnull, 0);
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(bin, argv);
		_exit(127);
	}
	close(pipefd[1]);
	read_line(pipefd[0], line, sizeof(line), 10000);
	close(pipefd[0]);
	cr_assert(sscanf(line, "mockllm listening on 127.0.0.1:%d", &m->port) == 1, "%s did not start: '%s'", bin,
	          line);
	snprintf(m->base_url, sizeof(m->base_url), "http://127.0.0.1:%d/v1", m->port);
	snprintf(m->endpoint, sizeof(m->endpoint), "http://127.0.0.1:%d", m->port);
	return m;
}

int mockllm_stop(struct mockllm *m)
{
	int rc;

	if (!m)
		return -1;
	rc = tenv_stop(m->pid, SIGTERM, 5000);
	free(m);
	return rc;
}

int mockllm_port(const struct mockllm *m)
{
	return m->port;
}

const char *mockllm_base_url(const struct mockllm *m)
{
	return m->base_url;
}

const char *mockllm_endpoint(const struct mockllm *m)
{
	return m->endpoint;
}

struct buf {
	char *data;
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct buf *b = userp;
	size_t n = size * nmemb;
	char *p = realloc(b->data, b->len + n + 1);

	if (!p)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	char **retry_after = userp;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		const char *v = data + 12;
		size_t len = n - 12;

		while (len > 0 && *v == ' ') {
			v++;
			len--;
		}
		while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n'))
			len--;
		free(*retry_after);
		*retry_after = strndup(v, len);
	}
	return n;
}

void mockllm_http(struct mockllm *m, const char *method, const char *path, const char *body, long timeout_ms,
                  struct mockllm_reply *out)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct buf b = {NULL, 0};
	char url[512];

	cr_assert(e && h);
	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", m->port, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &out->retry_after);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = b.data ? b.data : strdup("");
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
}

void mockllm_reply_free(struct mockllm_reply *r)
{
	free(r->body);
	free(r->retry_after);
	r->body = r->retry_after = NULL;
}

static json_t *get_json(struct mockllm *m, const char *method, const char *path, const char *body)
{
	struct mockllm_reply r;
	json_error_t err;
	json_t *j;

	mockllm_http(m, method, path, body, 0, &r);
	cr_assert_eq(r.status, 200, "%s %s: HTTP %ld %s", method, path, r.status, r.body);
	j = json_loads(r.body, 0, &err);
	cr_assert(j, "%s %s: %s", method, path, err.text);
	mockllm_reply_free(&r);
	return j;
}

json_t *mockllm_requests(struct mockllm *m)
{
	return get_json(m, "GET", "/_mock/requests", NULL);
}

json_t *mockllm_stats(struct mockllm *m)
{
	return get_json(m, "GET", "/_mock/stats", NULL);
}

void mockllm_fault(struct mockllm *m, const char *fault_json)
{
	json_decref(get_json(m, "POST", "/_mock/faults", fault_json));
}

void mockllm_reset(struct mockllm *m)
{
	json_decref(get_json(m, "POST", "/_mock/reset", "{}"));
}
