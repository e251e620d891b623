"""Find the WSGI application a command line names: ``module:app`` or ``module:factory()``.

As with gunicorn, the current directory is importable, a bare ``module`` means
``module:application`` (or ``module:app``), and every failure is a one-line message.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Callable


class AppLoadError(Exception):
    """The application path cannot be loaded; the message says why, in one line."""


def load_app(path: str) -> Callable:
    """Import and return the WSGI callable named by ``path``."""
    module_name, _, attribute = path.partition(":")
    if not module_name:
        raise AppLoadError(f"invalid application path {path!r}: expected module:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(f"cannot import module {module_name!r}: {exc}") from None
        raise  # the module exists but itself failed to import: show the traceback
    call = attribute.endswith("()")
    if call:
        attribute = attribute[:-2]
    names = [attribute] if attribute else ["application", "app"]
    for name in names:
        target = getattr(module, name, None)
        if target is not None:
            break
    else:
        raise AppLoadError(f"module {module_name!r} has no attribute "
                           f"{' or '.join(repr(n) for n in names)}")
    if call:
        target = target()
    if not callable(target):
        raise AppLoadError(f"{path!r} is not callable (got {type(target).__name__})")
    return target
