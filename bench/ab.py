"""Paired A/B of two fasth2 variants: both up at once, h2load alternating between them.

Run: python bench/ab.py [--scenarios HTTP/1.1] [--pairs 12] [--duration 2]
     [--a-env K=V,...] [--b-env K=V,...] [--b-checkout DIR] [--control]

compare.py's medians of whole runs move by 20 % on this machine from one minute to the
next, which hides a change of 5-10 %. Here both servers run side by side on core 0 (the
idle one only waits), and h2load on core 1 measures A then B, then B then A, and so on,
each for ``--duration`` seconds: every pair sees the same moment of the machine, and the
median of the per-pair ratios A/B is the figure. Variants differ by environment
(``--a-env FASTH2_BATCH_SCHEDULING=0``: any option) or by checkout (``--b-checkout``, e.g.
a git worktree of main, built in place). ``--control`` first runs A against A: the
ratio it shows (a few % off 1.0: which server started first matters a little) is how
far from 1.0 the real pair must be to mean something.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from compare import (MIB, SCENARIOS, make_certificate, run_h2load, running_server,  # noqa: E402
                     server_command, free_port)


def environment(assignments: str) -> dict[str, str]:
    """``K=V,K2=V2`` as a dict (empty text: none)."""
    pairs = [item.split("=", 1) for item in assignments.split(",") if item]
    return {key: value for key, value in pairs}


def start(stack: ExitStack, checkout: Path, env: dict, scenario, tls) -> str:
    """Start one variant for the scenario on core 0; its base URL."""
    port = free_port()
    command = server_command("fasth2", scenario.protocol, port, tls)
    stack.enter_context(running_server(command, port, checkout, env=env))
    return f"{'https' if scenario.protocol == 'h2' else 'http'}://127.0.0.1:{port}"


def paired(scenario, variants, pairs: int, duration: float, tls, upload: str) -> list[tuple]:
    """``pairs`` alternating measurements of the two variants: (a, b) figures."""
    with ExitStack() as stack:
        urls = [start(stack, checkout, env, scenario, tls) for checkout, env in variants]
        for url in urls:  # warm both (the first runs of a server are slower)
            run_h2load(scenario, url, 1, upload)
        results = []
        for index in range(pairs):
            order = (0, 1) if index % 2 == 0 else (1, 0)
            figures = {}
            for which in order:
                figures[which] = run_h2load(scenario, urls[which], duration, upload)
            if None not in figures.values():
                results.append((figures[0], figures[1]))
        return results


def summary(label: str, results: list[tuple]) -> str:
    """Medians of each side and of the per-pair ratios."""
    if not results:
        return f"  {label}: every pair failed"
    ratios = [a / b for a, b in results]
    better = sum(ratio > 1 for ratio in ratios)
    return (f"  {label}: A {statistics.median(a for a, _ in results):,.0f}, "
            f"B {statistics.median(b for _, b in results):,.0f}; A/B per pair: median "
            f"{statistics.median(ratios):.3f} (A ahead in {better} of {len(ratios)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="hello", help="substring filter (compare.py's)")
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--duration", type=float, default=2, help="seconds per h2load run")
    parser.add_argument("--a-env", default="", help="K=V,... for variant A")
    parser.add_argument("--b-env", default="", help="K=V,... for variant B")
    parser.add_argument("--b-checkout", type=Path, default=ROOT, help="variant B's checkout")
    parser.add_argument("--control", action="store_true", help="first run A against A")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if args.scenarios.lower() in s.name.lower()]
    a = (ROOT, environment(args.a_env))
    b = (args.b_checkout.resolve(), environment(args.b_env))
    print(f"A: {a[0]} {args.a_env or '(defaults)'}\nB: {b[0]} {args.b_env or '(defaults)'}",
          flush=True)
    with tempfile.TemporaryDirectory() as folder:
        tls = make_certificate(folder)
        upload = f"{folder}/upload.bin"
        Path(upload).write_bytes(os.urandom(MIB))
        for scenario in scenarios:
            print(f"{scenario.name} ({scenario.unit}), {args.pairs} pairs of "
                  f"{args.duration:g} s:", flush=True)
            if args.control:
                print(summary("control A/A", paired(scenario, [a, a], args.pairs,
                                                    args.duration, tls, upload)), flush=True)
            print(summary("A/B", paired(scenario, [a, b], args.pairs, args.duration, tls,
                                        upload)), flush=True)


if __name__ == "__main__":
    main()
