"""Run one fuzz target under atheris (libFuzzer): ``python fuzz/run.py TARGET [libFuzzer
flags] [corpus folders]``; scripts/fuzz is the usual way in.

The pure-Python modules (fasth2, h2, hpack, hyperframe) are instrumented for coverage
as they are imported; the compiled module is covered when it was built with
FASTH2_SANITIZE=1 (clang's -fsanitize=fuzzer-no-link, see setup.py). Any exception a
target does not expect, and any AssertionError of a differential check, is a crash:
libFuzzer writes the input to crash-<sha1> and stops.
"""

from __future__ import annotations

import os
import sys

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# fuzz.targets, tests.inprocess, tests.test_h2fast; appended, so that a sanitized fasth2
# earlier on PYTHONPATH (scripts/fuzz) is the one imported.
sys.path.append(ROOT)

with atheris.instrument_imports(include=["fasth2", "h2", "hpack", "hyperframe", "fuzz"]):
    from fuzz.targets import MAX_INPUT, TARGETS


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python fuzz/run.py TARGET [libFuzzer flags]; "
                 f"targets: {', '.join(TARGETS)}")
    target = TARGETS[sys.argv[1]]
    argv = [sys.argv[0], f"-max_len={MAX_INPUT}", *sys.argv[2:]]
    atheris.Setup(argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
