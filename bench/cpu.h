/*
 * cpu: where a benchmark phase's CPU went, by program. A snapshot sums the
 * user + system time of every live process by its name (/proc/PID/stat)
 * and the machine's busy and idle time (/proc/stat); the difference of two
 * snapshots, divided by the requests served between them, is the CPU each
 * program spent per request. It is taken process by process: one that
 * started in between counts whole, one that exited in between is not
 * counted (the benchmarked daemons and PostgreSQL's backends live on).
 */
#ifndef MW_BENCH_CPU_H
#define MW_BENCH_CPU_H

#include <stdio.h>

#define CPU_GROUPS 6

struct cpu_proc {
	int pid, group;
	long long ticks;     /* utime + stime */
	long long sys_ticks; /* stime */
};

struct cpu_snap {
	struct cpu_proc *procs; /* sorted by pid */
	int n;
	double busy_ms, idle_ms; /* the whole machine, all cores */
	double kernel_ms;        /* of busy_ms: system, irq and softirq */
};

extern const char *const cpu_group_names[CPU_GROUPS];

/* Fills *s (free it with cpu_snap_clear); processes it cannot read are left out. */
void cpu_snap_take(struct cpu_snap *s);
void cpu_snap_clear(struct cpu_snap *s);

/*
 * Prints two lines: CPU ms per request of each group between a and b, and
 * how busy the machine's cores were; then the kernel's share of each.
 */
void cpu_snap_print(FILE *out, const struct cpu_snap *a, const struct cpu_snap *b, int requests);

#endif
