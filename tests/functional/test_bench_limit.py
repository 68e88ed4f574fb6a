"""make bench's `limit` configuration (bench/run-bench.py): in each round, as many independent
sequential daemons as the most workers, fed at once, each over its own connection with its own copy
of the load.  Run for real on a small heavy load: every daemon wrote every message exactly once
(the bench's own check reads their output files), the combined rate counts every daemon's messages,
and the report's round-by-round table gives, for each round, the workers' and the limit's speed-up
over that round's sequential run and the workers' share of the limit, from the runs themselves.
And the allocator axis's glibc tunables entries (NAME=GLIBC_TUNABLES=...), which run the same way."""
import json
import os
import subprocess

import syslogng

SRCDIR = os.environ.get("PARALLELIZE_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MESSAGES = 2000
ROUNDS = 2


def bench_process(outdir, configs, workloads="heavy", **settings):
    env = dict(os.environ, BENCH_WORKLOADS=workloads, BENCH_MESSAGES=str(MESSAGES), BENCH_RUNS=str(ROUNDS),
               BENCH_ALLOCATORS="glibc", BENCH_LATENCY_MESSAGES="0", BENCH_MAX_WORKERS="2")
    env.update(settings)
    return subprocess.run(["/usr/bin/python3", os.path.join(SRCDIR, "bench", "run-bench.py"), "--srcdir", SRCDIR,
                           "--module-dir", syslogng.module_dir(),
                           "--send-file", os.path.join(syslogng.builddir(), "bench", "send-file"),
                           "--outdir", str(outdir), "--configs", configs],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=600)


def run_bench(outdir, configs, workloads="heavy", **settings):
    out = bench_process(outdir, configs, workloads, **settings)
    assert out.returncode == 0, out.stdout[-4000:]
    with open(os.path.join(str(outdir), "results.json")) as f:
        data = json.load(f)
    with open(os.path.join(str(outdir), "results.md")) as f:
        return data, f.read()


def test_limit_runs_two_sequential_daemons_each_round_and_reports_them_per_round(tmp_path):
    data, md = run_bench(tmp_path, "seq,w2,limit")
    runs = data["runs"]
    limits = [r for r in runs if r["config"] == "limit"]
    assert sorted(r["run"] for r in limits) == list(range(ROUNDS))
    for r in limits:
        # both daemons' messages, each copy checked exactly once and in order by the bench
        assert r["daemons"] == 2 and r["messages"] == 2 * MESSAGES and r["in_order"], r
        assert abs(r["rate"] * r["seconds"] - 2 * MESSAGES) < 1, r
        assert r["cpu_s_per_m"] >= 0 and r["switches_per_k"] > 0, r
    # each daemon of each round had its own folder, configuration and port, and no parallelize()
    ports = set()
    for k in range(ROUNDS):
        for i in range(2):
            conf = os.path.join(str(tmp_path), "runs", "heavy-glibc-limit-%d-%d" % (k, i), "syslog-ng.conf")
            with open(conf) as f:
                text = f.read()
            assert "workers(" not in text and "partitions(" not in text
            ports.add(next(line for line in text.splitlines() if "port(" in line))
    assert len(ports) == 2 * ROUNDS
    # the round-by-round table, computed from the same round's runs
    by = {(r["config"], r["run"]): r for r in runs}
    section = md.split("The machine's limit, round by round:", 1)[1]
    table = [line for line in section.splitlines() if line.startswith("| heavy | ")]
    assert len(table) == ROUNDS, md
    for k, line in enumerate(table):
        cells = [c.strip() for c in line.strip("|").split("|")]
        seq, par, lim = by[("seq", k)], by[("w2", k)], by[("limit", k)]
        assert cells[1] == str(k + 1)
        assert [int(c) for c in cells[2:5]] == [round(seq["rate"]), round(par["rate"]), round(lim["rate"])]
        assert cells[5] == "%.2f×" % (par["rate"] / seq["rate"])
        assert cells[6] == "%.2f×" % (lim["rate"] / seq["rate"])
        assert cells[7] == "%.2f" % (par["rate"] / lim["rate"])
    # the summary row of the limit: kept order, the speed-up the median of its rounds
    row = next(r for r in data["summary"] if r["config"] == "limit")
    ratios = sorted(by[("limit", k)]["rate"] / by[("seq", k)]["rate"] for k in range(ROUNDS))
    assert abs(row["speedup"] - (ratios[0] + ratios[1]) / 2) < 1e-9 and row["in_order"]


def test_no_limit_for_workloads_not_asked_or_configs_left_out(tmp_path):
    # cheap is not in BENCH_LIMIT_WORKLOADS by default: limit asked for, none run for it
    data, md = run_bench(tmp_path / "cheap", "seq,w1,limit", workloads="cheap")
    assert {r["config"] for r in data["runs"]} == {"seq", "w1"}
    assert "limit, round by round" not in md and "`limit`" not in md
    # heavy is, but --configs leaves limit out
    data, md = run_bench(tmp_path / "heavy", "seq,w1")
    assert {r["config"] for r in data["runs"]} == {"seq", "w1"}
    assert "limit, round by round" not in md


def test_a_tunables_entry_runs_glibc_with_those_tunables_and_the_stock_run_with_none(tmp_path):
    """BENCH_ALLOCATORS NAME=GLIBC_TUNABLES=...: the stock malloc with glibc's malloc tunables, on the
    allocator axis like a preloaded allocator.  What each daemon ran with is read from its own
    environment (/proc/PID/environ): the entry's tunables, and none for the stock runs even when the
    caller's environment has some."""
    tunables = "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1"
    data, md = run_bench(tmp_path, "seq,w2", BENCH_ALLOCATORS="glibc,notcache=GLIBC_TUNABLES=" + tunables,
                         BENCH_ALLOCATOR_WORKLOADS="heavy", BENCH_LIMIT_WORKLOADS="",
                         GLIBC_TUNABLES="glibc.malloc.mxfast=0")
    runs = data["runs"]
    assert sorted({(r["allocator"], r["config"]) for r in runs}) == [
        ("glibc", "seq"), ("glibc", "w2"), ("notcache", "seq"), ("notcache", "w2")]
    for r in runs:
        assert r["messages"] == MESSAGES, r
        assert r["glibc_tunables"] == (tunables if r["allocator"] == "notcache" else None), r
    assert "notcache (GLIBC_TUNABLES=%s)" % tunables in md


def test_a_tunable_glibc_does_not_know_is_refused_before_any_run(tmp_path):
    # glibc itself would ignore it without a word, and the run would measure the stock malloc
    out = bench_process(tmp_path, "seq", BENCH_ALLOCATORS="glibc,typo=GLIBC_TUNABLES=glibc.malloc.tcache_cnt=0")
    assert out.returncode != 0
    assert "glibc has no tunable glibc.malloc.tcache_cnt" in out.stdout, out.stdout[-2000:]
    assert not os.path.exists(os.path.join(str(tmp_path), "runs"))
