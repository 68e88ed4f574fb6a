# SPDX-License-Identifier: GPL-2.0-or-later
"""docs/scaling-out.md, layouts 1 and 2, run from the guide's own files (docs/examples/scale-out/)
on 127.0.0.1: three sender daemons, HAProxy in TCP mode or the keyed front, two relays with
worker-pool(workers(2) partition-key("$HOST")), and a collector that writes what each relay
forwarded to a file of its own.  Then a relay reloaded and a relay restarted while messages
flow, against the same layout without worker-pool(): what the host and TCP lose anyway is
reported, what the relays lose of what they had read is compared."""
import hashlib
import os
import re
import subprocess

import pytest

import scaleout
from syslogng import HOST, count_lines, read_sequences, syntax_check, wait_for

HOSTS = 20
PER_SENDER = int(os.environ.get("PARALLELIZE_SCALE_OUT_MESSAGES", 50_000))
SENDERS = 3

needs_haproxy = pytest.mark.skipif(
    scaleout.haproxy_binary() is None,
    reason="haproxy is not installed on this host (scripts/install-deps.sh installs it on Debian 12, "
           "scripts/debian13.sh in the Debian 13 root)")


@pytest.fixture
def layouts(tmp_path):
    """Start layouts for a test; every process of each is stopped when it ends."""
    started = []

    def make(name, *args, **kwargs):
        layout = scaleout.Layout(str(tmp_path / name), *args, **kwargs)
        started.append(layout)
        return layout.start()

    yield make
    for layout in started:
        layout.close()


def run_stream(layout, per_sender=PER_SENDER):
    total = per_sender * SENDERS
    for feeder in layout.feed(per_sender, hosts=HOSTS):
        feeder.join(timeout=300)
    layout.wait_delivered(total)
    return layout.report(total)


def assert_each_relay_spread_its_messages_over_both_workers(layout):
    """The relays' own counters: every message a relay forwarded went through its worker-pool(),
    and both of its workers had some."""
    for i, relay in enumerate(layout.relays):
        forwarded = count_lines(layout.outputs[i])
        processed = relay.parallelize_counters("parallelized_processed_events_total")
        assert processed["total"] == forwarded, (i, processed, forwarded)
        assert processed["worker0"] > 0 and processed["worker1"] > 0, (i, processed)


@needs_haproxy
def test_haproxy_tier_delivers_exactly_once_in_order_per_key(layouts):
    """Layout 1: HAProxy balances the senders' connections over the relays; all of a connection
    stays on one relay, where partition-key() keeps each key's order."""
    layout = layouts("haproxy", "haproxy")
    report = run_stream(layout)
    print("layout 1 (HAProxy): %s" % report)
    report.assert_exactly_once_in_order()

    senders = layout.senders_by_relay()
    print("senders per relay: %s" % senders)
    assert all(senders), "HAProxy left a relay without a connection: %s" % senders
    assert set.union(*senders) == set(range(SENDERS))
    assert not set.intersection(*senders), "a connection's messages reached two relays: %s" % senders
    assert_each_relay_spread_its_messages_over_both_workers(layout)


def owner(host, relays=2):
    """The relay that front.conf sends a host to, computed here with Python's own SHA-1:
    $(floor $(% 0x$(sha1 --length 8 $HOST) N))."""
    return int(hashlib.sha1(host).hexdigest()[:8], 16) % relays


def test_keyed_front_keeps_each_key_on_one_relay(layouts):
    """Layout 2: the front sends each host to the relay that owns it, whichever sender it came
    from; there partition-key() keeps it on one worker, in order."""
    layout = layouts("front", "front")
    report = run_stream(layout)
    print("layout 2 (keyed front): %s" % report)
    report.assert_exactly_once_in_order()

    hosts = layout.tokens_by_relay(0)
    print("hosts per relay: %s" % [sorted(h.decode() for h in per_relay) for per_relay in hosts])
    assert set.union(*hosts) == {b"h%d" % h for h in range(HOSTS)}
    for i, per_relay in enumerate(hosts):
        assert per_relay, "relay %d got no host" % i
        assert all(owner(host) == i for host in per_relay), (i, sorted(per_relay))
    # every sender's connection fed both relays: the key, not the connection, chose the relay
    assert layout.senders_by_relay() == [set(range(SENDERS))] * 2
    assert_each_relay_spread_its_messages_over_both_workers(layout)


