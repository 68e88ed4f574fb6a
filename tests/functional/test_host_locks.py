"""Process-wide locks of the host's libraries that workers parsing side by side would
meet, and what the module does about them.

json-c's parser copies the thread's locale for every document it parses (duplocale(),
newlocale(), freelocale()), each under glibc's one process-wide locale lock, unless the
thread uses glibc's static "C" locale object. syslog-ng never calls setlocale(), so its
process runs in "C": the workers use the "C" object (modules/parallelize/parallelize-locale.h),
which behaves the same. The daemon says so for each worker (-d), at start and after a
reload; what json-parser() makes of numbers, escapes and UTF-8 comes out exactly as
without parallelize()."""
import json

from syslogng import free_port, send_lines, wait_for_lines

WORKERS = 2
MESSAGES = 4000

CONFIG = """@version: 3.38
log {
  source { tcp(ip(127.0.0.1) port(%(port)d) keep-hostname(yes) log-iw-size(10000) log-fetch-limit(100)); };
  %(element)s
  parser { json-parser(prefix("j.")); };
  destination { file("%(out)s" template("$(format-json --key j.* --key HOST)\\n")); };
  flags(flow-control);
};
"""

LOCALE_LINE = 'the worker thread uses the "C" locale object'


def documents(count):
    """JSON bodies whose values a locale could change: decimals, exponents, negative
    zero, escapes, UTF-8 (raw and escaped)"""
    values = [1044.166, -0.5e-3, 1e300, -0.0, 3.14159265358979, 2.5e-308]
    texts = ["caf\u00e9", "\u00fcber \u20ac 5,50", "tab\there", "quote\"d", "\u65e5\u672c"]
    for i in range(count):
        body = {"seq": i, "num": values[i % len(values)] * (i + 1), "text": texts[i % len(texts)],
                "ascii_only": json.dumps(texts[i % len(texts)]), "flag": i % 2 == 0}
        raw = json.dumps(body, ensure_ascii=(i % 3 == 0))
        yield ("<13>Jan  1 00:00:00 host%d app: %s\n" % (i % 7, raw)).encode("utf-8")


def run(daemon_factory, tmp_path, name, element, reload=False):
    port = free_port()
    out = str(tmp_path / (name + ".log"))
    d = daemon_factory(CONFIG % {"port": port, "out": out, "element": element},
                       extra_args=["-d"]).start(wait_for_port=port)
    lines = list(documents(MESSAGES))
    half = MESSAGES // 2 if reload else MESSAGES
    send_lines(port, lines[:half])
    assert wait_for_lines(out, half, timeout=120, daemon=d) == half
    if reload:
        d.reload_ok()
        send_lines(port, lines[half:])
        assert wait_for_lines(out, MESSAGES, timeout=120, daemon=d) == MESSAGES
    assert d.stop() == 0, d.output()[-3000:]
    with open(out, "rb") as f:
        return sorted(f.read().splitlines()), d.output()


def test_workers_use_the_c_locale_object_and_parse_as_the_sequential_path(daemon_factory, tmp_path):
    expected, seq_output = run(daemon_factory, tmp_path, "seq", "")
    got, output = run(daemon_factory, tmp_path, "par", "parallelize(workers(%d));" % WORKERS, reload=True)
    assert LOCALE_LINE not in seq_output
    # each worker of both configurations (before and after the reload)
    said = [l for l in output.splitlines() if LOCALE_LINE in l]
    assert len(said) == 2 * WORKERS, output[-3000:]
    assert len(expected) == MESSAGES
    # json-parser's values through format-json: byte for byte what the sequential path made
    assert got == expected
    parsed = [json.loads(l) for l in got[:50]]
    assert any("\u00e9" in p["j"]["text"] for p in parsed if "text" in p.get("j", {})), parsed[:3]
