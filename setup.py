"""Build fasth2, compiling ``fasth2/_speedups.pyx`` when Cython and a C compiler exist.

A machine without either still gets a working (pure-Python) install: the build prints
a clear warning instead of failing, and ``fasth2 --version`` says which build is active.
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

BANNER = "=" * 72


def banner(message: str) -> None:
    """Print a message the user will notice in pip's verbose build output."""
    print(f"{BANNER}\nfasth2: {message}\n{BANNER}", file=sys.stderr)


class OptionalBuildExt(build_ext):
    """Compile the speedups, but fall back to the pure-Python twin on failure."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a missing compiler surfaces as several types
            banner(f"WARNING: could not compile the speedups ({exc}); "
                   "installing the pure-Python build")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            banner(f"WARNING: could not compile {ext.name} ({exc}); "
                   "installing the pure-Python build")
        else:
            banner(f"compiled {ext.name}")


def extensions() -> list:
    """The Cython extension modules, or none when Cython or the switch says so."""
    if os.environ.get("FASTH2_NO_EXTENSIONS"):
        banner("FASTH2_NO_EXTENSIONS is set: installing the pure-Python build")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        banner("WARNING: Cython is not installed; installing the pure-Python build")
        return []
    directives = {"language_level": "3", "boundscheck": False, "wraparound": False}
    annotate = bool(os.environ.get("FASTH2_ANNOTATE"))
    return cythonize(
        [Extension("fasth2._speedups", ["fasth2/_speedups.pyx"])],
        compiler_directives=directives,
        annotate=annotate,
        build_dir="build/cython",  # keeps generated C out of the source tree
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
