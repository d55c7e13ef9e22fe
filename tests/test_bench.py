"""The benchmark reads wrk's figures right and judges each target against the right
figures (`make bench` itself is never part of the tests)."""

import re

import pytest

from bench.suite import TARGETS, UNITS, Figures, Target, _row
from bench.wrk import parse

# What wrk 4.1.0 printed running bench/replay.lua for 1 s over 2 connections against a
# server that answered one of the two paths with 404.
WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:18777
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.64ms    1.49ms  14.01ms   89.29%
    Req/Sec     1.27k   136.23     1.51k    70.00%
  Latency Distribution
     50%    1.20ms
     75%    2.02ms
     90%    3.21ms
     99%    7.88ms
  1271 requests in 1.01s, 3.61MB read
  Non-2xx or 3xx responses: 636
Requests/sec:   1260.81
Transfer/sec:      3.58MB
wrk-figures {"requests": 1271, "duration_us": 1008085, "p50_us": 1201, "p90_us": 3212, \
"p99_us": 7880, "max_us": 14011, "status_errors": 636, "socket_errors": 0, "timeouts": 0, \
"spent": false}
"""


def test_the_figures_agree_with_what_wrk_itself_prints() -> None:
    run = parse(WRK_OUTPUT)
    printed = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+)ms$", WRK_OUTPUT, re.MULTILINE))
    assert run.requests == 1271
    assert run.per_second == pytest.approx(1260.81, abs=0.01)
    assert run.p50_ms == pytest.approx(float(printed["50"]), abs=0.005)
    assert run.p90_ms == pytest.approx(float(printed["90"]), abs=0.005)
    assert run.p99_ms == pytest.approx(float(printed["99"]), abs=0.005)
    assert run.failed == 636  # the 404s: a run with any is refused by the bench
    assert not run.spent


def test_output_without_the_figures_is_refused() -> None:
    with pytest.raises(ValueError, match="wrk-figures"):
        parse(WRK_OUTPUT.split("wrk-figures")[0])


def test_every_target_names_figures_a_round_measures() -> None:
    for target in TARGETS:
        assert target.figure in UNITS or target.figure == "memory", target
        assert target.ceiling is None or target.ceiling in UNITS, target


def _figures(**medians: dict[str, float]) -> Figures:
    figures = Figures()
    for name, summary in medians.items():
        figures.add(name.replace("_", " "), summary)
    return figures


def test_a_rate_passes_at_its_ratio_and_a_latency_at_its_multiple() -> None:
    figures = _figures(
        service={"per_second": 50.0, "p99_ms": 20.0},
        ceiling={"per_second": 100.0, "p99_ms": 10.0},
    )
    rate = Target("rate", "service", "ceiling", "per_second", 0.5)
    slower = Target("rate", "service", "ceiling", "per_second", 0.6)
    latency = Target("p99", "service", "ceiling", "p99_ms", 2, at_least=False)
    tighter = Target("p99", "service", "ceiling", "p99_ms", 1.5, at_least=False)
    assert _row(rate, figures, {})["result"] == "pass"
    assert _row(slower, figures, {})["result"] == "miss"
    assert _row(latency, figures, {})["ratio"] == 2.0
    assert _row(latency, figures, {})["result"] == "pass"
    assert _row(tighter, figures, {})["result"] == "miss"


def test_memory_is_judged_on_its_own_bound() -> None:
    memory = Target("memory", "memory", None, "peak_mib", 200, at_least=False)
    assert _row(memory, Figures(), {"peak_mib": 199.0})["result"] == "pass"
    assert _row(memory, Figures(), {"peak_mib": 201.0})["result"] == "miss"
