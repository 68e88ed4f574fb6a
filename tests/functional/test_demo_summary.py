# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/demo.sh's summary (bench/demo-summary.py) on a results.json written by
bench/run-bench.py's own report writer, with different figures for every allocator,
workload and configuration: the stock labels show the stock (glibc) rows, each opt-in
allocator its own, and nothing else is printed.  No daemon is started."""
import importlib.util
import os
import re
import statistics
import subprocess

SRCDIR = os.environ.get("PARALLELIZE_SRCDIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SUMMARY = os.path.join(SRCDIR, "bench", "demo-summary.py")
LINE_RE = re.compile(r"^  (?P<label>\S.*?)\s+(?P<rate>\d+) msg/s\s+(?P<cpu>[\d.]+) CPU us/msg\s*(?P<note>.*)$")

# msg/s of the sequential runs, three rounds each; every allocator and workload its own figures
SEQ_RATES = {
    ("heavy", "glibc"): [22933, 21500, 24100],
    ("heavy", "mimalloc"): [22799, 23800, 21950],
    ("heavy", "jemalloc"): [20826, 19700, 21400],
    ("heavy", "tcmalloc"): [28353, 27100, 29900],
    ("cheap", "glibc"): [760000, 741000, 777000],
    ("cheap", "mimalloc"): [800000, 790000, 810000],
}
# workers(N) over sequential, per round
RATIOS = {
    ("heavy", "glibc"): [1.46, 1.52, 1.40],
    ("heavy", "mimalloc"): [2.06, 1.98, 2.11],
    ("heavy", "jemalloc"): [2.18, 2.25, 2.01],
    ("heavy", "tcmalloc"): [1.47, 1.55, 1.43],
    ("cheap", "glibc"): [1.15, 1.20, 1.10],
    ("cheap", "mimalloc"): [1.23, 1.30, 1.21],
}
CPU = {"glibc": 26.7, "mimalloc": 26.1, "jemalloc": 25.6, "tcmalloc": 24.9}


def load_run_bench():
    spec = importlib.util.spec_from_file_location("run_bench", os.path.join(SRCDIR, "bench", "run-bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rates(workload, allocator, config):
    seq = SEQ_RATES[(workload, allocator)]
    if config == "seq":
        return seq
    return [s * k for s, k in zip(seq, RATIOS[(workload, allocator)])]


def write_results(outdir, workers, online, allocators):
    """results.json as bench/run-bench.py writes it, from made-up runs."""
    rb = load_run_bench()
    par = "w%d" % workers
    results = []
    for (workload, allocator) in SEQ_RATES:
        if allocator not in allocators:
            continue
        for config, cpu_extra in (("seq", 0.0), (par, 1.0)):
            for run, rate in enumerate(rates(workload, allocator, config)):
                results.append(dict(workload=workload, allocator=allocator, config=config,
                                    workers=0 if config == "seq" else workers, run=run, messages=100000,
                                    seconds=100000 / rate, rate=rate,
                                    cpu_s_per_m=CPU[allocator] + cpu_extra + run * 0.2,
                                    switches_per_k=2.0 + cpu_extra * 3, outside_share=0.2,
                                    worker_share=0.0 if config == "seq" else 0.8,
                                    busiest_worker_share=0.0 if config == "seq" else 0.9,
                                    vm_hwm_mib=50.0, in_order=config == "seq"))
    workloads, labels = ["cheap", "heavy"], ["seq", par]
    rows = rb.summarize(results, workloads, labels, allocators)
    info = rb.machine_info()
    info.update(online=online, nproc=online, loadavg_end=info["loadavg"], bench_seconds=1.0,
                allocators={a: None if a == "glibc" else "/usr/lib/lib%s.so" % a for a in allocators})
    rb.write_report(str(outdir), info, rows, results, [], 3, workloads, labels, allocators)
    return os.path.join(str(outdir), "results.json")


def run_summary(path, workers):
    out = subprocess.run(["/usr/bin/python3", SUMMARY, path, str(workers)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    assert out.returncode == 0, out.stdout
    return out.stdout.splitlines()


def figure_lines(lines):
    """{label: (msg/s, CPU us/msg, note)} of every line with figures, and the labels in order."""
    found, order = {}, []
    for line in lines:
        m = LINE_RE.match(line)
        if m:
            assert m["label"] not in found, "label printed twice: %s" % line
            found[m["label"]] = (int(m["rate"]), float(m["cpu"]), m["note"])
            order.append(m["label"])
    return found, order


def expected(allocator, config):
    """(median msg/s, median CPU us/msg, median own ratio) of the heavy runs."""
    r = rates("heavy", allocator, config)
    cpu = CPU[allocator] + (0.0 if config == "seq" else 1.0) + 0.2
    return round(statistics.median(r)), cpu, statistics.median(RATIOS[("heavy", allocator)])


def test_stock_labels_show_the_stock_rows_and_each_opt_in_allocator_its_own(tmp_path):
    path = write_results(tmp_path, 2, 2, ["glibc", "jemalloc", "mimalloc", "tcmalloc"])
    lines = run_summary(path, 2)
    found, order = figure_lines(lines)
    assert order == ["sequential", "parallelize(workers(2))",
                     "mimalloc: sequential", "mimalloc: parallelize(workers(2))",
                     "jemalloc: sequential", "jemalloc: parallelize(workers(2))"], "\n".join(lines)
    # the stock lines come under the stock heading, before the opt-in heading
    text = "\n".join(lines)
    assert text.index("The stock daemon") < text.index("  sequential") < text.index("Opt-in") \
        < text.index("  mimalloc: sequential")
    assert "/usr/share/syslog-ng-mod-parallelize/allocator/" in text
    for label, allocator, config in (("sequential", "glibc", "seq"), ("parallelize(workers(2))", "glibc", "w2"),
                                     ("mimalloc: sequential", "mimalloc", "seq"),
                                     ("mimalloc: parallelize(workers(2))", "mimalloc", "w2"),
                                     ("jemalloc: sequential", "jemalloc", "seq"),
                                     ("jemalloc: parallelize(workers(2))", "jemalloc", "w2")):
        rate, cpu, ratio = expected(allocator, config)
        got_rate, got_cpu, note = found[label]
        assert abs(got_rate - rate) <= 1, (label, got_rate, rate)
        assert abs(got_cpu - cpu) < 0.051, (label, got_cpu, cpu)
        if config == "w2":
            own = "sequential" if allocator == "glibc" else "%s sequential" % allocator
            assert note.startswith("%.2fx %s" % (ratio, own)), (label, note)
    # the stock workers(2) ratio is glibc's own (1.46x), not another allocator's over glibc
    assert found["parallelize(workers(2))"][2] == "1.46x sequential"
    # the opt-in lines also give their ratio to the stock sequential run, said so
    stock_seq = SEQ_RATES[("heavy", "glibc")]
    mimalloc_par = rates("heavy", "mimalloc", "w2")
    vs_stock = statistics.median(p / s for p, s in zip(mimalloc_par, stock_seq))
    assert found["mimalloc: parallelize(workers(2))"][2].endswith("(%.2fx the stock sequential)" % vs_stock)
    # tcmalloc ran but is not one of the drop-ins: not printed; nor is the cheap workload
    assert "tcmalloc" not in text
    for rs in (rates("heavy", "tcmalloc", "seq"), rates("heavy", "tcmalloc", "w2"), rates("cheap", "glibc", "seq")):
        assert all("%d msg/s" % round(statistics.median(rs)) not in line for line in lines)


def test_the_demo_runs_only_the_allocators_it_prints(tmp_path):
    out = subprocess.run(["/usr/bin/python3", SUMMARY, "--bench-allocators"], stdout=subprocess.PIPE, text=True,
                         check=True)
    runs = out.stdout.strip().split(",")
    assert runs[0] == "glibc"
    path = write_results(tmp_path, 2, 2, runs)
    found, _ = figure_lines(run_summary(path, 2))
    printed = {label.split(":")[0] for label in found if ":" in label}
    assert printed == set(runs[1:])


def test_one_cpu_says_a_speed_up_needs_two_and_shows_the_figures(tmp_path):
    path = write_results(tmp_path, 1, 1, ["glibc", "mimalloc", "jemalloc"])
    lines = run_summary(path, 1)
    assert any("needs two or more" in line and "1 CPU" in line for line in lines), "\n".join(lines)
    found, _ = figure_lines(lines)
    assert found["sequential"][0] == expected("glibc", "seq")[0]
    assert abs(found["parallelize(workers(1))"][0] - expected("glibc", "w1")[0]) <= 1


def test_an_allocator_not_installed_is_named_without_figures(tmp_path):
    path = write_results(tmp_path, 2, 2, ["glibc", "mimalloc"])
    lines = run_summary(path, 2)
    assert any(line.split()[:1] == ["jemalloc"] and "libjemalloc2 not installed" in line for line in lines), \
        "\n".join(lines)
    found, _ = figure_lines(lines)
    assert not [label for label in found if label.startswith("jemalloc")]
    assert "mimalloc: sequential" in found
