# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 12: syslog-ng 4.8's built-in parallelize() silently loses messages when a reload lands
while keyed messages are in flight (measured: 6 of 9 runs of 400k messages with 6 reloads lost
26-1450).  The module's element, same scenario: nothing lost, nothing duplicated, per-key order.
(The built-in itself is measured by make bench, bench/reload-loss.py: CI does not depend on its bug.)"""
import os

from syslogng import busy_reload_run


def test_busy_reloads_lose_nothing(tmp_path):
    total = int(os.environ.get("PARALLELIZE_RELOAD_MESSAGES", 400_000))
    report, seconds, output = busy_reload_run(str(tmp_path), 'parallelize(workers(4) partition-key("$HOST"));',
                                              total=total, reloads=6)
    print("busy reloads: %d messages, 6 reloads, %.1fs, %s" % (total, seconds, report))
    assert output.count("Configuration reload finished") == 6, output[-3000:]
    report.assert_exactly_once_in_order()
