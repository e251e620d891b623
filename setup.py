"""Build fasth2: compile ``fasth2/_speedups.pyx`` with Cython, or fail saying why.

A build that cannot compile the speedups stops with a message, instead of quietly
installing the pure-Python twin (several times slower): pip hides a backend's output
unless asked, so a warning would go unseen. The pure build is had on purpose with
``FASTH2_NO_EXTENSIONS=1``. Cython runs only when the extension is built (a wheel, an
editable install), never for an sdist, and its C goes to ``build/cython``, not into
the source tree. ``FASTH2_ANNOTATE=1`` also writes Cython's HTML annotation.

Two builds for finding bugs, not for serving (fuzz/ and scripts/test use them):
``FASTH2_BOUNDSCHECK=1`` compiles with Cython's bounds and negative-index checks on
(the shipped build has them off); ``FASTH2_SANITIZE=1`` compiles with clang,
AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer's coverage hooks, for the
fuzz targets (it runs only with the sanitizer runtime preloaded: scripts/fuzz does it).
"""

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

BANNER = "=" * 72
PURE_ON_PURPOSE = ("To install the pure-Python build on purpose (several times slower), "
                   "set FASTH2_NO_EXTENSIONS=1.")


def banner(message: str) -> None:
    """Print a message the user will notice in pip's (verbose) build output."""
    print(f"{BANNER}\nfasth2: {message}\n{BANNER}", file=sys.stderr)


class CompileError(SystemExit):
    """The speedups cannot be compiled: the build stops with this message."""

    def __init__(self, why: str) -> None:
        super().__init__(f"{BANNER}\nfasth2: cannot compile the speedups: {why}\n"
                         f"Install a C compiler and Python's headers (Debian: apt-get install "
                         f"build-essential python3-dev; macOS: xcode-select --install).\n"
                         f"{PURE_ON_PURPOSE}\n{BANNER}")


class BuildSpeedups(build_ext):
    """build_ext that runs Cython first, and turns any failure into CompileError."""

    def finalize_options(self) -> None:
        try:
            from Cython.Build import cythonize
        except ImportError:
            raise CompileError("Cython is not installed (it is a build requirement; a "
                               "build without isolation needs it installed)") from None
        checked = bool(os.environ.get("FASTH2_BOUNDSCHECK"))
        # annotation_typing off: a compiled .py module (TYPED_TWINS) keeps Python's
        # semantics for its annotated arguments; its types come from its .pxd alone.
        directives = {"language_level": "3", "boundscheck": checked, "wraparound": checked,
                      "annotation_typing": False}
        if checked:
            banner("FASTH2_BOUNDSCHECK is set: compiling with Cython's bounds checks on")
        forget_stale_twins()
        self.distribution.ext_modules[:] = cythonize(
            self.distribution.ext_modules, compiler_directives=directives,
            annotate=bool(os.environ.get("FASTH2_ANNOTATE")),
            build_dir="build/cython")  # keeps generated C out of the source tree
        super().finalize_options()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # a missing compiler surfaces as several types
            raise CompileError(f"{ext.name}: {exc}") from None
        banner(f"compiled {ext.name}")


#: FASTH2_SANITIZE=1: clang's sanitizers and libFuzzer's coverage instrumentation.
SANITIZE_FLAGS = ["-fsanitize=address,undefined,fuzzer-no-link", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-g", "-O1"]


#: Pure-Python modules also compiled as they are, under another name, their classes
#: made extension types by the .pxd of that name (fasth2/_handoff_c.pxd...): one source,
#: the .py, for both builds; fasth2/twins.py picks which runs.
TYPED_TWINS = {"fasth2._handoff_c": "fasth2/handoff.py", "fasth2._wsgi_c": "fasth2/wsgi.py",
               "fasth2._http1_c": "fasth2/http1.py", "fasth2._stream_c": "fasth2/stream.py",
               "fasth2._exchange_c": "fasth2/exchange.py",
               "fasth2._protocol_c": "fasth2/protocol.py",
               "fasth2._threadpool_c": "fasth2/threadpool.py",
               "fasth2._memory_c": "fasth2/memory.py", "fasth2._gateway_c": "fasth2/gateway.py",
               "fasth2._requestcount_c": "fasth2/requestcount.py",
               "fasth2._body_c": "fasth2/body.py"}


def forget_stale_twins() -> None:
    """Drop the typed twins' generated C when a .pxd changed since: cythonize tracks a
    module's .pxd by the source's name (stream.pxd), not the module's (_stream_c.pxd),
    and would go on compiling the old declarations. (One .pxd cimports another, so
    any change regenerates them all.)"""
    declared = max(path.stat().st_mtime for path in Path("fasth2").glob("*.pxd"))
    for source in TYPED_TWINS.values():
        generated = Path("build/cython") / Path(source).with_suffix(".c")
        if generated.exists() and generated.stat().st_mtime < declared:
            generated.unlink()


def extensions() -> list:
    """The extension modules: none when the pure build is asked for."""
    if os.environ.get("FASTH2_NO_EXTENSIONS"):
        banner("FASTH2_NO_EXTENSIONS is set: building the pure-Python twin only")
        return []
    sources = {"fasth2._speedups": "fasth2/_speedups.pyx", **TYPED_TWINS}
    flags = {}
    if os.environ.get("FASTH2_SANITIZE"):
        banner("FASTH2_SANITIZE is set: clang with ASan, UBSan and fuzzer coverage")
        os.environ.setdefault("CC", "clang")
        os.environ.setdefault("LDSHARED", "clang -shared")
        flags = {"extra_compile_args": SANITIZE_FLAGS,
                 "extra_link_args": ["-fsanitize=address,undefined"]}
    return [Extension(name, [source], **flags) for name, source in sources.items()]


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildSpeedups})
