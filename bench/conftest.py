"""Benchmark plumbing: after a run, print the compiled/pure speed ratio of each hot path."""

from __future__ import annotations

import pytest

from fasth2 import _speedups_py

try:
    from fasth2 import _speedups as compiled
except ImportError:  # no compiler at install time: only the pure column is measured
    compiled = None

IMPLEMENTATIONS = [pytest.param(_speedups_py, id="pure")]
if compiled is not None:
    IMPLEMENTATIONS.append(pytest.param(compiled, id="compiled"))


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    """Each benchmark runs once per build of the speedups."""
    return request.param


def pytest_terminal_summary(terminalreporter, config):
    """A table: per hot path, median time pure vs compiled and the ratio."""
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return
    medians: dict[str, dict[str, float]] = {}
    for bench in session.benchmarks:
        if "[compiled" in bench.name:
            build = "compiled"
        elif "[pure" in bench.name:
            build = "pure"
        else:
            continue  # not a speedups benchmark
        medians.setdefault(bench.group or bench.name, {})[build] = bench.stats.median
    if not medians:
        return
    terminalreporter.write_sep("-", "compiled vs pure (median per call)")
    terminalreporter.write_line(f"{'hot path':<32} {'pure':>12} {'compiled':>12} {'speed-up':>9}")
    for group, times in sorted(medians.items()):
        pure, fast = times.get("pure"), times.get("compiled")
        ratio = f"{pure / fast:8.1f}x" if pure and fast else "       -"
        terminalreporter.write_line(
            f"{group:<32} {_us(pure):>12} {_us(fast):>12} {ratio:>9}")


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.2f} us"
