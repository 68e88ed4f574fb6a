/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How many CPUs this process may use: the CPUs of its affinity mask
 * (taskset, systemd's CPUAffinity=, a container's cpuset), and fewer where a
 * cgroup CPU quota is set along its cgroup path (v2 cpu.max, v1
 * cpu.cfs_quota_us; systemd's CPUQuota=, docker --cpus), rounded up.
 * Read anew at every call: a reload sees a changed limit.
 */
#ifndef PARALLELIZE_CPUS_H_INCLUDED
#define PARALLELIZE_CPUS_H_INCLUDED

#include "syslog-ng.h"

gint parallelize_usable_cpus(void);

#endif
