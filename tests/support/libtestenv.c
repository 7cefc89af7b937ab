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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

bool tenv_wait_log(const char *log_path, const char *needle, int timeout_ms)
{
	long long until = tenv_now_ms() + timeout_ms;

	do {
		char *log = tenv_slurp(log_path);
		bool found = log && strstr(log, needle);

		free(log);
		if (found)
			return true;
		usleep(20000);
	} while (tenv_now_ms() < until);
	return false;
}

/* ---- private servers ---- */

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int run_sh(const char *cmd)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL };
	char *out = NULL, *err = NULL;
	int rc = tenv_run(argv, NULL, &out, &err);

	if (rc != 0)
		fprintf(stderr, "%s: exit %d\n%s%s", cmd, rc, out, err);
	free(out);
	free(err);
	return rc;
}

static const char *pg_bin(void)
{
	const char *b = getenv("MW_TEST_PG_BIN");
	return b ? b : "/usr/lib/postgresql/15/bin";
}

static void server_dir(struct tenv_server *s, const char *what)
{
	char name[64];

	tenv_unique(what, name, sizeof(name));
	snprintf(s->dir, sizeof(s->dir), "%s/%s", getenv("MW_TEST_TMP") ? getenv("MW_TEST_TMP") : "/tmp", name);
	cr_assert(mkdir(s->dir, 0755) == 0 || errno == EEXIST);
}

static void redis_up(struct tenv_server *s)
{
	char cmd[1024];
	long long until = tenv_now_ms() + 10000;

	snprintf(cmd, sizeof(cmd),
		 "redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir %s "
		 "--pidfile %s/redis.pid --logfile %s/redis.log",
		 s->port, s->dir, s->dir, s->dir);
	cr_assert_eq(run_sh(cmd), 0, "redis-server did not start");
	snprintf(cmd, sizeof(cmd), "redis-cli -p %d ping >/dev/null 2>&1", s->port);
	while (run_sh(cmd) != 0) {
		cr_assert(tenv_now_ms() < until, "private redis did not answer");
		usleep(20000);
	}
	s->running = true;
}

void tenv_redis_start(struct tenv_server *s)
{
	memset(s, 0, sizeof(*s));
	server_dir(s, "redis");
	s->port = free_port();
	redis_up(s);
}

static void pg_up(struct tenv_server *s)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "%s %s/pg_ctl -D %s/pg -l %s/pg.log -w -t 60 -o '-p %d -k %s -c listen_addresses=127.0.0.1 "
		 "-c fsync=off' start >/dev/null",
		 getuid() == 0 ? "runuser -u postgres --" : "", pg_bin(), s->dir, s->dir, s->port, s->dir);
	cr_assert_eq(run_sh(cmd), 0, "private PostgreSQL did not start");
	s->running = true;
}

void tenv_pg_start(struct tenv_server *s)
{
	char cmd[1024];

	memset(s, 0, sizeof(*s));
	server_dir(s, "pg");
	if (getuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown postgres:postgres %s", s->dir);
		cr_assert_eq(run_sh(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "%s %s/initdb -D %s/pg -U postgres -A trust --no-sync -E UTF8 >/dev/null",
		 getuid() == 0 ? "runuser -u postgres --" : "", pg_bin(), s->dir);
	cr_assert_eq(run_sh(cmd), 0, "initdb failed");
	s->port = free_port();
	pg_up(s);
}

bool tenv_server_is_pg(const struct tenv_server *s)
{
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "%s/pg", s->dir);
	return stat(path, &st) == 0;
}

void tenv_server_stop(struct tenv_server *s)
{
	char cmd[1024];

	if (!s->running)
		return;
	if (tenv_server_is_pg(s))
		snprintf(cmd, sizeof(cmd), "%s %s/pg_ctl -D %s/pg -m immediate -w stop >/dev/null",
			 getuid() == 0 ? "runuser -u postgres --" : "", pg_bin(), s->dir);
	else
		snprintf(cmd, sizeof(cmd), "redis-cli -p %d shutdown nosave >/dev/null 2>&1; true", s->port);
	run_sh(cmd);
	s->running = false;
}

void tenv_server_restart(struct tenv_server *s)
{
	if (tenv_server_is_pg(s))
		pg_up(s);
	else
		redis_up(s);
}
