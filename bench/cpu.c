/*
 * cpu: see cpu.h. Reads /proc only; no state between calls.
 */
#include "cpu.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const cpu_group_names[CPU_GROUPS] = { "postgres", "memsearch", "redis", "mockllm", "mwbench", "other" };

static int group_of(const char *comm)
{
	if (strcmp(comm, "postgres") == 0)
		return 0;
	if (strcmp(comm, "memsearch") == 0)
		return 1;
	if (strncmp(comm, "redis-server", 12) == 0)
		return 2;
	if (strcmp(comm, "mockllm") == 0)
		return 3;
	if (strcmp(comm, "mwbench") == 0)
		return 4;
	return 5;
}

/* utime + stime of one process in clock ticks (stime in *sys), its name in comm; -1 if it is gone. */
static long long proc_ticks(const char *pid, char *comm, size_t len, long long *sys)
{
	char path[300], buf[1024], *open, *close, *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the name is in parentheses and may itself hold spaces and ')' */
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open)
		return -1;
	snprintf(comm, len, "%.*s", (int)(close - open - 1), open + 1);
	/* after ')': state is field 3; utime and stime are fields 14 and 15 */
	p = close + 2;
	for (field = 3; field < 14 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu %llu", &ut, &st) != 2)
		return -1;
	*sys = (long long)st;
	return (long long)(ut + st);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct cpu_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

void cpu_snap_take(struct cpu_snap *s)
{
	unsigned long long v[8] = { 0 };
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	struct dirent *e;
	char comm[64];
	int cap = 0;
	DIR *d;
	FILE *f;

	memset(s, 0, sizeof(*s));
	if ((d = opendir("/proc"))) {
		while ((e = readdir(d))) {
			long long t, sys;

			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			if ((t = proc_ticks(e->d_name, comm, sizeof(comm), &sys)) < 0)
				continue;
			if (s->n == cap) {
				cap = cap ? 2 * cap : 256;
				s->procs = realloc(s->procs, sizeof(*s->procs) * (size_t)cap);
				if (!s->procs)
					abort();
			}
			s->procs[s->n++] = (struct cpu_proc){ atoi(e->d_name), group_of(comm), t, sys };
		}
		closedir(d);
	}
	if (s->n)
		qsort(s->procs, (size_t)s->n, sizeof(*s->procs), cmp_pid);
	/* cpu  user nice system idle iowait irq softirq steal ... */
	if ((f = fopen("/proc/stat", "r"))) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		           &v[6], &v[7]) == 8) {
			s->idle_ms = (double)(v[3] + v[4]) * tick_ms;
			s->busy_ms = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * tick_ms;
			s->kernel_ms = (double)(v[2] + v[5] + v[6]) * tick_ms;
		}
		fclose(f);
	}
}

void cpu_snap_clear(struct cpu_snap *s)
{
	free(s->procs);
	memset(s, 0, sizeof(*s));
}

void cpu_snap_print(FILE *out, const struct cpu_snap *a, const struct cpu_snap *b, int requests)
{
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK), ms[CPU_GROUPS] = { 0 }, sys[CPU_GROUPS] = { 0 };
	double busy = b->busy_ms - a->busy_ms, all = busy + b->idle_ms - a->idle_ms, sum = 0;
	int g, i, j = 0;

	if (requests < 1)
		return;
	/* both sorted by pid: a process in b counts from where a had it, or whole if a had none */
	for (i = 0; i < b->n; i++) {
		long long before = 0, sbefore = 0;

		while (j < a->n && a->procs[j].pid < b->procs[i].pid)
			j++;
		/* the same pid with fewer ticks is a new process that reused it */
		if (j < a->n && a->procs[j].pid == b->procs[i].pid && a->procs[j].ticks <= b->procs[i].ticks)
			before = a->procs[j].ticks, sbefore = a->procs[j].sys_ticks;
		ms[b->procs[i].group] += (double)(b->procs[i].ticks - before) * tick_ms;
		sys[b->procs[i].group] += (double)(b->procs[i].sys_ticks - sbefore) * tick_ms;
	}
	fprintf(out, "           CPU ms/request:");
	for (g = 0; g < CPU_GROUPS; g++) {
		sum += ms[g] / requests;
		fprintf(out, " %s %.3f", cpu_group_names[g], ms[g] / requests);
	}
	fprintf(out, " | all %.3f (machine %.3f), cores %.0f%% busy\n", sum, busy / requests,
	        all > 0 ? 100.0 * busy / all : 0.0);
	/* the kernel's part: system calls, the loopback network, wake-ups */
	fprintf(out, "           of it in the kernel:");
	for (g = 0; g < CPU_GROUPS; g++)
		fprintf(out, " %s %.0f%%", cpu_group_names[g], ms[g] > 0 ? 100.0 * sys[g] / ms[g] : 0.0);
	fprintf(out, " | machine %.0f%%\n", busy > 0 ? 100.0 * (b->kernel_ms - a->kernel_ms) / busy : 0.0);
}