def reload_and_restart_run(make, name, worker_pool, per_sender):
    """Layout 1 at full speed; the relay with more connections is reloaded when it forwarded a
    third of their messages, the other one restarted (SIGTERM, started again on the same disk
    buffer) when it forwarded half of its own.  Returns {event: figures} for the senders each
    relay had when the stream began."""
    layout = make(name, "haproxy", worker_pool=worker_pool, witness=True)
    total = per_sender * SENDERS
    feeders = layout.feed(per_sender, hosts=HOSTS)

    def every_connection_placed():
        senders = layout.senders_by_relay()
        return senders if all(senders) and sum(map(len, senders)) == SENDERS else None

    senders = wait_for(every_connection_placed, timeout=60, what="every sender's first messages")
    reloaded = max(range(2), key=lambda i: len(senders[i]))
    restarted = 1 - reloaded
    pending = {"reload": len(senders[reloaded]) * per_sender // 3,
               "restart": len(senders[restarted]) * per_sender // 2}

    def next_event():
        for event, relay in (("reload", reloaded), ("restart", restarted)):
            if event in pending and count_lines(layout.outputs[relay]) >= pending[event]:
                return event
        return None

    while pending:
        event = wait_for(next_event, timeout=120, interval=0.01, what="the next event")
        del pending[event]
        if event == "reload":
            layout.relays[reloaded].reload_ok()
        else:
            relay = layout.relays[restarted]
            relay.stop()
            relay.start(wait_for_port=layout.relay_ports[restarted])
    for feeder in feeders:
        feeder.join(timeout=300)
    layout.wait_delivered(total, quiet=1.0)
    report = layout.report(total)

    figures = {}
    for event, relay in (("reload", reloaded), ("restart", restarted)):
        theirs = [seq for sender in senders[relay] for seq in range(sender * per_sender, (sender + 1) * per_sender)]
        lost = [seq for seq in theirs if not report.seen[seq]]
        read = layout.relay_read(relay)
        figures[event] = dict(senders=sorted(senders[relay]), messages=len(theirs), lost=len(lost),
                              lost_after_read=sum(1 for seq in lost if seq in read),
                              first_lost=lost[:1], last_lost=lost[-1:])
    figures["all"] = dict(duplicates=report.duplicates, out_of_order=report.out_of_order,
                          foreign=report.foreign)
    # the keys of the reloaded relay's senders: in order (the restarted relay's senders moved)
    figures["reload"]["in_order"] = all(
        seqs == sorted(seqs) for key, seqs in layout_sequences(layout).items()
        if int(key.split(b"-")[0][1:]) in senders[reloaded])
    return figures


def layout_sequences(layout):
    merged = {}
    for path in layout.outputs:
        for key, seqs in read_sequences(path).items():
            merged.setdefault(key, []).extend(seqs)
    return merged


@needs_haproxy
def test_relay_reload_and_restart_cost_no_more_than_without_worker_pool(layouts):
    per_sender = int(os.environ.get("PARALLELIZE_SCALE_OUT_EVENT_MESSAGES", 40_000))
    results = {}
    for name, worker_pool in (("plain", False), ("worker-pool", True)):
        results[name] = reload_and_restart_run(layouts, name, worker_pool, per_sender)
        print("%-12s %s" % (name, results[name]))
    ours, plain = results["worker-pool"], results["plain"]

    # a reload keeps connections and queues: nothing lost, nothing duplicated, order kept
    assert ours["reload"]["lost"] <= plain["reload"]["lost"], results
    assert ours["reload"]["in_order"] or not plain["reload"]["in_order"], results
    assert ours["all"]["duplicates"] <= plain["all"]["duplicates"], results
    # a restart loses what sat in TCP buffers between the sender and the relay (no
    # application-level acknowledgement): how much depends on timing, and is reported above.
    # What the relay had read survives in its reliable disk buffer, with or without workers.
    assert ours["restart"]["lost_after_read"] <= plain["restart"]["lost_after_read"], results


# --- the guide shows these files, verbatim, and each passes its program's own check ---------

GUIDE = os.path.join(scaleout.SRCDIR, "docs", "scaling-out.md")
FILES = sorted(os.listdir(scaleout.EXAMPLES))
SYSLOG_NG_FILES = [name for name in FILES if name.endswith(".conf")]


def read(path):
    with open(path) as f:
        return f.read()


def test_the_layouts_have_their_files():
    assert {"sender.conf", "relay.conf", "front.conf", "haproxy.cfg", "kafka-relay.conf"} <= set(FILES), FILES


@pytest.mark.parametrize("name", FILES)
def test_file_is_shown_verbatim_in_the_guide(name):
    guide = read(GUIDE)
    assert "`docs/examples/scale-out/%s`" % name in guide
    assert "```\n" + scaleout.example(name) + "```\n" in guide, "the guide's copy of %s differs" % name


def test_every_configuration_in_the_guide_is_one_of_the_files():
    blocks = re.findall(r"```\n((?:@version|global|#).*?)```\n", read(GUIDE), re.S)
    files = [scaleout.example(name) for name in FILES]
    assert blocks
    for block in blocks:
        assert block in files, "a configuration in the guide that no test reads:\n" + block


@pytest.mark.parametrize("name", SYSLOG_NG_FILES)
def test_syslog_ng_file_passes_syntax_only(tmp_path, name):
    text = scaleout.example(name)
    if "kafka-c(" in text and not os.path.exists(os.path.join(HOST.stock_module_dir, "libkafka.so")):
        pytest.skip("the kafka-c() destination's module (syslog-ng-mod-rdkafka) is not installed")
    rc, output = syntax_check(text, str(tmp_path))
    assert rc == 0, output


@needs_haproxy
def test_haproxy_file_passes_haproxy_check():
    proc = subprocess.run([scaleout.haproxy_binary(), "-c", "-f", os.path.join(scaleout.EXAMPLES, "haproxy.cfg")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout
