/*
 * testenv: see testenv.h.
 */
#include "testenv.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

long long tenv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int env_int(const char *name)
{
	const char *v = getenv(name);
	return v ? atoi(v) : 0;
}

void tenv_require_servers(void)
{
	if (!tenv_pg_port() || !tenv_redis_port())
		cr_skip_test("MW_TEST_PG_PORT / MW_TEST_REDIS_PORT not set: run scripts/test.sh");
}

int tenv_pg_port(void)
{
	return env_int("MW_TEST_PG_PORT");
}

int tenv_redis_port(void)
{
	return env_int("MW_TEST_REDIS_PORT");
}

PGconn *tenv_pg_connect(const char *dbname)
{
	char port[16];
	const char *keys[] = { "host", "port", "user", "dbname", NULL };
	const char *vals[] = { "127.0.0.1", port, "postgres", dbname, NULL };
	PGconn *conn;

	snprintf(port, sizeof(port), "%d", tenv_pg_port());
	conn = PQconnectdbParams(keys, vals, 0);
	cr_assert(PQstatus(conn) == CONNECTION_OK, "connect to %s: %s", dbname, PQerrorMessage(conn));
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	return conn;
}

const char *tenv_unique(const char *what, char *out, size_t outlen)
{
	static int n;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, outlen, "%s_%d_%ld_%d", what, (int)getpid(), (long)(ts.tv_nsec % 100000), ++n);
	return out;
}

PGconn *tenv_pg_new_db(const char *prefix, char *name_out)
{
	PGconn *admin = tenv_pg_connect("postgres");
	const char *id;
	char *q;

	tenv_unique(prefix, name_out, 64);
	id = name_out;
	q = PQescapeIdentifier(admin, id, strlen(id));
	{
		char sql[256];
		PGresult *r;

		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", q);
		r = PQexec(admin, sql);
		cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(admin));
		PQclear(r);
	}
	PQfreemem(q);
	PQfinish(admin);
	return tenv_pg_connect(name_out);
}

PGresult *tenv_pg_exec(PGconn *conn, const char *sql)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);

	cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "SQL failed: %s\n%s", sql, PQerrorMessage(conn));
	return r;
}

long long tenv_pg_count(PGconn *conn, const char *sql)
{
	PGresult *r = tenv_pg_exec(conn, sql);
	long long n;

	cr_assert_eq(PQntuples(r), 1, "expected one row from %s", sql);
	n = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

static char **merged_env(char *const extra[])
{
	size_t n = 0, m = 0, i, j;
	char **env;

	while (environ[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(char *));
	cr_assert(env);
	for (i = 0, j = 0; i < n; i++) {
		size_t k, klen = strcspn(environ[i], "=");
		int overridden = 0;

		for (k = 0; k < m; k++)
			if (strncmp(extra[k], environ[i], klen) == 0 && extra[k][klen] == '=')
				overridden = 1;
		if (!overridden)
			env[j++] = environ[i];
	}
	for (i = 0; i < m; i++)
		env[j++] = extra[i];
	env[j] = NULL;
	return env;
}

static char *read_fd_all(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	cr_assert(buf);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

int tenv_run(char *const argv[], char *const env[], char **out, char **err)
{
	char outpath[] = "/tmp/mwtest-out-XXXXXX", errpath[] = "/tmp/mwtest-err-XXXXXX";
	int ofd = mkstemp(outpath), efd = mkstemp(errpath), status;
	char **envp = merged_env(env);
	pid_t pid;

	cr_assert(ofd >= 0 && efd >= 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	lseek(ofd, 0, SEEK_SET);
	lseek(efd, 0, SEEK_SET);
	if (out)
		*out = read_fd_all(ofd);
	if (err)
		*err = read_fd_all(efd);
	close(ofd);
	close(efd);
	unlink(outpath);
	unlink(errpath);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

pid_t tenv_spawn(char *const argv[], char *const env[], const char *log_path)
{
	char **envp = merged_env(env);
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

int tenv_stop(pid_t pid, int sig, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;
	int status;

	kill(pid, sig);
	while (tenv_now_ms() < until) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

const char *tenv_bin(const char *name, char *out, size_t outlen)
{
	struct stat st;

	snprintf(out, outlen, "%s/%s", MW_BINARY_DIR, name);
	if (stat(out, &st) == 0)
		return out;
	snprintf(out, outlen, "%s/tests/%s", MW_BINARY_DIR, name);
	return out;
}

char *tenv_slurp(const char *path)
{
	int fd = open(path, O_RDONLY);
	char *s;

	if (fd < 0)
		return NULL;
	s = read_fd_all(fd);
	close(fd);
	return s;
}
