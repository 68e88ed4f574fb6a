# SPDX-License-Identifier: GPL-2.0-or-later
"""How many workers: workers(auto) and the default follow the CPUs the process may use (its affinity
mask and a cgroup CPU quota), as the daemon reports them (its -v line, its counters, its threads)."""
import os
import re

import pytest

from syslogng import free_port, send_lines, syslog_lines, wait_for_lines

CPUS = sorted(os.sched_getaffinity(0))


def two_paths_config(ports, outs):
    """workers(auto) in one log path, the default (no workers()) in the other"""
    return "@version: 3.38\noptions { stats-level(1); };\n" + "".join("""
log {
  source { tcp(ip(127.0.0.1) port(%d) log-iw-size(10000)); };
  parallelize(%s);
  destination { file("%s"); };
  flags(flow-control);
};
""" % (port, option, out) for port, option, out in zip(ports, ("workers(auto)", ""), outs))


def start_and_read_sizes(daemon_factory, tmp_path, wrapper):
    """{workers-option: (workers, usable-cpus)} from the -v lines; the gauges and threads must agree"""
    ports = [free_port(), free_port()]
    outs = [str(tmp_path / "auto.log"), str(tmp_path / "default.log")]
    d = daemon_factory(two_paths_config(ports, outs), extra_args=["-v"], wrapper=wrapper).start(
        wait_for_port=ports[-1])
    sizes = {}
    for line in d.output().splitlines():
        if "parallelize(): starting" in line:
            tags = dict(re.findall(r"([\w-]+)='([^']*)'", line))
            sizes[tags["workers-option"]] = (int(tags["workers"]), int(tags["usable-cpus"]), tags["stats-id"])
    assert set(sizes) == {"auto", "default"}, d.output()
    gauges = {key[1]: value for key, value in d.stats().items() if key[3] == "parallelized_workers"}
    for workers, _, stats_id in sizes.values():
        assert gauges[stats_id] == workers, gauges
    assert len(d.worker_thread_ids()) == sum(workers for workers, _, _ in sizes.values())
    # and they work: each path delivers
    for port, out in zip(ports, outs):
        send_lines(port, syslog_lines(2000))
        assert wait_for_lines(out, 2000, daemon=d) == 2000
    return d, {option: (workers, cpus) for option, (workers, cpus, _) in sizes.items()}


@pytest.mark.parametrize("allowed", sorted({1, min(2, len(CPUS)), min(4, len(CPUS))}))
def test_auto_is_one_worker_per_allowed_cpu_but_one_and_the_default_one_per_cpu(daemon_factory, tmp_path,
                                                                                 allowed):
    cpu_list = ",".join(str(c) for c in CPUS[:allowed])
    _, sizes = start_and_read_sizes(daemon_factory, tmp_path, ["taskset", "-c", cpu_list])
    assert sizes["auto"] == (max(allowed - 1, 1), allowed), sizes
    assert sizes["default"] == (min(allowed, 16), allowed), sizes


def _writable_cpu_quota_cgroup():
    """(folder for a new cgroup, the quota file's name, its text for one CPU) in a writable hierarchy
    with a CPU controller (v2 cpu.max or v1 cpu.cfs_quota_us), or None"""
    if os.geteuid() != 0:
        return None
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        after = fields[fields.index("-") + 1:]
        fstype, mount_point, super_options = after[0], fields[4], after[2].split(",")
        if fstype == "cgroup2" and os.path.exists(os.path.join(mount_point, "cgroup.subtree_control")):
            with open(os.path.join(mount_point, "cgroup.controllers")) as f:
                if "cpu" in f.read().split():
                    return mount_point, "cpu.max", "100000 100000", "cgroup2"
        if fstype == "cgroup" and "cpu" in super_options and os.path.exists(
                os.path.join(mount_point, "cpu.cfs_quota_us")):
            return mount_point, "cpu.cfs_quota_us", "100000", "cgroup"
    return None


@pytest.mark.skipif(len(CPUS) < 2, reason="needs 2 CPUs: a quota of one must then make the difference")
def test_a_cgroup_cpu_quota_counts_as_fewer_cpus(daemon_factory, tmp_path):
    found = _writable_cpu_quota_cgroup()
    if not found:
        pytest.skip("no writable cgroup hierarchy with a CPU controller here")
    mount_point, quota_file, one_cpu, kind = found
    group = os.path.join(mount_point, "parallelize-test-%d" % os.getpid())
    os.mkdir(group)
    d = None
    try:
        if kind == "cgroup2":
            with open(os.path.join(mount_point, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
        else:
            with open(os.path.join(group, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
        with open(os.path.join(group, quota_file), "w") as f:
            f.write(one_cpu)
        # the daemon joins the group before it starts: the quota is there when the module counts
        join = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', group]
        d, sizes = start_and_read_sizes(daemon_factory, tmp_path, join)
        assert sizes == {"auto": (1, 1), "default": (1, 1)}, (kind, sizes)
    finally:
        if d:
            d.stop()
        os.rmdir(group)
